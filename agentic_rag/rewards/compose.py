"""Several rewards as one TRL reward function, and the names recipes use for every reward.

TRL can weight a list of reward functions itself (`reward_weights`), which logs each one; the
composed form is for scripts that want one function (one advantage signal, one name). It still
logs each part through TRL's `log_metric` when TRL provides it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from agentic_rag.rewards.evidence import answer_in_retrieval_reward, retrieval_recall_reward
from agentic_rag.rewards.functions import (
    RewardFn,
    exact_match_reward,
    f1_reward,
    make_format_reward,
    make_search_budget_reward,
    make_search_r1_format_reward,
    sub_exact_match_reward,
)


def compose_rewards(
    weighted: Sequence[tuple[RewardFn, float]], name: str | None = None
) -> RewardFn:
    """One reward function: the weighted sum of `(reward_fn, weight)` pairs.

    As in TRL's own sum, a part that returns None for a sample is left out for that sample; the
    sample scores None only when every part does. The function is named `name`, or after its
    parts ("1*exact_match_reward+0.2*format_reward_tags"), so TRL logs it as rewards/<name>.
    """
    if not weighted:
        raise ValueError("compose_rewards needs at least one (reward_fn, weight) pair")
    for pair in weighted:
        if not (isinstance(pair, tuple) and len(pair) == 2 and callable(pair[0])):
            raise TypeError(f"expected (reward_fn, weight) pairs, got {pair!r}")
        if not (isinstance(pair[1], int | float) and math.isfinite(pair[1])):
            raise ValueError(
                f"weight of {pair[0].__name__} must be a finite number, got {pair[1]!r}"
            )
    name = name or "+".join(f"{w:g}*{fn.__name__}" for fn, w in weighted)

    def composed(completions: list, **kwargs: Any) -> list[float | None]:
        totals: list[float | None] = [None] * len(completions)
        log_metric = kwargs.get("log_metric")
        for fn, weight in weighted:
            values = fn(completions, **kwargs)
            if len(values) != len(completions):
                raise ValueError(
                    f"{fn.__name__} returned {len(values)} rewards for {len(completions)} completions"
                )
            for i, value in enumerate(values):
                if value is not None:
                    totals[i] = (totals[i] or 0.0) + weight * value
            scored = [v for v in values if v is not None]
            if callable(log_metric) and scored:
                log_metric(f"{name}/{fn.__name__}", sum(scored) / len(scored))
        return totals

    composed.__name__ = composed.__qualname__ = name
    return composed


REWARDS: dict[str, Callable[..., RewardFn]] = {
    "exact_match": lambda: exact_match_reward,
    "sub_exact_match": lambda: sub_exact_match_reward,
    "f1": lambda: f1_reward,
    "format": make_format_reward,
    "search_r1_format": make_search_r1_format_reward,
    "search_budget": make_search_budget_reward,
    "retrieval_recall": lambda: retrieval_recall_reward,
    "answer_in_retrieval": lambda: answer_in_retrieval_reward,
}
"""Recipe name -> builder; `build_reward` calls it with the recipe's arguments."""


def build_reward(name: str, **args: Any) -> RewardFn:
    """The reward function a recipe names, e.g. build_reward("format", protocol="tags") or
    build_reward("search_budget", max_searches=3, cost=0.1)."""
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; known rewards: {sorted(REWARDS)}")
    try:
        return REWARDS[name](**args)
    except TypeError as error:
        raise ValueError(f"reward {name!r} does not accept arguments {args}: {error}") from None
