"""Retrieval as an HTTP service: one loaded index shared by many training/eval processes.

Concurrent requests are merged by a micro-batcher into one `search_batch` call (one encoder
call, one FAISS call) that runs on a single worker thread, so the event loop keeps accepting
requests while the index works and the 27-35x batching win survives many small clients.
`POST /retrieve` speaks Search-R1's schema so its (and veRL's) search-tool configs work as-is.
"""

from __future__ import annotations

import asyncio
import bisect
import hmac
import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from retriever_index.client import API_KEY_ENV

if TYPE_CHECKING:  # fastapi loads in create_app: `agentic-rag --help` stays fast
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

logger = logging.getLogger(__name__)

_APP_ENV = "RETRIEVER_SERVER_SPEC"  # how `serve` hands its settings to uvicorn's app factory

SearchBatch = Callable[[list[str], int], list[list[Any]]]


@dataclass
class ServerConfig:
    """Limits and batching knobs of the retrieval service (every field is a CLI flag)."""

    default_topk: int = field(
        default=3, metadata={"help": "topk when a request omits it (Search-R1's default)"}
    )
    max_topk: int = field(default=100, metadata={"help": "largest topk/k a request may ask"})
    max_queries: int = field(
        default=1024, metadata={"help": "most queries one request may carry (else 413)"}
    )
    max_query_chars: int = field(
        default=2048, metadata={"help": "longest query string accepted, in characters (else 413)"}
    )
    max_body_bytes: int = field(
        default=8 << 20,
        metadata={"help": "requests whose Content-Length exceeds this are refused unread (413)"},
    )
    micro_batching: bool = field(
        default=True,
        metadata={"help": "merge concurrent requests into one search call; off = one call each"},
    )
    max_batch: int = field(
        default=256,
        metadata={"help": "stop gathering requests into a merged call at this many queries"},
    )
    max_wait_ms: float = field(
        default=2.0,
        metadata={
            "help": "how long the first request of a batch waits for company, in ms (only "
            "while clients are concurrent: after a batch that merged several requests)"
        },
    )
    torch_threads: int = field(
        default=0,
        metadata={
            "help": "torch intra-op threads for the query encoder; 0 = CPU cores - 1, leaving "
            "one core to the event loop (2 threads on 2 busy cores: 19x slower than 1)"
        },
    )
    api_key: str | None = field(
        default=None,
        metadata={"help": f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV})"},
    )
    cache_size: int = field(
        default=10_000,
        metadata={"help": "query-result cache entries (index, query, k); 0 turns it off"},
    )


class ApiError(Exception):
    """A request the service refuses: becomes `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class RetrieveRequest(BaseModel):
    """Search-R1's request: `topk` null/absent means the server default."""

    queries: list[str]
    topk: int | None = None
    return_scores: bool = False


class SearchRequest(BaseModel):
    """Our typed request; `k` absent means the server default."""

    queries: list[str]
    k: int | None = None


class Metrics:
    """Counters plus a rolling latency window; all updates happen on the event loop thread."""

    _BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    def __init__(self, window: int = 10_000):
        self.started = time.time()
        self.requests = 0
        self.queries = 0
        self.client_errors = 0
        self.server_errors = 0
        self.search_calls = 0
        self.batched_queries = 0
        self.batch_hist = [0] * len(self._BUCKETS)
        self.latencies: deque[float] = deque(maxlen=window)

    def record_call(self, n_queries: int) -> None:
        self.search_calls += 1
        self.batched_queries += n_queries
        self.batch_hist[bisect.bisect_right(self._BUCKETS, n_queries) - 1] += 1

    def snapshot(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1e3, 3) if lat else None

        labels = [
            f"{lo}-{hi - 1}" if hi - lo > 1 else str(lo)
            for lo, hi in zip(self._BUCKETS, [*self._BUCKETS[1:], None], strict=True)
            if hi is not None
        ] + [f"{self._BUCKETS[-1]}+"]
        calls = self.search_calls
        return {
            "uptime_s": round(time.time() - self.started, 1),
            "requests": self.requests,
            "queries": self.queries,
            "client_errors": self.client_errors,
            "server_errors": self.server_errors,
            "search_calls": calls,
            "batch_size": {
                "mean": round(self.batched_queries / calls, 3) if calls else None,
                "histogram": {k: v for k, v in zip(labels, self.batch_hist, strict=True) if v},
            },
            "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "window": len(lat)},
        }


@dataclass
class _Pending:
    queries: list[str]
    k: int
    future: asyncio.Future


