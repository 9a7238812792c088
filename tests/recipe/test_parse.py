"""Recipes parse into TRL's GRPOConfig/ModelConfig plus our sections; mistakes are loud."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from agentic_rag.recipe import load_recipe, parse_recipe
from agentic_rag.recipe.parse import read_recipe_file

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_recipe_parses_and_documents_itself(path):
    header = path.read_text().split("\n\n")[0]
    assert header.startswith(f"# {path.name}"), "a recipe opens with what it is for"
    assert "Hardware:" in header and ("Launch:" in header or "launch" in header.lower())
    recipe = load_recipe(path, ["bf16=false"])  # GPU recipes: bf16 needs a GPU to validate
    assert recipe.grpo.num_generations >= 2
    assert len(recipe.grpo.reward_weights) == len(recipe.rewards)
    assert recipe.sampling.temperature == recipe.grpo.temperature
    assert recipe.grpo.max_completion_length == recipe.rollout.max_completion_tokens


def test_search_r1_recipe_keeps_search_r1_hyperparameters():
    r = load_recipe(Path(RECIPES[0]).parent / "search_r1_qwen2.5_3b.yaml", ["bf16=false"])
    assert (r.grpo.num_generations, r.grpo.learning_rate, r.grpo.beta) == (5, 1e-6, 0.001)
    assert (r.rollout.max_turns, r.protocol.max_obs_tokens, r.rollout.topk) == (4, 500, 3)
    assert r.grpo.use_vllm and r.grpo.vllm_mode == "colocate"


def test_unknown_keys_fail_with_a_suggestion():
    with pytest.raises(ValueError, match="'betta' \\(did you mean 'beta'\\?\\)"):
        parse_recipe({"output_dir": "x", "use_cpu": True, "betta": 0.1})
    with pytest.raises(ValueError, match="unknown key\\(s\\) in rollout: 'max_turn'"):
        parse_recipe({"output_dir": "x", "use_cpu": True, "rollout": {"max_turn": 3}})
    with pytest.raises(ValueError, match="'temperature' \\(a top-level key, not a section's\\)"):
        parse_recipe({"output_dir": "x", "use_cpu": True, "rollout": {"temperature": 0.7}})


@pytest.mark.parametrize(
    ("raw", "source"),
    [
        ({"reward_weights": [1.0]}, "each reward's `weight`"),
        ({"max_completion_length": 64}, "rollout.max_completion_tokens"),
    ],
)
def test_keys_the_parser_derives_are_set_at_their_source(raw, source):
    """A value here would be overwritten by the derived one: refused, never silently dropped."""
    with pytest.raises(ValueError, match=re.escape(f"is derived from {source}")):
        parse_recipe({"output_dir": "x", "use_cpu": True, **raw})


@pytest.mark.parametrize(
    "key", ["repetition_penalty=1.1", "min_p=0.05", "generation_kwargs={top_k: 5}"]
)
def test_sampling_options_no_rollout_applies_are_refused(key):
    with pytest.raises(ValueError, match="not applied by agentic_rag's rollouts"):
        load_recipe(None, ["use_cpu=true", key])


def test_derived_fields_follow_their_source():
    r = load_recipe(
        None,
        ["use_cpu=true", "rollout.max_completion_tokens=77", "dtype=float32", "temperature=0.5"],
    )
    assert r.grpo.max_completion_length == 77
    assert r.grpo.model_init_kwargs == {"dtype": "float32"}
    assert r.sampling.temperature == 0.5
    assert r.grpo.reward_weights == [1.0]  # one default reward: exact_match
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.rollout.max_turns = 9  # sections are frozen: change one with dataclasses.replace


def test_overrides_reach_trl_and_our_sections(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("output_dir: x\nuse_cpu: true\nprotocol: {name: tags}\n")
    r = load_recipe(
        path, ["beta=0.04", "rollout.max_turns=2", "protocol.name=tools", "temperature=0.7"]
    )
    assert r.grpo.beta == 0.04 and r.rollout.max_turns == 2 and r.protocol.name == "tools"
    assert r.sampling.temperature == 0.7
    with pytest.raises(ValueError, match="key=value"):
        load_recipe(path, ["beta"])
    with pytest.raises(FileNotFoundError, match="recipes live in recipes"):
        load_recipe(tmp_path / "nope.yaml")


def test_bf16_on_cpu_is_called_out(caplog):
    """TRL defaults to bf16, which CPUs without native bf16 emulate (14x slower measured here)."""
    from agentic_rag.commands.train import _warn_cpu_bf16

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


def test_docs_recipes_md_lists_every_key():
    """docs/recipes.md is generated from the dataclasses (`agentic-rag recipe --markdown`)."""
    from agentic_rag.recipe.docs import render_markdown

    page = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"
    assert page.read_text() == render_markdown(), (
        "docs/recipes.md is stale: agentic-rag recipe --markdown > docs/recipes.md"
    )
    assert "| `rollout.topk` | int | `3` | Passages returned per search. |" in page.read_text()


def test_tiny_process_is_tiny_with_process_credit():
    """recipes/tiny_process.yaml differs from the offline default only by `credit:` (and its
    output folder), so outcome-only vs outcome+process comparisons change one thing."""
    folder = Path(RECIPES[0]).parent
    tiny = read_recipe_file(folder / "tiny.yaml")
    process = read_recipe_file(folder / "tiny_process.yaml")
    assert process.pop("credit") == load_recipe(folder / "tiny_process.yaml").source["credit"]
    assert load_recipe(folder / "tiny_process.yaml").credit.enabled
    assert {**process, "output_dir": tiny["output_dir"]} == tiny
