"""Both protocols on the real SmolLM2-135M-Instruct tokenizer and model: prompts inside its chat
template, stop strings that end inside a BPE token, EOS = pad, and the tools protocol through
the ChatML tool template (tool call round trip, observation frame, env_mask spans)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentic_rag.protocols import make_protocol
from agentic_rag.protocols.base import format_passages
from agentic_rag.protocols.tags import SEARCH_R1_TEMPLATE
from agentic_rag.protocols.tool_template import CHATML_RESPONSE_TEMPLATE, default_system_prompt
from agentic_rag.protocols.tools import SEARCH_TOOL
from agentic_rag.recipe.sections import ProtocolConfig, RolloutConfig
from agentic_rag.rollout import RolloutEngine
from retriever_index.base import Hit

from ..conftest import ScriptedBackend

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
QUESTION = "Who founded the company that makes Windows?"


@pytest.fixture(scope="module")
def load_tokenizer(smollm2_dir: Path):
    """A fresh tokenizer per call: the tools protocol changes the one it is given."""
    from transformers import AutoTokenizer

    return lambda: AutoTokenizer.from_pretrained(smollm2_dir)


@pytest.fixture(scope="module")
def model(smollm2_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(smollm2_dir)


class FixedSearch:
    """Two known passages per query, so observations are predictable."""

    def __init__(self):
        self.queries: list[str] = []

    def search_batch(self, queries: list[str], k: int) -> list[list[Hit]]:
        self.queries += queries
        return [
            [Hit(f"{q}-{i}", f"Title {i}", f"Passage {i} about {q}.", 1.0 - i) for i in range(k)]
            for q in queries
        ]


# ---- tags ------------------------------------------------------------------------------------
def test_tags_prompt_is_the_chat_template_with_the_default_system_prompt(load_tokenizer):
    tok = load_tokenizer()
    ids = make_protocol(tok, ProtocolConfig(name="tags")).prompt_ids(QUESTION)
    text = tok.decode(ids)
    user = SEARCH_R1_TEMPLATE.format(question=QUESTION)
    assert text == (
        f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert ids[0] == tok.bos_token_id == 1  # the template writes <|im_start|>; nothing is added
    assert ids.count(2) == 2 and ids[-4:] == tok.encode("<|im_start|>assistant\n")
    custom = make_protocol(tok, ProtocolConfig(name="tags", system_prompt="Be brief."))
    assert tok.decode(custom.prompt_ids(QUESTION)).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>"
    )


def test_stop_string_ending_inside_a_token_stops_and_parses(load_tokenizer):
    """`</answer>.` ends in the token `>.`: the stop string is complete in the middle of it.
    The backend's stop criterion fires on that token and the turn still parses."""
    import torch
    from transformers.generation.stopping_criteria import StopStringCriteria

    tok = load_tokenizer()
    protocol = make_protocol(tok, ProtocolConfig(name="tags"))
    stop = StopStringCriteria(tok, list(protocol.stop))
    for action, text in (
        ("answer", "<answer> Paris </answer>."),
        ("search", "<search> q </search>."),
    ):
        ids = tok.encode(f"<think> t </think>\n{text}", add_special_tokens=False)
        assert tok.convert_ids_to_tokens(ids[-1]) == ">."  # one token across the tag end
        fired = [bool(stop(torch.tensor([ids[:n]]), None)[0]) for n in range(1, len(ids) + 1)]
        assert fired[-1] and not any(fired[:-1])  # exactly at the token completing the stop
        parsed = protocol.parse(ids, [], "stop")
        assert parsed.kind == action
        assert (parsed.answer if action == "answer" else parsed.queries[0]) in ("Paris", "q")


