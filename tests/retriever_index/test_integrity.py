"""Damaged, swapped and old index folders: checksums recorded at build and checked on load,
`index verify`, and the one `error:` line the CLI gives for each."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import warnings
from dataclasses import replace

import faiss
import numpy as np
import pytest

from agentic_rag.cli import main
from retriever_index.base import BuildError, IndexCorruptError, IndexLoadError
from retriever_index.build import BuildConfig, build_index
from retriever_index.checksums import check_files, fingerprint, seal
from retriever_index.encoder import Encoder
from retriever_index.manifest import Manifest
from retriever_index.retriever import Retriever


@pytest.fixture
def index_copy(tiny_index, tmp_path):
    return shutil.copytree(tiny_index, tmp_path / "idx")


def _strip_checksums(folder):
    """What an index built before checksums looks like."""
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    del data["files"]
    path.write_text(json.dumps(data))


def _cli_errors(text: str) -> list[str]:
    """The `error:` lines of a CLI run's stderr (besides them: warnings, progress bars)."""
    assert "Traceback" not in text, text
    return [ln for ln in text.splitlines() if ln.startswith("error")]


def test_the_manifest_records_every_index_file(tiny_index):
    files = Manifest.read(tiny_index).files
    assert sorted(files) == ["docs.sqlite", "index.faiss"]  # no shards, no build state
    for name, recorded in files.items():
        assert recorded == fingerprint(tiny_index / name)
        assert recorded["size"] == (tiny_index / name).stat().st_size
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Retriever.load(tiny_index)
    assert [str(w.message) for w in caught] == []  # a sealed index loads silently


def test_an_index_faiss_swapped_from_another_corpus_is_refused(
    index_copy, tiny_records, jsonl, tmp_path
):
    other = [{**r, "text": r["text"][::-1]} for r in tiny_records]  # same count, same dim
    build_index(BuildConfig(corpus=str(jsonl("other.jsonl", other)), out=str(tmp_path / "o")))
    foreign = tmp_path / "o" / "index.faiss"
    assert foreign.stat().st_size == (index_copy / "index.faiss").stat().st_size
    shutil.copy(foreign, index_copy / "index.faiss")
    with pytest.raises(IndexLoadError, match=r"index\.faiss has other bytes than the build wrote"):
        Retriever.load(index_copy)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble_header(path):
    data = bytearray(path.read_bytes())
    data[:16] = b"\xff" * 16
    path.write_bytes(bytes(data))


def _garble_vectors(path):
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "checksums", "message"),
    [
        (_truncate, True, r"index\.faiss is \d+ bytes, the build wrote \d+"),
        (_garble_header, True, r"index\.faiss has other bytes than the build wrote"),
        (_garble_vectors, True, r"index\.faiss has other bytes than the build wrote"),
        (_truncate, False, r"index\.faiss cannot be read by FAISS .*damaged.*rebuild"),
        (_garble_header, False, r"index\.faiss cannot be read by FAISS .*damaged.*rebuild"),
    ],
    ids=["truncated", "bad-header", "bad-vectors", "truncated-old", "bad-header-old"],
)
def test_a_damaged_index_faiss_is_one_error_line_and_exit_2(
    index_copy, capsys, damage, checksums, message
):
    if not checksums:
        _strip_checksums(index_copy)
    damage(index_copy / "index.faiss")
    assert main(["index", "search", str(index_copy), "red planet"]) == 2
    err = capsys.readouterr().err
    errors = _cli_errors(err)
    assert len(errors) == 1 and errors[0].startswith("error: ") and "index.faiss" in errors[0]
    assert re.search(message, errors[0]), errors[0]
    if not checksums:
        assert "warning: " in err and "index verify" in err  # how to add checksums


