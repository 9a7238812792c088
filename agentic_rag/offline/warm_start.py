"""The offline default's warm start: the fictional KB's questions as demonstrations (with
deliberate shortcuts) and a split by entity between warm start and GRPO; the SFT itself is
training/warm_start.py's, as for real questions."""

from __future__ import annotations

import json
import random
from pathlib import Path

from agentic_rag.offline.world import say
from agentic_rag.protocols import Protocol, make_protocol
from agentic_rag.recipe import Recipe
from agentic_rag.training.copy_check import checked_warm_start
from agentic_rag.training.copy_probe import ProbeRow, probe_rows
from agentic_rag.training.warm_start import Plan, demonstrations, run_sft
from retriever_index.retriever import Hit


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


def kb_probe(protocol: Protocol, corpus: Path, examples: list[dict]) -> list[ProbeRow]:
    """Held-out demonstrations for the copy check: questions no demonstration used (GRPO's),
    every hop searched right and its gold passage as the observation, so a policy that copies
    can write each query and the answer token for token."""
    wanted = {h["passage_id"] for e in examples for h in e["hops"]}
    passages = {}
    for line in corpus.read_text().splitlines():
        if (p := json.loads(line))["id"] in wanted:
            passages[p["id"]] = Hit(p["id"], p["title"], p["text"], 1.0)
    plans = [
        Plan(e["question"], tuple(h["query"] for h in e["hops"]), e["answers"][0]) for e in examples
    ]
    hits = [[passages[h["passage_id"]]] for e in examples for h in e["hops"]]
    rows = demonstrations(protocol, plans, hits)
    return probe_rows(
        protocol.tokenizer, rows, [p.answer for p in plans], [p.queries for p in plans]
    )


def warm_start(recipe: Recipe, world: dict[str, Path], out: Path, search) -> Path:
    """Short SFT on demonstrations: teaches the protocol, leaves accuracy headroom for GRPO.
    The copy check retries a warm start that cannot copy from a fresh initialisation, and stops
    the run when none can (training/copy_check.py)."""
    from transformers import AutoTokenizer

    cfg, seed, ws = recipe.offline, recipe.grpo.seed, recipe.warm_start
    protocol = make_protocol(AutoTokenizer.from_pretrained(world["base_model"]), recipe.protocol)
    train, held = split_by_entity(train_rows(world), cfg.sft_share)
    rows: list[dict] = []

    def attempt(folder: Path, n: int) -> Path:
        if (folder / "config.json").exists():
            return folder
        if not rows:
            rows.extend(
                kb_demonstrations(
                    protocol, search, train, recipe.rollout.topk, cfg.shortcut_fraction, seed
                )
            )
            say(f"SFT warm start on {len(rows)} demonstrations")
        base = world["base_model"] if n == 0 else fresh_model(world, cfg, folder, seed + n)
        return run_sft(
            base,
            rows,
            folder,
            ws,
            seed=seed + n,
            use_cpu=recipe.grpo.use_cpu,
            bf16=recipe.grpo.bf16,
            gradient_checkpointing=recipe.grpo.gradient_checkpointing,
        )

    return checked_warm_start(
        attempt,
        kb_probe(protocol, world["corpus"], held[: ws.copy_probe]),
        out / "sft",
        min_copy=ws.min_copy,
        retries=ws.copy_retries,
        retry_action="training again from a fresh initialisation",
        say=say,
    )


def fresh_model(world: dict[str, Path], cfg, folder: Path, seed: int) -> Path:
    """The untrained tiny policy initialised with `seed`, beside the retry's folder."""
    from transformers import AutoTokenizer

    from agentic_rag.offline.tiny_model import build_model

    init = folder.with_name(f"{folder.name}_init")
    tokenizer = AutoTokenizer.from_pretrained(world["base_model"])
    build_model(tokenizer, cfg.model, seed).save_pretrained(init)
    tokenizer.save_pretrained(init)
    return init
