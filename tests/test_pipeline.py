"""`train`'s one pipeline: a recipe with a warm start and held-out questions (SFT on
demonstrations from gold supporting passages, GRPO on other questions, held-out metrics before
and after, summary), and the offline default, whose world is the pipeline's first stage."""

from __future__ import annotations

import json
from pathlib import Path

from agentic_rag import pipeline
from agentic_rag.data.qa import load_qa
from agentic_rag.recipe import load_recipe, parse_recipe

TINY_RECIPE = next(p for p in Path(__file__).resolve().parents if (p / "recipes").is_dir()) / (
    "recipes/tiny.yaml"
)


def test_warm_start_grpo_and_held_out_evaluation(tiny_world, tmp_path, monkeypatch):
    raw = {
        "output_dir": str(tmp_path),
        "use_cpu": True,
        "bf16": False,
        "report_to": "none",
        "seed": 0,
        "max_steps": 1,
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "logging_steps": 1,
        "save_strategy": "no",
        "model_name_or_path": str(tiny_world.model),
        "retriever": {"index": str(tiny_world.index)},
        "protocol": {"name": "tags", "use_chat_template": False, "max_obs_tokens": 48},
        "rollout": {"max_turns": 3, "max_turn_tokens": 12, "max_completion_tokens": 160, "topk": 1},
        "data": {"train": str(tiny_world.train), "eval": str(tiny_world.train), "holdout": 8},
        "warm_start": {"examples": 16, "epochs": 1, "batch_size": 8},
    }
    trained_on = []
    real = pipeline.train_grpo

    def recording(recipe, examples, search, **kwargs):
        trained_on.extend(examples)
        return real(recipe, examples, search, **kwargs)

    monkeypatch.setattr(pipeline, "train_grpo", recording)
    recipe = parse_recipe(raw)
    summary = pipeline.train_recipe(recipe)

    held = load_qa(str(tmp_path / "heldout.jsonl"))
    everything = load_qa(str(tiny_world.train))
    assert len(held) == 8 and {e.id for e in held} <= {e.id for e in everything}
    assert {e.id for e in held}.isdisjoint(e.id for e in trained_on)
    # GRPO trains on the questions no demonstration used: all but held-out and demonstrated
    assert len(trained_on) == len(everything) - 8 - 16
    assert (tmp_path / "sft" / "config.json").exists() and (tmp_path / "final").is_dir()
    assert set(summary["base"]) == {"naive", "agentic"} and summary["sft"]["questions"] == 8
    assert summary["grpo"]["questions"] == 8 and summary["grpo_steps"] == 1
    assert set(summary["vs_base"]) == {"naive", "agentic"}
    for comparison in summary["vs_base"].values():
        assert comparison["questions"] == 8 and comparison["low"] <= comparison["diff"]
    for run in ("base", "sft", "final"):
        lines = (tmp_path / "eval" / run / "predictions.jsonl").read_text().splitlines()
        assert len(lines) == (16 if run == "base" else 8)
        assert {json.loads(line)["id"] for line in lines} == {e.id for e in held}
    assert summary["recipe"] == recipe.source  # the recipe as given
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_the_offline_default_builds_its_world_then_runs_the_same_stages(tmp_path, monkeypatch):
    """recipes/tiny.yaml shrunk: the world's stage builds KB, index and tiny policy under
    output_dir, the warm start demonstrates the world's questions about some entities, GRPO
    trains on the questions about the others, and everything lands in one output folder."""
    trained_on = []
    real = pipeline.train_grpo

    def recording(recipe, examples, search, **kwargs):
        trained_on.extend(examples)
        return real(recipe, examples, search, **kwargs)

    monkeypatch.setattr(pipeline, "train_grpo", recording)
    recipe = load_recipe(
        TINY_RECIPE,
        [
            f"output_dir={tmp_path}",
            "max_steps=1",
            "per_device_train_batch_size=4",
            "num_generations=4",
            'save_strategy="no"',
            "offline.kb={num_countries: 4, num_cities: 12, num_companies: 10, num_people: 40, "
            "num_train_questions: 64, num_test_questions: 8}",
            "offline.model={vocab_size: 600, hidden_size: 64, intermediate_size: 128}",
            "offline.sft_share=0.5",
            "warm_start={epochs: 1, batch_size: 16}",
        ],
    )
    summary = pipeline.train_recipe(recipe)

    for part in ("kb/train.jsonl", "index/manifest.json", "base_model/config.json", "final"):
        assert (tmp_path / part).exists(), part
    assert (tmp_path / "sft" / "config.json").exists() and (tmp_path / "final").is_dir()
    world = load_qa(str(tmp_path / "kb" / "train.jsonl"))
    assert 0 < len(trained_on) < len(world)  # the questions about the other half of entities
    assert list(summary) == [
        "seed", "sft", "grpo_steps", "grpo", "em_gain", "wall_seconds", "recipe", "offline"
    ]  # fmt: skip
    assert summary["sft"]["questions"] == summary["grpo"]["questions"] == 8
    assert summary["offline"]["sft_share"] == 0.5 and summary["recipe"] == recipe.source
