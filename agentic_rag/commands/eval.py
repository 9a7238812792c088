"""`agentic-rag eval ...` and `agentic-rag eval compare RUN_A RUN_B`."""

from __future__ import annotations

import argparse

from agentic_rag.commands.recipe_args import add_recipe_arguments


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a search agent on QA benchmarks (direct / naive RAG / agentic)",
        description="Answer benchmark questions with the training rollout engine (greedy) and "
        "write OUT/predictions.jsonl, metrics.json, report.md. Re-running with the same --out "
        "skips finished questions. Protocol and budgets come from --config, else from the "
        "recipe `train` saved beside --model, else the defaults; override any key as "
        "key=value. Also: `agentic-rag eval compare RUN_A RUN_B` (paired bootstrap CIs) and "
        "`agentic-rag eval view RUN [RUN_B] [-o FILE]` (HTML trajectory browser).",
    )
    p.add_argument(
        "--model",
        help="policy: local folder or hub id (or the served model name with --backend openai)",
    )
    p.add_argument(
        "--data",
        help="dataset spec(s), comma-separated: file, folder, short name (hotpotqa) or hub id "
        "(default: the recipe's data.eval)",
    )
    p.add_argument("--mode", default="agentic", help="comma-separated: direct,naive,agentic")
    p.add_argument("--out", help="run folder (created; appended to and resumed)")
    p.add_argument("--backend", choices=["hf", "vllm", "openai"], default="hf")
    p.add_argument(
        "--base-url",
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (--backend openai)",
    )
    p.add_argument("--tokenizer", help="tokenizer folder/id when it differs from --model")
    p.add_argument("--limit", type=int, help="first N questions of each dataset")
    p.add_argument(
        "--sample",
        type=int,
        help="a seeded random sample of N questions of each dataset (all of a smaller one)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument(
        "--dataset-index",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="search this index (folder or server URL) for dataset NAME's questions; repeat per "
        "dataset; the others use --index / --retriever-url",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", help="torch device for --backend hf (default: cuda if available)")
    p.add_argument("--no-progress", action="store_true")
    add_recipe_arguments(p, "training recipe whose protocol/rollout/retriever sections to use")
    p.set_defaults(func=run)

    c = subparsers.add_parser(
        "eval-compare", help="`eval compare RUN_A RUN_B`: EM/F1 differences with paired CIs"
    )
    c.prog = "agentic-rag eval compare"
    c.description = "Per-dataset EM/F1 differences with paired bootstrap 95% CIs."
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument("--samples", type=int, default=2000)
    c.set_defaults(func=compare)


def compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agentic_rag.evaluation.compare import compare_runs, format_comparison

    rows = compare_runs(args.run_a, args.run_b, samples=args.samples)
    print(format_comparison(rows, Path(args.run_a).name, Path(args.run_b).name))
    return 0


def run(args: argparse.Namespace) -> int:
    from agentic_rag.commands.preflight import check_budget, check_out_dir, check_retriever
    from agentic_rag.commands.recipe_args import recipe_from_args
    from agentic_rag.evaluation.evaluate import EvalSettings, evaluate
    from agentic_rag.models.checkpoint import check_model

    missing = [f"--{k}" for k in ("model", "out") if not getattr(args, k)]
    if missing:
        raise ValueError(f"eval needs {', '.join(missing)} (see agentic-rag eval --help)")
    check_out_dir(args.out, "--out")
    if args.backend != "openai":
        check_model(args.model)
    if args.tokenizer:
        check_model(args.tokenizer, "--tokenizer", weights=False)
    recipe = recipe_from_args(args, args.model)
    check_budget(args.model, recipe.rollout.max_completion_tokens)
    data = args.data or recipe.data.eval
    if not data:
        raise ValueError("eval needs --data (the recipe has no data.eval either)")
    dataset_indexes = {}
    for item in args.dataset_index:
        name, sep, where = item.partition("=")
        if not (sep and name and where):
            raise ValueError(f"--dataset-index {item!r}: expected NAME=DIR")
        dataset_indexes[name] = where
    if args.mode != "direct":
        check_retriever(recipe.retriever, dataset_indexes)
    settings = EvalSettings(
        model=args.model,
        data=[s for s in data.split(",") if s],
        modes=[m for m in args.mode.split(",") if m],
        out=args.out,
        protocol=recipe.protocol,
        rollout=recipe.rollout,
        retriever=recipe.retriever,
        backend=args.backend,
        base_url=args.base_url,
        tokenizer=args.tokenizer,
        limit=args.limit,
        sample=args.sample,
        seed=args.seed,
        dataset_indexes=dataset_indexes,
        batch_size=args.batch_size,
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
