"""Question sets a run is made of: several specs as one list, a seeded sample, a held-out split
kept out of training (a seeded `sample_examples`), written as a normalized JSONL file that `load_qa` reads back."""

from __future__ import annotations

import json
from pathlib import Path

from agentic_rag.data.qa import QAExample, load_qa, sample_examples


def load_questions(specs: str, limit: int | None = None) -> list[QAExample]:
    """Every question of comma-separated dataset specs, in order; the first `limit` if given."""
    examples = [e for spec in specs.split(",") if spec.strip() for e in load_qa(spec.strip())]
    return examples[:limit] if limit else examples


def hold_out(
    train: list[QAExample], candidates: list[QAExample], n: int
) -> tuple[list[QAExample], list[QAExample]]:
    """(training questions minus the held-out ones, `n` held-out questions sampled from
    `candidates` with seed 0): the same held-out set whatever the training seed."""
    held = sample_examples(candidates, n, seed=0)
    keys = {(e.dataset, e.id) for e in held}
    return [e for e in train if (e.dataset, e.id) not in keys], held


def write_questions(examples: list[QAExample], path: Path) -> Path:
    """The questions as normalized JSONL (what `load_qa` reads), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for e in examples:
            record = {
                "id": e.id,
                "question": e.question,
                "answers": list(e.answers),
                "dataset": e.dataset,
                "supporting_titles": list(e.supporting_titles),
                "supporting_ids": list(e.supporting_ids),
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path
