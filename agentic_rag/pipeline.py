"""`agentic-rag train` for a recipe: GRPO, then the held-out questions (`data.eval`) answered by
the starting and the final policy with the evaluation harness, then OUTPUT_DIR/summary.json and
curves.png. The offline default runs this after building its world and warm start.

It sits above `training` and `evaluation`, which never import each other.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from agentic_rag.data.qa import load_qa
from agentic_rag.evaluation.evaluate import EvalSettings, evaluate
from agentic_rag.evaluation.metrics import ModeMetrics
from agentic_rag.recipe import Recipe
from agentic_rag.search import SearchTool
from agentic_rag.training.curves import plot_curves
from agentic_rag.training.grpo import train_grpo

EVAL_BATCH_SIZE = 64
"""Questions per generation call when scoring held-out questions."""
SUMMARY_FILE = "summary.json"


def held_out(metrics: ModeMetrics) -> dict[str, float]:
    """The summary's view of one held-out evaluation."""
    return {
        "em": metrics.em,
        "f1": metrics.f1,
        "searches_per_question": metrics.searches,
        "turns_per_question": metrics.turns,
        "invalid_action_share": metrics.invalid_action_share,
        "unanswered_share": 1.0 - metrics.answered_share,
        "questions": metrics.n,
    }


def evaluate_checkpoint(
    model: str | Path, recipe: Recipe, out: Path, search: SearchTool
) -> dict[str, float]:
    """Agentic-mode, greedy metrics of a checkpoint on `data.eval`, written to `out` (a normal
    evaluation run folder: resumable, viewable with `agentic-rag eval view`)."""
    settings = EvalSettings(
        model=str(model),
        data=[recipe.data.eval],
        modes=["agentic"],
        out=str(out),
        protocol=recipe.protocol,
        rollout=recipe.rollout,
        retriever=recipe.retriever,
        limit=recipe.data.eval_limit,
        batch_size=EVAL_BATCH_SIZE,
        device="cpu" if recipe.grpo.use_cpu else None,
        progress=False,
    )
    results = evaluate(settings, search=search)
    (modes,) = results.values()
    return held_out(modes["agentic"])


def train_and_evaluate(
    recipe: Recipe, search: SearchTool, resume: bool = False, label: str = "start"
) -> tuple[dict[str, Any], list[dict]]:
    """GRPO on `data.train`; with `data.eval`, held-out metrics of the starting policy (under
    `label`) and the final one. Returns the summary and the trainer's log history."""
    started = time.perf_counter()
    out = Path(recipe.grpo.output_dir)
    if not recipe.data.train:
        raise ValueError("data.train is not set (a QA dataset spec to train on)")
    examples = load_qa(recipe.data.train, limit=recipe.data.train_limit)
    evaluate_here = bool(recipe.data.eval) and is_main_process()
    before = None
    if evaluate_here:
        start = recipe.model.model_name_or_path
        before = evaluate_checkpoint(start, recipe, out / "eval" / label, search)
        print(f"[agentic-rag] {label}: held-out EM {before['em']:.3f}, F1 {before['f1']:.3f}")
    trainer = train_grpo(recipe, examples, search, resume=resume)
    summary: dict[str, Any] = {"seed": recipe.grpo.seed, "grpo_steps": trainer.state.global_step}
    log_history = trainer.state.log_history
    del trainer  # free the policy, optimizer and reference model before the final evaluation
    if evaluate_here:
        after = evaluate_checkpoint(out / "final", recipe, out / "eval" / "final", search)
        print(f"[agentic-rag] after GRPO: held-out EM {after['em']:.3f}, F1 {after['f1']:.3f}")
        summary.update({label: before, "grpo": after, "em_gain": after["em"] - before["em"]})
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    summary["recipe"] = recipe.source
    return summary, log_history


def is_main_process() -> bool:
    """Rank 0 of a torchrun/accelerate launch, or a single process."""
    return int(os.environ.get("RANK", "0")) == 0


def write_summary(summary: dict[str, Any], log_history: list[dict], folder: Path) -> None:
    """FOLDER/summary.json and FOLDER/curves.png (main process only)."""
    if not is_main_process():
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    plot_curves(log_history, folder / "curves.png")
    print(f"[agentic-rag] summary: {folder / SUMMARY_FILE}  curves: {folder / 'curves.png'}")
