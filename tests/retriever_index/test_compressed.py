"""Compressed index (IVF-PQ + exact float16 re-ranking): recall on real embeddings, memory-mapped
loading measured in a fresh process, builds from existing embeddings, resume and bad settings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from retriever_index import compressed as compressed_mod
from retriever_index.build import BuildConfig, BuildError, build_index
from retriever_index.compressed import CompressedConfig, build_compressed
from retriever_index.encoder import Encoder
from retriever_index.manifest import Manifest
from retriever_index.metrics import recall_at_k
from retriever_index.retriever import Retriever

BIG = 100_000  # passages in the memory-mapping test


def _config(corpus, out, **kw) -> BuildConfig:
    return BuildConfig(corpus=str(corpus), out=str(out), **kw)


def test_rerank_keeps_flat_recall_on_hotpot(hotpot_index, tmp_path):
    """Gold-passage recall@10 on 200 HotpotQA questions (MiniLM, 1,982 passages): compressed
    keeps >= 0.95 of Flat's. IVF/PQ sizes are the automatic ones for this corpus size; the
    vectors come from the Flat index (--embeddings), so nothing is encoded twice."""
    subset = hotpot_index.subset
    out = tmp_path / "compressed"
    manifest = build_compressed(
        _config(subset.corpus, out, embeddings=str(hotpot_index.dir / "index.faiss"))
    )
    assert manifest.kind == "compressed" and manifest.factory == "IVF32,PQ96x4fs"
    assert manifest.params["nlist"] == 32 and manifest.params["pq_m"] == 96

    flat = Retriever.load(hotpot_index.dir)
    small = Retriever.load(out, encoder=flat.encoder)
    questions = [q["question"] for q in subset.questions]
    gold = [set(q["gold_ids"]) for q in subset.questions]
    flat_recall = recall_at_k(flat.search_batch(questions, 10), gold, 10, key="id")
    small_recall = recall_at_k(small.search_batch(questions, 10), gold, 10, key="id")
    print(f"\nrecall@10 Flat {flat_recall:.3f}, compressed {small_recall:.3f}")
    assert small_recall >= 0.95 * flat_recall
    # the part held in RAM is a small fraction of the float32 vectors
    ram = (out / "index.faiss").stat().st_size
    assert ram < (hotpot_index.dir / "index.faiss").stat().st_size / 5


def test_manifest_records_how_to_rebuild(hotpot_index, tmp_path):
    subset = hotpot_index.subset
    out = tmp_path / "c"
    settings = CompressedConfig(nlist=16, pq_m=48, nprobe=4, rerank_depth=40)
    build_compressed(
        _config(subset.corpus, out, embeddings=str(hotpot_index.dir / "index.faiss")), settings
    )
    m = Manifest.read(out)
    assert m.factory == "IVF16,PQ48x4fs"
    assert m.params == {
        "nlist": 16,
        "pq_m": 48,
        "pq_bits": 4,
        "opq": False,
        "nprobe": 4,
        "rerank_depth": 40,
        "train_size": subset.n_passages,
        "train_seed": 0,
        "vectors": {
            "file": "vectors.npy",
            "dtype": "float16",
            "bytes": (out / "vectors.npy").stat().st_size,
        },
    }
    assert sorted(p.name for p in out.iterdir()) == [
        "docs.sqlite",
        "index.faiss",
        "manifest.json",
        "vectors.npy",
    ]
    # the float16 file is the Flat index's vectors, rounded
    flat = faiss.read_index(str(hotpot_index.dir / "index.faiss"))
    want = flat.reconstruct_n(0, flat.ntotal).astype(np.float16)
    np.testing.assert_array_equal(np.load(out / "vectors.npy"), want)


def test_search_is_exact_over_the_candidates(tiny_corpus, tmp_path, tiny_queries):
    """With every row a candidate (rerank_depth >= passages, all lists probed), compressed
    search is Flat search up to float16 rounding of the passage vectors."""
    flat_dir, small_dir = tmp_path / "flat", tmp_path / "small"
    build_index(_config(tiny_corpus, flat_dir))
    build_compressed(
        _config(tiny_corpus, small_dir, embeddings=str(flat_dir / "index.faiss")),
        CompressedConfig(pq_m=8, rerank_depth=24),
    )
    flat = Retriever.load(flat_dir)
    small = Retriever.load(small_dir, encoder=flat.encoder)
    queries = [q for q, _ in tiny_queries]
    for got, want in zip(
        small.search_batch(queries, 10), flat.search_batch(queries, 10), strict=True
    ):
        assert [h.id for h in got] == [h.id for h in want]
        np.testing.assert_allclose([h.score for h in got], [h.score for h in want], atol=2e-3)


def test_build_from_encoder_resumes_and_reuses_training(tiny_corpus, tmp_path, monkeypatch, capsys):
    """The usual build path: a crash after training keeps shards and the trained index; --resume
    encodes nothing and trains nothing, and gives the same index as an uninterrupted build."""
    settings = CompressedConfig(pq_m=8, rerank_depth=10)
    full = tmp_path / "full"
    build_compressed(_config(tiny_corpus, full, shard_size=5), settings)

    real_trained = compressed_mod._trained

    def crash(*args):
        real_trained(*args)
        raise KeyboardInterrupt

    out = tmp_path / "idx"
    with monkeypatch.context() as m:
        m.setattr(compressed_mod, "_trained", crash)
        with pytest.raises(KeyboardInterrupt):
            build_compressed(_config(tiny_corpus, out, shard_size=5), settings)
    work = tmp_path / ".idx.building"
    assert not out.exists() and list(work.glob("trained-*.faiss"))

    calls = []
    monkeypatch.setattr(Encoder, "encode_passages", lambda *a: calls.append("encode"))
    monkeypatch.setattr(compressed_mod, "train_index", lambda *a: calls.append("train"))
    build_compressed(_config(tiny_corpus, out, shard_size=5, resume=True), settings)
    assert calls == [] and "reusing trained IVF1,PQ8x4fs" in capsys.readouterr().err
    assert not work.exists()
    np.testing.assert_array_equal(np.load(out / "vectors.npy"), np.load(full / "vectors.npy"))
    r = Retriever.load(out)
    assert r.search("Which planet is red?", 1)[0].title == "Mars"


def test_failed_compressed_build_keeps_the_previous_index(tiny_index, tiny_corpus, tmp_path):
    out = tmp_path / "idx"
    shutil.copytree(tiny_index, out)
    with pytest.raises(BuildError, match="--pq-m 7 must divide the embedding dimension 384"):
        build_compressed(_config(tiny_corpus, out), CompressedConfig(pq_m=7))
    with pytest.raises(BuildError, match="does not apply to --kind compressed"):
        build_compressed(_config(tiny_corpus, out, index_type="HNSW32"))
    assert Manifest.read(out).kind == "dense"
    assert Retriever.load(out).search("red planet", 1)[0].title == "Mars"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: faiss.IndexHNSWFlat(d, 8), "must be a Flat index"),
        (lambda d: faiss.IndexFlatIP(d + 1), "holds 24 x 385 vectors"),
    ],
    ids=["not flat", "wrong dim"],
)
def test_embeddings_file_is_checked_before_use(tiny_corpus, tmp_path, make, message):
    index = make(384)
    index.add(np.random.default_rng(0).standard_normal((24, index.d)).astype("float32"))
    path = tmp_path / "emb.faiss"
    faiss.write_index(index, str(path))
    with pytest.raises(BuildError, match=message):
        build_index(_config(tiny_corpus, tmp_path / "idx", embeddings=str(path)))
    assert not (tmp_path / "idx").exists()


def test_missing_or_foreign_vectors_file_is_refused(tiny_corpus, tmp_path):
    out = tmp_path / "c"
    build_compressed(_config(tiny_corpus, out), CompressedConfig(pq_m=8))
    np.save(out / "vectors.npy", np.zeros((24, 384), dtype=np.float32))
    with pytest.raises(ValueError, match=r"vectors\.npy is \d+ bytes, the build wrote"):
        Retriever.load(out)  # the build's checksums catch it first
    from retriever_index.compressed import open_vectors

    with pytest.raises(ValueError, match=r"vectors\.npy holds float32 .* manifest says float16"):
        open_vectors(out, Manifest.read(out))
    (out / "vectors.npy").unlink()
    with pytest.raises(ValueError, match=r"vectors\.npy not found"):
        Retriever.load(out)


@pytest.fixture(scope="module")
def big_indexes(tmp_path_factory) -> dict[str, Path]:
    """A 100k-passage Flat and compressed index of random vectors, built through --embeddings."""
    root = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(0)
    flat = faiss.IndexFlatIP(384)
    for _ in range(BIG // 25_000):
        flat.add(rng.standard_normal((25_000, 384)).astype("float32"))
    faiss.write_index(flat, str(root / "emb.faiss"))
    with (root / "c.jsonl").open("w") as f:
        f.writelines(json.dumps({"id": i, "text": f"passage {i}"}) + "\n" for i in range(BIG))
    config = _config(root / "c.jsonl", root / "flat", embeddings=str(root / "emb.faiss"))
    build_index(config)
    config.out, config.train_size = str(root / "compressed"), 20_000
    build_compressed(config)
    return {"flat": root / "flat", "compressed": root / "compressed"}


_MEASURE = """
import json, sqlite3, sys
import faiss, numpy as np
from retriever_index.shard import open_shard

