"""`RemoteRetriever`: the retrieval service behind the same `search_batch` as `Retriever`.

Rollouts and evaluation switch between in-process and remote retrieval by config only. Unlike
Search-R1's bare `requests.post`, every call has a timeout, and failures that may heal are
retried for a time budget (default 30 s: long enough for a restarted server to come back) with
exponential backoff and jitter; the last failure raises one `RetrievalError` that names the URL
and the cause.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import httpx

from retriever_index.base import API_KEY_ENV, Errors, Hit, RetrievalError, refused_queries

RETRY_STATUSES = (429, 502, 503, 504)  # overloaded or restarting; a 500 is a bug or bad index


class RemoteRetriever:
    """Client of `agentic-rag index serve`; thread-safe (one pooled `httpx.Client`)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        retry_budget: float = 30.0,
        retries: int | None = None,
        backoff: float = 0.25,
        max_backoff: float = 2.0,
        api_key: str | None = None,
    ):
        """Connection errors, timeouts and HTTP 429/502/503/504 are retried until
        `retry_budget` seconds have passed since the first attempt (no attempt starts later),
        sleeping `min(backoff * 2**i, max_backoff)` s times a random factor in [1, 1.5) before
        retry i, so that many clients do not retry in lockstep. `retries`, if set, also caps
        the number of retries. `api_key` defaults to $RETRIEVER_API_KEY so recipes never hold
        secrets."""
        if retry_budget < 0 or backoff < 0 or max_backoff < 0 or timeout <= 0:
            raise ValueError(
                "RemoteRetriever needs timeout > 0 and retry_budget, backoff, max_backoff >= 0"
            )
        if retries is not None and retries < 0:
            raise ValueError(f"retries must be >= 0 or None, got {retries}")
        self.url = url.rstrip("/")
        self.retry_budget = retry_budget
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        api_key = api_key or os.environ.get(API_KEY_ENV)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def search_batch(
        self, queries: list[str], k: int, *, errors: Errors = "raise"
    ) -> list[list[Hit]] | list[list[Hit] | Exception]:
        """Hits per query, as `Retriever.search_batch`. Queries that cannot be searched (not
        text, empty, lone surrogates) are refused here, before any request.

        errors="raise": the first problem raises `RetrievalError`. errors="return": each
        query's place holds its hits or its `RetrievalError`; if the server refuses the batch,
        each query is sent alone so only the refused ones fail (an unreachable server fails
        them all, after the retry budget).
        """
        results: list = refused_queries(queries, errors, lambda q, why: RetrievalError(why))
        todo = [i for i, r in enumerate(results) if r is None]
        found = self._search([queries[i] for i in todo], k, errors) if todo else []
        for i, hits in zip(todo, found, strict=True):
            results[i] = hits
        return results

    def _search(self, queries: list[str], k: int, errors: Errors) -> list:
        try:
            return self._post_search(queries, k)
        except RetrievalError as exc:
            if errors == "raise":
                raise
            if exc.status is None or len(queries) == 1:  # unreachable: all share the outage
                return [exc] * len(queries)
        return [self._search([q], k, errors)[0] for q in queries]

    def _post_search(self, queries: list[str], k: int) -> list[list[Hit]]:
        body = self._request("POST", "/search", {"queries": list(queries), "k": k})
        try:
            hits = [
                [
                    Hit(id=i, title=t, text=x, score=s)
                    for i, t, x, s in zip(
                        r["ids"], r["titles"], r["texts"], r["scores"], strict=True
                    )
                ]
                for r in body["results"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise RetrievalError(
                f"{self.url}/search answered with an unexpected body ({exc!r}): "
                "is this URL an `agentic-rag index serve` server?"
            ) from None
        if len(hits) != len(queries):
            raise RetrievalError(f"{self.url}/search returned {len(hits)} rows for {len(queries)}")
        return hits

    def search(self, query: str, k: int) -> list[Hit]:
        return self.search_batch([query], k)[0]

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def metrics(self) -> dict[str, Any]:
        return self._request("GET", "/metrics")

    def cache_stats(self) -> dict[str, Any] | None:
        """The server's query-cache counters (hits, misses, hit_rate, ...), as Retriever's."""
        return self.metrics().get("cache")

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        """Retry what may heal within the budget; any other refusal is final at once."""
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                response = self._http.request(method, path, json=payload)
            except httpx.TransportError as exc:
                cause, status = f"{type(exc).__name__}: {exc}", None
            except (TypeError, ValueError) as exc:  # the payload cannot be encoded as JSON
                raise RetrievalError(f"cannot send {path} request: {exc}") from None
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise RetrievalError(f"{self.url}{path} answered with non-JSON") from None
                status = response.status_code
                cause = f"HTTP {status}: {_error_text(response)}"
                if status not in RETRY_STATUSES:
                    raise RetrievalError(f"{self.url}{path} refused the request: {cause}", status)
            delay = min(self.backoff * 2 ** (attempts - 1), self.max_backoff)
            delay *= random.uniform(1.0, 1.5)
            elapsed = time.monotonic() - started
            out_of_retries = self.retries is not None and attempts > self.retries
            if out_of_retries or elapsed + delay > self.retry_budget:
                raise RetrievalError(
                    f"{self.url}{path} failed after {attempts} attempts: {cause} (retried for "
                    f"{elapsed:.1f} s; is `agentic-rag index serve` running and reachable?)"
                )
            time.sleep(delay)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteRetriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except (ValueError, AttributeError):
        return response.text[:500]
