"""BM25 index: scores equal a from-scratch Lucene BM25, manifest/atomic-build rules hold."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import pytest

from retriever_index.bm25 import BM25Config, BM25Retriever, build_bm25
from retriever_index.corpus import CorpusError
from retriever_index.manifest import IndexLoadError, Manifest
from retriever_index.retriever import Retriever

DOCS = [
    {"id": "a", "title": "Cat", "text": "The cat sat on the mat."},
    {"id": "b", "title": "Dogs", "text": "Dogs and cats are pets; a dog barks."},
    {"id": "c", "title": "Paris", "text": "Paris is the capital of France."},
    {"id": "d", "title": "Cat toys", "text": "A cat chases a toy mouse, and the cat naps."},
    {"id": "e", "title": "Rome", "text": "Rome is the capital of Italy, a city of the arts."},
]


def _write(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def reference_bm25(docs: list[dict], query: str, k1: float = 1.5, b: float = 0.75) -> dict:
    """Lucene BM25 written out: idf = ln(1 + (N - df + .5)/(df + .5)),
    tf part = tf / (tf + k1 (1 - b + b dl/avgdl)); query terms summed with repetition."""
    from bm25s.stopwords import STOPWORDS_EN

    def tokens(s: str) -> list[str]:
        return [t for t in re.findall(r"(?u)\b\w\w+\b", s.lower()) if t not in STOPWORDS_EN]

    toks = [tokens(f"{d['title']} {d['text']}") for d in docs]
    n, avgdl = len(docs), sum(map(len, toks)) / len(docs)
    df = Counter(t for ts in toks for t in set(ts))
    scores = {}
    for d, ts in zip(docs, toks, strict=True):
        tf = Counter(ts)
        s = 0.0
        for t in tokens(query):
            if tf[t]:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * tf[t] / (tf[t] + k1 * (1 - b + b * len(ts) / avgdl))
        if s > 0:
            scores[d["id"]] = s
    return scores


@pytest.fixture(scope="module")
def tiny_bm25(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_bm25")
    build_bm25(_write(root / "c.jsonl", DOCS), root / "index")
    return root / "index"


@pytest.mark.parametrize(
    "query", ["cat", "capital city", "the cat and the dog", "cat cat mouse", "zebra", "Paris!"]
)
def test_scores_match_reference(tiny_bm25, query):
    retriever = Retriever.load(tiny_bm25)
    assert isinstance(retriever, BM25Retriever)
    hits = retriever.search(query, 10)
    want = reference_bm25(DOCS, query)
    assert {h.id: h.score for h in hits} == pytest.approx(want, rel=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_batch_equals_singles_and_hits_carry_passages(tiny_bm25):
    retriever = Retriever.load(tiny_bm25)
    qs = ["cat", "capital of italy", "zebra"]
    batch = retriever.search_batch(qs, 2)
    assert batch == [retriever.search(q, 2) for q in qs]
    assert batch[1][0].id == "e" and batch[1][0].title == "Rome"
    assert batch[1][0].text == DOCS[4]["text"]
    assert batch[2] == []  # no shared term: nothing rather than arbitrary passages


def test_k1_b_are_used(tmp_path):
    build_bm25(_write(tmp_path / "c.jsonl", DOCS), tmp_path / "i", BM25Config(k1=0.9, b=0.4))
    hits = Retriever.load(tmp_path / "i").search("cat mouse", 5)
    want = reference_bm25(DOCS, "cat mouse", k1=0.9, b=0.4)
    assert {h.id: h.score for h in hits} == pytest.approx(want, rel=1e-5)


def test_manifest(tiny_bm25):
    m = Manifest.read(tiny_bm25)
    assert (m.kind, m.count, m.metric) == ("bm25", len(DOCS), "bm25")
    assert m.factory == "bm25 lucene k1=1.5 b=0.75"
    assert "bm25s" in m.versions


def test_failed_build_keeps_previous_index(tmp_path):
    out = tmp_path / "index"
    build_bm25(_write(tmp_path / "good.jsonl", DOCS), out)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(DOCS[0]) + "\n{not json\n")
    with pytest.raises(CorpusError, match=r"bad.jsonl:2: not valid JSON"):
        build_bm25(bad, out)
    assert Retriever.load(out).search("paris", 1)[0].id == "c"


def test_missing_bm25_files_is_a_clear_load_error(tmp_path):
    out = tmp_path / "index"
    build_bm25(_write(tmp_path / "c.jsonl", DOCS), out)
    (out / "bm25" / "params.index.json").unlink()
    with pytest.raises(IndexLoadError, match=r"bm25 is missing or incomplete; rebuild"):
        Retriever.load(out)


def test_dense_only_options_are_refused(tiny_bm25):
    assert Retriever.load(tiny_bm25, device="cpu").search("cat", 1)
    with pytest.raises(ValueError, match="BM25 index: ef_search only apply to dense"):
        Retriever.load(tiny_bm25, ef_search=64)
