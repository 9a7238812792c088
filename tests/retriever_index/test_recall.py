"""Recall@5/@10 of gold HotpotQA passages: dense vs BM25 vs hybrid (RRF) on the shared subset
(200 dev questions, 1,982 passages; skipped without the shared data)."""

from __future__ import annotations

import pytest

from retriever_index.bm25 import build_bm25
from retriever_index.hybrid import HybridConfig, HybridRetriever
from retriever_index.metrics import recall_at_k
from retriever_index.retriever import Retriever


@pytest.fixture(scope="module")
def recalls(hotpot_index, tmp_path_factory) -> dict[str, dict[int, float]]:
    subset = hotpot_index.subset
    bm25_dir = tmp_path_factory.mktemp("hotpot_bm25") / "bm25"
    build_bm25(subset.corpus, bm25_dir)
    dense, sparse = Retriever.load(hotpot_index.dir), Retriever.load(bm25_dir)
    retrievers = {
        "dense": dense,
        "bm25": sparse,
        "hybrid": HybridRetriever(dense, sparse, HybridConfig()),
    }
    questions = [q["question"] for q in subset.questions]
    gold = [set(q["gold_ids"]) for q in subset.questions]
    table = {}
    for name, r in retrievers.items():
        hits = r.search_batch(questions, 10)
        table[name] = {k: recall_at_k(hits, gold, k, key="id") for k in (5, 10)}
    print("\nrecall (200 HotpotQA dev questions, 1,982 passages):")
    for name, row in table.items():
        print(f"  {name:7s} @5 {row[5]:.3f}  @10 {row[10]:.3f}")
    return table


def test_each_retriever_finds_most_gold_passages(recalls):
    for name, row in recalls.items():
        assert row[10] >= row[5] > 0.5, (name, row)


def test_hybrid_beats_both_halves_at_10(recalls):
    """Dense and BM25 miss different passages on multi-hop questions; RRF recovers both."""
    assert recalls["hybrid"][10] > max(recalls["dense"][10], recalls["bm25"][10]), recalls
