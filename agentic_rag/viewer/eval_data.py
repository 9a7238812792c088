"""What `agentic-rag eval view RUN [RUN_B]` shows, as one JSON-able dict.

Everything comes from the run folders: predictions.jsonl (through `read_predictions`), the
settings in metrics.json's meta, and the em_by_dataset.png chart. With two runs, questions are
paired by (dataset, mode, id) as `eval compare` pairs them, and its bootstrap gives the CIs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from agentic_rag.evaluation.compare import compare_runs, mean_interval
from agentic_rag.evaluation.metrics import METRICS_FILE, aggregate, prediction_recall
from agentic_rag.evaluation.predictions import Prediction, read_predictions
from agentic_rag.evaluation.report import CHART_FILE, DATASET_ORDER, MODE_ORDER
from agentic_rag.viewer.page import data_uri
from agentic_rag.viewer.turns import gold_test, number, view_turns

CI_METHOD = (
    "95% percentile bootstrap over questions (2,000 resamples, seed 0), the method of "
    "`agentic-rag eval compare`"
)


def _order(name: str, order: tuple[str, ...]) -> tuple[int, str]:
    return (order.index(name) if name in order else len(order), name)


def _group_key(p: Prediction) -> tuple:
    return (_order(p.dataset, DATASET_ORDER), _order(p.mode, MODE_ORDER))


def is_correct(p: Prediction) -> bool:
    """What the page's correct/incorrect filter and the flip lists mean: exact match."""
    return p.em >= 1.0


def summary_rows(preds: list[Prediction]) -> list[dict[str, Any]]:
    """One row per (dataset, mode): the metrics of metrics.json plus EM/F1 95% CIs."""
    groups: dict[tuple[str, str], list[Prediction]] = {}
    for p in sorted(preds, key=_group_key):
        groups.setdefault((p.dataset, p.mode), []).append(p)
    results = aggregate(preds)
    rows = []
    for (dataset, mode), group in groups.items():
        m = results[dataset][mode]
        em_low, em_high = mean_interval([p.em for p in group])
        f1_low, f1_high = mean_interval([p.f1 for p in group])
        rows.append(
            {
                "dataset": dataset,
                "mode": mode,
                **dataclasses.asdict(m),
                "em_low": em_low,
                "em_high": em_high,
                "f1_low": f1_low,
                "f1_high": f1_high,
            }
        )
    return rows


def _gold(p: Prediction) -> list[dict[str, Any]]:
    """The question's gold passages, each marked found when one of its searches returned it."""
    shown_ids, shown_titles = set(p.retrieved_ids), set(p.retrieved_titles)
    by_id = bool(p.supporting_ids)
    names = p.supporting_ids if by_id else p.supporting_titles
    titles = p.supporting_titles if len(p.supporting_titles) == len(names) else [""] * len(names)
    return [
        {
            "id": name if by_id else "",
            "title": title or ("" if by_id else name),
            "found": name in (shown_ids if by_id else shown_titles),
        }
        for name, title in zip(names, titles, strict=True)
    ]


def run_row(p: Prediction) -> dict[str, Any]:
    """One question's outcome in one run, as the page renders it."""
    is_gold = gold_test(p.supporting_ids, p.supporting_titles)
    turns = view_turns(p.turns, is_gold)
    return {
        "prediction": p.prediction,
        "em": number(p.em),
        "sub_em": number(p.sub_em),
        "f1": number(p.f1),
        "correct": is_correct(p),
        "searches": p.num_searches,
        "turns_n": p.num_turns,
        "tokens": p.generated_tokens,
        "invalid": p.num_invalid,
        "finish": p.finish_reason,
        "recall": prediction_recall(p),
        "queries": list(p.queries),
        "retrieved": [
            {"id": pid, "title": title, "gold": is_gold(pid, title)}
            for pid, title in zip(p.retrieved_ids, p.retrieved_titles, strict=False)
        ],
        "gold": _gold(p),
        "turns": turns,
        "trajectory": "" if turns else p.trajectory,  # runs written before `turns` existed
    }


