"""`agentic-rag train --config RECIPE.yaml [key=value ...]`."""

from __future__ import annotations

import argparse

from agentic_rag.commands.recipe_args import OVERRIDES_HELP


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a search agent with GRPO from a recipe",
        description="Train with GRPO (TRL): an optional SFT warm start, GRPO, and the held-out "
        "questions scored before and after. A recipe with an `offline:` section first builds "
        "its own world (fictional KB -> index -> tiny model) and warm-starts on it. Also: "
        "`agentic-rag train view OUTPUT_DIR [-o FILE]`, an HTML browser of the trajectory "
        "groups sampled during training beside the curves.",
    )
    p.add_argument("--config", required=True, help="recipe YAML (see recipes/)")
    p.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in output_dir"
    )
    p.add_argument("--seed", type=int, help="overrides the recipe's seed")
    p.add_argument("--output-dir", help="overrides the recipe's output_dir")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=OVERRIDES_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from agentic_rag.recipe import load_recipe

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    values = {}
    if args.seed is not None:
        values["seed"] = args.seed
    if args.output_dir:
        values["output_dir"] = args.output_dir
    recipe = load_recipe(args.config, list(args.overrides), values)
    _preflight(recipe)
    _set_threads(recipe)
    _warn_cpu_bf16(recipe)
    from agentic_rag.pipeline import train_recipe

    train_recipe(recipe, resume=args.resume)
    _leave_process_group()
    return 0


def _preflight(recipe) -> None:
    """The recipe's combinations, model, index and output folder checked before any stage runs,
    the import-free checks first (a bad input ends in about a second)."""
    from agentic_rag.commands.preflight import check_budget, check_out_dir, check_retriever
    from agentic_rag.models.checkpoint import check_model
    from agentic_rag.recipe.rules import check_environment, check_training

    check_training(recipe)
    model = recipe.trl.get("model_name_or_path")  # ModelConfig would import TRL
    if model:
        check_model(model, "model_name_or_path")
        check_budget(model, recipe.rollout.max_completion_tokens)
    elif recipe.offline is None:  # the offline default builds its own tiny model
        raise ValueError(
            "model_name_or_path is not set: the policy to train (a checkpoint folder, a Hub id "
            "or a named model such as smollm2-135m-instruct)"
        )
    if recipe.offline is None:  # the offline world builds its own index
        check_retriever(recipe.retriever)
    check_out_dir(recipe.grpo.output_dir, "output_dir")  # recipe.grpo: TRL's own checks
    check_environment(recipe.grpo)


def _leave_process_group() -> None:
    """Ranks leave together before exit: a gloo group torn down by interpreter exit can abort a
    rank ("terminate called without an active exception", exit -6) after a finished run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _set_threads(recipe) -> None:
    """One torch thread per process when several share a CPU (docs/training.md: far faster)."""
    import os

    import torch

    if recipe.grpo.use_cpu and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        torch.set_num_threads(1)


def _warn_cpu_bf16(recipe) -> None:
    """TRL turns bf16 on by default; on a CPU without native bf16 that autocast is emulated."""
    import logging

    import torch

    on_cpu = recipe.grpo.use_cpu or not torch.cuda.is_available()
    if on_cpu and recipe.grpo.bf16:
        logging.getLogger(__name__).warning(
            "bf16=true on CPU: autocast to bfloat16 is emulated on CPUs without native bf16"
            " (many times slower than float32: docs/training.md); pass bf16=false unless this"
            " CPU has AVX512-BF16 or AMX"
        )
