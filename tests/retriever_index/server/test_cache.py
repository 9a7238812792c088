"""The server's query cache: hit rate in /metrics and through RemoteRetriever.cache_stats()."""

from __future__ import annotations

from retriever_index.client import RemoteRetriever
from retriever_index.retriever import Retriever
from retriever_index.server import ServerConfig, create_app


def test_metrics_report_the_cache_hit_rate(dense_index, queries, svc):
    searcher = Retriever.load(dense_index, cache_size=100)
    with svc.ThreadServer(create_app(searcher, ServerConfig()), svc.free_port()) as srv:
        client = RemoteRetriever(srv.url)
        first = client.search_batch(queries[:4], 3)
        again = client.search_batch([f"  {q} " for q in queries[:4]], 3)  # normalized: all hits
        client.search_batch(queries[:2], 5)  # another k: misses
        stats = client.cache_stats()
        metrics = client.metrics()
    assert again == first
    assert stats == {"hits": 4, "misses": 6, "hit_rate": 0.4, "entries": 6, "capacity": 100}
    assert metrics["queries"] == 10 and metrics["search_calls"] == 3


def test_cache_off_reports_none(dense_index, queries, svc):
    searcher = Retriever.load(dense_index, cache_size=0)
    with svc.ThreadServer(create_app(searcher, ServerConfig()), svc.free_port()) as srv:
        client = RemoteRetriever(srv.url)
        client.search(queries[0], 2)
        assert client.cache_stats() is None
