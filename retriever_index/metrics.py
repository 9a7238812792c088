"""Retrieval metrics shared by tests, benchmarks and evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from retriever_index.base import Hit


def recall_at_k(
    hits: Sequence[Sequence[Hit]],
    gold: Sequence[set[str]],
    k: int,
    key: Literal["title", "id"] = "title",
) -> float:
    """Mean over queries of |gold found in the top k| / |gold|.

    Multi-hop questions need every supporting passage, so a question with two gold passages and
    one retrieved scores 0.5 (not 1, as a "hit@k" would). key="title" matches HotpotQA's
    supporting titles; key="id" matches passage ids.
    """
    if len(hits) != len(gold):
        raise ValueError(f"{len(hits)} hit lists but {len(gold)} gold sets; pass one per query")
    if not hits:
        raise ValueError("recall_at_k needs at least one query")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if key not in ("title", "id"):
        raise ValueError(f'key must be "title" or "id", got {key!r}')
    total = 0.0
    for i, (query_hits, wanted) in enumerate(zip(hits, gold, strict=True)):
        if not wanted:
            raise ValueError(f"query {i} has no gold passages; drop it before computing recall")
        found = {getattr(h, key) for h in query_hits[:k]}
        total += len(found & set(wanted)) / len(wanted)
    return total / len(hits)
