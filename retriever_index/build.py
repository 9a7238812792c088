"""Corpus -> embedding shards on disk -> FAISS index, built in a temp folder and swapped in whole.

Layout of a build in progress, `.{OUT}.building/` next to OUT:
    docs.sqlite        validated passages (written first: bad input fails before any encoding)
    build_state.json   what the shards were encoded with; --resume refuses to mix settings
    shards/NNNNN.npy   unit-length float32 embeddings, each written to a temp name then renamed,
                       so a shard that exists is complete
With --embeddings the vectors come from an existing FAISS Flat file instead of the encoder.
A writer (the FAISS factory for "dense", retriever_index.compressed for "compressed") trains on
a sample and adds chunk by chunk; only when its files and manifest.json are written is the
folder renamed to OUT.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from retriever_index.atomic import (
    atomic_path,
    fresh_dir,
    full_disk_is_build_error,
    removed_on_failure,
    staging_dir,
    swap_into_place,
    write_json_atomic,
)
from retriever_index.base import BuildError
from retriever_index.checksums import seal
from retriever_index.corpus import CorpusError, DocStore, file_sha256, ingest
from retriever_index.embeddings import FlatFile, ShardFiles, sample_rows
from retriever_index.encoder import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_ENCODER,
    DEFAULT_PRECISION,
    PRECISIONS,
    PREFIX_PRESETS,
    Encoder,
    Prefixes,
    resolve_prefixes,
)
from retriever_index.export import check_runtime
from retriever_index.manifest import DOCS_FILE, INDEX_FILE, Manifest, check_out, library_versions

STATE_FILE = "build_state.json"
_CHUNKS_PER_BAR_UPDATE = 4  # encoder batches per progress update: fine-grained yet long-sorted


@dataclass
class BuildConfig:
    """Settings of `agentic-rag index build`; each field is also a CLI flag (--index-type, ...)."""

    corpus: str = field(
        metadata={"help": "passage corpus JSONL: {id, title, text} or Search-R1 {id, contents}"}
    )
    out: str = field(metadata={"help": "index folder to create (replaced atomically if it exists)"})
    encoder: str = field(
        default=DEFAULT_ENCODER,
        metadata={"help": "sentence-transformers hub id or local folder (default: bundled MiniLM)"},
    )
    index_type: str = field(
        default="Flat",
        metadata={"help": "FAISS index_factory string, inner product: Flat, HNSW32, IVF1024,PQ32"},
    )
    batch_size: int = field(default=64, metadata={"help": "passages per encoder forward pass"})
    shard_size: int = field(
        default=10_000, metadata={"help": "passages per on-disk shard: the unit --resume skips"}
    )
    resume: bool = field(
        default=False, metadata={"help": "continue an interrupted build from its finished shards"}
    )
    prefix_preset: str = field(
        default="none",
        metadata={
            "help": "query/passage prefixes by model family",
            "choices": list(PREFIX_PRESETS),
        },
    )
    query_prefix: str | None = field(
        default=None, metadata={"help": "text prepended to queries (overrides the preset)"}
    )
    passage_prefix: str | None = field(
        default=None, metadata={"help": "text prepended to passages (overrides the preset)"}
    )
    device: str | None = field(
        default=None, metadata={"help": "torch device for the encoder (default: cuda if present)"}
    )
    encoder_backend: str = field(default=DEFAULT_BACKEND, metadata={"choices": list(BACKENDS)})
    """Runtime that encodes: torch, or the model exported once to onnx (ONNX Runtime) or openvino;
    searches encode queries with the same (the CLI's --encoder-backend documents it)."""
    encoder_precision: str = field(
        default=DEFAULT_PRECISION, metadata={"choices": list(PRECISIONS)}
    )
    """fp32, or int8 (onnx/openvino: faster on CPUs, slightly other vectors)."""
    train_size: int = field(
        default=100_000,
        metadata={"help": "passages sampled to train IVF/PQ indexes (FAISS wants >= 39 x nlist)"},
    )
    embeddings: str | None = field(
        default=None,
        metadata={
            "help": "FAISS Flat index file holding the corpus's embeddings in corpus order (e.g. "
            "Search-R1's e5_Flat.index): skip encoding; --encoder must be the model that made it"
        },
    )


@dataclass(frozen=True)
class IndexSpec:
    """What a writer built: the manifest's kind, factory string and kind-specific params."""

    kind: str
    factory: str
    params: dict[str, Any]


class IndexWriter(Protocol):
    def check(self, dim: int, count: int) -> None:
        """Raise BuildError on settings that cannot work, before any encoding."""

    def write(self, work: Path, source: ShardFiles | FlatFile) -> IndexSpec:
        """Train on a sample of `source`, add it chunk by chunk, write the index files."""


class FactoryWriter:
    """The "dense" kind: any FAISS index_factory string, filled with the float32 embeddings."""

    def __init__(self, factory: str, train_size: int):
        self.factory, self.train_size = factory, train_size

    def check(self, dim: int, count: int) -> None:
        new_index(dim, self.factory)

    def write(self, work: Path, source: ShardFiles | FlatFile) -> IndexSpec:
        import faiss

        index = new_index(source.dim, self.factory)
        train_index(index, source, self.train_size, self.factory)
        with tqdm(total=source.count, unit="passage", desc="indexing") as bar:
            for chunk in source.chunks():
                index.add(chunk)
                bar.update(len(chunk))
        with atomic_path(work / INDEX_FILE) as tmp:
            faiss.write_index(index, str(tmp))
        return IndexSpec(kind="dense", factory=self.factory, params={})


def build_index(config: BuildConfig, writer: IndexWriter | None = None) -> Manifest:
    """Build the index described by `config` into config.out and return its manifest.

    `writer` makes the index files from the embeddings (default: FAISS factory
    `config.index_type`, kind "dense"); corpus, encoding, resume and swap are shared.

    A failure removes the build folder, unless it has finished its corpus pass: then it is kept
    (with its encoded shards) for `--resume`, and the BuildError (or, for an interruption,
    stderr) says so. A full disk is a BuildError naming the folder and the space left.
    """
    started = time.time()
    corpus, out = Path(config.corpus).resolve(), Path(config.out).resolve()
    if config.shard_size < 1 or config.train_size < 1:
        raise ValueError("--shard-size and --train-size must be >= 1")
    if not corpus.is_file():
        raise CorpusError(f"corpus file not found: {corpus} (pass --corpus PATH to a .jsonl file)")
    check_out(out)
    check_runtime(config.encoder_backend, config.encoder_precision)  # before any work
    prefixes = resolve_prefixes(config.prefix_preset, config.query_prefix, config.passage_prefix)
    work = staging_dir(out)
    previous_state = _open_workdir(work, config.resume)
    writer = writer or FactoryWriter(config.index_type, config.train_size)
    try:
        with (
            full_disk_is_build_error(work, out),
            removed_on_failure(work, keep=(work / STATE_FILE).is_file),
        ):
            manifest = _build(work, corpus, config, writer, prefixes, previous_state, started)
    except BaseException as err:
        kept = f"finished shards are kept in {work}: re-run with --resume"
        if not (work / STATE_FILE).is_file() or kept in str(err):
            raise
        if isinstance(err, BuildError):
            raise BuildError(f"{err}; {kept}") from None
        print(f"build stopped; {kept}", file=sys.stderr)
        raise
    swap_into_place(work, out)
    return manifest


def _build(
    work: Path,
    corpus: Path,
    config: BuildConfig,
    writer: IndexWriter,
    prefixes: Prefixes,
    previous_state: dict | None,
    started: float,
) -> Manifest:
    """Everything inside the build folder: store, shards, FAISS index, sealed manifest."""
    if previous_state is None:
        stats = ingest(corpus, work / DOCS_FILE)
        count, sha256 = stats.count, stats.sha256
    else:
        count, sha256 = previous_state["count"], file_sha256(corpus)

    encoder = Encoder(
        config.encoder,
        prefixes=prefixes,
        batch_size=config.batch_size,
        device=config.device,
        backend=config.encoder_backend,
        precision=config.encoder_precision,
    )
    writer.check(encoder.dim, count)  # fail on bad index settings before encoding
    state = {
        "corpus_sha256": sha256,
        "count": count,
        "encoder": encoder.name,
        "encoder_revision": encoder.revision,
        "encoder_backend": encoder.backend,
        "encoder_precision": encoder.precision,
        "passage_prefix": prefixes.passage,
        "dim": encoder.dim,
        "shard_size": config.shard_size,
    }
    if previous_state is None:
        write_json_atomic(work / STATE_FILE, state)
    elif previous_state != state:
        changed = [k for k in state if previous_state.get(k) != state[k]]
        raise BuildError(
            f"cannot resume {work}: {', '.join(changed)} changed since it started "
            f"(was {[previous_state.get(k) for k in changed]}, now {[state[k] for k in changed]}). "
            "Re-run with the original corpus and settings, or without --resume to start over"
        )

    if config.embeddings:
        source: ShardFiles | FlatFile = _flat_embeddings(config.embeddings, count, encoder)
    else:
        paths = _encode_shards(work, encoder, count, config.shard_size)
        source = ShardFiles(paths, count, encoder.dim)
    spec = writer.write(work, source)
    manifest = Manifest(
        kind=spec.kind,
        count=count,
        corpus_path=str(corpus),
        corpus_sha256=sha256,
        encoder=encoder.name,
        encoder_path=str(encoder.path) if encoder.path else None,
        encoder_revision=encoder.revision,
        query_prefix=prefixes.query,
        passage_prefix=prefixes.passage,
        dim=encoder.dim,
        max_seq_length=encoder.max_seq_length,
        metric="inner_product",
        factory=spec.factory,
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=round(time.time() - started, 3),
        versions=library_versions() | encoder.runtime_versions(),
        params=spec.params,
        encoder_backend=encoder.backend,
        encoder_precision=encoder.precision,
    )
    manifest = seal(work, manifest, exclude=("shards", STATE_FILE))
    shutil.rmtree(work / "shards", ignore_errors=True)
    (work / STATE_FILE).unlink()
    return manifest


def _flat_embeddings(path: str, count: int, encoder: Encoder) -> FlatFile:
    try:
        source = FlatFile(path)
    except ValueError as e:
        raise BuildError(str(e)) from None
    if (source.count, source.dim) != (count, encoder.dim):
        raise BuildError(
            f"--embeddings {path} holds {source.count} x {source.dim} vectors but the corpus has "
            f"{count} passages and {encoder.name} makes {encoder.dim}-dim embeddings: pass the "
            "embeddings of this corpus (same order) and the --encoder that made them"
        )
    return source


def _open_workdir(work: Path, resume: bool) -> dict | None:
    """Prepare the temp folder; return the saved state when resuming a build that has one."""
    state_path = work / STATE_FILE
    if resume and state_path.is_file():
        print(f"resuming build in {work}", file=sys.stderr)
        return json.loads(state_path.read_text())
    fresh_dir(work, "it has no finished corpus pass" if resume else "pass --resume to continue it")
    return None


def new_index(dim: int, factory: str):
    import faiss

    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        reason = str(e).strip().splitlines()[-1]
        raise BuildError(
            f"invalid --index-type {factory!r} for {dim}-dim embeddings ({reason}); use a FAISS "
            "index_factory string such as Flat, HNSW32, IVF1024,Flat or IVF1024,PQ32 "
            "(PQ's M must divide the dimension)"
        ) from None


def _shard_path(work: Path, i: int) -> Path:
    return work / "shards" / f"{i:05d}.npy"


def _shard_complete(path: Path, rows: int, dim: int) -> bool:
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return arr.shape == (rows, dim) and arr.dtype == np.float32


def _encode_shards(work: Path, encoder: Encoder, count: int, shard_size: int) -> list[Path]:
    """Encode every shard not already on disk; return all shard paths in row order."""
    (work / "shards").mkdir(exist_ok=True)
    bounds = [(s, min(s + shard_size, count)) for s in range(0, count, shard_size)]
    paths = [_shard_path(work, i) for i in range(len(bounds))]
    todo = [
        i for i, (a, b) in enumerate(bounds) if not _shard_complete(paths[i], b - a, encoder.dim)
    ]
    done_rows = count - sum(bounds[i][1] - bounds[i][0] for i in todo)
    docs = DocStore(work / DOCS_FILE)
    try:
        with tqdm(total=count, initial=done_rows, unit="passage", desc="encoding") as bar:
            for i in todo:
                passages = docs.slice(*bounds[i])
                embeddings = _encode_sorted(encoder, [p.contents for p in passages], bar)
                _check_finite(embeddings, bounds[i][0], passages, encoder)
                _write_shard(paths[i], embeddings)
    finally:
        docs.close()
    return paths


def _encode_sorted(encoder: Encoder, texts: list[str], bar: tqdm) -> np.ndarray:
    """Encode longest-first in chunks, as one SentenceTransformer.encode call would order them.

    Sorting the whole shard keeps padding as low as a single call; chunking only lets the
    progress bar (passages/s, ETA) move between chunks.
    """
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    step = encoder.batch_size * _CHUNKS_PER_BAR_UPDATE
    for start in range(0, len(order), step):
        idx = order[start : start + step]
        out[idx] = encoder.encode_passages([texts[j] for j in idx])
        bar.update(len(idx))
    return out


def _check_finite(embeddings: np.ndarray, first_row: int, passages: list, encoder: Encoder) -> None:
    """NaN/inf vectors would poison every search that touches them: stop before indexing."""
    bad = np.flatnonzero(~np.isfinite(embeddings).all(axis=1))
    if bad.size:
        raise BuildError(
            f"encoder {encoder.name!r} returned NaN/inf embeddings for {bad.size} passages "
            f"(rows {[first_row + int(i) for i in bad[:5]]}, ids "
            f"{[passages[int(i)].id for i in bad[:5]]}): its weights or device (e.g. float16 "
            "overflow) are broken; check --encoder and --device, then re-run with --resume"
        )


def _write_shard(path: Path, embeddings: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.save(f, embeddings)


def train_index(index, source: ShardFiles | FlatFile, train_size: int, factory: str) -> None:
    """Train an untrained (IVF/PQ) index on a seeded sample of `source`; a no-op for Flat."""
    if index.is_trained:
        return
    sample = sample_rows(source, min(source.count, train_size))
    print(f"training {factory} on {len(sample)} sampled passages", file=sys.stderr)
    try:
        index.train(sample)
    except RuntimeError as e:
        reason = str(e).strip().splitlines()[-1]
        raise BuildError(
            f"training {factory!r} on {len(sample)} passages failed ({reason}); use fewer IVF "
            "lists (about 4*sqrt(passages)) or a smaller PQ, or raise --train-size"
        ) from None
