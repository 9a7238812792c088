"""The `update:` and `credit:` settings through a real (short) GRPO run on the tiny world:
dynamic sampling fills the batch with groups that have reward spread, trainable_layers leaves
the lower blocks untouched, process credit reaches the trained rows, the health line prints."""

from __future__ import annotations

import torch

from agentic_rag.data.qa import load_qa
from agentic_rag.recipe import parse_recipe
from agentic_rag.search import load_search_tool
from agentic_rag.training.grpo import train_grpo


def test_dynamic_sampling_trainable_layers_and_credit(tiny_world, tmp_path, monkeypatch, capsys):
    from transformers import AutoModelForCausalLM

    from agentic_rag.rewards import REWARDS

    examples = load_qa(str(tiny_world.train), limit=16)
    spread = {e.question for e in examples[::2]}

    def parity_reward(completions, prompts, **kwargs):
        """Differs within a group only for every other question: the rest have no spread."""
        return [
            float(len(c) % 2) if p in spread else 0.0
            for c, p in zip(completions, prompts, strict=True)
        ]

    monkeypatch.setitem(REWARDS, "parity", lambda: parity_reward)
    raw = {
        "output_dir": str(tmp_path),
        "use_cpu": True,
        "report_to": "none",
        "seed": 0,
        "max_steps": 2,
        "per_device_train_batch_size": 8,
        "num_generations": 4,
        "beta": 0.0,
        "temperature": 1.0,
        "learning_rate": 5.0e-3,
        "logging_steps": 1,
        "save_strategy": "no",
        "model_name_or_path": str(tiny_world.model),
        "retriever": {"index": str(tiny_world.index)},
        "protocol": {"name": "tags", "max_obs_tokens": 32},
        "rollout": {"max_turns": 2, "max_turn_tokens": 12, "max_completion_tokens": 80, "topk": 1},
        "rewards": [{"name": "parity"}],
        "update": {
            "dynamic_sampling": True,
            "max_sampling_rounds": 4,
            "oversample": 2.0,
            "trainable_layers": 1,
        },
        "credit": {"scale": 0.3, "turn_rewards": [{"name": "search_cost"}, {"name": "redundancy"}]},
    }
    recipe = parse_recipe(raw)
    before = AutoModelForCausalLM.from_pretrained(tiny_world.model).state_dict()
    trainer = train_grpo(recipe, examples, load_search_tool(recipe.retriever))

    records = trainer.batch_records
    assert len(records) == 8 and all(r["question"] in spread for r in records)
    assert all("turn_advantages" in r for r in records)
    logs = {k: v for row in trainer.state.log_history for k, v in row.items()}
    assert logs["update/questions_drawn"] > 2  # the batch's 2 questions and more
    assert 0 < logs["update/spread_group_share"] < 1
    assert "credit/process_advantage_abs" in logs and "update/live_row_share" in logs

    after = trainer.model.state_dict()
    top = len(trainer.model.model.layers) - 1
    moved = {k for k in after if not torch.equal(after[k], before[k])}
    assert moved and all(k.startswith((f"model.layers.{top}.", "model.norm.")) for k in moved), (
        moved
    )
    assert "[agentic-rag] step 2/2 | reward" in capsys.readouterr().out
