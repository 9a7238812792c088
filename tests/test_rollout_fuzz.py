"""Hostile model output, fuzzed (seeded, bounded): thousands of malformed turns per protocol go
through parse and the rollout engine with a real index, side by side with good samples in the
same batches. No exception escapes, every malformed sample is counted as invalid, and the good
samples still search and answer."""

from __future__ import annotations

import json
import random

import pytest

from agentic_rag.protocols import make_protocol
from agentic_rag.recipe.sections import ProtocolConfig, RolloutConfig
from agentic_rag.rollout import RolloutEngine

from .conftest import ScriptedBackend

SAMPLES = 1500
BATCH = 60  # two thirds hostile, one third good


def _tags_hostile(rng: random.Random) -> str:
    word = rng.choice(
        ["<search>", "<answer>", "</search>", "</answer>", "<information>", "<think>"]
    )
    return rng.choice(
        [
            word * rng.randint(1, 3000),
            "<search>" + "x" * rng.randint(301, 2000) + "</search>",  # query over the limit
            "<search>   </search>",
            "<search>\n\t</search>",
            "</search> <search>",
            "<answer> unfinished",
            "<<search>>" + "[" * rng.randint(1, 500),
            "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 200))),
            "<search> and </search>",  # copied from the instructions
            "<|im_start|>assistant\n<search>",
            "",
        ]
    )


def _tools_hostile(rng: random.Random) -> str:
    body = rng.choice(
        [
            '{"name": "search", "arguments": ' + "[" * rng.randint(500, 3000),
            '{"name": "search", "arguments": {"query": "\\ud800"}}',  # a lone surrogate
            '{"name": "search", "arguments": {"query": ""}}',
            '{"name": "search", "arguments": {"query": 7}}',
            '{"name": "search", "arguments": {"query": ' + json.dumps("q" * 400) + "}}",
            '{"name": "browse", "arguments": {"url": "x"}}',
            '{"name": "search"}',
            "not json at all {",
            "[]",
            '{"name": "search", "arguments": "{\\"query\\": "}',
            "{" * rng.randint(1, 2000),
        ]
    )
    tail = rng.choice(["\n</tool_call><|im_end|>", "<|im_end|>", "\n</tool_call>", ""])
    return rng.choice(["<tool_call>\n", "<tool_call>"]) + body + tail


@pytest.mark.parametrize("name", ["tags", "tools"])
def test_hostile_turns_never_crash_and_never_poison_a_batch(tokenizer, retriever, tiny_world, name):
    rows = [json.loads(line) for line in tiny_world.train.read_text().splitlines()]
    protocol = make_protocol(tokenizer, ProtocolConfig(name=name))
    hostile = _tags_hostile if name == "tags" else _tools_hostile
    rng = random.Random(0)
    good_turn = {
        "tags": lambda q: f"<search> {q} </search>",
        "tools": lambda q: (
            '<tool_call>\n{"name": "search", "arguments": '
            + json.dumps({"query": q})
            + "}\n</tool_call><|im_end|>"
        ),
    }[name]
    answer = {"tags": "<answer> ok </answer>", "tools": "<answer>ok</answer><|im_end|>"}[name]
    invalid = good = 0
    for batch_start in range(0, SAMPLES, BATCH):
        questions, scripts, kinds = [], {}, []
        for i in range(batch_start, batch_start + BATCH):
            question = f"Question number {i}?"
            prompt = tuple(protocol.prompt_ids(question))
            if i % 3 == 0:
                row = rows[i % len(rows)]
                scripts[prompt] = [good_turn(row["hops"][0]["query"]), answer]
                kinds.append("good")
            else:
                text = hostile(rng)
                if name == "tags" and text.endswith("<|im_end|>"):
                    text = text[: -len("<|im_end|>")]
                scripts[prompt] = [text, answer]
                kinds.append("bad")
            questions.append(question)
        engine = RolloutEngine(
            ScriptedBackend(tokenizer, scripts), retriever, protocol, RolloutConfig(max_turns=2)
        )
        for t, kind in zip(engine.run(questions), kinds, strict=True):
            assert len(t.completion_ids) == len(t.env_mask) == len(t.logprobs)
            if kind == "good":
                assert t.num_searches == 1 and t.num_search_errors == 0, t.turns
                assert t.final_answer == "ok" and t.num_invalid == 0
                good += 1
            else:
                assert t.num_invalid >= 1 or t.finish_reason == "no_action", t.turns[0]
                assert t.num_search_errors == 0
                invalid += 1
    assert good == SAMPLES // 3 and invalid == SAMPLES - good
