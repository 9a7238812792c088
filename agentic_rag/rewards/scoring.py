"""Answer scorers: SQuAD normalization, exact match, sub-exact match ("cover EM") and token F1.

These are the official definitions (SQuAD v1.1 `evaluate-v1.1.py`, HotpotQA `hotpot_evaluate_v1.py`),
re-implemented for speed: punctuation goes in one C-level pass (`str.translate` on ASCII text, a
character-class regex otherwise, where translate is slower: docs/performance.md), one compiled regex for articles. Results are identical to the official scripts (tests/rewards/test_scoring_conformance.py
checks that on a table of tricky cases). Evaluation and training both score with these functions,
so "correct" means the same thing in both.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_PUNCTUATION_RE = re.compile(f"[{re.escape(string.punctuation)}]+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_YES_NO = frozenset({"yes", "no", "noanswer"})


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower-case, drop ASCII punctuation and the articles a/an/the,
    collapse white space. Unicode letters and non-ASCII punctuation are kept, as officially."""
    text = text.lower()
    text = text.translate(_PUNCTUATION) if text.isascii() else _PUNCTUATION_RE.sub("", text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def as_aliases(answers: str | Iterable[str]) -> list[str]:
    """Gold answers as a list: one string is one alias; datasets give lists (or numpy arrays)."""
    aliases = [answers] if isinstance(answers, str) else list(answers)
    if not aliases:
        raise ValueError("no gold answers given: pass at least one gold alias")
    for alias in aliases:
        if not isinstance(alias, str):
            raise TypeError(f"gold answers must be strings, got {type(alias).__name__}: {alias!r}")
    return aliases


def exact_match_score(prediction: str, answers: str | Iterable[str]) -> float:
    """1.0 when the normalized prediction equals a normalized gold alias (SQuAD EM, max over
    aliases)."""
    normalized = normalize_answer(prediction)
    return float(any(normalized == normalize_answer(a) for a in as_aliases(answers)))


def sub_exact_match_score(prediction: str, answers: str | Iterable[str]) -> float:
    """1.0 when a normalized gold alias occurs in the normalized prediction as whole words
    (Search-R1's `subem`, "cover EM").

    Whole words, unlike Search-R1's raw substring test, so gold "1" is not found in "1990" and
    "ton" not in "washington"; aliases that normalize to nothing (e.g. "The") are skipped, since
    the empty string occurs in every prediction.
    """
    padded = f" {normalize_answer(prediction)} "
    for alias in as_aliases(answers):
        gold = normalize_answer(alias)
        if gold and f" {gold} " in padded:
            return 1.0
    return 0.0


def _token_f1(prediction: str, gold: str) -> float:
    """HotpotQA's F1 on normalized strings: a yes/no/noanswer mismatch scores 0, else token F1."""
    if (prediction in _YES_NO or gold in _YES_NO) and prediction != gold:
        return 0.0
    pred_tokens, gold_tokens = prediction.split(), gold.split()
    if set(gold_tokens).isdisjoint(pred_tokens):
        return 0.0
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision, recall = num_same / len(pred_tokens), num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, answers: str | Iterable[str]) -> float:
    """Token F1 of the normalized prediction against the best gold alias, with HotpotQA's rule
    that a yes/no/noanswer mismatch scores 0 (otherwise SQuAD v1.1's F1)."""
    normalized = normalize_answer(prediction)
    return max(_token_f1(normalized, normalize_answer(a)) for a in as_aliases(answers))
