"""Retriever: batching contract, query/k handling, search params, and load-time checks."""

from __future__ import annotations

import dataclasses
import json
import shutil

import faiss
import numpy as np
import pytest

from retriever_index.base import QueryError
from retriever_index.encoder import Encoder, Prefixes
from retriever_index.manifest import IndexLoadError
from retriever_index.retriever import Hit, Retriever


@pytest.fixture(scope="module")
def retriever(tiny_index) -> Retriever:
    return Retriever.load(tiny_index)


@pytest.fixture
def index_copy(tiny_index, tmp_path):
    """A private copy to damage."""
    return shutil.copytree(tiny_index, tmp_path / "idx")


def test_hits_carry_passage_fields_best_first(retriever, tiny_records):
    hits = retriever.search("Which planet is known as the red planet?", 3)
    assert len(hits) == 3 and all(isinstance(h, Hit) for h in hits)
    top = hits[0]
    assert (top.id, top.title, top.text) == ("d0", "Mars", tiny_records[0]["text"])
    assert isinstance(top.score, float)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        top.score = 1.0
    assert len(retriever) == 24 and retriever.manifest.kind == "dense"


def test_search_is_search_batch_of_one(retriever, tiny_queries):
    queries = [q for q, _ in tiny_queries]
    for q, hits in zip(queries, retriever.search_batch(queries, 4), strict=True):
        single = retriever.search(q, 4)
        assert [h.id for h in single] == [h.id for h in hits]
        assert [h.score for h in single] == pytest.approx([h.score for h in hits], abs=1e-5)


def test_a_batch_is_one_encoder_call_and_one_faiss_call(tiny_index, tiny_queries):
    r = Retriever.load(tiny_index)
    calls = {"encode": 0, "faiss": 0}
    real_encode, real_index = r.encoder._forward, r.index

    def encode(*args, **kwargs):
        calls["encode"] += 1
        return real_encode(*args, **kwargs)

    class CountingIndex:
        def search(self, x, k):
            calls["faiss"] += 1
            return real_index.search(x, k)

    r.encoder._forward = encode
    r.index = CountingIndex()
    hits = r.search_batch([q for q, _ in tiny_queries] * 20, 5)
    assert len(hits) == 100 and calls == {"encode": 1, "faiss": 1}


def test_repeated_queries_are_encoded_once(tiny_index, tiny_queries):
    r = Retriever.load(tiny_index)
    queries = [q for q, _ in tiny_queries]
    encoded: list[str] = []
    real_encode = r.encoder._forward

    def encode(sentences, *args, **kwargs):
        encoded.extend(sentences)
        return real_encode(sentences, *args, **kwargs)

    r.encoder._forward = encode
    repeated = [queries[0], queries[1], queries[0], queries[2], queries[1], queries[0]]
    hits = r.search_batch(repeated, 4)
    assert len(encoded) == 3
    for q, got in zip(repeated, hits, strict=True):
        alone = r.search(q, 4)
        assert [h.id for h in got] == [h.id for h in alone]
        assert [h.score for h in got] == pytest.approx([h.score for h in alone], abs=1e-5)
    hits[0].clear()  # each query owns its list: editing one leaves its repeats intact
    assert len(hits[2]) == 4


