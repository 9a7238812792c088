"""`agentic-rag eval view RUN [RUN_B]` and `agentic-rag train view OUTPUT_DIR`: one
self-contained HTML trajectory browser per run, pair of runs or training folder."""

from __future__ import annotations

import argparse
from pathlib import Path

PAGE_FILE = "report.html"


def register(subparsers) -> None:
    """Top-level commands `eval-view` and `train-view`, also spelled with a space (cli.main):
    `eval` and `train` take free key=value arguments, so they cannot have subparsers."""
    v = subparsers.add_parser(
        "eval-view", help="`eval view RUN [RUN_B]`: an offline HTML trajectory browser"
    )
    v.prog = "agentic-rag eval view"
    v.description = (
        "Write an HTML trajectory browser of a run (or of run B against run A: side by side, "
        "with the questions that flipped). It opens from disk, offline."
    )
    v.add_argument("run_dir", help="a run folder (eval --out) or its predictions.jsonl")
    v.add_argument("run_b", nargs="?", help="a second run, compared against the first")
    v.add_argument(
        "-o", "--output", help="HTML file (default RUN_DIR/report.html, or RUN_DIR/vs_B.html)"
    )
    v.add_argument("--data", metavar="DATASETS", help="only these datasets (a,b,...)")
    v.add_argument("--mode", metavar="MODES", help="only these modes (a,b,...)")
    v.set_defaults(func=eval_view)

    t = subparsers.add_parser(
        "train-view", help="`train view OUTPUT_DIR`: sampled training groups beside the curves"
    )
    t.prog = "agentic-rag train view"
    t.description = (
        "Write an HTML browser of the trajectory groups sampled during training "
        "(OUTPUT_DIR/trajectories), beside the curves and the run summary."
    )
    t.add_argument("output_dir", help="the training output_dir")
    t.add_argument("-o", "--output", help="HTML file (default OUTPUT_DIR/report.html)")
    t.set_defaults(func=train_view)


def _done(path: Path) -> int:
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); open {path.resolve().as_uri()}")
    return 0


def eval_view(args: argparse.Namespace) -> int:
    from agentic_rag.viewer import eval_payload, write_page
    from agentic_rag.viewer.eval_data import run_folder

    if args.output:
        out = Path(args.output)
    elif args.run_b:
        out = run_folder(args.run_dir) / f"vs_{run_folder(args.run_b).resolve().name}.html"
    else:
        out = run_folder(args.run_dir) / PAGE_FILE
    payload = eval_payload(
        args.run_dir,
        args.run_b,
        datasets=[d for d in (args.data or "").split(",") if d] or None,
        modes=[m for m in (args.mode or "").split(",") if m] or None,
    )
    return _done(write_page(payload, out))


def train_view(args: argparse.Namespace) -> int:
    from agentic_rag.viewer import train_payload, write_page

    out = Path(args.output) if args.output else Path(args.output_dir) / PAGE_FILE
    return _done(write_page(train_payload(args.output_dir), out))
