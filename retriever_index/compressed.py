"""Compressed dense index: IVF + product quantization for candidates, exact re-ranking on disk.

A Flat index of wiki-18 (21M x 768 float32) is ~64 GB of RAM per process. Here the RAM part is
an IVF index of PQ codes (4-bit fast-scan by default: dim/8 bytes per passage plus an 8-byte
id), which proposes `rerank_depth` candidates per query; those are re-scored by exact inner
product against float16 copies of the passage vectors in `vectors.npy`, memory-mapped, so the
page cache holds the pages that searches touch and every process on the node shares them.

A "compressed" index folder: manifest.json (kind "compressed", factory, params), docs.sqlite,
index.faiss (IVF-PQ over the float16-rounded vectors) and vectors.npy (float16, count x dim).
Indexing the float16-rounded vectors makes vectors.npy plus the trained index the whole truth:
`index shard` re-adds its rows and gets the same codes.
"""

from __future__ import annotations

import hashlib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from retriever_index.atomic import atomic_path
from retriever_index.base import BuildError, IndexLoadError
from retriever_index.build import BuildConfig, IndexSpec, build_index, new_index, train_index
from retriever_index.corpus import DocStore
from retriever_index.dense import DenseRetriever
from retriever_index.embeddings import FlatFile, ShardFiles
from retriever_index.encoder import Encoder
from retriever_index.manifest import INDEX_FILE, Manifest
from retriever_index.registry import register_kind

VECTORS_FILE = "vectors.npy"
_RERANK_CHUNK = 64  # queries re-scored per numpy call: bounds the gathered candidate block


@dataclass
class CompressedConfig:
    """IVF-PQ settings of `index build --kind compressed` (0 = sized from the corpus)."""

    nlist: int = field(
        default=0,
        metadata={"help": "IVF lists; 0 = power of two <= min(4*sqrt(N), train sample / 39)"},
    )
    pq_m: int = field(
        default=0, metadata={"help": "PQ sub-quantizers, must divide the dimension; 0 = dim/4"}
    )
    pq_bits: int = field(
        default=4,
        metadata={
            "help": "bits per PQ code: 4 = SIMD fast-scan (codes in RAM), 8 = classic PQ "
            "(codes memory-mapped, slower to train and scan)",
            "choices": [4, 8],
        },
    )
    opq: bool = field(
        default=False, metadata={"help": "learn an OPQ rotation first (better codes, slow train)"}
    )
    nprobe: int = field(
        default=0,
        metadata={
            "help": "IVF lists searched per query, recorded as the default; 0 = nlist/16, >= 8"
        },
    )
    rerank_depth: int = field(
        default=100,
        metadata={"help": "candidates per query re-scored exactly against the float16 vectors"},
    )

    def resolve(self, dim: int, count: int, train_size: int) -> dict[str, int | bool | str]:
        """Every setting made concrete for this corpus, plus the FAISS factory string."""
        for name in ("nlist", "pq_m", "nprobe"):
            if getattr(self, name) < 0:
                raise BuildError(f"--{name.replace('_', '-')} must be >= 0 (0 = automatic)")
        if self.rerank_depth < 1:
            raise BuildError("--rerank-depth must be >= 1")
        if self.pq_bits not in (4, 8):
            raise BuildError(f"--pq-bits must be 4 or 8, got {self.pq_bits}")
        train = min(count, train_size)
        nlist = self.nlist or 2 ** max(0, int(math.log2(max(1.0, min(4 * count**0.5, train / 39)))))
        pq_m = self.pq_m or dim // 4
        if pq_m < 1 or dim % pq_m:
            raise BuildError(
                f"--pq-m {pq_m} must divide the embedding dimension {dim} (e.g. {dim // 4} or "
                f"{dim // 8})"
            )
        nprobe = min(nlist, self.nprobe or max(8, nlist // 16))
        codes = f"PQ{pq_m}x4fs" if self.pq_bits == 4 else f"PQ{pq_m}"
        factory = f"{f'OPQ{pq_m},' if self.opq else ''}IVF{nlist},{codes}"
        return {
            "factory": factory,
            "nlist": nlist,
            "pq_m": pq_m,
            "pq_bits": self.pq_bits,
            "opq": self.opq,
            "nprobe": nprobe,
            "rerank_depth": self.rerank_depth,
            "train_size": train,
            "train_seed": 0,
        }


class CompressedWriter:
    """Index writer for build_index: trains IVF-PQ on a sample, then streams every chunk into
    the index (as float16-rounded vectors) and into vectors.npy in one pass."""

    def __init__(self, config: CompressedConfig, train_size: int):
        self.config, self.train_size = config, train_size

    def check(self, dim: int, count: int) -> None:
        new_index(dim, str(self.config.resolve(dim, count, self.train_size)["factory"]))

    def write(self, work: Path, source: ShardFiles | FlatFile) -> IndexSpec:
        import faiss

        params = self.config.resolve(source.dim, source.count, self.train_size)
        factory = str(params.pop("factory"))
        index = _trained(work, source, factory, self.train_size)
        vectors = work / VECTORS_FILE
        header = {"descr": "<f2", "fortran_order": False, "shape": (source.count, source.dim)}
        with (
            vectors.open("wb") as f,
            tqdm(total=source.count, unit="passage", desc="indexing") as bar,
        ):
            np.lib.format.write_array_header_1_0(f, header)
            for chunk in source.chunks():
                half = chunk.astype(np.float16)
                f.write(half.tobytes())
                index.add(half.astype(np.float32))
                bar.update(len(chunk))
        with atomic_path(work / INDEX_FILE) as tmp:
            faiss.write_index(index, str(tmp))
        for checkpoint in work.glob("trained-*.faiss"):
            checkpoint.unlink()
        params["vectors"] = {
            "file": VECTORS_FILE,
            "dtype": "float16",
            "bytes": vectors.stat().st_size,
        }
        return IndexSpec(kind="compressed", factory=factory, params=params)


def _trained(work: Path, source: ShardFiles | FlatFile, factory: str, train_size: int):
    """The trained, empty index; kept in the build folder so --resume skips training again."""
    import faiss

    key = hashlib.sha256(f"{factory}|{train_size}|{source.count}".encode()).hexdigest()[:12]
    path = work / f"trained-{key}.faiss"
    if path.is_file():
        print(f"reusing trained {factory} from {path}", file=sys.stderr)
        return faiss.read_index(str(path))
    index = new_index(source.dim, factory)
    train_index(index, source, train_size, factory)
    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))
    return index


