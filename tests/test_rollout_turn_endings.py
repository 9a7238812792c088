"""How turns and episodes end: observations that do not fit, EOS without an action, replies cut
at the token cap, the start-of-sequence token, bad queries, hostile turns. After each of them
the trajectory is well-formed: nothing is generated after a missing observation or past EOS."""

from __future__ import annotations

import json

import pytest

from agentic_rag.protocols import make_protocol
from agentic_rag.protocols.tags import INVALID_ACTION_MESSAGE
from agentic_rag.recipe.sections import ProtocolConfig, RolloutConfig
from agentic_rag.rollout import RolloutEngine

from .conftest import ScriptedBackend


def _row(tiny_world, i=0):
    return [json.loads(line) for line in tiny_world.train.read_text().splitlines()][i]


def _run(tokenizer, retriever, protocol, turns, row, **budgets):
    backend = ScriptedBackend(tokenizer, {tuple(protocol.prompt_ids(row["question"])): turns})
    (t,) = RolloutEngine(backend, retriever, protocol, RolloutConfig(**budgets)).run(
        [row["question"]]
    )
    return t, backend


def _model_runs(t):
    """Indices where a model-token run starts (a new generation turn)."""
    return [i for i, m in enumerate(t.env_mask) if m and (i == 0 or not t.env_mask[i - 1])]


@pytest.mark.parametrize("room", [0, 5])
def test_tags_search_result_that_cannot_fit_ends_the_episode(
    tokenizer, retriever, tiny_world, room
):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    row = _row(tiny_world)
    turn = f"<search> {row['hops'][0]['query']} </search>"
    used = len(tokenizer.encode(turn, add_special_tokens=False))
    frame = len(protocol._head) + len(protocol._tail)
    t, backend = _run(
        tokenizer,
        retriever,
        protocol,
        [turn, "<answer> x </answer>"],
        row,
        max_completion_tokens=used + frame + room,
    )
    if room == 0:  # not one passage token fits: stop, never generate after a missing observation
        assert t.finish_reason == "max_tokens" and backend.calls == 1
        assert t.env_mask == [1] * used
    else:  # the passage is cut so the <information> frame closes within the budget
        obs = tokenizer.decode(
            [i for i, m in zip(t.completion_ids, t.env_mask, strict=True) if not m]
        )
        assert obs.startswith("\n\n<information>") and obs.endswith("</information>\n\n")
        assert len(t.completion_ids) == used + frame + room and backend.calls == 1
        assert t.finish_reason == "max_tokens"


def test_tags_invalid_message_that_cannot_fit_ends_the_episode(tokenizer, retriever, tiny_world):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    row = _row(tiny_world)
    message = len(tokenizer.encode(INVALID_ACTION_MESSAGE, add_special_tokens=False))
    turn = "no action here"
    used = len(tokenizer.encode(turn, add_special_tokens=False))
    t, backend = _run(
        tokenizer,
        retriever,
        protocol,
        [turn, "<answer> x </answer>"],
        row,
        max_completion_tokens=used + message - 1,
    )
    assert t.finish_reason == "max_tokens" and backend.calls == 1 and sum(t.env_mask) == used


@pytest.mark.parametrize("room", [3, 40])
def test_tools_results_are_cut_to_fit_or_end_the_episode(tokenizer, retriever, tiny_world, room):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tools"))
    row = _row(tiny_world)
    call = (
        '<tool_call>\n{"name": "search", "arguments": {"query": "'
        + row["hops"][0]["query"]
        + '"}}\n</tool_call><|im_end|>'
    )
    used = len(tokenizer.encode(call, add_special_tokens=False))
    frame = len(tokenizer.encode("".join(protocol._frame(1)), add_special_tokens=False))
    t, backend = _run(
        tokenizer,
        retriever,
        protocol,
        [call, "<answer>x</answer><|im_end|>"],
        row,
        max_completion_tokens=used + frame + room,
        topk=3,
    )
    assert len(t.completion_ids) <= used + frame + room
    if room == 3:  # the frame fits but almost no passage text: results cut, the turn continues
        obs = tokenizer.decode(
            [i for i, m in zip(t.completion_ids, t.env_mask, strict=True) if not m]
        )
        assert "<tool_response>" in obs and obs.endswith("<|im_start|>assistant\n")
    else:
        assert backend.calls >= 1
    # Whatever happens, the model never writes right after its own end-of-turn token.
    for start in _model_runs(t)[1:]:
        assert t.completion_ids[start - 1] != tokenizer.eos_token_id


def test_tools_frame_that_cannot_fit_ends_the_episode(tokenizer, retriever, tiny_world):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tools"))
    row = _row(tiny_world)
    call = '<tool_call>\n{"name": "search", "arguments": {"query": "a b"}}\n</tool_call><|im_end|>'
    used = len(tokenizer.encode(call, add_special_tokens=False))
    t, backend = _run(
        tokenizer,
        retriever,
        protocol,
        [call, "late<|im_end|>"],
        row,
        max_completion_tokens=used + 4,
    )
    assert t.finish_reason == "max_tokens" and backend.calls == 1 and t.env_mask == [1] * used


