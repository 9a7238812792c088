"""The TRL-signature reward functions: values, columns, and the reward-hacking guards."""

from __future__ import annotations

import pytest

from agentic_rag.rewards import (
    exact_match_reward,
    f1_reward,
    format_reward,
    make_format_reward,
    make_search_budget_reward,
    make_search_r1_format_reward,
    search_r1_format_reward,
    sub_exact_match_reward,
)

ANSWER_REWARDS = [exact_match_reward, sub_exact_match_reward, f1_reward, search_r1_format_reward]


def trl_kwargs(n: int, **columns):
    """What GRPOTrainer passes besides completions: prompts, ids, its hooks, dataset columns."""
    return {
        "prompts": columns.pop("prompts", ["Question?"] * n),
        "completion_ids": [[1, 2, 3]] * n,
        "trainer_state": None,
        "log_extra": lambda column, values: None,
        "log_metric": lambda name, value: None,
        **columns,
    }


def score(fn, completions, answers, **columns):
    return fn(completions, **trl_kwargs(len(completions), answers=answers, **columns))


def test_answer_rewards_on_both_protocols(samples, render_qwen):
    tags = samples.search_turn("q") + samples.answer_turn("the Eiffel tower is located in Paris")
    tools = samples.tool_messages("q", answer="<answer>Paris</answer>")
    text = render_qwen(tools)
    golds = [["Paris"]] * 3
    assert score(exact_match_reward, [tags, tools, text], golds) == [0.0, 1.0, 1.0]
    assert score(f1_reward, [tags, tools, text], golds) == pytest.approx([2 / 7, 1.0, 1.0])
    assert score(sub_exact_match_reward, [tags, tools, text], golds) == pytest.approx(
        [4 / 6, 1.0, 1.0]
    )


def test_reward_names_are_what_trl_logs():
    assert exact_match_reward.__name__ == "exact_match_reward"
    assert format_reward.__name__ == "format_reward"  # ready: follows the protocol column
    assert make_format_reward("tags").__name__ == "format_reward_tags"
    assert make_format_reward("tools").__name__ == "format_reward_tools"
    assert search_r1_format_reward.__name__ == "search_r1_format_reward"
    assert make_search_budget_reward(2).__name__ == "search_budget_reward"


def test_samples_without_gold_are_not_applicable(samples):
    completions = [samples.answer_turn("Paris")] * 3
    for fn in ANSWER_REWARDS:
        assert score(fn, completions, [["Paris"], [], None]) == [1.0, None, None]


def test_missing_answers_column_names_the_fix(samples):
    for fn in ANSWER_REWARDS:
        with pytest.raises(ValueError, match="`answers` column.*rename_column"):
            fn([samples.answer_turn("Paris")], prompts=["q"])


def test_column_length_mismatch_is_an_error(samples):
    with pytest.raises(ValueError, match="2 values for 1 completions"):
        exact_match_reward([samples.answer_turn("Paris")], answers=[["Paris"], ["Rome"]])


@pytest.mark.parametrize("empty", [None, "", [], [{"role": "assistant", "content": None}]])
def test_empty_and_none_completions_score_zero(empty):
    fns = [
        *ANSWER_REWARDS,
        make_format_reward("tags"),
        make_format_reward("tools"),
        make_search_budget_reward(0),
    ]
    for fn in fns:
        assert fn([empty, empty], **trl_kwargs(2, answers=[["Paris"], ["Paris"]])) == [0.0, 0.0]


def test_answer_that_normalizes_to_nothing_is_never_right(samples):
    completions = [samples.answer_turn(""), samples.answer_turn("the .")]
    for fn in ANSWER_REWARDS:
        assert score(fn, completions, [["The"], ["a"]]) == [0.0, 0.0]


# ---- guard: answer spam ----------------------------------------------------------------------
def test_many_answer_blocks_do_not_beat_one_correct_answer(samples):
    single = samples.answer_turn("Paris")
    spam = "<think>t</think>\n" + "".join(
        f"<answer>{c}</answer>" for c in ["Rome", "Berlin", "Paris"]
    )
    tools_spam = samples.tool_messages("q", answer="<answer>Rome</answer>\n<answer>Paris</answer>")
    fns = [*ANSWER_REWARDS, make_format_reward("tags")]
    for fn in fns:
        best, *spammed = score(fn, [single, spam, tools_spam], [["Paris"]] * 3)
        assert best == 1.0 and all(s == 0.0 for s in spammed), fn.__name__


@pytest.mark.parametrize(
    "answer,most",
    [
        ("Rome, Berlin, Paris", 1 / 3),
        ("Rome; Paris", 1 / 2),
        ("Paris or Rome", 1 / 2),
        ("Rome / Paris / Berlin / Madrid", 1 / 4),
        ("Rome\nParis", 1 / 2),
        ("rome berlin madrid paris london lisbon vienna oslo", 1 / 2),  # no separators
    ],
)
def test_a_list_of_candidates_does_not_beat_one_correct_answer(samples, answer, most):
    """Every answer reward scores a list below one correct answer; EM and sub-EM also give a list
    of k guesses at most 1/k, so listing never pays in expectation. (Token F1, by definition,
    gives a k-item list holding the gold 2/(k+1): docs/rewards.md says so.)"""
    single, listed = samples.answer_turn("Paris"), samples.answer_turn(answer)
    for fn in ANSWER_REWARDS:
        best, guess = score(fn, [single, listed], [["Paris"]] * 2)
        assert best == 1.0 and guess < best, (fn.__name__, guess)
        if fn is not f1_reward:
            assert guess <= most, (fn.__name__, guess)


