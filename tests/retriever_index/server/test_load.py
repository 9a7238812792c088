"""Load test on loopback: 32 concurrent clients, 5,024 requests, zero errors, every answer equal
to the in-process search_batch. The server is a real `agentic-rag index serve` subprocess.

Clients come in groups of 4 walking the same query sequence, as the G samples of one GRPO
prompt do, so merged batches repeat queries (each is encoded once per batch) and the test
stays short on 2 CPU cores."""

from __future__ import annotations

import threading
import time

import httpx

from retriever_index.client import RemoteRetriever
from retriever_index.retriever import Retriever

CLIENTS = 32
GROUP = 4  # clients sharing a query sequence
REQUESTS_PER_CLIENT = 157  # 32 x 157 = 5,024
K = 5
DEADLINE_S = 600  # the test stops itself even if the server stalls


def test_32_clients_5000_requests_all_correct(dense_index, queries, svc):
    want = Retriever.load(dense_index).search_batch(queries, K)
    errors: list[str] = []
    wrong: list[tuple[int, int]] = []
    done = [0] * CLIENTS
    stop = threading.Event()

    def client(c: int) -> None:
        with RemoteRetriever(url, timeout=60, retries=0) as remote:
            for j in range(REQUESTS_PER_CLIENT):
                if stop.is_set():
                    return
                qi = ((c // GROUP) * 7 + j) % len(queries)  # groups walk out of step
                try:
                    got = remote.search(queries[qi], K)
                except Exception as exc:  # every failure is counted, none may happen
                    errors.append(f"client {c} request {j}: {exc}")
                    continue
                if not svc.same_hits(got, want[qi]):
                    wrong.append((c, qi))
                done[c] += 1

    with svc.ServerProcess(dense_index) as server:
        url = server.url
        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(0.0, DEADLINE_S - (time.monotonic() - started)))
        stop.set()
        elapsed = time.monotonic() - started
        metrics = httpx.get(f"{url}/metrics").json()

    assert not any(t.is_alive() for t in threads), f"clients still running after {DEADLINE_S} s"
    assert errors == []
    assert wrong == []
    assert sum(done) == CLIENTS * REQUESTS_PER_CLIENT >= 5000
    assert metrics["requests"] == sum(done)
    assert metrics["server_errors"] == metrics["client_errors"] == 0
    # Micro-batching merged some of them; how many depends on the machine's speed (the merge
    # ratio is a figure of bench/server.py, not of a test).
    assert metrics["search_calls"] < metrics["requests"]
    print(
        f"\n{sum(done)} requests in {elapsed:.1f} s ({sum(done) / elapsed:.0f}/s), "
        f"{metrics['search_calls']} search calls, mean batch {metrics['batch_size']['mean']}, "
        f"latency ms {metrics['latency_ms']}"
    )