class MicroBatcher:
    """Merges requests that arrive while the worker is busy, or within `max_wait_ms` of the
    first one when the previous batch had company.

    One worker thread runs every search: the index and encoder never see concurrent calls,
    and while one batch computes the next one gathers in the queue.
    """

    def __init__(self, search_batch: SearchBatch, config: ServerConfig, metrics: Metrics):
        self._search_batch = search_batch
        self._config = config
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="retrieval")
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._waiting = 0  # queries sitting in the queue
        self._company = False  # did the last batch merge requests? (clients are concurrent)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._config.micro_batching:
            self._task = asyncio.get_running_loop().create_task(self._gather_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def search(self, queries: list[str], k: int) -> list[list[Any]]:
        if not self._config.micro_batching:
            return await self._run(queries, k)
        future = asyncio.get_running_loop().create_future()
        self._waiting += len(queries)
        self._queue.put_nowait(_Pending(queries, k, future))
        return await future

    async def _run(self, queries: list[str], k: int) -> list[list[Any]]:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, self._search_batch, queries, k)
        self._metrics.record_call(len(queries))
        return result

    async def _gather_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # A lone sequential client gains nothing from waiting; concurrent ones do.
            if self._company and self._waiting < self._config.max_batch:
                await asyncio.sleep(self._config.max_wait_ms / 1e3)
            n = len(batch[0].queries)
            while n < self._config.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
                n += len(batch[-1].queries)
            self._waiting -= n
            self._company = len(batch) > 1
            by_k: dict[int, list[_Pending]] = {}
            for item in batch:
                by_k.setdefault(item.k, []).append(item)
            for k, items in by_k.items():
                await self._dispatch(items, k)

    async def _dispatch(self, items: list[_Pending], k: int) -> None:
        """One search for all `items`, each distinct query once (a GRPO group often repeats
        one). If it fails, retry each request alone so a bad query fails only its own."""
        unique = list(dict.fromkeys(q for it in items for q in it.queries))
        try:
            found = dict(zip(unique, await self._run(unique, k), strict=True))
        except Exception as exc:
            if len(items) == 1:
                _settle(items[0].future, exc=exc)
                return
            for item in items:
                try:
                    _settle(item.future, await self._run(item.queries, k))
                except Exception as single_exc:
                    _settle(item.future, exc=single_exc)
            return
        for item in items:
            _settle(item.future, [found[q] for q in item.queries])


