"""predictions.jsonl: one line per answered question, appended as it completes.

Every line is flushed and fsynced before `write` returns, so a crash or Ctrl-C loses at most the
line being written; the reader drops such a truncated last line and the writer cuts it off before
appending, so a resumed run continues cleanly. Resume asks `finished_ids` what to skip.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

PREDICTIONS_FILE = "predictions.jsonl"


class PredictionsFileError(ValueError):
    """predictions.jsonl is unreadable in a way a crash cannot explain (edited or mixed files)."""


@dataclass(frozen=True)
class Prediction:
    """One question's outcome in one mode; the fields are the columns of predictions.jsonl."""

    id: str
    """The question's id in its dataset (QAExample.id)."""
    dataset: str
    mode: str
    """How it was answered: "direct", "naive" (retrieve once, then answer) or "agentic"."""
    question: str
    answers: list[str]
    """Gold answer aliases."""
    prediction: str | None
    """The final answer extracted from the output; None when the model gave none."""
    em: float
    """Exact match with any gold alias (agentic_rag.rewards.exact_match_score)."""
    sub_em: float
    """A gold alias occurs in the prediction (sub_exact_match_score)."""
    f1: float
    """Token F1, max over aliases (f1_score)."""
    num_searches: int
    """Searches whose results were shown to the model (naive: the one harness search)."""
    num_turns: int
    """Generation calls spent on this question."""
    generated_tokens: int
    """Tokens the model generated (observation tokens excluded)."""
    latency_s: float
    """Wall-clock seconds of the batch that produced this answer (batches finish together)."""
    batch_size: int
    """Questions in that batch; questions/s = count / sum(latency_s / batch_size)."""
    finish_reason: str
    """Why the episode ended (rollout engine): "answer", "max_turns", "max_tokens", "no_action"
    or "prompt_too_long" (see `error`)."""
    num_invalid: int = 0
    """Malformed actions and rejected queries (empty, too long) in this episode."""
    num_search_errors: int = 0
    """Searches that failed in the retriever (shown to the model as an error)."""
    queries: list[str] = field(default_factory=list)
    """Search queries, in the order issued."""
    retrieved_ids: list[str] = field(default_factory=list)
    """Corpus ids of every passage shown to the model, in order (all searches concatenated)."""
    retrieved_titles: list[str] = field(default_factory=list)
    """Titles of those passages, aligned with retrieved_ids."""
    supporting_ids: list[str] = field(default_factory=list)
    """Gold supporting passage ids from the dataset (for recall); empty when unknown."""
    supporting_titles: list[str] = field(default_factory=list)
    """Gold supporting passage titles, used for recall when supporting_ids is empty."""
    trajectory: str = ""
    """The full generated text: model turns and the observations inserted between them."""
    turns: list[dict] = field(default_factory=list)
    """One per generation turn: {"model": the model's text, "queries": [...], "hits": one list
    of {"id", "title", "score"} per query (or the error message of a failed search),
    "observation": the text appended after the turn}. Empty in runs written before it existed."""
    error: str | None = None
    """Why the question was not attempted (finish_reason "prompt_too_long": its prompt cannot fit
    the model's context); it scores 0. The question is then recorded cut to 2,000 characters."""

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> Prediction:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in data
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        )
        unknown = sorted(set(data) - names)
        if missing or unknown:
            raise PredictionsFileError(
                f"{where}: not a prediction record (missing fields {missing}, unknown fields "
                f"{unknown}); was this file written by another tool or version? Move it aside "
                "and re-run"
            )
        return cls(**data)


class PredictionWriter:
    """Appends predictions durably; use as a context manager around a run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_truncated_tail(self.path)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, prediction: Prediction) -> None:
        line = json.dumps(dataclasses.asdict(prediction), ensure_ascii=False) + "\n"
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _cut_truncated_tail(path: Path) -> None:
    """Drop a partial last line (no trailing newline) left by a crash, so appends stay valid."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        warnings.warn(
            f"{path}: dropping a truncated last line ({len(data) - keep} bytes) left by an "
            "interrupted run; that question will be re-run",
            stacklevel=3,
        )
        f.truncate(keep)


def read_predictions(path: str | Path) -> list[Prediction]:
    """All complete records; a truncated last line (interrupted write) is skipped with a warning."""
    path = Path(path)
    if path.is_dir():
        path = path / PREDICTIONS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no predictions file at {path}; run `agentic-rag eval` first")
    lines = path.read_text(encoding="utf-8").split("\n")
    # split() leaves "" after a final newline; anything else in the last slot is a partial line.
    tail = lines.pop()
    if tail:
        warnings.warn(
            f"{path}: ignoring a truncated last line ({len(tail)} chars) from an interrupted run",
            stacklevel=2,
        )
    predictions = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise PredictionsFileError(
                f"{where}: invalid JSON ({e.msg}) in a complete line, which an interrupted run "
                "cannot produce; the file was edited or written by two runs at once. Delete the "
                "line to re-run that question"
            ) from None
        if not isinstance(data, dict):
            raise PredictionsFileError(f"{where}: expected a JSON object per line")
        predictions.append(Prediction.from_dict(data, where))
    return predictions


def finished_ids(path: str | Path, dataset: str, mode: str) -> set[str]:
    """Ids already answered for (dataset, mode) in a predictions file; empty if there is none."""
    path = Path(path)
    if path.is_dir():
        path = path / PREDICTIONS_FILE
    if not path.is_file():
        return set()
    return {p.id for p in read_predictions(path) if p.dataset == dataset and p.mode == mode}
