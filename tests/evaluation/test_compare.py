"""Paired bootstrap comparison of two runs."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from agentic_rag.evaluation.compare import compare_runs, format_comparison, paired_bootstrap
from agentic_rag.evaluation.predictions import PredictionWriter


def write_run(path, make_prediction, correct: list[bool], dataset="nq", mode="agentic", ids=None):
    ids = ids if ids is not None else [str(i) for i in range(len(correct))]
    with PredictionWriter(path / "predictions.jsonl") as writer:
        for qid, ok in zip(ids, correct, strict=True):
            score = float(ok)
            writer.write(
                make_prediction(
                    id=qid, dataset=dataset, mode=mode, em=score, f1=score, sub_em=score
                )
            )
    return path


def test_identical_runs_differ_by_exactly_zero(tmp_path, make_prediction):
    rng = random.Random(1)
    correct = [rng.random() < 0.5 for _ in range(100)]
    a = write_run(tmp_path / "a", make_prediction, correct)
    b = write_run(tmp_path / "b", make_prediction, correct)
    (row,) = compare_runs(a, b)
    assert (row.dataset, row.mode, row.n, row.only_a, row.only_b) == ("nq", "agentic", 100, 0, 0)
    for diff in (row.em, row.f1):
        assert (diff.diff, diff.low, diff.high) == (0.0, 0.0, 0.0)
        assert diff.a == diff.b == pytest.approx(sum(correct) / 100)
        assert not diff.significant


def test_clearly_better_run_has_interval_above_zero(tmp_path, make_prediction):
    rng = random.Random(2)
    a_correct = [rng.random() < 0.3 for _ in range(200)]
    b_correct = [ok or rng.random() < 0.5 for ok in a_correct]  # B fixes about half of A's misses
    a = write_run(tmp_path / "a", make_prediction, a_correct)
    b = write_run(tmp_path / "b", make_prediction, b_correct)
    (row,) = compare_runs(a, b)
    assert row.em.diff == pytest.approx((sum(b_correct) - sum(a_correct)) / 200)
    assert 0 < row.em.low < row.em.diff < row.em.high
    assert row.em.significant
    (reverse,) = compare_runs(b, a)
    assert reverse.em.high < 0 and reverse.em.significant
    assert compare_runs(a, b) == compare_runs(a, b)  # seeded: same table every time


def test_bootstrap_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(0)
    a = (rng.random(2000) < 0.4).astype(float)
    b = (rng.random(2000) < 0.45).astype(float)
    d = paired_bootstrap(a, b, samples=4000, seed=3)
    half_width = 1.96 * (b - a).std(ddof=1) / math.sqrt(len(a))
    assert (d.high - d.low) / 2 == pytest.approx(half_width, rel=0.1)
    assert (d.low + d.high) / 2 == pytest.approx(d.diff, abs=0.2 * half_width)


def test_only_shared_questions_are_paired(tmp_path, make_prediction):
    a = write_run(tmp_path / "a", make_prediction, [True, False, True], ids=["1", "2", "3"])
    b = write_run(
        tmp_path / "b", make_prediction, [True, True, False, True], ids=["2", "3", "4", "5"]
    )
    with PredictionWriter(b / "predictions.jsonl") as writer:  # a mode A never ran
        writer.write(make_prediction(id="1", mode="naive"))
    (row,) = compare_runs(a, b)
    assert (row.n, row.only_a, row.only_b) == (2, 1, 2)
    assert (row.em.a, row.em.b, row.em.diff) == (0.5, 1.0, 0.5)  # ids 2, 3: A [0, 1], B [1, 1]

    text = format_comparison([row], "base", "trained")
    assert "EM base" in text and "ΔEM [95% CI]" in text
    assert "nq/agentic: 1 questions only in base, 2 only in trained" in text


def test_format_marks_significant_rows(tmp_path, make_prediction):
    a = write_run(tmp_path / "a", make_prediction, [False] * 50, dataset="hotpotqa")
    b = write_run(tmp_path / "b", make_prediction, [True] * 50, dataset="hotpotqa")
    text = format_comparison(compare_runs(a, b))
    row = next(line for line in text.splitlines() if line.startswith("hotpotqa"))
    assert "+100.0 [+100.0, +100.0] *" in row


def test_runs_without_common_questions(tmp_path, make_prediction):
    a = write_run(tmp_path / "a", make_prediction, [True], dataset="nq")
    b = write_run(tmp_path / "b", make_prediction, [True], dataset="popqa")
    with pytest.raises(ValueError, match="share no question"):
        compare_runs(a, b)
