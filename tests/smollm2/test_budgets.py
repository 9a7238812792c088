"""The issue's 5 MB question on the real SmolLM2-135M-Instruct: `eval` allocated terabytes in
backends/hf.py; now that question is refused alone, with its reason, and the rest is answered."""

from __future__ import annotations

import json

import pytest

from agentic_rag.evaluation.evaluate import EvalSettings, evaluate
from agentic_rag.evaluation.predictions import read_predictions
from agentic_rag.recipe.sections import RetrieverConfig, RolloutConfig

HUGE = "who wrote the play hamlet and when " * 150_000  # 5.25 MB


@pytest.mark.slow
def test_smollm2_eval_survives_a_5mb_question(smollm2_dir, tiny_world, tmp_path, prompt_sizes):
    """The issue's example on the real model: it allocated terabytes in backends/hf.py."""
    rows = [
        {"id": "ok", "question": "What is the capital of France?", "answers": ["Paris"]},
        {"id": "huge", "question": HUGE, "answers": ["Shakespeare"]},
    ]
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings = EvalSettings(
        model=str(smollm2_dir),
        data=[str(questions)],
        modes=["direct", "agentic"],
        out=str(tmp_path / "run"),
        rollout=RolloutConfig(max_turns=2, max_turn_tokens=16, max_completion_tokens=1024),
        retriever=RetrieverConfig(index=str(tiny_world.index)),
        batch_size=2,
        device="cpu",
        progress=False,
    )
    evaluate(settings)
    preds = {(p.id, p.mode): p for p in read_predictions(tmp_path / "run")}
    for mode in ("direct", "agentic"):
        assert preds[("huge", mode)].finish_reason == "prompt_too_long"
        assert "the model's 8,192-token context" in preds[("huge", mode)].error
        assert preds[("ok", mode)].error is None and preds[("ok", mode)].generated_tokens > 0
    assert max(prompt_sizes) <= 8192
