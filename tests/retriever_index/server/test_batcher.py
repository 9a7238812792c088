"""Micro-batching: concurrent requests share one search_batch call and get exactly their own
results; with batching off every request is its own call."""

from __future__ import annotations

import concurrent.futures as cf
import time

import pytest

from retriever_index.client import RemoteRetriever
from retriever_index.retriever import Retriever
from retriever_index.server import ServerConfig, create_app


@pytest.fixture(scope="module")
def dense(dense_index):
    return Retriever.load(dense_index)


class _Busy:
    """The retriever with every search_batch call taking 0.2 s longer, so that requests fired
    together queue behind the first call on any machine (a fast, cached search on a fast
    machine otherwise finishes before the next request arrives)."""

    def __init__(self, retriever: Retriever):
        self._retriever = retriever

    def __getattr__(self, name: str):
        return getattr(self._retriever, name)

    def search_batch(self, queries: list[str], k: int):
        time.sleep(0.2)
        return self._retriever.search_batch(queries, k)


def _fire(url: str, batches: list[list[str]], k: int) -> list[list]:
    """All batches at once, one thread and one connection each."""

    def one(qs: list[str]):
        with RemoteRetriever(url, timeout=60) as client:
            return client.search_batch(qs, k)

    with cf.ThreadPoolExecutor(len(batches)) as pool:
        return list(pool.map(one, batches))


@pytest.mark.parametrize("micro_batching", [True, False], ids=["batched", "unbatched"])
def test_concurrent_requests_get_their_own_results(dense, queries, svc, micro_batching):
    batches = [queries[i : i + 1 + i % 3] for i in range(0, 48, 3)]  # 16 requests, 1-3 queries
    want = [dense.search_batch(qs, 4) for qs in batches]
    config = ServerConfig(micro_batching=micro_batching, max_wait_ms=20)
    app = create_app(_Busy(dense), config)
    with svc.ThreadServer(app, svc.free_port()) as srv:
        got = _fire(srv.url, batches, 4)
        metrics = RemoteRetriever(srv.url).metrics()
    for g_rows, w_rows in zip(got, want, strict=True):
        assert len(g_rows) == len(w_rows)
        assert all(svc.same_hits(g, w) for g, w in zip(g_rows, w_rows, strict=True))
    assert metrics["requests"] == len(batches)
    assert metrics["queries"] == sum(len(b) for b in batches)
    if micro_batching:
        assert metrics["search_calls"] < len(batches)  # merged
        assert metrics["batch_size"]["mean"] > 1.5
    else:
        assert metrics["search_calls"] == len(batches)


def test_repeated_queries_are_searched_once_per_batch(dense, queries, svc):
    """A GRPO group often sends the same query G times: the merged call encodes it once."""
    batches = [[queries[0]]] * 12 + [[queries[1], queries[0]]]
    with svc.ThreadServer(
        create_app(_Busy(dense), ServerConfig(max_wait_ms=50)), svc.free_port()
    ) as srv:
        got = _fire(srv.url, batches, 3)
        metrics = RemoteRetriever(srv.url).metrics()
    want = dense.search_batch(queries[:2], 3)
    assert all(svc.same_hits(rows[0], want[0]) for rows in got[:12])
    assert svc.same_hits(got[12][0], want[1]) and svc.same_hits(got[12][1], want[0])
    assert metrics["queries"] == 14
    searched = metrics["batch_size"]["mean"] * metrics["search_calls"]
    assert searched <= 2 * metrics["search_calls"] < 14  # at most 2 distinct per merged call


def test_different_k_in_one_window(dense, queries, svc):
    """Requests with different k merge per k: each still gets exactly k hits."""
    ks = [1, 3, 5, 3, 1, 5]
    with svc.ThreadServer(
        create_app(_Busy(dense), ServerConfig(max_wait_ms=50)), svc.free_port()
    ) as srv:

        def one(i: int):
            return RemoteRetriever(srv.url).search(queries[i], ks[i])

        with cf.ThreadPoolExecutor(len(ks)) as pool:
            got = list(pool.map(one, range(len(ks))))
    for i, hits in enumerate(got):
        assert svc.same_hits(hits, dense.search(queries[i], ks[i]))
