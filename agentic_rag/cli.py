"""`agentic-rag` command line: one subcommand group per pipeline role.

Each command's module registers its own parser and imports heavy libraries only when run, so
`agentic-rag --help` stays instant. Bad input ends in one `error:` line and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from agentic_rag.commands import eval as eval_cmd
    from agentic_rag.commands import model as model_cmd
    from agentic_rag.commands import recipe as recipe_cmd
    from agentic_rag.commands import train as train_cmd
    from agentic_rag.commands import view as view_cmd
    from retriever_index import cli as index_cli

    parser = argparse.ArgumentParser(
        prog="agentic-rag",
        description="Train and evaluate LLM search agents (GRPO on TRL, FAISS retrieval).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (
        index_cli.register,
        train_cmd.register,
        eval_cmd.register,
        recipe_cmd.register,
        view_cmd.register,
        model_cmd.register,
    ):
        register(sub)
    return parser


NESTED = {"eval": ("compare", "view"), "train": ("view",)}
"""`eval` and `train` take free key=value arguments, so their subcommands are hidden top-level
commands (`eval-compare`, ...) spelled with a space on the command line."""


def _nested(argv: list[str]) -> list[str]:
    if len(argv) >= 2 and argv[1] in NESTED.get(argv[0], ()):
        return [f"{argv[0]}-{argv[1]}", *argv[2:]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = _nested(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("AGENTIC_RAG_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