def test_tags_turns_of_the_real_model_stop_at_its_eos(load_tokenizer, model):
    """Zero-shot SmolLM2 answers in plain text and ends with <|im_end|> (EOS = pad = 2): the
    episode ends there, nothing is generated after it, and rows that finished early in a
    batch carry no padding as model tokens."""
    from agentic_rag.backends.hf import HFBackend

    tok = load_tokenizer()
    protocol = make_protocol(tok, ProtocolConfig(name="tags"))
    search = FixedSearch()
    engine = RolloutEngine(
        HFBackend(model, tok), search, protocol, RolloutConfig(max_turns=2, max_turn_tokens=32)
    )
    questions = ["What is the capital of Australia?", QUESTION]
    for t in engine.run(questions):
        assert len(t.completion_ids) == len(t.env_mask) == len(t.logprobs)
        for turn in t.turns:
            model_ids = t.completion_ids[turn.start : turn.end]
            assert 2 not in model_ids[:-1]  # EOS, if any, is the turn's last token
        if t.finish_reason == "no_action":  # ended its turn with EOS and no tag
            assert t.completion_ids[-1] == 2 and t.env_mask[-1] == 1
        assert t.finish_reason in ("no_action", "answer", "max_turns", "max_tokens")


def test_forced_tag_prefix_stops_on_the_closing_token(load_tokenizer, model):
    """The real model completing `</answer` stops on the token that closes it."""
    from agentic_rag.backends.base import SamplingParams
    from agentic_rag.backends.hf import HFBackend

    tok = load_tokenizer()
    protocol = make_protocol(tok, ProtocolConfig(name="tags"))
    prompt = protocol.prompt_ids("What is the capital of France?")
    prompt += tok.encode("<answer> Paris </answer", add_special_tokens=False)
    (out,) = HFBackend(model, tok).generate(
        [prompt], SamplingParams(max_new_tokens=16, temperature=0.0, stop=protocol.stop)
    )
    assert out.finish_reason == "stop" and len(out.token_ids) == 1
    assert tok.decode(out.token_ids).startswith(">")


# ---- tools -----------------------------------------------------------------------------------
def test_tool_template_is_installed_and_changes_nothing_without_tools(load_tokenizer):
    original, tok = load_tokenizer(), load_tokenizer()
    assert not hasattr(tok, "response_template") or tok.response_template is None
    tags_before = make_protocol(tok, ProtocolConfig(name="tags")).prompt_ids(QUESTION)
    make_protocol(tok, ProtocolConfig(name="tools"))
    assert tok.response_template == CHATML_RESPONSE_TEMPLATE
    assert default_system_prompt(tok) == DEFAULT_SYSTEM
    assert make_protocol(tok, ProtocolConfig(name="tags")).prompt_ids(QUESTION) == tags_before
    conversations = [
        [{"role": "user", "content": "hi"}],
        [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "bye"},
        ],
    ]
    for messages in conversations:
        for generation in (False, True):
            new = tok.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation
            )
            old = original.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation
            )
            assert new == old


def test_tools_prompt_lists_the_search_tool_in_the_system_turn(load_tokenizer):
    tok = load_tokenizer()
    protocol = make_protocol(tok, ProtocolConfig(name="tools"))
    text = tok.decode(protocol.prompt_ids(QUESTION))
    system = text.split("<|im_end|>")[0]
    assert system.startswith(f"<|im_start|>system\n{DEFAULT_SYSTEM}\n\n")
    assert json.dumps(SEARCH_TOOL) in system and "<tool_call>" in system
    assert text.endswith(f"{QUESTION}<|im_end|>\n<|im_start|>assistant\n")


