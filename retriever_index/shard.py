"""`agentic-rag index shard DIR --shards N`: split an index into N row ranges for fan-out serving.

Each shard is a complete index folder of the same kind (manifest, its rows of docs.sqlite
renumbered from 0, its FAISS index and, for "compressed", its float16 vectors), so it loads,
searches and serves on its own and a serving node needs only its shards' files. The top-k of
each shard merged by score is the top-k of the whole index:
- Flat shards copy the exact vectors, so their merged top-k equals the unsharded one;
- compressed shards are the parent's trained IVF-PQ with the shard's float16 rows added again
  (the parent indexed the same float16 rows, so the codes match).
Shards are written to DIR/shards-N, where `index serve DIR --ray --shards N` looks, through a
temp folder and one rename, and record which build they came from, so a rebuilt parent is never
served with stale shards.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from retriever_index.atomic import atomic_path, removed_on_failure, staging_dir, swap_into_place
from retriever_index.base import Hit, IndexLoadError
from retriever_index.checksums import seal
from retriever_index.corpus import copy_rows
from retriever_index.dense import DenseRetriever, read_faiss
from retriever_index.manifest import DOCS_FILE, INDEX_FILE, Manifest
from retriever_index.retriever import Retriever

_COPY_ROWS = 65_536  # vectors copied per step: bounds memory while splitting


class ShardError(ValueError):
    """An index cannot be split as asked; the message says why and what to do."""


def shards_folder(folder: Path, n: int) -> Path:
    return folder / f"shards-{n}"


def shard_index(folder: str | Path, n: int) -> list[Path]:
    """Split the index at `folder` into `n` shard folders under DIR/shards-N, where
    `index serve DIR --ray --shards N` finds them; return their paths, in row order. Replaces
    an earlier split atomically."""

    folder = Path(folder)
    manifest = Manifest.read(folder)
    if manifest.kind not in ("dense", "compressed") or (
        manifest.kind == "dense" and manifest.factory != "Flat"
    ):
        raise ShardError(
            f"{folder} is a {manifest.kind} index ({manifest.factory}); shard a Flat index or a "
            "compressed one (`index build --kind compressed`), whose rows can be split exactly"
        )
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= manifest.count:
        raise ShardError(f"--shards must be 1..{manifest.count} (passages), got {n!r}")
    target = shards_folder(folder, n)
    work = staging_dir(target)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with removed_on_failure(work):
        _split(folder, manifest, n, work)
    swap_into_place(work, target)
    return [target / f"shard-{i}" for i in range(n)]


def _split(folder: Path, manifest: Manifest, n: int, work: Path) -> None:
    import faiss

    if manifest.kind == "compressed":
        from retriever_index.compressed import VECTORS_FILE, open_vectors

        vectors = open_vectors(folder, manifest)
        empty = faiss.read_index(str(folder / INDEX_FILE))
        empty.reset()  # the trained quantizers, no rows
    else:
        parent = read_faiss(folder / INDEX_FILE)
    bounds = [(i * manifest.count // n, (i + 1) * manifest.count // n) for i in range(n)]
    for i, (a, b) in enumerate(bounds):
        dest = work / f"shard-{i}"
        dest.mkdir()
        print(f"shard {i + 1}/{n}: rows {a}..{b - 1}", file=sys.stderr)
        copy_rows(folder / DOCS_FILE, dest / DOCS_FILE, a, b)
        if manifest.kind == "compressed":
            index = faiss.clone_index(empty)
            _write_vectors(dest / VECTORS_FILE, vectors, a, b)
            for s in range(a, b, _COPY_ROWS):
                index.add(np.asarray(vectors[s : min(s + _COPY_ROWS, b)], dtype=np.float32))
        else:
            index = faiss.IndexFlatIP(manifest.dim)
            for s in range(a, b, _COPY_ROWS):
                index.add(parent.reconstruct_n(s, min(s + _COPY_ROWS, b) - s))
        with atomic_path(dest / INDEX_FILE) as tmp:
            faiss.write_index(index, str(tmp))
        params = {**manifest.params, "shard": {"index": i, "of": n, "rows": [a, b]}}
        params["shard"]["parent"] = _identity(manifest)
        seal(dest, replace(manifest, count=b - a, params=params))


def _write_vectors(path: Path, vectors: np.ndarray, a: int, b: int) -> None:
    header = {"descr": "<f2", "fortran_order": False, "shape": (b - a, vectors.shape[1])}
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for s in range(a, b, _COPY_ROWS):
            f.write(np.ascontiguousarray(vectors[s : min(s + _COPY_ROWS, b)]).tobytes())


def _identity(manifest: Manifest) -> dict:
    """What names one build of the parent: a rebuilt parent never matches its old shards."""
    keys = ("kind", "count", "corpus_sha256", "factory", "built_at", "encoder")
    return {key: getattr(manifest, key) for key in keys}


def ensure_shards(folder: str | Path, n: int) -> list[Path]:
    """The shard folders of the current build of `folder`: reused when DIR/shards-N was split
    from this very build, made otherwise. One shard is the index itself."""
    folder = Path(folder)
    if n == 1:
        return [folder]
    parent = _identity(Manifest.read(folder))
    existing = [shards_folder(folder, n) / f"shard-{i}" for i in range(n)]
    try:
        if all(Manifest.read(d).params["shard"]["parent"] == parent for d in existing):
            return existing
    except (IndexLoadError, KeyError):
        pass
    return shard_index(folder, n)


def open_shard(folder: str | Path, *, nprobe: int | None = None) -> DenseRetriever:
    """A shard (or whole index) opened for search by query vectors: index and vectors
    memory-mapped, no encoder loaded (the query encoder runs elsewhere), no cache."""
    folder = Path(folder)
    kind = Manifest.read(folder).kind
    if kind not in ("dense", "compressed"):
        raise IndexLoadError(f"{folder} is a {kind} index; shards are dense or compressed")
    opened = Retriever.load(folder, encoder=False, nprobe=nprobe, cache_size=0)
    assert isinstance(opened, DenseRetriever)
    return opened


def merge_hits(per_shard: list[list[list[Hit]]], k: int) -> list[list[Hit]]:
    """Per query, the k best hits over all shards (each shard's list is best-first; equal
    scores keep shard order)."""
    merged = []
    for rows in zip(*per_shard, strict=True):
        pool = [h for row in rows for h in row]
        merged.append(sorted(pool, key=lambda h: -h.score)[:k])
    return merged
