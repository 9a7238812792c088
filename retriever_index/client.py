"""`RemoteRetriever`: the retrieval service behind the same `search_batch` as `Retriever`.

Rollouts and evaluation switch between in-process and remote retrieval by config only. Unlike
Search-R1's bare `requests.post`, every call has a timeout and bounded retries with exponential
backoff, and the last failure raises one `RetrievalError` that names the URL and the cause.
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

from retriever_index.retriever import Hit

API_KEY_ENV = "RETRIEVER_API_KEY"  # read by both `serve` and the client


class RetrievalError(RuntimeError):
    """The service could not answer: unreachable after every retry, or it refused the request."""


class RemoteRetriever:
    """Client of `agentic-rag index serve`; thread-safe (one pooled `httpx.Client`)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        api_key: str | None = None,
    ):
        """`retries` extra attempts after the first, sleeping `backoff * 2**attempt` s between;
        `api_key` defaults to $RETRIEVER_API_KEY so recipes never hold secrets."""
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise ValueError("RemoteRetriever needs timeout > 0, retries >= 0 and backoff >= 0")
        self.url = url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        api_key = api_key or os.environ.get(API_KEY_ENV)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def search_batch(self, queries: list[str], k: int) -> list[list[Hit]]:
        if not queries:
            return []
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
        """Retry what may heal (connection errors, timeouts, 429, 5xx); a 4xx is final."""
        cause = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._http.request(method, path, json=payload)
            except httpx.TransportError as exc:
                cause = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 400:
                try:
                    return response.json()
                except ValueError:
                    raise RetrievalError(f"{self.url}{path} answered with non-JSON") from None
            cause = f"HTTP {response.status_code}: {_error_text(response)}"
            if response.status_code < 500 and response.status_code != 429:
                raise RetrievalError(f"{self.url}{path} refused the request: {cause}")
        raise RetrievalError(
            f"{self.url}{path} failed after {self.retries + 1} attempts: {cause} "
            "(is `agentic-rag index serve` running and reachable?)"
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteRetriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text[:500]
