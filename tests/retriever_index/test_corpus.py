"""Corpus reading, validation messages, checksum and the SQLite document store."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from retriever_index.base import IndexCorruptError
from retriever_index.corpus import (
    CorpusError,
    DocStore,
    Passage,
    file_sha256,
    ingest,
    parse_passage,
    read_corpus,
    search_r1_contents,
)


def test_both_formats_and_mixed_lines_read_alike(jsonl):
    path = jsonl(
        "c.jsonl",
        [
            {"id": "1", "title": "Mars", "text": "The red planet."},
            {"id": 2, "contents": '"Jupiter"\nA gas giant.\nSecond line.'},
            {"id": "3", "contents": "no title line"},
            # the shared corpus carries both; title/text win over contents
            {"id": "4", "title": "Venus", "text": "Hot.", "contents": '"Other"\nignored'},
            {"id": "5", "text": "untitled text"},
        ],
    )
    got = [p for _, p in read_corpus(path)]
    assert got == [
        Passage("1", "Mars", "The red planet."),
        Passage("2", "Jupiter", "A gas giant.\nSecond line."),
        Passage("3", "", "no title line"),
        Passage("4", "Venus", "Hot."),
        Passage("5", "", "untitled text"),
    ]
    assert got[1].contents == '"Jupiter"\nA gas giant.\nSecond line.'
    assert got[2].contents == "no title line"


@pytest.mark.parametrize(
    ("title", "text", "contents"),
    [
        ("Mars", "The red planet.", '"Mars"\nThe red planet.'),
        ("", "untitled text", "untitled text"),  # as Search-R1's corpora store an untitled row
        ("", "two\nlines", "two\nlines"),
    ],
)
def test_search_r1_contents_is_one_string_for_the_index_and_the_server(title, text, contents):
    """What gets embedded and what `index serve` returns to Search-R1's agents are one string."""
    from retriever_index.base import Hit
    from retriever_index.server.app import _document

    assert search_r1_contents(title, text) == Passage("1", title, text).contents == contents
    assert _document(Hit("1", title, text, 0.5)) == {"id": "1", "contents": contents}
    if "\n" not in text:  # a title line reads back as the title
        assert parse_passage({"id": "1", "contents": contents}, "x") == Passage("1", title, text)


def test_blank_lines_are_skipped_and_line_numbers_kept(jsonl):
    path = jsonl("c.jsonl", ["", {"id": "a", "text": "x"}, "   ", {"id": "b", "text": "y"}])
    assert [n for n, _ in read_corpus(path)] == [2, 4]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "1", "text": "ok"}', '{"id": "2", "text": '], r"c\.jsonl:2: not valid JSON"),
        (['["id", "text"]'], r"c\.jsonl:1: expected a JSON object"),
        (['{"title": "T", "text": "x"}'], r'c\.jsonl:1: missing "id"'),
        (['{"id": "", "text": "x"}'], r'c\.jsonl:1: "id" must be a non-empty string'),
        (['{"id": true, "text": "x"}'], r'c\.jsonl:1: "id" must be a non-empty string'),
        (['{"id": "1", "title": "T"}'], r"c\.jsonl:1: missing text"),
        (['{"id": "1", "text": 5}'], r'c\.jsonl:1: "text" must be a string'),
        (['{"id": "1", "title": null, "text": "x"}'], r'c\.jsonl:1: "title" must be a string'),
        (['{"id": "1", "contents": ["x"]}'], r'c\.jsonl:1: "contents" must be a string'),
        (['{"id": "1", "title": " ", "text": ""}'], r"c\.jsonl:1: passage '1' has empty title"),
    ],
)
def test_malformed_lines_name_file_and_line(jsonl, tmp_path, lines, message):
    path = jsonl("c.jsonl", lines)
    with pytest.raises(CorpusError, match=message):
        ingest(path, tmp_path / "docs.sqlite", progress=False)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "1", "text": "a\\ud800b"}', r'c\.jsonl:2: "text" is not valid Unicode text: '
         r"character 1 is a lone surrogate"),
        ('{"id": "1", "title": "\\udfff", "text": "x"}', r'c\.jsonl:2: "title" is not valid'),
        ('{"id": "\\ud83d", "text": "x"}', r'c\.jsonl:2: "id" is not valid Unicode text'),
        ('{"id": "1", "contents": "\\"T\\"\\n\\ud800"}', r'c\.jsonl:2: "text" is not valid'),
        ("[" * 100_000 + "]" * 100_000, r"c\.jsonl:2: JSON nested too deeply to parse"),
        ('{"id": "1", "text": ' + "[" * 100_000 + "]" * 100_000 + "}", r"c\.jsonl:2: JSON nested"),
    ],
    ids=["surrogate-text", "surrogate-title", "surrogate-id", "surrogate-contents", "deep", "deep-in"],
)  # fmt: skip
def test_hostile_lines_name_file_and_line(jsonl, tmp_path, line, message):
    """JSON escapes can carry lone surrogates, which SQLite and tokenizers cannot take; deep
    nesting exhausts the parser's recursion. Both are the line's fault, reported with file:line."""
    path = jsonl("c.jsonl", ['{"id": "0", "text": "fine"}', line])
    with pytest.raises(CorpusError, match=message):
        ingest(path, tmp_path / "docs.sqlite", progress=False)