def rss():
    pairs = (line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(v.split()[0]) * 1024 for k, v in pairs if k in ("RssAnon", "RssFile")}

before = rss()
r = open_shard(sys.argv[1])
loaded = rss()
q = np.random.default_rng(1).standard_normal((256, r.manifest.dim)).astype("float32")
r.search_vectors(q, 10)
maps = open("/proc/self/maps").read()
print(json.dumps({"before": before, "loaded": loaded, "searched": rss(),
                  "mapped": [f for f in ("index.faiss", "vectors.npy") if f in maps]}))
"""


@pytest.mark.parametrize("kind", ["flat", "compressed"])
def test_mmap_load_does_not_copy_into_anonymous_memory(big_indexes, kind):
    """In a fresh process: loading and searching a 100k-vector index adds (almost) no anonymous
    memory; the vectors are file-backed pages, shared by every process that maps them."""
    folder = big_indexes[kind]
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(folder)], capture_output=True, text=True, check=True
    )
    m = json.loads(out.stdout.strip().splitlines()[-1])
    grown = m["searched"]["RssAnon"] - m["before"]["RssAnon"]
    big_file = folder / ("vectors.npy" if kind == "compressed" else "index.faiss")
    in_ram = 0 if kind == "flat" else (folder / "index.faiss").stat().st_size  # fast-scan codes
    print(
        f"\n{kind}: anonymous +{grown / 2**20:.1f} MiB, {big_file.name} {big_file.stat().st_size / 2**20:.0f} MiB, mapped {m['mapped']}"
    )
    assert big_file.name in m["mapped"]
    assert m["searched"]["RssFile"] > m["loaded"]["RssFile"]  # searching read mapped pages
    assert grown < in_ram + 24 * 2**20
    assert grown < big_file.stat().st_size / 3


def test_verify_reads_the_float16_vectors(tiny_corpus, tmp_path):
    """`index verify` checks vectors.npy (FAISS cannot reconstruct fast-scan codes; it used to
    crash the process trying)."""
    from retriever_index.verify import verify_index

    out = tmp_path / "c"
    build_compressed(_config(tiny_corpus, out), CompressedConfig(pq_m=8))
    assert verify_index(out).endswith("3 files match their build checksums")
    vectors = np.load(out / "vectors.npy")
    vectors[3, 0] = np.nan
    np.save(out / "vectors.npy", vectors)
    with pytest.raises(ValueError, match=r"vectors\.npy has other bytes than the build wrote"):
        verify_index(out)
