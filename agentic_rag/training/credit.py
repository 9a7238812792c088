"""Token-level advantages under critic-free GRPO: the outcome advantage TRL computes for each
trajectory, plus, on each search turn's own model tokens, that turn's process advantage.

Normalisation. A turn's process reward (rewards/process.py, summed with the recipe's weights) is
compared with the other search turns of the same group: z = (r - mean) / (std + 1e-4) over every
search turn of the group's G trajectories. The group is the baseline for the same reason GRPO
uses it for outcomes (same question, same retriever, same policy); turns are pooled across turn
indices because a first search in one trajectory and a second in another play the same role,
and per-index groups would often hold one or two turns. A group whose search turns all score the
same gets no process advantage (as GRPO's zero-std groups get no outcome advantage). The
process advantage is `scale` x z, so `scale` sizes it against the unit-variance outcome one.

Outcome dominates. Where the group's outcome advantages differ, the process advantages of the
whole group are shrunk (one factor, preserving their ratios) until their largest magnitude is at
most half the smallest gap between two distinct outcome advantages. Then every token of a
trajectory with a higher outcome reward has a larger (or equal) advantage than every token of
one with a lower reward: busy searching can never outscore a right answer. Groups whose outcomes
all tie (41% of SmolLM2's groups on HotpotQA, docs/results.md) are where the process part is the
only signal, and it is used at full `scale`.
"""

from __future__ import annotations

import torch

EPS = 1e-4
"""As TRL's advantage normalisation."""


def process_advantages(
    outcome: torch.Tensor, turn_scores: list[list[float | None]], num_generations: int, scale: float
) -> list[list[float]]:
    """Per row, per turn: the process advantage (0.0 for turns without a score). `outcome` is
    every row's outcome advantage, groups of `num_generations` contiguous rows."""
    if outcome.numel() != len(turn_scores) or len(turn_scores) % num_generations:
        raise ValueError(
            f"{len(turn_scores)} rows of turn scores for {outcome.numel()} advantages in groups "
            f"of {num_generations}"
        )
    out: list[list[float]] = [[0.0] * len(turns) for turns in turn_scores]
    values = outcome.detach().double().cpu().tolist()
    for start in range(0, len(turn_scores), num_generations):
        rows = range(start, start + num_generations)
        pooled = [s for i in rows for s in turn_scores[i] if s is not None]
        if len(pooled) < 2:
            continue
        mean = sum(pooled) / len(pooled)
        std = (sum((s - mean) ** 2 for s in pooled) / (len(pooled) - 1)) ** 0.5
        if std < 1e-12:
            continue
        z = {
            (i, k): scale * (s - mean) / (std + EPS)
            for i in rows
            for k, s in enumerate(turn_scores[i])
            if s is not None
        }
        bound = _dominance_bound([values[i] for i in rows])
        largest = max(abs(v) for v in z.values())
        shrink = min(1.0, bound / largest) if largest > 0 else 1.0
        for (i, k), v in z.items():
            out[i][k] = v * shrink
    return out


def _dominance_bound(advantages: list[float]) -> float:
    """Half the smallest gap between distinct outcome advantages of a group (a hair less, so
    rounding cannot tip an order); infinite when they all tie."""
    levels = sorted(set(advantages))
    if len(levels) < 2:
        return float("inf")
    gap = min(b - a for a, b in zip(levels, levels[1:], strict=False))
    return 0.5 * gap * (1 - 1e-6)


def token_advantages(
    outcome: torch.Tensor,
    process: list[list[float]],
    spans: list[list[tuple[int, int]]],
    width: int,
) -> torch.Tensor:
    """(B, width): each row's outcome advantage on every token, plus turn k's process advantage
    on that turn's model tokens `spans[row][k]` (completion positions, start inclusive)."""
    adv = outcome.detach().unsqueeze(1).repeat(1, width)
    for row, (turns, bounds) in enumerate(zip(process, spans, strict=True)):
        for value, (start, end) in zip(turns, bounds, strict=True):
            if value:
                adv[row, start:end] += value
    return adv
