"""GRPO on TRL's GRPOTrainer with multi-turn search rollouts, top to bottom: the dataset, the
reward functions, the `rollout_func`, and the trainer.

`make_rollout_func` is also the entry point for your own TRL script:

    rollout_func = make_rollout_func("indexes/hotpotqa", tokenizer, protocol="tags")
    GRPOTrainer(model=..., args=GRPOConfig(...), reward_funcs=[exact_match_reward],
                train_dataset=dataset, processing_class=tokenizer, rollout_func=rollout_func)
"""

from __future__ import annotations

import logging
from pathlib import Path

from agentic_rag.backends.base import Sampling
from agentic_rag.data.qa import QAExample
from agentic_rag.models import resolve_model
from agentic_rag.protocols import Protocol, make_protocol
from agentic_rag.recipe import Recipe, save_recipe
from agentic_rag.recipe.sections import ProtocolConfig, RetrieverConfig, RewardSpec, RolloutConfig
from agentic_rag.rollout import RolloutEngine, Trajectory, summarize
from agentic_rag.search import SearchTool, load_search_tool
from agentic_rag.training import trl_adapter
from agentic_rag.training.monitor import HealthMonitor
from agentic_rag.training.samples import SampleWriter

logger = logging.getLogger(__name__)


def to_dataset(examples: list[QAExample]):
    """TRL dataset: the question as `prompt` (rollout_func builds the real prompt), gold fields
    as columns so reward functions receive them."""
    from datasets import Dataset

    if not examples:
        raise ValueError("no training questions: check data.train and data.train_limit")
    return Dataset.from_list(
        [
            {
                "prompt": e.question,
                "answers": list(e.answers),
                "supporting_ids": list(e.supporting_ids),
                "supporting_titles": list(e.supporting_titles),
            }
            for e in examples
        ]
    )


def build_reward_funcs(specs: tuple[RewardSpec, ...]) -> list:
    """Recipe `rewards:` -> functions for GRPOTrainer (TRL logs each under its `__name__` and
    sums them with `reward_weights`, which the recipe derives from the same specs)."""
    from agentic_rag.rewards import build_reward

    return [build_reward(s.name, **s.args) for s in specs]


REWARD_FIELDS = (
    "queries",
    "retrieved_ids",
    "retrieved_titles",
    "retrieved_texts",
    "num_searches",
    "num_invalid",
    "num_search_errors",
    "num_turns",
    "finish_reason",
    "final_answer",
)
"""Per-trajectory fields passed to reward functions as keyword arguments."""


def rollout_output(trajectories: list[Trajectory], protocol: str, tokenizer) -> dict[str, list]:
    """The dict TRL's rollout_func contract asks for, plus reward fields (`turns`: each turn's
    own text, action and observation, so rewards never re-split decoded text; `turn_spans` and
    `turn_hits`: each turn's model tokens and retrieved passages, for turn-level credit);
    shapes asserted here because TRL broadcasts mismatched log-prob lengths silently."""
    for t in trajectories:
        if t.error:  # refused before generating: TRL needs a completion for every prompt
            raise ValueError(
                f"a training question was refused ({t.error}); leave such questions out of the "
                "training set, as agentic_rag.pipeline does"
            )
        n = len(t.completion_ids)
        if not (len(t.logprobs) == len(t.env_mask) == n > 0):
            raise AssertionError(
                f"rollout produced misaligned trajectory: {n} ids, {len(t.logprobs)} logprobs, "
                f"{len(t.env_mask)} mask entries"
            )
    out: dict[str, list] = {
        "prompt_ids": [t.prompt_ids for t in trajectories],
        "completion_ids": [t.completion_ids for t in trajectories],
        "logprobs": [t.logprobs for t in trajectories],
        "env_mask": [t.env_mask for t in trajectories],
        "protocol": [protocol] * len(trajectories),
    }
    for name in REWARD_FIELDS:
        out[name] = [getattr(t, name) for t in trajectories]
    out["turns"] = [t.describe_turns(tokenizer) for t in trajectories]
    out["turn_spans"] = [[(turn.start, turn.end) for turn in t.turns] for t in trajectories]
    out["turn_hits"] = [t.turn_hits() for t in trajectories]
    return out


