"""compose_rewards, the recipe registry, and the package's import cost."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentic_rag.rewards import (
    REWARDS,
    build_reward,
    compose_rewards,
    exact_match_reward,
    make_format_reward,
    make_search_budget_reward,
)


def test_weighted_sum_and_name(samples):
    fmt = make_format_reward("tags")
    composed = compose_rewards(
        [(exact_match_reward, 1.0), (fmt, 0.2), (make_search_budget_reward(0), 1)]
    )
    assert composed.__name__ == "1*exact_match_reward+0.2*format_reward_tags+1*search_budget_reward"
    right = samples.search_turn("q") + samples.answer_turn("Paris")
    wrong_unformatted = "<answer>Rome</answer>"
    rewards = composed([right, wrong_unformatted], answers=[["Paris"], ["Paris"]])
    assert rewards == pytest.approx([1.0 + 0.2 - 0.1, 0.0])
    assert compose_rewards([(fmt, 1.0)], name="shaped").__name__ == "shaped"


def test_none_parts_are_left_out_like_trl_does(samples):
    composed = compose_rewards([(exact_match_reward, 1.0), (make_format_reward("tags"), 0.5)])
    completion = samples.answer_turn("Paris")
    assert composed([completion, completion], answers=[["Paris"], []]) == [1.5, 0.5]
    only_em = compose_rewards([(exact_match_reward, 2.0)])
    assert only_em([completion], answers=[None]) == [None]


def test_parts_are_logged_through_trl_log_metric(samples):
    logged = []
    composed = compose_rewards(
        [(exact_match_reward, 1.0), (make_format_reward("tags"), 0.5)], name="total"
    )
    completions = [samples.answer_turn("Paris"), samples.answer_turn("Rome")]
    composed(completions, answers=[["Paris"]] * 2, log_metric=lambda n, v: logged.append((n, v)))
    assert logged == [("total/exact_match_reward", 0.5), ("total/format_reward_tags", 1.0)]


@pytest.mark.parametrize(
    "pairs,error",
    [
        ([], ValueError),
        ([exact_match_reward], TypeError),
        ([(exact_match_reward, float("nan"))], ValueError),
    ],
)
def test_bad_pairs_are_rejected(pairs, error):
    with pytest.raises(error):
        compose_rewards(pairs)


def test_a_part_returning_the_wrong_count_is_an_error():
    composed = compose_rewards([(lambda completions, **kw: [0.0], 1.0)])
    with pytest.raises(ValueError, match="returned 1 rewards for 2 completions"):
        composed(["a", "b"])


def test_registry_builds_every_reward(samples):
    args = {"format": {"protocol": "tags"}, "search_budget": {"max_searches": 2}}
    for name in REWARDS:
        fn = build_reward(name, **args.get(name, {}))
        assert callable(fn) and fn.__name__
    assert build_reward("exact_match") is exact_match_reward
    assert (
        build_reward("search_r1_format", retrieval_score=0.1).__name__ == "search_r1_format_reward"
    )


def test_registry_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown reward 'em'; known rewards: .*exact_match"):
        build_reward("em")
    with pytest.raises(ValueError, match="does not accept arguments"):
        build_reward("exact_match", protocol="tags")
    with pytest.raises(ValueError, match="does not accept arguments"):
        build_reward("search_budget")  # max_searches is required


def test_format_reward_reads_each_samples_protocol_column():
    """No special case: a recipe's `format` reward follows the rollout's `protocol` column."""
    reward = build_reward("format")
    tags_ok = "<think>x</think>\n<answer>Paris</answer>"
    tools_ok = '<tool_call>\n{"name": "search", "arguments": {"query": "q"}}\n</tool_call>'
    tools_ok += "<tool_response>\nDoc 1\n</tool_response>\n<answer>Paris</answer>"
    assert reward([tags_ok, tools_ok], protocol=["tags", "tools"]) == [1.0, 1.0]
    assert reward([tools_ok], protocol=["tags"]) == [0.0]  # a tool call is not tags grammar


def test_import_needs_no_torch():
    code = "import sys, agentic_rag.rewards; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_reward_names_follow_one_convention():
    """docs/rewards.md: `<what>_reward` is a ready reward function (TRL's signature),
    `make_<what>_reward(...)` a factory that returns one, and `<what>_turn_reward(turn_hits, ...)`
    a turn-level process reward."""
    import inspect

    import agentic_rag.rewards as rewards

    ready = [
        n
        for n in rewards.__all__
        if n.endswith("_reward")
        and not n.startswith("make_")
        and not n.endswith("_turn_reward")
        and n != "build_reward"
    ]  # build_reward(name, **args) is the recipe registry's lookup
    turn = [n for n in rewards.__all__ if n.endswith("_turn_reward")]
    assert set(turn) == {f"{name}_turn_reward" for name in rewards.TURN_REWARDS}
    for name in turn:
        assert list(inspect.signature(getattr(rewards, name)).parameters)[0] == "turn_hits", name
    factories = [n for n in rewards.__all__ if n.startswith("make_")]
    assert {"format_reward", "make_format_reward", "make_search_budget_reward"} <= {
        *ready,
        *factories,
    }
    for name in ready:
        params = inspect.signature(getattr(rewards, name)).parameters
        assert list(params)[0] == "completions", name
    for name in factories:
        assert name.endswith("_reward"), name
        assert "completions" not in inspect.signature(getattr(rewards, name)).parameters, name
    assert rewards.make_search_budget_reward(2).__name__ == "search_budget_reward"
