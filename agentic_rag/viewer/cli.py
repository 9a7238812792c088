"""The `eval view` and `train view` commands (registered by the evaluation and training CLIs)."""

from __future__ import annotations

import argparse
from pathlib import Path

PAGE_FILE = "report.html"


def _done(path: Path) -> int:
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); open {path.resolve().as_uri()}")
    return 0


def eval_view(args: argparse.Namespace) -> int:
    """`agentic-rag eval view RUN_DIR [RUN_DIR_B] [-o FILE]`."""
    from agentic_rag.viewer import eval_payload, write_page
    from agentic_rag.viewer.eval_data import run_folder

    if args.output:
        out = Path(args.output)
    elif args.run_b:
        out = run_folder(args.run_dir) / f"vs_{run_folder(args.run_b).resolve().name}.html"
    else:
        out = run_folder(args.run_dir) / PAGE_FILE
    try:
        payload = eval_payload(
            args.run_dir,
            args.run_b,
            datasets=[d for d in (args.view_data or "").split(",") if d] or None,
            modes=[m for m in (args.view_modes or "").split(",") if m] or None,
        )
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"agentic-rag eval view: {err}") from None
    return _done(write_page(payload, out))


def train_view(output_dir: str, output: str | None) -> int:
    """`agentic-rag train view OUTPUT_DIR [-o FILE]`."""
    from agentic_rag.viewer import train_payload, write_page

    try:
        payload = train_payload(output_dir)
    except FileNotFoundError as err:
        raise SystemExit(f"agentic-rag train view: {err}") from None
    return _done(write_page(payload, Path(output) if output else Path(output_dir) / PAGE_FILE))
