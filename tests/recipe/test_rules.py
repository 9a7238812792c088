"""Combinations of recipe keys that TRL, transformers or our trainer refuse only once training
runs (after the world, the index, a warm start), or that would train nothing: each one error
naming the keys and the fix, raised before any stage (`rules.check_training` imports no TRL)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentic_rag.recipe import load_recipe
from agentic_rag.recipe.checks import RecipeError
from agentic_rag.recipe.rules import check_enough_questions, check_training

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny.yaml"
BASE = [
    "use_cpu=true",
    "bf16=false",
    "report_to=none",
    "output_dir=/tmp/never-written",
    "per_device_train_batch_size=32",
    "num_generations=8",
]


def trained(path, overrides):
    """What `train` checks before any stage: the recipe, its training combinations, TRL's own
    config."""
    recipe = load_recipe(path, overrides)
    check_training(recipe)
    return recipe.grpo


@pytest.mark.parametrize(
    ("override", "said"),
    [
        # TRL and transformers, once training starts
        ("num_generations=5", "= 32 completions per generation must be a multiple of num_gen"),
        ("generation_batch_size=20", "generation_batch_size=20 must be a multiple of per_devi"),
        ("steps_per_generation=2 generation_batch_size=64", "are both set: set one"),
        ("eval_strategy=steps", "eval_strategy='steps': GRPOTrainer gets no eval dataset"),
        ("load_best_model_at_end=true", "load_best_model_at_end / save_strategy=best need"),
        ("max_steps=-1 num_train_epochs=0", "max_steps=-1 with num_train_epochs=0 trains zero"),
        ("lr_scheduler_type=bogus", "GRPOConfig refuses this recipe: bogus is not a valid"),
        # our trainer's, once training starts
        ("update.trainable_layers=2 use_peft=true", "the LoRA adapter decides what trains"),
    ],
)
def test_training_combinations_are_one_error_before_any_stage(override, said):
    with pytest.raises(RecipeError) as caught:
        trained(None, [*BASE, *override.split()])
    assert said in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ("data.holdout=10", "data.holdout=10 needs data.eval"),
        ("update.sft_coef=0.1", "update.sft_coef=0.1 needs demonstrations, and this recipe has"),
        ("credit.scale=0.5", "credit.scale=0.5 with no credit.turn_rewards gives no process cr"),
        ("credit.turn_rewards=[{name: novelty}]", "credit.turn_rewards[0].name='novelty': expec"),
        (
            "credit.turn_rewards=[{name: search_cost, args: {cots: 0.2}}]",
            "credit.turn_rewards[0].args: search_cost takes no argument 'cots' (it takes: cost)",
        ),
        (
            "credit.turn_rewards=[{name: redundancy, args: {cost: 1}}]",
            "redundancy takes no argument 'cost' (it takes: none)",
        ),
        (
            "credit.turn_rewards=[{name: search_cost, args: {cost: -1}}]",
            "credit.turn_rewards[0]: search_cost: cost must be a number >= 0, got -1",
        ),
        ("rewards=[{name: bleu}]", "rewards[0]: unknown reward 'bleu'"),
    ],
)
def test_section_combinations_are_refused_when_the_recipe_is_parsed(override, said):
    with pytest.raises(RecipeError) as caught:
        load_recipe(None, [*BASE, override])
    assert said in str(caught.value) and "\n" not in str(caught.value)


def test_what_the_sections_allow_together_parses():
    load_recipe(None, [*BASE, "update.sft_coef=0.1", "warm_start.examples=8"])
    load_recipe(TINY, ["update.sft_coef=0.1"])  # the offline world always warm-starts
    load_recipe(None, ["credit.turn_rewards=[{name: redundancy}]"])  # scale 0: off, allowed
    trained(None, [*BASE, "update.trainable_layers=2"])


def test_the_offline_model_and_budget_are_checked_before_the_world_is_built():
    with pytest.raises(RecipeError, match="hidden_size=128 must be a multiple of num_heads=3"):
        load_recipe(TINY, ["offline.model.num_heads=3"])
    with pytest.raises(RecipeError, match="4096 leaves no room for a prompt in offline.model"):
        load_recipe(TINY, ["rollout.max_completion_tokens=4096"])


def test_a_launch_of_several_processes_is_counted(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(RecipeError, match=re.escape("4 x 3 process(es) x gradient_accum")):
        trained(None, [*BASE, "per_device_train_batch_size=4"])  # 12 completions, groups of 8
    with pytest.raises(RecipeError, match="dynamic_sampling runs in one training process only"):
        trained(None, [*BASE, "per_device_train_batch_size=8", "update.dynamic_sampling=true"])
    monkeypatch.setenv("WORLD_SIZE", "1")
    trained(None, [*BASE, "update.dynamic_sampling=true"])


def test_a_run_that_would_train_zero_steps_is_refused_by_question_count():
    grpo = trained(None, BASE)
    check_enough_questions(grpo, 4, "data.train")  # 32 completions = 4 prompts x 8: one step
    with pytest.raises(RecipeError, match="3 training question.*needs 4 distinct prompts"):
        check_enough_questions(grpo, 3, "data.train")


def test_the_training_checks_import_no_trl():
    """`train` with a bad combination answers in about a second: nothing heavy is loaded."""
    code = (
        "import sys\n"
        "from agentic_rag.recipe import load_recipe\n"
        "from agentic_rag.recipe.rules import check_training\n"
        "try:\n"
        f"    check_training(load_recipe({str(TINY)!r}, ['num_generations=5']))\n"
        "except ValueError as err:\n"
        "    print(err)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'trl')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.splitlines()
    assert "must be a multiple of num_generations=5" in out[0] and out[1] == "[]"
