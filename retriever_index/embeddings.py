"""Where a build reads passage embeddings from, one bounded chunk at a time.

Two sources, one interface (row order = docs.sqlite row order):
- `ShardFiles`: the float32 `.npy` shards the encoder wrote (the usual build);
- `FlatFile`: an existing FAISS Flat index file (e.g. Search-R1's `e5_Flat.index` of wiki-18),
  read with plain file reads, so 21M x 768 floats are never mapped or held at once, and a
  compressed index can be made from it without encoding again.
Peak memory of a build is then the index being filled plus one chunk, not the float32 matrix.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

CHUNK_ROWS = 65_536  # rows per chunk read from a FlatFile: 192 MiB at 768 dims


class ShardFiles:
    """The encoder's shard files, in row order."""

    def __init__(self, paths: list[Path], count: int, dim: int):
        self.paths, self.count, self.dim = paths, count, dim

    def chunks(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield np.load(path)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """float32 embeddings of the sorted row ids `rows`."""
        parts, start = [], 0
        for path in self.paths:
            emb = np.load(path, mmap_mode="r")
            stop = start + len(emb)
            lo, hi = np.searchsorted(rows, [start, stop])
            parts.append(np.asarray(emb[rows[lo:hi] - start]))
            start = stop
        return np.ascontiguousarray(np.concatenate(parts))


class FlatFile:
    """A FAISS IndexFlatIP/IndexFlatL2 file: its float32 vectors are the file's last n*d*4 bytes
    (header checked with FAISS itself, then the layout with the file size)."""

    _HEADER = 45  # fourcc, d, ntotal, 2 dummies, is_trained, metric_type, vector length

    def __init__(self, path: str | Path):
        import faiss

        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"--embeddings file not found: {self.path}")
        try:  # IO_FLAG_MMAP_IFC maps the vectors without reading them: only the header is read
            index = faiss.read_index(str(self.path), faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError as e:
            reason = str(e).strip().splitlines()[-1]
            raise ValueError(f"--embeddings {self.path}: not a FAISS index ({reason})") from None
        kind = type(faiss.downcast_index(index)).__name__
        if kind not in ("IndexFlatIP", "IndexFlatL2", "IndexFlat"):
            raise ValueError(
                f"--embeddings {self.path} is a {kind}; it must be a Flat index (the exact "
                "vectors), e.g. Search-R1's e5_Flat.index"
            )
        self.count, self.dim = int(index.ntotal), int(index.d)
        del index
        data = self.count * self.dim * 4
        with self.path.open("rb") as f:
            head = f.read(self._HEADER)
        (length,) = struct.unpack("<Q", head[-8:])
        if self.path.stat().st_size != self._HEADER + data or length != self.count * self.dim:
            raise ValueError(
                f"--embeddings {self.path}: unexpected layout for {self.count} x {self.dim} "
                "float32 vectors; write it with faiss.write_index(IndexFlatIP)"
            )

    def chunks(self) -> Iterator[np.ndarray]:
        for start in range(0, self.count, CHUNK_ROWS):
            yield self._read(start, min(start + CHUNK_ROWS, self.count))

    def rows(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        for start in range(0, self.count, CHUNK_ROWS):
            lo, hi = np.searchsorted(rows, [start, start + CHUNK_ROWS])
            if hi > lo:
                block = self._read(start, min(start + CHUNK_ROWS, self.count))
                out[lo:hi] = block[rows[lo:hi] - start]
        return out

    def _read(self, start: int, stop: int) -> np.ndarray:
        offset = self._HEADER + start * self.dim * 4
        flat = np.fromfile(self.path, dtype="<f4", count=(stop - start) * self.dim, offset=offset)
        return flat.reshape(stop - start, self.dim)


def sample_rows(source: ShardFiles | FlatFile, size: int, seed: int = 0) -> np.ndarray:
    """A seeded sample of `size` rows (sorted ids): what IVF and PQ are trained on."""
    rows = np.sort(np.random.default_rng(seed).choice(source.count, size=size, replace=False))
    return source.rows(rows)
