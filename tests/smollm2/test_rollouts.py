"""The rollout invariants on the real pretrained checkpoint (SmolLM2-135M-Instruct, its own
tokenizer, ChatML template with a default system prompt, EOS = pad) over real HotpotQA passages,
and a short end-to-end run: two GRPO steps and a five-question agentic evaluation."""

from __future__ import annotations

import pytest
import torch

from agentic_rag.backends.base import Sampling
from agentic_rag.protocols import make_protocol
from agentic_rag.recipe.sections import ProtocolConfig, RolloutConfig
from agentic_rag.rollout import RolloutEngine


class Counting:
    """Counts the calls made to a backend or search tool."""

    def __init__(self, inner, method):
        self.inner, self.calls = inner, 0
        setattr(self, method, self._counted(getattr(inner, method)))

    def _counted(self, fn):
        def call(*args, **kwargs):
            self.calls += 1
            return fn(*args, **kwargs)

        return call


@pytest.fixture(scope="module")
def smollm2(smollm2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir).eval()
    return model, AutoTokenizer.from_pretrained(smollm2_dir)


def test_rollouts_on_smollm2_are_on_policy_and_masked(smollm2, hotpot_index):
    from agentic_rag.backends.hf import HFBackend
    from retriever_index import Retriever

    model, tokenizer = smollm2
    questions = [q["question"] for q in hotpot_index.subset.questions[:4]]
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags", max_obs_tokens=64))
    backend = Counting(HFBackend(model, tokenizer), "generate")
    search = Counting(Retriever.load(hotpot_index.dir), "search_batch")
    config = RolloutConfig(max_turns=2, max_turn_tokens=24, max_completion_tokens=200, topk=2)
    sampling = Sampling(temperature=0.7)
    trajectories = RolloutEngine(backend, search, protocol, config).run(questions, sampling)

    turns = max(t.num_turns for t in trajectories)
    assert backend.calls == turns and search.calls <= turns  # one of each per turn, batched
    prompt = protocol.prompt_ids(questions[0])
    assert tokenizer.decode(prompt).startswith("<|im_start|>system\nYou are a helpful AI")
    for t in trajectories:
        ids = torch.tensor([t.prompt_ids + t.completion_ids])
        with torch.no_grad():
            logits = model(ids).logits[0, len(t.prompt_ids) - 1 : -1].float() / 0.7
        fresh = torch.log_softmax(logits, -1).gather(-1, ids[0, len(t.prompt_ids) :, None])[:, 0]
        mask = torch.tensor(t.env_mask, dtype=torch.bool)
        got = torch.tensor(t.logprobs)
        assert mask.any() and (got[~mask] == 0).all()
        # float32, batched left-padded generation vs one unpadded forward
        assert torch.allclose(got[mask], fresh[mask], atol=1e-4), (got - fresh)[mask].abs().max()
        generated = [i for i, m in zip(t.completion_ids, t.env_mask, strict=True) if m]
        env = [i for i, m in zip(t.completion_ids, t.env_mask, strict=True) if not m]
        assert "My previous action is invalid" not in tokenizer.decode(generated)
        observations = "".join(turn["observation"] for turn in t.describe_turns(tokenizer))
        assert tokenizer.decode(env) == observations  # env tokens are exactly the observations


def test_two_grpo_steps_and_a_five_question_evaluation(smollm2_dir, hotpot_index, tmp_path):
    """The smoke test of the real-model path: `train` and `eval` as a user runs them."""
    import json

    import yaml

    from agentic_rag.cli import main
    from agentic_rag.evaluation.predictions import read_predictions

    questions = tmp_path / "questions.jsonl"
    with questions.open("w") as f:
        for q in hotpot_index.subset.questions[:13]:
            row = {k: q[k] for k in ("id", "question", "answers", "supporting_titles")}
            f.write(json.dumps({**row, "dataset": "hotpotqa"}) + "\n")
    recipe = {
        "model_name_or_path": "smollm2-135m-instruct",  # the named model, built by the fixture
        "output_dir": str(tmp_path / "run"),
        "use_cpu": True,
        "bf16": False,
        "report_to": "none",
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "num_generations": 2,
        "beta": 0.01,
        "learning_rate": 1.0e-5,
        "logging_steps": 1,
        "save_strategy": "no",
        "retriever": {"index": str(hotpot_index.dir)},
        "protocol": {"name": "tags", "max_obs_tokens": 48},
        "rollout": {"max_turns": 2, "max_turn_tokens": 16, "max_completion_tokens": 120, "topk": 1},
        "data": {"train": str(questions), "eval": str(questions), "holdout": 5},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["train", "--config", str(path)]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["grpo_steps"] == 2 and summary["grpo"]["questions"] == 5
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(tmp_path / "run" / "final"), "--out", str(out)]) == 0
    preds = read_predictions(out)  # data and budgets came from the recipe saved with the model
    assert len(preds) == 5 and all(p.mode == "agentic" and p.num_turns <= 2 for p in preds)
