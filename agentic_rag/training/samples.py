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

logger = logging.getLogger(__name__)

SAMPLES_DIR = "trajectories"


class SampleWriter(TrainerCallback):
    """On the steps it is due, writes the first groups of the trainer's last generation batch
    (`SearchGRPOTrainer.batch_records`: the rows it trained on, with TRL's rewards and the
    advantages, per turn where credit is on)."""

    def __init__(
        self,
        config: SamplesConfig,
        output_dir: str | Path,
        num_generations: int,
        weights: list[float],
    ):
        self.config = config
        self.folder = Path(output_dir) / SAMPLES_DIR
        self.num_generations = num_generations
        self.weights = weights
        self.trainer = None
        """Set after the trainer is built (callbacks are given its model, not the trainer)."""

    def due(self, step: int) -> bool:
        every = self.config.every_steps
        return every > 0 and (step == 1 or step % every == 0)

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.trainer is not None and self.due(state.global_step):
            self.write(state.global_step)

    def write(self, step: int) -> Path | None:
        """Appends this step's groups; None when the trainer has no batch to show."""
        records = getattr(self.trainer, "batch_records", None) or []
        size = min(len(records), self.config.groups * self.num_generations)
        size -= size % self.num_generations
        if not size:
            logger.warning("step %d: no trajectory groups to write", step)
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"step_{step:06d}.jsonl"
        with path.open("a", encoding="utf-8") as f:
            for i, record in enumerate(records[:size]):
                parts = {name: _number(value) for name, value in record["rewards"].items()}
                total = sum(
                    w * v
                    for w, v in zip(self.weights, parts.values(), strict=True)
                    if v is not None
                )
                row = {
                    **record,
                    "step": step,
                    "group": i // self.num_generations,
                    "sample": i % self.num_generations,
                    "answers": list(record.get("answers") or []),
                    "reward": total,
                    "rewards": parts,
                    "advantage": _number(record.get("advantage")),
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        return path


def _number(value: float | None) -> float | None:
    """TRL marks "not applicable" rewards as NaN; JSON says null."""
    return None if value is None or math.isnan(value) else float(value)
