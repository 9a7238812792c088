"""The search tool the rollout engine calls: an in-process `retriever_index` folder or a
retrieval server, from a recipe's `retriever:` section, a path, a URL or a ready object."""

from __future__ import annotations

from typing import Protocol as TypingProtocol

from agentic_rag.recipe.sections import RetrieverConfig
from retriever_index.retriever import Hit


class SearchTool(TypingProtocol):
    """In-process `Retriever` or the HTTP `RemoteRetriever`: anything with batched search."""

    def search_batch(self, queries: list[str], k: int) -> list[list[Hit]]: ...


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
