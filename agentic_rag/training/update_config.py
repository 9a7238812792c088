"""What agentic_rag adds to TRL's GRPO update (a recipe's `update:` and `credit:` sections).

Configuration only: dataclasses and their documentation, no imports beyond the standard library,
so parsing a recipe stays cheap. What each setting does is implemented in
`training/trainer.py` (the update) and `training/credit.py` (turn-level credit); what was
measured with them is in docs/training.md and docs/performance.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class UpdateConfig:
    """How the GRPO update runs beyond TRL's GRPOConfig (a recipe's `update:` section)."""

    trainable_layers: int | None = None
    """Train only the top N transformer blocks (and the final norm) during GRPO; None trains
    every weight. Backward stops at the lowest trained block, and the frozen blocks keep no
    activations for it: the cheapest way to make a CPU step of a pretrained model affordable.
    With `use_peft` the adapter decides what trains, so leave this unset."""
    dynamic_sampling: bool = False
    """DAPO's dynamic sampling: after each generation batch, groups whose rewards do not differ
    (no advantage, no learning signal) are replaced by groups of freshly drawn questions, up to
    `max_sampling_rounds` extra rollouts, so the batch trains on groups that teach something.
    One training process only."""
    max_sampling_rounds: int = 2
    """Extra rollouts per step that dynamic sampling may spend refilling the batch; a batch still
    short after them is filled with no-spread groups (which cost nothing to train with beta 0)."""
    oversample: float = 1.5
    """Each extra round draws this many questions per missing group (the share of groups with
    spread is below 1, so drawing only as many as are missing rarely fills the batch)."""
    sft_coef: float = 0.0
    """Weight of an auxiliary SFT term on the warm start's demonstrations inside the GRPO loss
    (loss = GRPO + sft_coef x mean token NLL of a batch of demonstrations): keeps the protocol
    and the copying the warm start taught while RL explores. 0 turns it off; needs a warm start
    (`warm_start.examples`, or the offline world's)."""
    sft_batch_size: int = 4
    """Demonstrations per micro-batch for the auxiliary SFT term."""


@dataclass(frozen=True)
class TurnRewardSpec:
    """One turn-level process reward and its weight (agentic_rag.rewards.TURN_REWARDS)."""

    name: str
    """information_gain, redundancy or search_cost (docs/rewards.md)."""
    weight: float = 1.0
    """Weight in the summed turn reward."""
    args: dict[str, Any] = field(default_factory=dict)
    """Arguments of the reward (e.g. `cost` for search_cost)."""


@dataclass(frozen=True)
class CreditConfig:
    """Credit for each search, not only the final answer (a recipe's `credit:` section): each
    search turn's process reward, normalised across the group's search turns, is added to the
    outcome advantage on that turn's model tokens (training/credit.py). Off while `scale` is 0."""

    turn_rewards: tuple[TurnRewardSpec, ...] = ()
    """Process rewards summed per search turn, e.g. `[{name: information_gain, weight: 1.0},
    {name: redundancy, weight: 0.5}]`."""
    scale: float = 0.0
    """Size of the process advantage relative to the (unit-variance) outcome advantage; 0 turns
    process credit off. Within a group whose outcomes differ it is further shrunk so that no
    token of a lower-reward trajectory gets a larger advantage than any token of a
    higher-reward one (the outcome always dominates)."""

    def __post_init__(self) -> None:
        specs = tuple(
            s if isinstance(s, TurnRewardSpec) else TurnRewardSpec(**s) for s in self.turn_rewards
        )
        object.__setattr__(self, "turn_rewards", specs)

    @property
    def enabled(self) -> bool:
        return self.scale > 0 and bool(self.turn_rewards)
