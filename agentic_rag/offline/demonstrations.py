"""The offline world's demonstrations for the warm start: its questions searched hop by hop
(with deliberate shortcuts), and a split by entity between the warm start and GRPO. The SFT
itself is training/warm_start.py's, as for real questions."""

from __future__ import annotations

import json
import random
from pathlib import Path

from agentic_rag.data.qa import QAExample
from agentic_rag.protocols import Protocol
from agentic_rag.training.warm_start import Plan, demonstrations


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


def split_questions(
    path: str | Path, questions: list[QAExample], sft_share: float
) -> tuple[list[dict], list[QAExample]]:
    """(the world's training questions the warm start demonstrates, as written at `path` with
    their hops; the `questions` about the other entities, which GRPO trains on, in order)."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    taught, rest = split_by_entity(rows, sft_share)
    ids = {r["id"] for r in rest}
    return taught, [e for e in questions if e.id in ids]
