"""curves.png: raw points under a smoothed line."""

from __future__ import annotations

import pytest

from agentic_rag.training.curves import plot_curves, smoothed


def test_smoothing_starts_at_the_first_point_and_follows_a_step():
    assert smoothed([2.0]) == [2.0]
    line = smoothed([0.0] * 5 + [1.0] * 30)
    assert (
        line[:5] == [0.0] * 5 and 0.0 < line[5] < 0.5 and line[-1] == pytest.approx(1.0, abs=1e-3)
    )
    assert all(a <= b for a, b in zip(line, line[1:], strict=False))


def test_plot_writes_a_png(tmp_path):
    history = [
        {"step": s, "reward": s % 3, "rollout/searches_per_trajectory": 1.0} for s in range(1, 9)
    ]
    path = plot_curves(history, tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
