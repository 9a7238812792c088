"""`train --resume` continues an interrupted index build of the offline world instead of
discarding it; summary.json's `wall_seconds` sums every resumed part; and an index build into a
full filesystem is one error naming the folder, with the old index intact (a real tmpfs when
this runs as root, injected ENOSPC otherwise)."""

from __future__ import annotations

import errno
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import faiss
import pytest

from agentic_rag import wall_clock
from agentic_rag.cli import main
from agentic_rag.offline.world import build_world
from agentic_rag.protocols import ProtocolConfig
from agentic_rag.recipe.sections import OfflineConfig, SyntheticKBConfig, TinyModelConfig
from agentic_rag.wall_clock import CLOCK_FILE, WallClock
from retriever_index import build as build_mod
from retriever_index.manifest import Manifest
from retriever_index.retriever import Retriever
from retriever_index.verify import verify_index

SMALL_WORLD = OfflineConfig(
    kb=SyntheticKBConfig(
        num_countries=4,
        num_cities=8,
        num_companies=8,
        num_people=24,
        num_train_questions=32,
        num_test_questions=8,
    ),
    model=TinyModelConfig(vocab_size=600, hidden_size=64, intermediate_size=128),
)


class _Killed(Exception):
    """Stands in for a kill during encoding (the build keeps its folder, as after SIGKILL)."""


def _killed(self, texts):
    raise _Killed


def test_train_resume_continues_an_interrupted_index_build(tmp_path, monkeypatch, capsys):
    with monkeypatch.context() as m:
        m.setattr(build_mod.Encoder, "encode_passages", _killed)
        with pytest.raises(_Killed):
            build_world(SMALL_WORLD, ProtocolConfig(), tmp_path, seed=0)
    work = tmp_path / ".index.building"
    assert (work / build_mod.STATE_FILE).is_file()  # the corpus pass finished
    assert "re-run with --resume" in capsys.readouterr().err

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the resumed build read the corpus again")

    monkeypatch.setattr(build_mod, "ingest", no_second_pass)
    world = build_world(SMALL_WORLD, ProtocolConfig(), tmp_path, seed=0, resume=True)
    assert f"resuming build in {work}" in capsys.readouterr().err
    assert Manifest.read(world["index"]).count > 0 and not work.exists()
    assert Retriever.load(world["index"]).search("a person", 1)


def test_without_resume_the_discarded_build_says_how_to_keep_it(tmp_path, monkeypatch, capsys):
    with monkeypatch.context() as m:
        m.setattr(build_mod.Encoder, "encode_passages", _killed)
        with pytest.raises(_Killed):
            build_world(SMALL_WORLD, ProtocolConfig(), tmp_path, seed=0)
    capsys.readouterr()
    build_world(SMALL_WORLD, ProtocolConfig(), tmp_path, seed=0)
    assert "(pass --resume to continue it)" in capsys.readouterr().err


class FakeTime:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_wall_seconds_sum_every_resumed_part(tmp_path, monkeypatch):
    clock_time = FakeTime(100.0)
    monkeypatch.setattr(wall_clock.time, "perf_counter", clock_time)
    monkeypatch.setattr(wall_clock, "BEAT_SECONDS", 3600.0)  # beats are driven by hand here

    first = WallClock(tmp_path, resume=False)
    clock_time.now = 130.0
    assert first.stop() == 30.0

    killed = WallClock(tmp_path, resume=True)  # a part killed after its last heartbeat
    clock_time.now += 50.0
    killed._save()
    clock_time.now += 2.0  # lost: no beat after it
    killed._stop.set()

    resumed = WallClock(tmp_path, resume=True)
    clock_time.now += 10.0
    assert resumed.stop() == 90.0  # 30 + 50 + 10
    assert (tmp_path / CLOCK_FILE).read_text() == '{"parts": [30.0, 50.0, 10.0]}'

    fresh = WallClock(tmp_path, resume=False)  # a run without --resume starts again
    clock_time.now += 7.0
    assert fresh.stop() == 7.0


# ------------------------------------------------------------------------- full disks


def _outcome(capsys) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err
    return errors[0]


@pytest.mark.parametrize(
    "where",
    ["docs.sqlite", "shard", "index.faiss"],
)
def test_a_full_disk_is_one_error_and_the_old_index_survives(
    where, tiny_world, tmp_path, monkeypatch, capsys
):
    """Injected the way each library reports it: sqlite's OperationalError, numpy's short write,
    FAISS's RuntimeError."""
    out = tmp_path / "idx"
    shutil.copytree(tiny_world.index, out)
    before = (out / "manifest.json").read_text()
    if where == "docs.sqlite":

        def ingest(*args, **kwargs):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(build_mod, "ingest", ingest)
    elif where == "shard":

        def write(path, embeddings):
            raise OSError("117120 requested and 53248 written")

        monkeypatch.setattr(build_mod, "_write_shard", write)
    else:

        def write_index(index, path):
            raise RuntimeError(
                f"Error in faiss::write_index: write error in {path}: 4 != 8 (No space left on "
                "device)"
            )

        monkeypatch.setattr(faiss, "write_index", write_index)
    argv = ["index", "build", "--corpus", str(tiny_world.corpus), "--out", str(out)]
    assert main(argv) == 2
    line = _outcome(capsys)
    assert line.startswith(f"error: no space left on the device holding {tmp_path} (")
    assert f"the index at {out} is unchanged" in line
    assert ("finished shards are kept" in line) == (where != "docs.sqlite")
    assert (out / "manifest.json").read_text() == before
    assert "is intact" in verify_index(out)


def test_enospc_from_the_os_is_a_full_disk_too(tiny_world, tmp_path, monkeypatch, capsys):
    def write(path, embeddings):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(build_mod, "_write_shard", write)
    assert (
        main(["index", "build", "--corpus", str(tiny_world.corpus), "--out", str(tmp_path / "i")])
        == 2
    )
    assert "no space left on the device holding" in _outcome(capsys)


def test_a_real_full_filesystem(tiny_world, tmp_path):
    """A 512 KiB tmpfs holding one index: rebuilding it there runs out of space."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root (CAP_SYS_ADMIN): {made.stderr.decode().strip()}")
    try:
        out = mount / "idx"
        shutil.copytree(tiny_world.index, out)
        before = (out / "manifest.json").read_text()
        filler = mount / "filler"
        free = shutil.disk_usage(mount).free
        filler.write_bytes(b"\0" * max(free - 96 * 1024, 0))  # room for less than a rebuild
        proc = subprocess.run(
            [sys.executable, "-m", "agentic_rag.cli", "index", "build"]
            + ["--corpus", str(tiny_world.corpus), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert proc.returncode == 2, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert errors[0].startswith(f"error: no space left on the device holding {mount} (")
        assert (out / "manifest.json").read_text() == before
        assert "is intact" in verify_index(out)  # every byte against its build checksum
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_stage_checkpoint_cut_short_by_a_kill_is_built_again(tiny_world, tmp_path, capsys):
    """A kill while saving leaves config.json beside weights cut short: a re-run must not reuse
    that warm start (it failed in safetensors when GRPO loaded it)."""
    from agentic_rag.models.checkpoint import is_complete

    stage = tmp_path / "sft"
    shutil.copytree(tiny_world.model, stage)
    assert is_complete(stage)
    weights = stage / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert not is_complete(stage)
    assert "model.safetensors is damaged" in capsys.readouterr().out
    assert not is_complete(tmp_path / "never-built")
