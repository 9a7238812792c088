"""Turn records -> what the page shows, with retrieved passages marked gold.

Both record kinds that carry turns (Prediction.turns and training samples) share this schema:
one dict per generation turn, {"model": str, "queries": [str], "hits": [list of {"id", "title",
"score"} | str error, one per query], "observation": str}. Files may be old, partial or edited
by hand, so every field is coerced rather than trusted: a malformed turn shows as text, it never
fails the page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

GoldTest = Callable[[str, str], bool]
"""(passage id, title) -> is it one of the question's gold supporting passages?"""


def gold_test(supporting_ids: Iterable[str], supporting_titles: Iterable[str]) -> GoldTest:
    """By id when the dataset gives ids, else by title: the rule of metrics.prediction_recall."""
    ids, titles = set(supporting_ids or ()), set(supporting_titles or ())
    if ids:
        return lambda pid, title: pid in ids
    return lambda pid, title: title in titles


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def number(value: Any) -> float | None:
    """A finite float, else None (JSON has no NaN; a bad score must not break the page)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _hits(result: Any, is_gold: GoldTest) -> list[dict[str, Any]] | str:
    if isinstance(result, str):
        return result
    if not isinstance(result, list):
        return text(result)
    hits = []
    for hit in result:
        if not isinstance(hit, dict):
            hit = {"title": text(hit)}
        pid, title = text(hit.get("id")), text(hit.get("title"))
        hits.append(
            {
                "id": pid,
                "title": title,
                "score": number(hit.get("score")),
                "gold": is_gold(pid, title),
            }
        )
    return hits


def view_turns(raw: Any, is_gold: GoldTest) -> list[dict[str, Any]]:
    """The turns as the page renders them; gold hits carry "gold": true."""
    if not isinstance(raw, list):
        return []
    turns = []
    for turn in raw:
        if not isinstance(turn, dict):
            turn = {"model": text(turn)}
        queries, hits = turn.get("queries"), turn.get("hits")
        turns.append(
            {
                "model": text(turn.get("model")),
                "queries": [text(q) for q in queries] if isinstance(queries, list) else [],
                "hits": [_hits(h, is_gold) for h in hits] if isinstance(hits, list) else [],
                "observation": text(turn.get("observation")),
            }
        )
    return turns
