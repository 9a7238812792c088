"""Rollouts sample exactly what the recipe says, whatever the checkpoint's generation_config
holds (transformers fills every unset generation field from it)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from agentic_rag.backends.base import Sampling
from agentic_rag.protocols import make_protocol
from agentic_rag.recipe.sections import ProtocolConfig, RolloutConfig
from agentic_rag.rollout import RolloutEngine

CHECKPOINT_DEFAULTS = {
    "repetition_penalty": 1.3,
    "no_repeat_ngram_size": 2,
    "top_k": 3,
    "top_p": 0.5,
    "temperature": 0.2,
    "typical_p": 0.5,
    "min_p": 0.2,
}


@pytest.fixture(scope="module")
def opinionated_checkpoint(tiny_world, tmp_path_factory):
    """The tiny model with a generation_config.json full of sampling defaults, as real
    checkpoints ship (Qwen2.5-Instruct: repetition_penalty 1.05, top_k 20, top_p 0.8, ...)."""
    path = tmp_path_factory.mktemp("opinionated")
    shutil.copytree(tiny_world.model, path, dirs_exist_ok=True)
    config = json.loads((path / "generation_config.json").read_text())
    config.update(CHECKPOINT_DEFAULTS, do_sample=True)
    (path / "generation_config.json").write_text(json.dumps(config))
    return path


def _fresh_logprobs(model, t, temperature):
    ids = torch.tensor([t.prompt_ids + t.completion_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, len(t.prompt_ids) - 1 : -1].float()
    if temperature > 0:
        logits = logits / temperature
    logp = torch.log_softmax(logits, -1)
    return logp, logp.gather(-1, ids[0, len(t.prompt_ids) :, None])[:, 0]


@pytest.mark.parametrize(
    "sampling", [Sampling(temperature=0.7), Sampling()], ids=["T0.7", "greedy"]
)
def test_checkpoint_generation_defaults_do_not_leak(
    opinionated_checkpoint, tokenizer, retriever, tiny_world, sampling
):
    from transformers import AutoModelForCausalLM

    from agentic_rag.backends.hf import HFBackend

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(opinionated_checkpoint).eval()
    assert model.generation_config.repetition_penalty == 1.3  # the defaults did load
    rows = [json.loads(line) for line in tiny_world.train.read_text().splitlines()][:4]
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    engine = RolloutEngine(
        HFBackend(model, tokenizer),
        retriever,
        protocol,
        RolloutConfig(max_turns=2, max_turn_tokens=24),
    )
    trajectories = engine.run([r["question"] for r in rows], sampling)
    assert model.generation_config.repetition_penalty == 1.3  # and are left as they were
    for t in trajectories:
        logp, fresh = _fresh_logprobs(model, t, sampling.temperature)
        mask = torch.tensor(t.env_mask, dtype=torch.bool)
        got = torch.tensor(t.logprobs)
        assert mask.sum() > 10
        if sampling.temperature > 0:
            assert torch.allclose(got[mask], fresh[mask], atol=1e-4), (
                (got - fresh)[mask].abs().max()
            )
        else:  # greedy: every model token is the argmax of a fresh forward pass (ties aside)
            gap = logp.max(-1).values - fresh
            assert (gap[mask] <= 1e-4).all(), gap[mask].max()
