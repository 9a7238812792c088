"""Load QA benchmarks from the formats people actually have on disk into one `QAExample` shape.

Accepted specs (see docs/evaluation.md):
- a local ``.jsonl`` or ``.parquet`` file in our normalized format, FlashRAG's JSONL format or
  Search-R1's processed parquet format (detected from the first record's fields);
- a directory holding ``dev.jsonl`` (e.g. ``../shared/data/qa/hotpotqa``);
- a short name such as ``hotpotqa``, resolved to ``DATA_ROOT/hotpotqa/dev.jsonl`` where
  DATA_ROOT is ``$AGENTIC_RAG_DATA`` or ``../shared/data/qa`` next to this checkout;
- a Hub dataset ``OWNER/NAME[:CONFIG][@SPLIT]``, loaded with ``datasets.load_dataset`` (online).

Every problem raises `QADataError` naming the file and line (or row) and how to fix it, because a
silently skipped question changes a benchmark score.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_ENV = "AGENTIC_RAG_DATA"
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "qa"
LOCAL_SUFFIXES = (".jsonl", ".parquet")
SPLIT_FILE_STEMS = ("dev", "test", "train", "validation", "val")
HUB_DEFAULT_SPLITS = ("test", "validation", "dev")
NORMALIZED_FIELDS = frozenset(
    {"id", "question", "answers", "dataset", "supporting_titles", "supporting_ids", "type", "level"}
)
HUB_SPEC = re.compile(
    r"^(?P<name>[\w-][\w.-]*/[\w.-]+)(?::(?P<config>[\w.-]+))?(?:@(?P<split>[\w.-]+))?$"
)


class QADataError(ValueError):
    """A QA data file or spec cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True)
class QAExample:
    """One benchmark question, whatever format it came from."""

    id: str
    """Unique within its dataset; resume and run comparison match questions by it."""
    question: str
    answers: list[str]
    """Gold answer aliases, stripped and de-duplicated in order; never empty."""
    dataset: str
    """Benchmark name (record field, Search-R1 `data_source`, or the file's folder/stem)."""
    supporting_titles: list[str] = field(default_factory=list)
    """Titles of the gold supporting passages (multi-hop sets); empty when unknown."""
    supporting_ids: list[str] = field(default_factory=list)
    """Corpus ids of the gold supporting passages; empty when unknown."""
    type: str | None = None
    """Question type when the source gives one (e.g. HotpotQA bridge/comparison)."""
    level: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Every other field of the source record (e.g. contexts, Search-R1 prompt), untouched."""


# ---------------------------------------------------------------------------- field helpers


def _answers(value: Any, where: str, column: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise QADataError(
            f"{where}: '{column}' must be a string or a list of strings, got "
            f"{type(value).__name__}; write the gold answers as a JSON list of strings"
        )
    answers: list[str] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise QADataError(
                f"{where}: '{column}' holds a {type(item).__name__} ({item!r}); every gold "
                "answer must be a string"
            )
        text = str(item).strip()
        if text and text not in answers:
            answers.append(text)
    if not answers:
        raise QADataError(
            f"{where}: '{column}' has no non-empty answer; give at least one gold answer "
            "or remove this record"
        )
    return answers


def _question(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QADataError(f"{where}: 'question' must be a non-empty string, got {value!r}")
    return value.strip()


def _str_list(value: Any, where: str, column: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise QADataError(f"{where}: '{column}' must be a list of strings, got {value!r}")
    return list(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _record_id(record: dict[str, Any], fallback: str) -> str:
    value = record.get("id")
    return fallback if value is None or value == "" else str(value)


# ---------------------------------------------------------------------------- the three formats


def _parse_normalized(record: dict[str, Any], where: str, dataset: str, index: int) -> QAExample:
    if "answers" not in record:
        raise QADataError(f"{where}: record has no 'answers' field; add the gold answers list")
    return QAExample(
        id=_record_id(record, f"{dataset}-{index}"),
        question=_question(record.get("question"), where),
        answers=_answers(record["answers"], where, "answers"),
        dataset=str(record.get("dataset") or dataset),
        supporting_titles=_str_list(record.get("supporting_titles"), where, "supporting_titles"),
        supporting_ids=[str(v) for v in record.get("supporting_ids") or []],
        type=_optional_str(record.get("type")),
        level=_optional_str(record.get("level")),
        extra={k: v for k, v in record.items() if k not in NORMALIZED_FIELDS},
    )


def _flashrag_supporting_titles(metadata: dict[str, Any]) -> list[str]:
    """FlashRAG keeps the source's own gold annotation in `metadata`; read the common shapes."""
    titles: list[str] = []
    facts = metadata.get("supporting_facts")
    # HotpotQA / 2Wiki as HF columns: {"title": [...], "sent_id": [...]}
    if isinstance(facts, dict):
        titles = [str(t) for t in facts.get("title") or []]
    elif isinstance(facts, list):  # original JSON: [[title, sent_id], ...]
        titles = [str(f[0]) for f in facts if isinstance(f, (list, tuple)) and f]
    paragraphs = metadata.get("paragraphs")
    if not titles and isinstance(paragraphs, list):  # MuSiQue
        titles = [
            str(p["title"])
            for p in paragraphs
            if isinstance(p, dict) and p.get("is_supporting") and "title" in p
        ]
    return list(dict.fromkeys(titles))


