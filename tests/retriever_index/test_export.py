"""ONNX Runtime and OpenVINO encoders: the torch model's embeddings in fp32, close ones in int8,
exported once offline into the model cache, recorded in the manifest and used again for queries,
and one clear line when a runtime is missing."""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
import warnings

import numpy as np
import pytest

from retriever_index import export
from retriever_index.atomic import build_once
from retriever_index.build import BuildConfig, BuildError, build_index
from retriever_index.encoder import Encoder, Prefixes
from retriever_index.export import RuntimeMissingError
from retriever_index.manifest import Manifest
from retriever_index.retriever import Retriever
from retriever_index.verify import verify_index

RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino"}
# a passage past max_seq_length (256 tokens), accents, punctuation and a near-empty text
TEXTS = [
    "Mars is the fourth planet from the Sun, called the Red Planet.",
    " ".join(["The Eiffel Tower is a wrought-iron lattice tower in Paris."] * 40),
    "Ünïcödé — naïve café, São Paulo (1554); 北京",
    "a",
    "Who discovered the first antibiotic?",
]


def _needs(backend: str) -> None:
    pytest.importorskip(RUNTIMES[backend], reason=f"{backend} runtime not installed")


@pytest.fixture(scope="module")
def torch_encoder() -> Encoder:
    return Encoder(prefixes=Prefixes("query: ", ""))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_fp32_export_is_the_torch_model(backend, torch_encoder):
    _needs(backend)
    fast = Encoder(prefixes=torch_encoder.prefixes, backend=backend, precision="fp32")
    assert (fast.dim, fast.max_seq_length, fast.device) == (384, 256, "cpu")
    for side in ("encode_queries", "encode_passages"):
        got, want = getattr(fast, side)(TEXTS), getattr(torch_encoder, side)(TEXTS)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
        assert _cosines(got, want).min() > 0.99999
    # the model's own tokenizer, called as sentence-transformers calls it (prefix included)
    texts = ["query: " + t for t in TEXTS]
    want = torch_encoder.model.preprocess(texts)
    got = fast.runtime._tokenize(texts)
    assert set(got) == {"input_ids", "attention_mask", "token_type_ids"}
    for name, ids in got.items():
        np.testing.assert_array_equal(ids, want[name].numpy())
    assert got["input_ids"].shape[1] == 256  # the long passage was cut where torch cuts it


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_int8_stays_close_to_fp32(backend, torch_encoder):
    _needs(backend)
    fast = Encoder(prefixes=torch_encoder.prefixes, backend=backend, precision="int8")
    cos = _cosines(fast.encode_passages(TEXTS), torch_encoder.encode_passages(TEXTS))
    assert cos.min() > 0.98 and cos.mean() > 0.99, cos
    assert fast.runtime_versions().keys() == {RUNTIMES[backend]}


def test_export_lands_in_the_model_cache_once(torch_encoder, monkeypatch):
    _needs("onnx")
    first = Encoder(backend="onnx", precision="int8")
    folder = first.runtime.folder
    assert folder.parent.parent == export.cache_root() / "encoders"
    assert folder.name == "onnx-int8" and (folder.parent / "onnx-fp32" / "model.onnx").is_file()
    spec = json.loads((folder / "export.json").read_text())
    assert spec["source"] == first.name and spec["revision"] == first.revision
    assert (spec["backend"], spec["precision"], spec["dim"]) == ("onnx", "int8", 384)
    assert spec["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert {"torch", "onnx", "onnxruntime"} <= set(spec["versions"])
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".") and "tmp" in p.name]

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cache holds the export")

    for name in ("_export_onnx", "_quantize_onnx", "_to_openvino"):
        monkeypatch.setattr(export, name, no_export)
    again = Encoder(backend="onnx", precision="int8")
    assert again.runtime.folder == folder
    np.testing.assert_array_equal(again.encode_queries(TEXTS), first.encode_queries(TEXTS))


def _slow_writer(log: str, out):
    with open(log, "a") as f:
        f.write("built\n")
    time.sleep(0.5)
    (out / "done").write_text("ok")


def _build(target: str, log: str) -> None:
    from functools import partial
    from pathlib import Path

    build_once(Path(target), partial(_slow_writer, log))


def test_build_once_builds_once_across_processes(tmp_path):
    target, log = tmp_path / "cache" / "model", tmp_path / "log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_build, args=(str(target), str(log))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert log.read_text() == "built\n"
    assert (target / "done").read_text() == "ok"
    leftovers = [p.name for p in target.parent.iterdir() if p.name != "model"]
    assert leftovers == [".model.lock"]


