"""`agentic-rag` command line: one subcommand group per pipeline role.

Each command's module registers its own parser and imports heavy libraries only when run, so
`agentic-rag --help` stays instant. Bad input ends in one `error:` line and exit status 2, a bug
in one line and exit status 1; `--debug` shows the traceback (commands/errors.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from agentic_rag.commands import ask as ask_cmd
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
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (
        index_cli.register,
        train_cmd.register,
        eval_cmd.register,
        ask_cmd.register,
        recipe_cmd.register,
        view_cmd.register,
        model_cmd.register,
    ):
        register(sub)
    _add_debug_flag(sub)
    return parser


DEBUG_HELP = (
    "on failure, show the Python traceback instead of one error line (also: AGENTIC_RAG_DEBUG=1)"
)


def _add_debug_flag(subparsers: argparse._SubParsersAction) -> None:
    """`--debug` after the command too (`agentic-rag train --debug ...`), at every depth."""
    for command in set(subparsers.choices.values()):
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
        )
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_debug_flag(action)


NESTED = {"eval": ("compare", "view"), "train": ("view",)}
"""`eval` and `train` take free key=value arguments, so their subcommands are hidden top-level
commands (`eval-compare`, ...) spelled with a space on the command line."""


def _nested(argv: list[str]) -> list[str]:
    at = next((i for i, word in enumerate(argv) if not word.startswith("-")), len(argv))
    if len(argv) >= at + 2 and argv[at + 1] in NESTED.get(argv[at], ()):
        return [*argv[:at], f"{argv[at]}-{argv[at + 1]}", *argv[at + 2 :]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    from agentic_rag.commands.errors import DEBUG_ENV, report

    argv = _nested(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    saved = warnings.formatwarning
    if not debug:
        warnings.formatwarning = _warning_line
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the one place failures become a line
        if debug:
            raise
        return report(err)
    finally:
        warnings.formatwarning = saved


def _warning_line(message, category, *_, **__) -> str:
    """A library warning as one line (Python's shows the source line too)."""
    return f"warning: {' '.join(str(message).split())}\n"


if __name__ == "__main__":
    sys.exit(main())
