"""Load any index folder and search it in batches: `Retriever.load(dir)` for every built-in kind.

Importing this module registers the dense, compressed, BM25 and hybrid kinds; the classes live in their own
modules (`registry.Retriever` is the common base). Batched search is the fast path: see
docs/retriever_index.md#search for the measured gap, so `search` is `search_batch` of one.
"""

from __future__ import annotations

from retriever_index import bm25, compressed, dense, hybrid  # noqa: F401  (each registers its kind)
from retriever_index.base import Hit
from retriever_index.dense import DenseRetriever
from retriever_index.registry import Retriever

__all__ = ["DenseRetriever", "Hit", "Retriever"]