def test_a_failed_export_leaves_nothing(tmp_path):
    def broken(out):
        (out / "half").write_text("x")
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError, match="exporter crashed"):
        build_once(tmp_path / "model", broken)
    assert [p.name for p in tmp_path.iterdir()] == [".model.lock"]


@pytest.mark.parametrize(("backend", "module"), [("onnx", "onnxruntime"), ("openvino", "openvino")])
def test_a_missing_runtime_is_one_line_naming_the_fix(backend, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(RuntimeMissingError) as info:
        Encoder(backend=backend)
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        f"--encoder-backend {backend} needs {module}, which is not installed: pip install "
        "'agentic-rag[encoders]' (make install does), or pass --encoder-backend torch"
    )


def test_the_cli_says_so_in_one_line_and_never_falls_back(tiny_corpus, tmp_path, monkeypatch,
                                                          capsys):  # fmt: skip
    from agentic_rag.cli import main

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    out = tmp_path / "idx"
    args = ["index", "build", "--corpus", str(tiny_corpus), "--out", str(out)]
    assert main([*args, "--encoder-backend", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "error: --encoder-backend onnx needs onnxruntime"
    )
    assert not out.exists() and not list(tmp_path.glob(".idx*"))
    assert main([*args, "--encoder-backend", "torch"]) == 0  # the fallback, when asked
    assert Manifest.read(out).encoder_backend == "torch"


def test_choices_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="int8 needs --encoder-backend onnx or openvino"):
        Encoder(precision="int8")
    with pytest.raises(ValueError, match="--device cuda applies to --encoder-backend torch"):
        Encoder(backend="onnx", device="cuda")
    with pytest.raises(ValueError, match="unknown encoder backend 'tensorrt'"):
        Encoder(backend="tensorrt")


def test_the_index_remembers_its_encoder_runtime(tiny_corpus, tiny_queries, tmp_path, capsys):
    _needs("onnx")
    out = tmp_path / "idx"
    config = BuildConfig(
        corpus=str(tiny_corpus), out=str(out), encoder_backend="onnx", encoder_precision="int8"
    )
    manifest = build_index(config)
    assert (manifest.encoder_backend, manifest.encoder_precision) == ("onnx", "int8")
    assert "onnxruntime" in manifest.versions
    assert Manifest.read(out) == manifest

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the index's own runtime: no warning
        r = Retriever.load(out)
    assert (r.encoder.backend, r.encoder.precision) == ("onnx", "int8")
    hits = r.search_batch([q for q, _ in tiny_queries], 1)
    assert [h[0].title for h in hits] == [title for _, title in tiny_queries]

    with pytest.warns(UserWarning, match="queries are encoded with torch fp32 but the index's "
                      "passages with onnx int8"):  # fmt: skip
        other = Retriever.load(out, encoder_backend="torch", encoder_precision="fp32")
    assert other.encoder.backend == "torch" and other.index_id != r.index_id
    assert "encoded with onnx int8 (queries too, by default)" in verify_index(out)


def test_resume_refuses_another_runtime(tiny_corpus, tmp_path, monkeypatch):
    _needs("onnx")
    out = tmp_path / "idx"
    from retriever_index import build as build_mod

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_mod.FactoryWriter, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        build_index(BuildConfig(corpus=str(tiny_corpus), out=str(out), shard_size=10))
    monkeypatch.undo()
    resumed = BuildConfig(
        corpus=str(tiny_corpus), out=str(out), shard_size=10, resume=True, encoder_backend="onnx"
    )
    with pytest.raises(BuildError, match="encoder_backend changed since it started"):
        build_index(resumed)


def test_a_local_model_folder_exports_offline_into_the_cache(torch_encoder, tmp_path, monkeypatch):
    """Any local sentence-transformers folder (e5-base for the GPU recipes), not only the bundled
    MiniLM: keyed by its files, exported with the network blocked, into $AGENTIC_RAG_CACHE."""
    import shutil
    import socket

    _needs("onnx")
    model = tmp_path / "my-encoder"
    shutil.copytree(torch_encoder.path, model)
    monkeypatch.setenv(export.CACHE_ENV, str(tmp_path / "cache"))

    def no_network(*args, **kwargs):
        raise AssertionError("exporting a local encoder opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    fast = Encoder(str(model), prefixes=torch_encoder.prefixes, backend="onnx")
    folder = fast.runtime.folder
    assert folder.parent.parent == tmp_path / "cache" / "encoders"
    assert folder.parent.name.startswith("my-encoder-") and folder.name == "onnx-fp32"
    assert export.read_spec(folder)["source"] == str(model)
    cos = _cosines(fast.encode_queries(TEXTS), torch_encoder.encode_queries(TEXTS))
    assert cos.min() > 0.99999
