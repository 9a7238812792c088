"""Reward functions with TRL's signature: `fn(completions, **kwargs) -> list[float | None]`.

Every function takes the completions TRL passes (decoded strings or lists of chat messages) and
reads per-sample columns from kwargs: dataset columns (`answers`) and, when our rollout engine
produced the completions, its fields (`protocol`, `num_searches`, ...). A missing required column
raises a ValueError naming it and the fix; a sample whose gold answers are empty or None scores
None ("not applicable": TRL leaves it out of the weighted sum). Empty and None completions score
0 (or no penalty) and never raise.

Names: a ready reward function is `<what>_reward`; a factory that builds one from arguments is
`make_<what>_reward(...)`, and where its defaults make a useful reward, that instance is exported
as `<what>_reward` too (`format_reward`, `search_r1_format_reward`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from agentic_rag.rewards.completion import (
    Turn,
    check_protocol,
    infer_protocol,
    parse_turns,
    rollout_turns,
)
from agentic_rag.rewards.extraction import extract_answer
from agentic_rag.rewards.grammar import check_format, check_tools
from agentic_rag.rewards.scoring import (
    as_aliases,
    exact_match_score,
    f1_score,
    normalize_answer,
)

RewardFn = Callable[..., list[float | None]]

SUB_EM_SLACK_WORDS = 3
"""Words a sub-EM answer may add around the gold alias at full credit ("the city of Paris")."""
# Where an answer lists candidates: "A, B", "A; B", "A / B", "A or B", "A and B", one per line.
_LIST_SEPARATOR = re.compile(r",\s|;|\n|\s[/|&]\s|\s(?:or|and)\s", re.IGNORECASE)


def column(kwargs: dict[str, Any], name: str, n: int, reward: str) -> list:
    """A required per-sample column, checked: one value per completion."""
    values = kwargs.get(name)
    if values is None:
        raise ValueError(
            f"{reward} needs the `{name}` column (one value per completion), but the reward "
            f"kwargs only have {sorted(kwargs)}. {_COLUMN_FIXES.get(name, '')}"
        )
    return _sized(values, name, n)


def optional_column(kwargs: dict[str, Any], name: str, n: int) -> list:
    values = kwargs.get(name)
    return [None] * n if values is None else _sized(values, name, n)


def _sized(values: Any, name: str, n: int) -> list:
    values = list(values)
    if len(values) != n:
        raise ValueError(f"column `{name}` has {len(values)} values for {n} completions")
    return values


_COLUMN_FIXES = {
    "answers": "Add a list of gold answer strings per row to the dataset, e.g. "
    "`dataset.rename_column('golden_answers', 'answers')` (agentic_rag.data loaders name it so).",
    "retrieved_texts": "It is filled by agentic_rag's rollout engine (GRPOTrainer(rollout_func=...)); "
    "in your own rollout, return the passages shown to the model under this key.",
}


def gold_aliases(value: Any) -> list[str] | None:
    """A sample's gold aliases, or None when it has none (the reward does not apply)."""
    if value is None or (not isinstance(value, str) and len(value) == 0):
        return None
    return as_aliases(value)


def predictions(completions: list, kwargs: dict[str, Any]) -> list[str | None]:
    """The final answer of each completion: the rollout's own reading of its final turn (the
    `final_answer` column agentic_rag's rollouts fill), else extraction.py's reading of the
    text, using the `protocol` and `prompts` columns when present."""
    n = len(completions)
    if kwargs.get("final_answer") is not None:
        return optional_column(kwargs, "final_answer", n)
    protocols = optional_column(kwargs, "protocol", n)
    prompts = optional_column(kwargs, "prompts", n)
    return [
        extract_answer(c, p, pr) for c, p, pr in zip(completions, protocols, prompts, strict=True)
    ]


def completion_turns(completion: Any, protocol: str, recorded: list[dict] | None) -> list[Turn]:
    """The rollout's recorded turns (`turns` column) when there are some, else the text's."""
    return rollout_turns(recorded, protocol) if recorded else parse_turns(completion, protocol)


