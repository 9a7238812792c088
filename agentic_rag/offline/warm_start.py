"""The offline default's warm start: the fictional KB's questions as demonstrations (with
deliberate shortcuts) and a split by entity between warm start and GRPO; the SFT itself is
training/warm_start.py's, as for real questions."""

from __future__ import annotations

import json
import random
from pathlib import Path

from agentic_rag.models.checkpoint import is_complete
from agentic_rag.offline.world import say
from agentic_rag.protocols import Protocol, make_protocol
from agentic_rag.recipe import Recipe
from agentic_rag.training.warm_start import Plan, demonstrations, run_sft


def kb_demonstrations(
    protocol: Protocol,
    search,
    examples: list[dict],
    topk: int,
    shortcut_fraction: float = 0.0,
    seed: int = 0,
) -> list[dict]:
    """SFT rows for the fictional KB's questions: each hop's query searched for real, then the
    answer.

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
            hops, answer = hops[:1], hops[0]["answer"]
        else:
            answer = e["answers"][0]
        plans.append(Plan(e["question"], tuple(h["query"] for h in hops), answer))
    queries = [q for plan in plans for q in plan.queries]
    return demonstrations(protocol, plans, search.search_batch(queries, topk))


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
    from transformers import AutoTokenizer

    sft_dir = out / "sft"
    if is_complete(sft_dir):
        return sft_dir
    cfg, seed = recipe.offline, recipe.grpo.seed
    protocol = make_protocol(AutoTokenizer.from_pretrained(world["base_model"]), recipe.protocol)
    train, _ = split_by_entity(train_rows(world), cfg.sft_share)
    rows = kb_demonstrations(
        protocol, search, train, recipe.rollout.topk, cfg.shortcut_fraction, seed
    )
    say(f"SFT warm start on {len(rows)} demonstrations")
    return run_sft(
        world["base_model"],
        rows,
        sft_dir,
        recipe.warm_start,
        seed=seed,
        use_cpu=recipe.grpo.use_cpu,
        bf16=recipe.grpo.bf16,
        gradient_checkpointing=recipe.grpo.gradient_checkpointing,
    )
