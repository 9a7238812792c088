"""Verifiable QA rewards for search agents: scorers, answer extraction, TRL reward functions.

Pure Python (no torch), so it imports fast and works in any TRL script. docs/rewards.md has the
table of rewards and an example.
"""

from agentic_rag.rewards.compose import REWARDS, build_reward, compose_rewards
from agentic_rag.rewards.evidence import answer_in_retrieval_reward, retrieval_recall_reward
from agentic_rag.rewards.extraction import extract_answer
from agentic_rag.rewards.functions import (
    exact_match_reward,
    f1_reward,
    format_reward,
    make_search_r1_format_reward,
    search_budget_penalty,
    search_r1_format_reward,
    sub_exact_match_reward,
)
from agentic_rag.rewards.grammar import check_format
from agentic_rag.rewards.process import (
    TURN_REWARDS,
    information_gain_reward,
    redundancy_reward,
    search_cost_reward,
    turn_rewards,
)
from agentic_rag.rewards.scoring import (
    exact_match_score,
    f1_score,
    normalize_answer,
    sub_exact_match_score,
)

__all__ = [
    "REWARDS",
    "TURN_REWARDS",
    "answer_in_retrieval_reward",
    "build_reward",
    "check_format",
    "compose_rewards",
    "exact_match_reward",
    "exact_match_score",
    "extract_answer",
    "f1_reward",
    "f1_score",
    "format_reward",
    "information_gain_reward",
    "make_search_r1_format_reward",
    "normalize_answer",
    "redundancy_reward",
    "retrieval_recall_reward",
    "search_budget_penalty",
    "search_cost_reward",
    "search_r1_format_reward",
    "sub_exact_match_reward",
    "sub_exact_match_score",
    "turn_rewards",
]