def is_well_formed(completion: Any, protocol: str, recorded: list[dict] | None) -> bool:
    """`protocol`'s grammar: tags reads the text (observations are opaque blocks in it), tools
    the turns (recorded by the rollout when available)."""
    if protocol == "tags":
        return check_format(completion, "tags")[0]
    return check_tools(completion_turns(completion, protocol, recorded))[0]


@lru_cache(maxsize=8192)
def _padded_passage(text: str) -> str:
    """Normalized passage text, cached: the G completions of a question mostly retrieve the same
    passages, and normalizing ~100-word passages is the costliest step of any reward here."""
    return f" {normalize_answer(text)} "


def contains_answer(texts: list[str], aliases: list[str]) -> bool:
    """A gold alias occurs in one of `texts` as whole words, after SQuAD normalization."""
    golds = [f" {gold} " for gold in map(normalize_answer, aliases) if gold]
    return any(gold in _padded_passage(text) for text in texts for gold in golds)


def _answer_reward(
    completions: list, kwargs: dict[str, Any], score: Callable[[str, list[str]], float], name: str
) -> list[float | None]:
    golds = column(kwargs, "answers", len(completions), name)
    rewards: list[float | None] = []
    for prediction, gold in zip(predictions(completions, kwargs), golds, strict=True):
        aliases = gold_aliases(gold)
        if aliases is None:
            rewards.append(None)
        elif prediction is None or not normalize_answer(prediction):
            rewards.append(0.0)  # no answer, or one that normalizes to nothing, is never right
        else:
            rewards.append(score(prediction, aliases))
    return rewards


def exact_match_reward(completions: list, **kwargs: Any) -> list[float | None]:
    """1.0 when the final answer exactly matches a gold alias after normalization, else 0.0."""
    return _answer_reward(completions, kwargs, exact_match_score, "exact_match_reward")


def f1_reward(completions: list, **kwargs: Any) -> list[float | None]:
    """Token F1 of the final answer against the best gold alias (HotpotQA rules), in [0, 1]."""
    return _answer_reward(completions, kwargs, f1_score, "f1_reward")


def guarded_sub_exact_match(prediction: str, aliases: list[str]) -> float:
    """Sub-EM that a list of guesses cannot beat: credit for a contained gold alias is divided by
    the number of candidates the answer names (list items that neither contain the alias nor are
    part of it), and shrinks once the answer adds more than SUB_EM_SLACK_WORDS words to it. So
    listing k guesses earns at most the average of their chances, never more than one guess."""
    padded = f" {normalize_answer(prediction)} "
    n_words = len(padded.split())
    items = [f" {i} " for i in map(normalize_answer, _LIST_SEPARATOR.split(prediction)) if i]
    best = 0.0
    for gold in {normalize_answer(a) for a in aliases}:
        if not gold or f" {gold} " not in padded:
            continue
        others = sum(f" {gold} " not in item and item not in f" {gold} " for item in items)
        length = min(1.0, (len(gold.split()) + SUB_EM_SLACK_WORDS) / n_words)
        best = max(best, length / (1 + others))
    return best


def sub_exact_match_reward(completions: list, **kwargs: Any) -> list[float | None]:
    """Sub-EM ("cover EM"): a gold alias occurs in the final answer, with spam guards (see
    `guarded_sub_exact_match`), in [0, 1]."""
    return _answer_reward(completions, kwargs, guarded_sub_exact_match, "sub_exact_match_reward")


def make_format_reward(protocol: str | None = None) -> RewardFn:
    """A reward of 1.0 for completions that follow their protocol's grammar (grammar.py), else
    0.0. The protocol is `protocol`, or per sample the `protocol` column our rollouts fill
    (inferred from the completion when neither is there): that is `format_reward`."""
    if protocol is not None:
        check_protocol(protocol)

    def reward(completions: list, **kwargs: Any) -> list[float | None]:
        n = len(completions)
        protocols = optional_column(kwargs, "protocol", n)
        recorded = optional_column(kwargs, "turns", n)
        return [
            float(is_well_formed(c, protocol or p or infer_protocol(c), r))
            for c, p, r in zip(completions, protocols, recorded, strict=True)
        ]

    reward.__name__ = reward.__qualname__ = (
        f"format_reward_{protocol}" if protocol else "format_reward"
    )
    return reward


