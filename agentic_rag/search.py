"""The search tool the rollout engine calls: an in-process `retriever_index` folder or a
retrieval server, from a recipe's `retriever:` section, a path, a URL or a ready object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol as TypingProtocol

from retriever_index.retriever import Hit


class SearchTool(TypingProtocol):
    """In-process `Retriever` or the HTTP `RemoteRetriever`: anything with batched search."""

    def search_batch(self, queries: list[str], k: int) -> list[list[Hit]]: ...


@dataclass(frozen=True)
class RetrieverConfig:
    """Where searches go (a recipe's `retriever:` section): an index folder loaded in every
    process, or a retrieval server shared by all of them."""

    index: str | None = None
    """A `retriever_index` folder (dense, bm25 or hybrid). For the offline default it is built
    under `output_dir`."""
    url: str | None = None
    """Base URL of `agentic-rag index serve` (shared by all processes/nodes); overrides `index`."""
    encoder_device: str | None = None
    """Device of the query encoder for an in-process index (default: CPU; the GPU belongs to the
    policy)."""
    encoder_backend: str | None = None
    """Query encoder runtime for an in-process index: torch, onnx or openvino (default: the one
    the index was built with, from its manifest; another one is warned about)."""
    encoder_precision: str | None = None
    """fp32 or int8 (onnx/openvino) for the query encoder (default: the index's)."""
    ef_search: int | None = None
    """HNSW efSearch at load time."""
    nprobe: int | None = None
    """IVF nprobe at load time."""
    timeout: float = 30.0
    """Seconds per HTTP request to the retrieval server."""
    retry_budget: float = 30.0
    """Seconds a request keeps being retried (backoff with jitter) when the server is down or
    busy before the search becomes an error observation: long enough to ride out a restart."""


def load_search_tool(source: RetrieverConfig | str | SearchTool) -> SearchTool:
    """A search tool from a recipe section, an index folder, a server URL (http:// or https://),
    or an object that already has `search_batch` (returned as is)."""
    if hasattr(source, "search_batch"):
        return source  # type: ignore[return-value]
    if isinstance(source, str):
        is_url = source.startswith(("http://", "https://"))
        source = RetrieverConfig(url=source) if is_url else RetrieverConfig(index=source)
    if source.url:
        from retriever_index.client import RemoteRetriever

        return RemoteRetriever(source.url, timeout=source.timeout, retry_budget=source.retry_budget)
    if not source.index:
        raise ValueError(
            "no retriever: set retriever.index (an index folder built with "
            "`agentic-rag index build`) or retriever.url (a running `agentic-rag index serve`)"
        )
    from retriever_index import Retriever

    return Retriever.load(
        source.index,
        device=source.encoder_device,
        ef_search=source.ef_search,
        nprobe=source.nprobe,
        encoder_backend=source.encoder_backend,
        encoder_precision=source.encoder_precision,
    )
