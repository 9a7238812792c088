"""`agentic-rag` command line: one subcommand group per pipeline role.

Each role's module registers its own subcommands and imports heavy libraries only when run,
so `agentic-rag --help` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from agentic_rag.evaluation import cli as eval_cli
    from agentic_rag.models import cli as model_cli
    from agentic_rag.training import cli as train_cli
    from retriever_index import cli as index_cli

    parser = argparse.ArgumentParser(
        prog="agentic-rag",
        description="Train and evaluate LLM search agents (GRPO on TRL, FAISS retrieval).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (index_cli.register, train_cli.register, eval_cli.register, model_cli.register):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
