"""`agentic-rag recipe [SECTION] [--markdown]`: every recipe key with its default and meaning."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "recipe",
        help="list recipe keys: type, default and what each does",
        description="Every key of agentic-rag's recipe sections (TRL's own top-level keys are "
        "documented by TRL). `--markdown` prints docs/recipes.md.",
    )
    p.add_argument("section", nargs="?", help="only this section (retriever, protocol, ...)")
    p.add_argument("--markdown", action="store_true", help="print docs/recipes.md")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agentic_rag.recipe.docs import render_markdown, section_rows
    from agentic_rag.recipe.sections import SECTIONS, RewardSpec

    if args.markdown:
        print(render_markdown(), end="")
        return 0
    sections = {**SECTIONS, "rewards[]": RewardSpec}
    if args.section and args.section not in sections:
        raise ValueError(f"unknown section {args.section!r}; sections: {', '.join(sections)}")
    for name, cls in sections.items():
        if args.section and name != args.section:
            continue
        print(f"{name}:")
        for key, kind, default, doc in section_rows(cls, name):
            print(f"  {key} ({kind}, default {default})\n      {doc}")
    return 0