format_reward = make_format_reward()


def make_search_r1_format_reward(
    structure_format_score: float = 0.2,
    final_format_score: float = 0.1,
    retrieval_score: float = 0.0,
) -> RewardFn:
    """Search-R1 v0.3's structured reward (`qa_em_format.compute_score_em`), defaults as in its
    v0.3 training scripts, on the completion alone (no chat-template markers needed):

    | final answer              | valid format                     | invalid format        |
    | exact match               | 1.0                              | 1 - structure (0.8)   |
    | wrong                     | structure (0.2) (+ retrieval)    | final_format (0.1)    |
    | none                      | 0                                | 0                     |

    "+ retrieval": when a gold answer occurs in an observation (<information> or tool result).
    Validity is `format_reward`'s grammar for the sample's `protocol` column (inferred when
    absent); the answer is `extract_answer`'s, spam guards included.
    """
    for name, value in [
        ("structure_format_score", structure_format_score),
        ("final_format_score", final_format_score),
        ("retrieval_score", retrieval_score),
    ]:
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")

    def reward(completions: list, **kwargs: Any) -> list[float | None]:
        n = len(completions)
        golds = column(kwargs, "answers", n, "search_r1_format_reward")
        protocols = optional_column(kwargs, "protocol", n)
        recorded = optional_column(kwargs, "turns", n)
        answers = predictions(completions, kwargs)
        rewards: list[float | None] = []
        for completion, gold, protocol, turns_seen, answer in zip(
            completions, golds, protocols, recorded, answers, strict=True
        ):
            aliases = gold_aliases(gold)
            if aliases is None:
                rewards.append(None)
                continue
            if answer is None or not normalize_answer(answer):
                rewards.append(0.0)
                continue
            protocol = protocol or infer_protocol(completion)
            turns = completion_turns(completion, protocol, turns_seen)
            valid = is_well_formed(completion, protocol, turns_seen)
            if exact_match_score(answer, aliases):
                rewards.append(1.0 if valid else 1.0 - structure_format_score)
            elif valid and retrieval_score:
                shown = [t.text for t in turns if t.role == "observation"]
                found = contains_answer(shown, aliases)
                rewards.append(structure_format_score + (retrieval_score if found else 0.0))
            elif valid:
                rewards.append(structure_format_score)
            else:
                rewards.append(final_format_score)
        return rewards

    reward.__name__ = reward.__qualname__ = "search_r1_format_reward"
    return reward


search_r1_format_reward = make_search_r1_format_reward()


def make_search_budget_reward(max_searches: int, cost: float = 0.1) -> RewardFn:
    """A reward of -cost per search beyond `max_searches` (0 within budget): searching is not
    free. Counts the rollout's `num_searches` column, else the search calls in the completion."""
    if not isinstance(max_searches, int) or max_searches < 0:
        raise ValueError(f"max_searches must be an integer >= 0, got {max_searches!r}")
    if not (math.isfinite(cost) and cost > 0):
        raise ValueError(f"cost must be a positive number, got {cost!r}")

    def reward(completions: list, **kwargs: Any) -> list[float | None]:
        n = len(completions)
        counts = optional_column(kwargs, "num_searches", n)
        protocols = optional_column(kwargs, "protocol", n)
        penalties: list[float | None] = []
        for completion, count, protocol in zip(completions, counts, protocols, strict=True):
            if count is None:
                turns = parse_turns(completion, protocol or infer_protocol(completion))
                count = sum(c.valid for t in turns if t.role == "assistant" for c in t.calls)
            excess = count - max_searches
            penalties.append(-cost * excess if excess > 0 else 0.0)
        return penalties

    reward.__name__ = reward.__qualname__ = "search_budget_reward"
    return reward
