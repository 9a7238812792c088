"""Fingerprints of every index file, recorded in manifest.json at build time and checked on load.

Each file gets its size, a blake2b of all its bytes (`agentic-rag index verify` recomputes it)
and a blake2b of a fixed sample: 16 blocks of 64 KiB spread evenly over the file, i.e. the
whole file when it is under 1 MiB. Loading compares size and sample, which costs 16 reads
whatever the index size, and catches truncation, a swapped file (another build of the same
size) and most overwrites; only the full hash catches every changed byte.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import replace
from pathlib import Path

from retriever_index.base import IndexLoadError
from retriever_index.manifest import MANIFEST_FILE, Manifest

SAMPLE_BLOCKS = 16
SAMPLE_BLOCK_BYTES = 64 << 10
UNCHECKED = ("hybrid.json",)  # settings users may edit (docs say so): validated when loaded


def fingerprint(path: Path, *, full: bool = True) -> dict[str, object]:
    """{"size", "sample"[, "blake2b"]} of one file."""
    size = path.stat().st_size
    out: dict[str, object] = {"size": size, "sample": _sample_hash(path, size)}
    if full:
        h = hashlib.blake2b(digest_size=20)
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        out["blake2b"] = h.hexdigest()
    return out


def _sample_hash(path: Path, size: int) -> str:
    h = hashlib.blake2b(str(size).encode(), digest_size=20)
    with path.open("rb") as f:
        if size <= SAMPLE_BLOCKS * SAMPLE_BLOCK_BYTES:
            h.update(f.read())
        else:
            step = (size - SAMPLE_BLOCK_BYTES) // (SAMPLE_BLOCKS - 1)
            for i in range(SAMPLE_BLOCKS):
                f.seek(i * step)
                h.update(f.read(SAMPLE_BLOCK_BYTES))
    return h.hexdigest()


def index_files(folder: Path, exclude: tuple[str, ...] = ()) -> list[str]:
    """Relative paths of the files that make up the index (manifest and settings excepted)."""
    skip = {MANIFEST_FILE, *UNCHECKED, *exclude}
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).parts[0] not in skip
    )


def seal(
    folder: Path,
    manifest: Manifest,
    *,
    exclude: tuple[str, ...] = (),
    known: dict[str, dict] | None = None,
) -> Manifest:
    """Write `manifest` into `folder` with the fingerprint of every index file; return it.

    `exclude`: top-level names that are build leftovers, not index files. `known`: entries of a
    manifest sealed moments ago by the same build, reused for files it already covered.
    """
    known = known or {}
    files = {
        name: known.get(name) or fingerprint(folder / name) for name in index_files(folder, exclude)
    }
    sealed = replace(manifest, files=files)
    sealed.write(folder)
    return sealed


def check_files(folder: Path, manifest: Manifest, *, full: bool = False) -> None:
    """Refuse a folder whose files differ from the build's: one IndexLoadError naming them all.

    full=False compares sizes and sampled hashes, and leaves a missing file to the kind's
    loader (its error names the file); full=True also reports missing files and compares the
    blake2b of every byte. A manifest from before checksums only gets a warning: it loads.
    """
    if manifest.files is None:
        warnings.warn(
            f"{folder / MANIFEST_FILE} records no file checksums (the index was built before "
            f"they existed), so damaged or swapped files go unnoticed: run `agentic-rag index "
            f"verify {folder} --write` to check the folder and record them, or rebuild it",
            stacklevel=3,
        )
        return
    problems = []
    for name, want in sorted(manifest.files.items()):
        path = folder / name
        if not path.is_file():
            if full:
                problems.append(f"{name} is missing")
            continue
        size = path.stat().st_size
        if size != want.get("size"):
            problems.append(f"{name} is {size} bytes, the build wrote {want.get('size')}")
            continue
        got = fingerprint(path, full=full)
        keys = ("sample", "blake2b") if full else ("sample",)
        if any(got[k] != want.get(k) for k in keys):
            problems.append(f"{name} has other bytes than the build wrote")
    if problems:
        raise IndexLoadError(
            f"{folder}: {'; '.join(problems)}: the files were changed, truncated or swapped "
            "after the build; rebuild the index (or restore the files)"
        )
