"""BM25 over the same corpus and document store as the dense index, with `bm25s` (no Java).

An index folder of kind "bm25" holds manifest.json, docs.sqlite (the dense build's store, so
rows mean the same passages) and bm25/ (bm25s's sparse score matrix and the tokenizer
vocabulary). Builds follow the dense rules: temp folder first, then one atomic swap.

bm25s keeps the tokenized corpus in memory while indexing (about 4 bytes per token plus Python
list overhead per passage), so unlike the dense build its peak RAM grows with the corpus.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from retriever_index.atomic import (
    fresh_dir,
    full_disk_is_build_error,
    removed_on_failure,
    staging_dir,
    swap_into_place,
)
from retriever_index.base import IndexLoadError
from retriever_index.checksums import seal
from retriever_index.corpus import DocStore, ingest
from retriever_index.manifest import DOCS_FILE, Manifest, check_out, library_versions
from retriever_index.registry import Retriever, register_kind

BM25_DIR = "bm25"
_TOKENIZE_CHUNK = 10_000  # passages per tokenizer call: bounds the text held in memory at once


@dataclass
class BM25Config:
    """Okapi BM25 (Lucene variant) parameters, fixed at build time."""

    k1: float = field(default=1.5, metadata={"help": "BM25 term-frequency saturation"})
    b: float = field(default=0.75, metadata={"help": "BM25 document-length normalization"})

    def describe(self) -> str:
        """What the manifest's `factory` records for the sparse side."""
        return f"bm25 lucene k1={self.k1} b={self.b}"


def _tokenizer(stopwords: str | list[str] = "en"):
    """Lowercased words of 2+ characters minus English stopwords; no stemming (PyStemmer is a
    C extension we do not depend on)."""
    from bm25s.tokenization import Tokenizer

    return Tokenizer(lower=True, stopwords=stopwords)


def write_bm25(folder: Path, config: BM25Config) -> None:
    """Index the passages of folder/docs.sqlite into folder/bm25/."""
    import bm25s

    docs = DocStore(folder / DOCS_FILE)
    tokenizer = _tokenizer()
    ids: list[list[int]] = []
    try:
        with tqdm(total=len(docs), unit="passage", desc="bm25 tokenizing") as bar:
            for start in range(0, len(docs), _TOKENIZE_CHUNK):
                texts = [f"{p.title} {p.text}" for p in docs.slice(start, start + _TOKENIZE_CHUNK)]
                ids += tokenizer.tokenize(
                    texts, update_vocab=True, return_as="ids", show_progress=False
                )
                bar.update(len(texts))
    finally:
        docs.close()
    model = bm25s.BM25(k1=config.k1, b=config.b, method="lucene")
    vocab = tokenizer.get_vocab_dict()
    model.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    out = folder / BM25_DIR
    out.mkdir(exist_ok=True)
    model.save(str(out), show_progress=False)
    tokenizer.save_vocab(str(out))
    tokenizer.save_stopwords(str(out))


def bm25_versions() -> dict[str, str]:
    import bm25s

    return {**library_versions(), "bm25s": bm25s.__version__}


def _bm25_manifest(
    count: int, corpus: Path, sha256: str, config: BM25Config, started: float
) -> Manifest:
    """A Manifest for a sparse index: encoder fields name the tokenizer, dim/seq length are 0."""
    versions = bm25_versions()
    return Manifest(
        kind="bm25",
        count=count,
        corpus_path=str(corpus),
        corpus_sha256=sha256,
        encoder="bm25s-tokenizer(lower, en-stopwords)",
        encoder_path=None,
        encoder_revision=f"bm25s=={versions['bm25s']}",
        query_prefix="",
        passage_prefix="",
        dim=0,
        max_seq_length=0,
        metric="bm25",
        factory=config.describe(),
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=round(time.time() - started, 3),
        versions=versions,
    )


def build_bm25(corpus: str | Path, out: str | Path, config: BM25Config | None = None) -> Manifest:
    """`agentic-rag index build --kind bm25`: corpus -> docs.sqlite + bm25/ in OUT, atomically."""
    started = time.time()
    config = config or BM25Config()
    corpus, out = Path(corpus).resolve(), Path(out).resolve()
    check_out(out)
    work = staging_dir(out)
    fresh_dir(work, "BM25 builds start over")
    with full_disk_is_build_error(work, out), removed_on_failure(work):
        stats = ingest(corpus, work / DOCS_FILE)
        write_bm25(work, config)
        manifest = _bm25_manifest(stats.count, corpus, stats.sha256, config, started)
        manifest = seal(work, manifest)
        swap_into_place(work, out)
    return manifest


class BM25Retriever(Retriever):
    """Sparse lexical search; `search_batch` as for dense. Passages sharing no term with the
    query score 0 and are left out, so a query can get fewer than k hits."""

    def __init__(self, folder: Path, manifest: Manifest, docs: DocStore, model, tokenizer):
        super().__init__(folder, manifest, docs)
        self.model = model
        self.tokenizer = tokenizer

    @classmethod
    def open(
        cls, folder: Path, manifest: Manifest, docs: DocStore, **dense_options: object
    ) -> BM25Retriever:
        """Loader for Retriever.load. There is no encoder or FAISS index to tune: setting
        encoder, ef_search or nprobe is a mistake worth reporting (device is harmless)."""
        import bm25s

        given = [k for k, v in dense_options.items() if v is not None and k != "device"]
        if given:
            raise ValueError(
                f"{folder} is a BM25 index: {', '.join(given)} only apply to dense indexes; "
                "drop them"
            )

        path = folder / BM25_DIR
        if not (path / "params.index.json").is_file():
            raise IndexLoadError(
                f"{path} is missing or incomplete; rebuild with "
                f"`agentic-rag index build --kind {manifest.kind} --corpus ... --out {folder}`"
            )
        try:
            model = bm25s.BM25.load(str(path), mmap=True, show_progress=False)
            num_docs = model.scores["num_docs"]
            tokenizer = _tokenizer(stopwords=[])
            tokenizer.load_vocab(str(path))
            tokenizer.load_stopwords(str(path))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise IndexLoadError(
                f"{path} cannot be read by bm25s ({type(e).__name__}: {e}): its files are "
                "damaged; rebuild the index"
            ) from None
        if num_docs != manifest.count:
            raise IndexLoadError(
                f"{path} indexes {num_docs} passages but the manifest says "
                f"{manifest.count}: the folder mixes files from different builds; rebuild it"
            )
        return cls(folder, manifest, docs, model, tokenizer)

    def _search_rows(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        tokens = self.tokenizer.tokenize(
            queries, update_vocab=False, return_as="ids", show_progress=False
        )
        rows, scores = self.model.retrieve(tokens, k=k, show_progress=False)
        rows = np.where(scores > 0, rows, -1)
        return scores, rows


register_kind("bm25", BM25Retriever.open)