def test_tags_turn_ending_in_eos_without_an_action_ends_the_episode(
    tokenizer, retriever, tiny_world
):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    row = _row(tiny_world)
    t, backend = _run(
        tokenizer,
        retriever,
        protocol,
        ["I think it is Paris.<|im_end|>", "<answer> x </answer>"],
        row,
    )
    assert t.finish_reason == "no_action" and backend.calls == 1
    assert t.completion_ids[-1] == tokenizer.eos_token_id and all(t.env_mask)
    assert t.final_answer is None


def test_tools_reply_cut_at_the_token_cap_is_not_an_answer(tokenizer, retriever, tiny_world):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tools"))
    row = _row(tiny_world)
    long_reply = "The answer is surely a long story " * 20  # no end-of-turn token
    t, backend = _run(
        tokenizer,
        retriever,
        protocol,
        [long_reply, "<answer>x</answer><|im_end|>"],
        row,
        max_turn_tokens=16,
    )
    assert t.num_invalid == 1 and t.final_answer == "x" and backend.calls == 2
    first_obs = t.env_mask.index(0)
    # The environment closes the cut assistant turn before the tool message.
    assert t.completion_ids[first_obs] == tokenizer.eos_token_id
    obs = tokenizer.decode(t.completion_ids[first_obs : _model_runs(t)[1]])
    assert obs.startswith("<|im_end|>\n<|im_start|>user\n<tool_response>") and "cut off" in obs


def test_raw_prompts_get_the_start_token_the_tokenizer_adds(tokenizer):
    """Llama/Gemma base models expect BOS; a chat template writes its own, Qwen has none."""
    from tokenizers.processors import TemplateProcessing

    bos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    plain = make_protocol(tokenizer, ProtocolConfig(name="tags", use_chat_template=False))
    assert plain.prompt_ids("Who?")[0] != bos  # the tiny (Qwen-style) tokenizer adds nothing
    llama_like = tokenizer.__class__(tokenizer_object=tokenizer.backend_tokenizer)
    llama_like.chat_template = tokenizer.chat_template
    llama_like.eos_token = tokenizer.eos_token
    llama_like.backend_tokenizer.post_processor = TemplateProcessing(
        single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", bos)]
    )
    raw = make_protocol(llama_like, ProtocolConfig(name="tags", use_chat_template=False))
    assert raw.prompt_ids("Who?") == [bos, *plain.prompt_ids("Who?")]
    chat = make_protocol(llama_like, ProtocolConfig(name="tags"))
    assert chat.prompt_ids("Who?").count(bos) == 0  # the template renders the whole prompt


def test_one_bad_query_never_fails_the_good_ones(tokenizer, retriever, tiny_world):
    """A query the retriever raises on is isolated; the others in the turn still search."""

    class Picky:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def search_batch(self, queries, k):
            self.calls += 1
            if any("boom" in q for q in queries):
                raise RuntimeError("tokenizer exploded")
            return self.inner.search_batch(queries, k)

    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    rows = [_row(tiny_world, i) for i in range(3)]
    turns = [f"<search> {r['hops'][0]['query']} </search>" for r in rows[:2]] + [
        "<search> boom </search>"
    ]
    backend = ScriptedBackend(
        tokenizer,
        {
            tuple(protocol.prompt_ids(r["question"])): [t, "<answer> x </answer>"]
            for r, t in zip(rows, turns, strict=True)
        },
    )
    search = Picky(retriever)
    trajectories = RolloutEngine(backend, search, protocol, RolloutConfig(max_turns=2)).run(
        [r["question"] for r in rows]
    )
    good, good2, bad = trajectories
    assert good.num_searches == good2.num_searches == 1 and good.num_search_errors == 0
    assert bad.num_search_errors == 1 and bad.num_searches == 0
    assert "tokenizer exploded" in tokenizer.decode(bad.completion_ids)


@pytest.mark.parametrize("name", ["tags", "tools"])
def test_parse_never_raises(tokenizer, name):
    protocol = make_protocol(tokenizer, ProtocolConfig(name=name))
    nested = "[" * 5000
    hostile = [
        [],
        tokenizer.encode(
            '<tool_call>\n{"name": "search", "arguments": ' + nested, add_special_tokens=False
        ),
        tokenizer.encode("<search>" * 20000, add_special_tokens=False),
        tokenizer.encode(
            '<tool_call>\n{"name": "search", "arguments": {"query": "\\ud800"}}\n</tool_call>',
            add_special_tokens=False,
        ),
        [tokenizer.eos_token_id] * 3,
    ]
    for turn in hostile:
        for finish in ("stop", "eos", "length"):
            action = protocol.parse(turn, [], finish)
            assert action.kind in ("search", "answer", "invalid", "end")
