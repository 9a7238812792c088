"""The recipe arguments every command shares: `--config RECIPE`, `key=value` overrides, and
`--index` / `--retriever-url` for where searches go."""

from __future__ import annotations

import argparse
import sys

OVERRIDES_HELP = (
    "recipe overrides, after the options: key=value or section.key=value (agentic-rag recipe)"
)


def add_recipe_arguments(p: argparse.ArgumentParser, config_help: str) -> None:
    p.add_argument("--config", help=config_help)
    p.add_argument("--index", help="retriever_index folder (sets retriever.index)")
    p.add_argument("--retriever-url", help="retrieval server URL (sets retriever.url)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=OVERRIDES_HELP)


def recipe_from_args(args: argparse.Namespace, model: str | None = None):
    """`--config`, else the recipe saved beside `model` by `train`, else every default; then the
    overrides and the retriever flags."""
    from agentic_rag.recipe import load_recipe, recipe_beside

    path = args.config or recipe_beside(model)
    if path is not None and not args.config:
        print(f"[agentic-rag] using the recipe saved with the model: {path}", file=sys.stderr)
    values = {}
    if args.index or args.retriever_url:
        values = {"retriever.index": args.index, "retriever.url": args.retriever_url}
    return load_recipe(path, list(args.overrides), values)
