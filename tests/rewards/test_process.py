"""Turn-level process rewards (rewards/process.py) on recorded turns."""

from __future__ import annotations

import pytest

from agentic_rag.rewards.process import (
    TURN_REWARDS,
    information_gain_turn_reward,
    redundancy_turn_reward,
    search_cost_turn_reward,
    turn_rewards,
)


def hit(pid: str, title: str = "", text: str = "") -> dict:
    return {"id": pid, "title": title or pid, "text": text}


# one trajectory: search (finds gold a), search (finds a again + gold b), answer
TURNS = [[hit("a"), hit("x")], [hit("a"), hit("b")], None]


def test_information_gain_credits_the_turn_that_first_found_each_gold_passage():
    by_id = information_gain_turn_reward([TURNS], supporting_ids=[["a", "b"]])
    assert by_id == [[0.5, 0.5, None]]
    by_title = information_gain_turn_reward(
        [[[hit("1", "A")], [hit("2", "B")]]], supporting_titles=[["A", "B", "C"]]
    )
    assert by_title == [[pytest.approx(1 / 3), pytest.approx(1 / 3)]]
    # no supporting passages: the first passage stating a gold answer counts, once
    texts = [[hit("1", text="Paris is big")], [hit("2", text="in Paris")], [hit("3", text="no")]]
    assert information_gain_turn_reward([texts], answers=[["Paris"]]) == [[1.0, 0.0, 0.0]]
    assert information_gain_turn_reward([[[hit("1")]]], answers=[None]) == [[0.0]]


def test_redundancy_penalises_passages_already_shown_and_search_cost_each_search():
    assert redundancy_turn_reward([TURNS]) == [[0.0, -0.5, None]]
    assert redundancy_turn_reward([[[], [hit("a")]]]) == [[0.0, 0.0]]
    assert search_cost_turn_reward([TURNS], cost=0.2) == [[-0.2, -0.2, None]]
    with pytest.raises(ValueError, match="cost"):
        search_cost_turn_reward([TURNS], cost=-1)


def test_turn_rewards_sum_the_weighted_parts_and_refuse_unknown_names():
    total = turn_rewards(
        [
            ("information_gain", 1.0, {}),
            ("redundancy", 0.5, {}),
            ("search_cost", 1.0, {"cost": 0.1}),
        ],
        [TURNS, []],
        supporting_ids=[["a", "b"], ["a"]],
    )
    assert total[0] == [pytest.approx(0.4), pytest.approx(0.5 - 0.25 - 0.1), None]
    assert total[1] == []
    with pytest.raises(ValueError, match="unknown turn reward"):
        turn_rewards([("nope", 1.0, {})], [TURNS])
    assert set(TURN_REWARDS) == {"information_gain", "redundancy", "search_cost"}
