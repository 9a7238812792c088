"""Dense retrieval: sentence-transformers query embeddings searched in a FAISS inner-product
index. The builder is `build.py`; this module only loads and searches."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from retriever_index.base import Hit, IndexLoadError
from retriever_index.corpus import DocStore
from retriever_index.encoder import Encoder, Prefixes
from retriever_index.manifest import INDEX_FILE, Manifest
from retriever_index.registry import Retriever, register_kind


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
        encoder_backend: str | None = None,
        encoder_precision: str | None = None,
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
        enc = query_encoder(
            manifest, encoder, device, backend=encoder_backend, precision=encoder_precision
        )
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


register_kind("dense", DenseRetriever.open)


def read_faiss(path: Path):
    """Read a FAISS index memory-mapping what FAISS allows (IO_FLAG_MMAP_IFC: Flat vectors, IVF
    array lists), so processes on one node share one copy of the pages; fast-scan PQ lists are
    read into memory (FAISS copies them into aligned blocks)."""
    import faiss

    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError as e:
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else "unreadable"
        raise IndexLoadError(
            f"{path} cannot be read by FAISS ({reason}): the file is damaged (truncated or "
            "overwritten); rebuild the index"
        ) from None


def query_encoder(
    manifest: Manifest,
    encoder: Encoder | str | None = None,
    device: str | None = None,
    *,
    backend: str | None = None,
    precision: str | None = None,
) -> Encoder:
    """The encoder queries need: the build's model, query prefix and runtime (backend and
    precision) unless told otherwise; another runtime than the passages' is warned about."""
    prefixes = Prefixes(query=manifest.query_prefix, passage=manifest.passage_prefix)
    if isinstance(encoder, Encoder):
        if encoder.prefixes.query != manifest.query_prefix:
            raise IndexLoadError(
                f"the given encoder prepends {encoder.prefixes.query!r} to queries but the index "
                f"was built for {manifest.query_prefix!r}; create it with the index's prefixes"
            )
        enc = encoder
    else:
        backend = backend or manifest.encoder_backend
        if precision is None:  # the index's, unless that cannot run on the chosen backend
            precision = "fp32" if backend == "torch" else manifest.encoder_precision
        enc = Encoder(
            encoder or manifest.encoder,
            prefixes=prefixes,
            device=device,
            backend=backend,
            precision=precision,
        )
    built = (manifest.encoder_backend, manifest.encoder_precision)
    if (enc.backend, enc.precision) != built:
        warnings.warn(
            f"queries are encoded with {enc.backend} {enc.precision} but the index's passages "
            f"with {built[0]} {built[1]}: the embeddings differ slightly and recall may drop; "
            "leave --encoder-backend/--encoder-precision unset to use the index's",
            stacklevel=2,
        )
    return enc


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
