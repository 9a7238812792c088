"""Training trajectories kept for reading: every N steps, a few whole groups (the G samples of
one prompt, turn by turn, with each reward and the advantage TRL gave them) are appended to
OUTPUT_DIR/trajectories/step_NNNNNN.jsonl, which `agentic-rag train view` renders."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from transformers import TrainerCallback

from agentic_rag.recipe.sections import SamplesConfig
from agentic_rag.training import trl_adapter

logger = logging.getLogger(__name__)

SAMPLES_DIR = "trajectories"


class SampleWriter(TrainerCallback):
    """Remembers the last rollout of this process (`remember`, called by rollout_func) and, on
    the steps it is due, pairs it with the rewards and advantages TRL computed for it."""

    def __init__(
        self,
        config: SamplesConfig,
        output_dir: str | Path,
        num_generations: int,
        weights: list[float],
        answers: dict[str, list[str]],
    ):
        self.config = config
        self.folder = Path(output_dir) / SAMPLES_DIR
        self.num_generations = num_generations
        self.weights = weights
        self.answers = answers
        self.trainer = None
        """Set after the trainer is built (callbacks are given its model, not the trainer)."""
        self._last: list[dict] = []

    def remember(self, records: list[dict]) -> None:
        self._last = records

    def due(self, step: int) -> bool:
        every = self.config.every_steps
        return every > 0 and (step == 1 or step % every == 0)

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.trainer is not None and self.due(state.global_step):
            self.write(state.global_step)

    def write(self, step: int) -> Path | None:
        """Appends this step's groups; None when TRL's scores do not line up with the rollout
        (e.g. no rollout happened this step)."""
        prompts, rewards, advantages = trl_adapter.last_scores(self.trainer)
        local = self._last
        size = min(len(local), self.config.groups * self.num_generations)
        if not size or prompts[:size] != [r["question"] for r in local[:size]]:
            logger.warning("step %d: no trajectory groups to write (scores not aligned)", step)
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"step_{step:06d}.jsonl"
        with path.open("a", encoding="utf-8") as f:
            for i, record in enumerate(local[:size]):
                parts = {name: _number(values[i]) for name, values in rewards.items()}
                total = sum(
                    w * v
                    for w, v in zip(self.weights, parts.values(), strict=True)
                    if v is not None
                )
                row = {
                    "step": step,
                    "group": i // self.num_generations,
                    "sample": i % self.num_generations,
                    "answers": self.answers.get(record["question"], []),
                    "reward": total,
                    "rewards": parts,
                    "advantage": _number(advantages[i]),
                    **record,
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        return path


def _number(value: float) -> float | None:
    """TRL marks "not applicable" rewards as NaN; JSON says null."""
    return None if value is None or math.isnan(value) else float(value)
