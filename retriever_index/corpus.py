"""Passage corpora: streaming JSONL reader with validation, and an on-disk SQLite document store.

A 21M-passage Wikipedia corpus is ~13 GB of JSONL: nothing here holds one Python object per
passage. The reader yields one passage at a time; `ingest` streams them into SQLite in small
batches, and duplicate ids are found by SQLite's on-disk unique index rather than a Python set.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from retriever_index.base import IndexCorruptError, IndexLoadError

STORE_FORMAT = 1
_INSERT_BATCH = 2048  # rows per executemany: bounds Python memory, amortizes SQLite calls
_SCHEMA = (
    "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-131072;"
    "CREATE TABLE passages (row INTEGER PRIMARY KEY, id TEXT NOT NULL,"
    " title TEXT NOT NULL, text TEXT NOT NULL, line INTEGER NOT NULL);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
)


class CorpusError(ValueError):
    """A corpus file cannot be used; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        return search_r1_contents(self.title, self.text)


def search_r1_contents(title: str, text: str) -> str:
    """Search-R1/FlashRAG's `contents` field, `"Title"\\ntext`, and an untitled passage's text
    alone, as their corpora store it (and `parse_passage` reads both back). It is what gets
    embedded, so indexes stay comparable with theirs, and what `index serve` returns to their
    agents, as their own server returns the stored row."""
    return f'"{title}"\n{text}' if title else text


@dataclass(frozen=True)
class CorpusStats:
    count: int
    sha256: str


def parse_passage(record: object, where: str) -> Passage:
    """One JSON record -> Passage. Accepts {id, title, text} and {id, contents}; both may be set.

    `where` is "file:line", put in front of every error so users can jump to the bad line.
    """
    if not isinstance(record, dict):
        raise CorpusError(
            f"{where}: expected a JSON object like "
            f'{{"id": "1", "title": "...", "text": "..."}}, got {type(record).__name__}'
        )
    if "id" not in record:
        raise CorpusError(f'{where}: missing "id": every passage needs a unique id')
    pid = record["id"]
    if isinstance(pid, bool) or not isinstance(pid, (str, int)) or str(pid).strip() == "":
        raise CorpusError(f'{where}: "id" must be a non-empty string or integer, got {pid!r}')
    if "text" in record:
        title, text = record.get("title", ""), record["text"]
    elif "contents" in record:
        title, text = _split_contents(record["contents"], where)
    else:
        raise CorpusError(
            f'{where}: missing text: give "text" (with an optional "title") '
            f'or Search-R1\'s "contents" ("\\"Title\\"\\ntext")'
        )
    for name, value in (("title", title), ("text", text)):
        if not isinstance(value, str):
            raise CorpusError(f'{where}: "{name}" must be a string, got {type(value).__name__}')
    for name, value in (("id", str(pid)), ("title", title), ("text", text)):
        _check_encodable(value, name, where)
    if not title.strip() and not text.strip():
        raise CorpusError(f"{where}: passage {pid!r} has empty title and text: nothing to embed")
    return Passage(id=str(pid), title=title, text=text)


def _check_encodable(value: str, name: str, where: str) -> None:
    """Lone surrogates (JSON escapes like "\\ud800") have no UTF-8 form: SQLite and tokenizers
    fail on them later and far from the line, so they are refused here."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise CorpusError(
            f'{where}: "{name}" is not valid Unicode text: character {e.start} is a lone '
            f"surrogate ({value[e.start]!r}); fix the escape or drop the passage"
        ) from None


def _split_contents(contents: object, where: str) -> tuple[str, str]:
    if not isinstance(contents, str):
        raise CorpusError(f'{where}: "contents" must be a string, got {type(contents).__name__}')
    if "\n" not in contents:
        return "", contents
    first, rest = contents.split("\n", 1)
    first = first.strip()
    if len(first) >= 2 and first[0] == first[-1] == '"':
        first = first[1:-1]
    return first, rest


def read_corpus(
    path: str | Path, *, hasher: hashlib._Hash | None = None, bar: tqdm | None = None
) -> Iterator[tuple[int, Passage]]:
    """Yield (line number, passage) for each non-blank line, validating as it goes.

    `hasher` gets every byte of the file and `bar` counts them, so one pass reads, checksums and
    reports progress.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus file not found: {path} (pass --corpus PATH to a .jsonl file)")
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if hasher is not None:
                hasher.update(raw)
            if bar is not None:
                bar.update(len(raw))
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as e:
                raise CorpusError(
                    f"{path}:{line_no}: not valid JSON ({e}); each line must be one JSON object"
                ) from None
            except RecursionError:
                raise CorpusError(
                    f"{path}:{line_no}: JSON nested too deeply to parse; a passage is one flat "
                    '{"id", "title", "text"} object'
                ) from None
            yield line_no, parse_passage(record, f"{path}:{line_no}")


