"""Endpoints, schemas, limits and auth of the retrieval service (uvicorn in a thread)."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import httpx
import pytest

from retriever_index.client import RemoteRetriever, RetrievalError
from retriever_index.retriever import Retriever
from retriever_index.server import ServerConfig, create_app

LIMITS = ServerConfig(max_topk=20, max_queries=8, max_query_chars=200, max_body_bytes=4096)


@pytest.fixture(scope="module")
def bm25(bm25_index):
    return Retriever.load(bm25_index)


@pytest.fixture(scope="module")
def server(bm25, svc):
    with svc.ThreadServer(create_app(bm25, LIMITS), svc.free_port()) as srv:
        yield srv


def test_retrieve_is_search_r1_compatible(server, bm25, queries):
    """Search-R1's agent reads result[i][j]["document"]["contents"] and splits "Title"\\ntext."""
    want = bm25.search_batch(queries[:3], 4)
    body = {"queries": queries[:3], "topk": 4, "return_scores": True}
    result = httpx.post(f"{server.url}/retrieve", json=body).json()["result"]
    assert len(result) == 3
    for row, hits in zip(result, want, strict=True):
        assert [d["document"]["id"] for d in row] == [h.id for h in hits]
        assert [d["score"] for d in row] == pytest.approx([h.score for h in hits])
        for d, h in zip(row, hits, strict=True):
            title_line, text = d["document"]["contents"].split("\n", 1)
            assert (title_line.strip('"'), text) == (h.title, h.text)
    plain = httpx.post(f"{server.url}/retrieve", json={"queries": queries[:1]}).json()["result"]
    assert len(plain[0]) == 3  # Search-R1's default topk
    assert set(plain[0][0]) == {"id", "contents"}  # return_scores false: bare documents


def test_search_typed_schema_and_client(server, bm25, queries):
    body = httpx.post(f"{server.url}/search", json={"queries": queries[:2], "k": 5}).json()
    want = bm25.search_batch(queries[:2], 5)
    for row, hits in zip(body["results"], want, strict=True):
        assert row["ids"] == [h.id for h in hits]
        assert row["titles"] == [h.title for h in hits]
        assert row["texts"] == [h.text for h in hits]
        assert row["scores"] == pytest.approx([h.score for h in hits])
    with RemoteRetriever(server.url) as client:
        assert client.search_batch(queries[:2], 5) == want
        assert client.search(queries[0], 5) == want[0]
        assert client.search_batch([], 5) == []


def test_health_and_metrics(server, bm25, queries):
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok"
    assert health["kind"] == "bm25"
    assert health["passages"] == len(bm25) == 300
    assert health["manifest"]["corpus_sha256"] == bm25.manifest.corpus_sha256
    assert "api_key" not in health["limits"]
    before = httpx.get(f"{server.url}/metrics").json()
    httpx.post(f"{server.url}/search", json={"queries": queries[:3], "k": 2})
    httpx.post(f"{server.url}/search", json={"queries": [], "k": 2})
    after = httpx.get(f"{server.url}/metrics").json()
    assert after["requests"] == before["requests"] + 1
    assert after["queries"] == before["queries"] + 3
    assert after["client_errors"] == before["client_errors"] + 1
    assert after["search_calls"] == before["search_calls"] + 1
    assert after["latency_ms"]["p50"] > 0
    assert after["latency_ms"]["p50"] <= after["latency_ms"]["p90"] <= after["latency_ms"]["p99"]
    assert sum(after["batch_size"]["histogram"].values()) == after["search_calls"]


BAD_REQUESTS = [
    ("missing queries", "/retrieve", {"topk": 3}, 422, "queries: Field required"),
    ("queries not a list", "/search", {"queries": "abc"}, 422, "queries: Input should be"),
    ("non-string query", "/search", {"queries": ["ok", 7]}, 422, "queries.1: Input should be"),
    ("empty list", "/retrieve", {"queries": []}, 422, "'queries' is empty"),
    ("empty string", "/search", {"queries": ["ok", "  "]}, 422, "queries[1] is empty"),
    ("topk zero", "/retrieve", {"queries": ["a b"], "topk": 0}, 422, "topk=0 is out of range"),
    ("topk too big", "/retrieve", {"queries": ["a b"], "topk": 21}, 422, "use 1..20"),
    ("k negative", "/search", {"queries": ["a b"], "k": -1}, 422, "k=-1 is out of range"),
    ("topk not int", "/retrieve", {"queries": ["a"], "topk": "x"}, 422, "topk: Input should be"),
    ("query too long", "/search", {"queries": ["x" * 201]}, 413, "queries[0] has 201 characters"),
    ("too many queries", "/search", {"queries": ["q"] * 9}, 413, "9 queries in one request"),
    ("body too large", "/search", {"queries": ["y" * 5000]}, 413, "exceeds 4096"),
]


