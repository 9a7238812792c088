"""The micro-batcher: concurrent requests merged into one `search_batch` call on one thread.

One encoder call and one FAISS call per merged batch keeps the batching win (measured in
docs/retrieval_service.md#micro-batching) when many small clients each send a query or two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from retriever_index.server.config import ServerConfig

SearchBatch = Callable[[list[str], int], list[list[Any]]]


class CallRecorder(Protocol):
    def record_call(self, n_queries: int) -> None: ...


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

    def __init__(self, search_batch: SearchBatch, config: ServerConfig, metrics: CallRecorder):
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
