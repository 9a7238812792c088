"""The offline default behind `make train`: everything built locally, nothing downloaded.

fictional KB -> MiniLM FAISS index -> tiny Qwen2 policy + BPE tokenizer -> SFT warm start on
demonstration trajectories -> GRPO with the search tool, the held-out questions scored before
and after (`agentic_rag.pipeline`) -> summary.json and curves.png. Each stage's output is reused
on a re-run, so `--resume` after a kill continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from agentic_rag.offline.warm_start import split_by_entity, train_rows, warm_start
from agentic_rag.offline.world import build_world, say
from agentic_rag.pipeline import is_main_process, train_and_evaluate, write_summary
from agentic_rag.recipe import Recipe, derive
from agentic_rag.recipe_rules import check_enough_questions
from agentic_rag.search import load_search_tool
from agentic_rag.wall_clock import WallClock


class StaleOutputError(ValueError):
    """The output directory holds stages built with other settings."""


def check_reusable(out: Path, settings: dict) -> None:
    """Stages are reused on a re-run, so only when they were built with the same settings."""
    stamp = out / "offline_settings.json"
    settings = json.loads(json.dumps(settings, default=str))
    if not stamp.exists():
        stamp.write_text(json.dumps(settings, indent=2))
        return
    built = json.loads(stamp.read_text())
    changed = sorted(k for k in built.keys() | settings.keys() if built.get(k) != settings.get(k))
    if changed:
        raise StaleOutputError(
            f"{out} holds stages built with other settings (changed: {', '.join(changed)});"
            f" pass a new --output-dir, or delete {out} to rebuild from scratch"
        )


def run_offline(recipe: Recipe, resume: bool = False) -> dict:
    """The whole offline default; returns (and writes) the summary. `wall_seconds` sums the run
    and every --resume of it."""
    out = Path(recipe.grpo.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    clock = WallClock(out, resume, write=is_main_process())
    try:
        return _run_offline(recipe, resume, out, clock)
    finally:
        clock.stop()


def _run_offline(recipe: Recipe, resume: bool, out: Path, clock: WallClock) -> dict:
    check_reusable(
        out,
        {
            "seed": recipe.grpo.seed,
            "offline": dataclasses.asdict(recipe.offline),
            "warm_start": dataclasses.asdict(recipe.warm_start),
            "protocol": dataclasses.asdict(recipe.protocol),
            "topk": recipe.rollout.topk,
            "bf16": recipe.grpo.bf16,
        },
    )

    files: dict[str, Path] = {}

    def enough_questions(kb: dict[str, Path]) -> None:  # before the index and SFT are built
        files["grpo"] = write_grpo_questions(kb, recipe.offline.sft_share)
        count = sum(1 for _ in files["grpo"].open(encoding="utf-8"))
        check_enough_questions(
            recipe.grpo, count, "offline: GRPO's share of offline.kb.num_train_questions"
        )

    world = build_world(
        recipe.offline, recipe.protocol, out, recipe.grpo.seed, resume, enough_questions
    )
    search = load_search_tool(dataclasses.replace(recipe.retriever, index=str(world["index"])))
    sft_dir = warm_start(recipe, world, out, search)
    grpo_questions = files["grpo"]
    rl = derive(
        recipe,
        {
            "model_name_or_path": str(sft_dir),
            "output_dir": str(out / "grpo"),
            "retriever.index": str(world["index"]),
            "data.train": str(grpo_questions),
            "data.eval": str(world["test"]),
        },
    )
    summary, log_history = train_and_evaluate(rl, search, resume, "sft", clock)
    summary["wall_seconds"] = clock.seconds()
    summary["offline"] = dataclasses.asdict(recipe.offline)
    summary["recipe"] = recipe.source
    write_summary(summary, log_history, out)
    return summary


def write_grpo_questions(world: dict[str, Path], sft_share: float) -> Path:
    """KB/grpo_train.jsonl: the training questions about entities the warm start never saw, in
    the training file's order."""
    _, rl_rows = split_by_entity(train_rows(world), sft_share)
    rl_ids = {r["id"] for r in rl_rows}
    path = world["train"].with_name("grpo_train.jsonl")
    lines = world["train"].read_text().splitlines()
    path.write_text("".join(f"{line}\n" for line in lines if json.loads(line)["id"] in rl_ids))
    say(f"GRPO on {len(rl_ids)} questions about entities the warm start never saw")
    return path
