"""The offline default's warm start: SFT on demonstration trajectories rendered by the same
protocol code as rollouts, with real retrieval results as observations, loss on model tokens only.
It teaches the protocol and leaves accuracy headroom for GRPO."""

from __future__ import annotations

import json
import random
from pathlib import Path

from agentic_rag.offline.world import say
from agentic_rag.protocols import Action, Protocol, make_protocol
from agentic_rag.recipe import Recipe


def demonstrations(
    protocol: Protocol,
    search,
    examples: list[dict],
    topk: int,
    shortcut_fraction: float = 0.0,
    seed: int = 0,
) -> list[dict]:
    """SFT rows: prompt + a gold trajectory (real retrieval results), loss on model tokens only.

    A `shortcut_fraction` of the two-hop demonstrations stop after the first search and answer
    with the entity found there (the bridge, never the answer): the warm start learns this
    careless habit and under-searches, and GRPO must learn that the second search pays. Single-hop
    demonstrations are always right: answers that are not read off a passage would teach the
    policy not to copy.
    """
    rng = random.Random(seed)
    plans = []
    for e in examples:
        hops = e["hops"]
        if len(hops) > 1 and rng.random() < shortcut_fraction:
            plans.append((e, hops[:1], hops[0]["answer"]))
        else:
            plans.append((e, hops, e["answers"][0]))
    queries = [h["query"] for _, hops, _ in plans for h in hops]
    hits = iter(search.search_batch(queries, topk))
    rows = []
    for e, hops, answer in plans:
        steps = []
        for i, hop in enumerate(hops):
            thought = "I need to search." if i == 0 else "I need to search again."
            steps.append((Action("search", queries=(hop["query"],)), [next(hits)], thought))
        steps.append((Action("answer", answer=answer), [], "I know the answer."))
        prompt = protocol.prompt_ids(e["question"])
        completion, env_mask = protocol.demonstration(steps)
        rows.append(
            {"input_ids": prompt + completion, "completion_mask": [0] * len(prompt) + env_mask}
        )
    return rows


def split_by_entity(rows: list[dict], sft_share: float) -> tuple[list[dict], list[dict]]:
    """(warm-start questions, GRPO questions), split by the entity the first search looks up.

    GRPO's questions are about entities no demonstration touched, so its reward pays for
    reading passages, not for recalling what the warm start memorized.
    """
    entities = sorted({r["supporting_ids"][0] for r in rows})
    random.Random(0).shuffle(entities)
    sft = set(entities[: round(len(entities) * sft_share)])
    return (
        [r for r in rows if r["supporting_ids"][0] in sft],
        [r for r in rows if r["supporting_ids"][0] not in sft],
    )


def train_rows(world: dict[str, Path]) -> list[dict]:
    return [json.loads(line) for line in world["train"].read_text().splitlines()]


def warm_start(recipe: Recipe, world: dict[str, Path], out: Path, search) -> Path:
    """Short SFT on demonstrations: teaches the protocol, leaves accuracy headroom for GRPO."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    sft_dir = out / "sft"
    if (sft_dir / "config.json").exists():
        return sft_dir
    cfg, seed = recipe.offline, recipe.grpo.seed
    tokenizer = AutoTokenizer.from_pretrained(world["base_model"])
    protocol = make_protocol(tokenizer, recipe.protocol)
    train, _ = split_by_entity(train_rows(world), cfg.sft_share)
    rows = demonstrations(protocol, search, train, recipe.rollout.topk, cfg.shortcut_fraction, seed)
    say(f"SFT warm start on {len(rows)} demonstrations")
    args = SFTConfig(
        output_dir=str(out / "sft_run"),
        num_train_epochs=cfg.sft_epochs,
        learning_rate=cfg.sft_learning_rate,
        per_device_train_batch_size=16,
        completion_only_loss=True,
        max_length=None,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        adam_beta2=0.95,  # steadier at the high learning rate a tiny model trains fast with
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        seed=seed,
        use_cpu=recipe.grpo.use_cpu,
        bf16=recipe.grpo.bf16,  # the recipe's precision for both stages (tiny.yaml: float32)
        gradient_checkpointing=recipe.grpo.gradient_checkpointing,
    )
    trainer = SFTTrainer(
        model=str(world["base_model"]),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model(str(sft_dir))
    tokenizer.save_pretrained(str(sft_dir))
    return sft_dir
