"""`agentic-rag index build|search` end to end on the tiny corpus."""

from __future__ import annotations

import argparse
import json

import pytest

from agentic_rag.cli import main
from retriever_index import cli as index_cli
from retriever_index.manifest import Manifest


def test_build_then_search(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "idx"
    rc = main(
        ["index", "build", "--corpus", str(tiny_corpus), "--out", str(out),
         "--index-type", "HNSW32", "--batch-size", "8", "--shard-size", "10",
         "--prefix-preset", "e5", "--query-prefix", "q: ", "--device", "cpu"]
    )  # fmt: skip
    assert rc == 0
    assert "built HNSW32 index of 24 passages" in capsys.readouterr().out
    m = Manifest.read(out)
    assert (m.factory, m.query_prefix, m.passage_prefix) == ("HNSW32", "q: ", "passage: ")

    assert main(["index", "search", str(out), "Who discovered penicillin?", "-k", "2",
                 "--json", "--ef-search", "40"]) == 0  # fmt: skip
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and set(hits[0]) == {"id", "title", "text", "score"}
    assert hits[0]["title"] == "Penicillin"

    assert main(["index", "search", str(out), "the tallest mountain"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("1. [") and "Mount Everest (id d3)" in text.splitlines()[0]
    assert len([line for line in text.splitlines() if line[:1].isdigit()]) == 5


def test_errors_are_one_line_and_exit_2(tiny_index, tmp_path, jsonl, capsys):
    bad = jsonl("bad.jsonl", ['{"id": "1"}'])
    assert main(["index", "build", "--corpus", str(bad), "--out", str(tmp_path / "i")]) == 2
    assert "bad.jsonl:1: missing text" in capsys.readouterr().err
    assert main(["index", "search", str(tiny_index), "  "]) == 2
    assert "query 0 is empty" in capsys.readouterr().err
    assert main(["index", "search", str(tmp_path / "none"), "q"]) == 2
    assert "index folder not found" in capsys.readouterr().err
    assert main(["index", "search", str(tiny_index), "q", "--nprobe", "3"]) == 2
    assert "nprobe only applies to IVF indexes" in capsys.readouterr().err


def test_build_flags_come_from_the_config_dataclass(capsys):
    parser = argparse.ArgumentParser(prog="x")
    index_cli.register(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["index", "build", "--help"])
    help_text = capsys.readouterr().out
    for flag in ["--corpus", "--out", "--encoder", "--index-type", "--batch-size", "--shard-size",
                 "--resume", "--prefix-preset", "--query-prefix", "--passage-prefix", "--device",
                 "--train-size"]:  # fmt: skip
        assert flag in help_text
    args = parser.parse_args(["index", "build", "--corpus", "c", "--out", "o", "--resume"])
    assert (args.resume, args.index_type, args.batch_size, args.query_prefix) == (
        True, "Flat", 64, None
    )  # fmt: skip
    with pytest.raises(SystemExit):
        parser.parse_args(["index", "build", "--out", "o"])  # --corpus is required
    assert "--corpus" in capsys.readouterr().err


def test_encoder_runtime_flags_build_verify_and_search(tiny_corpus, tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (the encoders extra)")
    out = tmp_path / "idx"
    assert main(["index", "build", "--corpus", str(tiny_corpus), "--out", str(out),
                 "--encoder-backend", "onnx", "--encoder-precision", "int8"]) == 0  # fmt: skip
    assert "-dim, sentence-transformers/all-MiniLM-L6-v2, onnx int8)" in capsys.readouterr().out
    assert (Manifest.read(out).encoder_backend, Manifest.read(out).encoder_precision) == (
        "onnx", "int8"
    )  # fmt: skip
    assert main(["index", "verify", str(out)]) == 0
    assert "encoded with onnx int8 (queries too, by default)" in capsys.readouterr().out

    query = ["index", "search", str(out), "Who discovered penicillin?", "-k", "1", "--json"]
    assert main(query) == 0  # the index's own runtime: no warning
    captured = capsys.readouterr()
    assert captured.err == "" and json.loads(captured.out)[0]["title"] == "Penicillin"
    # another runtime is allowed and warned about in one line; torch alone means torch fp32
    assert main([*query, "--encoder-backend", "torch"]) == 0
    captured = capsys.readouterr()
    warned = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and warned[0].startswith(
        "warning: queries are encoded with torch fp32 but the index's passages with onnx int8"
    )
    assert json.loads(captured.out)[0]["title"] == "Penicillin"


def test_encoder_runtime_choices_are_checked_by_the_parser(capsys):
    parser = argparse.ArgumentParser(prog="x")
    index_cli.register(parser.add_subparsers())
    for action in (["build", "--corpus", "c", "--out", "o"], ["search", "d", "q"], ["serve", "d"]):
        args = parser.parse_args(["index", *action, "--encoder-backend", "openvino",
                                  "--encoder-precision", "int8"])  # fmt: skip
        assert (args.encoder_backend, args.encoder_precision) == ("openvino", "int8")
        with pytest.raises(SystemExit):
            parser.parse_args(["index", *action, "--encoder-backend", "tensorrt"])
        assert "invalid choice: 'tensorrt'" in capsys.readouterr().err
    build = parser.parse_args(["index", "build", "--corpus", "c", "--out", "o"])
    assert (build.encoder_backend, build.encoder_precision) == (None, None)  # BuildConfig's
    assert index_cli._config(index_cli.BuildConfig, build).encoder_backend == (
        index_cli.BuildConfig.encoder_backend
    )