def make_rollout_func(
    search: RetrieverConfig | str | SearchTool,
    tokenizer,
    protocol: str | ProtocolConfig | Protocol = "tags",
    rollout: RolloutConfig | None = None,
    sampling: Sampling | None = None,
):
    """A `rollout_func(prompts, trainer)` for GRPOTrainer: multi-turn search rollouts with the
    trainer's current policy (its model, or TRL's vLLM engine with `use_vllm`), sampled with the
    trainer's `temperature`/`top_p`/`top_k`.

    `search`: an index folder, a retrieval server URL, a `RetrieverConfig` or any object with
    `search_batch`. `protocol`: "tags", "tools", a `ProtocolConfig` or a built `Protocol`.
    `rollout`: the budgets (default `RolloutConfig()`).
    `sampling`: None follows the trainer (the loss's temperature); set it only to measure
    something else (the benchmarks' greedy rollouts).
    `prompts` are the dataset's questions, already repeated `num_generations` times by TRL.
    """
    tool = load_search_tool(search)
    rollout = rollout or RolloutConfig()
    if isinstance(protocol, str):
        protocol = ProtocolConfig(name=protocol)
    if isinstance(protocol, ProtocolConfig):
        protocol = make_protocol(tokenizer, protocol)

    def rollout_func(prompts: list, trainer) -> dict:
        with trl_adapter.trainer_backend(trainer, tokenizer) as backend:
            engine = RolloutEngine(backend, tool, protocol, rollout)
            drawn = sampling or trl_adapter.sampling(trainer)
            trajectories = engine.run([str(p) for p in prompts], drawn)
        stats = summarize(trajectories)
        stats["completion_tokens_per_trajectory"] = sum(
            len(t.completion_ids) for t in trajectories
        ) / max(len(trajectories), 1)
        cache = tool.cache_stats() if hasattr(tool, "cache_stats") else None
        if cache and cache["hit_rate"] is not None:  # repeated queries of a group, past steps
            stats["search_cache_hit_rate"] = cache["hit_rate"]
        trl_adapter.log_metrics(trainer, stats)
        return rollout_output(trajectories, protocol.name, tokenizer)

    return rollout_func


def train_grpo(
    recipe: Recipe,
    train_examples: list[QAExample],
    search: SearchTool,
    resume: bool = False,
    callbacks: list | None = None,
    sft_rows: list[dict] | None = None,
):
    """Runs GRPO and saves the final policy (with its recipe) to OUTPUT_DIR/final; returns the
    trainer. `sft_rows`: the warm start's demonstrations, for `update.sft_coef`."""
    from transformers import AutoTokenizer
    from trl import get_peft_config

    from agentic_rag.training.warm_start import freeze_below

    model = resolve_model(recipe.model.model_name_or_path)  # a folder, hub id or known name
    tokenizer = AutoTokenizer.from_pretrained(model)
    out = Path(recipe.grpo.output_dir)
    save_recipe(recipe, out)
    samples = SampleWriter(
        recipe.samples, out, recipe.grpo.num_generations, list(recipe.grpo.reward_weights)
    )
    trainer = trl_adapter.build_trainer(
        model=model,
        reward_funcs=build_reward_funcs(recipe.rewards),
        args=recipe.grpo,
        train_dataset=to_dataset(train_examples),
        processing_class=tokenizer,
        peft_config=get_peft_config(recipe.model),
        rollout_func=make_rollout_func(search, tokenizer, recipe.protocol, recipe.rollout),
        callbacks=[*(callbacks or []), samples, HealthMonitor()],
        update=recipe.update,
        credit=recipe.credit,
        sft_rows=sft_rows,
    )
    if recipe.update.trainable_layers is not None:
        freeze_below(trainer.model, recipe.update.trainable_layers)
    samples.trainer = trainer
    checkpoint = resume and _last_checkpoint(out)
    if resume and not checkpoint:
        logger.warning("--resume: no checkpoint in %s, starting from scratch", out)
    trainer.train(resume_from_checkpoint=checkpoint or None)
    final = out / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    save_recipe(recipe, final)
    return trainer


def _last_checkpoint(out: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(out)) if out.is_dir() else None
