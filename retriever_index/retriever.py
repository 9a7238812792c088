"""Load a built index folder and search it in batches: one encoder call + one FAISS call per batch.

On this machine one FAISS call over 1,000 queries took 0.6 s and 1,000 single-query calls 19 s,
so `search` is `search_batch` of one, never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retriever_index.cache import QueryCache, index_id, normalize_query
from retriever_index.corpus import DocStore
from retriever_index.encoder import Encoder, Prefixes
from retriever_index.manifest import DOCS_FILE, INDEX_FILE, IndexLoadError, Manifest

DEFAULT_CACHE_SIZE = 10_000  # (query, k) results kept by Retriever.load's cache; 0 turns it off


@dataclass(frozen=True)
class Hit:
    id: str
    title: str
    text: str
    score: float


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
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> Retriever:
        """Open an index folder written by `build_index`, checking its files against the manifest.

        `encoder` overrides the manifest's encoder (a moved model folder, or an Encoder already in
        memory); False loads a dense index without one, for `search_vectors`; `ef_search` (HNSW) and `nprobe` (IVF) trade speed for recall at search time.
        `cache_size` bounds the query-result cache (0: no cache); `cache_stats()` reports it.
        """
        folder = Path(folder)
        manifest = Manifest.read(folder)
        loader = _LOADERS.get(manifest.kind)
        if loader is None:
            raise IndexLoadError(
                f"{folder}: index kind {manifest.kind!r} is not supported by this version "
                f"(known: {sorted(_LOADERS)}); rebuild the index or upgrade retriever_index"
            )
        docs = _open_docs(folder, manifest)
        retriever = loader(
            folder,
            manifest,
            docs,
            encoder=encoder,
            device=device,
            ef_search=ef_search,
            nprobe=nprobe,
        )
        enc_id = [encoder.name, encoder.revision] if isinstance(encoder, Encoder) else encoder
        retriever.index_id = index_id(manifest, encoder=enc_id, ef_search=ef_search, nprobe=nprobe)
        retriever.cache = QueryCache(cache_size) if cache_size else None
        return retriever

    def cache_stats(self) -> dict | None:
        """Query-cache hits, misses, hit_rate, entries, capacity (None without a cache)."""
        return self.cache.stats() if self.cache is not None else None

    def __len__(self) -> int:
        return self.manifest.count

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: list[str], k: int = 5) -> list[list[Hit]]:
        """Top-k hits per query, best first. k above the corpus size returns every passage.

        Empty (or whitespace-only) queries raise ValueError: they would match arbitrary passages.
        Queries are searched in normalized form (cache.normalize_query: whitespace runs as one
        space, NFC). Repeated queries are searched once, and with a cache, once per index and k:
        the G samples of a GRPO group often issue the same query, and encoding is most of a
        search's cost.
        """
        if isinstance(queries, str):
            raise TypeError("search_batch takes a list of query strings; use search() for one")
        for i, q in enumerate(queries):
            if not isinstance(q, str):
                raise TypeError(f"query {i} is {type(q).__name__}, expected str")
            if not q.strip():
                raise ValueError(f"query {i} is empty; every query needs some text to search for")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if not queries:
            return []
        normalized = [normalize_query(q) for q in queries]
        unique = list(dict.fromkeys(normalized))
        found = self.cache.lookup(self.index_id, unique, k) if self.cache is not None else {}
        missing = [q for q in unique if q not in found]
        if missing:
            fresh = self.hits(*self._search_rows(missing, min(k, len(self))))
            searched = dict(zip(missing, fresh, strict=True))
            if self.cache is not None:
                self.cache.store(self.index_id, k, searched)
            found.update(searched)
        return [list(found[q]) for q in normalized]

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


class DenseRetriever(Retriever):
    """Sentence-transformers embeddings searched with a FAISS inner-product index.

    Loaded with `encoder=False` it has no encoder and is searched by query vectors only
    (`search_vectors`): what an index shard behind a separate query encoder does.
    """

    def __init__(
        self, folder: Path, manifest: Manifest, docs: DocStore, index, encoder: Encoder | None
    ):
        super().__init__(folder, manifest, docs)
        self.index = index
        self.encoder = encoder

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
    ) -> DenseRetriever:
        path = folder / INDEX_FILE
        if not path.is_file():
            raise IndexLoadError(
                f"{path} not found; rebuild the index with `agentic-rag index build`"
            )
        index = read_faiss(path)
        if index.ntotal != manifest.count:
            raise IndexLoadError(
                f"{path} holds {index.ntotal} vectors but the manifest says {manifest.count} "
                "passages: the folder mixes files from different builds; rebuild the index"
            )
        if index.d != manifest.dim:
            raise IndexLoadError(
                f"{path} is {index.d}-dim but the manifest says {manifest.dim}; rebuild the index"
            )
        _set_search_params(index, folder, ef_search=ef_search, nprobe=nprobe)
        if encoder is False:
            return cls(folder, manifest, docs, index, None)
        enc = _index_encoder(manifest, encoder, device)
        if enc.dim != manifest.dim:
            raise IndexLoadError(
                f"encoder {enc.name!r} makes {enc.dim}-dim embeddings but {folder} was built with "
                f"{manifest.dim}-dim ones by {manifest.encoder!r}; load it with that encoder "
                "or rebuild the index with this one"
            )
        return cls(folder, manifest, docs, index, enc)

    def _search_rows(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.encoder is None:
            raise TypeError(f"{self.folder} was loaded without an encoder: use search_vectors")
        return self._search_vectors(self.encoder.encode_queries(queries), k)

    def search_vectors(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """Top-k hits for already-encoded queries, (n, dim) float32 (no cache)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.manifest.dim:
            raise ValueError(f"query vectors must be (n, {self.manifest.dim}), got {vectors.shape}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if not len(vectors):
            return []
        return self.hits(*self._search_vectors(vectors, min(k, len(self))))

    def _search_vectors(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(vectors, k)


def read_faiss(path: Path):
    """Read a FAISS index memory-mapping what FAISS allows (IO_FLAG_MMAP_IFC: Flat vectors, IVF
    lists), so processes on one node share one copy of the pages. Fast-scan PQ lists are read
    into memory (FAISS copies them into aligned blocks)."""
    import faiss

    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)


def _open_bm25(*args, **kwargs) -> Retriever:
    from retriever_index.bm25 import BM25Retriever

    return BM25Retriever.open(*args, **kwargs)


def _open_hybrid(*args, **kwargs) -> Retriever:
    from retriever_index.hybrid import HybridRetriever

    return HybridRetriever.open(*args, **kwargs)


def _open_compressed(*args, **kwargs) -> Retriever:
    from retriever_index.compressed import CompressedRetriever

    return CompressedRetriever.open(*args, **kwargs)


# bm25/hybrid/compressed import lazily: they import this module
_LOADERS: dict[str, Callable[..., Retriever]] = {
    "dense": DenseRetriever.open,
    "bm25": _open_bm25,
    "hybrid": _open_hybrid,
    "compressed": _open_compressed,
}


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


def _index_encoder(
    manifest: Manifest, encoder: Encoder | str | None, device: str | None
) -> Encoder:
    """The encoder queries need: the build's model and query prefix unless told otherwise."""
    prefixes = Prefixes(query=manifest.query_prefix, passage=manifest.passage_prefix)
    if isinstance(encoder, Encoder):
        if encoder.prefixes.query != manifest.query_prefix:
            raise IndexLoadError(
                f"the given encoder prepends {encoder.prefixes.query!r} to queries but the index "
                f"was built for {manifest.query_prefix!r}; create it with the index's prefixes"
            )
        return encoder
    return Encoder(encoder or manifest.encoder, prefixes=prefixes, device=device)


def _set_search_params(index, folder: Path, *, ef_search: int | None, nprobe: int | None) -> None:
    import faiss

    space = faiss.ParameterSpace()
    for name, value, kind in (("efSearch", ef_search, "HNSW"), ("nprobe", nprobe, "IVF")):
        if value is None:
            continue
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
        try:
            space.set_index_parameter(index, name, value)
        except RuntimeError:
            raise ValueError(
                f"{name} only applies to {kind} indexes; {folder} is "
                f"{_describe(index)}: drop the {name} setting"
            ) from None


def _describe(index) -> str:
    import faiss

    return type(faiss.downcast_index(index)).__name__