def _parse_flashrag(record: dict[str, Any], where: str, dataset: str, index: int) -> QAExample:
    if "golden_answers" not in record:
        raise QADataError(
            f"{where}: FlashRAG record has no 'golden_answers' field; add the gold answers list"
        )
    metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    return QAExample(
        id=_record_id(record, f"{dataset}-{index}"),
        question=_question(record.get("question"), where),
        answers=_answers(record["golden_answers"], where, "golden_answers"),
        dataset=str(record.get("dataset") or dataset),
        supporting_titles=_flashrag_supporting_titles(metadata),
        type=_optional_str(metadata.get("type")),
        level=_optional_str(metadata.get("level")),
        extra={k: v for k, v in record.items() if k not in {"id", "question", "golden_answers"}},
    )


def _question_from_prompt(prompt: Any, where: str) -> str:
    """Search-R1 appends 'Question: {question}' to its instruction in the user message."""
    if isinstance(prompt, (list, tuple)):
        prompt = " ".join(m.get("content") or "" for m in prompt if isinstance(m, dict))
    marker = "Question:"
    if not isinstance(prompt, str) or marker not in prompt:
        raise QADataError(
            f"{where}: Search-R1 record has no 'question' column and its prompt has no "
            f"'{marker}' line; add a 'question' column"
        )
    return _question(prompt.rsplit(marker, 1)[1], where)


def _parse_search_r1(record: dict[str, Any], where: str, dataset: str, index: int) -> QAExample:
    reward_model = record.get("reward_model")
    ground_truth = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    if not isinstance(ground_truth, dict) or "target" not in ground_truth:
        raise QADataError(
            f"{where}: Search-R1 record has no reward_model.ground_truth.target; it holds the "
            "gold answers (see Search-R1 scripts/data_process/nq_search.py)"
        )
    source = str(record.get("data_source") or dataset)
    info = record.get("extra_info") if isinstance(record.get("extra_info"), dict) else {}
    fallback_id = f"{source}-{info.get('split', 'split')}-{info.get('index', index)}"
    question = record.get("question")
    return QAExample(
        id=_record_id(record, fallback_id),
        question=(
            _question(question, where)
            if question is not None
            else _question_from_prompt(record.get("prompt"), where)
        ),
        answers=_answers(ground_truth["target"], where, "reward_model.ground_truth.target"),
        dataset=source,
        extra={
            k: v
            for k, v in record.items()
            if k not in {"id", "question", "reward_model", "data_source", "golden_answers"}
        },
    )


Parser = Callable[[dict[str, Any], str, str, int], QAExample]


def _detect_format(record: dict[str, Any], where: str) -> Parser:
    if "reward_model" in record:
        return _parse_search_r1
    if "golden_answers" in record:
        return _parse_flashrag
    if "answers" in record:
        return _parse_normalized
    raise QADataError(
        f"{where}: unrecognized QA format (fields: {sorted(record)}). Expected one of: "
        'normalized {"id","question","answers",...}; FlashRAG {"id","question",'
        '"golden_answers",...}; Search-R1 parquet {data_source, prompt, '
        "reward_model{ground_truth{target}}, extra_info}. Rename the answers field accordingly."
    )


# ---------------------------------------------------------------------------- record sources


