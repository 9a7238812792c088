"""Training health at a glance: one readable line per logging step, and a warning line when a
figure crosses a threshold that, in our runs, came before a collapse or a run that learned
nothing (docs/training.md, "Health monitors").

The line reads TRL's per-step log (averaged over the logging window): reward, exact match,
searches and model tokens per trajectory, invalid-action share, share of groups without reward
spread, KL to the reference, entropy of the sampled tokens, seconds per step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

COLUMNS = (
    ("reward", "reward", "{:.3f}"),
    ("rewards/exact_match_reward/mean", "EM", "{:.3f}"),
    ("rollout/searches_per_trajectory", "searches", "{:.2f}"),
    ("rollout/invalid_action_share", "invalid", "{:.1%}"),
    ("frac_reward_zero_std", "no-spread", "{:.0%}"),
    ("kl", "KL", "{:.4f}"),
    ("entropy", "entropy", "{:.3f}"),
    ("step_time", "s/step", "{:.1f}"),
)
"""(log key, label, format) of the readable line, in order; missing keys are left out."""


@dataclass(frozen=True)
class Thresholds:
    """When a logged figure is worth a warning line (each measured against our runs)."""

    min_entropy: float = 0.05
    """Entropy of the sampled tokens below this: the policy has become (nearly) deterministic,
    every group agrees and GRPO has nothing left to compare."""
    entropy_drop: float = 0.8
    """Entropy fallen by this share of its first logged value: collapsing, even if not yet
    below `min_entropy`."""
    max_kl: float = 1.0
    """KL to the reference above this: the policy has drifted far from where it started
    (raise `beta`, or lower the learning rate)."""
    max_invalid: float = 0.25
    """Share of turns with a malformed action above this: the protocol is being forgotten."""
    max_no_spread: float = 0.9
    """Share of groups with identical rewards above this, for `patience` logs in a row: there is
    almost no learning signal (try `update.dynamic_sampling`, a higher temperature, larger
    groups, or partial-credit rewards)."""
    min_searches: float = 0.05
    """Searches per trajectory below this: the policy stopped using the search tool."""
    patience: int = 3
    """Consecutive logs a threshold must be crossed before it is reported (GRPO's per-step
    figures are noisy)."""


class HealthMonitor(TrainerCallback):
    """Prints the readable line on every log of the main process and warns (once per kind, until
    the figure recovers) when a threshold stays crossed for `patience` logs."""

    def __init__(self, thresholds: Thresholds | None = None, printer=print):
        self.thresholds = thresholds or Thresholds()
        self.printer = printer
        self.first_entropy: float | None = None
        self.streaks: dict[str, int] = {}
        self.warned: set[str] = set()
        self.warnings: list[str] = []
        """Every warning given, in order (for tests and the summary)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "reward" not in logs:
            return
        self.printer(self.line(state.global_step, state.max_steps, logs))
        for _, message in self.check(logs):
            self.printer(f"[agentic-rag] warning: step {state.global_step}: {message}")
            self.warnings.append(f"step {state.global_step}: {message}")

    @staticmethod
    def line(step: int, max_steps: int, logs: dict) -> str:
        cells = [f"step {step}/{max_steps}" if max_steps > 0 else f"step {step}"]
        cells += [f"{label} {fmt.format(logs[key])}" for key, label, fmt in COLUMNS if key in logs]
        return "[agentic-rag] " + " | ".join(cells)

    def check(self, logs: dict) -> list[tuple[str, str]]:
        """(kind, message) for each threshold crossed `patience` times in a row, once."""
        t = self.thresholds
        entropy = logs.get("entropy")
        if entropy is not None and self.first_entropy is None:
            self.first_entropy = entropy
        crossed = {
            "entropy": entropy is not None
            and (
                entropy < t.min_entropy
                or (self.first_entropy or 0) > 0
                and entropy < (1 - t.entropy_drop) * self.first_entropy
            ),
            "kl": logs.get("kl", 0.0) > t.max_kl,
            "invalid": logs.get("rollout/invalid_action_share", 0.0) > t.max_invalid,
            "no-spread": logs.get("frac_reward_zero_std", 0.0) > t.max_no_spread,
            "searches": logs.get("rollout/searches_per_trajectory", 1.0) < t.min_searches,
        }
        messages = {
            "entropy": f"entropy {entropy} (started at {self.first_entropy}): the policy is "
            "collapsing to one answer per question; raise temperature or beta",
            "kl": f"KL to the reference {logs.get('kl')} > {t.max_kl}: the policy drifts far "
            "from its start; raise beta or lower the learning rate",
            "invalid": f"{logs.get('rollout/invalid_action_share', 0):.0%} of turns are "
            "malformed actions: the protocol is being forgotten (update.sft_coef keeps it)",
            "no-spread": f"{logs.get('frac_reward_zero_std', 0):.0%} of groups have identical "
            "rewards: almost no learning signal (update.dynamic_sampling, higher temperature, "
            "larger num_generations, partial-credit rewards)",
            "searches": "the policy has stopped searching "
            f"({logs.get('rollout/searches_per_trajectory', 0):.2f} searches per trajectory)",
        }
        out = []
        for kind, bad in crossed.items():
            self.streaks[kind] = self.streaks.get(kind, 0) + 1 if bad else 0
            if not bad:
                self.warned.discard(kind)
            elif self.streaks[kind] >= self.thresholds.patience and kind not in self.warned:
                self.warned.add(kind)
                out.append((kind, messages[kind]))
        return out
