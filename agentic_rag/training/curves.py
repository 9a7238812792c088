"""curves.png: reward, EM, searches, invalid actions and the health monitors (no-spread share,
entropy, KL, answer length, process credit) over GRPO steps, from the trainer's log history:
every logged point, faint, under an exponentially smoothed line (GRPO's per-step figures are
noisy: a step scores a few groups)."""

from __future__ import annotations

from pathlib import Path

PANELS = (
    ("reward", "reward (weighted sum)"),
    ("rewards/exact_match_reward/mean", "exact match"),
    ("rollout/searches_per_trajectory", "searches per trajectory"),
    ("rollout/invalid_action_share", "invalid action share"),
    ("frac_reward_zero_std", "groups without reward spread"),
    ("entropy", "entropy of sampled tokens"),
    ("kl", "KL to the reference"),
    ("rollout/model_tokens_per_trajectory", "model tokens per trajectory"),
    ("credit/process_advantage_abs", "mean |process advantage| per turn"),
)
"""(log key, title) per panel; a panel whose key was never logged says so."""
COLUMNS = 3
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

    rows = -(-len(PANELS) // COLUMNS)
    fig, axes = plt.subplots(rows, COLUMNS, figsize=(4.2 * COLUMNS, 3.0 * rows), squeeze=False)
    for ax, (key, title) in zip(axes.flat, PANELS, strict=True):
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
