"""An index build into a full filesystem is one error naming the folder, the space left, that
the old index is unchanged and which finished shards are kept for --resume (a real tmpfs when
this runs as root; otherwise each library's own way of reporting it, injected)."""

from __future__ import annotations

import errno
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import faiss
import pytest

from agentic_rag.cli import main
from retriever_index import build as build_mod
from retriever_index.verify import verify_index

ROOT = Path(__file__).resolve().parents[2]


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
            cwd=ROOT,
        )
        assert proc.returncode == 2, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert errors[0].startswith(f"error: no space left on the device holding {mount} (")
        assert (out / "manifest.json").read_text() == before
        assert "is intact" in verify_index(out)  # every byte against its build checksum
    finally:
        subprocess.run(["umount", str(mount)], check=False)
