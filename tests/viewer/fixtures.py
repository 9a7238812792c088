"""Generated run folders for the viewer tests: evaluation runs with per-turn records (mixed
outcomes, optional hostile text, any size) and training output folders with trajectory groups.

Records are the project's own (Prediction, written as PredictionWriter writes it; write_metrics,
write_report, plot_curves), so the files are what `agentic-rag eval` and training write.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

from agentic_rag.evaluation.metrics import aggregate, write_metrics
from agentic_rag.evaluation.predictions import PREDICTIONS_FILE, Prediction, read_predictions
from agentic_rag.evaluation.report import write_report
from agentic_rag.training.curves import plot_curves

# Each would change the page if it ran: the title, a global, or an element the test looks for.
HOSTILE = (
    '<script>document.title="pwned"; window.__pwned = 1</script>',
    '<img src=x onerror="window.__pwned = 2">',
    "</script><script>window.__pwned = 3</script>",
    '<svg onload="window.__pwned = 4"></svg>',
    "<b>unbalanced <i>tags <!-- open comment <style>body{display:none}",
    "{{DATA}} {{SCRIPT}} &lt;escaped&gt; \u2028\u2029",
)
PAYLOAD = " ".join(HOSTILE)
TOPK = 3


def _passage(rng: random.Random, gold: list[tuple[str, str]], hostile: bool) -> dict:
    if gold and rng.random() < 0.5:
        pid, title = rng.choice(gold)
    else:
        n = rng.randrange(10_000)
        pid, title = f"p{n}", f"Passage {n}"
    if hostile and rng.random() < 0.5:
        title = f"{title} {rng.choice(HOSTILE)}"
    return {"id": pid, "title": title, "score": round(rng.uniform(0.2, 0.9), 4)}


def make_turns(
    rng: random.Random, answer: str, gold: list[tuple[str, str]], hostile: bool = False
) -> list[dict]:
    """A search-then-answer trajectory in the `turns` schema (one search may fail)."""
    turns = []
    for _ in range(rng.randrange(0, 3)):
        query = f"query {rng.randrange(1000)}" + (f" {rng.choice(HOSTILE)}" if hostile else "")
        if rng.random() < 0.1:
            hits: list[dict] | str = "retrieval server timed out <script>window.__pwned=5</script>"
        else:
            hits = [_passage(rng, gold, hostile) for _ in range(TOPK)]
        body = (
            "".join(f'Doc {i + 1}(Title: "{h["title"]}") text\n' for i, h in enumerate(hits))
            if isinstance(hits, list)
            else f"Search error: {hits}"
        )
        think = f"<think> I need {query} </think>" + (f" {PAYLOAD}" if hostile else "")
        turns.append(
            {
                "model": f"{think}\n<search> {query} </search>",
                "queries": [query],
                "hits": [hits],
                "observation": f"\n\n<information>{body}</information>\n\n",
            }
        )
    turns.append(
        {"model": f"<answer> {answer} </answer>", "queries": [], "hits": [], "observation": ""}
    )
    return turns


def _record(rng, qid, dataset, mode, correct, hostile, legacy):
    gold_answer = f"Answer {qid}"
    gold = [(f"g{qid}a", f"Gold {qid} A"), (f"g{qid}b", f"Gold {qid} B")]
    answer = gold_answer if correct else f"Wrong {rng.randrange(100)}"
    if hostile:
        answer = f"{answer} {rng.choice(HOSTILE)}" if not correct else answer
    turns = make_turns(rng, answer, gold, hostile)
    hits = [h for t in turns for result in t["hits"] if isinstance(result, list) for h in result]
    question = f"Question {qid} about {dataset}?" + (f" {PAYLOAD}" if hostile else "")
    record = {
        "id": qid,
        "dataset": dataset,
        "mode": mode,
        "question": question,
        "answers": [gold_answer, f"alias {qid}"],
        "prediction": answer,
        "em": 1.0 if correct else 0.0,
        "sub_em": 1.0 if correct else 0.0,
        "f1": 1.0 if correct else round(rng.uniform(0, 0.5), 3),
        "num_searches": sum(len(t["queries"]) for t in turns),
        "num_turns": len(turns),
        "generated_tokens": rng.randrange(10, 200),
        "latency_s": 1.0,
        "batch_size": 8,
        "finish_reason": "answer" if rng.random() < 0.9 else "max_turns",
        "queries": [q for t in turns for q in t["queries"]],
        "retrieved_ids": [h["id"] for h in hits],
        "retrieved_titles": [h["title"] for h in hits],
        "supporting_ids": [g[0] for g in gold],
        "supporting_titles": [g[1] for g in gold],
        "trajectory": "".join(t["model"] + t["observation"] for t in turns),
    }
    if not legacy:
        record["turns"] = turns
    return record


def write_eval_run(
    out: Path,
    n: int,
    *,
    seed: int = 0,
    datasets: tuple[str, ...] = ("hotpotqa", "nq"),
    modes: tuple[str, ...] = ("agentic",),
    accuracy: float = 0.4,
    hostile: bool = False,
    legacy: bool = False,
    chart: bool = True,
) -> Path:
    """A run folder with n questions per (dataset, mode); `legacy` omits `turns` (old runs).
    Runs with the same n and datasets but different seeds share question ids (for A/B)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for dataset in datasets:
        for mode in modes:
            for i in range(n):
                correct = rng.random() < accuracy
                data = _record(rng, f"{dataset}-{i}", dataset, mode, correct, hostile, legacy)
                lines.append(json.dumps(dataclasses.asdict(Prediction(**data)), ensure_ascii=False))
    # PredictionWriter's format, written at once (it fsyncs every line: minutes for 10,000)
    (out / PREDICTIONS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = aggregate(read_predictions(out))
    meta = {"model": f"fixture-{seed}", "data": list(datasets), "k": TOPK}
    if hostile:
        meta["note"] = PAYLOAD
    write_metrics(out / "metrics.json", results, meta)
    if chart:
        write_report(results, out, meta)
    return out


def write_training_output(
    out: Path,
    *,
    steps: tuple[int, ...] = (0, 10),
    groups: int = 2,
    group_size: int = 4,
    seed: int = 0,
    hostile: bool = False,
    truncated_tail: bool = False,
) -> Path:
    """An output_dir as training leaves it: trajectories/step_*.jsonl (whole groups),
    checkpoint-*/trainer_state.json, curves.png and summary.json."""
    rng = random.Random(seed)
    (out / "trajectories").mkdir(parents=True, exist_ok=True)
    for step in steps:
        lines = []
        for g in range(groups):
            answer = f"Answer {step}-{g}"
            question = f"Step {step} prompt {g}?" + (f" {PAYLOAD}" if hostile else "")
            same = g == groups - 1  # the last group of a step: every reward equal
            rewards = [1.0 if same else float(rng.random() < 0.5) for _ in range(group_size)]
            if not same:
                rewards[0], rewards[1] = 1.0, 0.0
            mean = sum(rewards) / len(rewards)
            for s, reward in enumerate(rewards):
                final = answer if reward else "something else"
                lines.append(
                    {
                        "step": step,
                        "group": g,
                        "sample": s,
                        "question": question,
                        "answers": [answer],
                        "reward": reward,
                        "rewards": {"exact_match_reward": reward, "format_reward": None},
                        "advantage": reward - mean,
                        "turn_advantages": [0.25 * (s % 2), None] if g == 0 else [],
                        "final_answer": final,
                        "finish_reason": "answer",
                        "num_searches": 1,
                        "turns": make_turns(rng, final, [], hostile),
                    }
                )
        text = "".join(json.dumps(line) + "\n" for line in lines)
        (out / "trajectories" / f"step_{step:06d}.jsonl").write_text(text)
    if truncated_tail:
        with (out / "trajectories" / f"step_{steps[-1]:06d}.jsonl").open("a") as f:
            f.write('{"step": 99, "group": 0, "sam')
    history = [
        {"step": s, "reward": 0.1 * s, "loss": 0.01, "rewards/exact_match_reward/mean": 0.05 * s}
        for s in range(1, max(steps) + 2)
    ]
    for checkpoint in (5, max(steps) + 1):  # the newest one must win
        folder = out / f"checkpoint-{checkpoint}"
        folder.mkdir(exist_ok=True)
        state = {"global_step": checkpoint, "log_history": history[:checkpoint]}
        (folder / "trainer_state.json").write_text(json.dumps(state))
    plot_curves(history, out / "curves.png")
    (out / "summary.json").write_text(json.dumps(training_summary(seed)))
    return out


def training_summary(seed: int = 0) -> dict:
    """summary.json as `train` writes it for a recipe with a warm start (floats as computed)."""

    def held_out(em: float, f1: float, searches: float) -> dict:
        return {
            "em": em,
            "f1": f1,
            "sub_em": em,
            "searches_per_question": searches,
            "turns_per_question": searches + 1,
            "invalid_action_share": 0.0125,
            "unanswered_share": 0.0,
            "questions": 40,
        }

    return {
        "seed": seed,
        "base": {"naive": held_out(0.1, 0.15, 1.0), "agentic": held_out(0.05, 0.1, 0.0)},
        "sft": held_out(0.275, 0.3, 1.0),
        "grpo_steps": 10,
        "grpo": held_out(0.555, 0.6251, 1.475),
        "em_gain": 0.27999999999999997,
        "vs_base": {
            "naive": {"diff": 0.455, "low": 0.3, "high": 0.6, "questions": 40},
            "agentic": {"diff": 0.505, "low": 0.35, "high": 0.65, "questions": 40},
        },
        "wall_seconds": 361.2,
        "recipe": {"output_dir": "outputs/tiny", "seed": seed, "rollout": {"max_turns": 4}},
    }