def _settle(future: asyncio.Future, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():  # the client went away and its request was cancelled
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _validate(queries: list[str], k: int, config: ServerConfig, k_name: str) -> None:
    if not queries:
        raise ApiError(422, "'queries' is empty: send a list with at least one query string")
    if len(queries) > config.max_queries:
        raise ApiError(
            413,
            f"{len(queries)} queries in one request; the limit is {config.max_queries}: "
            "split the batch (or raise --max-queries)",
        )
    if not 1 <= k <= config.max_topk:
        raise ApiError(422, f"{k_name}={k} is out of range: use 1..{config.max_topk}")
    for i, q in enumerate(queries):
        if not q.strip():
            raise ApiError(422, f"queries[{i}] is empty or whitespace: send a non-empty query")
        if len(q) > config.max_query_chars:
            raise ApiError(
                413,
                f"queries[{i}] has {len(q)} characters; the limit is {config.max_query_chars}: "
                "shorten it (or raise --max-query-chars)",
            )


_SHAPE = '{"queries": ["...", ...], "topk" or "k": int}'


def _validation_error(exc: RequestValidationError) -> ApiError:
    """FastAPI's validation errors -> one readable message; bad JSON is 400, bad shape 422."""
    errors = exc.errors()
    for e in errors:
        if e.get("type") == "json_invalid":
            return ApiError(400, f"malformed JSON body: {e.get('ctx', {}).get('error', '?')}")
        if tuple(e.get("loc", ())) == ("body",):
            if e.get("type") == "missing":
                return ApiError(400, f"empty request body: send a JSON object {_SHAPE}")
            return ApiError(
                422,
                f"the body must be a JSON object {_SHAPE} sent as application/json",
            )
    parts = []
    for e in errors:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return ApiError(422, "invalid request: " + "; ".join(parts) + f" (expected {_SHAPE})")


class _Guard:
    """ASGI wrapper: bearer-token check and body-size cap before any route or body parsing."""

    def __init__(self, app: Any, config: ServerConfig):
        self.app = app
        self.config = config
        self.expected = f"Bearer {config.api_key}".encode() if config.api_key else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.expected is not None and not hmac.compare_digest(
            headers.get(b"authorization", b""), self.expected
        ):
            return await _send_error(send, 401, "missing or wrong 'Authorization: Bearer <key>'")
        length = headers.get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.config.max_body_bytes:
            return await _send_error(
                send,
                413,
                f"request body of {int(length)} bytes exceeds {self.config.max_body_bytes}: "
                "split the batch",
            )
        return await self.app(scope, receive, send)


async def _send_error(send: Callable, status: int, message: str) -> None:
    body = json.dumps({"error": message, "status": status}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    searcher: Any,
    config: ServerConfig | None = None,
    search: Callable[[list[str], int], Awaitable[list[list[Any]]]] | None = None,
    metrics: Metrics | None = None,
) -> Any:
    """The ASGI app over any object with `search_batch(queries, k) -> list[list[Hit]]`, searched
    through the micro-batcher; or over `search`, an async function that batches on its own (the
    Ray Serve ingress, which records its calls in the `metrics` it passes).
    `searcher.manifest` feeds /health and `searcher.cache_stats()` /metrics."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    config = config or ServerConfig()
    metrics = metrics or Metrics()
    batcher = None if search else MicroBatcher(searcher.search_batch, config, metrics)
    search_fn = search or batcher.search

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if batcher is not None:
            batcher.start()
        yield
        if batcher is not None:
            await batcher.stop()

    app = FastAPI(title="agentic-rag retrieval service", lifespan=lifespan)
    app.state.metrics = metrics

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        if exc.status >= 500:
            metrics.server_errors += 1
        else:
            metrics.client_errors += 1
        return JSONResponse({"error": exc.message, "status": exc.status}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return await api_error(request, _validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own refusals (404, 405, undecodable body) in our error shape."""
        return await api_error(request, ApiError(exc.status_code, str(exc.detail)))

    async def run(queries: list[str], k: int, k_name: str) -> list[list[Any]]:
        _validate(queries, k, config, k_name)
        started = time.perf_counter()
        metrics.requests += 1
        metrics.queries += len(queries)
        try:
            hits = await search_fn(queries, k)
        except ValueError as exc:  # the searcher rejected this input
            raise ApiError(422, str(exc)) from exc
        except Exception as exc:
            logger.exception("search failed")
            raise ApiError(500, f"search failed: {type(exc).__name__}: {exc}") from exc
        metrics.latencies.append(time.perf_counter() - started)
        return hits

    @app.post("/retrieve")
    async def retrieve(body: RetrieveRequest) -> dict[str, Any]:
        k = config.default_topk if body.topk is None else body.topk
        hits = await run(body.queries, k, "topk")
        docs = [
            [
                (
                    {"document": _document(h), "score": h.score}
                    if body.return_scores
                    else _document(h)
                )
                for h in row
            ]
            for row in hits
        ]
        return {"result": docs}

    @app.post("/search")
    async def search(body: SearchRequest) -> dict[str, Any]:
        k = config.default_topk if body.k is None else body.k
        hits = await run(body.queries, k, "k")
        return {
            "results": [
                {
                    "ids": [h.id for h in row],
                    "titles": [h.title for h in row],
                    "texts": [h.text for h in row],
                    "scores": [h.score for h in row],
                }
                for row in hits
            ]
        }

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", **_describe(searcher), "limits": _public(config)}

    @app.get("/metrics")
    async def get_metrics() -> dict[str, Any]:
        cache = getattr(searcher, "cache_stats", None)
        return {**metrics.snapshot(), "cache": cache() if cache else None}

    return _Guard(app, config)


def _document(hit: Any) -> dict[str, str]:
    """Search-R1's corpus row: `contents` is `"Title"\\ntext`, which its agents split back."""
    return {"id": hit.id, "contents": f'"{hit.title}"\n{hit.text}'}


def _describe(searcher: Any) -> dict[str, Any]:
    manifest = asdict(searcher.manifest)
    return {
        "kind": manifest["kind"],
        "passages": manifest["count"],
        "encoder": manifest["encoder"],
        "manifest": manifest,
    }


def _public(config: ServerConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(config).items() if k != "api_key"}


def app_from_env() -> Any:
    """uvicorn factory: each worker process loads the index named by `serve`."""
    from retriever_index.retriever import Retriever

    spec = json.loads(os.environ[_APP_ENV])
    config = ServerConfig(**spec["config"])
    searcher = Retriever.load(spec["index_dir"], cache_size=config.cache_size, **spec["load"])
    if "torch" in sys.modules:  # a dense encoder was loaded (BM25 never imports torch)
        import torch

        torch.set_num_threads(config.torch_threads or max(1, (os.cpu_count() or 2) - 1))
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
        "retriever_index.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )
