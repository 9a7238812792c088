"""`agentic-rag index verify DIR [--write]`: every byte against the build's checksums, plus the
checks no checksum can make: the folder loads, the store has every row, the vectors are finite.

`--write` records checksums into the manifest of an index built before they existed, after
those checks pass; a manifest that already has them is never rewritten (rebuild instead).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from retriever_index.base import IndexLoadError
from retriever_index.checksums import check_files, seal
from retriever_index.manifest import Manifest
from retriever_index.retriever import Retriever

_CHUNK = 65_536  # vectors reconstructed at a time: bounds the memory of the NaN scan


def verify_index(folder: str | Path, *, write: bool = False) -> str:
    """Check `folder` completely; return a one-line summary, or raise IndexLoadError."""
    folder = Path(folder)
    manifest = Manifest.read(folder)
    if manifest.files is not None:
        check_files(folder, manifest, full=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the missing-checksums warning: reported below instead
        retriever = Retriever.load(folder)
    try:
        problems = _store_problems(retriever) + _vector_problems(retriever)
    finally:
        retriever.docs.close()
    if problems:
        raise IndexLoadError(f"{folder}: {'; '.join(problems)}; rebuild the index")
    summary = f"{folder}: {manifest.kind} index of {manifest.count} passages is intact"
    if manifest.kind != "bm25":
        summary += (
            f"; encoded with {manifest.encoder_backend} {manifest.encoder_precision} "
            "(queries too, by default)"
        )
    if manifest.files is not None:
        return f"{summary}; {len(manifest.files)} files match their build checksums"
    if not write:
        return (
            f"{summary}, but its manifest records no checksums: run `agentic-rag index verify "
            f"{folder} --write` to record them"
        )
    sealed = seal(folder, manifest)
    return f"{summary}; checksums of {len(sealed.files or {})} files recorded in the manifest"


def _store_problems(retriever: Retriever) -> list[str]:
    """docs.sqlite must hold rows 0..count-1 exactly: FAISS row i is passage row i."""
    n, lo, hi = retriever.docs.row_span()
    want = retriever.manifest.count
    if (n, lo, hi) != (want, 0, want - 1):
        return [f"docs.sqlite holds {n} rows spanning {lo}..{hi}, expected rows 0..{want - 1}"]
    return []


def _vector_problems(retriever: Retriever) -> list[str]:
    stored = getattr(retriever, "vectors", None)
    if stored is not None:  # compressed: vectors.npy is the truth (fast-scan cannot reconstruct)
        return _nonfinite("vectors.npy", len(stored), lambda a, b: stored[a:b])
    index = getattr(retriever, "index", None) or getattr(
        getattr(retriever, "dense", None), "index", None
    )
    if index is None:  # BM25: no vectors
        return []
    import faiss

    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:
        ivf = None
    if ivf is not None:
        ivf.make_direct_map()  # in memory only: lets IVF indexes reconstruct by row
    return _nonfinite("index.faiss", index.ntotal, lambda a, b: index.reconstruct_n(a, b - a))


def _nonfinite(name: str, count: int, read) -> list[str]:
    """Rows holding NaN/inf, read `_CHUNK` rows at a time with read(start, stop)."""
    bad = []
    for start in range(0, count, _CHUNK):
        try:
            vectors = np.asarray(read(start, min(start + _CHUNK, count)), dtype=np.float32)
        except RuntimeError as e:
            reason = str(e).strip().splitlines()[-1]
            return [f"{name} vectors cannot be read back to check them ({reason})"]
        bad += (start + np.flatnonzero(~np.isfinite(vectors).all(axis=1))).tolist()
    if bad:
        return [f"{name} holds NaN/inf vectors at {len(bad)} rows (first: {bad[:5]})"]
    return []
