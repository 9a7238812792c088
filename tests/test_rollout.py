"""The rollout engine's invariants, on real protocols, a real index and known model output."""

from __future__ import annotations

import json

import pytest

from agentic_rag.protocols import make_protocol
from agentic_rag.protocols.tags import INVALID_ACTION_MESSAGE
from agentic_rag.recipe.sections import ProtocolConfig, RolloutConfig
from agentic_rag.rollout import RolloutEngine

from .conftest import ScriptedBackend


class CountingSearch:
    def __init__(self, inner):
        self.inner, self.calls, self.batches = inner, 0, []

    def search_batch(self, queries, k):
        self.calls += 1
        self.batches.append(list(queries))
        return self.inner.search_batch(queries, k)


def _questions(tiny_world, n):
    rows = [json.loads(line) for line in tiny_world.train.read_text().splitlines()]
    return rows[:n]


def test_tags_env_mask_covers_exactly_observations(tokenizer, retriever, tiny_world, mask_spans):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    rows = _questions(tiny_world, 3)
    turns = {
        0: [
            f"<think>look</think>\n<search>{rows[0]['hops'][0]['query']}</search>",
            "<answer>x</answer>",
        ],
        1: ["I will not follow the format", "<answer>y</answer>"],
        2: ["<answer>z</answer>"],
    }
    scripts = {tuple(protocol.prompt_ids(r["question"])): turns[i] for i, r in enumerate(rows)}
    backend = ScriptedBackend(tokenizer, scripts)
    search = CountingSearch(retriever)
    engine = RolloutEngine(backend, search, protocol, RolloutConfig(max_turns=4, topk=2))
    trajs = engine.run([r["question"] for r in rows])

    searched, invalid, direct = trajs
    spans = mask_spans(searched.completion_ids, searched.env_mask)
    assert [m for m, _ in spans] == [1, 0, 1, 0]  # turn, information, answer turn, closing EOS
    obs = tokenizer.decode(spans[1][1])
    hits = retriever.search(rows[0]["hops"][0]["query"], 2)
    assert obs.startswith("\n\n<information>Doc 1(Title: ") and obs.endswith("</information>\n\n")
    assert all(h.text in obs for h in hits)
    assert tokenizer.decode(spans[0][1]) == turns[0][0]
    assert tokenizer.decode(spans[2][1]) == "<answer>x</answer>"
    assert spans[3][1] == [tokenizer.eos_token_id]
    assert searched.retrieved_ids == [h.id for h in hits] and searched.num_searches == 1

    spans = mask_spans(invalid.completion_ids, invalid.env_mask)
    assert tokenizer.decode(spans[1][1]) == INVALID_ACTION_MESSAGE
    assert invalid.num_invalid == 1 and invalid.final_answer == "y"
    assert direct.num_turns == 1 and direct.finish_reason == "answer"
    for t in trajs:  # log-probs: sampled values on model tokens, exactly 0 on env tokens
        assert len(t.logprobs) == len(t.completion_ids) == len(t.env_mask)
        assert all((lp == 0.0) == (m == 0) for lp, m in zip(t.logprobs, t.env_mask, strict=True))


def test_tools_env_mask_covers_exactly_tool_messages(tokenizer, retriever, tiny_world, mask_spans):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tools"))
    rows = _questions(tiny_world, 2)
    q = rows[0]["hops"][0]["query"]
    call = (
        '<tool_call>\n{"name": "search", "arguments": {"query": "'
        + q
        + '"}}\n</tool_call><|im_end|>'
    )
    scripts = {
        tuple(protocol.prompt_ids(rows[0]["question"])): [call, "<answer>x</answer><|im_end|>"],
        tuple(protocol.prompt_ids(rows[1]["question"])): ["plain answer<|im_end|>"],
    }
    engine = RolloutEngine(
        ScriptedBackend(tokenizer, scripts), retriever, protocol, RolloutConfig(topk=2)
    )
    t, plain = engine.run([r["question"] for r in rows])
    spans = mask_spans(t.completion_ids, t.env_mask)
    assert [m for m, _ in spans] == [1, 0, 1]
    obs = tokenizer.decode(spans[1][1])
    assert obs.startswith("\n<|im_start|>user\n<tool_response>\n") and obs.endswith(
        "<|im_start|>assistant\n"
    )
    assert all(h.text in obs for h in retriever.search(q, 2))
    # The whole completion is what the chat template renders for this conversation.
    hits = retriever.search(q, 2)
    from agentic_rag.protocols.base import format_passages

    messages = [
        {"role": "user", "content": protocol.config.template or ""},
    ]
    del messages  # rendering equivalence is checked through the template frame below
    rendered = tokenizer.apply_chat_template(
        [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"type": "function", "function": {"name": "search", "arguments": {"query": q}}}
                ],
            },
            {"role": "tool", "name": "search", "content": format_passages(hits)},
        ],
        tools=[__import__("agentic_rag.protocols.tools", fromlist=["SEARCH_TOOL"]).SEARCH_TOOL],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert rendered.endswith(obs[1:])
    assert t.final_answer == "x" and plain.final_answer == "plain answer"