@pytest.mark.parametrize(
    "path,body,status,message", [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_input_gets_4xx_and_server_keeps_serving(server, queries, path, body, status, message):
    response = httpx.post(f"{server.url}{path}", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    ok = httpx.post(f"{server.url}/search", json={"queries": queries[:1], "k": 1})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "raw", [b'{"queries": ["a"', b"not json", b"", b'{"queries": ["\xff"]}'], ids=str
)
def test_malformed_json_gets_400(server, raw):
    response = httpx.post(
        f"{server.url}/retrieve", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_truncated_json_names_the_problem(server):
    response = httpx.post(
        f"{server.url}/search",
        content=b'{"queries": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON body")


def test_client_reports_4xx_without_retrying(server):
    client = RemoteRetriever(server.url, retries=5, backoff=10.0)  # retrying would take minutes
    with pytest.raises(RetrievalError, match=r"/search refused the request: HTTP 422.*k=0"):
        client.search_batch(["anything"], 0)


def test_bearer_token_auth(bm25, queries, svc):
    app = create_app(bm25, ServerConfig(api_key="s3cret"))
    with svc.ThreadServer(app, svc.free_port()) as srv:
        assert httpx.get(f"{srv.url}/health").status_code == 401
        wrong = httpx.post(
            f"{srv.url}/search",
            json={"queries": queries[:1]},
            headers={"Authorization": "Bearer nope"},
        )
        assert wrong.status_code == 401
        assert "Bearer" in wrong.json()["error"]
        with RemoteRetriever(srv.url, api_key="s3cret") as client:
            assert client.search(queries[0], 2) == bm25.search(queries[0], 2)
        with (
            RemoteRetriever(srv.url, api_key="bad", retries=0) as client,
            pytest.raises(RetrievalError, match="HTTP 401"),
        ):
            client.search(queries[0], 2)


def test_searcher_value_error_becomes_422_only_for_its_request(bm25, queries, svc):
    """A query the index itself rejects fails its own request, not the batch it was merged in."""
    calls: list[list[str]] = []
    entered, release = threading.Event(), threading.Event()

    class Picky:
        manifest = bm25.manifest

        def search_batch(self, qs: list[str], k: int):
            calls.append(list(qs))
            if "block" in qs:  # holds the worker, so the burst below queues behind it
                entered.set()
                release.wait(30)
            if "poison" in qs:
                raise ValueError("this index cannot search 'poison'")
            return bm25.search_batch(qs, k)

    bodies = [{"queries": [q], "k": 3} for q in queries[:6]] + [{"queries": ["poison"], "k": 3}]
    server = svc.ThreadServer(create_app(Picky(), ServerConfig()), svc.free_port())
    with server as srv, cf.ThreadPoolExecutor(len(bodies) + 1) as pool:

        def post(body: dict) -> httpx.Response:
            return httpx.post(f"{srv.url}/search", json=body, timeout=60)

        blocker = pool.submit(post, {"queries": ["block"], "k": 3})
        try:
            assert entered.wait(30)
            burst = [pool.submit(post, b) for b in bodies]
            deadline = time.monotonic() + 30  # every request counted is already queued
            while httpx.get(f"{srv.url}/metrics").json()["requests"] < 1 + len(bodies):
                assert time.monotonic() < deadline, "the burst never reached the server"
                time.sleep(0.02)
        finally:
            release.set()  # a failed wait must not leave the server's worker blocked
        responses = [f.result() for f in burst]
        assert blocker.result().status_code == 200
    assert [r.status_code for r in responses] == [200] * 6 + [422]
    assert "cannot search 'poison'" in responses[-1].json()["error"]
    for r, q in zip(responses[:6], queries, strict=False):
        assert r.json()["results"][0]["ids"] == [h.id for h in bm25.search(q, 3)]
    merged = [c for c in calls if "poison" in c]
    assert len(merged) == 2 and len(merged[0]) == 7 and merged[1] == ["poison"]  # then isolated


def test_client_rejects_a_foreign_server(svc):
    """A URL that answers 200 with some other JSON is a config mistake, named as such."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/search")
    def other_service() -> dict:
        return {"hello": "world"}

    with (
        svc.ThreadServer(app, svc.free_port()) as srv,
        pytest.raises(RetrievalError, match="unexpected body.*agentic-rag index serve"),
    ):
        RemoteRetriever(srv.url).search("q", 1)
