"""A sentence-transformers model exported once, offline, for ONNX Runtime or OpenVINO, fp32 or int8.

The exported graph is the model's whole sentence-transformers pipeline (transformer, then its own
pooling, dense and normalize modules), so the runtime computes what `SentenceTransformer.encode`
does; the model's tokenizer is saved beside it. Exports live in the project's model cache,
`$AGENTIC_RAG_CACHE/encoders/<model>-<key>/<backend>-<precision>/` (default ~/.cache/agentic-rag),
keyed by the model's identity and this module's recipe version, and are built by `build_once`:
under a lock, into a temporary folder renamed into place, so concurrent first uses export once.

Recipes (docs/performance.md has their speed and retrieval against torch):
- onnx fp32: `torch.onnx.export` (torch.export based), inputs by keyword, batch and sequence
  dynamic;
- onnx int8: the fp32 graph with every MatMul weight in int8 blocks (MatMulNBits), whose
  activations ONNX Runtime quantizes per block at run time (int8 products, no calibration);
- openvino fp32: `openvino.convert_model` of the fp32 ONNX graph, saved in fp32;
- openvino int8: that model with NNCF int8 weight compression, run with the CPU plugin's dynamic
  quantization of activations in groups (int8 products, no calibration).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

from retriever_index.atomic import build_once

CACHE_ENV = "AGENTIC_RAG_CACHE"  # the cache agentic_rag.models.registry builds named models in
EXPORT_VERSION = 1  # bump when a recipe below changes: older exports are then rebuilt
SPEC_FILE = "export.json"
BACKENDS = ("torch", "onnx", "openvino")
PRECISIONS = ("fp32", "int8")
EXTRA = "encoders"  # pyproject extra holding the runtimes: pip install 'agentic-rag[encoders]'
_MODEL_FILES = {"onnx": "model.onnx", "openvino": "model.xml"}
ORT_BLOCK = 128  # MatMulNBits: input-dimension weights sharing one int8 scale
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_TRACEABLE = {"Transformer", "Pooling", "Dense", "Normalize"}  # modules the graph can hold
_PACKAGES = {  # import name -> distribution, for the not-installed message
    "onnxruntime": "onnxruntime",
    "onnx": "onnx",
    "onnxscript": "onnxscript",
    "openvino": "openvino",
    "nncf": "nncf",
}


class RuntimeMissingError(ValueError):
    """A backend's runtime package is not installed: one line naming it, the extra and the
    fallback the user may choose (never taken silently)."""


def require(module: str, backend: str):
    """Import `module` for `backend` or raise RuntimeMissingError saying how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeMissingError(
            f"--encoder-backend {backend} needs {_PACKAGES[module]}, which is not installed: "
            f"pip install 'agentic-rag[{EXTRA}]' (make install does), or pass "
            "--encoder-backend torch"
        ) from None


