"""curves.png: reward, EM, searches and invalid actions over GRPO steps, from the trainer's log
history: every logged point, faint, under an exponentially smoothed line (GRPO's per-step
figures are noisy: a step scores a few groups)."""

from __future__ import annotations

from pathlib import Path

PANELS = (
    ("reward", "reward (weighted sum)"),
    ("rewards/exact_match_reward/mean", "exact match"),
    ("rollout/searches_per_trajectory", "searches per trajectory"),
    ("rollout/invalid_action_share", "invalid action share"),
)
SMOOTHING = 0.8
"""Weight of the running value in the smoothed line (as TensorBoard's slider)."""


def smoothed(values: list[float], weight: float = SMOOTHING) -> list[float]:
    """Exponential moving average, debiased so the line starts at the first point."""
    out, running, norm = [], 0.0, 0.0
    for value in values:
        running = weight * running + (1 - weight) * value
        norm = weight * norm + (1 - weight)
        out.append(running / norm)
    return out


def plot_curves(log_history: list[dict], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.2))
    for ax, (key, title) in zip(axes, PANELS, strict=True):
        points = [(row["step"], row[key]) for row in log_history if key in row and "step" in row]
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker=".", linewidth=0.6, alpha=0.35, color="tab:blue")
            ax.plot(steps, smoothed(list(values)), linewidth=1.8, color="tab:blue")
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.set_xlabel("GRPO step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
