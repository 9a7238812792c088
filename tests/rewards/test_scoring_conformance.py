"""Our scorers against the official SQuAD v1.1 and HotpotQA definitions.

The reference functions below are written from the official evaluation scripts' definitions
(SQuAD v1.1 `evaluate-v1.1.py`; HotpotQA `hotpot_evaluate_v1.py`), in their plain style, so that
our faster implementation is checked against the definition rather than against itself.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter

import pytest

from agentic_rag.rewards import exact_match_score, f1_score, normalize_answer


# ---- reference: SQuAD v1.1 -------------------------------------------------------------------
def squad_normalize(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def squad_f1(prediction, ground_truth):
    prediction_tokens = squad_normalize(prediction).split()
    ground_truth_tokens = squad_normalize(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def squad_em(prediction, ground_truth):
    return squad_normalize(prediction) == squad_normalize(ground_truth)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    return max(metric_fn(prediction, gt) for gt in ground_truths)


# ---- reference: HotpotQA ---------------------------------------------------------------------
def hotpot_f1(prediction, ground_truth):
    normalized_prediction = squad_normalize(prediction)
    normalized_ground_truth = squad_normalize(ground_truth)
    zero_metric = (0, 0, 0)
    if (
        normalized_prediction in ["yes", "no", "noanswer"]
        and normalized_prediction != normalized_ground_truth
    ):
        return zero_metric
    if (
        normalized_ground_truth in ["yes", "no", "noanswer"]
        and normalized_prediction != normalized_ground_truth
    ):
        return zero_metric
    prediction_tokens = normalized_prediction.split()
    ground_truth_tokens = normalized_ground_truth.split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return zero_metric
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1, precision, recall


def hotpot_em(prediction, ground_truth):
    return squad_normalize(prediction) == squad_normalize(ground_truth)


# ---- tricky cases: (prediction, gold aliases) --------------------------------------------------
CASES = [
    ("Beijing", ["Beijing"]),
    ("beijing.", ["Beijing"]),
    ("The Beatles", ["Beatles"]),
    ("an apple a day", ["apple day"]),
    ("theater", ["the ater"]),  # "the" inside a word is not an article
    ("A", ["a"]),  # only an article: both normalize to ""
    ("", [""]),
    ("", ["Paris"]),
    ("Paris", [""]),
    ("   ", ["Paris"]),
    ("U.S.A.", ["USA"]),
    ("U.S.", ["United States", "US", "U.S.A."]),
    ("rock'n'roll", ["rock n roll"]),
    ("co-operation", ["cooperation"]),
    ("Zürich", ["zurich"]),  # no accent folding in the official script
    ("ZÜRICH", ["Zürich"]),  # but unicode lower-casing
    ("Ⅻ", ["ⅻ"]),
    ("naïve café", ["Naïve Café"]),
    ("“quoted”", ['"quoted"']),  # curly quotes are not ASCII punctuation
    ("São Paulo — Brazil", ["Sao Paulo, Brazil"]),
    ("Straße", ["STRASSE"]),
    ("1,000", ["1000"]),
    ("1 000", ["1000"]),
    ("3.14", ["314"]),
    ("twenty-one", ["21", "twenty one"]),
    ("1990s", ["1990"]),
    ("yes", ["Yes"]),
    ("yes", ["no"]),
    ("no", ["no answer", "noanswer"]),
    ("yes it is", ["yes"]),
    ("Yes.", ["yes"]),
    ("no", ["Norway"]),
    ("noanswer", ["no answer"]),
    ("the the the", ["the"]),
    ("Paris Paris", ["Paris"]),
    ("Paris, France", ["Paris"]),
    ("New York City", ["New York", "NYC", "New York City, USA"]),
    ("city of new york", ["New York City"]),
    ("\tTab\nNew line  spaces ", ["tab new line spaces"]),
    ("An", ["AN"]),
    ("The A Team", ["A-Team"]),
    ("john f. kennedy", ["John F Kennedy", "JFK"]),
    ("$5 million", ["5 million dollars"]),
    ("100%", ["100 percent"]),
]


@pytest.mark.parametrize("prediction,golds", CASES)
def test_normalization_matches_squad(prediction, golds):
    for text in [prediction, *golds]:
        assert normalize_answer(text) == squad_normalize(text)


@pytest.mark.parametrize("prediction,golds", CASES)
def test_exact_match_matches_squad_and_hotpot(prediction, golds):
    expected = metric_max_over_ground_truths(squad_em, prediction, golds)
    assert exact_match_score(prediction, golds) == float(expected)
    assert exact_match_score(prediction, golds) == float(
        metric_max_over_ground_truths(hotpot_em, prediction, golds)
    )


@pytest.mark.parametrize("prediction,golds", CASES)
def test_f1_matches_hotpot(prediction, golds):
    expected = metric_max_over_ground_truths(lambda p, g: hotpot_f1(p, g)[0], prediction, golds)
    assert f1_score(prediction, golds) == pytest.approx(expected, abs=1e-12)


NOT_YES_NO = [
    (p, g)
    for p, g in CASES
    if not any(squad_normalize(t) in {"yes", "no", "noanswer"} for t in [p, *g])
]


@pytest.mark.parametrize("prediction,golds", NOT_YES_NO)
def test_f1_matches_squad_outside_yes_no(prediction, golds):
    """HotpotQA's F1 is SQuAD's except for yes/no/noanswer mismatches."""
    expected = metric_max_over_ground_truths(squad_f1, prediction, golds)
    assert f1_score(prediction, golds) == pytest.approx(expected, abs=1e-12)


def test_the_table_exercises_the_yes_no_rule_and_partial_credit():
    """Guards the table itself: it must contain cases where the two definitions disagree and
    cases of partial F1, or the tests above could pass vacuously."""
    disagree = [
        (p, g)
        for p, g in CASES
        if metric_max_over_ground_truths(squad_f1, p, g)
        != metric_max_over_ground_truths(lambda a, b: hotpot_f1(a, b)[0], p, g)
    ]
    assert disagree  # e.g. "yes it is" vs "yes"
    assert f1_score("yes it is", ["yes"]) == 0.0
    assert 0.0 < f1_score("Paris, France", ["Paris"]) < 1.0


def test_single_string_gold_is_one_alias():
    assert exact_match_score("the Beatles", "Beatles") == 1.0
    assert f1_score("Beatles", "The Beatles!") == 1.0


def test_empty_gold_list_is_an_error():
    with pytest.raises(ValueError, match="at least one gold alias"):
        exact_match_score("Paris", [])


def test_real_answers_match_the_references(shared_qa_dir):
    """Real gold strings (unicode names, dates, numbers) with perturbed predictions."""
    rows = []
    for name in ["hotpotqa", "nq", "triviaqa", "2wikimultihopqa"]:
        with open(shared_qa_dir / name / "dev.jsonl", encoding="utf-8") as f:
            rows += [json.loads(line)["answers"] for _, line in zip(range(300), f, strict=False)]
    assert len(rows) >= 600
    for i, golds in enumerate(rows):
        other = rows[(i + 1) % len(rows)][0]
        for prediction in [
            golds[0],
            golds[0].upper() + ".",
            f"the {golds[0]}",
            f"{golds[0]} and {other}",
            other,
            golds[-1][: len(golds[-1]) // 2],
        ]:
            assert exact_match_score(prediction, golds) == float(
                metric_max_over_ground_truths(squad_em, prediction, golds)
            )
            expected = metric_max_over_ground_truths(
                lambda p, g: hotpot_f1(p, g)[0], prediction, golds
            )
            assert f1_score(prediction, golds) == pytest.approx(expected, abs=1e-12)
