"""Passage corpus -> sentence-transformers embeddings -> FAISS index, and batched search over it.

Knows nothing about LLMs or RL: `agentic_rag` imports this package, never the other way round.
Names are imported on first use, so `import retriever_index` does not load torch or FAISS.
"""

from retriever_index.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "retriever_index.retriever": ("Retriever",),
        "retriever_index.base": (
            "BuildError",
            "Hit",
            "IndexCorruptError",
            "IndexLoadError",
            "QueryError",
            "RetrievalError",
            "Searcher",
            "check_query",
        ),
        "retriever_index.encoder": ("Encoder",),
        "retriever_index.build": ("BuildConfig", "build_index"),
        "retriever_index.metrics": ("recall_at_k",),
        "retriever_index.client": ("RemoteRetriever",),
        "retriever_index.verify": ("verify_index",),
    },
)
