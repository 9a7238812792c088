"""An SFT warm start before GRPO: demonstration trajectories rendered by the same protocol code
as rollouts, with real retrieval results as observations, loss on model tokens only.

GRPO learns only from groups whose rewards differ; a pretrained model that never writes the
protocol's actions (SmolLM2 zero-shot never does) gives every sample 0 and nothing to learn from.
A short warm start teaches the protocol. For real questions the demonstrations come from the
dataset's gold supporting passages: search each passage's title, then answer with the gold
answer (kept only when the retrieved passages state it); the offline default builds its own
(offline/demonstrations.py) with the same functions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from agentic_rag.data.qa import QAExample
from agentic_rag.models.checkpoint import is_complete
from agentic_rag.protocols import Action, Protocol
from agentic_rag.recipe.sections import WarmStartConfig
from agentic_rag.recipe.trl_keys import checkpointing
from agentic_rag.rewards.functions import contains_answer
from agentic_rag.search import SearchTool

logger = logging.getLogger(__name__)

THOUGHTS = ("I need to search.", "I need to search again.", "I know the answer.")
"""The demonstrations' thoughts: before the first search, before later ones, before answering."""


@dataclass(frozen=True)
class Plan:
    """One demonstration: the searches a good policy makes, then its answer."""

    question: str
    queries: tuple[str, ...]
    answer: str


def demonstrations(protocol: Protocol, plans: list[Plan], hits: list) -> list[dict]:
    """SFT rows (input_ids, completion_mask = env_mask after the prompt) for `plans`, with
    `hits[i]` the search results of the i-th query over all plans, in order."""
    results = iter(hits)
    rows = []
    for plan in plans:
        steps = [
            (
                Action("search", queries=(query,)),
                [next(results)],
                THOUGHTS[0] if i == 0 else THOUGHTS[1],
            )
            for i, query in enumerate(plan.queries)
        ]
        steps.append((Action("answer", answer=plan.answer), [], THOUGHTS[2]))
        prompt = protocol.prompt_ids(plan.question)
        completion, env_mask = protocol.demonstration(steps)
        rows.append(
            {"input_ids": prompt + completion, "completion_mask": [0] * len(prompt) + env_mask}
        )
    return rows


def supporting_plans(
    protocol: Protocol, examples: list[QAExample], search: SearchTool, topk: int, limit: int
) -> tuple[list[dict], list[QAExample]]:
    """Demonstrations from real questions, and the questions they used: search the gold
    supporting titles in the dataset's order, answer with the first gold alias. One batched
    search; a question is kept only when its searches bring back a passage stating an answer
    alias (or it is a yes/no question), so no demonstration teaches answering what was not
    read."""
    candidates = [e for e in examples if e.supporting_titles and e.answers]
    queries = [title for e in candidates for title in e.supporting_titles]
    found = iter(search.search_batch(queries, topk) if queries else [])
    plans, hits, used = [], [], []
    for e in candidates:
        mine = [next(found) for _ in e.supporting_titles]
        texts = [shown(protocol, group) for group in mine]  # as the model will read them
        yes_no = e.answers[0].lower() in ("yes", "no")
        if len(plans) < limit and (yes_no or contains_answer(texts, list(e.answers))):
            plans.append(Plan(e.question, tuple(e.supporting_titles), e.answers[0]))
            hits += mine
            used.append(e)
    logger.info("%d of %d questions make demonstrations", len(plans), len(candidates))
    return demonstrations(protocol, plans, hits), used


def shown(protocol: Protocol, hits: list) -> str:
    """A search result as the model reads it: the observation text, passages cut to
    `max_obs_tokens`."""
    ids = protocol.observation_ids(Action("search", queries=("q",)), [hits], budget=1 << 30)
    return protocol.tokenizer.decode(ids or [])


def run_sft(
    base_model: str | Path,
    rows: list[dict],
    out: Path,
    config: WarmStartConfig,
    *,
    seed: int,
    use_cpu: bool,
    bf16: bool,
    gradient_checkpointing: bool = False,
) -> Path:
    """SFT with TRL's SFTTrainer on prompt+completion rows, loss on the completion mask only;
    saves model and tokenizer to `out` and returns it (reused when already there)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    if is_complete(out):
        return out
    if not rows:
        raise ValueError("no demonstrations for the warm start: check data.train and its passages")
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype="auto")
    if config.trainable_layers is not None:
        freeze_below(model, config.trainable_layers)
    args = SFTConfig(
        output_dir=str(out.with_name(out.name + "_run")),
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        completion_only_loss=True,
        max_length=None,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        adam_beta2=0.95,  # steadier at the high learning rate a tiny model trains fast with
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        seed=seed,
        use_cpu=use_cpu,
        bf16=bf16,  # the recipe's precision for both stages (tiny.yaml: float32)
        **checkpointing(gradient_checkpointing),
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
    trainer.train()
    for parameter in model.parameters():
        parameter.requires_grad_(True)  # the saved checkpoint is a normal, fully trainable one
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def freeze_below(model, trainable_layers: int) -> None:
    """Only the top `trainable_layers` decoder blocks and the final norm keep gradients."""
    layers = model.model.layers
    keep = {id(p) for block in layers[len(layers) - trainable_layers :] for p in block.parameters()}
    keep |= {id(p) for p in model.model.norm.parameters()}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in keep)
