"""The offline default's recipe section: the generated world, the tiny policy and its warm start.

It nests the knowledge-base and model configs as they are (`offline.kb.*`, `offline.model.*`)
rather than retyping their fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentic_rag.offline.kb import SyntheticKBConfig
from agentic_rag.offline.tiny_model import TinyModelConfig


@dataclass(frozen=True)
class OfflineConfig:
    """The built-in offline default: fictional KB -> index -> tiny model -> SFT -> GRPO -> eval
    (a recipe's `offline:` section; only `recipes/tiny.yaml` has one)."""

    kb: SyntheticKBConfig = field(default_factory=SyntheticKBConfig)
    """The generated world (entities, questions, held-out split); seeded by the recipe's `seed`."""
    model: TinyModelConfig = field(default_factory=TinyModelConfig)
    """Shape of the tiny policy built from scratch; initialised with the recipe's `seed`."""
    sft_epochs: float = 3.0
    """Warm-start epochs over demonstrations; the copy circuit forms in the first half."""
    sft_learning_rate: float = 6e-3
    """Warm-start learning rate (cosine schedule)."""
    sft_share: float = 0.8
    """Share of training entities whose questions are warm-start demonstrations; GRPO trains on
    the questions about the others, so its reward pays for reading, not for recall."""
    shortcut_fraction: float = 0.7
    """Share of two-hop demonstrations that answer after one search, with the bridge entity
    (wrong): the warm start then under-searches and GRPO must learn that a second search pays."""
