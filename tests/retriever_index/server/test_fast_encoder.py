"""`index serve` of an index built with a fast encoder runtime encodes its queries with that same
runtime: the server's hits are the in-process ones, and /health says which runtime runs."""

from __future__ import annotations

import pytest

from retriever_index.build import BuildConfig, build_index
from retriever_index.client import RemoteRetriever
from retriever_index.retriever import Retriever

pytest.importorskip("onnxruntime", reason="onnxruntime not installed (the encoders extra)")


@pytest.fixture(scope="module")
def onnx_index(tmp_path_factory, corpus_path):
    out = tmp_path_factory.mktemp("onnx") / "index"
    build_index(
        BuildConfig(
            corpus=str(corpus_path), out=str(out), encoder_backend="onnx", encoder_precision="int8"
        )
    )
    return out


def test_serve_encodes_queries_with_the_index_runtime(onnx_index, queries, svc):
    local = Retriever.load(onnx_index, cache_size=0)
    assert (local.encoder.backend, local.encoder.precision) == ("onnx", "int8")
    want = local.search_batch(queries[:16], 5)
    with svc.ServerProcess(onnx_index, None, "--torch-threads", "1") as server:
        health = RemoteRetriever(server.url).health()
        got = RemoteRetriever(server.url).search_batch(queries[:16], 5)
    assert health["query_encoder"] == {"backend": "onnx", "precision": "int8", "device": "cpu"}
    assert health["manifest"]["encoder_backend"] == "onnx"
    for g, w in zip(got, want, strict=True):
        assert svc.same_hits(g, w)


def test_serve_override_is_warned_and_reported(onnx_index, queries, svc):
    with svc.ServerProcess(onnx_index, None, "--encoder-backend", "torch",
                           "--encoder-precision", "fp32") as server:  # fmt: skip
        health = RemoteRetriever(server.url).health()
        hits = RemoteRetriever(server.url).search_batch(queries[:4], 3)
        server.proc.kill()
        server.proc.wait(timeout=30)
        log = server.log_text()
    assert health["query_encoder"]["backend"] == "torch"
    assert all(len(h) == 3 for h in hits)
    assert "queries are encoded with torch fp32 but the index's passages with onnx int8" in log
