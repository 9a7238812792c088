"""Retrieval rewards: recall of gold supporting passages, answer found in retrieved text."""

from __future__ import annotations

import pytest

from agentic_rag.rewards import answer_in_retrieval_reward, retrieval_recall_reward


def test_recall_by_ids_then_titles():
    rewards = retrieval_recall_reward(
        ["", "", "", ""],
        supporting_ids=[["1", "2"], [], None, ["9"]],
        retrieved_ids=[["2", "5", "2"], ["3"], ["3"], []],
        supporting_titles=[["A"], ["Paris", "Eiffel Tower"], ["X"], ["Y"]],
        retrieved_titles=[["B"], ["Eiffel Tower ", "Berlin"], ["Z"], ["Y"]],
    )
    # row 0: ids win over titles; row 1/2: no gold ids, titles used; row 3: ids (empty shown)
    assert rewards == [0.5, 0.5, 0.0, 0.0]


def test_recall_ids_may_be_integers():
    assert retrieval_recall_reward([""], supporting_ids=[[7, 8]], retrieved_ids=[["7"]]) == [0.5]


def test_recall_not_applicable_without_gold_or_retrieval_fields():
    rewards = retrieval_recall_reward(
        ["", "", ""], supporting_titles=[[], None, ["A"]], retrieved_titles=[["A"], ["A"], None]
    )
    assert rewards == [None, None, None]


@pytest.mark.parametrize(
    "columns",
    [
        {},
        {"supporting_titles": [["A"]]},  # a user's script without our rollout
        {"retrieved_titles": [["A"]]},  # a dataset without supporting passages
        {"supporting_ids": [["1"]], "retrieved_titles": [["A"]]},  # no matching pair
    ],
)
def test_recall_without_a_column_pair_explains_the_fix(columns):
    with pytest.raises(ValueError, match="supporting_titles.*rollout engine"):
        retrieval_recall_reward([""], **columns)


def test_answer_in_retrieval_whole_words():
    texts = [
        ["Paris is the capital of France."],
        ["Parisian cafés are famous."],
        [],
        ["The U.S.A. is large", "other"],
        ["x"],
    ]
    golds = [["Paris"], ["Paris"], ["Paris"], ["USA"], None]
    assert answer_in_retrieval_reward([""] * 5, answers=golds, retrieved_texts=texts) == [
        1.0,
        0.0,
        0.0,
        1.0,
        None,
    ]


def test_answer_in_retrieval_passages_are_checked_one_by_one():
    """A gold answer split across two passages was not retrieved."""
    texts = [["... ends with New", "York is a city"]]
    assert answer_in_retrieval_reward([""], answers=[["New York"]], retrieved_texts=texts) == [0.0]


def test_answer_in_retrieval_needs_the_rollout_column():
    with pytest.raises(ValueError, match="`retrieved_texts` column.*rollout engine"):
        answer_in_retrieval_reward([""], answers=[["Paris"]])
