"""`index serve --ray`: 2 shards x 2 replicas on a local Ray instance, started by the CLI in a
subprocess, behind the same HTTP API as the single-process server. Skipped, with the reason,
where the ray extra is missing or Ray cannot start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import pytest

from retriever_index.client import RemoteRetriever
from retriever_index.retriever import Hit, Retriever

pytest.importorskip(
    "ray.serve", reason="Ray Serve tests need the ray extra: pip install -e '.[ray]'"
)
psutil = pytest.importorskip("psutil", reason="finding replica processes needs psutil")

LIMITS = [
    "--max-topk",
    "20",
    "--max-queries",
    "8",
    "--max-query-chars",
    "200",
    "--max-body-bytes",
    "4096",
]  # fmt: skip, as in test_api.py
STARTUP_S = 300  # a cold Ray instance plus five replicas, on two busy cores


class RayServer:
    """The CLI's `index serve --ray` in a subprocess; stopped with SIGTERM (Ray shuts down)."""

    def __init__(self, index_dir, port: int, *flags: str):
        self.url = f"http://127.0.0.1:{port}"
        self.cmd = [sys.executable, "-m", "agentic_rag.cli", "index", "serve", str(index_dir),
                    "--port", str(port), "--log-level", "warning", "--ray", *flags]  # fmt: skip
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        log = self.tail()
        self.stop()
        if "Ray could not start" in log:
            pytest.skip(f"Ray cannot start on this machine: {log.strip().splitlines()[-1]}")
        raise RuntimeError(f"Ray service not ready (exit {self.proc.poll()}); log:\n{log}")

    def tail(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def replicas(self, deployment: str) -> set[int]:
        """PIDs of the live replica processes of one deployment."""
        tag = f"ServeReplica:retrieval:{deployment}"
        pids = set()
        for p in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                if p.status() != psutil.STATUS_ZOMBIE and tag in " ".join(p.cmdline()):
                    pids.add(p.pid)
            except psutil.NoSuchProcess:
                pass
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def ray_service(dense_index, svc):
    server = RayServer(
        dense_index, svc.free_port(), "--shards", "2", "--replicas", "2", "--shard-cpus", "0.1",
        "--encoder-cpus", "0.5", "--torch-threads", "1", *LIMITS,
    )  # fmt: skip
    server.wait_ready()
    yield server
    children = psutil.Process(server.proc.pid).children(recursive=True)
    server.stop()
    _, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, f"Ray processes left behind: {[p.pid for p in alive]}"


@pytest.fixture(scope="module")
def local(dense_index):
    return Retriever.load(dense_index, cache_size=0)


def test_retrieve_matches_the_in_process_retriever(ray_service, local, queries, svc):
    assert len(ray_service.replicas("shard-0")) == len(ray_service.replicas("shard-1")) == 2
    for start in range(0, 32, 8):
        batch = queries[start : start + 8]
        body = {"queries": batch, "topk": 5, "return_scores": True}
        rows = httpx.post(f"{ray_service.url}/retrieve", json=body, timeout=60).json()["result"]
        want = local.search_batch(batch, 5)
        for row, hits in zip(rows, want, strict=True):
            got = [Hit(d["document"]["id"], "", "", d["score"]) for d in row]
            assert svc.same_hits(got, hits)
            assert row[0]["document"]["contents"] == f'"{hits[0].title}"\n{hits[0].text}'
    client = RemoteRetriever(ray_service.url, timeout=60)
    got = client.search_batch(queries[32:40], 3)
    want = local.search_batch(queries[32:40], 3)
    assert all(svc.same_hits(g, w) for g, w in zip(got, want, strict=True))
    assert client.search_batch(queries[32:40], 3) == got  # now from the ingress cache
    health = client.health()
    assert (health["kind"], health["passages"], health["status"]) == ("dense", 300, "ok")
    stats = client.cache_stats()
    assert stats["hits"] >= 8 and stats["capacity"] == 10_000


BAD = [
    ("/retrieve", {"topk": 3}, 422, "queries: Field required"),
    ("/search", {"queries": []}, 422, "'queries' is empty"),
    ("/search", {"queries": ["ok", "  "]}, 422, "queries[1] is empty"),
    ("/retrieve", {"queries": ["a"], "topk": 21}, 422, "use 1..20"),
    ("/search", {"queries": ["q"] * 9}, 413, "9 queries in one request"),
    ("/search", {"queries": ["x" * 201]}, 413, "queries[0] has 201 characters"),
    ("/search", {"queries": ["y" * 5000]}, 413, "exceeds 4096"),
]


def test_bad_input_gets_the_same_4xx(ray_service, queries):
    for path, body, status, message in BAD:
        response = httpx.post(f"{ray_service.url}{path}", json=body, timeout=30)
        assert response.status_code == status, (path, body, response.text)
        assert message in response.json()["error"]
    raw = httpx.post(f"{ray_service.url}/retrieve", content=b"not json",
                     headers={"content-type": "application/json"}, timeout=30)  # fmt: skip
    assert raw.status_code == 400
    ok = httpx.post(f"{ray_service.url}/search", json={"queries": queries[:1], "k": 1}, timeout=30)
    assert ok.status_code == 200
    # the body-size refusal happens before the app, as in the single-process server
    assert httpx.get(f"{ray_service.url}/metrics").json()["client_errors"] == len(BAD)


def test_killing_a_shard_replica_loses_no_request(ray_service, local, queries, svc):
    """8 clients send 480 distinct queries (no cache hits) while one replica of shard-0 is
    killed with SIGKILL: every request succeeds with the right hits, and Ray starts a new
    replica in its place."""
    per_client = 60
    mine = [[f"{queries[(c * 7 + i) % len(queries)]} ({c}.{i})" for i in range(per_client)]
            for c in range(8)]  # fmt: skip
    want = dict(zip(sum(mine, []), local.search_batch(sum(mine, []), 3), strict=True))
    before = ray_service.replicas("shard-0")
    victim = min(before)
    log: list[str] = []

    def client(c: int) -> None:
        remote = RemoteRetriever(ray_service.url, timeout=60, retries=8, backoff=0.25)
        for q in mine[c]:
            try:
                log.append("ok" if svc.same_hits(remote.search(q, 3), want[q]) else "WRONG")
            except Exception as exc:  # every failure counts
                log.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(log) < 80 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(victim, signal.SIGKILL)
    killed_after = len(log)
    for t in threads:
        t.join(timeout=300)
    failures = [entry for entry in log if entry != "ok"]
    print(f"\n{len(log)} requests, {killed_after} before the kill")
    assert failures == [], failures[:5]
    assert len(log) == 8 * per_client and killed_after < len(log) - 100

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = ray_service.replicas("shard-0")
        if len(now) == 2 and victim not in now:
            break
        time.sleep(1)
    assert len(now) == 2 and victim not in now, (before, now)
