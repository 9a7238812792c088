"""What every part of retriever_index (and its users) shares: `Hit`, the searcher interface and
the errors. Imports nothing else of the package, so anything may import it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

API_KEY_ENV = "RETRIEVER_API_KEY"
"""Environment variable holding the retrieval server's bearer token: read by `serve` and the
client."""

Errors = Literal["raise", "return"]
"""`search_batch(..., errors=)`: "raise" fails the call on the first bad query; "return" puts
the exception in that query's place and still searches every other one."""


@dataclass(frozen=True)
class Hit:
    """One retrieved passage; `score` is the index kind's own (cosine, BM25, RRF, cross-encoder)."""

    id: str
    title: str
    text: str
    score: float


class Searcher(Protocol):
    """What rollouts, evaluation and the server call: `Retriever` and `RemoteRetriever` both are.

    With errors="return" the result holds, per query, its hits or the exception that query got
    (a bad query, or a failed search), so one bad query never takes the others down.
    """

    def search_batch(
        self, queries: list[str], k: int, *, errors: Errors = "raise"
    ) -> list[list[Hit]] | list[list[Hit] | Exception]: ...


class IndexLoadError(ValueError):
    """An index folder cannot be loaded; the message says which file is wrong and how to fix it."""


class IndexCorruptError(RuntimeError):
    """A loaded index turned out damaged while searching (e.g. rows missing from docs.sqlite)."""


class QueryError(ValueError):
    """One query cannot be searched; the message names the query and what is wrong with it."""


class RetrievalError(RuntimeError):
    """The service could not answer: unreachable after every retry, or it refused the request.

    `status` is the HTTP status of a final refusal (None when the service was unreachable or
    kept failing for the whole retry budget)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class BuildError(RuntimeError):
    """A build cannot go on; the message names the cause and what to run instead."""


def refused_queries(
    queries: list[str], errors: str, error: Callable[[object, str], Exception]
) -> list[Exception | None]:
    """Per query, the exception `error(query, message)` for one that cannot be searched, else
    None; with errors="raise" the first such exception is raised. Every searcher's batch check."""
    if isinstance(queries, str):
        raise TypeError("search_batch takes a list of query strings; use search() for one")
    if errors not in ("raise", "return"):
        raise ValueError(f'errors must be "raise" or "return", got {errors!r}')
    refused: list[Exception | None] = [None] * len(queries)
    for i, q in enumerate(queries):
        if (reason := check_query(q)) is not None:
            refused[i] = error(q, f"query {i} {reason}")
            if errors == "raise":
                raise refused[i]
    return refused


def check_query(query: object, max_chars: int | None = None) -> str | None:
    """Why `query` cannot be searched, or None when it can: the checks every searcher needs.

    The reason completes a sentence whose subject names the query (`f"query {i} {reason}"`).
    Text must encode as UTF-8: a lone surrogate ("\\ud800", which JSON escapes can carry)
    breaks tokenizers and HTTP bodies, so it is refused here rather than deep in a batch.
    """
    if not isinstance(query, str):
        return f"is {type(query).__name__}, expected str"
    if not query.strip():
        return "is empty; every query needs some text to search for"
    if max_chars is not None and len(query) > max_chars:
        return f"has {len(query)} characters; the limit is {max_chars}: shorten it"
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as e:
        return (
            f"is not valid Unicode text: character {e.start} is a lone surrogate "
            f"({query[e.start]!r}), which has no UTF-8 encoding; remove or replace it"
        )
    return None
