"""Encoder runtimes: index-build and query speed against bare torch, and the retrieval each gives.

speed (the default; run it on quiet cores): in one process, on the same passages and questions:
  bare     SentenceTransformer.encode (torch fp32, normalized) + IndexFlatIP.add: the baseline
  build    build_index --encoder-backend B --encoder-precision P, whole pipeline, Flat
  queries  Encoder.encode_queries on HotpotQA dev questions in batches of 1, 8 and 64
Rounds alternate the order of the variants; medians are reported, ratios against bare torch.
Goals (issue #26): build >= 2.5x bare torch fp32; single-query latency >= 2x faster.

quality (--quality): each variant's index of the full HotpotQA, 2Wiki and MuSiQue corpora
(embeddings cached under --cache), every dev question: recall@10 of the gold supporting titles,
and top-10 overlap with torch fp32's hits for the same question.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from retriever_index.build import BuildConfig, build_index
from retriever_index.encoder import Encoder
from retriever_index.export import check_runtime
from retriever_index.metrics import recall_at_k

QA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa"
VARIANTS = ["torch:fp32", "onnx:fp32", "onnx:int8", "openvino:fp32", "openvino:int8"]
DATASETS = ["hotpotqa", "2wikimultihopqa", "musique"]
QUERY_BATCHES = (1, 8, 64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="backend:precision list")
    ap.add_argument(
        "--passages",
        type=int,
        default=2000,
        help="seeded sample of the HotpotQA corpus, in corpus order (0: all 11,445)",
    )
    ap.add_argument("--queries", type=int, default=256, help="HotpotQA dev questions timed")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quality", action="store_true", help="recall and overlap instead of speed")
    ap.add_argument("--datasets", default=",".join(DATASETS), help="--quality: dev sets, in order")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path("outputs/bench/encoder"),
        help="--quality: where corpus embeddings are kept between runs",
    )
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()  # fmt: skip
    if not (QA / "hotpotqa" / "corpus.jsonl").is_file():
        print(f"shared QA data not found under {QA}", file=sys.stderr)
        return 2
    variants = [tuple(v.split(":")) for v in args.variants.split(",")]
    for backend, precision in variants:
        check_runtime(backend, precision)
    if args.quality:
        result = _quality(variants, args.datasets.split(","), args.cache)
    else:
        result = _speed(variants, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _speed(variants: list[tuple[str, str]], args: argparse.Namespace) -> dict:
    import torch

    records = _sample(QA / "hotpotqa" / "corpus.jsonl", args.passages)
    questions = [q["question"] for q in _jsonl(QA / "hotpotqa" / "dev.jsonl")][: args.queries]
    encoders = {v: Encoder(backend=v[0], precision=v[1]) for v in variants}  # exports happen here
    print(f"{len(records)} HotpotQA passages, {len(questions)} questions; {os.cpu_count()} CPUs, "
          f"torch threads {torch.get_num_threads()}, {args.rounds} rounds", flush=True)  # fmt: skip
    build_s: dict[str, list[float]] = {"bare": []} | {_name(v): [] for v in variants}
    query_s = {(_name(v), b): [] for v in variants for b in QUERY_BATCHES}
    bare_model = encoders.get(("torch", "fp32")) or Encoder()
    with tempfile.TemporaryDirectory(prefix="bench_encoder_") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
        for round_ in range(args.rounds):
            order = [None, *variants]
            for v in order if round_ % 2 == 0 else order[::-1]:
                if v is None:
                    build_s["bare"].append(_timed(lambda: _bare_build(bare_model, records)))
                    continue
                config = BuildConfig(corpus=str(corpus), out=f"{tmp}/{_name(v)}",
                                     encoder_backend=v[0], encoder_precision=v[1])  # fmt: skip
                build_s[_name(v)].append(_timed(lambda c=config: _quiet_build(c)))
                for b in QUERY_BATCHES:
                    query_s[(_name(v), b)].append(_timed(lambda e=encoders[v], b=b: _queries(e, questions, b)))  # fmt: skip
            print(f"round {round_ + 1} done", flush=True)
    n, bare = len(records), statistics.median(build_s["bare"])
    print("\n== index build (Flat), passages/s, median of rounds ==")
    rows = {"bare": n / bare}
    print(f"{'bare torch fp32 (ST.encode + IndexFlatIP)':<44}{n / bare:8.1f}   1.00x")
    for v in variants:
        s = statistics.median(build_s[_name(v)])
        rows[_name(v)] = n / s
        print(f"{'build_index ' + _name(v):<44}{n / s:8.1f}{bare / s:7.2f}x")
    print("\n== query encoding: queries/s at batch 1 / 8 / 64; ms per single query ==")
    torch_one = (
        statistics.median(query_s[("torch fp32", 1)]) if ("torch", "fp32") in variants else None
    )
    queries = {}
    for v in variants:
        rates = [len(questions) / statistics.median(query_s[(_name(v), b)]) for b in QUERY_BATCHES]
        ms = 1e3 * statistics.median(query_s[(_name(v), 1)]) / len(questions)
        speedup = (
            f"{torch_one / statistics.median(query_s[(_name(v), 1)]):5.2f}x" if torch_one else ""
        )
        queries[_name(v)] = {"qps": dict(zip(QUERY_BATCHES, rates, strict=True)), "ms_single": ms}
        print(f"{_name(v):<16}" + "".join(f"{r:9.1f}" for r in rates) + f"{ms:9.2f} ms {speedup}")
    return {"passages": n, "questions": len(questions), "build_passages_per_s": rows,
            "queries": queries, "rounds": args.rounds}  # fmt: skip


def _quality(variants: list[tuple[str, str]], datasets: list[str], cache: Path) -> dict:
    """recall@10, top-10 overlap with torch fp32's hits and the mean cosine of each passage's
    embedding to torch fp32's, per dataset and variant."""
    import faiss

    out: dict = {}
    print(f"{'dataset':<18}{'variant':<16}{'recall@10':>10}{'vs torch':>10}{'overlap@10':>12}"
          f"{'cosine':>8}")  # fmt: skip
    for name in datasets:
        corpus = _jsonl(QA / name / "corpus.jsonl")
        questions = [q for q in _jsonl(QA / name / "dev.jsonl") if q.get("supporting_titles")]
        gold = [set(q["supporting_titles"]) for q in questions]
        titles = [r["title"] for r in corpus]
        ranked, embedded = {}, {}
        for v in [("torch", "fp32"), *[v for v in variants if v != ("torch", "fp32")]]:
            encoder = Encoder(backend=v[0], precision=v[1])
            index = faiss.IndexFlatIP(encoder.dim)
            embedded[v] = _corpus_embeddings(cache / name / f"{v[0]}-{v[1]}.npy", encoder, corpus)
            index.add(embedded[v])
            cosine = float((embedded[v] * embedded[("torch", "fp32")]).sum(axis=1).mean())
            _, rows = index.search(encoder.encode_queries([q["question"] for q in questions]), 10)
            ranked[v] = rows
            hits = [[_Hit(titles[i]) for i in r] for r in rows]
            recall = recall_at_k(hits, gold, 10)
            base = out.get(name, {}).get("torch fp32", {}).get("recall@10", recall)
            overlap = float(np.mean([len(set(a) & set(b)) / 10
                                     for a, b in zip(rows, ranked[("torch", "fp32")], strict=True)]))  # fmt: skip
            out.setdefault(name, {})[_name(v)] = {
                "recall@10": recall, "overlap@10": overlap, "mean_cosine": cosine
            }  # fmt: skip
            print(f"{name:<18}{_name(v):<16}{recall:>10.4f}{recall - base:>+10.4f}{overlap:>12.3f}"
                  f"{cosine:>8.4f}", flush=True)  # fmt: skip
    return out


