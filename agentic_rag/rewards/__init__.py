"""Verifiable QA rewards for search agents: scorers, answer extraction, TRL reward functions.

Pure Python (no torch), so it imports fast and works in any TRL script. docs/rewards.md has the
table of rewards and an example.
"""

from retriever_index.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "agentic_rag.rewards.compose": ("REWARDS", "build_reward", "compose_rewards"),
        "agentic_rag.rewards.evidence": ("answer_in_retrieval_reward", "retrieval_recall_reward"),
        "agentic_rag.rewards.extraction": ("extract_answer",),
        "agentic_rag.rewards.functions": (
            "exact_match_reward",
            "f1_reward",
            "format_reward",
            "make_format_reward",
            "make_search_r1_format_reward",
            "make_search_budget_reward",
            "search_r1_format_reward",
            "sub_exact_match_reward",
        ),
        "agentic_rag.rewards.grammar": ("check_format",),
        "agentic_rag.rewards.process": (
            "TURN_REWARDS",
            "information_gain_turn_reward",
            "redundancy_turn_reward",
            "search_cost_turn_reward",
            "turn_rewards",
        ),
        "agentic_rag.rewards.scoring": (
            "exact_match_score",
            "f1_score",
            "normalize_answer",
            "sub_exact_match_score",
        ),
    },
)
