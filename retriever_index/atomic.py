"""Write-to-a-temp-name-then-rename, for single files and for whole index folders.

Every builder assembles its index in `.{OUT}.{tag}/` next to OUT and swaps it in with two
renames, so a failure or kill at any point leaves either the old index or the new one at OUT,
never a mix. Files are written to `NAME.tmp` and renamed, so a file that exists is complete.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from retriever_index.base import BuildError


def staging_dir(out: Path, tag: str = "building") -> Path:
    """Where a build of `out` is assembled: a hidden sibling, so on the same filesystem."""
    return out.parent / f".{out.name}.{tag}"


def fresh_dir(work: Path, why: str = "pass --resume to continue it") -> None:
    """An empty staging folder; a leftover one is discarded with a message saying `why`."""
    if work.exists():
        print(f"discarding unfinished build at {work} ({why})", file=sys.stderr)
        shutil.rmtree(work)
    work.mkdir(parents=True)


@contextmanager
def removed_on_failure(work: Path, *, keep: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Delete the staging folder `work` if the block raises (Ctrl-C included), unless `keep()`
    says it holds work worth resuming: a failed build never leaves a useless folder behind."""
    try:
        yield
    except BaseException:
        if not keep():
            shutil.rmtree(work, ignore_errors=True)
        raise


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `path` in one rename."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: object) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def build_once(target: Path, write: Callable[[Path], None]) -> Path:
    """`target`, first made by `write(tmp)` into an empty sibling folder renamed into place.

    Processes racing here hold an exclusive lock beside `target`: the first builds, the others
    wait and then find the finished folder, so a shared cache entry is built once and never
    seen half-written. A failed `write` leaves nothing behind.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not target.is_dir():
                tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                tmp.mkdir()
                with removed_on_failure(tmp):
                    write(tmp)
                    os.replace(tmp, target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def swap_into_place(work: Path, out: Path) -> None:
    """Rename the finished folder to OUT. A crash between the two renames leaves OUT absent and
    the old index whole at `.OUT.previous` (Retriever.load's error says so); never a mix."""
    previous = staging_dir(out, "previous")
    if out.exists():
        if previous.exists():
            shutil.rmtree(previous)
        os.rename(out, previous)
    os.rename(work, out)
    if previous.exists():
        shutil.rmtree(previous)


def disk_full(err: BaseException) -> bool:
    """Whether a write failed for want of space, however the library said it: ENOSPC/EDQUOT,
    sqlite's "database or disk is full", FAISS's "(No space left on device)", numpy's short
    write ("N requested and M written")."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if not isinstance(err, (OSError, RuntimeError, sqlite3.Error)):
        return False
    text = str(err).lower()
    short_write = "requested and" in text and "written" in text
    return short_write or any(
        words in text for words in ("no space left", "disk is full", "disk quota exceeded")
    )


@contextmanager
def full_disk_is_build_error(work: Path, out: Path) -> Iterator[None]:
    """A full disk while building `out` (in `work`) as one BuildError naming the folder, the
    space left and what became of the old index and the finished work."""
    try:
        yield
    except (OSError, RuntimeError, sqlite3.Error) as err:
        if not disk_full(err):
            raise
        free = shutil.disk_usage(out.parent).free if out.parent.exists() else 0
        said = [
            f"no space left on the device holding {out.parent} ({free / 2**20:.1f} MiB free) "
            f"while building {out.name}: free space, or pass --out on another disk"
        ]
        if (out / "manifest.json").is_file():
            said.append(f"the index at {out} is unchanged")
        if (work / "build_state.json").is_file():
            said.append(f"finished shards are kept in {work}: re-run with --resume")
        raise BuildError("; ".join(said)) from None