def test_k_larger_than_corpus_returns_every_passage(retriever):
    hits = retriever.search("anything at all", 1000)
    assert sorted(h.id for h in hits) == sorted(f"d{i}" for i in range(24))


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_bad_k(retriever, k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        retriever.search("x", k)


@pytest.mark.parametrize("query", ["", "   \n\t"])
def test_empty_query_is_rejected_with_its_position(retriever, query):
    with pytest.raises(ValueError, match="query 1 is empty; every query needs some text"):
        retriever.search_batch(["fine", query], 3)


def test_query_types(retriever):
    with pytest.raises(TypeError, match="takes a list of query strings; use search"):
        retriever.search_batch("a string", 3)
    with pytest.raises(TypeError, match="query 0 is NoneType, expected str"):
        retriever.search_batch([None], 3)
    assert retriever.search_batch([], 3) == []


def test_very_long_query_is_truncated_not_rejected(retriever):
    long = "Which planet is known as the red planet? " + "filler words " * 5000
    short = "Which planet is known as the red planet? " + "filler words " * 200
    hits = retriever.search_batch([long, short], 3)
    # both exceed max_seq_length (256 tokens), so the encoder sees the same truncated text
    assert [h.id for h in hits[0]] == [h.id for h in hits[1]]
    assert hits[0][0].score == pytest.approx(hits[1][0].score, abs=1e-5)


def test_search_params_only_where_they_apply(tiny_index):
    with pytest.raises(ValueError, match="efSearch only applies to HNSW indexes; .* IndexFlatIP"):
        Retriever.load(tiny_index, ef_search=32)
    with pytest.raises(ValueError, match="nprobe only applies to IVF indexes"):
        Retriever.load(tiny_index, nprobe=4)


def test_shared_encoder_instance(tiny_index, retriever):
    r = Retriever.load(tiny_index, encoder=retriever.encoder)
    assert r.encoder is retriever.encoder
    other = Encoder(retriever.encoder.path, prefixes=Prefixes("query: ", ""))
    with pytest.raises(IndexLoadError, match="prepends 'query: ' to queries but the index"):
        Retriever.load(tiny_index, encoder=other)


def _edit_manifest(folder, **changes):
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_count_mismatch(index_copy):
    _edit_manifest(index_copy, count=25)
    with pytest.raises(IndexLoadError, match="holds 24 passages .* manifest says 25 .* rebuild"):
        Retriever.load(index_copy)


def test_checksum_mismatch(index_copy):
    _edit_manifest(index_copy, corpus_sha256="0" * 64)
    with pytest.raises(IndexLoadError, match="mixes files from different builds; rebuild"):
        Retriever.load(index_copy)


def test_unencodable_query_is_refused_by_position(retriever):
    """A lone surrogate breaks the tokenizer deep inside the batch; it is refused up front."""
    with pytest.raises(QueryError, match=r"query 1 is not valid Unicode text: character 2 is a"):
        retriever.search_batch(["red planet", "ab\ud800"], 2)


def test_errors_return_isolates_bad_queries(retriever, tiny_queries):
    good = [q for q, _ in tiny_queries[:3]]
    batch = [good[0], "\udfff", good[1], "   ", 7, good[2], good[0]]
    found = retriever.search_batch(batch, 2, errors="return")
    assert isinstance(found[1], QueryError) and "query 1 is not valid Unicode" in str(found[1])
    assert isinstance(found[3], QueryError) and "query 3 is empty" in str(found[3])
    assert isinstance(found[4], TypeError) and "query 4 is int, expected str" in str(found[4])
    alone = retriever.search_batch(good, 2)
    for got, want in zip([found[0], found[2], found[5], found[6]], [*alone, alone[0]], strict=True):
        assert [h.id for h in got] == [h.id for h in want]
    with pytest.raises(ValueError, match="k must be a positive integer"):
        retriever.search_batch(good, 0, errors="return")  # a bad k is the caller's, not a query's
    with pytest.raises(ValueError, match='errors must be "raise" or "return"'):
        retriever.search_batch(good, 2, errors="ignore")


def test_index_vector_count_mismatch(index_copy):
    small = faiss.IndexFlatIP(384)
    small.add(np.eye(3, 384, dtype=np.float32))
    faiss.write_index(small, str(index_copy / "index.faiss"))
    with pytest.raises(IndexLoadError, match=r"index\.faiss is \d+ bytes, the build wrote \d+"):
        Retriever.load(index_copy)  # the manifest's checksums catch it first
    _edit_manifest(index_copy, files=None)  # an index built before checksums: the loader's check
    with (
        pytest.warns(UserWarning, match="records no file checksums"),
        pytest.raises(IndexLoadError, match="holds 3 vectors but the manifest says 24 passages"),
    ):
        Retriever.load(index_copy)


def test_index_dim_mismatch(index_copy):
    _edit_manifest(index_copy, dim=768)
    with pytest.raises(IndexLoadError, match="index.faiss is 384-dim but the manifest says 768"):
        Retriever.load(index_copy)


def test_encoder_dim_mismatch(tiny_index, tmp_path):
    from sentence_transformers import SentenceTransformer, models

    base = Encoder()
    projected = SentenceTransformer(modules=[*base.model, models.Dense(384, 128)], device="cpu")
    projected.save(str(tmp_path / "enc128"))
    with pytest.raises(
        IndexLoadError, match="makes 128-dim embeddings but .* built with 384-dim ones"
    ):
        Retriever.load(tiny_index, encoder=str(tmp_path / "enc128"))


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("index.faiss", r"index\.faiss not found; rebuild the index"),
        ("docs.sqlite", r"docs\.sqlite not found; rebuild the index"),
        ("manifest.json", r"manifest\.json not found: .* is not a built index.*index build"),
    ],
)
def test_missing_files(index_copy, missing, message):
    (index_copy / missing).unlink()
    with pytest.raises(IndexLoadError, match=message):
        Retriever.load(index_copy)


def test_missing_folder(tmp_path):
    with pytest.raises(IndexLoadError, match="index folder not found: .*nope.*--out"):
        Retriever.load(tmp_path / "nope")


def test_interrupted_swap_points_at_the_previous_index(index_copy):
    previous = index_copy.parent / ".idx.previous"
    index_copy.rename(previous)
    with pytest.raises(IndexLoadError, match=r"previous index is intact at .*\.idx\.previous"):
        Retriever.load(index_copy)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            {"kind": "colbert"},
            r"index kind 'colbert' is not supported .*known: \[.*'dense'.*\]\); rebuild",
        ),
        ({"format_version": 99}, "format_version 99, this version of retriever_index reads 1"),
    ],
)
def test_unsupported_manifest(index_copy, edit, message):
    _edit_manifest(index_copy, **edit)
    with pytest.raises(IndexLoadError, match=message):
        Retriever.load(index_copy)


def test_corrupt_manifest(index_copy):
    (index_copy / "manifest.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match="manifest.json: not valid JSON"):
        Retriever.load(index_copy)
    (index_copy / "manifest.json").write_text(json.dumps({"format_version": 1, "kind": "dense"}))
    with pytest.raises(IndexLoadError, match=r"missing fields \['count'"):
        Retriever.load(index_copy)


def test_hits_drop_faiss_missing_rows(retriever):
    scores = np.array([[0.9, 0.5, -3.4e38], [0.7, -3.4e38, -3.4e38]], dtype=np.float32)
    rows = np.array([[3, 0, -1], [3, -1, -1]])
    hits = retriever.hits(scores, rows)
    assert [[h.id for h in q] for q in hits] == [["d3", "d0"], ["d3"]]
    assert hits[0][1].score == pytest.approx(0.5)
