"""`index shard`: each shard is a complete index; merged top-k equals the unsharded top-k."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from agentic_rag.cli import main
from retriever_index.build import BuildConfig, build_index
from retriever_index.compressed import CompressedConfig, build_compressed
from retriever_index.manifest import Manifest
from retriever_index.retriever import Retriever
from retriever_index.shard import ShardError, ensure_shards, merge_hits, open_shard, shard_index


@pytest.fixture
def flat(tiny_index, tmp_path):
    """A private copy of the tiny Flat index: sharding writes DIR/shards-N into it."""
    return shutil.copytree(tiny_index, tmp_path / "flat")


def _queries(tiny_queries, tiny_records) -> list[str]:
    return [q for q, _ in tiny_queries] + [r["text"][:40] for r in tiny_records]


def _same(got, want, tol=1e-5) -> bool:
    """Equal ids and scores; neighbours with tied scores may swap."""
    for g, w in zip(got, want, strict=True):
        assert abs(g.score - w.score) <= tol
        if g.id != w.id and not any(abs(x.score - w.score) <= tol for x in want if x is not w):
            return False
    return len(got) == len(want)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_sharded_flat_returns_the_unsharded_top_k(flat, n, tiny_queries, tiny_records):
    whole = Retriever.load(flat)
    vectors = whole.encoder.encode_queries(_queries(tiny_queries, tiny_records))
    dirs = shard_index(flat, n)
    assert dirs == [flat / f"shards-{n}" / f"shard-{i}" for i in range(n)]
    for k in (1, 10, 24):
        merged = merge_hits([open_shard(d).search_vectors(vectors, k) for d in dirs], k)
        want = whole.search_vectors(vectors, k)
        assert all(_same(g, w) for g, w in zip(merged, want, strict=True))


def test_each_shard_is_a_complete_index(flat, tiny_records):
    dirs = shard_index(flat, 3)
    parent = Manifest.read(flat)
    for i, d in enumerate(dirs):
        m = Manifest.read(d)
        rows = [8 * i, 8 * i + 8]
        assert (m.kind, m.count, m.corpus_sha256) == ("dense", 8, parent.corpus_sha256)
        assert m.params["shard"]["rows"] == rows and m.params["shard"]["of"] == 3
        assert m.params["shard"]["parent"]["built_at"] == parent.built_at
        own = {r["id"] for r in tiny_records[rows[0] : rows[1]]}
        hits = Retriever.load(d).search("anything at all", 8)
        assert {h.id for h in hits} == own


def test_compressed_shards_merge_to_the_same_hits(
    tiny_corpus, tmp_path, tiny_queries, tiny_records
):
    """nlist 1 and rerank depth >= rows: every row is re-ranked exactly in both layouts."""
    out = tmp_path / "c"
    build_compressed(
        BuildConfig(corpus=str(tiny_corpus), out=str(out)),
        CompressedConfig(pq_m=8, rerank_depth=24),
    )
    whole = Retriever.load(out)
    vectors = whole.encoder.encode_queries(_queries(tiny_queries, tiny_records))
    dirs = shard_index(out, 2)
    assert Manifest.read(dirs[1]).kind == "compressed"
    assert np.load(dirs[1] / "vectors.npy").shape == (12, 384)
    merged = merge_hits([open_shard(d).search_vectors(vectors, 5) for d in dirs], 5)
    want = whole.search_vectors(vectors, 5)
    assert all(_same(g, w, tol=1e-4) for g, w in zip(merged, want, strict=True))


def test_ensure_shards_reuses_a_split_of_this_build_only(flat, tiny_corpus):
    assert ensure_shards(flat, 1) == [flat]
    first = ensure_shards(flat, 2)
    stamp = (first[0] / "index.faiss").stat().st_mtime_ns
    assert ensure_shards(flat, 2) == first
    assert (first[0] / "index.faiss").stat().st_mtime_ns == stamp  # reused, not rewritten
    manifest = Manifest.read(first[1])
    manifest.params["shard"]["parent"]["built_at"] = "an older build"
    manifest.write(first[1])
    ensure_shards(flat, 2)  # a shard of another build: split again
    assert (
        Manifest.read(first[1]).params["shard"]["parent"]["built_at"]
        == Manifest.read(flat).built_at
    )
    build_index(BuildConfig(corpus=str(tiny_corpus), out=str(flat)))  # a rebuild drops old shards
    assert not (flat / "shards-2").exists()


def test_refuses_what_cannot_be_split(tiny_corpus, flat, tmp_path):
    hnsw = tmp_path / "hnsw"
    build_index(BuildConfig(corpus=str(tiny_corpus), out=str(hnsw), index_type="HNSW32"))
    with pytest.raises(ShardError, match="shard a Flat index or a compressed one"):
        shard_index(hnsw, 2)
    with pytest.raises(ShardError, match=r"--shards must be 1\.\.24"):
        shard_index(flat, 25)


def test_cli_shard_writes_what_serve_ray_serves(flat, tmp_path, capsys):
    assert main(["index", "shard", str(flat), "--shards", "2"]) == 0
    assert f"split {flat} into 2 shards -> {flat / 'shards-2'}" in capsys.readouterr().out
    # `index serve DIR --ray --shards 2` takes its shards from ensure_shards: these, unwritten
    stamps = [(flat / "shards-2" / f"shard-{i}" / "index.faiss").stat().st_mtime_ns for i in (0, 1)]
    served = ensure_shards(flat, 2)
    assert served == [flat / "shards-2" / "shard-0", flat / "shards-2" / "shard-1"]
    assert [(d / "index.faiss").stat().st_mtime_ns for d in served] == stamps
    with pytest.raises(SystemExit):  # no --out: shards live where serve looks for them
        main(["index", "shard", str(flat), "--shards", "2", "--out", str(tmp_path / "x")])
    capsys.readouterr()
    assert main(["index", "shard", str(tmp_path / "nope"), "--shards", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: index folder not found") and err.count("\n") == 1
