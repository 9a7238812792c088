"""`train` on a recipe with a warm start and held-out questions: SFT on demonstrations from gold
supporting passages, GRPO on other questions, held-out metrics before and after, summary."""

from __future__ import annotations

import json

from agentic_rag import pipeline
from agentic_rag.data.qa import load_qa
from agentic_rag.recipe import parse_recipe
from agentic_rag.search import load_search_tool


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
    summary, _ = pipeline.train_and_evaluate(recipe, load_search_tool(recipe.retriever))

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