def _jsonl_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            where = f"{path}:{line_no}"
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")  # a BOM is fine
            except UnicodeDecodeError as e:
                raise QADataError(
                    f"{where}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                    "save the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise QADataError(
                    f"{where}: invalid JSON ({e.msg} at column {e.colno}); each line must be "
                    "one JSON object: fix or delete this line"
                ) from None
            if not isinstance(record, dict):
                raise QADataError(
                    f"{where}: expected a JSON object per line, got {type(record).__name__}"
                )
            yield where, record


def _parquet_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a non-parquet file
        raise QADataError(f"{path}: not a readable parquet file ({e})") from None
    row = 0
    for batch in parquet.iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            row += 1
            yield f"{path} row {row}", record


def _hub_records(spec: str) -> tuple[Iterator[tuple[str, dict[str, Any]]], str]:
    """Records of a Hub split and the dataset name they default to (the config, else the repo)."""
    import datasets

    match = HUB_SPEC.match(spec)
    assert match is not None, spec  # _resolve_local sends only matching specs here
    name, config, split = match["name"], match["config"], match["split"]
    try:
        if not split:
            available = datasets.get_dataset_split_names(name, config)
            split = next((s for s in HUB_DEFAULT_SPLITS if s in available), None)
            if split is None:
                raise QADataError(f"Hub dataset {spec!r} has splits {available}; pick one: @SPLIT")
        table = datasets.load_dataset(name, config, split=split)
    except QADataError:
        raise
    except Exception as e:
        raise QADataError(
            f"could not load {spec!r} as a Hub dataset ({type(e).__name__}: {e}). Offline "
            f"(HF_HUB_OFFLINE=1 or no network) only local files work: download the split and "
            f"pass the .jsonl/.parquet path, or a short name under ${DATA_ENV}"
        ) from None
    rows = ((f"{name}[{split}] row {i}", record) for i, record in enumerate(table, start=1))
    return rows, config or name.split("/")[1]


# ---------------------------------------------------------------------------- spec resolution


def data_root() -> Path:
    """Where short dataset names live: $AGENTIC_RAG_DATA, else ../shared/data/qa by the repo."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_ROOT)


def _dataset_name(path: Path) -> str:
    """`.../hotpotqa/dev.jsonl` -> hotpotqa; `nq_test.jsonl` -> nq_test."""
    return path.parent.name if path.stem in SPLIT_FILE_STEMS else path.stem


def _resolve_local(spec: str) -> Path | None:
    """The local file a spec names, or None when it must be a Hub dataset name."""
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / "dev.jsonl"
        if not path.is_file():
            found = sorted(p.name for p in path.parent.iterdir() if p.suffix in LOCAL_SUFFIXES)
            raise QADataError(
                f"{path.parent} has no dev.jsonl (QA files there: {found or 'none'}); "
                "pass the file itself"
            )
        return path
    if path.suffix in LOCAL_SUFFIXES or path.exists():
        if not path.is_file():
            raise QADataError(f"QA file not found: {path}")
        if path.suffix not in LOCAL_SUFFIXES:
            raise QADataError(
                f"{path}: unsupported file type {path.suffix!r}; use .jsonl or .parquet"
            )
        return path
    if HUB_SPEC.match(spec):
        return None
    if "/" in spec:
        raise QADataError(f"QA file or folder not found: {path}")
    candidate = data_root() / spec / "dev.jsonl"
    if not candidate.is_file():
        raise QADataError(
            f"unknown QA dataset {spec!r}: {candidate} does not exist. Set ${DATA_ENV} to the "
            "folder holding <name>/dev.jsonl, or pass a .jsonl/.parquet path"
        )
    return candidate


def load_qa(
    spec: str, *, limit: int | None = None, sample: int | None = None, seed: int = 0
) -> list[QAExample]:
    """Load the questions a spec names (see the module docstring): the first `limit` if given,
    or a seeded random `sample` of that many (all of them when the dataset has fewer)."""
    for name, value in (("limit", limit), ("sample", sample)):
        if value is not None and value < 1:
            raise QADataError(f"{name} must be a positive number of questions, got {value}")
    if limit is not None and sample is not None:
        raise QADataError("give either limit (the first N questions) or sample (N at random)")
    path = _resolve_local(spec)
    if path is None:
        records, default_dataset = _hub_records(spec)
    else:
        reader = _parquet_records if path.suffix == ".parquet" else _jsonl_records
        records, default_dataset = reader(path), _dataset_name(path)

    examples: list[QAExample] = []
    seen: dict[tuple[str, str], str] = {}
    parse: Parser | None = None
    for where, record in records:
        parse = parse or _detect_format(record, where)
        example = parse(record, where, default_dataset, len(examples))
        key = (example.dataset, example.id)
        if key in seen:
            raise QADataError(
                f"{where}: duplicate id {example.id!r} in dataset {example.dataset!r} (first at "
                f"{seen[key]}); ids must be unique so results can be resumed and compared"
            )
        seen[key] = where
        examples.append(example)
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise QADataError(f"{spec}: no QA records found; the file is empty")
    return examples if sample is None else sample_examples(examples, sample, seed)


def sample_examples(examples: list[QAExample], n: int, seed: int) -> list[QAExample]:
    """The first `n` questions of a `random.Random(seed)` shuffle, kept in file order. The same
    file, `n` and `seed` always give the same questions, and a larger `n` extends a smaller one
    (same seed), so a run on a small sample can be resumed into a larger one."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    return [examples[i] for i in sorted(order[:n])]
