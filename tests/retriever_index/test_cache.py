"""Query-result cache: independent copies, never another index's or another k's hits, bounded."""

from __future__ import annotations

import dataclasses

import pytest

from retriever_index.build import BuildConfig, build_index
from retriever_index.cache import QueryCache, normalize_query
from retriever_index.retriever import Retriever


def test_hits_come_back_as_independent_copies(tiny_index):
    r = Retriever.load(tiny_index, cache_size=8)
    first = r.search_batch(["the red planet", "who found penicillin"], 3)
    first[0].clear()
    first[1].append("junk")
    again = r.search_batch(["the red planet", "who found penicillin"], 3)
    assert [h.title for h in again[0]][:1] == ["Mars"] and len(again[0]) == 3
    assert len(again[1]) == 3 and again[1][0].title == "Penicillin"
    assert again[0] is not first[0] and again[0] is not r.search_batch(["the red planet"], 3)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        again[0][0].score = 1.0  # the Hits themselves cannot be edited
    assert r.cache_stats() == {
        "hits": 3,
        "misses": 2,
        "hit_rate": 0.6,
        "entries": 2,
        "capacity": 8,
    }


def test_never_serves_another_index_or_k(tiny_index, tiny_records, jsonl, tmp_path):
    """Two indexes behind one cache: same query, same k, different answers, each its own."""
    other_dir = tmp_path / "other"
    corpus = jsonl("other.jsonl", tiny_records[10:14])  # violin, chess, volcano, bitcoin
    build_index(BuildConfig(corpus=str(corpus), out=str(other_dir)))
    shared = QueryCache(100)
    tiny, other = Retriever.load(tiny_index), Retriever.load(other_dir)
    tiny.cache = other.cache = shared
    assert tiny.index_id != other.index_id

    q = "which planet is red"
    want_tiny, want_other = tiny.search(q, 3), other.search(q, 3)
    assert {h.id for h in want_other} <= {"d10", "d11", "d12", "d13"}
    assert want_tiny[0].title == "Mars"
    for _ in range(2):  # second round: all from the cache, still each index's own
        assert tiny.search(q, 3) == want_tiny
        assert other.search(q, 3) == want_other
    assert [len(tiny.search(q, k)) for k in (1, 3, 5)] == [1, 3, 5]
    assert tiny.search(q, 1) == want_tiny[:1]
    # the same index with different search settings is another cache key too
    assert Retriever.load(tiny_index, nprobe=None).index_id == tiny.index_id
    assert Retriever.load(tiny_index, encoder=tiny.encoder).index_id != tiny.index_id


def test_queries_are_searched_normalized(tiny_index):
    r = Retriever.load(tiny_index)
    assert normalize_query("  red\t planet \n") == "red planet"
    assert r.search("  the red\t planet ", 2) == r.search("the red planet", 2)
    assert r.cache_stats()["hits"] == 1
    uncached = Retriever.load(tiny_index, cache_size=0)
    assert uncached.cache_stats() is None
    assert uncached.search(" the  red planet", 2) == r.search("the red planet", 2)


def test_bounded_least_recently_used():
    cache = QueryCache(2)
    cache.store("i", 3, {"a": ["A"], "b": ["B"]})
    assert cache.lookup("i", ["a"], 3) == {"a": ["A"]}  # a is now the most recent
    cache.store("i", 3, {"c": ["C"]})
    assert len(cache) == 2
    assert cache.lookup("i", ["a", "b", "c"], 3) == {"a": ["A"], "c": ["C"]}
    assert cache.lookup("j", ["a"], 3) == {} and cache.lookup("i", ["a"], 4) == {}
    with pytest.raises(ValueError, match="cache capacity must be a positive integer"):
        QueryCache(0)
