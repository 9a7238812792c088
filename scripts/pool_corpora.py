"""Pool the shared passage corpora into one corpus, and say how often gold answers occur in it.

NQ, TriviaQA, PopQA and Bamboogle ship no passages; docs/results.md searches them in the
passages of the multi-hop sets pooled together (de-duplicated on title + text, ids prefixed by
their dataset). This writes that corpus and prints, per dataset, the share of the evaluated
questions (the same seeded sample `agentic-rag eval --sample N --seed S` draws) with a gold
answer occurring in some passage (SQuAD-normalized, whole words: what cover-EM would credit).

    python scripts/pool_corpora.py --out /work/indexes/pooled_corpus.jsonl \
        --check nq,triviaqa,popqa,bamboogle,hotpotqa --sample 300 --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agentic_rag.data.qa import data_root, load_qa
from agentic_rag.rewards.scoring import normalize_answer

POOLED = ("hotpotqa", "2wikimultihopqa", "musique")


def pool(root: Path, out: Path) -> list[dict]:
    seen: set[tuple[str, str]] = set()
    records = []
    for name in POOLED:
        with (root / name / "corpus.jsonl").open(encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                if (r["title"], r["text"]) not in seen:
                    seen.add((r["title"], r["text"]))
                    records.append({**r, "id": f"{name}/{r['id']}"})
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return records


def answer_coverage(records: list[dict], datasets: list[str], sample: int, seed: int) -> None:
    text = " | ".join(normalize_answer(f"{r['title']} {r['text']}") for r in records)
    text = f" {text} "
    for name in datasets:
        examples = load_qa(name, sample=sample, seed=seed)
        found = sum(
            any(g and f" {g} " in text for g in map(normalize_answer, e.answers)) for e in examples
        )
        print(f"{name}: {found}/{len(examples)} ({100 * found / len(examples):.1f}%) questions "
              "have a gold answer in the pooled passages")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="pooled corpus JSONL to write")
    p.add_argument("--check", default="", help="datasets whose answer coverage to print")
    p.add_argument("--sample", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    records = pool(data_root(), args.out)
    print(f"{len(records)} passages -> {args.out}")
    if args.check:
        answer_coverage(records, [d for d in args.check.split(",") if d], args.sample, args.seed)


if __name__ == "__main__":
    main()
