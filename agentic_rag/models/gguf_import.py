"""GGUF file -> a plain transformers checkpoint folder (weights, tokenizer, generation config).

transformers reads GGUF (dequantizing through the `gguf` package) but refuses to save a model
loaded that way, and every later load would pay the dequantization again. We load it once,
rebuild the same architecture as a plain model from its config (without the GGUF
`quantization_config`), move the weights over and save a normal folder that
`AutoModelForCausalLM.from_pretrained` and vLLM read directly. The generation config holds only
what the GGUF itself states; `gguf_import.json` records the source and what was taken from it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentic_rag.models.publish import publish_dir

RECORD = "gguf_import.json"
DTYPES = ("float32", "bfloat16", "float16")
GGUF_MAGIC = b"GGUF"
# GGUF metadata -> transformers GenerationConfig fields (llama.cpp's sampling keys)
SAMPLING_KEYS = {
    "general.sampling.temp": "temperature",
    "general.sampling.top_k": "top_k",
    "general.sampling.top_p": "top_p",
    "general.sampling.min_p": "min_p",
}
# llama.cpp samplers with no transformers equivalent of the same meaning: recorded, not applied
# (penalty_repeat counts only the last penalty_last_n tokens, transformers' the whole context)
UNMAPPED_SAMPLING_PREFIX = "general.sampling."
END_OF_GENERATION_KEYS = (
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id",
)
# tokenizer special tokens as the GGUF states them (transformers 5.17 read eos as <|im_start|>
# and no pad from SmolLM2's GGUF; 5.24 reads them right): set explicitly, whatever the version
SPECIAL_TOKEN_KEYS = {
    "bos_token": "tokenizer.ggml.bos_token_id",
    "eos_token": "tokenizer.ggml.eos_token_id",
    "pad_token": "tokenizer.ggml.padding_token_id",
    "unk_token": "tokenizer.ggml.unknown_token_id",
}
ARRAY_KEYS_SKIPPED = ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.scores")


class ModelImportError(ValueError):
    """The file cannot be imported; the message names the problem and the fix."""


def import_gguf(
    gguf_file: str | Path, out: str | Path, dtype: str = "float32", overwrite: bool = False
) -> Path:
    """Converts `gguf_file` into the checkpoint folder `out` (written atomically) and returns it.

    dtype: the saved weights' type (GGUF quantized weights dequantize to float32 exactly).
    Raises FileNotFoundError, FileExistsError (`out` exists and not `overwrite`), ImportError
    (no `gguf` package) or ModelImportError (not a GGUF, or an architecture transformers cannot
    read as a causal LM).
    """
    return publish_dir(out, checkpoint_writer(gguf_file, dtype), overwrite=overwrite)


def checkpoint_writer(gguf_file: str | Path, dtype: str = "float32") -> Callable[[Path], None]:
    """Checks `gguf_file` now (cheaply: no weights read) and returns the function that writes
    its checkpoint into an empty folder (for `publish_dir` / `build_once`)."""
    source = Path(gguf_file).expanduser().absolute()
    if not source.is_file():
        raise FileNotFoundError(f"GGUF file not found: {source}")
    with source.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelImportError(f"{source} is not a GGUF file (it lacks the GGUF magic bytes)")
    if dtype not in DTYPES:
        raise ModelImportError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    metadata = read_metadata(source)
    config = _causal_lm_config(source, metadata)
    return lambda out: _convert(source, out, config, metadata, dtype)


def read_metadata(source: Path) -> dict[str, Any]:
    """The GGUF's key/value metadata, without the per-token arrays (tokens, merges, scores)."""
    try:
        import numpy as np
        from gguf import GGUFReader, GGUFValueType
    except ImportError as exc:
        raise ImportError(
            "reading GGUF files needs the `gguf` package: `pip install gguf` "
            "(`make install` installs it)"
        ) from exc
    try:
        reader = GGUFReader(str(source))
    except Exception as exc:  # the gguf package raises bare ValueError/struct errors
        raise ModelImportError(f"{source} is not a readable GGUF file: {exc}") from exc
    out = {}
    for key, field in reader.fields.items():
        if key in ARRAY_KEYS_SKIPPED or key == "tokenizer.ggml.token_type":
            continue
        value = field.contents()
        if field.types == [GGUFValueType.FLOAT32]:  # 0.6, not 0.6000000238418579
            value = float(str(np.float32(value)))
        out[key] = value.item() if hasattr(value, "item") else value
    return out