def test_one_generate_and_one_search_per_turn(tokenizer, retriever, tiny_world):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    rows = _questions(tiny_world, 6)
    scripts = {
        tuple(protocol.prompt_ids(r["question"])): [
            f"<search>{h['query']}</search>" for h in r["hops"]
        ]
        + ["<answer>a</answer>"]
        for r in rows
    }
    backend = ScriptedBackend(tokenizer, scripts)
    search = CountingSearch(retriever)
    engine = RolloutEngine(backend, search, protocol, RolloutConfig(max_turns=4, topk=3))
    trajs = engine.run([r["question"] for r in rows])
    turns = max(t.num_turns for t in trajs)
    assert backend.calls == turns
    assert search.calls == max(len(r["hops"]) for r in rows)  # one batched call per searching turn
    assert len(search.batches[0]) == len(rows)  # every trajectory's first search in one call
    assert all(t.finish_reason == "answer" for t in trajs)


def test_a_collective_backend_is_called_on_every_turn(tokenizer, retriever, tiny_world):
    """A collective backend (vLLM server mode with several training processes) must be called
    the same number of times by every process: once per turn, with an empty batch once this
    process's trajectories are done, never more."""
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    rows = _questions(tiny_world, 2)
    scripts = {tuple(protocol.prompt_ids(r["question"])): ["<answer>a</answer>"] for r in rows}
    backend = ScriptedBackend(tokenizer, scripts)
    engine = RolloutEngine(backend, retriever, protocol, RolloutConfig(max_turns=4))
    engine.run([r["question"] for r in rows])
    assert backend.batch_sizes == [2]  # a local backend stops when everything is answered

    backend = ScriptedBackend(tokenizer, scripts)
    backend.collective = True
    engine = RolloutEngine(backend, retriever, protocol, RolloutConfig(max_turns=4))
    trajs = engine.run([r["question"] for r in rows])
    assert backend.batch_sizes == [2, 0, 0, 0]
    assert all(t.finish_reason == "answer" and t.num_turns == 1 for t in trajs)


