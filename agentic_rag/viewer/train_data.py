"""What `agentic-rag train view OUTPUT_DIR` shows, as one JSON-able dict.

Training writes whole groups of trajectories to OUTPUT_DIR/trajectories/step_{step:06d}.jsonl,
one JSON object per trajectory: {"step", "group" (prompt index in the step), "sample" (index in
the group), "question", "answers", "reward" (weighted total), "rewards" ({name: float|null}),
"advantage", "turn_advantages" (with process credit: each turn's process advantage),
"final_answer", "finish_reason", "num_searches", "turns"} (turns: see `turns`).
Beside them: curves.png, TRL's trainer_state.json in the newest checkpoint-*/ and `train`'s
summary.json. A line that is not such a record is skipped and reported on the page, never fatal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from agentic_rag.viewer.page import data_uri
from agentic_rag.viewer.train_summary import summary_view
from agentic_rag.viewer.turns import gold_test, number, text, view_turns

TRAJECTORIES_DIR = "trajectories"
CURVES_FILE = "curves.png"
SUMMARY_FILE = "summary.json"
TRAINER_STATE = "trainer_state.json"
MAX_PROBLEMS = 50
LOG_LEADING = ("reward", "reward_std")
LOG_TRAILING = ("loss", "kl", "entropy", "completions/mean_length", "learning_rate", "grad_norm")
"""Columns of the training log table, when logged: step, LOG_LEADING, every rewards/* and
rollout/* key, LOG_TRAILING."""


def _present(output_dir: Path, name: str) -> Path | None:
    path = output_dir / name
    return path if path.exists() else None


def _checkpoint_step(path: Path) -> int:
    match = re.fullmatch(r"checkpoint-(\d+)", path.name)
    return int(match.group(1)) if match else -1


def latest_trainer_state(output_dir: Path) -> Path | None:
    states = [
        c / TRAINER_STATE
        for c in output_dir.glob("checkpoint-*")
        if (c / TRAINER_STATE).is_file() and _checkpoint_step(c) >= 0
    ]
    return max(states, key=lambda p: _checkpoint_step(p.parent), default=None)


def _sample(record: dict[str, Any]) -> dict[str, Any]:
    is_gold = gold_test(record.get("supporting_ids") or (), record.get("supporting_titles") or ())
    rewards = record.get("rewards")
    return {
        "sample": record.get("sample"),
        "reward": number(record.get("reward")),
        "rewards": {text(k): number(v) for k, v in rewards.items()}
        if isinstance(rewards, dict)
        else {},
        "advantage": number(record.get("advantage")),
        "turn_advantages": [number(v) for v in record.get("turn_advantages") or []]
        if isinstance(record.get("turn_advantages"), list)
        else [],
        "final_answer": None
        if record.get("final_answer") is None
        else text(record["final_answer"]),
        "finish": text(record.get("finish_reason")),
        "searches": number(record.get("num_searches")),
        "turns": view_turns(record.get("turns"), is_gold),
    }


def read_samples(folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every trajectory record in folder/step_*.jsonl, and what was skipped (file:line: why)."""
    records, problems = [], []
    for path in sorted(folder.glob("step_*.jsonl")):
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{line_no}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                last = line_no == len(lines)  # no newline after it: a write cut short
                problems.append(f"{where}: {'truncated last line' if last else e.msg}")
                continue
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                problems.append(f"{where}: not a trajectory record (no integer 'step')")
                continue
            records.append(record)
    return records, problems


def group_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The G trajectories of each prompt together, by step then group, samples in order."""
    groups: dict[tuple[int, Any], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["step"], r.get("group")), []).append(r)
    rows = []
    for (step, group), members in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        members.sort(key=lambda r: (number(r.get("sample")) is None, number(r.get("sample")) or 0))
        samples = [_sample(r) for r in members]
        rewards = [s["reward"] for s in samples if s["reward"] is not None]
        answers = members[0].get("answers")
        rows.append(
            {
                "step": step,
                "group": text(group),
                "question": text(members[0].get("question")),
                "answers": [text(a) for a in answers] if isinstance(answers, list) else [],
                "mean_reward": sum(rewards) / len(rewards) if rewards else None,
                "mixed": len(set(rewards)) > 1,
                "samples": samples,
            }
        )
    return rows


def _log_table(state_path: Path) -> dict[str, Any] | None:
    try:
        history = json.loads(state_path.read_text(encoding="utf-8")).get("log_history", [])
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        return None
    rows = [r for r in history if isinstance(r, dict) and "step" in r]
    present = {k for r in rows for k in r}
    prefixed = sorted(k for k in present if k.startswith(("rewards/", "rollout/")))
    columns = ["step", *(k for k in LOG_LEADING if k in present), *prefixed]
    columns += [k for k in LOG_TRAILING if k in present]
    return {
        "source": str(state_path),
        "columns": columns,
        "rows": [[number(r.get(c)) for c in columns] for r in rows],
    }


def _summary(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"summary.json": "unreadable"}
    return summary if isinstance(summary, dict) else None


def train_payload(output_dir: str | Path) -> dict[str, Any]:
    """The page's data for one training output folder."""
    out = Path(output_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"{out} is not a folder; pass the training output_dir")
    samples_dir = _present(out, TRAJECTORIES_DIR)
    curves, state = _present(out, CURVES_FILE), latest_trainer_state(out)
    summary = _summary(_present(out, SUMMARY_FILE))
    if samples_dir is None and curves is None and state is None and summary is None:
        raise FileNotFoundError(
            f"{out} holds no training output: none of {TRAJECTORIES_DIR}/, {CURVES_FILE}, "
            f"checkpoint-*/{TRAINER_STATE} or {SUMMARY_FILE}"
        )
    records, problems = read_samples(samples_dir) if samples_dir else ([], [])
    return {
        "kind": "train",
        "title": out.resolve().name or str(out),
        "path": str(out),
        "samples_dir": str(samples_dir) if samples_dir else None,
        "curves": data_uri(curves) if curves else None,
        "log": _log_table(state) if state else None,
        "summary": summary_view(summary) if summary is not None else None,
        "groups": group_rows(records),
        "problems": problems[:MAX_PROBLEMS],
        "problems_total": len(problems),
    }
