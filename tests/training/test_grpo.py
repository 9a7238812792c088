"""GRPO through TRL with our rollout_func: short real runs on the tiny offline world."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from agentic_rag.data.qa import load_qa
from agentic_rag.recipe import parse_recipe
from agentic_rag.search import load_search_tool
from agentic_rag.training.grpo import train_grpo


def _raw_recipe(tiny_world, out: Path, protocol: str, **top) -> dict:
    return {
        "output_dir": str(out),
        "use_cpu": True,
        "report_to": "none",
        "seed": 0,
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "beta": 0.001,
        "learning_rate": 1.0e-3,
        "logging_steps": 1,
        "save_steps": 1,
        "model_name_or_path": str(tiny_world.model),
        "retriever": {"index": str(tiny_world.index)},
        "protocol": {"name": protocol, "max_obs_tokens": 64},
        "rollout": {"max_turns": 2, "max_turn_tokens": 12, "max_completion_tokens": 96, "topk": 2},
        "rewards": [{"name": "exact_match"}, {"name": "format", "weight": 0.1}],
        **top,
    }


def _train(raw: dict, tiny_world, resume: bool = False):
    recipe = parse_recipe(raw)
    examples = load_qa(str(tiny_world.train), limit=16)
    return train_grpo(recipe, examples, load_search_tool(recipe.retriever), resume=resume)


@pytest.mark.parametrize("protocol", ["tags", "tools"])
def test_two_grpo_steps(tiny_world, tmp_path, protocol, monkeypatch):
    from transformers import AutoModelForCausalLM

    from agentic_rag.rewards import REWARDS

    # An untrained policy never answers correctly, so EM alone gives zero advantages and no
    # update; a length reward varies within every group and must move the weights.
    def length_reward(completions, **kwargs):
        return [float(len(c)) for c in completions]

    monkeypatch.setitem(REWARDS, "length", lambda: length_reward)
    raw = _raw_recipe(tiny_world, tmp_path, protocol, samples={"every_steps": 1, "groups": 1})
    raw["rewards"].append({"name": "length", "weight": 0.01})
    trainer = _train(raw, tiny_world)
    assert trainer.state.global_step == 2
    logs = {k for row in trainer.state.log_history for k in row}
    for key in (
        "reward",
        "rewards/exact_match_reward/mean",
        "rollout/searches_per_trajectory",
        "rollout/invalid_action_share",
        "rollout/turns_per_trajectory",
        "kl",
        "completions/mean_length",
    ):
        assert key in logs, f"{key} not logged; got {sorted(logs)}"
    # The query cache's hit rate is logged once the policy's searches reached the index (an
    # untrained policy may never search; whether it does differs between CPUs' float arithmetic).
    if "rollout/search_cache_hit_rate" in logs:
        assert any(
            r.get("rollout/searches_per_trajectory", 0) > 0 for r in trainer.state.log_history
        )
    # TRL counted only env_mask=1 tokens as completion length: the mask reached the loss.
    step = next(r for r in trainer.state.log_history if "completions/mean_length" in r)
    assert step["completions/mean_length"] <= step["rollout/completion_tokens_per_trajectory"]
    assert step["completions/mean_length"] == pytest.approx(
        step["rollout/model_tokens_per_trajectory"], rel=1e-4
    )
    before = AutoModelForCausalLM.from_pretrained(tiny_world.model).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "final").state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), (
        "GRPO did not update the policy"
    )
    assert yaml.safe_load((tmp_path / "recipe.yaml").read_text())["protocol"]["name"] == protocol
    saved = yaml.safe_load((tmp_path / "final" / "recipe.yaml").read_text())
    assert saved["rollout"] == raw["rollout"]  # eval and ask default to the training budgets
    # One whole group per step, paired with the rewards and advantages TRL computed for it.
    for step in (1, 2):
        rows = [
            json.loads(line)
            for line in (tmp_path / "trajectories" / f"step_{step:06d}.jsonl")
            .read_text()
            .splitlines()
        ]
        assert [r["sample"] for r in rows] == [0, 1, 2, 3] and {r["group"] for r in rows} == {0}
        assert len({r["question"] for r in rows}) == 1 and rows[0]["answers"]
        assert set(rows[0]["rewards"]) == {"exact_match_reward", "format_reward", "length_reward"}
        assert all(r["turns"] and r["turns"][0]["model"] for r in rows)
        totals, advantages = [r["reward"] for r in rows], [r["advantage"] for r in rows]
        assert abs(sum(advantages)) < 1e-4  # group-relative: centred within the group
        for a, b in ((a, b) for a in range(4) for b in range(4) if totals[a] < totals[b] - 1e-6):
            assert advantages[a] < advantages[b]  # TRL's advantage follows our weighted total


def test_resume_continues_the_same_run(tiny_world, tmp_path):
    """1 step + resume to 2 steps == 2 steps straight: step, optimizer, data and RNG restored."""
    straight = _train(_raw_recipe(tiny_world, tmp_path / "a", "tags"), tiny_world)
    _train(_raw_recipe(tiny_world, tmp_path / "b", "tags", max_steps=1), tiny_world)
    assert (tmp_path / "b" / "checkpoint-1").is_dir()
    resumed = _train(_raw_recipe(tiny_world, tmp_path / "b", "tags"), tiny_world, resume=True)
    assert resumed.state.global_step == 2
    a = straight.model.state_dict()
    b = resumed.model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_two_process_cpu_run(tiny_world, tmp_path):
    raw = _raw_recipe(tiny_world, tmp_path / "run", "tags", max_steps=1)
    raw["data"] = {"train": str(tiny_world.train), "train_limit": 16}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "agentic_rag.cli",
        "train",
        "--config",
        str(recipe),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    checkpoint = tmp_path / "run" / "checkpoint-1"
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 1
    # One RNG state per process: both ranks trained.
    assert (checkpoint / "rng_state_0.pth").exists() and (checkpoint / "rng_state_1.pth").exists()
    assert (tmp_path / "run" / "final" / "model.safetensors").exists()


def test_a_training_step_makes_no_deprecated_call(tiny_world, tmp_path):
    """A recipe parsed as the default recipe sets it (checkpointing off), a GRPO step
    (multi-turn rollouts through the transformers backend and TRL's unwrapping) and an SFT
    config, with every FutureWarning and DeprecationWarning recorded and transformers'
    deprecation log lines caught: `make train` on a fresh clone must read clean. (With
    checkpointing on, TRL and the Trainer toggle it through names transformers deprecates:
    their calls, not ours.)"""
    import logging
    import warnings

    import transformers
    from trl import SFTConfig

    from agentic_rag.recipe.trl_keys import checkpointing

    logging.Logger.warning_once.cache_clear()  # transformers logs each deprecation once
    said: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())
    library = transformers.utils.logging.get_logger("transformers")
    library.addHandler(handler)
    raw = _raw_recipe(tiny_world, tmp_path, "tags", max_steps=1, gradient_checkpointing=False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _train(raw, tiny_world)
            SFTConfig(str(tmp_path / "sft"), use_cpu=True, bf16=False, **checkpointing(False))
    finally:
        library.removeHandler(handler)
    deprecations = [
        f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
        for w in caught
        if issubclass(w.category, (FutureWarning, DeprecationWarning))
    ]
    assert deprecations == [], "\n".join(deprecations)
    assert [line for line in said if "deprecat" in line.lower()] == []
