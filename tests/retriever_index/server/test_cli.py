"""`agentic-rag index build --kind bm25|hybrid` and `index serve` argument handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentic_rag.cli import main
from retriever_index.hybrid import HYBRID_FILE
from retriever_index.manifest import Manifest

DOCS = [
    {"id": "a", "title": "Cat", "text": "The cat sat on the mat."},
    {"id": "b", "title": "Paris", "text": "Paris is the capital of France."},
    {"id": "c", "title": "Rome", "text": "Rome is the capital of Italy."},
]


def _corpus(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    return str(path)


def test_build_bm25_then_search(tmp_path, capsys):
    out = str(tmp_path / "bm25")
    argv = ["index", "build", "--kind", "bm25", "--corpus", _corpus(tmp_path), "--out", out]
    assert main([*argv, "--k1", "1.2", "--b", "0.5"]) == 0
    assert "bm25 lucene k1=1.2 b=0.5 index of 3 passages" in capsys.readouterr().out
    assert main(["index", "search", out, "capital of italy", "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == "c"


def test_build_hybrid_records_fusion_settings(tmp_path, capsys):
    out = tmp_path / "hybrid"
    argv = ["index", "build", "--kind", "hybrid", "--corpus", _corpus(tmp_path), "--out", str(out)]
    assert main([*argv, "--rrf-k", "30", "--depth", "7"]) == 0
    assert "Flat + bm25 lucene k1=1.5 b=0.75 index of 3 passages" in capsys.readouterr().out
    assert Manifest.read(out).kind == "hybrid"
    assert json.loads((out / HYBRID_FILE).read_text())["rrf_k"] == 30
    assert main(["index", "search", str(out), "cat on a mat", "-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["id"] == "a"
    assert hits[0]["score"] == pytest.approx(2 / 31)  # first in both lists, recorded rrf_k=30


def test_hybrid_build_refuses_a_missing_reranker_before_encoding(tmp_path, capsys):
    out = tmp_path / "h"
    argv = ["index", "build", "--kind", "hybrid", "--corpus", _corpus(tmp_path), "--out", str(out)]
    assert main([*argv, "--reranker", str(tmp_path / "no-such-model")]) == 2
    assert "is not a local folder" in capsys.readouterr().err
    assert not out.exists()


def test_serve_refuses_a_folder_that_is_not_an_index(tmp_path, capsys):
    assert main(["index", "serve", str(tmp_path / "nope"), "--port", "1"]) == 2
    assert "index folder not found" in capsys.readouterr().err


def test_api_key_on_the_command_line_is_warned_about(tmp_path, capsys):
    nope = str(tmp_path / "nope")
    assert main(["index", "serve", nope, "--port", "1", "--api-key", "s3cret"]) == 2
    err = capsys.readouterr().err
    assert "warning: --api-key shows the key to every user of this machine in `ps`" in err
    assert "$RETRIEVER_API_KEY or pass --api-key-file" in err
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    argv = ["index", "serve", nope, "--api-key", "a", "--api-key-file", str(key_file)]
    assert main(argv) == 2
    assert "give the API key once" in capsys.readouterr().err
    key_file.write_text("\n")
    assert main(["index", "serve", nope, "--api-key-file", str(key_file)]) == 2
    assert "is empty; put the key on line 1" in capsys.readouterr().err


def test_api_key_file_and_env_keep_the_key_out_of_ps(bm25_index, tmp_path, svc, monkeypatch):
    import httpx

    from retriever_index.client import RemoteRetriever

    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n")
    for flags, key, env in [
        (["--api-key-file", str(key_file)], "from-a-file", None),
        ([], "from-the-env", "from-the-env"),
    ]:
        if env:
            monkeypatch.setenv("RETRIEVER_API_KEY", env)  # the server process inherits it
        with svc.ServerProcess(bm25_index, None, *flags) as server:
            cmdline = (Path("/proc") / str(server.proc.pid) / "cmdline").read_bytes()
            assert key.encode() not in cmdline
            assert httpx.get(f"{server.url}/health").status_code == 401
            with RemoteRetriever(server.url, api_key=key) as client:
                assert client.health()["status"] == "ok"
        monkeypatch.delenv("RETRIEVER_API_KEY", raising=False)
