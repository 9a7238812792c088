"""Train LLM search agents with reinforcement learning: multi-turn search rollouts over a FAISS
retriever, verifiable rewards, GRPO on TRL.

For your own TRL script (examples/trl_grpo.py):

    from agentic_rag import build_trainer, make_rollout_func, exact_match_reward, format_reward
    rollout_func = make_rollout_func("indexes/hotpotqa", tokenizer, protocol="tags")
    trainer = build_trainer(model=..., args=GRPOConfig(...), rollout_func=rollout_func, ...)

Names are imported on first use, so `import agentic_rag` stays fast and torch-free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentic_rag.protocols import ProtocolConfig
    from agentic_rag.rewards import (
        exact_match_reward,
        f1_reward,
        format_reward,
        retrieval_recall_reward,
        search_r1_format_reward,
    )
    from agentic_rag.rollout import RolloutConfig, RolloutEngine
    from agentic_rag.search import RetrieverConfig, load_search_tool
    from agentic_rag.training.grpo import make_rollout_func
    from agentic_rag.training.trl_adapter import build_trainer

_EXPORTS = {
    "make_rollout_func": "agentic_rag.training.grpo",
    "build_trainer": "agentic_rag.training.trl_adapter",
    "RolloutConfig": "agentic_rag.recipe.sections",
    "RolloutEngine": "agentic_rag.rollout",
    "ProtocolConfig": "agentic_rag.recipe.sections",
    "RetrieverConfig": "agentic_rag.recipe.sections",
    "load_search_tool": "agentic_rag.search",
    "exact_match_reward": "agentic_rag.rewards",
    "f1_reward": "agentic_rag.rewards",
    "format_reward": "agentic_rag.rewards",
    "retrieval_recall_reward": "agentic_rag.rewards",
    "search_r1_format_reward": "agentic_rag.rewards",
}
__all__ = [
    "ProtocolConfig",
    "RetrieverConfig",
    "RolloutConfig",
    "RolloutEngine",
    "build_trainer",
    "exact_match_reward",
    "f1_reward",
    "format_reward",
    "load_search_tool",
    "make_rollout_func",
    "retrieval_recall_reward",
    "search_r1_format_reward",
]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agentic_rag' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
