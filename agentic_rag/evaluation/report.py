"""report.md (datasets x modes tables) and a bar chart, from aggregated metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentic_rag.evaluation.metrics import ModeMetrics, Results

REPORT_FILE = "report.md"
CHART_FILE = "em_by_dataset.png"
# Papers (Search-R1, FlashRAG) list general QA first, then multi-hop; unknown names follow.
DATASET_ORDER = ("nq", "triviaqa", "popqa", "hotpotqa", "2wikimultihopqa", "musique", "bamboogle")
MODE_ORDER = ("direct", "naive", "agentic")


def _ordered(names: set[str], order: tuple[str, ...]) -> list[str]:
    return [n for n in order if n in names] + sorted(names - set(order))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _score_table(results: Results, datasets: list[str], modes: list[str], metric: str) -> str:
    """One row per dataset, one column per mode, plus the macro average over datasets."""
    lines = ["| dataset | " + " | ".join(modes) + " |", "|---" * (len(modes) + 1) + "|"]
    for dataset in datasets:
        cells = [
            _pct(getattr(results[dataset][m], metric)) if m in results[dataset] else "–"
            for m in modes
        ]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    averages = []
    for mode in modes:
        values = [getattr(results[d][mode], metric) for d in datasets if mode in results[d]]
        averages.append(_pct(sum(values) / len(values)))
    lines.append("| **average** | " + " | ".join(averages) + " |")
    return "\n".join(lines)


def _interval(ci: tuple[float, float] | None) -> str:
    return "–" if ci is None else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


DETAIL_COLUMNS = (
    "dataset", "mode", "n", "EM", "sub-EM", "F1", "EM 95% CI", "sub-EM 95% CI", "F1 95% CI",
    "recall (n)", "searches", "turns", "invalid", "tokens", "q/s",
)  # fmt: skip


def _detail_row(dataset: str, mode: str, m: ModeMetrics) -> str:
    qps = "–" if m.questions_per_s is None else f"{m.questions_per_s:.2f}"
    recall = "–" if m.recall is None else f"{_pct(m.recall)} ({m.recall_n})"
    cells = [dataset, mode, str(m.n), _pct(m.em), _pct(m.sub_em), _pct(m.f1)]
    cells += [_interval(m.em_ci), _interval(m.sub_em_ci), _interval(m.f1_ci), recall]
    cells += [f"{m.searches:.2f}", f"{m.turns:.2f}", _pct(m.invalid_action_share)]
    cells += [f"{m.generated_tokens:.1f}", qps]
    return "| " + " | ".join(cells) + " |"


def _bar_chart(results: Results, datasets: list[str], modes: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / len(modes)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(datasets) + 2), 4))
    for i, mode in enumerate(modes):
        xs = [d + (i - (len(modes) - 1) / 2) * width for d in range(len(datasets))]
        ems = [100 * results[d][mode].em if mode in results[d] else None for d in datasets]
        bars = ax.bar(xs, [0.0 if v is None else v for v in ems], width, label=mode)
        labels = ["" if v is None else f"{v:.1f}" for v in ems]  # no bar: mode not run there
        ax.bar_label(bars, labels, fontsize=7, padding=1)
    ax.set_xticks(range(len(datasets)), datasets, rotation=20, ha="right")
    ax.set_ylabel("exact match (%)")
    ax.set_ylim(0, 108)  # room for the labels of 100% bars
    ax.legend(title="mode")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _refusals(results: Results) -> str:
    refused = [(d, m, r.refused) for d, modes in results.items() for m, r in modes.items()]
    said = ", ".join(f"{n} in {d}/{m}" for d, m, n in refused if n)
    if not said:
        return ""
    return (
        f"\nRefused questions ({said}): their prompt cannot fit the model's context beside the "
        "completion budget, so they were not attempted and score 0; each prediction's `error` "
        "says why.\n"
    )


def write_report(results: Results, out_dir: str | Path, meta: dict[str, Any]) -> Path:
    """Write OUT/report.md and OUT/em_by_dataset.png; returns the report path."""
    if not results:
        raise ValueError("no results to report: predictions.jsonl has no complete line yet")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    datasets = _ordered(set(results), DATASET_ORDER)
    modes = _ordered({m for modes in results.values() for m in modes}, MODE_ORDER)
    _bar_chart(results, datasets, modes, out_dir / CHART_FILE)

    settings = "\n".join(f"- {k}: `{v}`" for k, v in meta.items())
    header = "| " + " | ".join(DETAIL_COLUMNS) + " |"
    details = [header, "|---" * len(DETAIL_COLUMNS) + "|"]
    details += [
        _detail_row(d, m, results[d][m]) for d in datasets for m in modes if m in results[d]
    ]
    text = f"""# Evaluation report

{settings}

## Exact match (%)

{_score_table(results, datasets, modes, "em")}

## F1 (%)

{_score_table(results, datasets, modes, "f1")}

![exact match by dataset and mode]({CHART_FILE})

## All metrics

Scores in %. sub-EM: a gold answer occurs in the prediction (cover EM). 95% CI: percentile
bootstrap over questions (2,000 resamples, seed 0). recall: share of gold supporting passages
among the passages retrieved for a question (n = questions with gold passages). searches,
turns, tokens: means per question (tokens generated by the model). invalid: malformed actions
and rejected queries per generation turn (%). q/s: questions per second of wall time.

{chr(10).join(details)}
{_refusals(results)}"""
    path = out_dir / REPORT_FILE
    path.write_text(text, encoding="utf-8")
    return path
