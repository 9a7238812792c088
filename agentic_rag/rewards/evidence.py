"""Rewards on what was retrieved, not on what was answered: dense signals for learning to search.

They read the rollout engine's per-sample fields (`retrieved_ids`, `retrieved_titles`,
`retrieved_texts`: every passage shown, in order). A column missing from the kwargs altogether is
a setup error and raises, naming the fix; a sample without gold supporting passages (or without
retrieval fields) scores None, which TRL treats as "not applicable".
"""

from __future__ import annotations

from typing import Any

from agentic_rag.rewards.functions import column, contains_answer, gold_aliases

# (dataset column of gold passages, rollout column of shown passages), preferred first.
_SUPPORT_PAIRS = (("supporting_ids", "retrieved_ids"), ("supporting_titles", "retrieved_titles"))


def supporting_recall(gold: Any, shown: Any) -> float | None:
    """Share of the gold passages (ids or titles) among the passages shown; None when there is
    no gold passage or nothing was recorded as shown. The one recall of this package: rewards
    and evaluation both use it."""
    wanted = {str(x).strip() for x in gold or ()}
    if not wanted or shown is None:
        return None
    return len(wanted & {str(x).strip() for x in shown}) / len(wanted)


def retrieval_recall_reward(completions: list, **kwargs: Any) -> list[float | None]:
    """Share of the gold supporting passages among all passages shown, in [0, 1]: by corpus id
    when the dataset gives `supporting_ids`, else by title (`supporting_titles`, as HotpotQA,
    2Wiki and MuSiQue give them). None for samples without gold supporting passages."""
    n = len(completions)
    pairs = [
        (
            column(kwargs, gold, n, "retrieval_recall_reward"),
            column(kwargs, shown, n, "retrieval_recall_reward"),
        )
        for gold, shown in _SUPPORT_PAIRS
        if kwargs.get(gold) is not None and kwargs.get(shown) is not None
    ]
    if not pairs:
        present = sorted(k for k in kwargs if k.startswith(("supporting_", "retrieved_")))
        raise ValueError(
            "retrieval_recall_reward needs gold passages (`supporting_ids` or "
            "`supporting_titles` dataset column) and the passages shown (`retrieved_ids` or "
            f"`retrieved_titles`, filled by agentic_rag's rollout engine) as a matching pair; "
            f"found only {present or 'none of them'}. Use a dataset with supporting passages "
            "(e.g. HotpotQA) and GRPOTrainer(rollout_func=...) from agentic_rag, or drop this reward."
        )
    rewards: list[float | None] = []
    for i in range(n):
        scores = (supporting_recall(golds[i], shown[i]) for golds, shown in pairs)
        rewards.append(next((s for s in scores if s is not None), None))
    return rewards


def answer_in_retrieval_reward(completions: list, **kwargs: Any) -> list[float | None]:
    """1.0 when a gold answer occurs (normalized, whole words) in some passage shown to the model,
    else 0.0: did the searches find the evidence, whatever was answered."""
    n = len(completions)
    golds = column(kwargs, "answers", n, "answer_in_retrieval_reward")
    texts = column(kwargs, "retrieved_texts", n, "answer_in_retrieval_reward")
    rewards: list[float | None] = []
    for gold, passages in zip(golds, texts, strict=True):
        aliases = gold_aliases(gold)
        if aliases is None or passages is None:
            rewards.append(None)
        elif isinstance(passages, str):
            raise TypeError(
                "answer_in_retrieval_reward: `retrieved_texts` must hold a list of passage "
                "strings per completion, got one string; wrap it as [text]"
            )
        else:
            rewards.append(float(contains_answer(passages, aliases)))
    return rewards
