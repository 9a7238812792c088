"""report.md tables and the bar chart."""

from __future__ import annotations

import pytest

from agentic_rag.evaluation.metrics import aggregate
from agentic_rag.evaluation.report import CHART_FILE, write_report


def table(text: str, title: str) -> list[list[str]]:
    """The rows of the first Markdown table under `## title`, as cells."""
    lines = text.split(f"## {title}\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


@pytest.fixture
def results(make_prediction):
    preds = []
    for dataset, ems in {
        "hotpotqa": [1, 0, 0, 1],
        "nq": [1, 1, 1, 0],
        "mine": [0, 0, 1, 1],
    }.items():
        for mode, shift in (("agentic", 0), ("direct", 1)):
            for i, em in enumerate(ems):
                em = float(em and not (shift and i == 0))  # direct misses the first question
                preds.append(
                    make_prediction(id=str(i), dataset=dataset, mode=mode, em=em, f1=em / 2)
                )
    preds.append(make_prediction(dataset="popqa", mode="naive", em=1.0))  # one mode, one dataset
    return aggregate(preds)


def test_report_tables_and_chart(tmp_path, results):
    path = write_report(results, tmp_path / "out", {"model": "tiny-agent", "k": 3})
    text = path.read_text()
    assert path.name == "report.md"
    assert "- model: `tiny-agent`" in text

    em = table(text, "Exact match (%)")
    # canonical order: known datasets first (nq before hotpotqa), modes direct before agentic
    assert em[0] == ["dataset", "direct", "naive", "agentic"]
    assert em[2:] == [
        ["nq", "50.0", "–", "75.0"],
        ["popqa", "–", "100.0", "–"],
        ["hotpotqa", "25.0", "–", "50.0"],
        ["mine", "50.0", "–", "50.0"],
        ["**average**", "41.7", "100.0", "58.3"],  # over the datasets that ran the mode
    ]
    assert table(text, "F1 (%)")[2] == ["nq", "25.0", "–", "37.5"]

    details = table(text, "All metrics")
    assert details[0][:6] == ["dataset", "mode", "n", "EM", "sub-EM", "F1"]
    assert details[2][:4] == ["nq", "direct", "4", "50.0"]
    assert details[3][:4] == ["nq", "agentic", "4", "75.0"]
    assert details[0][6:9] == ["EM 95% CI", "sub-EM 95% CI", "F1 95% CI"]
    assert details[0][12] == "invalid"
    low, high = results["nq"]["agentic"].em_ci
    assert details[3][6] == f"[{100 * low:.1f}, {100 * high:.1f}]"
    assert details[3][12] == "0.0"
    assert len(details) == 2 + 7

    png = (tmp_path / "out" / CHART_FILE).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert f"]({CHART_FILE})" in text


def test_empty_results_are_an_error(tmp_path):
    with pytest.raises(ValueError, match="no results to report"):
        write_report({}, tmp_path, {})