def test_malformed_actions_become_counted_error_observations(tokenizer, retriever, tiny_world):
    tags = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    rows = _questions(tiny_world, 3)
    scripts = {
        tuple(tags.prompt_ids(rows[0]["question"])): ["<search>   </search>", "<answer>a</answer>"],
        tuple(tags.prompt_ids(rows[1]["question"])): [
            "<search>" + "x" * 100 + "</search>",
            "<answer>a</answer>",
        ],
        tuple(tags.prompt_ids(rows[2]["question"])): ["<sear", "<answer>a</answer>"],
    }
    search = CountingSearch(retriever)
    empty, long, broken = RolloutEngine(
        ScriptedBackend(tokenizer, scripts), search, tags, RolloutConfig(max_query_chars=40)
    ).run([r["question"] for r in rows])
    assert search.calls == 0  # nothing invalid reaches the retriever
    assert "Search error: search query is empty" in tokenizer.decode(empty.completion_ids)
    assert "has 100 characters; the limit is 40" in tokenizer.decode(long.completion_ids)
    assert INVALID_ACTION_MESSAGE in tokenizer.decode(broken.completion_ids)
    assert [t.num_invalid for t in (empty, long, broken)] == [1, 1, 1]

    tools = make_protocol(tokenizer, ProtocolConfig(name="tools"))
    bad = {
        tuple(tools.prompt_ids(rows[0]["question"])): [
            '<tool_call>\n{"name": "search", "argum\n</tool_call><|im_end|>',
            "ok<|im_end|>",
        ],
        tuple(tools.prompt_ids(rows[1]["question"])): [
            '<tool_call>\n{"name": "browse", "arguments": {"url": "x"}}\n</tool_call><|im_end|>',
            "ok<|im_end|>",
        ],
        tuple(tools.prompt_ids(rows[2]["question"])): [
            '<tool_call>\n{"name": "search", "arguments": {"query": 7}}\n</tool_call><|im_end|>',
            "ok<|im_end|>",
        ],
    }
    trajs = RolloutEngine(ScriptedBackend(tokenizer, bad), retriever, tools, RolloutConfig()).run(
        [r["question"] for r in rows]
    )
    texts = [tokenizer.decode(t.completion_ids) for t in trajs]
    assert "Error: malformed tool call" in texts[0]
    assert "Error: unknown tool 'browse'" in texts[1]
    assert "Error: search query is int, expected str" in texts[2]
    assert all(t.num_invalid == 1 and t.final_answer == "ok" for t in trajs)


def test_failed_retrieval_becomes_error_observation(tokenizer, tiny_world):
    class Down:
        def search_batch(self, queries, k):
            raise ConnectionError("retrieval server unreachable")

    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    row = _questions(tiny_world, 1)[0]
    scripts = {
        tuple(protocol.prompt_ids(row["question"])): ["<search>x</search>", "<answer>a</answer>"]
    }
    (t,) = RolloutEngine(
        ScriptedBackend(tokenizer, scripts), Down(), protocol, RolloutConfig()
    ).run([row["question"]])
    assert "search failed (ConnectionError: retrieval server unreachable)" in tokenizer.decode(
        t.completion_ids
    )
    assert t.num_search_errors == 1 and t.num_searches == 0 and t.final_answer == "a"


def test_budgets_are_enforced_before_generation(tokenizer, retriever, tiny_world):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    row = _questions(tiny_world, 1)[0]
    q = row["hops"][0]["query"]
    scripts = {tuple(protocol.prompt_ids(row["question"])): [f"<search>{q}</search>"] * 10}
    backend = ScriptedBackend(tokenizer, scripts)
    (t,) = RolloutEngine(backend, retriever, protocol, RolloutConfig(max_turns=3, topk=3)).run(
        [row["question"]]
    )
    assert t.finish_reason == "max_turns" and t.num_turns == 3
    assert t.num_searches == 2  # the last turn's search is not run: nobody would read it
    cfg = RolloutConfig(max_turns=10, max_completion_tokens=120)
    backend = ScriptedBackend(tokenizer, {k: [f"<search>{q}</search>"] * 10 for k in scripts})
    (t,) = RolloutEngine(backend, retriever, protocol, cfg).run([row["question"]])
    assert t.finish_reason == "max_tokens" and len(t.completion_ids) <= 120


@pytest.mark.parametrize("greedy", [True, False])
def test_hf_backend_stops_at_stop_strings(tokenizer, tiny_world, greedy):
    from transformers import AutoModelForCausalLM

    from agentic_rag.backends.base import SamplingParams
    from agentic_rag.backends.hf import HFBackend

    model = AutoModelForCausalLM.from_pretrained(tiny_world.model)
    backend = HFBackend(model, tokenizer)
    prompt = tokenizer.encode("hello", add_special_tokens=False)
    params = SamplingParams(
        max_new_tokens=40, temperature=0.0 if greedy else 1.0, stop=("</search>",)
    )
    for g in backend.generate([prompt] * 3, params):
        text = tokenizer.decode(g.token_ids)
        if g.finish_reason == "stop":
            assert text.endswith("</search>") or g.token_ids[-1] == tokenizer.eos_token_id
        else:
            assert len(g.token_ids) == 40 and "</search>" not in text
