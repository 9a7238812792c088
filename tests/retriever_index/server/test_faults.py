"""Faults between client and server: killed, restarted and frozen servers (real subprocesses)."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest

from retriever_index.client import RemoteRetriever, RetrievalError
from retriever_index.retriever import Retriever


@pytest.fixture(scope="module")
def bm25(bm25_index):
    return Retriever.load(bm25_index)


def test_killed_server_client_retries_then_reports(bm25_index, bm25, queries, svc):
    with svc.ServerProcess(bm25_index) as server:
        client = RemoteRetriever(server.url, retries=2, backoff=0.2, timeout=5)
        assert client.search(queries[0], 3) == bm25.search(queries[0], 3)
        server.kill()
        started = time.monotonic()
        with pytest.raises(RetrievalError) as info:
            client.search(queries[0], 3)
        elapsed = time.monotonic() - started
    message = str(info.value)
    assert server.url in message
    assert "failed after 3 attempts" in message
    assert "ConnectError" in message
    assert elapsed >= 0.2 + 0.4  # it backed off between the attempts


def test_clients_recover_after_restart(bm25_index, bm25, queries, svc):
    """8 clients hammer the server while it is killed and restarted on the same port: during
    the outage they see RetrievalError (nothing else, no hang); afterwards all succeed again."""
    want = {q: bm25.search(q, 3) for q in queries}
    server = svc.ServerProcess(bm25_index).start()
    stop = threading.Event()
    log: list[list[tuple[float, str]]] = [[] for _ in range(8)]

    def client(c: int) -> None:
        remote = RemoteRetriever(server.url, retries=1, backoff=0.05, timeout=10)
        i = c
        while not stop.is_set():
            q = queries[i % len(queries)]
            i += 1
            try:
                ok = remote.search(q, 3) == want[q]
                log[c].append((time.monotonic(), "ok" if ok else "WRONG"))
            except RetrievalError:
                log[c].append((time.monotonic(), "down"))
                time.sleep(0.05)
            except Exception as exc:
                log[c].append((time.monotonic(), f"{type(exc).__name__}: {exc}"))

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(8)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        server.kill()
        time.sleep(1.0)
        server.start()
        restarted = time.monotonic()
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.kill()
    outcomes = {what for entries in log for _, what in entries}
    assert outcomes <= {"ok", "down"}, outcomes
    assert any(what == "down" for entries in log for _, what in entries)
    for c, entries in enumerate(log):
        assert any(what == "ok" and at > restarted for at, what in entries), f"client {c} stuck"


def test_retries_ride_out_a_restart(bm25_index, bm25, queries, svc):
    """A call made while the server is down succeeds if it comes back within the backoff."""
    server = svc.ServerProcess(bm25_index)
    client = RemoteRetriever(server.url, retries=8, backoff=0.25, timeout=10)
    restarter = threading.Timer(0.5, server.start)
    restarter.start()
    try:
        assert client.search(queries[1], 4) == bm25.search(queries[1], 4)
    finally:
        restarter.join()
        server.kill()


def test_frozen_server_times_out_then_recovers(bm25_index, bm25, queries, svc):
    with svc.ServerProcess(bm25_index) as server:
        client = RemoteRetriever(server.url, retries=1, backoff=0.1, timeout=0.5)
        assert client.search(queries[2], 2) == bm25.search(queries[2], 2)
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(RetrievalError, match="failed after 2 attempts: ReadTimeout"):
                client.search(queries[2], 2)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        assert client.search(queries[2], 2) == bm25.search(queries[2], 2)


def test_default_client_rides_out_a_restart(bm25_index, bm25, queries, svc, down_s: float = 4.0):
    """Default settings, server killed and back `down_s` s later (plus its start-up time): the
    call in flight waits it out. The old default (3 retries, 0.5 s backoff: 3.5 s) did not."""
    server = svc.ServerProcess(bm25_index).start()
    client = RemoteRetriever(server.url)
    assert client.search(queries[3], 3) == bm25.search(queries[3], 3)
    server.kill()
    restarter = threading.Timer(down_s, server.start)
    restarter.start()
    started = time.monotonic()
    try:
        assert client.search(queries[3], 3) == bm25.search(queries[3], 3)
        assert time.monotonic() - started > down_s
    finally:
        restarter.join()
        server.kill()


def test_the_retry_budget_is_time_based(svc):
    """Nothing listens: attempts go on, further and further apart, until the budget is spent."""
    client = RemoteRetriever(f"http://127.0.0.1:{svc.free_port()}", retry_budget=1.5, backoff=0.1)
    started = time.monotonic()
    with pytest.raises(RetrievalError, match=r"failed after (\d+) attempts: ConnectError") as info:
        client.search("anything", 3)
    elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 1.5 + 2  # no attempt starts after the budget
    assert int(re.search(r"after (\d+) attempts", str(info.value)).group(1)) >= 4
    assert info.value.status is None
