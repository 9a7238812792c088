"""Hostile input against the service: text that cannot be encoded, loose types, chunked and
slow bodies, idle and half-sent connections; the service answers 4xx (or closes) and keeps
serving. Real uvicorn over loopback; raw sockets where httpx would be too polite."""

from __future__ import annotations

import json
import select
import socket
import time

import httpx
import pytest

from retriever_index.base import IndexCorruptError, QueryError
from retriever_index.client import RemoteRetriever, RetrievalError
from retriever_index.retriever import Retriever
from retriever_index.server import ServerConfig, create_app

LIMITS = ServerConfig(max_query_chars=200)


@pytest.fixture(scope="module")
def bm25(bm25_index):
    return Retriever.load(bm25_index)


@pytest.fixture(scope="module")
def server(bm25, svc):
    with svc.ThreadServer(create_app(bm25, LIMITS), svc.free_port()) as srv:
        yield srv


def _post_raw(url: str, path: str, raw: str) -> httpx.Response:
    """Send JSON text as written: `\\ud800` stays an escape that decodes to a lone surrogate."""
    headers = {"content-type": "application/json"}
    return httpx.post(f"{url}{path}", content=raw.encode(), headers=headers)


@pytest.mark.parametrize("path", ["/search", "/retrieve"])
@pytest.mark.parametrize("query", ["\\ud800", "ok \\udfff then", "\\ud83d"])
def test_lone_surrogates_get_422_not_500(server, queries, path, query):
    raw = '{"queries": ["fine query", "' + query + '"]}'
    response = _post_raw(server.url, path, raw)
    assert response.status_code == 422, response.text
    assert "queries[1] is not valid Unicode text" in response.json()["error"]
    assert httpx.post(f"{server.url}/search", json={"queries": queries[:1]}).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/retrieve", {"queries": ["a b"], "topk": True}, "topk"),
        ("/retrieve", {"queries": ["a b"], "topk": "3"}, "topk"),
        ("/retrieve", {"queries": ["a b"], "topk": 2.0}, "topk"),
        ("/retrieve", {"queries": ["a b"], "return_scores": "yes"}, "return_scores"),
        ("/search", {"queries": ["a b"], "k": True}, "k"),
        ("/search", {"queries": ["a b"], "k": "3"}, "k"),
    ],
)
def test_types_are_strict_as_in_process(server, path, body, field):
    """The in-process retriever refuses k=True and k="3"; the server must not read them as 1
    and 3."""
    response = httpx.post(f"{server.url}{path}", json=body)
    assert response.status_code == 422, response.text
    assert f"invalid request: {field}: Input should be a valid" in response.json()["error"]


def test_docs_pages_are_off_unless_asked_for(server, bm25, svc):
    for page in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{server.url}{page}").status_code == 404
    with svc.ThreadServer(create_app(bm25, ServerConfig(docs=True)), svc.free_port()) as srv:
        for page in ("/docs", "/redoc", "/openapi.json"):
            assert httpx.get(f"{srv.url}{page}").status_code == 200


def test_client_refuses_unencodable_queries_before_sending(server, bm25, queries):
    with RemoteRetriever(server.url) as client:
        before = client.metrics()["requests"]
        with pytest.raises(RetrievalError, match=r"query 1 is not valid Unicode text"):
            client.search_batch([queries[0], "bad \ud800"], 3)
        assert client.metrics()["requests"] == before  # nothing was sent


def test_client_errors_return_isolates_each_bad_query(server, bm25, queries):
    """Bad text is refused locally; a query the server refuses (too long for its limit) fails
    alone after the batch is retried query by query; the good ones get their hits."""
    too_long = "x " * 150  # 300 characters > max_query_chars=200
    batch = [queries[0], "\udfff", queries[1], too_long, queries[2]]
    with RemoteRetriever(server.url) as client:
        found = client.search_batch(batch, 3, errors="return")
    assert isinstance(found[1], RetrievalError) and "query 1 is not valid Unicode" in str(found[1])
    assert isinstance(found[3], RetrievalError) and found[3].status == 413
    assert "has 300 characters; the limit is 200" in str(found[3])
    assert [found[0], found[2], found[4]] == bm25.search_batch(
        [queries[0], queries[1], queries[2]], 3
    )


def test_a_damaged_store_is_a_500_with_its_cause_and_never_retried(bm25, queries, svc):
    class Damaged:
        manifest = bm25.manifest
        calls = 0

        def search_batch(self, qs, k):
            Damaged.calls += 1
            raise IndexCorruptError("docs.sqlite lacks rows [7] that the index returned")

    with svc.ThreadServer(create_app(Damaged(), ServerConfig()), svc.free_port()) as srv:
        started = time.monotonic()
        with pytest.raises(RetrievalError, match=r"HTTP 500: search failed: docs\.sqlite lacks"):
            RemoteRetriever(srv.url).search(queries[0], 3)
        assert Damaged.calls == 1 and time.monotonic() - started < 5


def test_in_process_query_errors_are_value_errors(bm25):
    with pytest.raises(QueryError):
        bm25.search("\ud800", 1)


# --- raw sockets against a real `index serve` process ------------------------------------------

IDLE_S, BODY_S = 1.0, 2.0


@pytest.fixture(scope="module")
def served(bm25_index, svc):
    flags = ["--idle-timeout", str(IDLE_S), "--body-timeout", str(BODY_S)]
    with svc.ServerProcess(bm25_index, None, *flags) as server:
        yield server


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")).split(
            b":"
        )[1]
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ")[1]), json.loads(rest[:length])


def _closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed the connection; fails if it stays open longer."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        pytest.fail(f"connection still open after {seconds} s")
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_a_chunked_body_is_cut_off_at_the_8_mib_limit(served):
    """No Content-Length: the server counts bytes as they arrive and answers 413 once past
    8 MiB, without waiting for (or holding) the rest of a 64 MiB upload."""
    limit = ServerConfig().max_body_bytes
    sock = _connect(served)
    sock.sendall(
        b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b'{"queries": ["' + b"a" * (256 << 10)
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    sent = 0
    while sent < 64 << 20:
        if select.select([sock], [], [], 0)[0]:
            break  # the server has answered
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(piece)
    status, body = _read_response(sock)
    assert status == 413, body
    assert f"exceeds {limit}" in body["error"]
    assert sent < limit + (8 << 20)  # stopped soon after the limit, not at the end
    _closed_within(sock, 10)
    assert httpx.get(f"{served.url}/health").status_code == 200


def test_a_body_that_stops_arriving_gets_408_after_the_body_timeout(served):
    sock = _connect(served)
    sock.sendall(
        b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"queries": ["a'
    )
    started = time.monotonic()
    status, body = _read_response(sock)
    waited = time.monotonic() - started
    assert status == 408, body
    assert "not received within 2 s" in body["error"]
    assert BODY_S - 0.5 < waited < BODY_S + 5
    _closed_within(sock, 10)


def test_idle_and_half_sent_connections_are_closed(served):
    idle = _connect(served)
    assert _closed_within(idle, IDLE_S + 5) >= IDLE_S - 0.5

    slow = _connect(served)  # a header line every 0.3 s: data keeps coming, the head never ends
    slow.sendall(b"POST /search HTTP/1.1\r\n")
    started = time.monotonic()
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        for i in range(100):
            slow.sendall(b"X-Pad-%d: y\r\n" % i)
            time.sleep(0.3)
    assert time.monotonic() - started < IDLE_S + 5
    assert httpx.get(f"{served.url}/health").status_code == 200