def generation_defaults(metadata: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(GenerationConfig fields the GGUF states, GGUF sampling keys left unapplied).

    End-of-generation ids are the GGUF's eos plus its end-of-turn/end-of-message ids when it
    has them (llama.cpp stops on all of them); sampling defaults come from `general.sampling.*`.
    """
    fields: dict[str, Any] = {}
    if "tokenizer.ggml.bos_token_id" in metadata:
        fields["bos_token_id"] = int(metadata["tokenizer.ggml.bos_token_id"])
    stops = [int(metadata[k]) for k in END_OF_GENERATION_KEYS if k in metadata]
    stops = list(dict.fromkeys(stops))
    if stops:
        fields["eos_token_id"] = stops[0] if len(stops) == 1 else stops
    if "tokenizer.ggml.padding_token_id" in metadata:
        fields["pad_token_id"] = int(metadata["tokenizer.ggml.padding_token_id"])
    for key, name in SAMPLING_KEYS.items():
        if key in metadata:
            fields[name] = metadata[key]
    if "temperature" in fields:
        fields["do_sample"] = fields["temperature"] > 0
    unapplied = {
        k: v
        for k, v in metadata.items()
        if k.startswith(UNMAPPED_SAMPLING_PREFIX) and k not in SAMPLING_KEYS
    }
    return fields, unapplied


def _causal_lm_config(source: Path, metadata: dict[str, Any]):
    """The transformers config the GGUF describes, checked to be a causal LM we can rebuild."""
    from transformers import AutoConfig, __version__
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    arch = metadata.get("general.architecture", "<missing>")
    try:
        config = AutoConfig.from_pretrained(source.parent, gguf_file=source.name)
    except ValueError as exc:
        if "not supported" not in str(exc):
            raise
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

        readable = sorted(set(GGUF_SUPPORTED_ARCHITECTURES) - {"general", "tokenizer"})
        raise ModelImportError(
            f"{source.name}: transformers {__version__} cannot read GGUF architecture {arch!r}; "
            f"it reads {', '.join(readable)}. Upgrade transformers or convert the original "
            "checkpoint instead"
        ) from exc
    if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
        raise ModelImportError(
            f"{source.name}: GGUF architecture {arch!r} loads as {type(config).__name__}, "
            "which has no causal-LM model class in transformers"
        )
    return config


def _convert(source: Path, out: Path, config, metadata: dict[str, Any], dtype: str) -> None:
    """Loads the GGUF model + tokenizer, rebuilds a plain model and saves everything to `out`."""
    import gguf
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    torch_dtype = getattr(torch, dtype)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    for attr, key in SPECIAL_TOKEN_KEYS.items():
        if key in metadata:
            setattr(tokenizer, attr, tokenizer.convert_ids_to_tokens(int(metadata[key])))
    tokenizer.clean_up_tokenization_spaces = False  # llama.cpp decodes without clean-up
    loaded = AutoModelForCausalLM.from_pretrained(
        source.parent, gguf_file=source.name, dtype=torch_dtype
    )
    plain_config = copy.deepcopy(loaded.config)
    if hasattr(plain_config, "quantization_config"):
        del plain_config.quantization_config
    state = loaded.state_dict()
    del loaded
    # meta device: no second allocation or random init; the GGUF weights are assigned instead
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(plain_config, dtype=torch_dtype)
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    fields, unapplied = generation_defaults(metadata)
    model.generation_config = GenerationConfig(**fields)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {
        "source": str(source),
        "source_bytes": source.stat().st_size,
        "source_sha256": _sha256(source),
        "architecture": metadata.get("general.architecture"),
        "model_class": type(model).__name__,
        "dtype": dtype,
        "generation_config_from_gguf": fields,
        "gguf_sampling_not_applied": unapplied,
        "gguf_metadata": metadata,
        "versions": {"transformers": transformers.__version__, "gguf": _version(gguf)},
    }
    (out / RECORD).write_text(json.dumps(record, indent=2, default=str) + "\n", "utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version(module) -> str:
    from importlib.metadata import version

    return getattr(module, "__version__", None) or version(module.__name__)
