"""`agentic-rag ask --model M (--index DIR | --retriever-url URL) ["question"]`: one question
through the rollout engine, shown turn by turn (interactive when no question is given)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import TextIO

from agentic_rag.commands.recipe_args import add_recipe_arguments

_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")
SNIPPET_CHARS = 160


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ask",
        help="ask a search agent one question and watch it search, turn by turn",
        description="Run one question (or several, interactively) through the same rollout "
        "engine as training and evaluation: the model's text, each query, the passages found, "
        "the answer, tokens and time. Greedy unless --temperature. Protocol and budgets come "
        "from --config, else the recipe saved beside the model by `train`, else the defaults; "
        "key=value overrides apply last.",
    )
    p.add_argument("--model", required=True, help="checkpoint folder, hub id or known name")
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy (default)")
    p.add_argument("--samples", type=int, default=1, help="answer G times (a GRPO group)")
    p.add_argument("--device", help="torch device (default: cuda if available)")
    p.add_argument("--json", action="store_true", help="print the trajectory records as JSON")
    add_recipe_arguments(p, "recipe whose protocol/rollout/retriever sections to use")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from agentic_rag.backends.base import Sampling
    from agentic_rag.backends.factory import load_backend
    from agentic_rag.commands.preflight import check_budget, check_retriever
    from agentic_rag.commands.recipe_args import recipe_from_args
    from agentic_rag.models import resolve_model
    from agentic_rag.models.checkpoint import check_model
    from agentic_rag.protocols import make_protocol
    from agentic_rag.rollout import RolloutEngine
    from agentic_rag.search import load_search_tool

    words = [w for w in args.overrides if not _OVERRIDE.match(w)]
    args.overrides = [w for w in args.overrides if _OVERRIDE.match(w)]
    if args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    check_model(args.model)
    recipe = recipe_from_args(args, args.model)
    if not (recipe.retriever.index or recipe.retriever.url):
        raise ValueError("ask needs a retriever: --index DIR or --retriever-url URL")
    check_retriever(recipe.retriever)
    check_budget(args.model, recipe.rollout.max_completion_tokens)
    model = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(model)
    engine = RolloutEngine(
        load_backend("hf", model, tokenizer, device=args.device),
        load_search_tool(recipe.retriever),
        make_protocol(tokenizer, recipe.protocol),
        recipe.rollout,
    )
    sampling = Sampling(args.temperature, recipe.sampling.top_p, recipe.sampling.top_k)
    questions = [" ".join(words)] if words else _interactive()
    for question in questions:
        started = time.perf_counter()
        trajectories = engine.run([question] * args.samples, sampling)
        seconds = time.perf_counter() - started
        if args.json:
            print(json.dumps(record(question, trajectories, tokenizer, seconds), indent=2))
        else:
            show(question, trajectories, tokenizer, seconds)
    return 0


def _interactive():
    """Questions typed at the prompt, until an empty line or end of input."""
    while True:
        try:
            question = input("question> ").strip()
        except EOFError:
            return
        if not question:
            return
        yield question


def record(question: str, trajectories: list, tokenizer, seconds: float) -> dict:
    """The JSON `ask --json` prints: each sample's turns as predictions.jsonl stores them."""
    return {
        "question": question,
        "seconds": round(seconds, 3),
        "samples": [
            {
                "final_answer": t.final_answer,
                "finish_reason": t.finish_reason,
                "error": t.error,
                "num_searches": t.num_searches,
                "num_invalid": t.num_invalid,
                "generated_tokens": t.generated_tokens,
                "completion_tokens": len(t.completion_ids),
                "turns": t.describe_turns(tokenizer),
            }
            for t in trajectories
        ],
    }


def show(
    question: str, trajectories: list, tokenizer, seconds: float, out: TextIO | None = None
) -> None:
    """Turn by turn: the model's text, each query and its hits (title, score, a snippet), to
    `out` or the current sys.stdout (looked up per call: a redirected stream may be closed)."""
    out = out or sys.stdout
    print(f"question: {question}", file=out)
    for n, t in enumerate(trajectories):
        if len(trajectories) > 1:
            print(f"\n=== sample {n + 1} of {len(trajectories)} ===", file=out)
        if t.error:
            print(f"refused: {t.error}", file=out)
        for i, turn in enumerate(t.turns, start=1):
            text = tokenizer.decode(t.completion_ids[turn.start : turn.end])
            print(f"\n--- turn {i} ({turn.action}) ---\n{text}", file=out)
            for query, result in zip(turn.queries, turn.results, strict=True):
                print(f"  search: {query}", file=out)
                if isinstance(result, str):
                    print(f"    error: {result}", file=out)
                    continue
                for hit in result:
                    snippet = " ".join(hit.text.split())[:SNIPPET_CHARS]
                    print(f"    [{hit.score:.3f}] {hit.title}: {snippet}", file=out)
        print(
            f"\nanswer: {t.final_answer!r} ({t.finish_reason}; {t.num_searches} searches, "
            f"{t.generated_tokens} generated tokens)",
            file=out,
        )
    print(f"time: {seconds:.2f} s", file=out)
