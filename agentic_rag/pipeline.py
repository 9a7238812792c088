"""`agentic-rag train` for a recipe: an optional SFT warm start, GRPO, and the held-out questions
answered before and after with the evaluation harness, then OUTPUT_DIR/summary.json and
curves.png. The offline default runs this after building its world and warm start.

It sits above `training` and `evaluation`, which never import each other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from agentic_rag.data.splits import hold_out, load_questions, write_questions
from agentic_rag.evaluation.compare import paired_bootstrap
from agentic_rag.evaluation.evaluate import EvalSettings, evaluate
from agentic_rag.evaluation.metrics import ModeMetrics
from agentic_rag.evaluation.predictions import read_predictions
from agentic_rag.protocols import make_protocol
from agentic_rag.recipe import Recipe, derive
from agentic_rag.recipe_rules import check_enough_questions
from agentic_rag.search import RetrieverConfig, SearchTool, load_search_tool
from agentic_rag.training.curves import plot_curves
from agentic_rag.training.grpo import train_grpo
from agentic_rag.training.warm_start import run_sft, supporting_plans
from agentic_rag.wall_clock import WallClock

EVAL_BATCH_SIZE = 64
"""Questions per generation call when scoring held-out questions."""
SUMMARY_FILE = "summary.json"
HELD_OUT_FILE = "heldout.jsonl"


def held_out(metrics: ModeMetrics) -> dict[str, float]:
    """The summary's view of one held-out evaluation."""
    return {
        "em": metrics.em,
        "f1": metrics.f1,
        "sub_em": metrics.sub_em,
        "searches_per_question": metrics.searches,
        "turns_per_question": metrics.turns,
        "invalid_action_share": metrics.invalid_action_share,
        "unanswered_share": 1.0 - metrics.answered_share,
        "questions": metrics.n,
    }


def evaluate_checkpoint(
    model: str | Path,
    recipe: Recipe,
    data: str,
    out: Path,
    search: SearchTool,
    modes: tuple[str, ...] = ("agentic",),
) -> dict[str, dict[str, float]]:
    """Greedy metrics of a checkpoint on the held-out questions, per mode, written to `out` (a
    normal evaluation run folder: resumable, viewable with `agentic-rag eval view`)."""
    settings = EvalSettings(
        model=str(model),
        data=[data],
        modes=list(modes),
        out=str(out),
        protocol=recipe.protocol,
        rollout=recipe.rollout,
        retriever=recipe.retriever,
        limit=recipe.data.eval_limit,
        batch_size=EVAL_BATCH_SIZE,
        device="cpu" if recipe.grpo.use_cpu else None,
        progress=True,
    )
    (by_mode,) = evaluate(settings, search=search).values()
    return {mode: held_out(metrics) for mode, metrics in by_mode.items()}


def em_difference(run_a: Path, mode_a: str, run_b: Path, mode_b: str) -> dict[str, float]:
    """Paired bootstrap 95% CI of EM(b) - EM(a) over the questions both runs answered."""
    a = {p.id: p.em for p in read_predictions(run_a) if p.mode == mode_a}
    b = {p.id: p.em for p in read_predictions(run_b) if p.mode == mode_b}
    ids = sorted(a.keys() & b.keys())
    d = paired_bootstrap(np.array([a[i] for i in ids]), np.array([b[i] for i in ids]))
    return {"diff": d.diff, "low": d.low, "high": d.high, "questions": len(ids)}


def is_main_process() -> bool:
    """Rank 0 of a torchrun/accelerate launch, or a single process."""
    return int(os.environ.get("RANK", "0")) == 0


def _say(message: str) -> None:
    print(f"[agentic-rag] {message}", flush=True)


def train_and_evaluate(
    recipe: Recipe,
    search: SearchTool | RetrieverConfig,
    resume: bool = False,
    label: str = "start",
    clock: WallClock | None = None,
) -> tuple[dict[str, Any], list[dict]]:
    """Warm start (when `warm_start.examples`), GRPO on `data.train`, and with `data.eval` the
    held-out metrics of the starting policy (under `label`) and the final one; with a warm start
    also of the base model, agentic and naive RAG, and the final policy's paired EM differences
    against both. Returns the summary and the trainer's log history. `wall_seconds` sums every
    resumed part (`clock`: a caller's, else one in output_dir). `search`: a loaded tool, or the
    retriever section to load once the questions are checked."""
    out = Path(recipe.grpo.output_dir)
    own = clock is None
    clock = clock or WallClock(out, resume, write=is_main_process())
    try:
        summary, log_history = _train_and_evaluate(recipe, search, resume, label)
    finally:
        if own:
            clock.stop()
    summary["wall_seconds"] = clock.seconds()
    return summary, log_history


