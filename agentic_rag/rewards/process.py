"""Turn-level process rewards: how much each search turn helped, not only whether the final
answer was right.

Each function scores a batch of trajectories turn by turn from what the rollout recorded, never
from re-parsed text: the `turn_hits` column that agentic_rag's rollout engine fills (per turn,
the passages its searches returned as `{"id", "title", "text"}` dicts, or None for a turn that
searched nothing). It returns, per trajectory, one value per turn: a float for a search turn,
None for a turn that did not search (no process credit; the outcome reward covers answering).
Every value is "higher is better", so weights are positive. Columns are read as the outcome
rewards read them (`answers`, `supporting_ids`, `supporting_titles`), so the functions work in
any TRL script whose rollout records `turn_hits`; training/credit.py turns them into token-level
advantages.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from agentic_rag.rewards.functions import column, contains_answer, gold_aliases, optional_column

TurnRewardFn = Callable[..., list[list[float | None]]]


def _passage_key(hit: dict) -> str:
    return str(hit.get("id") or hit.get("title") or hit.get("text") or "")


def _is_evidence(hit: dict, ids: set[str], titles: set[str], aliases: list[str] | None) -> bool:
    """A gold supporting passage (by id, else by title), or, for a question without any, a
    passage stating a gold answer."""
    if ids or titles:
        return str(hit.get("id", "")).strip() in ids or str(hit.get("title", "")).strip() in titles
    return bool(aliases) and contains_answer([str(hit.get("text", ""))], aliases)


def information_gain_turn_reward(turn_hits: list, **kwargs: Any) -> list[list[float | None]]:
    """Per search turn: the share of the question's evidence this turn retrieved FIRST (gold
    supporting passages by `supporting_ids`, else `supporting_titles`; for questions without
    them, passages stating a gold answer, which count once each), in [0, 1]. A trajectory's
    turns sum to its evidence recall. 0.0 for every search turn of a question with no known
    evidence at all."""
    n = len(turn_hits)
    answers = optional_column(kwargs, "answers", n)
    support_ids = optional_column(kwargs, "supporting_ids", n)
    support_titles = optional_column(kwargs, "supporting_titles", n)
    out = []
    for turns, gold, sids, stitles in zip(
        turn_hits, answers, support_ids, support_titles, strict=True
    ):
        ids = {str(x).strip() for x in sids or ()}
        titles = set() if ids else {str(x).strip() for x in stitles or ()}
        aliases = None if ids or titles else gold_aliases(gold)
        wanted = len(ids) or len(titles) or 1  # answer-stating passages: the first one counts
        found: set[str] = set()
        scores: list[float | None] = []
        for hits in turns or ():
            if hits is None:
                scores.append(None)
                continue
            new = {
                _evidence_key(h, ids, titles) for h in hits if _is_evidence(h, ids, titles, aliases)
            }
            new -= found
            gain = min(len(new), max(0, wanted - len(found)))
            found |= new
            scores.append(gain / wanted)
        out.append(scores)
    return out


def _evidence_key(hit: dict, ids: set[str], titles: set[str]) -> str:
    if ids:
        return str(hit.get("id", "")).strip()
    if titles:
        return str(hit.get("title", "")).strip()
    return _passage_key(hit)


def redundancy_turn_reward(turn_hits: list, **kwargs: Any) -> list[list[float | None]]:
    """Per search turn: minus the share of its passages the trajectory had already been shown
    (a repeated search wastes a turn), in [-1, 0]; 0.0 for a search that returned nothing."""
    out = []
    for turns in turn_hits:
        seen: set[str] = set()
        scores: list[float | None] = []
        for hits in turns or ():
            if hits is None:
                scores.append(None)
                continue
            keys = [_passage_key(h) for h in hits]
            repeated = sum(k in seen for k in keys)
            scores.append(-repeated / len(keys) if keys else 0.0)
            seen.update(keys)
        out.append(scores)
    return out


def search_cost_turn_reward(
    turn_hits: list, cost: float = 0.1, **kwargs: Any
) -> list[list[float | None]]:
    """Per search turn: -`cost` (searching is not free), so between two searches that found the
    same, the trajectory that needed fewer is preferred."""
    if not (isinstance(cost, int | float) and math.isfinite(cost) and cost >= 0):
        raise ValueError(f"search_cost: cost must be a number >= 0, got {cost!r}")
    return [[None if hits is None else -float(cost) for hits in turns or ()] for turns in turn_hits]


TURN_REWARDS: dict[str, TurnRewardFn] = {
    "information_gain": information_gain_turn_reward,
    "redundancy": redundancy_turn_reward,
    "search_cost": search_cost_turn_reward,
}
"""Recipe name (`credit.turn_rewards[].name`) -> turn-level reward function."""


def turn_rewards(
    specs: list[tuple[str, float, dict[str, Any]]], turn_hits: list, **columns: Any
) -> list[list[float | None]]:
    """The weighted sum of the named turn rewards for each trajectory's turns (None where the
    turn made no search). `specs` are (name, weight, args)."""
    column(columns | {"turn_hits": turn_hits}, "turn_hits", len(turn_hits), "turn rewards")
    totals = [[None if hits is None else 0.0 for hits in turns or ()] for turns in turn_hits]
    for name, weight, args in specs:
        if name not in TURN_REWARDS:
            raise ValueError(f"unknown turn reward {name!r}; known: {sorted(TURN_REWARDS)}")
        values = TURN_REWARDS[name](turn_hits, **args, **columns)
        for row, scores in zip(totals, values, strict=True):
            for k, value in enumerate(scores):
                if value is not None and row[k] is not None:
                    row[k] += weight * value
    return totals
