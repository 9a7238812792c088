"""Helpers for rollout and training tests (the tiny world fixtures live in tests/conftest.py)."""

from __future__ import annotations

from agentic_rag.backends.base import Generation, SamplingParams


class ScriptedBackend:
    """Stands in for the policy with fixed turn texts per prompt, so the engine, protocols and
    retriever run for real on known model output. Honours stop strings and token caps and
    reports how each turn ended like a real backend (a turn that is neither stopped nor ended
    by EOS was cut at the cap); counts calls."""

    def __init__(self, tokenizer, scripts: dict[tuple[int, ...], list[str]]):
        self.tokenizer = tokenizer
        self.eos = tokenizer.eos_token_id
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
            stopped = [text.index(s) + len(s) for s in params.stop if s in text]
            if stopped:
                text = text[: min(stopped)]
            new = self.tokenizer.encode(text, add_special_tokens=False)
            finish = "stop" if stopped else "eos" if new[-1:] == [self.eos] else "length"
            if len(new) > params.max_new_tokens:
                new, finish = new[: params.max_new_tokens], "length"
            out.append(Generation(new, [-1.0] * len(new), finish))
        return out
