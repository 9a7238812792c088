"""`agentic-rag index serve`: load the index in each uvicorn worker and run the app."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from retriever_index.base import API_KEY_ENV
from retriever_index.server.app import create_app
from retriever_index.server.config import ServerConfig

logger = logging.getLogger(__name__)

_APP_ENV = "RETRIEVER_SERVER_SPEC"  # how `serve` hands its settings to uvicorn's app factory


def uvicorn_options(config: ServerConfig) -> dict[str, Any]:
    """How uvicorn must run the app: idle and request-head deadlines (see connection.py)."""
    return {
        "http": "retriever_index.server.connection:HeadDeadlineH11Protocol",
        "timeout_keep_alive": config.idle_timeout,
    }


def app_from_env() -> Any:
    """uvicorn factory: each worker process loads the index named by `serve`. A folder that
    cannot be loaded ends the process with one `error:` line and exit code 2."""
    from retriever_index.retriever import Retriever

    spec = json.loads(os.environ[_APP_ENV])
    config = ServerConfig(**spec["config"])
    try:
        searcher = Retriever.load(spec["index_dir"], cache_size=config.cache_size, **spec["load"])
    except ValueError as e:  # IndexLoadError included
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    threads = config.torch_threads or max(1, (os.cpu_count() or 2) - 1)
    if "torch" in sys.modules:  # a torch encoder or reranker was loaded (BM25 never imports it)
        import torch

        torch.set_num_threads(threads)
    dense = getattr(searcher, "dense", searcher)  # a hybrid index encodes with its dense half
    if getattr(dense, "encoder", None) is not None:
        dense.encoder.set_num_threads(threads)  # ONNX Runtime/OpenVINO fix theirs per session
    return create_app(searcher, config)


def serve(
    index_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    config: ServerConfig | None = None,
    load_kwargs: dict[str, Any] | None = None,
    log_level: str = "info",
) -> None:
    """Serve `index_dir` until interrupted. Each of `workers` processes loads its own copy of
    the index and encoder; one worker with micro-batching is usually fastest on few cores."""
    import uvicorn

    config = config or ServerConfig()
    if config.api_key is None:
        config.api_key = os.environ.get(API_KEY_ENV) or None
    if host not in ("127.0.0.1", "localhost", "::1") and not config.api_key:
        logger.warning("serving on %s without an API key: anyone who can reach it can query", host)
    os.environ[_APP_ENV] = json.dumps(
        {"index_dir": str(index_dir), "config": asdict(config), "load": load_kwargs or {}}
    )
    uvicorn.run(
        "retriever_index.server.main:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        **uvicorn_options(config),
    )
