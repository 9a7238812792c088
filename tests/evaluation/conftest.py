"""Fixtures for evaluation tests: a factory of valid `Prediction` records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentic_rag.evaluation.predictions import Prediction


def _prediction(**overrides: Any) -> Prediction:
    fields: dict[str, Any] = {
        "id": "q0",
        "dataset": "hotpotqa",
        "mode": "agentic",
        "question": "Which city?",
        "answers": ["Paris"],
        "prediction": "Paris",
        "em": 1.0,
        "sub_em": 1.0,
        "f1": 1.0,
        "num_searches": 1,
        "num_turns": 2,
        "generated_tokens": 40,
        "latency_s": 2.0,
        "batch_size": 4,
        "finish_reason": "answer",
        "queries": ["capital of france"],
        "retrieved_ids": ["10", "11"],
        "retrieved_titles": ["Paris", "France"],
        "supporting_titles": ["Paris"],
        "trajectory": "<search>capital of france</search> ... <answer>Paris</answer>",
    }
    fields.update(overrides)
    return Prediction(**fields)


@pytest.fixture
def make_prediction() -> Callable[..., Prediction]:
    """`make_prediction(id="q1", em=0.0, ...)`: a complete record with the given overrides."""
    return _prediction


@pytest.fixture(scope="session")
def tiny_policy(hotpot_subset, tmp_path_factory):
    """An untrained tiny Qwen2 policy whose tokenizer was trained on the HotpotQA subset: the
    harness's invariants (files, metrics, recall, resume) do not depend on answer quality."""
    from agentic_rag.offline.tiny_model import save_tiny
    from agentic_rag.recipe.sections import TinyModelConfig

    texts = [q["question"] for q in hotpot_subset.questions]
    out = tmp_path_factory.mktemp("tiny_policy")
    save_tiny(texts, out, TinyModelConfig(vocab_size=500, hidden_size=64, intermediate_size=128))
    return out
