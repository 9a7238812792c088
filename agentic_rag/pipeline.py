"""`agentic-rag train`: one pipeline for every recipe, top to bottom.

    prepare_world     only with an `offline:` section: the fictional KB, its index and an
                      untrained tiny policy, which the recipe is then pointed at
    questions         data.train, minus `data.holdout` questions of data.eval kept for scoring
                      and those too long for the policy's context; a run they would give zero
                      GRPO steps is refused here, before any index or model loads
    warm_start        SFT on demonstrations (the offline world's, or `warm_start.examples`
                      from gold supporting passages); GRPO trains on the questions left
    evaluate          the held-out questions with the starting policy (and a pretrained base)
    train_grpo        GRPO with the search tool, KL to the frozen starting policy
    evaluate          the held-out questions with the final policy, paired differences
    write_summary     OUTPUT_DIR/summary.json and curves.png

Every stage's output is reused on a re-run, so `--resume` after a kill continues where it
stopped (an interrupted index build included; a checkpoint cut short is built again). It sits above `training`, `evaluation` and `offline`, which never import each other.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from agentic_rag.data.qa import QAExample
from agentic_rag.data.splits import hold_out, load_questions, write_questions
from agentic_rag.evaluation.compare import paired_bootstrap
from agentic_rag.evaluation.evaluate import EvalSettings, evaluate
from agentic_rag.evaluation.metrics import ModeMetrics
from agentic_rag.evaluation.predictions import read_predictions
from agentic_rag.offline.demonstrations import kb_demonstrations, split_questions
from agentic_rag.offline.world import prepare_world
from agentic_rag.protocols import make_protocol
from agentic_rag.recipe import Recipe, derive
from agentic_rag.recipe.rules import check_enough_questions, check_training
from agentic_rag.search import SearchTool, load_search_tool
from agentic_rag.training.curves import plot_curves
from agentic_rag.training.grpo import train_grpo
from agentic_rag.training.warm_start import run_sft, supporting_plans
from agentic_rag.wall_clock import WallClock

EVAL_BATCH_SIZE = 64
"""Questions per generation call when scoring held-out questions."""
SUMMARY_FILE = "summary.json"
HELD_OUT_FILE = "heldout.jsonl"
LOG_HISTORY_FILE = "log_history.json"
"""The trainer's per-step logs (what curves.png draws), for comparing runs afterwards."""


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


def say(message: str) -> None:
    print(f"[agentic-rag] {message}", flush=True)


def train_recipe(recipe: Recipe, resume: bool = False) -> dict[str, Any]:
    """Every stage for `recipe` (see the module docstring); returns the summary it writes.
    `wall_seconds` sums this run and every `--resume` of it (OUTPUT_DIR/wall_clock.json)."""
    check_training(recipe)
    out = Path(recipe.grpo.output_dir)
    clock = WallClock(out, resume, write=is_main_process())
    try:
        summary, log_history = _stages(recipe, resume, clock)
    finally:
        clock.stop()
    write_summary(summary, log_history, out)
    return summary


def _stages(recipe: Recipe, resume: bool, clock: WallClock) -> tuple[dict[str, Any], list[dict]]:
    given = recipe
    if recipe.offline is not None:
        policy = "" if recipe.model.model_name_or_path else ", tiny policy"
        say(f"offline world under {recipe.grpo.output_dir}: fictional KB, index{policy}")
        # the world's questions are counted before its index is built
        recipe = prepare_world(recipe, resume, lambda r: check_steps(r, questions(r)[1]))
    out = Path(recipe.grpo.output_dir)
    recipe, train = questions(recipe)
    summary: dict[str, Any] = {"seed": recipe.grpo.seed}
    train, refused = fitting_questions(recipe, train)
    if refused:
        summary["refused_questions"] = refused
    check_steps(recipe, train)
    search = load_search_tool(recipe.retriever)  # loading an index can take minutes: checks first
    data = recipe.data.eval
    evaluate_here = bool(data) and is_main_process()
    label, demos = "start", None
    if recipe.offline is not None or recipe.warm_start.examples:
        if evaluate_here and recipe.offline is None:  # the offline world's base is untrained
            base = recipe.model.model_name_or_path
            modes = ("naive", "agentic")
            summary["base"] = evaluate_checkpoint(
                base, recipe, data, out / "eval" / "base", search, modes
            )
            say(f"base model: held-out EM {_ems(summary['base'])}")
        sft_dir, train, demos = warm_start(recipe, train, search)
        recipe, label = derive(recipe, {"model_name_or_path": str(sft_dir)}), "sft"
        check_enough_questions(recipe.grpo, len(train), "questions left after the warm start")
    if evaluate_here:
        start = recipe.model.model_name_or_path
        summary[label] = evaluate_checkpoint(start, recipe, data, out / "eval" / label, search)[
            "agentic"
        ]
        say(f"{label}: held-out EM {summary[label]['em']:.3f}, F1 {summary[label]['f1']:.3f}")
    trainer = train_grpo(recipe, train, search, resume=resume, sft_rows=demos)
    summary["grpo_steps"] = trainer.state.global_step
    if not trainer.state.global_step:  # checked up front; never report SFT as "after GRPO"
        raise RuntimeError(f"GRPO trained zero steps in {out}; nothing to evaluate")
    log_history = trainer.state.log_history
    del trainer  # free the policy, optimizer and reference model before the final evaluation
    if evaluate_here:
        final = out / "eval" / "final"
        summary["grpo"] = evaluate_checkpoint(out / "final", recipe, data, final, search)["agentic"]
        summary["em_gain"] = summary["grpo"]["em"] - summary[label]["em"]
        say(f"after GRPO: held-out EM {summary['grpo']['em']:.3f}, F1 {summary['grpo']['f1']:.3f}")
        if "base" in summary:
            summary["vs_base"] = {
                mode: em_difference(out / "eval" / "base", mode, final, "agentic")
                for mode in ("naive", "agentic")
            }
    summary["wall_seconds"] = clock.seconds()
    summary["recipe"] = given.source
    if recipe.offline is not None:
        summary["offline"] = asdict(recipe.offline)
    return summary, log_history


