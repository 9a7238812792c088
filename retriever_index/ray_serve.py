"""`agentic-rag index serve DIR --ray`: the retrieval service on Ray Serve, sharded and replicated.

One Serve application, three kinds of deployment:
- `QueryEncoder`: the index's sentence-transformers model; `@serve.batch` merges the queries of
  concurrent requests into one encoder call (Ray Serve's dynamic batching).
- `IndexShard` (one deployment per shard, `--replicas` each): memory-maps its shard folder
  (`index shard`) and searches batches of query vectors; replicas on one node share the pages.
- `Ingress`: the single-process server's FastAPI app (same routes, validation, limits, auth,
  error shapes and /metrics), whose search is: query cache, encode, fan out to every shard,
  merge the top-k. A replica that dies mid-request is retried on another; Ray replaces it.
Clients (`RemoteRetriever`, Search-R1's) cannot tell it from `index serve` without --ray.
Needs the `ray` extra (`pip install 'agentic-rag[ray]'`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve

from retriever_index.base import API_KEY_ENV
from retriever_index.cache import QueryCache, index_id, normalize_query
from retriever_index.manifest import Manifest
from retriever_index.ray_config import RayConfig
from retriever_index.server import Metrics, ServerConfig, create_app
from retriever_index.shard import ensure_shards, merge_hits, open_shard

logger = logging.getLogger(__name__)

APP_NAME = "retrieval"
_ATTEMPTS = 5  # calls to a deployment before a request fails: outlasts one replica's death
_SHARD_BATCH = 32  # requests merged into one shard search


class RayStartError(RuntimeError):
    """ray.init failed: no cluster at --address, or Ray cannot run on this machine."""


def _queries_in(batch: list[list[str]]) -> int:
    return sum(len(b) for b in batch)


@serve.deployment(name="encoder", max_ongoing_requests=1024)
class QueryEncoder:
    def __init__(self, manifest: dict, load: dict, spec: dict):
        from retriever_index.dense import query_encoder

        self.encoder = query_encoder(
            Manifest(**manifest),
            load.get("encoder"),
            load.get("device"),
            backend=load.get("encoder_backend"),
            precision=load.get("encoder_precision"),
        )
        if spec["torch_threads"]:
            self.encoder.set_num_threads(spec["torch_threads"])
        self.encode.set_max_batch_size(spec["max_batch"])
        self.encode.set_batch_wait_timeout_s(spec["max_wait_ms"] / 1e3)

    @serve.batch(max_batch_size=256, batch_wait_timeout_s=0.002, batch_size_fn=_queries_in)
    async def encode(self, batches: list[list[str]]) -> list[np.ndarray]:
        flat = [q for b in batches for q in b]
        vectors = await asyncio.to_thread(self.encoder.encode_queries, flat)
        bounds = np.cumsum([0, *map(len, batches)])
        return [vectors[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def pid(self) -> int:
        return os.getpid()


@serve.deployment(max_ongoing_requests=256)
class IndexShard:
    def __init__(self, folder: str, nprobe: int | None):
        self.searcher = open_shard(folder, nprobe=nprobe)

    @serve.batch(max_batch_size=_SHARD_BATCH, batch_wait_timeout_s=0.001)
    async def search(self, vectors: list[np.ndarray], ks: list[int]) -> list[list[list[Any]]]:
        hits = await asyncio.to_thread(
            self.searcher.search_vectors, np.concatenate(vectors), max(ks)
        )
        out, start = [], 0
        for v, k in zip(vectors, ks, strict=True):
            out.append([row[:k] for row in hits[start : start + len(v)]])
            start += len(v)
        return out

    def pid(self) -> int:
        return os.getpid()


@serve.deployment(name="ingress", max_ongoing_requests=2048)
@serve.ingress()
class Ingress:
    def __init__(self, encoder, shards: list, manifest: dict, config: dict, nprobe: Any):
        self.encoder, self.shards = encoder, shards
        self.manifest = Manifest(**manifest)
        self.config = ServerConfig(**config)
        self.cache = QueryCache(self.config.cache_size) if self.config.cache_size else None
        self.index_id = index_id(self.manifest, shards=len(shards), nprobe=nprobe)
        self.metrics = Metrics()

    def __serve_build_asgi_app__(self):
        return create_app(self, self.config, search=self.search, metrics=self.metrics)

    def cache_stats(self) -> dict | None:
        return self.cache.stats() if self.cache is not None else None

    async def search(self, queries: list[str], k: int) -> list[list[Any]]:
        normalized = [normalize_query(q) for q in queries]
        unique = list(dict.fromkeys(normalized))
        found = self.cache.lookup(self.index_id, unique, k) if self.cache is not None else {}
        missing = [q for q in unique if q not in found]
        if missing:
            step = self.config.max_batch
            parts = await asyncio.gather(
                *(
                    _call(self.encoder.encode, missing[s : s + step])
                    for s in range(0, len(missing), step)
                )
            )
            vectors = np.concatenate(parts)
            per_shard = await asyncio.gather(*(_call(s.search, vectors, k) for s in self.shards))
            fresh = dict(zip(missing, merge_hits(per_shard, k), strict=True))
            self.metrics.record_call(len(missing))
            if self.cache is not None:
                self.cache.store(self.index_id, k, fresh)
            found.update(fresh)
        return [list(found[q]) for q in normalized]


async def _call(method, *args):
    """One deployment call, tried again on another replica while replicas die or restart."""
    from ray.exceptions import RayActorError

    for attempt in range(_ATTEMPTS):
        try:
            return await method.remote(*args)
        except RayActorError:
            if attempt == _ATTEMPTS - 1:
                raise
            logger.warning("replica died during a request; retrying on another")
            await asyncio.sleep(0.2 * 2**attempt)


def build_app(
    index_dir: str | Path,
    shard_dirs: list[Path],
    config: ServerConfig,
    ray_config: RayConfig,
    load: dict[str, Any],
):
    """The Serve application: encoder, one deployment per shard, ingress."""
    if load.get("ef_search") is not None:
        raise ValueError("--ef-search does not apply to --ray (shards are Flat or compressed)")
    manifest = asdict(Manifest.read(index_dir))
    spec = {
        "max_batch": config.max_batch,
        "max_wait_ms": config.max_wait_ms,
        "torch_threads": config.torch_threads,
    }
    encoder = QueryEncoder.options(
        num_replicas=ray_config.encoder_replicas,
        ray_actor_options={
            "num_cpus": ray_config.encoder_cpus,
            "num_gpus": ray_config.encoder_gpus,
        },
    ).bind(manifest, load, spec)
    shards = [
        IndexShard.options(
            name=f"shard-{i}",
            num_replicas=ray_config.replicas,
            ray_actor_options={"num_cpus": ray_config.shard_cpus},
        ).bind(str(d), load.get("nprobe"))
        for i, d in enumerate(shard_dirs)
    ]
    ingress = Ingress.options(ray_actor_options={"num_cpus": 0})
    return ingress.bind(encoder, shards, manifest, asdict(config), load.get("nprobe"))


def serve_ray(
    index_dir: str | Path,
    *,
    host: str,
    port: int,
    config: ServerConfig,
    ray_config: RayConfig,
    load: dict[str, Any],
    log_level: str = "info",
) -> None:
    """Split the index if needed, start (or join) Ray, deploy, and serve until SIGINT/SIGTERM;
    then delete the application and, if this process started Ray, stop it."""
    import ray
    from ray import serve

    if config.api_key is None:
        config.api_key = os.environ.get(API_KEY_ENV) or None
    if host not in ("127.0.0.1", "localhost", "::1") and not config.api_key:
        logger.warning("serving on %s without an API key: anyone who can reach it can query", host)
    shard_dirs = ensure_shards(index_dir, ray_config.shards)
    try:
        if ray_config.address is None:  # "local": never attach to someone else's instance
            cpus = max(os.cpu_count() or 1, math.ceil(ray_config.cpus_needed()))
            ray.init(address="local", num_cpus=cpus, include_dashboard=False,
                     logging_level=log_level.upper())  # fmt: skip
        else:
            ray.init(address=ray_config.address, logging_level=log_level.upper())
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
        where = ray_config.address or "a local instance"
        raise RayStartError(f"Ray could not start {where}: {type(e).__name__}: {e}") from e
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve.start(http_options={"host": host, "port": port},
                    logging_config={"log_level": log_level.upper()})  # fmt: skip
        app = build_app(index_dir, shard_dirs, config, ray_config, load)
        started = time.monotonic()
        serve.run(app, name=APP_NAME, route_prefix="/")
        print(
            f"serving {index_dir} on http://{host}:{port} with Ray Serve: {len(shard_dirs)} "
            f"shard(s) x {ray_config.replicas} replica(s), {ray_config.encoder_replicas} "
            f"encoder replica(s) (up in {time.monotonic() - started:.1f} s)",
            flush=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if ray_config.address is None:
            serve.shutdown()
        else:
            serve.delete(APP_NAME)
        ray.shutdown()
