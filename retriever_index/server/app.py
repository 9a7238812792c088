"""The FastAPI app: routes, request models, validation, metrics and error shapes.

`POST /retrieve` speaks Search-R1's schema so its (and veRL's) search-tool configs work as-is;
`POST /search` is the typed schema `RemoteRetriever` uses. Every search goes through the
micro-batcher; `Guard` (auth, body limits) wraps the whole app.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from retriever_index.base import IndexCorruptError, check_query
from retriever_index.corpus import search_r1_contents
from retriever_index.server.batcher import MicroBatcher
from retriever_index.server.config import ServerConfig
from retriever_index.server.guard import Guard

if TYPE_CHECKING:  # fastapi loads in create_app: `agentic-rag --help` stays fast
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the service refuses: becomes `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class RetrieveRequest(BaseModel):
    """Search-R1's request: `topk` null/absent means the server default. Strict types, as the
    in-process retriever: `"topk": true` or `"3"` is refused, never read as 1 or 3."""

    model_config = ConfigDict(strict=True)

    queries: list[str]
    topk: int | None = None
    return_scores: bool = False


class SearchRequest(BaseModel):
    """Our typed request; `k` absent means the server default."""

    model_config = ConfigDict(strict=True)

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
        if len(q) > config.max_query_chars:
            raise ApiError(
                413,
                f"queries[{i}] has {len(q)} characters; the limit is {config.max_query_chars}: "
                "shorten it (or raise --max-query-chars)",
            )
        if (reason := check_query(q)) is not None:
            raise ApiError(422, f"queries[{i}] {reason}")


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

    app = FastAPI(
        title="agentic-rag retrieval service",
        lifespan=lifespan,
        docs_url="/docs" if config.docs else None,
        redoc_url="/redoc" if config.docs else None,
        openapi_url="/openapi.json" if config.docs else None,
    )
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
        except IndexCorruptError as exc:  # no traceback: the message says what is damaged
            logger.error("search failed: %s", exc)
            raise ApiError(500, f"search failed: {exc}") from exc
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

    return Guard(app, config)


def _document(hit: Any) -> dict[str, str]:
    """Search-R1's corpus row, which its agents split back into title and text."""
    return {"id": hit.id, "contents": search_r1_contents(hit.title, hit.text)}


def _describe(searcher: Any) -> dict[str, Any]:
    from retriever_index.encoder import Encoder

    manifest = asdict(searcher.manifest)
    encoder = getattr(getattr(searcher, "dense", searcher), "encoder", None)  # hybrid: its half
    runtime = (
        {"backend": encoder.backend, "precision": encoder.precision, "device": encoder.device}
        if isinstance(encoder, Encoder)
        else None  # BM25, or Ray Serve's separate encoder deployment
    )
    return {
        "kind": manifest["kind"],
        "passages": manifest["count"],
        "encoder": manifest["encoder"],
        "query_encoder": runtime,
        "manifest": manifest,
    }


def _public(config: ServerConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(config).items() if k != "api_key"}
