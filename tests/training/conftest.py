"""Rollout and training fixtures over the session's `tiny_world` (tests/conftest.py)."""

from __future__ import annotations

import pytest

from agentic_rag.backends.base import Generation, SamplingParams


@pytest.fixture(scope="session")
def tokenizer(tiny_world):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_world.model)


@pytest.fixture(scope="session")
def retriever(tiny_world):
    from retriever_index import Retriever

    return Retriever.load(tiny_world.index)


class ScriptedBackend:
    """Stands in for the policy with fixed turn texts per prompt, so the engine, protocols and
    retriever run for real on known model output. Honours stop strings and token caps like a
    real backend; counts calls."""

    def __init__(self, tokenizer, scripts: dict[tuple[int, ...], list[str]]):
        self.tokenizer = tokenizer
        self.scripts = {k: list(v) for k, v in scripts.items()}
        self.calls = 0
        self.batch_sizes: list[int] = []

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        self.calls += 1
        self.batch_sizes.append(len(prompts))
        out = []
        for ids in prompts:
            key = next(k for k in self.scripts if tuple(ids[: len(k)]) == k)
            text = self.scripts[key].pop(0)
            for stop in params.stop:
                if stop in text:
                    text = text[: text.index(stop) + len(stop)]
            new = self.tokenizer.encode(text, add_special_tokens=False)[: params.max_new_tokens]
            out.append(Generation(new, [-1.0] * len(new), "stop"))
        return out
