"""The one interface every generation backend implements (transformers, vLLM, HTTP).

The rollout engine works on token ids so the policy's own tokens are never re-tokenized; a
backend receives full prompt+history ids and returns only the newly generated ids, with the
log-probability the sampling policy gave each of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

FinishReason = Literal["stop", "eos", "length"]
"""How a generated turn ended: a stop string, an end-of-sequence token, or the token cap."""


@dataclass(frozen=True)
class Sampling:
    """How tokens are drawn: the recipe's sampling (TRL's top-level `temperature`, `top_p`,
    `top_k`, which the GRPO loss also uses) for training, greedy for evaluation."""

    temperature: float = 0.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    top_k: int = 0
    """0 disables top-k filtering."""


GREEDY = Sampling()


@dataclass(frozen=True)
class SamplingParams:
    """How one generation call samples; the same object drives every backend."""

    max_new_tokens: int
    """Upper bound on new tokens for this call (the engine passes min(per-turn, budget left))."""
    temperature: float = 1.0
    """0 means greedy decoding (evaluation)."""
    top_p: float = 1.0
    top_k: int = 0
    """0 disables top-k filtering."""
    stop: tuple[str, ...] = field(default_factory=tuple)
    """Generation of a sequence ends once its text contains one of these (kept in the output)."""

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass
class Generation:
    """One sequence's new tokens, exactly as sampled."""

    token_ids: list[int]
    logprobs: list[float]
    """Log-probability of each sampled token under the generating policy (same length)."""
    finish_reason: FinishReason
    """"stop": a stop string ended it; "eos": an end-of-sequence token; "length":
    max_new_tokens was reached."""


class GenerationBackend(Protocol):
    """Generates continuations for a batch of token-id prompts in ONE call.

    A backend whose `generate` is a collective across training processes (a server only the
    main process talks to) sets `collective = True`: every process must then make the same
    calls, so the rollout engine calls it on every turn, with an empty batch once its own
    trajectories are done.

    A backend that knows its model's context length (prompt plus generated tokens) says so in
    `context_tokens`; the rollout engine then refuses prompts that cannot fit, one by one,
    before they reach `generate`."""

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]: ...