def test_tool_call_round_trip_and_observation_frame(load_tokenizer):
    """A search call the template renders parses back to the same query; the observation is
    the template's own framing of the results, token for token."""
    from agentic_rag.protocols import Action

    tok = load_tokenizer()
    protocol = make_protocol(tok, ProtocolConfig(name="tools"))
    prompt = protocol.prompt_ids(QUESTION)
    queries = ("founder of Microsoft", 'Bill "Gates" née')
    action = Action("search", queries=queries)
    turn = protocol.encode(protocol.action_text(action)) + protocol.turn_end_ids(action)
    parsed = protocol.parse(turn, prompt, "eos")
    assert (parsed.kind, parsed.queries) == ("search", queries)

    results = FixedSearch().search_batch(list(queries), 2)
    obs = protocol.observation_ids(parsed, results, budget=10_000)
    calls = [
        {"type": "function", "function": {"name": "search", "arguments": {"query": q}}}
        for q in queries
    ]
    messages = [
        {"role": "user", "content": protocol._messages(QUESTION)[0]["content"]},
        {"role": "assistant", "content": "", "tool_calls": calls},
        *({"role": "tool", "name": "search", "content": format_passages(r)} for r in results),
    ]
    rendered = tok.apply_chat_template(
        messages, tools=[SEARCH_TOOL], tokenize=False, add_generation_prompt=True
    )
    # non-ASCII arguments: our demonstration writes \\u escapes, the template raw UTF-8;
    # both parse to the same query, so compare the observation part token for token
    assert tok.decode(obs) == rendered[rendered.rindex("</tool_call><|im_end|>") + 22 :]
    assert tok.decode(obs).startswith("\n<|im_start|>user\n<tool_response>\nDoc 1(Title:")
    assert tok.decode(obs).endswith("</tool_response><|im_end|>\n<|im_start|>assistant\n")
    assert prompt + turn + obs == tok.encode(
        tok.decode(prompt + turn) + tok.decode(obs), add_special_tokens=False
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("The answer is Bill Gates.", "answer"),
        ('<tool_call>\n{"name": "search", "arguments": {"query": "x"\n</tool_call>', "invalid"),
        ('<tool_call>\n{"name": "lookup", "arguments": {"query": "x"}}\n</tool_call>', "invalid"),
    ],
)
def test_tools_parse_never_raises_on_real_tokens(load_tokenizer, text, kind):
    tok = load_tokenizer()
    protocol = make_protocol(tok, ProtocolConfig(name="tools"))
    ids = tok.encode(text, add_special_tokens=False) + [2]
    assert protocol.parse(ids, protocol.prompt_ids(QUESTION), "eos").kind == kind


def test_tools_env_mask_spans_with_scripted_turns(load_tokenizer, mask_spans):
    tok = load_tokenizer()
    protocol = make_protocol(tok, ProtocolConfig(name="tools"))
    call = (
        '<tool_call>\n{"name": "search", "arguments": {"query": "Microsoft founder"}}\n</tool_call>'
    )
    script = {tuple(protocol.prompt_ids(QUESTION)): [call + "<|im_end|>", "Bill Gates<|im_end|>"]}
    search = FixedSearch()
    engine = RolloutEngine(ScriptedBackend(tok, script), search, protocol, RolloutConfig(topk=2))
    (t,) = engine.run([QUESTION])
    assert (t.finish_reason, t.final_answer, search.queries) == (
        "answer",
        "Bill Gates",
        ["Microsoft founder"],
    )
    spans = mask_spans(t.completion_ids, t.env_mask)
    assert [m for m, _ in spans] == [1, 0, 1]
    assert tok.decode(spans[0][1]) == call + "<|im_end|>"
    observation = tok.decode(spans[1][1])
    assert observation.startswith("\n<|im_start|>user\n<tool_response>\nDoc 1(Title: ")
    assert "Passage 1 about Microsoft founder." in observation
    assert observation.endswith("</tool_response><|im_end|>\n<|im_start|>assistant\n")
    assert tok.decode(spans[2][1]) == "Bill Gates<|im_end|>"


def test_tools_turns_of_the_real_model(load_tokenizer, model, mask_spans):
    """A few real turns through the tool template: every turn parses to an action, env tokens
    are exactly the observation frames, and the prompt the model saw lists the tool."""
    from agentic_rag.backends.hf import HFBackend

    tok = load_tokenizer()
    protocol = make_protocol(tok, ProtocolConfig(name="tools"))
    engine = RolloutEngine(
        HFBackend(model, tok),
        FixedSearch(),
        protocol,
        RolloutConfig(max_turns=2, max_turn_tokens=32),
    )
    for t in engine.run(["Use the search tool to find who founded Microsoft.", QUESTION]):
        assert all(turn.action in ("search", "answer", "invalid") for turn in t.turns)
        for mask, ids in mask_spans(t.completion_ids, t.env_mask):
            if mask == 0:
                text = tok.decode(ids)
                assert text.endswith("<|im_start|>assistant\n") and "<tool_response>" in text
        assert t.finish_reason in ("answer", "max_turns", "max_tokens")
