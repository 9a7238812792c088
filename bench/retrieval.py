"""Retrieval benchmark: our index build and search vs bare sentence-transformers + FAISS.

Everything runs in this one process on the same passages, so the ratios compare like with like:
  build    ours: build_index (validate -> SQLite -> sharded encode -> FAISS -> manifest)
           bare: json.loads every line, SentenceTransformer.encode, IndexFlatIP.add
  search   Retriever.search_batch over all questions vs a loop of Retriever.search
  indexes  HNSW32 / IVF / IVF-PQ built from the same embeddings: bytes per passage,
           overlap with Flat's top-k, and recall@k of HotpotQA supporting titles
Target (issue 2): our build throughput within 10% of the bare baseline's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from retriever_index.build import BuildConfig, build_index, new_index
from retriever_index.encoder import Encoder
from retriever_index.metrics import recall_at_k
from retriever_index.retriever import Retriever

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa" / "hotpotqa"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SHARED / "corpus.jsonl")
    ap.add_argument(
        "--questions",
        type=Path,
        default=SHARED / "dev.jsonl",
        help="QA JSONL with question and supporting_titles (HotpotQA format)",
    )
    ap.add_argument("--limit", type=int, default=1000, help="first N passages (0: all)")
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="build rounds, alternating which side goes first (median reported)",
    )
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("-k", type=int, default=10)
    args = ap.parse_args()  # fmt: skip
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus} (pass --corpus)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench_retrieval_") as tmp:
        return _run(args, Path(tmp))


def _run(args: argparse.Namespace, tmp: Path) -> int:
    corpus = tmp / "corpus.jsonl"
    n = _head(args.corpus, corpus, args.limit)
    print(f"corpus: {n} passages from {args.corpus}; batch size {args.batch_size}; "
          f"{os.cpu_count()} CPUs, torch threads {_torch_threads()}")  # fmt: skip

    warm = Encoder(batch_size=args.batch_size)  # load weights and warm kernels for both sides
    warm.encode_passages(["warm up"] * args.batch_size)

    def ours() -> None:
        config = BuildConfig(corpus=str(corpus), out=str(tmp / "flat"), batch_size=args.batch_size)
        build_index(config)

    def bare() -> None:
        nonlocal bare_index
        bare_index = _bare_build(corpus, warm.path, args.batch_size)

    bare_index = None
    print("\n== build (Flat), passages/s (wall | CPU time): higher is better ==")
    wall_ratios, cpu_ratios = [], []
    for i in range(args.rounds):
        order = [("bare", bare), ("ours", ours)]
        timed = {name: _timed(fn) for name, fn in (order if i % 2 == 0 else order[::-1])}
        (bw, bc), (ow, oc) = timed["bare"], timed["ours"]
        wall_ratios.append(bw / ow)
        cpu_ratios.append(bc / oc)
        print(f"round {i + 1}: bare {n / bw:6.1f} | {n / bc:6.1f}   ours {n / ow:6.1f} | {n / oc:6.1f}"
              f"   ratio ours/bare {bw / ow:.3f} | {bc / oc:.3f}")  # fmt: skip
    print(f"median ratio ours/bare throughput: wall {np.median(wall_ratios):.3f}, "
          f"CPU {np.median(cpu_ratios):.3f}  (target >= 0.90; CPU time is what other "
          "processes on a shared machine disturb least)")  # fmt: skip

    r = Retriever.load(tmp / "flat")
    emb = r.index.reconstruct_n(0, r.index.ntotal)
    diff = np.abs(emb - bare_index.reconstruct_n(0, bare_index.ntotal)).max()
    print(f"max |ours - bare| embedding difference: {diff:.2e}")

    questions = _questions(args.questions, r)
    queries = [q["question"] for q in questions]
    gold = [set(q["supporting_titles"]) for q in questions]
    print(f"\n== search: {len(queries)} questions whose gold passages are all in the corpus ==")
    if not queries:
        print("no such questions (raise --limit)")
        return 0
    batched, batch_s = _timed_value(lambda: r.search_batch(queries, args.k))
    looped, loop_s = _timed_value(lambda: [r.search(q, args.k) for q in queries])
    same = np.mean(
        [[h.id for h in a] == [h.id for h in b] for a, b in zip(batched, looped, strict=True)]
    )
    print(f"search_batch {len(queries) / batch_s:8.1f} q/s   per-query loop "
          f"{len(queries) / loop_s:8.1f} q/s   ratio {loop_s / batch_s:.1f}x   "
          f"same top-k: {same:.1%}")  # fmt: skip

    query_emb = r.encoder.encode_queries(queries)
    _, flat_rows = r.index.search(query_emb, args.k)
    nlist = max(1, int(4 * math.sqrt(n)))
    print(f"\n== indexes over the same embeddings (k={args.k}) ==")
    print(f"{'factory':<16}{'bytes/passage':>14}{'overlap@k vs Flat':>19}{'recall@k gold':>15}")
    for factory, params in [
        ("Flat", {}),
        ("HNSW32", {"efSearch": 64}),
        (f"IVF{nlist},Flat", {"nprobe": 8}),
        (f"IVF{nlist},PQ32", {"nprobe": 8}),
    ]:
        if "PQ" in factory and n < 256:
            print(f"{factory:<16}(skipped: PQ codebooks need >= 256 passages)")
            continue
        index = new_index(emb.shape[1], factory)
        if not index.is_trained:
            index.train(emb)
        index.add(emb)
        for name, value in params.items():
            faiss.ParameterSpace().set_index_parameter(index, name, value)
        scores, rows = index.search(query_emb, args.k)
        overlap = np.mean(
            [len(set(a) & set(b)) / args.k for a, b in zip(rows, flat_rows, strict=True)]
        )
        recall = recall_at_k(r.hits(scores, rows), gold, args.k)
        size = faiss.serialize_index(index).nbytes / n
        print(f"{factory:<16}{size:>14.0f}{overlap:>19.3f}{recall:>15.3f}")
    docs_bytes = (tmp / "flat" / "docs.sqlite").stat().st_size / n
    print(f"(+ docs.sqlite: {docs_bytes:.0f} bytes/passage)")
    return 0


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _timed_value(fn):
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def _head(src: Path, dst: Path, limit: int) -> int:
    n = 0
    with src.open() as f, dst.open("w") as w:
        for line in f:
            if limit and n == limit:
                break
            w.write(line)
            n += 1
    return n


def _bare_build(corpus: Path, model_path: Path, batch_size: int):
    """What a user would write by hand: no validation, no store, no shards, no manifest."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), local_files_only=True)
    with corpus.open() as f:
        records = [json.loads(line) for line in f]
    texts = [r.get("contents") or f'"{r["title"]}"\n{r["text"]}' for r in records]
    emb = model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    index = faiss.IndexFlatIP(emb.shape[1])
    index.add(emb)
    return index


def _questions(path: Path, r: Retriever) -> list[dict]:
    if not path.is_file():
        return []
    titles = {p.title for p in r.docs.slice(0, len(r))}
    with path.open() as f:
        records = [json.loads(line) for line in f]
    return [
        q for q in records if q.get("supporting_titles") and set(q["supporting_titles"]) <= titles
    ]


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
