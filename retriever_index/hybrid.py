"""Dense + BM25 fused by reciprocal-rank fusion, with an optional cross-encoder reranker.

A "hybrid" index folder is a dense index folder (manifest, docs.sqlite, index.faiss) plus the
bm25/ files over the same docs.sqlite, and hybrid.json with the fusion settings, so both
retrievers speak in the same row ids and one document store serves them.

RRF (Cormack et al. 2009) needs no score calibration between cosine and BM25: a passage scores
sum(1 / (rrf_k + rank)) over the lists it appears in, ranks starting at 1.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from retriever_index.atomic import (
    full_disk_is_build_error,
    removed_on_failure,
    staging_dir,
    swap_into_place,
    write_json_atomic,
)
from retriever_index.base import IndexLoadError
from retriever_index.bm25 import BM25Config, BM25Retriever, bm25_versions, write_bm25
from retriever_index.build import BuildConfig, build_index
from retriever_index.checksums import seal
from retriever_index.corpus import DocStore
from retriever_index.dense import DenseRetriever
from retriever_index.manifest import Manifest, check_out
from retriever_index.registry import Retriever, register_kind

HYBRID_FILE = "hybrid.json"


@dataclass
class HybridConfig:
    """How the two ranked lists are fused and optionally reranked (stored in hybrid.json)."""

    rrf_k: int = field(
        default=60, metadata={"help": "RRF constant: larger flattens the rank weighting"}
    )
    depth: int = field(
        default=50, metadata={"help": "candidates taken from each retriever (at least k)"}
    )
    reranker: str | None = field(
        default=None,
        metadata={"help": "local sentence-transformers CrossEncoder folder; none = RRF order"},
    )
    rerank_top_n: int = field(
        default=20, metadata={"help": "fused candidates the cross-encoder rescores (at least k)"}
    )

    def __post_init__(self) -> None:
        if self.rrf_k < 0 or self.depth < 1 or self.rerank_top_n < 1:
            raise ValueError("hybrid needs rrf_k >= 0, depth >= 1 and rerank_top_n >= 1")


def rrf_fuse(ranked: list[np.ndarray], rrf_k: int, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Fuse per-query ranked row lists (each (n_queries, depth), -1 = empty slot).

    Returns (scores, rows), each (n_queries, top), best first, -1/0.0 padded. Ties keep the
    order in which rows were first seen, walking the lists rank by rank (dense first).
    """
    n = ranked[0].shape[0]
    out_rows = np.full((n, top), -1, dtype=np.int64)
    out_scores = np.zeros((n, top), dtype=np.float32)
    for q in range(n):
        fused: dict[int, float] = {}
        depth = max(r.shape[1] for r in ranked)
        for rank in range(depth):
            for lst in ranked:
                if rank < lst.shape[1] and (row := int(lst[q, rank])) >= 0:
                    fused[row] = fused.get(row, 0.0) + 1.0 / (rrf_k + rank + 1)
        best = sorted(fused.items(), key=lambda item: -item[1])[:top]
        for j, (row, score) in enumerate(best):
            out_rows[q, j], out_scores[q, j] = row, score
    return out_scores, out_rows