def file_sha256(path: str | Path) -> str:
    """Checksum of the corpus bytes: what the manifest and resume compare against."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def ingest(corpus: str | Path, store: str | Path, *, progress: bool = True) -> CorpusStats:
    """Validate `corpus` and write it to a new SQLite store at `store`, in one streaming pass.

    Row numbers are 0-based in file order; they are the FAISS ids. The store is written without a
    journal: it lives in a build's temp folder, and an interrupted ingest is simply redone.
    """
    corpus, store = Path(corpus), Path(store)
    store.unlink(missing_ok=True)
    db = sqlite3.connect(store)
    try:
        db.executescript(_SCHEMA)
        hasher = hashlib.sha256()
        count = 0
        batch: list[tuple[int, str, str, str, int]] = []
        size = corpus.stat().st_size if corpus.is_file() else 0
        with tqdm(
            total=size, unit="B", unit_scale=True, desc="reading corpus", disable=not progress
        ) as bar:
            for line_no, p in read_corpus(corpus, hasher=hasher, bar=bar):
                batch.append((count, p.id, p.title, p.text, line_no))
                count += 1
                if len(batch) == _INSERT_BATCH:
                    db.executemany("INSERT INTO passages VALUES (?,?,?,?,?)", batch)
                    batch.clear()
            db.executemany("INSERT INTO passages VALUES (?,?,?,?,?)", batch)
        if count == 0:
            raise CorpusError(f"{corpus}: empty corpus (no passages); add one JSON object per line")
        try:
            db.execute("CREATE UNIQUE INDEX passages_id ON passages(id)")
        except sqlite3.IntegrityError:
            raise _duplicate_error(db, corpus) from None
        stats = CorpusStats(count=count, sha256=hasher.hexdigest())
        meta = {"format": str(STORE_FORMAT), "count": str(count), "sha256": stats.sha256}
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        db.commit()
    finally:
        db.close()
    return stats


def copy_rows(store: str | Path, out: str | Path, start: int, stop: int) -> None:
    """A new store at `out` holding rows [start, stop) of `store`, renumbered from 0, with the
    same corpus checksum: the document store of one index shard."""
    out = Path(out)
    out.unlink(missing_ok=True)
    db = sqlite3.connect(out)
    try:
        db.executescript(_SCHEMA)
        db.execute("ATTACH DATABASE ? AS src", (str(Path(store).resolve()),))
        db.execute(
            "INSERT INTO passages SELECT row - ?, id, title, text, line FROM src.passages"
            " WHERE row >= ? AND row < ? ORDER BY row",
            (start, start, stop),
        )
        meta = dict(db.execute("SELECT key, value FROM src.meta").fetchall())
        meta["count"] = str(stop - start)
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        db.execute("CREATE UNIQUE INDEX passages_id ON passages(id)")
        db.commit()
    finally:
        db.close()


def _duplicate_error(db: sqlite3.Connection, corpus: Path) -> CorpusError:
    dup_id, lines = db.execute(
        "SELECT id, group_concat(line) FROM passages GROUP BY id HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    first, *others = sorted(int(x) for x in lines.split(","))
    where = ", ".join(f"{corpus}:{n}" for n in others)
    return CorpusError(
        f"{where}: duplicate id {dup_id!r} (first seen at {corpus}:{first}); "
        "passage ids must be unique: rename or drop the repeated passages"
    )


class DocStore:
    """Read-only passages by row (FAISS id) or by passage id, straight from the SQLite file.

    Lookups go through SQLite's B-trees (rowid and the unique id index): a handful of page reads
    even at 21M rows, and memory stays at SQLite's page cache. Safe to share across threads.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"document store not found: {self.path}")
        uri = self.path.resolve().as_uri() + "?mode=ro&immutable=1"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        try:
            self.meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            self.count = int(self.meta["count"])
            self.sha256 = self.meta["sha256"]
        except (sqlite3.DatabaseError, KeyError, ValueError) as e:
            self._db.close()
            raise IndexLoadError(
                f"{self.path} is not a document store written by build ({type(e).__name__}: "
                f"{e}); rebuild the index"
            ) from None

    def __len__(self) -> int:
        return self.count

    def get(self, pid: str) -> Passage:
        """Passage by its corpus id; KeyError if absent."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, title, text FROM passages WHERE id = ?", (str(pid),)
            ).fetchone()
        if row is None:
            raise KeyError(pid)
        return Passage(*row)

    def rows(self, rows: Sequence[int]) -> list[Passage]:
        """Passages for FAISS row ids (one SQL query for the whole batch), in the order given."""
        wanted = sorted({int(r) for r in rows})
        try:
            with self._lock:
                found = self._db.execute(
                    "SELECT row, id, title, text FROM passages"
                    " WHERE row IN (SELECT value FROM json_each(?))",
                    (json.dumps(wanted),),
                ).fetchall()
        except sqlite3.DatabaseError as e:
            raise IndexCorruptError(
                f"{self.path} cannot be read ({e}): the index folder is damaged; check it with "
                f"`agentic-rag index verify {self.path.parent}` and rebuild it"
            ) from None
        by_row = {r: Passage(pid, title, text) for r, pid, title, text in found}
        missing = [r for r in wanted if r not in by_row]
        if missing:
            raise IndexCorruptError(
                f"{self.path} lacks rows {missing[:5]} that the index returned (it should hold "
                f"rows 0..{self.count - 1}): the index folder is damaged; check it with "
                f"`agentic-rag index verify {self.path.parent}` and rebuild it"
            )
        return [by_row[int(r)] for r in rows]

    def row_span(self) -> tuple[int, int, int]:
        """(rows, smallest row, largest row): a full scan, for `index verify`."""
        with self._lock:
            n, lo, hi = self._db.execute(
                "SELECT count(*), min(row), max(row) FROM passages"
            ).fetchone()
        return n, (-1 if lo is None else lo), (-1 if hi is None else hi)

    def slice(self, start: int, stop: int) -> list[Passage]:
        """Passages with start <= row < stop, in row order: how the builder streams a shard."""
        with self._lock:
            found = self._db.execute(
                "SELECT id, title, text FROM passages WHERE row >= ? AND row < ? ORDER BY row",
                (start, stop),
            ).fetchall()
        return [Passage(*r) for r in found]

    def close(self) -> None:
        self._db.close()
