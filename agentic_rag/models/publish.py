"""Write a folder so that readers only ever see it complete, and build shared folders once.

A model folder is written into a temporary sibling and renamed into place, so a crash or an
error leaves either the previous folder or nothing, never a half-written one. `build_once`
adds an exclusive file lock so that concurrent first uses (two training processes, a test run
beside an evaluation) build the folder once and then share it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def publish_dir(out: str | Path, write: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Calls `write(tmp)` on an empty temporary folder next to `out`, then renames it to `out`.

    An existing `out` is an error unless `overwrite`; then it is replaced only after `write`
    succeeded. On any error the temporary folder is removed and `out` is left as it was.
    """
    out = Path(out).absolute()
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists: remove it or choose another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()  # not mkdtemp: the published folder gets the umask's mode, not 0700
    try:
        write(tmp)
        if out.exists():  # overwrite: move the old folder aside, then swap
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "folder")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Holds an exclusive `flock` on `path` (created if missing) for the block's duration."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(target: str | Path, write: Callable[[Path], None]) -> Path:
    """Returns `target`, first building it with `publish_dir(target, write)` if it is missing.

    Processes that race here wait on a lock file beside `target`; the first builds, the others
    then find the finished folder and reuse it.
    """
    target = Path(target).absolute()
    if target.is_dir():
        return target
    with exclusive_lock(target.parent / f".{target.name}.lock"):
        if not target.is_dir():
            publish_dir(target, write)
    return target
