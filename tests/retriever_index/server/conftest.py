"""Fixtures for the retrieval service: servers on free loopback ports (thread or subprocess);
the synthetic corpus and its dense/BM25/hybrid indexes are tests/retriever_index/conftest.py's."""

from __future__ import annotations

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