def _train_and_evaluate(
    recipe: Recipe, search: SearchTool | RetrieverConfig, resume: bool, label: str
) -> tuple[dict[str, Any], list[dict]]:
    out = Path(recipe.grpo.output_dir)
    if not recipe.data.train:
        raise ValueError("data.train is not set (a QA dataset spec to train on)")
    train = load_questions(recipe.data.train, recipe.data.train_limit)
    data = recipe.data.eval
    if data and recipe.data.holdout:
        train, held = hold_out(train, load_questions(data), recipe.data.holdout)
        data = str(write_questions(held, out / HELD_OUT_FILE).resolve())
        # The recipe saved with the checkpoints names exactly these questions, so `eval` and
        # `ask` of the trained model default to the held-out set.
        recipe = derive(recipe, {"data.eval": data, "data.holdout": 0})
    summary: dict[str, Any] = {"seed": recipe.grpo.seed}
    train, refused = fitting_questions(recipe, train)
    if refused:
        summary["refused_questions"] = refused
    demos = recipe.warm_start.examples
    check_enough_questions(
        recipe.grpo,
        len(train) - demos,
        f"data.train ({recipe.data.train})"
        + (f", less the {demos} warm_start.examples used for SFT" if demos else ""),
    )
    search = load_search_tool(search)  # loading an index can take minutes: checks go first
    evaluate_here = bool(data) and is_main_process()
    base = recipe.model.model_name_or_path
    if recipe.warm_start.examples:
        if evaluate_here:
            modes = ("naive", "agentic")
            summary["base"] = evaluate_checkpoint(
                base, recipe, data, out / "eval" / "base", search, modes
            )
            _say(f"base model: held-out EM {_ems(summary['base'])}")
        sft_dir, train = warm_start(recipe, train, search)
        recipe, label = derive(recipe, {"model_name_or_path": str(sft_dir)}), "sft"
        check_enough_questions(recipe.grpo, len(train), "questions left after the warm start")
    if evaluate_here:
        start = recipe.model.model_name_or_path
        summary[label] = evaluate_checkpoint(start, recipe, data, out / "eval" / label, search)[
            "agentic"
        ]
        _say(f"{label}: held-out EM {summary[label]['em']:.3f}, F1 {summary[label]['f1']:.3f}")
    trainer = train_grpo(recipe, train, search, resume=resume)
    summary["grpo_steps"] = trainer.state.global_step
    if not trainer.state.global_step:  # checked up front; never report SFT as "after GRPO"
        raise RuntimeError(f"GRPO trained zero steps in {out}; nothing to evaluate")
    log_history = trainer.state.log_history
    del trainer  # free the policy, optimizer and reference model before the final evaluation
    if evaluate_here:
        final = out / "eval" / "final"
        summary["grpo"] = evaluate_checkpoint(out / "final", recipe, data, final, search)["agentic"]
        summary["em_gain"] = summary["grpo"]["em"] - summary[label]["em"]
        _say(f"after GRPO: held-out EM {summary['grpo']['em']:.3f}, F1 {summary['grpo']['f1']:.3f}")
        if "base" in summary:
            summary["vs_base"] = {
                mode: em_difference(out / "eval" / "base", mode, final, "agentic")
                for mode in ("naive", "agentic")
            }
    summary["recipe"] = recipe.source
    return summary, log_history


def fitting_questions(recipe: Recipe, questions: list) -> tuple[list, int]:
    """The questions whose prompt fits the policy's context beside a whole completion, and how
    many did not (each logged with its reason): GRPO needs a completion for every prompt."""
    from transformers import AutoTokenizer

    from agentic_rag.models import resolve_model
    from agentic_rag.models.checkpoint import model_context
    from agentic_rag.rollout import PromptBudget, context_tokens

    model = resolve_model(recipe.model.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model)
    context = model_context(model) or context_tokens(None, tokenizer)
    budget = PromptBudget(
        make_protocol(tokenizer, recipe.protocol), context, recipe.rollout.max_completion_tokens
    )
    kept = [e for e in questions if budget.refusal(e.question) is None]
    if len(kept) < len(questions):
        _say(f"left out {len(questions) - len(kept)} training question(s) too long to fit")
    return kept, len(questions) - len(kept)


def _ems(by_mode: dict[str, dict[str, float]]) -> str:
    return ", ".join(f"{mode} {m['em']:.3f}" for mode, m in by_mode.items())


def warm_start(recipe: Recipe, train: list, search: SearchTool) -> tuple[Path, list]:
    """SFT on `warm_start.examples` demonstrations from the training questions' gold supporting
    passages (OUTPUT_DIR/sft, reused on a re-run); returns it and the training questions no
    demonstration used, which GRPO trains on (so its reward pays for reading, not recall)."""
    from transformers import AutoTokenizer

    from agentic_rag.models import resolve_model

    base = resolve_model(recipe.model.model_name_or_path)
    protocol = make_protocol(AutoTokenizer.from_pretrained(base), recipe.protocol)
    rows, used = supporting_plans(
        protocol, train, search, recipe.rollout.topk, recipe.warm_start.examples
    )
    keys = {(e.dataset, e.id) for e in used}
    rest = [e for e in train if (e.dataset, e.id) not in keys]
    _say(f"SFT warm start on {len(rows)} demonstrations; GRPO on the other {len(rest)} questions")
    out = Path(recipe.grpo.output_dir) / "sft"
    return run_sft(
        base,
        rows,
        out,
        recipe.warm_start,
        seed=recipe.grpo.seed,
        use_cpu=recipe.grpo.use_cpu,
        bf16=recipe.grpo.bf16,
        gradient_checkpointing=recipe.grpo.gradient_checkpointing,
    ), rest


def write_summary(summary: dict[str, Any], log_history: list[dict], folder: Path) -> None:
    """FOLDER/summary.json and FOLDER/curves.png (main process only)."""
    if not is_main_process():
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    plot_curves(log_history, folder / "curves.png")
    _say(f"summary: {folder / SUMMARY_FILE}  curves: {folder / 'curves.png'}")
