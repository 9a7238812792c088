"""Per-question scores and their aggregate; metrics.json equals a recomputation from predictions."""

from __future__ import annotations

import json

import pytest

from agentic_rag.evaluation.metrics import (
    ModeMetrics,
    aggregate,
    prediction_recall,
    read_metrics,
    score_answer,
    write_metrics,
)
from agentic_rag.evaluation.predictions import PredictionWriter, read_predictions
from retriever_index.metrics import recall_at_k
from retriever_index.retriever import Hit


def test_score_answer_uses_the_reward_scorers():
    assert score_answer("The Eiffel Tower!", ["eiffel tower"]).em == 1.0
    scores = score_answer("it is in Paris, France", ["Paris"])
    assert (scores.em, scores.sub_em) == (0.0, 1.0)
    assert 0 < scores.f1 < 1
    assert score_answer(None, ["Paris"]) == score_answer("", ["Paris"]) == type(scores)(0, 0, 0)


def test_prediction_recall_by_id_then_title(make_prediction):
    by_title = make_prediction(
        supporting_titles=["A", "B"],
        retrieved_ids=["1", "2", "3"],
        retrieved_titles=["B", "C", "B"],
    )
    assert prediction_recall(by_title) == 0.5
    by_id = make_prediction(
        supporting_ids=["2", "9"], supporting_titles=["B"], retrieved_titles=["B", "C"]
    )
    assert by_id.retrieved_ids == ["10", "11"]
    assert prediction_recall(by_id) == 0.0  # ids win over titles when the dataset has them
    assert prediction_recall(make_prediction(supporting_titles=[])) is None


def test_naive_recall_equals_retriever_index_recall_at_k(make_prediction):
    """One harness search of k passages: the question's recall is retriever_index's recall@k."""
    hits = [
        [Hit("1", "Paris", "", 0.9), Hit("2", "Lyon", "", 0.8), Hit("3", "France", "", 0.7)],
        [Hit("4", "Rome", "", 0.9), Hit("5", "Italy", "", 0.5), Hit("6", "Milan", "", 0.1)],
    ]
    gold = [{"France", "Paris"}, {"Italy", "Venice"}]
    preds = [
        make_prediction(
            id=str(i),
            mode="naive",
            retrieved_ids=[h.id for h in found],
            retrieved_titles=[h.title for h in found],
            supporting_titles=sorted(g),
        )
        for i, (found, g) in enumerate(zip(hits, gold, strict=True))
    ]
    expected = recall_at_k(hits, gold, k=3)
    assert expected == pytest.approx(0.75)
    assert aggregate(preds)["hotpotqa"]["naive"].recall == pytest.approx(expected)


def test_aggregate_by_hand(make_prediction):
    preds = [
        make_prediction(id="1", em=1.0, sub_em=1.0, f1=1.0, num_searches=2, num_turns=3,
                        generated_tokens=30, latency_s=4.0, batch_size=2),
        make_prediction(id="2", em=0.0, sub_em=1.0, f1=0.5, num_searches=0, num_turns=1,
                        generated_tokens=10, latency_s=4.0, batch_size=2, supporting_titles=[]),
        make_prediction(id="3", em=0.0, sub_em=0.0, f1=0.0, num_searches=1, num_turns=2,
                        generated_tokens=20, latency_s=1.0, batch_size=1,
                        retrieved_titles=["X", "Y"]),
        make_prediction(id="1", mode="direct", num_searches=0, retrieved_ids=[],
                        retrieved_titles=[], latency_s=0.0),
        make_prediction(id="1", dataset="nq", supporting_titles=[]),
    ]  # fmt: skip
    results = aggregate(preds)
    assert sorted(results) == ["hotpotqa", "nq"]
    assert results["hotpotqa"]["agentic"] == ModeMetrics(
        n=3,
        em=1 / 3,
        sub_em=2 / 3,
        f1=0.5,
        searches=1.0,
        turns=2.0,
        generated_tokens=20.0,
        questions_per_s=3 / (4.0 / 2 + 4.0 / 2 + 1.0 / 1),  # batches of 2 and 1: 5 s of wall time
        recall=0.5,  # question 1 found "Paris", question 3 did not, question 2 has no gold
        recall_n=2,
        invalid_action_share=0.0,
        answered_share=1.0,  # every record's finish_reason is "answer"
        # 3 questions: a resample of all zeros (or all ones) has probability 1/27 > 2.5%
        em_ci=(0.0, 1.0),
        sub_em_ci=(0.0, 1.0),
        f1_ci=(0.0, 1.0),
    )
    direct = results["hotpotqa"]["direct"]
    assert (direct.recall, direct.recall_n, direct.questions_per_s) == (None, 0, None)
    assert results["nq"]["agentic"].recall is None


def test_confidence_intervals_bootstrap_the_mean_over_questions(make_prediction):
    """200 questions, 60 right: the 95% interval is about 0.30 +- 1.96 * sqrt(0.21 / 200)."""
    preds = [make_prediction(id=str(i), em=float(i < 60), sub_em=1.0, f1=0.0) for i in range(200)]
    m = aggregate(preds)["hotpotqa"]["agentic"]
    half = 1.96 * (0.3 * 0.7 / 200) ** 0.5
    assert m.em_ci[0] == pytest.approx(0.3 - half, abs=0.015)
    assert m.em_ci[1] == pytest.approx(0.3 + half, abs=0.015)
    assert (m.sub_em_ci, m.f1_ci) == ((1.0, 1.0), (0.0, 0.0))  # constant scores: no spread


def test_duplicate_questions_are_an_error(make_prediction):
    with pytest.raises(ValueError, match=r"question 'q0' of hotpotqa/agentic appears twice"):
        aggregate([make_prediction(), make_prediction()])


def test_metrics_json_equals_recomputation_from_predictions(tmp_path, make_prediction):
    questions = [("Paris", ["Paris"]), ("Lyon", ["Paris"]), (None, ["Rome"]), ("rome", ["Rome"])]
    with PredictionWriter(tmp_path / "predictions.jsonl") as writer:
        for mode in ("naive", "agentic"):
            for i, (answer, gold) in enumerate(questions):
                s = score_answer(answer, gold)
                writer.write(
                    make_prediction(
                        id=str(i), mode=mode, prediction=answer, answers=gold,
                        em=s.em, sub_em=s.sub_em, f1=s.f1, latency_s=0.5 + i,
                    )
                )  # fmt: skip
    meta = {"model": "tiny", "k": 2}
    path = write_metrics(tmp_path, aggregate(read_predictions(tmp_path)), meta)
    assert path == tmp_path / "metrics.json"
    assert not list(tmp_path.glob("*.tmp"))

    # recompute EM from the raw predictions with the scorers, independently of `aggregate`
    payload = json.loads(path.read_text())
    for mode in ("naive", "agentic"):
        rows = [p for p in read_predictions(tmp_path) if p.mode == mode]
        em = sum(score_answer(p.prediction, p.answers).em for p in rows) / len(rows)
        assert payload["results"]["hotpotqa"][mode]["em"] == pytest.approx(em) == 0.5
    assert payload["meta"] == meta
    assert read_metrics(tmp_path) == (aggregate(read_predictions(tmp_path)), meta)
