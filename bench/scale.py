"""Retrieval at scale: a 1M-passage compressed index, built, measured and served three ways.

One run, one machine, the same generated data (bench/_clustered.py says how it is made; MiniLM
would need hours to encode 1M passages on a CPU):
  build     `index build --kind compressed --embeddings FLAT_FILE` in a subprocess: wall time
            and peak RSS, against the float32 matrix it never holds
  size      bytes per passage in RAM (anonymous memory of a fresh process after load + search)
            and on disk, next to Flat's 4 x dim
  recall    recall@10 retention against exact Flat search on generated queries, over nprobe
            and re-ranking depth (depth 10 = PQ alone, no re-ranking), with batched vector q/s
  serving   text queries (HotpotQA questions, encoded by MiniLM; k=10) at 1/8/32/64 concurrent
            clients against `index serve`, `index serve --ray` with 1 and 2 replicas per shard,
            and the in-process limit (one search_batch over the same queries); caches off
Targets (issue 18): <= 100 bytes/passage in RAM at >= 0.95 retention; a server >= 0.8x the
in-process limit at 32 clients; no errors at 64.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import faiss
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _clustered import Clustered  # noqa: E402

from retriever_index.client import RemoteRetriever  # noqa: E402
from retriever_index.retriever import Retriever  # noqa: E402
from retriever_index.shard import open_shard  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa" / "hotpotqa"
CLIENTS = (1, 8, 32, 64)

# Peaks are VmHWM (this process's own high-water mark): ru_maxrss would include the parent's
# memory at fork, which Linux carries across exec.
_HWM = """
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
"""

_BASELINE = (
    _HWM
    + """
import json
from retriever_index.encoder import Encoder
Encoder()
print(json.dumps({"rss": hwm()}))
"""
)

_BUILD = (
    _HWM
    + """
import json, sys, time
from retriever_index.build import BuildConfig
from retriever_index.compressed import CompressedConfig, build_compressed
corpus, out, emb, train = sys.argv[1:5]
started = time.perf_counter()
build_compressed(BuildConfig(corpus=corpus, out=out, embeddings=emb, train_size=int(train)),
                 CompressedConfig(**json.loads(sys.argv[5])))