class _Hit:
    def __init__(self, title: str):
        self.title = title


def _corpus_embeddings(path: Path, encoder: Encoder, corpus: list[dict]) -> np.ndarray:
    if path.is_file():
        return np.load(path)
    texts = [r.get("contents") or f'"{r["title"]}"\n{r["text"]}' for r in corpus]
    started = time.time()
    emb = np.concatenate([encoder.encode_passages(texts[i : i + 1024])
                          for i in range(0, len(texts), 1024)])  # fmt: skip
    print(f"  encoded {len(texts)} passages with {encoder.backend} {encoder.precision} in "
          f"{time.time() - started:.0f} s", flush=True)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, emb)
    return emb


def _bare_build(encoder: Encoder, records: list[dict]):
    """What a user writes by hand: SentenceTransformer.encode, then IndexFlatIP."""
    import faiss

    texts = [r.get("contents") or f'"{r["title"]}"\n{r["text"]}' for r in records]
    emb = encoder.model.encode(texts, batch_size=64, normalize_embeddings=True)
    faiss.IndexFlatIP(emb.shape[1]).add(emb)


def _quiet_build(config: BuildConfig) -> None:
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()):  # progress bars
        build_index(config)


def _queries(encoder: Encoder, questions: list[str], batch: int) -> None:
    for i in range(0, len(questions), batch):
        encoder.encode_queries(questions[i : i + batch])


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _name(v: tuple[str, str]) -> str:
    return f"{v[0]} {v[1]}"


def _jsonl(path: Path) -> list[dict]:
    with path.open() as f:
        return [json.loads(line) for line in f]


def _sample(path: Path, n: int) -> list[dict]:
    records = _jsonl(path)
    if not n or n >= len(records):
        return records
    keep = np.sort(np.random.default_rng(0).choice(len(records), n, replace=False))
    return [records[i] for i in keep]


if __name__ == "__main__":
    sys.exit(main())
