"""`Retriever`, the common part of every index kind, and the registry `Retriever.load` uses.

Each kind module (dense, bm25, hybrid) subclasses `Retriever` and calls `register_kind` with its
loader; `retriever_index.retriever` imports every built-in kind, so loading through it (or
through `retriever_index.Retriever`) knows them all. Nothing here imports a kind: no cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from retriever_index.base import Hit, IndexLoadError
from retriever_index.corpus import DocStore
from retriever_index.manifest import DOCS_FILE, Manifest

if TYPE_CHECKING:
    import numpy as np

    from retriever_index.encoder import Encoder

Loader = Callable[..., "Retriever"]
"""`loader(folder, manifest, docs, *, encoder, device, ef_search, nprobe) -> Retriever`."""

_LOADERS: dict[str, Loader] = {}


def register_kind(kind: str, loader: Loader) -> None:
    """Make `Retriever.load` open folders whose manifest says `kind` with `loader`."""
    _LOADERS[kind] = loader


def known_kinds() -> list[str]:
    return sorted(_LOADERS)


class Retriever:
    """Common part of every retriever kind: manifest, document store, query checks, Hit assembly.

    Subclasses implement `_search_rows`. `Retriever.load` picks the subclass from manifest.kind.
    """

    def __init__(self, folder: Path, manifest: Manifest, docs: DocStore):
        self.folder = folder
        self.manifest = manifest
        self.docs = docs

    @classmethod
    def load(
        cls,
        folder: str | Path,
        *,
        encoder: Encoder | str | None = None,
        device: str | None = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> Retriever:
        """Open an index folder written by a builder, checking its files against the manifest.

        `encoder` overrides the manifest's encoder (a moved model folder, or an Encoder already in
        memory); `ef_search` (HNSW) and `nprobe` (IVF) trade speed for recall at search time.
        """
        folder = Path(folder)
        manifest = Manifest.read(folder)
        loader = _LOADERS.get(manifest.kind)
        if loader is None:
            raise IndexLoadError(
                f"{folder}: index kind {manifest.kind!r} is not supported by this version "
                f"(known: {known_kinds()}); rebuild the index or upgrade retriever_index"
            )
        docs = _open_docs(folder, manifest)
        return loader(
            folder,
            manifest,
            docs,
            encoder=encoder,
            device=device,
            ef_search=ef_search,
            nprobe=nprobe,
        )

    def __len__(self) -> int:
        return self.manifest.count

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: list[str], k: int = 5) -> list[list[Hit]]:
        """Top-k hits per query, best first. k above the corpus size returns every passage.

        Empty (or whitespace-only) queries raise ValueError: they would match arbitrary passages.
        Repeated queries are searched once: the G samples of a GRPO group often issue the same
        query, and encoding is most of a search's cost.
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
        unique = list(dict.fromkeys(queries))
        found = dict(
            zip(unique, self.hits(*self._search_rows(unique, min(k, len(self)))), strict=True)
        )
        return [list(found[q]) for q in queries]

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