def questions(recipe: Recipe) -> tuple[Recipe, list[QAExample]]:
    """The training questions; with `data.holdout`, that many questions of `data.eval` are taken
    out of them and written to OUTPUT_DIR/heldout.jsonl, which the returned recipe evaluates on
    (and which is saved with the checkpoints, so `eval` and `ask` default to it)."""
    if not recipe.data.train:
        raise ValueError("data.train is not set (a QA dataset spec to train on)")
    train = load_questions(recipe.data.train, recipe.data.train_limit)
    if recipe.data.eval and recipe.data.holdout:
        train, held = hold_out(train, load_questions(recipe.data.eval), recipe.data.holdout)
        path = write_questions(held, Path(recipe.grpo.output_dir) / HELD_OUT_FILE).resolve()
        recipe = derive(recipe, {"data.eval": str(path), "data.holdout": 0})
    return recipe, train


def check_steps(recipe: Recipe, train: list[QAExample]) -> None:
    """RecipeError when the questions GRPO would train on (those the warm start leaves) make
    zero GRPO steps: checked before the index, the warm start or any model loads."""
    if recipe.offline is not None:
        _, rest = split_questions(recipe.data.train, train, recipe.offline.sft_share)
        what = "offline: the questions offline.sft_share leaves for GRPO"
        check_enough_questions(recipe.grpo, len(rest), what)
        return
    demos = recipe.warm_start.examples
    what = f"data.train ({recipe.data.train})"
    what += f", less the {demos} warm_start.examples used for SFT" if demos else ""
    check_enough_questions(recipe.grpo, len(train) - demos, what)


def fitting_questions(recipe: Recipe, train: list[QAExample]) -> tuple[list[QAExample], int]:
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
    kept = [e for e in train if budget.refusal(e.question) is None]
    if len(kept) < len(train):
        say(f"left out {len(train) - len(kept)} training question(s) too long to fit")
    return kept, len(train) - len(kept)


def _ems(by_mode: dict[str, dict[str, float]]) -> str:
    return ", ".join(f"{mode} {m['em']:.3f}" for mode, m in by_mode.items())


def warm_start(
    recipe: Recipe, train: list[QAExample], search: SearchTool
) -> tuple[Path, list[QAExample], list[dict]]:
    """SFT on demonstrations (OUTPUT_DIR/sft, reused on a re-run); returns it, the training
    questions no demonstration used, which GRPO trains on (so its reward pays for reading, not
    recall), and the demonstrations (for `update.sft_coef`). The offline world demonstrates its own questions, hop by hop; any other recipe
    `warm_start.examples` questions whose gold supporting passages the search finds."""
    from transformers import AutoTokenizer

    from agentic_rag.models import resolve_model
    from agentic_rag.models.checkpoint import is_complete

    base = resolve_model(recipe.model.model_name_or_path)
    out = Path(recipe.grpo.output_dir) / "sft"
    protocol = make_protocol(AutoTokenizer.from_pretrained(base), recipe.protocol)
    topk, seed = recipe.rollout.topk, recipe.grpo.seed
    if recipe.offline is not None:
        taught, rest = split_questions(recipe.data.train, train, recipe.offline.sft_share)
        taught = taught[: recipe.warm_start.examples or None]
        # the demonstrations search: only when the SFT or the auxiliary SFT term needs them
        built = is_complete(out) and not recipe.update.sft_coef
        shortcuts = recipe.offline.shortcut_fraction
        rows = [] if built else kb_demonstrations(protocol, search, taught, topk, shortcuts, seed)
    else:
        rows, used = supporting_plans(protocol, train, search, topk, recipe.warm_start.examples)
        keys = {(e.dataset, e.id) for e in used}
        rest = [e for e in train if (e.dataset, e.id) not in keys]
    say(f"SFT warm start on {len(rows)} demonstrations; GRPO on the other {len(rest)} questions")
    sft_dir = run_sft(
        base,
        rows,
        out,
        recipe.warm_start,
        seed=seed,
        use_cpu=recipe.grpo.use_cpu,
        bf16=recipe.grpo.bf16,
        gradient_checkpointing=recipe.grpo.gradient_checkpointing,
    )
    return sft_dir, rest, rows


def write_summary(summary: dict[str, Any], log_history: list[dict], folder: Path) -> None:
    """FOLDER/summary.json, FOLDER/log_history.json and FOLDER/curves.png (main process
    only)."""
    if not is_main_process():
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    (folder / LOG_HISTORY_FILE).write_text(json.dumps(log_history))
    plot_curves(log_history, folder / "curves.png")
    say(f"summary: {folder / SUMMARY_FILE}  curves: {folder / 'curves.png'}")
