"""`train view`'s reading of summary.json: a stage × metric table (the base model's modes, the
starting policy, the policy after GRPO) with rounded numbers and the paired confidence intervals
where the summary has them, the run's facts, and the recipe as YAML under a fold.

summary.json is `agentic_rag.pipeline.train_recipe`'s; any other shape still shows, as text.
"""

from __future__ import annotations

from typing import Any

import yaml

from agentic_rag.viewer.turns import number, text

METRICS = (
    ("em", "EM", 3),
    ("f1", "F1", 3),
    ("searches_per_question", "searches", 2),
    ("invalid_action_share", "invalid share", 3),
)
"""(summary key, column, decimals) of each held-out metric shown."""
STARTS = {"sft": "after the SFT warm start", "start": "starting policy"}
FOLDS = {"recipe": "recipe (YAML)", "offline": "offline world (YAML)"}
SHOWN = {"base", "grpo", "vs_base", "em_gain", *STARTS, *FOLDS}


def _fixed(value: Any, digits: int) -> str:
    x = number(value)
    return "–" if x is None else f"{x:.{digits}f}"


def _signed(value: Any) -> str:
    x = number(value)
    return "–" if x is None else f"{x:+.3f}"


def _gain(comparison: Any) -> str:
    """A paired EM difference with its 95% CI: `+0.083 [+0.033, +0.130]`."""
    if not isinstance(comparison, dict):
        return "–"
    low, high = comparison.get("low"), comparison.get("high")
    ci = f" [{_signed(low)}, {_signed(high)}]" if number(low) is not None else ""
    return _signed(comparison.get("diff")) + ci


def _row(stage: str, metrics: Any, gain: str) -> list[str]:
    metrics = metrics if isinstance(metrics, dict) else {}
    return [stage, *(_fixed(metrics.get(k), d) for k, _, d in METRICS), gain]


def stage_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One row per scored stage, in training order; the last column is GRPO's EM gain over
    that stage (paired 95% CI against the base model's modes)."""
    rows = []
    base, vs_base = summary.get("base"), summary.get("vs_base")
    if isinstance(base, dict):
        for mode, metrics in base.items():
            gain = vs_base.get(mode) if isinstance(vs_base, dict) else None
            rows.append(_row(f"base model, {text(mode)}", metrics, _gain(gain)))
    for key, stage in STARTS.items():
        if key in summary:
            rows.append(_row(stage, summary[key], _signed(summary.get("em_gain"))))
    if "grpo" in summary:
        rows.append(_row("after GRPO", summary["grpo"], ""))
    return rows


def _fact(key: str, value: Any) -> list[str]:
    if key == "wall_seconds" and number(value) is not None:
        return ["wall time", f"{number(value) / 60:.1f} min"]
    if isinstance(value, float):
        return [key, f"{value:.4g}"]
    return [key, text(value)]


def _yaml(value: Any) -> str:
    try:
        return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return text(value)


def summary_view(summary: dict[str, Any]) -> dict[str, Any]:
    """{"columns", "rows"} of the stage table, "facts" ([key, value] text pairs of everything
    else) and "folds" ([title, YAML text])."""
    return {
        "columns": ["stage", *(c for _, c, _ in METRICS), "GRPO's EM gain [95% CI]"],
        "rows": stage_rows(summary),
        "facts": [_fact(k, v) for k, v in summary.items() if k not in SHOWN],
        "folds": [[title, _yaml(summary[k])] for k, title in FOLDS.items() if k in summary],
    }