def test_sub_em_keeps_credit_for_one_verbose_candidate(samples):
    completions = [
        samples.answer_turn(a)
        for a in [
            "the city of Paris",
            "Washington, D.C.",
            "Tom and Jerry",
            "Paris, France",
            "1990s",
        ]
    ]
    golds = [["Paris"], ["Washington, D.C."], ["Tom and Jerry"], ["Paris"], ["1990"]]
    assert score(sub_exact_match_reward, completions, golds) == [1.0, 1.0, 1.0, 0.5, 0.0]


# ---- guard: the prompt's example -------------------------------------------------------------
def test_copied_prompt_example_scores_nothing(samples):
    echo = "<think>t</think>\nFor example, <answer> Beijing </answer>."
    own = samples.answer_turn("Beijing")
    prompts = [samples.prompt, [{"role": "user", "content": samples.prompt}], samples.prompt]
    for fn in ANSWER_REWARDS:
        rewards = score(fn, [echo, echo, own], [["Beijing"]] * 3, prompts=prompts)
        assert rewards == [0.0, 0.0, 1.0], fn.__name__


# ---- search_r1_format_reward: the v0.3 table ---------------------------------------------------
def test_search_r1_table_tags(samples):
    valid_right = samples.search_turn("q") + samples.answer_turn("Paris")
    invalid_right = "<think>t</think>\nParis!<answer>Paris</answer>"
    valid_wrong = samples.search_turn("q") + samples.answer_turn("Rome")
    valid_wrong_no_info = samples.answer_turn("Rome")
    invalid_wrong = "<answer>Rome</answer>"
    no_answer = samples.search_turn("q")
    completions = [
        valid_right,
        invalid_right,
        valid_wrong,
        valid_wrong_no_info,
        invalid_wrong,
        no_answer,
    ]
    golds = [["Paris"]] * len(completions)
    assert score(search_r1_format_reward, completions, golds) == pytest.approx(
        [1.0, 0.8, 0.2, 0.2, 0.1, 0.0]
    )
    with_retrieval = make_search_r1_format_reward(retrieval_score=0.1)
    assert score(with_retrieval, completions, golds) == pytest.approx(
        [1.0, 0.8, 0.3, 0.2, 0.1, 0.0]
    )


def test_search_r1_table_tools(samples, render_qwen):
    valid_right = samples.tool_messages("q", answer="<answer>Paris</answer>")
    invalid_right = samples.tool_messages("q", answer="<answer>Paris</answer> done")
    valid_wrong = render_qwen(samples.tool_messages("q", answer="<answer>Rome</answer>"))
    invalid_wrong = [
        {"role": "assistant", "content": "<think>hm</think>\n<answer>Rome</answer> sure"}
    ]
    no_answer = samples.tool_messages("q")[:-1]
    completions = [valid_right, invalid_right, valid_wrong, invalid_wrong, no_answer]
    with_retrieval = make_search_r1_format_reward(retrieval_score=0.1)
    rewards = score(with_retrieval, completions, [["Paris"]] * 5, protocol=["tools"] * 5)
    assert rewards == pytest.approx([1.0, 0.8, 0.3, 0.1, 0.0])


def test_search_r1_constants_are_checked():
    with pytest.raises(ValueError, match="retrieval_score must be in"):
        make_search_r1_format_reward(retrieval_score=1.5)


# ---- format_reward ---------------------------------------------------------------------------
def test_format_reward_values(samples, render_qwen):
    tags = make_format_reward("tags")
    good, bad = samples.search_turn("q") + samples.answer_turn("x"), "x <answer>x</answer>"
    assert tags([good, bad]) == [1.0, 0.0]
    tools = make_format_reward("tools")
    plain = samples.tool_messages(answer="Paris")
    assert tools([samples.tool_messages("q"), render_qwen(samples.tool_messages("q")), plain]) == [
        1.0,
        1.0,
        1.0,
    ]
    assert tools([good]) == [0.0]  # tags markup is not a tool call
    with pytest.raises(ValueError, match="unknown protocol"):
        make_format_reward("json")


# ---- make_search_budget_reward -------------------------------------------------------------------
def test_budget_penalty_from_rollout_counts():
    penalty = make_search_budget_reward(max_searches=2, cost=0.25)
    assert penalty(["", "", ""], num_searches=[0, 2, 5]) == [0.0, 0.0, -0.75]


def test_budget_penalty_counts_searches_in_the_completion(samples, render_qwen):
    penalty = make_search_budget_reward(max_searches=1, cost=0.5)
    tags = "".join(samples.search_turn(q) for q in "abc") + samples.answer_turn("x")
    tools = samples.tool_messages("a", "b")
    assert penalty([tags, tools, render_qwen(tools)]) == [-1.0, -0.5, -0.5]
    mentions = (
        "<think>t</think>\n" + samples.invalid_action
    )  # "<search> and </search>" is no search
    assert penalty([mentions], protocol=["tags"]) == [0.0]


@pytest.mark.parametrize(
    "args", [{"max_searches": -1}, {"max_searches": 1.5}, {"max_searches": 1, "cost": 0}]
)
def test_budget_penalty_arguments_are_checked(args):
    with pytest.raises(ValueError):
        make_search_budget_reward(**args)
