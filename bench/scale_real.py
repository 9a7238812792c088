"""Generated vs real embeddings at the sizes MiniLM can encode here: is bench/scale.py's data
harder or easier for the compressed index than real passages, and does that change with size?

Real: all-MiniLM-L6-v2 vectors of the HotpotQA, 2Wiki and MuSiQue corpora, read from their Flat
indexes (in that order: the first 6,000 rows are HotpotQA's), and 1,000 HotpotQA dev questions
encoded here. Generated: bench/_clustered.py at the same size. For each, at 6,000 / 12,000 /
17,948 passages: the compressed index with the automatic settings (CompressedConfig.resolve;
every row trains it at these sizes, as in the build) over the float16-rounded vectors, then
recall@10 retention against exact Flat at depth 100 and nprobe nlist/16, nlist/8, nlist/4 and nlist (all
lists: what PQ plus re-ranking alone lose), and score statistics of exact search: mean top-1
and rank-10 scores, and the mean score gap between ranks 10 and 100.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _clustered import Clustered  # noqa: E402

from retriever_index.build import new_index  # noqa: E402
from retriever_index.compressed import CompressedConfig, rerank  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ("hotpotqa", "2wikimultihopqa", "musique")
SIZES = (6000, 12000, 17948)
FRACTIONS = (16, 8, 4, 1)  # nprobe = nlist / fraction


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--indexes", type=Path, default=ROOT / "indexes",
                    help=f"folder holding the Flat MiniLM indexes {', '.join(CORPORA)}")  # fmt: skip
    ap.add_argument("--questions", type=Path,
                    default=ROOT.parent / "shared" / "data" / "qa" / "hotpotqa" / "dev.jsonl")  # fmt: skip
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    missing = [c for c in CORPORA if not (args.indexes / c / "index.faiss").is_file()]
    if missing or not args.questions.is_file():
        print(f"skipped: needs Flat MiniLM indexes of {missing or CORPORA} under {args.indexes} "
              f"and {args.questions} (build them with `agentic-rag index build`)")  # fmt: skip
        return 0
    from retriever_index.encoder import Encoder

    with args.questions.open() as f:
        questions = [json.loads(line)["question"] for line in itertools.islice(f, args.queries)]
    queries = Encoder().encode_queries(questions)
    real = np.concatenate([_vectors(args.indexes / c / "index.faiss") for c in CORPORA])
    print(f"{'data':>9} {'passages':>8} {'nlist':>5} {'nl/16':>6} {'nl/8':>6} {'nl/4':>6} {'all':>6} "
          f"{'top-1':>6} {'top-10':>6} {'gap10-100':>9}")  # fmt: skip
    for n in SIZES:
        if n > len(real):
            continue
        gen = Clustered(n, real.shape[1], args.queries)
        generated = np.concatenate(list(gen.chunks()))
        for name, x, q in (("real", real[:n], queries), ("generated", generated, gen.queries())):
            nlist, kept, scores = measure(x, q)
            print(f"{name:>9} {n:>8} {nlist:>5} " + " ".join(f"{k:>6.3f}" for k in kept)
                  + f" {scores[0]:>6.3f} {scores[1]:>6.3f} {scores[2]:>9.3f}", flush=True)  # fmt: skip
    return 0


def _vectors(path: Path) -> np.ndarray:
    index = faiss.read_index(str(path))
    return index.reconstruct_n(0, index.ntotal)


def measure(x: np.ndarray, queries: np.ndarray) -> tuple[int, list[float], tuple[float, ...]]:
    """nlist, retention at depth 100 per FRACTIONS, and (top-1, rank-10, gap 10-100) scores."""
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    exact_scores, exact = flat.search(queries, 100)
    params = CompressedConfig().resolve(x.shape[1], len(x), train_size=len(x))
    half = x.astype(np.float16)
    index = new_index(x.shape[1], str(params["factory"]))
    index.train(half.astype(np.float32))
    index.add(half.astype(np.float32))
    kept = []
    for fraction in FRACTIONS:
        faiss.ParameterSpace().set_index_parameter(
            index, "nprobe", int(params["nlist"]) // fraction
        )
        _, candidates = index.search(queries, 100)
        _, rows = rerank(queries, candidates, half, 10)
        kept.append(
            float(
                np.mean(
                    [len(set(a) & set(b)) / 10 for a, b in zip(rows, exact[:, :10], strict=True)]
                )
            )
        )
    s = exact_scores
    return int(params["nlist"]), kept, (s[:, 0].mean(), s[:, 9].mean(), (s[:, 9] - s[:, 99]).mean())


if __name__ == "__main__":
    sys.exit(main())
