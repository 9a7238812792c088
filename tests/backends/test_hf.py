"""The transformers backend's invariants on every device and dtype this machine has (CPU always;
CUDA where present): multi-turn rollouts keep a reserved KV cache across turns, and what they
record must still be what a fresh forward pass of the policy says.

Self-contained (a fictional KB, a BPE tokenizer trained on it, a random Qwen2 policy, a keyword
search over the KB): no index or encoder, so it also runs on a GPU machine that has neither.
"""

from __future__ import annotations

import pytest
import torch

from agentic_rag.backends.base import Sampling
from agentic_rag.backends.hf import HFBackend
from agentic_rag.offline.kb import generate_kb, iter_texts
from agentic_rag.offline.tiny_model import build_model, build_tokenizer
from agentic_rag.protocols import make_protocol
from agentic_rag.recipe.sections import (
    ProtocolConfig,
    RolloutConfig,
    SyntheticKBConfig,
    TinyModelConfig,
)
from agentic_rag.rollout import RolloutEngine
from retriever_index.retriever import Hit

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
# Largest |rollout log-prob - fresh forward log-prob| allowed: fp32 differs only by summation
# order; bf16 rounds K/V and activations differently in cached decode than in one full pass.
TOLERANCE = {torch.float32: 1e-3, torch.bfloat16: 0.05}


class KeywordSearch:
    """The KB passages sharing the most words with the query (ties by KB order)."""

    def __init__(self, passages):
        self.passages = passages

    def search_batch(self, queries: list[str], k: int) -> list[list[Hit]]:
        out = []
        for q in queries:
            words = set(q.lower().split())
            ranked = sorted(self.passages, key=lambda p: -len(words & set(p.text.lower().split())))
            out.append([Hit(p.id, p.title, p.text, 0.0) for p in ranked[:k]])
        return out


class FreshPrefill(HFBackend):
    """Every turn prefilled from scratch into transformers' own cache: the reference that cache
    reuse across turns, the group's shared prefill and the reserved cache must match."""

    def _continue(self, prompts, weights, device):
        return None, None, None

    def _shared_prefill(self, prompts, input_ids, attention):
        return None

    def _new_cache(self):
        return None


@pytest.fixture(scope="module")
def world():
    config = SyntheticKBConfig(
        num_countries=3,
        num_cities=6,
        num_companies=4,
        num_people=12,
        num_train_questions=16,
        num_test_questions=4,
    )
    kb = generate_kb(0, config)
    texts = [*iter_texts(kb), "Answer the given question. <search> <answer> <information>"]
    tokenizer = build_tokenizer(texts, vocab_size=600)
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags", max_obs_tokens=40))
    questions = [q.question for q in kb.train[:4]]
    return tokenizer, protocol, KeywordSearch(kb.passages), questions


def _policy(tokenizer, device: str, dtype: torch.dtype):
    config = TinyModelConfig(vocab_size=600, hidden_size=64, intermediate_size=128)
    return build_model(tokenizer, config, seed=0).to(device=device, dtype=dtype).eval()


def _rollouts(backend, world, sampling: Sampling, seed: int = 0):
    tokenizer, protocol, search, questions = world
    engine = RolloutEngine(
        backend, search, protocol, RolloutConfig(max_turns=3, max_turn_tokens=12, topk=1)
    )
    torch.manual_seed(seed)
    # Two samples per question: the group's shared prompt is prefilled once.
    return engine.run([q for q in questions for _ in range(2)], sampling)


def _fresh_logprobs(model, t, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    device = next(model.parameters()).device
    ids = torch.tensor([t.prompt_ids + t.completion_ids], device=device)
    with torch.no_grad():
        logits = model(ids).logits[0, len(t.prompt_ids) - 1 : -1].float()
    logp = torch.log_softmax(logits / temperature if temperature > 0 else logits, -1)
    picked = logp.gather(-1, ids[0, len(t.prompt_ids) :, None])[:, 0]
    return logp.cpu(), picked.cpu()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("device", DEVICES)
def test_sampled_logprobs_equal_a_fresh_forward_across_turns(world, device, dtype):
    tokenizer = world[0]
    model = _policy(tokenizer, device, dtype)
    trajectories = _rollouts(HFBackend(model, tokenizer), world, Sampling(temperature=0.7))
    assert any(t.num_turns >= 2 for t in trajectories)  # the cache was carried across turns
    worst = 0.0
    for t in trajectories:
        _, fresh = _fresh_logprobs(model, t, 0.7)
        mask = torch.tensor(t.env_mask, dtype=torch.bool)
        assert (~mask).any() or t.num_turns == 1  # later turns follow a masked observation
        got = torch.tensor(t.logprobs)
        assert (got[~mask] == 0).all()  # observation tokens carry no log-prob
        worst = max(worst, (got - fresh)[mask].abs().max().item())
    assert worst < TOLERANCE[dtype], f"{device} {dtype}: max |diff| {worst:.4f}"


@pytest.mark.parametrize("device", DEVICES)
def test_greedy_is_the_argmax_and_cache_reuse_changes_nothing(world, device):
    tokenizer = world[0]
    model = _policy(tokenizer, device, torch.float32)
    reused = _rollouts(HFBackend(model, tokenizer), world, Sampling())
    fresh = _rollouts(FreshPrefill(model, tokenizer), world, Sampling())
    assert any(t.num_turns >= 2 for t in reused)
    for a, b in zip(reused, fresh, strict=True):
        assert a.completion_ids == b.completion_ids
        assert a.env_mask == b.env_mask
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-4)
        logp, _ = _fresh_logprobs(model, a, 0.0)
        mask = torch.tensor(a.env_mask, dtype=torch.bool)
        chosen = torch.tensor(a.completion_ids)[mask]
        assert torch.equal(logp.argmax(-1)[mask], chosen)