print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss": hwm()}))
"""
)

_MEMORY = """
import json, sqlite3, sys
import faiss, numpy as np
from retriever_index.shard import open_shard
def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
before = anon()
r = open_shard(sys.argv[1])
r.search_vectors(np.random.default_rng(0).standard_normal((256, r.manifest.dim), "float32"), 10)
print(json.dumps({"anon": anon() - before}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="passages")
    ap.add_argument("--dim", type=int, default=384, help="dimension (MiniLM's, so text serves)")
    ap.add_argument("--queries", type=int, default=1000, help="generated queries for recall")
    ap.add_argument("--train-size", type=int, default=100_000)
    ap.add_argument("--pq-m", type=int, default=0, help="0: the build's default (dim/4)")
    ap.add_argument("--shards", type=int, default=2, help="shards of the Ray service")
    ap.add_argument("--requests", type=int, default=256, help="requests per concurrency level")
    ap.add_argument("--torch-threads", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--questions", type=Path, default=SHARED / "dev.jsonl")
    ap.add_argument("--skip-serving", action="store_true")
    ap.add_argument("--keep", type=Path, help="keep the index in this folder")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        return _run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace, tmp: Path) -> int:
    print(f"{args.n} generated passages x {args.dim} dims; {os.cpu_count()} CPUs; commit "
          f"{_commit()}; torch threads {args.torch_threads}")  # fmt: skip
    gen = Clustered(args.n, args.dim, args.queries)
    flat_file = tmp / "flat.faiss"
    flat = faiss.IndexFlatIP(args.dim)
    for chunk in gen.chunks():
        flat.add(chunk)
    faiss.write_index(flat, str(flat_file))
    del flat
    query_vectors = gen.queries()
    corpus = tmp / "corpus.jsonl"
    with corpus.open("w") as f:
        f.writelines(
            json.dumps({"id": f"p{i}", "title": f"Passage {i}", "text": f"Generated passage {i}."})
            + "\n"
            for i in range(args.n)
        )

    print("\n== build: compressed, from the Flat file (--embeddings), in a subprocess ==")
    out = args.keep or tmp / "compressed"
    settings = {"pq_m": args.pq_m}
    build = json.loads(
        _python(_BUILD, corpus, out, flat_file, args.train_size, json.dumps(settings))
    )
    manifest = json.loads((out / "manifest.json").read_text())
    baseline = json.loads(_python(_BASELINE))["rss"]
    matrix, ram_index = args.n * args.dim * 4, (out / "index.faiss").stat().st_size
    print(f"{manifest['factory']}, nprobe {manifest['params']['nprobe']}, re-rank depth "
          f"{manifest['params']['rerank_depth']}: {build['seconds']:.0f} s "
          f"({args.n / build['seconds']:.0f} passages/s, including corpus ingest and encoder "
          f"load)")  # fmt: skip
    mib = {k: v / 2**20 for k, v in [("peak", build["peak_rss"]), ("base", baseline),
           ("matrix", matrix), ("index", ram_index)]}  # fmt: skip
    print(f"peak RSS {mib['peak']:.0f} MiB = {mib['base']:.0f} MiB for Python, torch and the "
          f"encoder + {mib['peak'] - mib['base']:.0f} MiB for the build; the float32 matrix is "
          f"{mib['matrix']:.0f} MiB, the compressed index {mib['index']:.0f} MiB")  # fmt: skip

    print("\n== size, bytes per passage ==")
    anon = json.loads(_python(_MEMORY, out))["anon"]
    disk = sum((out / f).stat().st_size for f in ("index.faiss", "vectors.npy"))
    docs = (out / "docs.sqlite").stat().st_size
    print(f"RAM (anonymous, after load + search) {anon / args.n:7.1f}   target <= 100")
    print(f"disk: index.faiss + vectors.npy      {disk / args.n:7.1f}   (+ docs.sqlite "
          f"{docs / args.n:.1f})")  # fmt: skip
    print(f"Flat (float32 in RAM)                {4 * args.dim:7.1f}")

    print("\n== recall@10 retention vs exact Flat, generated queries ==")
    _recall_table(out, flat_file, query_vectors, manifest["params"])

    if args.skip_serving:
        return 0
    print("\n== serving text queries (k=10, caches off): q/s, p50/p99 ms, errors ==")
    _serving(args, out)
    return 0


def _recall_table(out: Path, flat_file: Path, queries: np.ndarray, params: dict) -> None:
    """Every q/s here is search_vectors: IVF-PQ, re-ranking, and reading the hits' passages."""
    flat = faiss.read_index(str(flat_file), faiss.IO_FLAG_MMAP_IFC)
    flat.search(queries[:10], 10)  # page the vectors in
    t = time.perf_counter()
    _, exact = flat.search(queries, 10)
    flat_qps = len(queries) / (time.perf_counter() - t)
    exact_ids = [{f"p{row}" for row in rows} for rows in exact]
    print(f"{'nprobe':>7} {'depth':>6} {'retention':>10} {'q/s batched':>12}")
    print(f"{'Flat (FAISS only)':>14} {1.0:>10.3f} {flat_qps:>12.0f}")
    r = open_shard(out)
    default = params["nprobe"]
    nlist = params["nlist"]
    for nprobe in sorted({min(nlist, default * f) for f in (0.5, 1, 2, 4, 8)}):
        nprobe = max(1, int(nprobe))
        faiss.ParameterSpace().set_index_parameter(r.index, "nprobe", nprobe)
        for depth in (10, 100, 200, 400):
            r.rerank_depth = depth
            t = time.perf_counter()
            hits = r.search_vectors(queries, 10)
            qps = len(queries) / (time.perf_counter() - t)
            kept = np.mean([len({h.id for h in row} & want) / 10
                            for row, want in zip(hits, exact_ids, strict=True)])  # fmt: skip
            tag = " (PQ only)" if depth == 10 else " (default)" if (nprobe, depth) == (
                default, params["rerank_depth"]) else ""  # fmt: skip
            print(f"{nprobe:>7} {depth:>6} {kept:>10.3f} {qps:>12.0f}{tag}")


def _serving(args: argparse.Namespace, index: Path) -> None:
    import torch

    torch.set_num_threads(args.torch_threads)
    texts = _texts(args.questions, args.requests * len(CLIENTS))
    local = Retriever.load(index, cache_size=0)
    local.search_batch(texts[:16], 10)  # warm up
    t = time.perf_counter()
    local.search_batch(texts[: args.requests * 2], 10)
    limit = args.requests * 2 / (time.perf_counter() - t)
    print(f"in-process limit (one search_batch of {args.requests * 2}): {limit:.1f} q/s")
    common = ["--cache-size", "0", "--torch-threads", str(args.torch_threads)]
    setups = [("index serve", common)] + [
        (
            f"--ray {args.shards} shards x {r} replica",
            common + ["--ray", "--shards", str(args.shards), "--replicas", str(r)],
        )  # fmt: skip
        for r in (1, 2)
    ]
    print(f"{'server':32s} {'clients':>7} {'q/s':>8} {'p50':>8} {'p99':>8} {'errors':>6} "
          f"{'vs limit':>8}")  # fmt: skip
    for name, flags in setups:
        with _server(index, flags) as url:
            RemoteRetriever(url, timeout=300).search_batch(texts[:8], 10)  # warm up
            for i, clients in enumerate(CLIENTS):
                batch = texts[i * args.requests : (i + 1) * args.requests]
                r = _load(url, batch, clients)
                print(f"{name:32s} {clients:>7} {r['qps']:>8.1f} {r['p50']:>8.1f} "
                      f"{r['p99']:>8.1f} {r['errors']:>6} {r['qps'] / limit:>7.2f}x",
                      flush=True)  # fmt: skip


def _load(url: str, queries: list[str], clients: int) -> dict:
    """`clients` threads, one query per request, until `queries` are all answered."""
    lat: list[float] = []
    errors = [0]
    nxt = iter(queries)
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def worker() -> None:
        remote = RemoteRetriever(url, timeout=300, retries=3)
        remote.health()  # open the connection before the clock starts
        barrier.wait()
        while True:
            with lock:
                q = next(nxt, None)
            if q is None:
                return
            s = time.perf_counter()
            try:
                remote.search(q, 10)
                lat.append(time.perf_counter() - s)
            except Exception:
                errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "qps": len(lat) / wall,
        "p50": statistics.median(lat) * 1e3 if lat else float("nan"),
        "p99": float(np.percentile(lat, 99)) * 1e3 if lat else float("nan"),
        "errors": errors[0],
    }


@contextmanager
def _server(index: Path, flags: list[str]):
    import signal
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "agentic_rag.cli", "index", "serve", str(index),
           "--port", str(port), "--log-level", "warning", *flags]  # fmt: skip
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (outlives this block: the server's log)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server did not start: {cmd}\n{log.read()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)


def _texts(path: Path, n: int) -> list[str]:
    """Distinct question texts: HotpotQA's when present, numbered variants past its end."""
    base = []
    if path.is_file():
        with path.open() as f:
            base = [json.loads(line)["question"] for line in f]
    base = base or [f"which passage describes generated topic {i}?" for i in range(1000)]
    return [base[i % len(base)] + ("" if i < len(base) else f" ({i})") for i in range(n)]


def _python(code: str, *args: object) -> str:
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return done.stdout.strip().splitlines()[-1]


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent).stdout.strip()  # fmt: skip
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