def _flip(a: Prediction | None, b: Prediction | None) -> str | None:
    if a is None or b is None or is_correct(a) == is_correct(b):
        return None
    return "gained" if is_correct(b) else "lost"


def question_rows(runs: list[list[Prediction]]) -> list[dict[str, Any]]:
    """Every question of any run, in report order; `runs` holds each run's record or None."""
    by_key: dict[tuple[str, str, str], list[Prediction | None]] = {}
    for index, preds in enumerate(runs):
        for p in preds:
            slot = by_key.setdefault((p.dataset, p.mode, p.id), [None] * len(runs))
            slot[index] = p
    rows = []
    for (dataset, mode, qid), slot in sorted(
        by_key.items(), key=lambda kv: _group_key(next(p for p in kv[1] if p))
    ):
        first = next(p for p in slot if p is not None)
        rows.append(
            {
                "dataset": dataset,
                "mode": mode,
                "id": qid,
                "question": first.question,
                "answers": list(first.answers),
                "runs": [None if p is None else run_row(p) for p in slot],
                "flip": _flip(slot[0], slot[1]) if len(slot) == 2 else None,
            }
        )
    return rows


def _meta(run_dir: Path) -> dict[str, Any]:
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("meta", {})
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        return {"metrics.json": "unreadable"}
    return meta if isinstance(meta, dict) else {}


def run_folder(path: str | Path) -> Path:
    """A run folder, given it or its predictions.jsonl."""
    path = Path(path)
    return path.parent if path.is_file() else path


def _select(
    preds: list[Prediction], where: Path, datasets: list[str] | None, modes: list[str] | None
) -> list[Prediction]:
    kept = [
        p
        for p in preds
        if (not datasets or p.dataset in datasets) and (not modes or p.mode in modes)
    ]
    if not kept:
        have = sorted({f"{p.dataset}/{p.mode}" for p in preds}) or ["nothing yet"]
        raise ValueError(
            f"{where}: no prediction for dataset(s) {datasets or 'any'} in mode(s) "
            f"{modes or 'any'}; the run has {', '.join(have)}"
        )
    return kept


def eval_payload(
    run_a: str | Path,
    run_b: str | Path | None = None,
    *,
    datasets: list[str] | None = None,
    modes: list[str] | None = None,
) -> dict[str, Any]:
    """The page's data for one run, or two side by side (B is compared against A); `datasets`
    and `modes` keep only those questions (a page per slice of a very large run)."""
    dirs = [run_folder(run_a)] + ([run_folder(run_b)] if run_b is not None else [])
    preds = [_select(read_predictions(d), d, datasets, modes) for d in dirs]
    names = [d.resolve().name or str(d) for d in dirs]
    if len(names) == 2 and names[0] == names[1]:
        names = [str(d) for d in dirs]
    comparison, note = None, None
    if run_b is not None:
        try:
            comparison = [
                dataclasses.asdict(r)
                for r in compare_runs(dirs[0], dirs[1])
                if (not datasets or r.dataset in datasets) and (not modes or r.mode in modes)
            ]
        except ValueError as e:
            note = str(e)
    questions = question_rows(preds)
    if comparison is not None:
        for row in comparison:
            flips = [
                q["flip"]
                for q in questions
                if q["dataset"] == row["dataset"] and q["mode"] == row["mode"]
            ]
            row["gained"], row["lost"] = flips.count("gained"), flips.count("lost")
    return {
        "kind": "eval",
        "title": " vs ".join(names),
        "ci_method": CI_METHOD,
        "runs": [
            {
                "name": name,
                "path": str(d),
                "meta": _meta(d),
                "chart": data_uri(d / CHART_FILE),
                "summary": summary_rows(p),
            }
            for name, d, p in zip(names, dirs, preds, strict=True)
        ],
        "comparison": comparison,
        "comparison_note": note,
        "questions": questions,
    }