def _check_choice(backend: str, precision: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown encoder backend {backend!r}; choose one of {list(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ValueError(
            f"unknown encoder precision {precision!r}; choose one of {list(PRECISIONS)}"
        )
    if backend == "torch" and precision != "fp32":
        raise ValueError(
            "--encoder-precision int8 needs --encoder-backend onnx or openvino (torch runs fp32)"
        )


def check_runtime(backend: str, precision: str) -> None:
    """A valid choice whose runtime is installed, or one line saying what to install."""
    _check_choice(backend, precision)
    if backend != "torch":
        require("onnxruntime" if backend == "onnx" else "openvino", backend)
    if backend == "openvino" and precision == "int8":
        require("nncf", backend)


def cache_root() -> Path:
    """`$AGENTIC_RAG_CACHE`, else `~/.cache/agentic-rag` (the same root as named models)."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "agentic-rag"


def exported(
    name: str, path: Path | None, revision: str | None, backend: str, precision: str
) -> Path:
    """The export folder of model `name` (local folder `path`, or a hub id already cached) for
    `backend` and `precision`, exported first if the cache lacks it."""
    check_runtime(backend, precision)
    if backend == "torch":
        raise ValueError("the torch backend runs the model folder itself; nothing to export")
    home = cache_root() / "encoders" / _model_key(name, path, revision)
    target = home / f"{backend}-{precision}"
    if target.is_dir():
        return target
    if backend == "onnx" and precision == "fp32":
        write = partial(_export_onnx, name, path, revision)
    else:
        base = exported(name, path, revision, "onnx", "fp32")
        write = (
            partial(_quantize_onnx, base)
            if backend == "onnx"
            else partial(_to_openvino, base, precision)
        )
    return build_once(target, partial(_quietly, write, f"{name} for {backend} {precision}"))


def _quietly(write: Callable[[Path], None], what: str, out: Path) -> None:
    """One line instead of the exporters' and quantizers' chatter (their errors still raise)."""
    print(f"exporting encoder {what} into {out.parent} (once)", file=sys.stderr)
    started = time.time()
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxruntime", "nncf")]
    levels = [lg.level for lg in loggers]
    root = logging.getLogger()  # onnxruntime's quantizer calls logging.basicConfig on import
    root_state = (root.level, list(root.handlers))
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            write(out)
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        root.setLevel(root_state[0])
        root.handlers[:] = root_state[1]
    print(f"exported in {time.time() - started:.0f} s", file=sys.stderr)


def read_spec(folder: Path) -> dict:
    return json.loads((folder / SPEC_FILE).read_text())


def model_file(folder: Path, backend: str) -> Path:
    return folder / _MODEL_FILES[backend]


def _model_key(name: str, path: Path | None, revision: str | None) -> str:
    """`<model name>-<hash>`: the hash covers the model's identity (the bundling package's
    version or hub revision, else every file's name, size and mtime) and EXPORT_VERSION."""
    if revision is not None:
        identity: object = [name, revision]
    else:
        assert path is not None, "a hub model without a cached revision cannot be exported"
        identity = sorted(
            (str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
            for p in path.rglob("*")
            if p.is_file()
        )
    blob = json.dumps([EXPORT_VERSION, identity]).encode()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name or "model")[:60]
    return f"{stem}-{hashlib.sha256(blob).hexdigest()[:12]}"


def _write_spec(out: Path, spec: dict) -> None:
    (out / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n")


def _export_onnx(name: str, path: Path | None, revision: str | None, out: Path) -> None:
    """fp32 ONNX of the whole sentence-transformers pipeline, plus its tokenizer and spec."""
    require("onnx", "onnx")
    require("onnxscript", "onnx")
    import torch
    from sentence_transformers import SentenceTransformer

    where = str(path) if path is not None else name
    try:
        st = SentenceTransformer(where, device="cpu", local_files_only=True).eval()
    except Exception as e:  # loaders raise many types; all mean "cannot load"
        raise ValueError(f"could not load encoder {name!r} to export it: {e}") from e
    kinds = [type(m).__name__ for m in st]
    if kinds[0] != "Transformer" or not set(kinds) <= _TRACEABLE:
        raise ValueError(
            f"encoder {name!r} has modules {kinds}; the onnx/openvino export handles a "
            f"Transformer followed by {sorted(_TRACEABLE - {'Transformer'})}: use "
            "--encoder-backend torch"
        )
    if any(getattr(m, "include_prompt", True) is False for m in st):
        raise ValueError(
            f"encoder {name!r} pools without its prompt tokens, which an exported graph "
            "cannot see: use --encoder-backend torch"
        )
    sample = st.preprocess(["a short text", "a somewhat longer text to pad the other one"])
    inputs = [k for k in _INPUTS if k in sample]

    class Pipeline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.st = st

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                features["token_type_ids"] = token_type_ids
            return self.st(features)["sentence_embedding"]

    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            Pipeline().eval(),
            (),
            str(out / _MODEL_FILES["onnx"]),
            # by keyword: transformers 5 changed BertModel's positional order (NOTES.md)
            kwargs={k: sample[k] for k in inputs},
            input_names=inputs,
            output_names=["sentence_embedding"],
            dynamic_shapes={k: {0: batch, 1: seq} for k in inputs},
            external_data=False,
            dynamo=True,
            verbose=False,
        )
    st.tokenizer.save_pretrained(str(out))
    _write_spec(
        out,
        {
            "export_version": EXPORT_VERSION,
            "source": name,
            "revision": revision,
            "backend": "onnx",
            "precision": "fp32",
            "dim": int(st.get_embedding_dimension()),
            "max_seq_length": int(st.max_seq_length),
            "inputs": inputs,
            "do_lower_case": bool(getattr(st[0], "do_lower_case", False)),
            "modules": kinds,
            "versions": _versions("torch", "onnx", "sentence_transformers", "transformers"),
        },
    )


def _copy_tokenizer(base: Path, out: Path) -> dict:
    spec = read_spec(base)
    for f in base.iterdir():
        if f.is_file() and f.name not in (SPEC_FILE, _MODEL_FILES["onnx"]):
            (out / f.name).write_bytes(f.read_bytes())
    return spec


def _quantize_onnx(base: Path, out: Path) -> None:
    """int8 MatMul weights in blocks along the input dimension (MatMulNBits); accuracy level 4
    quantizes the activations to int8 per block at run time, so the products run in int8."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    spec = _copy_tokenizer(base, out)
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(base / _MODEL_FILES["onnx"])),
        bits=8,
        block_size=ORT_BLOCK,
        is_symmetric=True,
        accuracy_level=4,
    )
    quantizer.process()
    quantizer.model.save_model_to_file(
        str(out / _MODEL_FILES["onnx"]), use_external_data_format=False
    )
    _write_spec(
        out,
        spec
        | {
            "precision": "int8",
            "quantization": f"MatMulNBits: int8 weights, symmetric, blocks of {ORT_BLOCK}; "
            "int8 activations per block at run time (accuracy_level 4)",
            "versions": spec["versions"] | _versions("onnxruntime"),
        },
    )


def _to_openvino(base: Path, precision: str, out: Path) -> None:
    import openvino as ov

    spec = _copy_tokenizer(base, out)
    model = ov.convert_model(str(base / _MODEL_FILES["onnx"]))
    extra: dict = {}
    if precision == "int8":
        import nncf

        model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        extra = {
            "quantization": "NNCF compress_weights INT8_ASYM; activations quantized at run "
            "time by the CPU plugin",
            "versions": spec["versions"] | _versions("openvino", "nncf"),
        }
    ov.save_model(model, str(out / _MODEL_FILES["openvino"]), compress_to_fp16=False)
    _write_spec(
        out,
        spec
        | {"backend": "openvino", "precision": precision, "versions": spec["versions"]}
        | extra,
    )


def _versions(*modules: str) -> dict[str, str]:
    return {m: getattr(importlib.import_module(m), "__version__", "?") for m in modules}
