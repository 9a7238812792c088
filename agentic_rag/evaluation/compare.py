"""Is run B really better than run A? Paired bootstrap CIs of the EM/F1 difference.

Questions are paired by id within each (dataset, mode) and only questions answered in both runs
count, so a partial run is compared on what it finished. The bootstrap resamples the per-question
differences B - A with replacement (seeded: the same runs always give the same table).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agentic_rag.evaluation.predictions import Prediction, read_predictions

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Difference:
    """Mean of metric B - A over paired questions, with its bootstrap 95% confidence interval."""

    a: float
    b: float
    diff: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """The interval excludes 0: the difference is unlikely to be resampling noise."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class ComparisonRow:
    dataset: str
    mode: str
    n: int
    """Questions answered in both runs (the paired sample)."""
    only_a: int
    """Questions answered only in run A (left out of the comparison)."""
    only_b: int
    em: Difference
    f1: Difference


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, *, samples: int = 2000, seed: int = 0
) -> Difference:
    """Percentile bootstrap of mean(b - a), resampling questions (pairs stay together)."""
    diffs = b - a
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(samples, len(diffs)))].mean(axis=1)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return Difference(
        a=float(a.mean()),
        b=float(b.mean()),
        diff=float(diffs.mean()),
        low=float(low),
        high=float(high),
    )


def mean_interval(
    values: list[float] | np.ndarray, *, samples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of per-question scores: the paired
    bootstrap of (values - 0), so a run's intervals and a comparison's come from one method."""
    v = np.asarray(values, dtype=float)
    d = paired_bootstrap(np.zeros_like(v), v, samples=samples, seed=seed)
    return d.low, d.high


def _by_group(preds: list[Prediction]) -> dict[tuple[str, str], dict[str, Prediction]]:
    groups: dict[tuple[str, str], dict[str, Prediction]] = {}
    for p in preds:
        groups.setdefault((p.dataset, p.mode), {})[p.id] = p
    return groups


def compare_runs(
    run_a: str | Path, run_b: str | Path, *, samples: int = 2000, seed: int = 0
) -> list[ComparisonRow]:
    """One row per (dataset, mode) present in both runs (a run dir or its predictions.jsonl)."""
    groups_a = _by_group(read_predictions(run_a))
    groups_b = _by_group(read_predictions(run_b))
    rows = []
    for key in sorted(groups_a.keys() & groups_b.keys()):
        preds_a, preds_b = groups_a[key], groups_b[key]
        ids = sorted(preds_a.keys() & preds_b.keys())
        if not ids:
            continue
        pairs = [(preds_a[i], preds_b[i]) for i in ids]
        em_a, em_b = (np.array([pair[j].em for pair in pairs]) for j in (0, 1))
        f1_a, f1_b = (np.array([pair[j].f1 for pair in pairs]) for j in (0, 1))
        rows.append(
            ComparisonRow(
                dataset=key[0],
                mode=key[1],
                n=len(ids),
                only_a=len(preds_a) - len(ids),
                only_b=len(preds_b) - len(ids),
                em=paired_bootstrap(em_a, em_b, samples=samples, seed=seed),
                f1=paired_bootstrap(f1_a, f1_b, samples=samples, seed=seed),
            )
        )
    if not rows:
        raise ValueError(
            f"{run_a} and {run_b} share no question in any (dataset, mode): compare runs on the "
            "same data and modes"
        )
    return rows


def _difference_cells(d: Difference) -> list[str]:
    mark = " *" if d.significant else ""
    interval = f"{100 * d.diff:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]{mark}"
    return [f"{100 * d.a:.1f}", f"{100 * d.b:.1f}", interval]


def format_comparison(rows: list[ComparisonRow], name_a: str = "A", name_b: str = "B") -> str:
    """A fixed-width table; * marks differences whose 95% CI excludes 0."""
    header = ["dataset", "mode", "n", f"EM {name_a}", f"EM {name_b}", "ΔEM [95% CI]"]
    header += [f"F1 {name_a}", f"F1 {name_b}", "ΔF1 [95% CI]"]
    table = [header]
    for r in rows:
        table.append([r.dataset, r.mode, str(r.n), *_difference_cells(r.em)])
        table[-1] += _difference_cells(r.f1)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [
        f"{r.dataset}/{r.mode}: {r.only_a} questions only in {name_a}, {r.only_b} only in "
        f"{name_b} (not compared)"
        for r in rows
        if r.only_a or r.only_b
    ]
    footer = (
        f"Scores in % over questions answered in both runs; Δ = {name_b} - {name_a}; "
        "* = the 95% CI excludes 0."
    )
    return "\n".join([*lines, "", footer, *notes])