@pytest.mark.parametrize("checksums", [True, False], ids=["checked-first", "worker-load"])
def test_serve_on_a_damaged_index_exits_2_with_one_error_line(index_copy, checksums):
    """`index serve` checks the files before starting uvicorn; an old index without checksums
    fails in the worker's load, which must end the same way."""
    if not checksums:
        _strip_checksums(index_copy)
    _truncate(index_copy / "index.faiss")
    run = subprocess.run(
        [sys.executable, "-m", "agentic_rag.cli", "index", "serve", str(index_copy)]
        + ["--port", "0", "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2, run.stderr[-3000:]
    errors = _cli_errors(run.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: ") and "index.faiss" in errors[0]


def _nan_row(folder, row: int) -> None:
    index = faiss.read_index(str(folder / "index.faiss"))
    vectors = index.reconstruct_n(0, index.ntotal)
    vectors[row] = np.nan
    nan_index = faiss.IndexFlatIP(index.d)
    nan_index.add(vectors)
    faiss.write_index(nan_index, str(folder / "index.faiss"))


def test_nan_vectors_are_refused_on_load_and_reported_by_verify(index_copy, capsys):
    _nan_row(index_copy, 5)
    with pytest.raises(IndexLoadError, match="other bytes than the build wrote"):
        Retriever.load(index_copy)
    _strip_checksums(index_copy)  # no checksums to compare: verify's own scan still finds it
    assert main(["index", "verify", str(index_copy)]) == 2
    errors = _cli_errors(capsys.readouterr().err)
    assert len(errors) == 1
    assert "index.faiss holds NaN/inf vectors at 1 rows (first: [5])" in errors[0]


def test_verify_passes_a_good_index_and_write_records_checksums_for_an_old_one(index_copy, capsys):
    recorded = Manifest.read(index_copy).files
    assert main(["index", "verify", str(index_copy)]) == 0
    assert (
        "intact; encoded with torch fp32 (queries too, by default); 2 files match their build "
        "checksums" in capsys.readouterr().out
    )

    _strip_checksums(index_copy)
    with pytest.warns(UserWarning, match=r"records no file checksums.*index verify .* --write"):
        Retriever.load(index_copy)
    assert main(["index", "verify", str(index_copy)]) == 0
    assert "records no checksums: run `agentic-rag index verify" in capsys.readouterr().out
    assert Manifest.read(index_copy).files is None  # nothing written without --write

    assert main(["index", "verify", str(index_copy), "--write"]) == 0
    assert "checksums of 2 files recorded" in capsys.readouterr().out
    assert Manifest.read(index_copy).files == recorded


def test_the_full_hash_catches_what_the_sample_misses(index_copy):
    """Files over 1 MiB are sampled on load (16 blocks); `verify` reads every byte."""
    big = index_copy / "big.bin"
    big.write_bytes(np.random.default_rng(0).bytes(4 << 20))
    manifest = seal(index_copy, Manifest.read(index_copy))
    data = bytearray(big.read_bytes())
    data[(1 << 20) + 100] ^= 0xFF  # between two sampled blocks
    big.write_bytes(bytes(data))
    check_files(index_copy, manifest)  # the fast check cannot see it
    with pytest.raises(IndexLoadError, match=r"big\.bin has other bytes than the build wrote"):
        check_files(index_copy, manifest, full=True)
    (index_copy / "big.bin").unlink()
    with pytest.raises(IndexLoadError, match=r"big\.bin is missing"):
        check_files(index_copy, replace(manifest), full=True)


def test_rows_missing_from_the_store_are_a_clear_error_per_query(index_copy, capsys):
    db = sqlite3.connect(index_copy / "docs.sqlite")
    db.execute("DELETE FROM passages WHERE row = 0")  # Mars
    db.commit()
    db.close()
    with pytest.raises(IndexLoadError, match=r"docs\.sqlite has other bytes"):
        Retriever.load(index_copy)

    _strip_checksums(index_copy)
    with pytest.warns(UserWarning):
        r = Retriever.load(index_copy)
    mars, fleming = "Which planet is known as the red planet?", "Who discovered penicillin?"
    with pytest.raises(IndexCorruptError, match=r"lacks rows \[0\].*index verify"):
        r.search(mars, 1)
    found = r.search_batch([mars, fleming], 1, errors="return")
    assert isinstance(found[0], IndexCorruptError)
    assert [h.title for h in found[1]] == ["Penicillin"]
    assert main(["index", "verify", str(index_copy)]) == 2
    assert (
        "docs.sqlite holds 23 rows spanning 1..23, expected rows 0..23" in capsys.readouterr().err
    )


def test_nan_embeddings_stop_a_build_that_can_then_resume(tiny_corpus, tmp_path, monkeypatch):
    real = Encoder.encode_passages

    def broken(self, texts):
        out = real(self, texts)
        out[0] = np.nan
        return out

    out = tmp_path / "idx"
    config = BuildConfig(corpus=str(tiny_corpus), out=str(out), shard_size=10)
    with monkeypatch.context() as m:
        m.setattr(Encoder, "encode_passages", broken)
        with pytest.raises(BuildError, match=r"returned NaN/inf embeddings for 1 passages"):
            build_index(config)
    assert not out.exists() and (tmp_path / ".idx.building" / "build_state.json").is_file()
    build_index(replace(config, resume=True))
    assert Retriever.load(out).search("red planet", 1)[0].title == "Mars"
