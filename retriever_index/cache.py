"""A bounded query-result cache in front of search: a GRPO group's samples and later steps repeat
queries, and a repeated query costs one dictionary lookup instead of an encoder call.

Keys are (index id, normalized query, k), so one cache can sit in front of several indexes (or
search settings) and never answers one with another's hits. Values are tuples of frozen `Hit`s;
every lookup returns new lists, so callers may edit what they get.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

_SPACE = re.compile(r"\s+")


def normalize_query(query: str) -> str:
    """NFC, surrounding whitespace stripped, inner runs of whitespace as one space.

    Search runs on this form too, so a cached answer is exactly what searching would return.
    Case is kept: cased encoders tell "Apple" from "apple".
    """
    return _SPACE.sub(" ", unicodedata.normalize("NFC", query)).strip()


def index_id(manifest: Any, **settings: Any) -> str:
    """A short id for "this index searched with these settings": equal ids give equal hits."""
    from dataclasses import asdict

    blob = json.dumps([asdict(manifest), settings], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class QueryCache:
    """LRU over at most `capacity` (index id, query, k) results; thread-safe.

    Memory is about capacity x k x (passage size): 10,000 entries of k=5 hits of ~1 KB
    passages is ~50 MB.
    """

    def __init__(self, capacity: int):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"cache capacity must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str, int], tuple] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, index: str, queries: Sequence[str], k: int) -> dict[str, list]:
        """Cached results among `queries` (already normalized), as fresh lists; counts each
        query once as a hit or a miss."""
        found: dict[str, list] = {}
        with self._lock:
            for q in queries:
                value = self._entries.get((index, q, k))
                if value is None:
                    self.misses += 1
                    continue
                self._entries.move_to_end((index, q, k))
                self.hits += 1
                found[q] = list(value)
        return found

    def store(self, index: str, k: int, results: dict[str, Sequence]) -> None:
        with self._lock:
            for q, hits in results.items():
                self._entries[(index, q, k)] = tuple(hits)
                self._entries.move_to_end((index, q, k))
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def stats(self) -> dict[str, Any]:
        """What /metrics and training logs report: lookups answered from the cache."""
        with self._lock:
            lookups = self.hits + self.misses
            return {
                "hits": self.hits,
                "misses": self.misses,
                "hit_rate": round(self.hits / lookups, 4) if lookups else None,
                "entries": len(self._entries),
                "capacity": self.capacity,
            }
