"""`agentic-rag eval ...`, `agentic-rag eval compare RUN_A RUN_B`, `agentic-rag eval view RUN`."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a search agent on QA benchmarks (direct / naive RAG / agentic)",
        description="Answer benchmark questions with the training rollout engine (greedy) and "
        "write OUT/predictions.jsonl, metrics.json, report.md. Re-running with the same --out "
        "skips finished questions.",
    )
    p.add_argument(
        "--model",
        help="policy: local folder or hub id (or the served model name with --backend openai)",
    )
    p.add_argument(
        "--data",
        help="dataset spec(s), comma-separated: file, folder, short name (hotpotqa) or hub id",
    )
    p.add_argument("--mode", default="agentic", help="comma-separated: direct,naive,agentic")
    p.add_argument("--out", help="run folder (created; appended to and resumed)")
    p.add_argument("--index", help="retriever_index folder")
    p.add_argument("--retriever-url", help="retrieval server URL (instead of --index)")
    p.add_argument(
        "--config", help="reuse the protocol/rollout/retriever sections of a training recipe"
    )
    p.add_argument(
        "--protocol", choices=["tags", "tools"], help="overrides the recipe/default (tags)"
    )
    p.add_argument("--backend", choices=["hf", "vllm", "openai"], default="hf")
    p.add_argument(
        "--base-url",
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (--backend openai)",
    )
    p.add_argument("--tokenizer", help="tokenizer folder/id when it differs from --model")
    p.add_argument("--limit", type=int, help="first N questions of each dataset")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--topk", type=int, help="passages per search (default: recipe or 3)")
    p.add_argument(
        "--max-turns", type=int, help="generation turns per question (default: recipe or 4)"
    )
    p.add_argument(
        "--max-turn-tokens", type=int, help="new tokens per turn (default: recipe or 256)"
    )
    p.add_argument("--device", help="torch device for --backend hf (default: cuda if available)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)
    sub = p.add_subparsers(dest="eval_command", required=False, metavar="{compare,view}")
    c = sub.add_parser("compare", help="per-dataset differences with paired bootstrap 95%% CIs")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument("--samples", type=int, default=2000)
    c.set_defaults(func=compare)
    v = sub.add_parser(
        "view",
        help="one self-contained HTML page: summary with CIs, filters, every trajectory",
        description="Write an HTML trajectory browser of a run (or of run B against run A: "
        "side by side, with the questions that flipped). It opens from disk, offline.",
    )
    v.add_argument("run_dir", help="a run folder (eval --out) or its predictions.jsonl")
    v.add_argument("run_b", nargs="?", help="a second run, compared against the first")
    v.add_argument(
        "-o", "--output", help="HTML file (default RUN_DIR/report.html, or RUN_DIR/vs_B.html)"
    )
    v.add_argument("--data", dest="view_data", metavar="DATASETS", help="only these (a,b,...)")
    v.add_argument("--mode", dest="view_modes", metavar="MODES", help="only these (a,b,...)")
    v.set_defaults(func=view)


def view(args: argparse.Namespace) -> int:
    from agentic_rag.viewer.cli import eval_view

    return eval_view(args)


def compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agentic_rag.evaluation.compare import compare_runs, format_comparison

    rows = compare_runs(args.run_a, args.run_b, samples=args.samples)
    if not rows:
        print("the two runs share no (dataset, mode) with common question ids")
        return 1
    print(format_comparison(rows, Path(args.run_a).name, Path(args.run_b).name))
    return 0


def run(args: argparse.Namespace) -> int:
    from agentic_rag.evaluation.harness import EvalSettings, evaluate

    missing = [f"--{k}" for k in ("model", "data", "out") if not getattr(args, k)]
    if missing:
        raise SystemExit(
            f"agentic-rag eval: missing {', '.join(missing)} (see agentic-rag eval --help)"
        )
    settings = EvalSettings(
        model=args.model,
        data=[s for s in args.data.split(",") if s],
        modes=[m for m in args.mode.split(",") if m],
        out=args.out,
        index=args.index,
        retriever_url=args.retriever_url,
        config=args.config,
        protocol=args.protocol,
        backend=args.backend,
        base_url=args.base_url,
        tokenizer=args.tokenizer,
        limit=args.limit,
        batch_size=args.batch_size,
        topk=args.topk,
        max_turns=args.max_turns,
        max_turn_tokens=args.max_turn_tokens,
        device=args.device,
        progress=not args.no_progress,
    )
    results = evaluate(settings)
    for dataset, modes in results.items():
        for mode, m in modes.items():
            print(
                f"{dataset:>16} {mode:>8}  EM {m.em:.3f}  F1 {m.f1:.3f}  searches {m.searches:.2f}  n={m.n}"
            )
    print(f"report: {args.out}/report.md")
    return 0
