"""Fixtures for the retrieval service: a few-hundred-passage corpus, its dense/BM25/hybrid
indexes (built once per session), and servers on free loopback ports (thread or subprocess)."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

KINDS = ["river", "castle", "lake", "festival", "bridge", "library", "orchestra", "observatory"]
REGIONS = ["Norland", "Vesper Coast", "the Ashen Hills", "Lower Marrow", "Quillfield", "Tarn Vale"]
FEATURES = [
    "copper roof",
    "winter market",
    "glass archive",
    "salt springs",
    "clock tower",
    "rare orchids",
    "stone lions",
    "night concerts",
    "red ferries",
    "whale bones",
]
SYLLABLES = ["ka", "lo", "mir", "ten", "vos", "ra", "quel", "dun", "bri", "sa", "tor", "ve"]


def synthetic_records(n: int = 300, seed: int = 0) -> list[dict]:
    """Short fictional passages with distinct titles: cheap to encode, easy to query."""
    rng = random.Random(seed)
    records, titles = [], set()
    while len(records) < n:
        name = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
        kind = rng.choice(KINDS)
        title = f"{name} {kind.capitalize()}"
        if title in titles:
            continue
        titles.add(title)
        text = (
            f"The {title} is a {kind} in {rng.choice(REGIONS)}, first recorded in "
            f"{rng.randint(1200, 1990)}. It is known for its {rng.choice(FEATURES)}."
        )
        records.append({"id": f"p{len(records)}", "title": title, "text": text})
    return records


def synthetic_queries(records: list[dict], n: int = 64, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    picked = rng.sample(records, n)
    return [
        f"Which place is the {r['title']}, known for its {r['text'].split('for its ')[1]}"
        for r in picked
    ]


@pytest.fixture(scope="session")
def records() -> list[dict]:
    return synthetic_records()


@pytest.fixture(scope="session")
def queries(records: list[dict]) -> list[str]:
    return synthetic_queries(records)


@pytest.fixture(scope="session")
def corpus_path(tmp_path_factory: pytest.TempPathFactory, records: list[dict]) -> Path:
    path = tmp_path_factory.mktemp("service_corpus") / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="session")
def hybrid_index(tmp_path_factory: pytest.TempPathFactory, corpus_path: Path) -> Path:
    """Dense (Flat, MiniLM) + BM25 over the synthetic corpus: one encoding pass serves all."""
    from retriever_index.build import BuildConfig
    from retriever_index.hybrid import build_hybrid

    out = tmp_path_factory.mktemp("hybrid") / "index"
    build_hybrid(BuildConfig(corpus=str(corpus_path), out=str(out)))
    return out


@pytest.fixture(scope="session")
def bm25_index(tmp_path_factory: pytest.TempPathFactory, corpus_path: Path) -> Path:
    from retriever_index.bm25 import build_bm25

    out = tmp_path_factory.mktemp("bm25") / "index"
    build_bm25(corpus_path, out)
    return out


@pytest.fixture(scope="session")
def dense_index(tmp_path_factory: pytest.TempPathFactory, corpus_path: Path) -> Path:
    from retriever_index.build import BuildConfig, build_index

    out = tmp_path_factory.mktemp("dense") / "index"
    build_index(BuildConfig(corpus=str(corpus_path), out=str(out)))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen | None = None, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code in (200, 401):  # 401: keyed
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"server at {url} not ready after {timeout} s")


class ThreadServer:
    """uvicorn in a daemon thread of this process, run as `serve` runs it (same protocol and
    timeouts): fast start, for API-level tests."""

    def __init__(self, app, port: int):
        import uvicorn

        from retriever_index.server import ServerConfig
        from retriever_index.server.main import uvicorn_options

        options = uvicorn_options(ServerConfig())
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise TimeoutError("uvicorn thread did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class ServerProcess:
    """`agentic-rag index serve` in a subprocess: can be killed and restarted on its port."""

    def __init__(self, index_dir: Path, port: int | None = None, *flags: str):
        self.index_dir = index_dir
        self.port = port or free_port()
        self.flags = flags
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        cmd = [sys.executable, "-m", "agentic_rag.cli", "index", "serve", str(self.index_dir)]
        cmd += ["--port", str(self.port), "--log-level", "warning", *self.flags]
        log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = Path(log.name)
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(self.url, self.proc)
        except (TimeoutError, RuntimeError) as e:
            self.kill()
            log.seek(0)
            raise RuntimeError(f"{e}; server log:\n{log.read()[-3000:]}") from None
        return self

    def log_text(self) -> str:
        """What the server has printed so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


def same_hits(got, want, tol: float = 1e-4) -> bool:
    """Equal ranked hits; positions whose reference score ties a neighbour (within tol) may
    swap ids, as batch composition can move scores by float rounding."""
    if len(got) != len(want):
        return False
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if abs(g.score - w.score) > tol:
            return False
        if g.id != w.id:
            tied = any(
                0 <= j < len(want) and abs(want[j].score - w.score) <= tol for j in (i - 1, i + 1)
            )
            if not tied:
                return False
    return True


@pytest.fixture(scope="session")
def svc() -> SimpleNamespace:
    """The helpers above (pytest's importlib mode keeps conftest out of test imports)."""
    return SimpleNamespace(
        ThreadServer=ThreadServer,
        ServerProcess=ServerProcess,
        free_port=free_port,
        wait_ready=wait_ready,
        same_hits=same_hits,
    )
