"""What every part of retriever_index (and its users) shares: `Hit`, the searcher interface and
the errors. Imports nothing else of the package, so anything may import it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Hit:
    """One retrieved passage; `score` is the index kind's own (cosine, BM25, RRF, cross-encoder)."""

    id: str
    title: str
    text: str
    score: float


class Searcher(Protocol):
    """What rollouts, evaluation and the server call: `Retriever` and `RemoteRetriever` both are."""

    def search_batch(self, queries: list[str], k: int) -> list[list[Hit]]: ...


class IndexLoadError(ValueError):
    """An index folder cannot be loaded; the message says which file is wrong and how to fix it."""


class RetrievalError(RuntimeError):
    """The service could not answer: unreachable after every retry, or it refused the request."""


class BuildError(RuntimeError):
    """A build cannot go on; the message names the cause and what to run instead."""