class HybridRetriever(Retriever):
    """RRF over a DenseRetriever and a BM25Retriever built from the same corpus file.

    Rows mean the same passages in both (corpus file order), so any dense and BM25 index of
    one corpus can be combined without re-encoding; the dense side's document store serves.
    """

    def __init__(
        self,
        dense: DenseRetriever,
        sparse: BM25Retriever,
        config: HybridConfig,
        manifest: Manifest | None = None,
    ):
        """`manifest`: the hybrid folder's own; when combining two folders, one is derived."""
        if dense.manifest.corpus_sha256 != sparse.manifest.corpus_sha256:
            raise IndexLoadError(
                f"{dense.folder} and {sparse.folder} were built from different corpora "
                "(corpus_sha256 differs): build both from the same corpus file"
            )
        manifest = manifest or replace(
            dense.manifest,
            kind="hybrid",
            factory=f"{dense.manifest.factory} + {sparse.manifest.factory}",
        )
        super().__init__(dense.folder, manifest, dense.docs)
        self.dense = dense
        self.sparse = sparse
        self.config = config
        self.reranker = _load_reranker(config.reranker, dense.encoder.device)

    @classmethod
    def open(
        cls, folder: Path, manifest: Manifest, docs: DocStore, **dense_options: object
    ) -> HybridRetriever:
        """Loader for Retriever.load: dense options (encoder, device, ef_search, nprobe) apply
        to the dense half; both halves share the folder's docs.sqlite."""
        path = folder / HYBRID_FILE
        if not path.is_file():
            raise IndexLoadError(f"{path} not found; rebuild with `index build --kind hybrid`")
        try:
            config = HybridConfig(**json.loads(path.read_text()))
        except (ValueError, TypeError) as e:
            raise IndexLoadError(
                f"{path} is not valid fusion settings ({e}); fix it (fields: rrf_k, depth, "
                "reranker, rerank_top_n) or rebuild with `index build --kind hybrid`"
            ) from None
        dense = DenseRetriever.open(folder, replace(manifest, kind="dense"), docs, **dense_options)
        sparse = BM25Retriever.open(folder, replace(manifest, kind="bm25"), docs)
        return cls(dense, sparse, config, manifest)

    def _search_rows(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        depth = min(max(self.config.depth, k), len(self))
        _, dense_rows = self.dense._search_rows(queries, depth)
        _, sparse_rows = self.sparse._search_rows(queries, depth)
        top = k if self.reranker is None else max(k, self.config.rerank_top_n)
        scores, rows = rrf_fuse([dense_rows, sparse_rows], self.config.rrf_k, min(top, len(self)))
        if self.reranker is None:
            return scores, rows
        return self._rerank(queries, rows, k)

    def _rerank(
        self, queries: list[str], rows: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """One cross-encoder call over every (query, candidate) pair of the batch."""
        valid = rows >= 0
        passages = self.docs.rows(rows[valid].tolist())
        query_of = np.broadcast_to(np.arange(len(queries))[:, None], rows.shape)[valid]
        pairs = [(queries[q], p.contents) for q, p in zip(query_of.tolist(), passages, strict=True)]
        ce = np.full(rows.shape, -np.inf, dtype=np.float32)
        ce[valid] = self.reranker.predict(pairs, show_progress_bar=False) if pairs else []
        order = np.argsort(-ce, axis=1, kind="stable")[:, :k]
        out_rows = np.take_along_axis(rows, order, axis=1)
        out_scores = np.take_along_axis(ce, order, axis=1)
        return np.where(out_rows >= 0, out_scores, 0.0), out_rows


register_kind("hybrid", HybridRetriever.open)


def _load_reranker(path: str | None, device: str | None):
    if path is None:
        return None
    from sentence_transformers import CrossEncoder

    if not Path(path).is_dir():
        raise IndexLoadError(
            f"reranker {path!r} is not a local folder; point hybrid.json's reranker at a "
            "CrossEncoder saved with save_pretrained (downloads are never attempted)"
        )
    return CrossEncoder(path, device=device, local_files_only=True)


def build_hybrid(
    build: BuildConfig, bm25: BM25Config | None = None, hybrid: HybridConfig | None = None
) -> Manifest:
    """Dense build (resumable) into a staging folder, BM25 over its docs.sqlite, then swap the
    whole folder into build.out: a failure anywhere leaves a previous index at OUT untouched."""
    started = time.time()
    bm25, hybrid = bm25 or BM25Config(), hybrid or HybridConfig()
    out = Path(build.out).resolve()
    check_out(out)
    if hybrid.reranker is not None:
        _load_reranker(hybrid.reranker, None)  # fail before an hour of encoding, not after
    staging = staging_dir(out, "hybrid")
    with (
        full_disk_is_build_error(staging, out),
        removed_on_failure(staging),  # the dense build keeps its own folder for --resume
    ):
        dense = build_index(replace(build, out=str(staging)))
        write_bm25(staging, bm25)
        write_json_atomic(staging / HYBRID_FILE, asdict(hybrid))
        manifest = replace(
            dense,
            kind="hybrid",
            factory=f"{dense.factory} + {bm25.describe()}",
            build_seconds=round(time.time() - started, 3),
            versions=bm25_versions(),
        )
        manifest = seal(staging, manifest, known=dense.files)
    swap_into_place(staging, out)
    return manifest
