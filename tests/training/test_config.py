"""Recipes parse into TRL's GRPOConfig/ModelConfig plus our sections; mistakes are loud."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentic_rag.training.config import load_recipe, parse_recipe

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_recipe_parses_and_documents_itself(path):
    header = path.read_text().split("\n\n")[0]
    assert header.startswith(f"# {path.name}"), "a recipe opens with what it is for"
    assert "Hardware:" in header and ("Launch:" in header or "launch" in header.lower())
    recipe = load_recipe(path, ["bf16=false"])  # GPU recipes: bf16 needs a GPU to validate
    assert recipe.grpo.num_generations >= 2
    assert len(recipe.grpo.reward_weights) == len(recipe.rewards)
    assert recipe.rollout.temperature == recipe.grpo.temperature


def test_search_r1_recipe_keeps_search_r1_hyperparameters():
    r = load_recipe(Path(RECIPES[0]).parent / "search_r1_qwen2.5_3b.yaml", ["bf16=false"])
    assert (r.grpo.num_generations, r.grpo.learning_rate, r.grpo.beta) == (5, 1e-6, 0.001)
    assert (r.rollout.max_turns, r.protocol.max_obs_tokens, r.protocol.topk) == (4, 500, 3)
    assert r.grpo.use_vllm and r.grpo.vllm_mode == "colocate"


def test_unknown_keys_fail_with_a_suggestion():
    with pytest.raises(ValueError, match="'betta' \\(did you mean 'beta'\\?\\)"):
        parse_recipe({"output_dir": "x", "use_cpu": True, "betta": 0.1})
    with pytest.raises(ValueError, match="unknown key\\(s\\) in rollout: 'max_turn'"):
        parse_recipe({"output_dir": "x", "use_cpu": True, "rollout": {"max_turn": 3}})
    with pytest.raises(ValueError, match="set sampling at the top level"):
        parse_recipe({"output_dir": "x", "use_cpu": True, "rollout": {"temperature": 0.7}})


def test_overrides_reach_trl_and_our_sections(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("output_dir: x\nuse_cpu: true\nprotocol: {name: tags}\n")
    r = load_recipe(
        path, ["beta=0.04", "rollout.max_turns=2", "protocol.name=tools", "temperature=0.7"]
    )
    assert r.grpo.beta == 0.04 and r.rollout.max_turns == 2 and r.protocol.name == "tools"
    assert r.rollout.temperature == 0.7
    with pytest.raises(ValueError, match="key=value"):
        load_recipe(path, ["beta"])
    with pytest.raises(FileNotFoundError, match="recipes live in recipes"):
        load_recipe(tmp_path / "nope.yaml")


def test_bf16_on_cpu_is_called_out(caplog):
    """TRL defaults to bf16, which CPUs without native bf16 emulate (14x slower measured here)."""
    from agentic_rag.training.cli import _warn_cpu_bf16

    with caplog.at_level("WARNING"):
        _warn_cpu_bf16(parse_recipe({"output_dir": "x", "use_cpu": True}))
    assert "pass bf16=false" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        _warn_cpu_bf16(parse_recipe({"output_dir": "x", "use_cpu": True, "bf16": False}))
    assert not caplog.text


def test_the_offline_default_trains_in_float32():
    tiny = load_recipe(Path(RECIPES[0]).parent / "tiny.yaml")
    assert not tiny.grpo.bf16 and not tiny.grpo.gradient_checkpointing