def build_compressed(config: BuildConfig, compressed: CompressedConfig | None = None) -> Manifest:
    """`agentic-rag index build --kind compressed`: the dense build (resumable, atomic) with
    CompressedWriter in place of the FAISS factory."""
    if config.index_type != "Flat":
        raise BuildError(
            f"--index-type {config.index_type!r} does not apply to --kind compressed: the factory "
            "comes from --nlist, --pq-m, --pq-bits and --opq"
        )
    writer = CompressedWriter(compressed or CompressedConfig(), config.train_size)
    return build_index(config, writer)


class CompressedRetriever(DenseRetriever):
    """IVF-PQ candidates, re-ranked by exact inner product with the float16 vectors."""

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        docs: DocStore,
        index,
        encoder: Encoder | None,
        vectors: np.ndarray,
    ):
        super().__init__(folder, manifest, docs, index, encoder)
        self.vectors = vectors
        self.rerank_depth = int(manifest.params["rerank_depth"])

    @classmethod
    def open(
        cls,
        folder: Path,
        manifest: Manifest,
        docs: DocStore,
        *,
        encoder: Encoder | str | None | bool,
        device: str | None,
        ef_search: int | None,
        nprobe: int | None,
        encoder_backend: str | None = None,
        encoder_precision: str | None = None,
    ) -> CompressedRetriever:
        missing = [k for k in ("nprobe", "rerank_depth") if k not in manifest.params]
        if missing:
            raise IndexLoadError(f"{folder}: manifest params lack {missing}; rebuild the index")
        dense = DenseRetriever.open(
            folder,
            manifest,
            docs,
            encoder=encoder,
            device=device,
            ef_search=ef_search,
            nprobe=nprobe or int(manifest.params["nprobe"]),
            encoder_backend=encoder_backend,
            encoder_precision=encoder_precision,
        )
        vectors = open_vectors(folder, manifest)
        return cls(folder, manifest, docs, dense.index, dense.encoder, vectors)

    def _search_vectors(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        depth = min(max(self.rerank_depth, k), len(self))
        _, candidates = self.index.search(vectors, depth)
        return rerank(vectors, candidates, self.vectors, k)


register_kind("compressed", CompressedRetriever.open)


def open_vectors(folder: Path, manifest: Manifest) -> np.ndarray:
    """vectors.npy memory-mapped read-only, checked against the manifest."""
    path = folder / VECTORS_FILE
    if not path.is_file():
        raise IndexLoadError(f"{path} not found; rebuild the index with --kind compressed")
    try:
        vectors = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise IndexLoadError(
            f"{path} is not a readable .npy file ({e}); rebuild the index"
        ) from None
    if vectors.dtype != np.float16 or vectors.shape != (manifest.count, manifest.dim):
        raise IndexLoadError(
            f"{path} holds {vectors.dtype} {vectors.shape} but the manifest says float16 "
            f"({manifest.count}, {manifest.dim}): the folder mixes builds; rebuild the index"
        )
    return vectors


def rerank(
    queries: np.ndarray, candidates: np.ndarray, vectors: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k among each query's candidate rows (-1 = none) by inner product with
    `vectors[row]` computed in float32. Returns FAISS-shaped (scores, rows), -1 padded.

    Queries go in chunks, each reading its distinct candidate rows from the memory map once,
    in file order; memory is one chunk's candidates in float32."""
    scores = np.full(candidates.shape, -np.inf, dtype=np.float32)
    for s in range(0, len(queries), _RERANK_CHUNK):
        cand = candidates[s : s + _RERANK_CHUNK]
        valid = cand >= 0
        rows = np.unique(cand[valid])
        if len(rows):
            block = np.asarray(vectors[rows], dtype=np.float32)
            pos = np.searchsorted(rows, np.where(valid, cand, rows[0]))
            exact = np.einsum("qcd,qd->qc", block[pos], queries[s : s + _RERANK_CHUNK])
            scores[s : s + _RERANK_CHUNK] = np.where(valid, exact, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(scores, order, axis=1)
    out_rows = np.where(np.isfinite(top), np.take_along_axis(candidates, order, axis=1), -1)
    return np.where(out_rows >= 0, top, 0.0).astype(np.float32), out_rows
