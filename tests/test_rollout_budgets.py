"""Budgets on untrusted text: a question whose prompt cannot fit the model's context beside the
completion budget is refused alone (its record says why), tokenized only as far as the limit
needs; passages are cut before they are tokenized; no backend ever sees a prompt it cannot
hold. On the tiny model and on the real SmolLM2-135M-Instruct."""

from __future__ import annotations

import json

import pytest

from agentic_rag.backends.hf import HFBackend
from agentic_rag.evaluation.evaluate import EvalSettings, evaluate
from agentic_rag.evaluation.predictions import read_predictions
from agentic_rag.protocols import ProtocolConfig, make_protocol
from agentic_rag.protocols.base import MAX_CHARS_PER_TOKEN
from agentic_rag.rollout import PromptBudget, RolloutConfig
from retriever_index.base import Hit

HUGE = "who wrote the play hamlet and when " * 150_000  # 5.25 MB


class HugePassages:
    """A search tool whose every passage is 5 MB of text."""

    def search_batch(self, queries, k):
        return [[Hit(f"h{i}", "Huge", HUGE, 1.0) for i in range(k)] for _ in queries]


def _questions(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_huge_question_is_refused_alone_after_tokenizing_only_a_prefix(tokenizer):
    protocol = make_protocol(tokenizer, ProtocolConfig(use_chat_template=False))
    budget = PromptBudget(protocol, context=2048, max_completion_tokens=512)
    asked: list[int] = []
    real = protocol.prompt_ids
    protocol.prompt_ids = lambda q: asked.append(len(q)) or real(q)
    refused = budget.start(HUGE)
    assert refused.finish_reason == "prompt_too_long" and refused.prompt_ids == []
    assert refused.error.startswith("prompt too long: more than 1,536 tokens (a question of ")
    assert "the model's 2,048-token context less rollout.max_completion_tokens=512" in refused.error
    assert max(asked) <= 1536 * MAX_CHARS_PER_TOKEN  # never the whole 5 MB
    ok = budget.start("Who employs Vekem Brobrath?")
    assert ok.error is None and ok.prompt_ids == real("Who employs Vekem Brobrath?")
    with pytest.raises(ValueError, match="leaves no room for a prompt"):
        PromptBudget(protocol, context=512, max_completion_tokens=512)


def test_eval_answers_the_rest_and_records_why_one_was_refused(tiny_world, tmp_path, prompt_sizes):
    rows = [json.loads(line) for line in tiny_world.test.read_text().splitlines()][:3]
    rows.insert(1, {"id": "huge", "question": HUGE, "answers": ["Shakespeare"]})
    settings = EvalSettings(
        model=str(tiny_world.model),
        data=[str(_questions(tmp_path / "q.jsonl", rows))],
        modes=["direct", "naive", "agentic"],
        out=str(tmp_path / "run"),
        protocol=ProtocolConfig(use_chat_template=False, max_obs_tokens=64),
        rollout=RolloutConfig(max_turns=2, max_turn_tokens=8, max_completion_tokens=256, topk=2),
        batch_size=4,
        progress=False,
    )
    results = evaluate(settings, search=HugePassages())  # 5 MB passages too
    preds = read_predictions(tmp_path / "run")
    assert len(preds) == 4 * 3
    for p in preds:
        if p.id == "huge":
            assert p.finish_reason == "prompt_too_long" and p.error.startswith("prompt too long")
            assert p.em == 0 and p.num_turns == 0 and p.num_searches == 0
            assert len(p.question) < 2100 and p.question.endswith(
                f"[{len(HUGE.strip()):,} characters]"
            )
        else:
            assert p.error is None and p.num_turns >= 1 and p.generated_tokens > 0
    for mode in ("direct", "naive", "agentic"):
        assert results[next(iter(results))][mode].refused == 1
    assert "Refused questions (1 in" in (tmp_path / "run" / "report.md").read_text()
    assert prompt_sizes and max(prompt_sizes) <= 2048  # the tiny model's context


def test_the_backend_refuses_a_prompt_longer_than_its_context(tiny_world, tokenizer):
    """The last guard, for callers that bypass the rollout engine."""
    from transformers import AutoModelForCausalLM

    from agentic_rag.backends.base import SamplingParams

    backend = HFBackend(AutoModelForCausalLM.from_pretrained(tiny_world.model), tokenizer)
    assert backend.context_tokens == 2048
    with pytest.raises(ValueError, match="a prompt of 2,049 tokens exceeds the model's 2,048"):
        backend.generate([[1] * 2049], SamplingParams(max_new_tokens=1, temperature=0.0))


def test_training_leaves_out_questions_that_cannot_fit(tiny_world):
    from agentic_rag import pipeline
    from agentic_rag.data.qa import load_qa
    from agentic_rag.recipe import load_recipe
    from agentic_rag.rollout import Trajectory
    from agentic_rag.training.grpo import rollout_output

    recipe = load_recipe(
        None,
        ["use_cpu=true", "bf16=false", f"model_name_or_path={tiny_world.model}"],
    )
    questions = load_qa(str(tiny_world.train))[:5]
    huge = type(questions[0])(**{**vars(questions[0]), "id": "huge", "question": HUGE})
    kept, refused = pipeline.fitting_questions(recipe, [*questions, huge])
    assert [e.id for e in kept] == [e.id for e in questions] and refused == 1
    with pytest.raises(ValueError, match="leave such questions out of the training set"):
        rollout_output([Trajectory([], finish_reason="prompt_too_long", error="x")], "tags", None)