def test_invalid_utf8_names_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"id": "1", "text": "ok"}\n{"id": "2", "text": "\xff"}\n')
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: not valid JSON"):
        ingest(path, tmp_path / "docs.sqlite", progress=False)


def test_duplicate_ids_name_both_lines(jsonl, tmp_path):
    path = jsonl(
        "c.jsonl",
        [{"id": "a", "text": "1"}, {"id": "b", "text": "2"}, {"id": "a", "text": "3"}],
    )
    with pytest.raises(CorpusError) as err:
        ingest(path, tmp_path / "docs.sqlite", progress=False)
    assert f"{path}:3: duplicate id 'a' (first seen at {path}:1)" in str(err.value)
    assert "ids must be unique" in str(err.value)


def test_int_and_string_ids_collide(jsonl, tmp_path):
    path = jsonl("c.jsonl", [{"id": 7, "text": "1"}, {"id": "7", "text": "2"}])
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: duplicate id '7'"):
        ingest(path, tmp_path / "docs.sqlite", progress=False)


@pytest.mark.parametrize("lines", [[], ["", "  "]])
def test_empty_corpus(jsonl, tmp_path, lines):
    path = jsonl("c.jsonl", lines)
    with pytest.raises(CorpusError, match=r"c\.jsonl: empty corpus"):
        ingest(path, tmp_path / "docs.sqlite", progress=False)


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="corpus file not found: .*nope.jsonl"):
        ingest(tmp_path / "nope.jsonl", tmp_path / "docs.sqlite", progress=False)


def test_store_lookups_by_id_and_row(tiny_corpus, tiny_records, tmp_path):
    stats = ingest(tiny_corpus, tmp_path / "docs.sqlite", progress=False)
    assert stats.count == len(tiny_records)
    assert stats.sha256 == file_sha256(tiny_corpus)
    docs = DocStore(tmp_path / "docs.sqlite")
    assert len(docs) == len(tiny_records) and docs.sha256 == stats.sha256
    r = tiny_records[5]
    assert docs.get("d5") == Passage(r["id"], r["title"], r["text"])
    with pytest.raises(KeyError):
        docs.get("nope")
    # rows keep the caller's order and repeats (FAISS can return the same row for two queries)
    assert [p.id for p in docs.rows([3, 0, 3])] == ["d3", "d0", "d3"]
    assert [p.id for p in docs.slice(2, 5)] == ["d2", "d3", "d4"]
    # a row the index knows but the store lacks is a damaged folder, never a bare IndexError
    with pytest.raises(IndexCorruptError, match=r"lacks rows \[24\].*index verify"):
        docs.rows([len(tiny_records)])


def test_checksum_changes_with_content(jsonl, tmp_path):
    a = jsonl("a.jsonl", [{"id": "1", "text": "x"}])
    b = jsonl("b.jsonl", [{"id": "1", "text": "y"}])
    sa = ingest(a, tmp_path / "a.sqlite", progress=False).sha256
    assert sa == ingest(a, tmp_path / "a2.sqlite", progress=False).sha256
    assert sa != ingest(b, tmp_path / "b.sqlite", progress=False).sha256


def _ingest_peak(tmp_path, n: int) -> int:
    path = tmp_path / f"c{n}.jsonl"
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"p{i}", "title": f"T{i}", "text": "word " * 60}) + "\n")
    tracemalloc.start()
    ingest(path, tmp_path / f"c{n}.sqlite", progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_ingest_python_memory_does_not_grow_with_corpus(tmp_path):
    """No Python object per passage survives: 4x the passages, about the same Python peak."""
    small, large = _ingest_peak(tmp_path, 10_000), _ingest_peak(tmp_path, 40_000)
    assert large < 1.5 * small, (small, large)
    assert large < 8 * 2**20  # a few batches of rows, not the 13 MB corpus
