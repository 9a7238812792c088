"""`Retriever`, the common part of every index kind, and the registry `Retriever.load` uses.

Each kind module (dense, bm25, hybrid) subclasses `Retriever` and calls `register_kind` with its
loader; `retriever_index.retriever` imports every built-in kind, so loading through it (or
through `retriever_index.Retriever`) knows them all. Nothing here imports a kind: no cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retriever_index.base import Errors, Hit, IndexLoadError, QueryError, refused_queries
from retriever_index.cache import QueryCache, index_id, normalize_query
from retriever_index.checksums import check_files
from retriever_index.corpus import DocStore
from retriever_index.manifest import DOCS_FILE, Manifest

if TYPE_CHECKING:
    import numpy as np

    from retriever_index.encoder import Encoder

Loader = Callable[..., "Retriever"]
"""`loader(folder, manifest, docs, *, encoder, device, ef_search, nprobe, encoder_backend,
encoder_precision) -> Retriever`."""

_LOADERS: dict[str, Loader] = {}
DEFAULT_CACHE_SIZE = 10_000  # (query, k) results kept by Retriever.load's cache; 0 turns it off


def register_kind(kind: str, loader: Loader) -> None:
    """Make `Retriever.load` open folders whose manifest says `kind` with `loader`."""
    _LOADERS[kind] = loader


def known_kinds() -> list[str]:
    return sorted(_LOADERS)


class Retriever:
    """Common part of every retriever kind: manifest, document store, query checks, Hit assembly.

    Subclasses implement `_search_rows`. `Retriever.load` picks the subclass from manifest.kind.
    `cache` (a QueryCache, set by `load`) answers repeated (query, k) pairs without searching;
    `index_id` keys it, so one cache may be shared by several retrievers.
    """

    def __init__(self, folder: Path, manifest: Manifest, docs: DocStore):
        self.folder = folder
        self.manifest = manifest
        self.docs = docs
        self.cache: QueryCache | None = None
        self.index_id = index_id(manifest)

    @classmethod
    def load(
        cls,
        folder: str | Path,
        *,
        encoder: Encoder | str | None | bool = None,
        device: str | None = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
        encoder_backend: str | None = None,
        encoder_precision: str | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> Retriever:
        """Open an index folder written by a builder, checking its files against the manifest
        (sizes and sampled checksums; `agentic-rag index verify` checks every byte).

        `encoder` overrides the manifest's encoder (a moved model folder, or an Encoder already in
        memory); False loads a dense index without one, for `search_vectors`. `ef_search` (HNSW)
        and `nprobe` (IVF) trade speed for recall at search time. `encoder_backend` and
        `encoder_precision` (default: the index's, from its manifest) pick the query encoder's
        runtime; another one than the passages' is warned about. `cache_size` bounds the
        query-result cache (0: none); `cache_stats()` reports its hit rate.
        """
        folder = Path(folder)
        manifest = Manifest.read(folder)
        loader = _LOADERS.get(manifest.kind)
        if loader is None:
            raise IndexLoadError(
                f"{folder}: index kind {manifest.kind!r} is not supported by this version "
                f"(known: {known_kinds()}); rebuild the index or upgrade retriever_index"
            )
        check_files(folder, manifest)
        docs = _open_docs(folder, manifest)
        retriever = loader(
            folder,
            manifest,
            docs,
            encoder=encoder,
            device=device,
            ef_search=ef_search,
            nprobe=nprobe,
            encoder_backend=encoder_backend,
            encoder_precision=encoder_precision,
        )
        enc_id = (
            [encoder.name, encoder.revision, encoder.backend, encoder.precision]
            if hasattr(encoder, "revision")
            else [encoder, encoder_backend, encoder_precision]
        )
        retriever.index_id = index_id(manifest, encoder=enc_id, ef_search=ef_search, nprobe=nprobe)
        retriever.cache = QueryCache(cache_size) if cache_size else None
        return retriever

    def cache_stats(self) -> dict[str, Any] | None:
        """Query-cache hits, misses, hit_rate, entries, capacity (None without a cache)."""
        return self.cache.stats() if self.cache is not None else None

    def __len__(self) -> int:
        return self.manifest.count

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return self.search_batch([query], k)[0]

    def search_batch(
        self, queries: list[str], k: int = 5, *, errors: Errors = "raise"
    ) -> list[list[Hit]] | list[list[Hit] | Exception]:
        """Top-k hits per query, best first. k above the corpus size returns every passage.

        Queries that are not strings, empty (they would match arbitrary passages) or not
        encodable text are refused (`check_query`). errors="raise" raises for the first one
        (TypeError or QueryError); errors="return" puts that exception in the query's place,
        searches the others, and if the batched search itself fails, searches each query alone
        so that only the queries that fail get their exception.
        Queries are searched in normalized form (cache.normalize_query: whitespace runs as one
        space, NFC). Repeated queries are searched once, and with a cache once per index and k:
        the G samples of a GRPO group often issue the same query, and encoding is most of a
        search's cost.
        """
        results: list = refused_queries(
            queries, errors, lambda q, why: (QueryError if isinstance(q, str) else TypeError)(why)
        )
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        normalized = [
            normalize_query(q) if r is None else None for q, r in zip(queries, results, strict=True)
        ]
        unique = list(dict.fromkeys(q for q in normalized if q is not None))
        found = self.cache.lookup(self.index_id, unique, k) if self.cache is not None else {}
        missing = [q for q in unique if q not in found]
        if missing:
            searched = self._search_unique(missing, min(k, len(self)), errors)
            if self.cache is not None:
                ok = {q: h for q, h in searched.items() if not isinstance(h, Exception)}
                self.cache.store(self.index_id, k, ok)
            found.update(searched)
        for i, q in enumerate(normalized):
            if q is not None:
                results[i] = found[q] if isinstance(found[q], Exception) else list(found[q])
        return results

    def _search_unique(self, unique: list[str], k: int, errors: Errors) -> dict[str, Any]:
        """query -> hits for distinct valid queries; with errors="return", query -> exception
        for each query that fails when searched alone."""
        try:
            return dict(zip(unique, self.hits(*self._search_rows(unique, k)), strict=True))
        except Exception as exc:
            if errors == "raise":
                raise
            if len(unique) == 1:
                return {unique[0]: exc}
        return {q: self._search_unique([q], k, errors)[q] for q in unique}

    def hits(self, scores: np.ndarray, rows: np.ndarray) -> list[list[Hit]]:
        """FAISS-shaped (scores, rows) arrays -> Hits, fetching all passages in one store query.

        Rows of -1 (FAISS's "no result") are dropped.
        """
        found = iter(self.docs.rows(rows[rows >= 0].tolist()))  # row-major, like the loop below
        hits = []
        for row_scores, row_ids in zip(scores.tolist(), rows.tolist(), strict=True):
            per_query = []
            for score, row in zip(row_scores, row_ids, strict=True):
                if row >= 0:
                    p = next(found)
                    per_query.append(Hit(p.id, p.title, p.text, score))
            hits.append(per_query)
        return hits

    def _search_rows(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (len(queries), k); row -1 marks a missing result."""
        raise NotImplementedError


def _open_docs(folder: Path, manifest: Manifest) -> DocStore:
    path = folder / DOCS_FILE
    if not path.is_file():
        raise IndexLoadError(f"{path} not found; rebuild the index with `agentic-rag index build`")
    docs = DocStore(path)
    if docs.sha256 != manifest.corpus_sha256 or len(docs) != manifest.count:
        docs.close()
        raise IndexLoadError(
            f"{path} holds {len(docs)} passages of corpus sha256 {docs.sha256[:12]}… but the "
            f"manifest says {manifest.count} of {manifest.corpus_sha256[:12]}…: the folder mixes "
            "files from different builds; rebuild the index"
        )
    return docs
