"""Passage corpus -> sentence-transformers embeddings -> FAISS index, and batched search over it.

Knows nothing about LLMs or RL: `agentic_rag` imports this package, never the other way round.
Names are imported on first use, so `import retriever_index` does not load torch or FAISS.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retriever_index.base import (
        BuildError,
        Hit,
        IndexCorruptError,
        IndexLoadError,
        QueryError,
        RetrievalError,
        Searcher,
        check_query,
    )
    from retriever_index.build import BuildConfig, build_index
    from retriever_index.client import RemoteRetriever
    from retriever_index.encoder import Encoder
    from retriever_index.metrics import recall_at_k
    from retriever_index.retriever import Retriever
    from retriever_index.verify import verify_index

_EXPORTS = {
    "Retriever": "retriever_index.retriever",
    "Hit": "retriever_index.base",
    "Searcher": "retriever_index.base",
    "check_query": "retriever_index.base",
    "QueryError": "retriever_index.base",
    "IndexLoadError": "retriever_index.base",
    "IndexCorruptError": "retriever_index.base",
    "BuildError": "retriever_index.base",
    "RetrievalError": "retriever_index.base",
    "Encoder": "retriever_index.encoder",
    "BuildConfig": "retriever_index.build",
    "build_index": "retriever_index.build",
    "recall_at_k": "retriever_index.metrics",
    "RemoteRetriever": "retriever_index.client",
    "verify_index": "retriever_index.verify",
}
__all__ = [
    "BuildConfig",
    "BuildError",
    "Encoder",
    "Hit",
    "IndexCorruptError",
    "IndexLoadError",
    "QueryError",
    "RemoteRetriever",
    "RetrievalError",
    "Retriever",
    "Searcher",
    "build_index",
    "check_query",
    "recall_at_k",
    "verify_index",
]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'retriever_index' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
