"""Train LLM search agents with reinforcement learning: multi-turn search rollouts over a FAISS
retriever, verifiable rewards, GRPO on TRL.

For your own TRL script (examples/trl_grpo.py):

    from agentic_rag import build_trainer, make_rollout_func, exact_match_reward, format_reward
    rollout_func = make_rollout_func("indexes/hotpotqa", tokenizer, protocol="tags")
    trainer = build_trainer(model=..., args=GRPOConfig(...), rollout_func=rollout_func, ...)

Names are imported on first use, so `import agentic_rag` stays fast and torch-free.
"""

from retriever_index.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "agentic_rag.training.grpo": ("make_rollout_func",),
        "agentic_rag.training.trl_adapter": ("build_trainer",),
        "agentic_rag.rollout": ("RolloutEngine",),
        "agentic_rag.recipe.sections": ("ProtocolConfig", "RetrieverConfig", "RolloutConfig"),
        "agentic_rag.search": ("load_search_tool",),
        "agentic_rag.rewards": (
            "exact_match_reward",
            "f1_reward",
            "format_reward",
            "retrieval_recall_reward",
            "search_r1_format_reward",
        ),
    },
)
