"""Folders appear complete or not at all; concurrent first uses build once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentic_rag.models.publish import build_once, publish_dir


def test_failed_write_leaves_the_old_folder_and_no_temporary(tmp_path: Path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "weights").write_text("good")

    def fails(tmp: Path) -> None:
        (tmp / "weights").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        publish_dir(out, fails, overwrite=True)
    assert (out / "weights").read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_overwrite_swaps_in_the_new_folder(tmp_path: Path):
    out = tmp_path / "model"
    publish_dir(out, lambda tmp: (tmp / "v").write_text("1"))
    publish_dir(out, lambda tmp: (tmp / "v").write_text("2"), overwrite=True)
    assert (out / "v").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


RACER = """
import sys, time
from pathlib import Path
from agentic_rag.models.publish import build_once

target, log = Path(sys.argv[1]), Path(sys.argv[2])
def write(tmp):
    with log.open("a") as f:
        f.write("build\\n")
    time.sleep(1.0)  # long enough for the other process to arrive mid-build
    (tmp / "weights").write_text("complete")
print(build_once(target, write))
"""


def test_concurrent_first_uses_build_once(tmp_path: Path):
    target, log = tmp_path / "cache" / "model", tmp_path / "builds.log"
    script = tmp_path / "racer.py"
    script.write_text(textwrap.dedent(RACER))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(target), str(log)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert outputs == [str(target)] * 3
    assert log.read_text() == "build\n"
    assert (target / "weights").read_text() == "complete"
    assert not [p for p in target.parent.iterdir() if ".tmp-" in p.name]


def test_build_once_reuses_an_existing_folder(tmp_path: Path):
    target = tmp_path / "model"
    build_once(target, lambda tmp: (tmp / "v").write_text("1"))

    def must_not_run(tmp: Path) -> None:
        raise AssertionError("rebuilt")

    assert build_once(target, must_not_run) == target
