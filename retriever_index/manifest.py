"""DIR/manifest.json: what an index was built from, so loading can refuse mismatched pieces."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from retriever_index.atomic import staging_dir, write_json_atomic
from retriever_index.base import BuildError, IndexLoadError

MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.faiss"
DOCS_FILE = "docs.sqlite"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    kind: str  # index kind: "dense", "compressed", "bm25", "hybrid"; Retriever.load dispatches
    count: int  # passages in the index and in docs.sqlite (FAISS row i = docs row i)
    corpus_path: str  # corpus file the index was built from (absolute, informational)
    corpus_sha256: str  # sha256 of the corpus bytes; docs.sqlite records the same value
    encoder: str  # encoder hub id or local folder as given at build time; used again at load
    encoder_path: str | None  # resolved local model folder (None when loaded from the hub)
    encoder_revision: str | None  # hub commit, or the bundling package==version
    query_prefix: str  # prepended to every query before encoding
    passage_prefix: str  # prepended to every passage before encoding
    dim: int  # embedding dimension
    max_seq_length: int  # tokens the encoder keeps; longer queries/passages are truncated
    metric: str  # FAISS metric: always "inner_product" (cosine, as embeddings are unit length)
    factory: str  # FAISS index_factory string, e.g. "Flat", "HNSW32", "IVF1024,PQ32"
    built_at: str  # UTC ISO-8601 time the build finished
    build_seconds: float  # wall time of the whole build (including resumed parts)
    versions: dict[str, str]  # library versions used to build
    format_version: int = FORMAT_VERSION
    # the runtime that encoded the passages: queries are encoded by the same one unless told
    # otherwise (an int8 encoder's vectors are a slightly different space); manifests written
    # before these fields existed were all torch fp32
    encoder_backend: str = "torch"
    encoder_precision: str = "fp32"
    files: dict[str, dict] | None = None  # per index file: size, sampled and full blake2b;
    # None in manifests written before checksums (they load with a warning): see checksums.py
    # kind-specific settings needed to reproduce and check the index (compressed: IVF/PQ sizes,
    # training sample, re-ranking; a shard: its rows and parent build); {} for other kinds
    params: dict[str, Any] = field(default_factory=dict)

    def write(self, folder: Path) -> None:
        write_json_atomic(folder / MANIFEST_FILE, asdict(self))

    @classmethod
    def read(cls, folder: str | Path) -> Manifest:
        folder = Path(folder)
        path = folder / MANIFEST_FILE
        if not path.is_file():
            raise IndexLoadError(_missing_hint(folder, path))
        try:
            data = json.loads(path.read_text())
        except ValueError as e:
            raise IndexLoadError(f"{path}: not valid JSON ({e}); rebuild the index") from None
        if not isinstance(data, dict):
            raise IndexLoadError(f"{path}: expected a JSON object; rebuild the index")
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexLoadError(
                f"{path}: format_version {data.get('format_version')!r}, this version of "
                f"retriever_index reads {FORMAT_VERSION}; rebuild the index with it"
            )
        names = [f.name for f in fields(cls)]
        optional = ("files", "params", "encoder_backend", "encoder_precision")
        missing = [n for n in names if n not in data and n not in optional]
        if missing:
            raise IndexLoadError(f"{path}: missing fields {missing}; rebuild the index")
        files = data.get("files")
        if files is not None and not (
            isinstance(files, dict)
            and all(isinstance(v, dict) for v in files.values())
            and all(not Path(n).is_absolute() and ".." not in Path(n).parts for n in files)
        ):
            raise IndexLoadError(f"{path}: 'files' is not a map of file checksums; rebuild")
        if not isinstance(data.get("params", {}), dict):
            raise IndexLoadError(f"{path}: 'params' must be a JSON object; rebuild the index")
        return cls(**{n: data[n] for n in names if n in data})


def _missing_hint(folder: Path, path: Path) -> str:
    if folder.is_file():
        corpus = folder.suffix == ".jsonl"
        return (
            f"index {folder} is a file; an index is the folder `agentic-rag index build` writes"
            + (
                f": to index this corpus, `agentic-rag index build --corpus {folder} --out DIR`"
                if corpus
                else ""
            )
        )
    if not folder.exists():
        msg = f"index folder not found: {folder}"
    else:
        msg = f"{path} not found: {folder} is not a built index"
    previous = staging_dir(folder, "previous")
    if previous.is_dir():
        return (
            f"{msg}. A build was interrupted while swapping folders; the previous index is intact "
            f"at {previous}: rename it to {folder}"
        )
    return f"{msg}. Build one with `agentic-rag index build --corpus CORPUS.jsonl --out {folder}`"


def check_out(out: Path) -> None:
    """Never replace a folder that is not an index: swapping would delete the user's files."""
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out} is a file; choose a folder path for the index")
    if out.exists() and not (out / MANIFEST_FILE).is_file() and any(out.iterdir()):
        raise BuildError(
            f"--out {out} exists and is not an index folder (no {MANIFEST_FILE}); "
            "choose a new folder or empty it"
        )


def library_versions() -> dict[str, str]:
    import faiss
    import numpy
    import sentence_transformers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "faiss": faiss.__version__,
        "numpy": numpy.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
