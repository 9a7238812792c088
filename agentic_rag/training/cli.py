"""`agentic-rag train --config RECIPE.yaml [key=value ...]` and `agentic-rag train view DIR`."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a search agent with GRPO from a recipe",
        description="Train with GRPO (TRL). Recipes with an `offline:` section run the built-in "
        "offline pipeline (KB -> index -> tiny model -> SFT -> GRPO -> eval). "
        "`agentic-rag train view OUTPUT_DIR [-o FILE]` writes an HTML browser of the "
        "trajectory groups sampled during training, beside the curves.",
        usage="%(prog)s --config RECIPE [options] [key=value ...]\n"
        "       %(prog)s view OUTPUT_DIR [-o FILE]",
    )
    p.add_argument("--config", help="recipe YAML (see recipes/)")
    p.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in output_dir"
    )
    p.add_argument("--seed", type=int, help="overrides the recipe's seed")
    p.add_argument("--output-dir", help="overrides the recipe's output_dir")
    p.add_argument("overrides", nargs="*", help="recipe overrides: key=value or section.key=value")
    p.add_argument(
        "-o", "--output", help="train view: the HTML file (default OUTPUT_DIR/report.html)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    # `view` is not an override (those are key=value); argparse cannot mix a subcommand with
    # the free overrides list, so it is read from there.
    if args.overrides[:1] == ["view"]:
        return _view(args)
    if not args.config:
        raise SystemExit("agentic-rag train: --config RECIPE is required (see recipes/)")
    if args.output:
        raise SystemExit("agentic-rag train: -o/--output belongs to `agentic-rag train view`")
    from agentic_rag.training.config import load_recipe

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    recipe = load_recipe(args.config, overrides)
    _set_threads(recipe)
    _warn_cpu_bf16(recipe)
    if recipe.offline is not None:
        from agentic_rag.training.offline import StaleOutputError, run_offline

        try:
            run_offline(recipe, resume=args.resume)
        except StaleOutputError as err:
            raise SystemExit(f"error: {err}") from None
        return 0
    from agentic_rag.data.qa import load_qa
    from agentic_rag.retrieval import load_search_tool
    from agentic_rag.training.grpo import train_grpo

    if not recipe.data.train:
        raise SystemExit(f"{args.config}: data.train is not set (a QA dataset spec to train on)")
    examples = load_qa(recipe.data.train, limit=recipe.data.train_limit)
    train_grpo(recipe, examples, load_search_tool(recipe.retriever), resume=args.resume)
    return 0


def _set_threads(recipe) -> None:
    """One torch thread per process when several share a CPU (measured 10-20x faster)."""
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
            " (a tiny-model training step ran 14x slower than float32 on an AVX2 machine here);"
            " pass bf16=false unless this CPU has AVX512-BF16 or AMX"
        )


def _view(args: argparse.Namespace) -> int:
    from agentic_rag.viewer.cli import train_view

    rest = args.overrides[1:]
    extra = [
        flag
        for flag, on in (
            ("--config", args.config),
            ("--resume", args.resume),
            ("--seed", args.seed is not None),
            ("--output-dir", args.output_dir),
        )
        if on
    ]
    if len(rest) != 1 or extra:
        raise SystemExit(
            "usage: agentic-rag train view OUTPUT_DIR [-o FILE]"
            + (f" ({', '.join(extra)} belong to training)" if extra else "")
        )
    return train_view(rest[0], args.output)
