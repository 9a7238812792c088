"""predictions.jsonl: durable appends, truncated-tail tolerance, resume bookkeeping."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentic_rag.evaluation.predictions import (
    PredictionsFileError,
    PredictionWriter,
    finished_ids,
    read_predictions,
)


def test_round_trip(tmp_path, make_prediction):
    preds = [make_prediction(id=f"q{i}", prediction=None if i == 1 else "é") for i in range(3)]
    with PredictionWriter(tmp_path / "run" / "predictions.jsonl") as writer:
        for p in preds:
            writer.write(p)
    assert read_predictions(tmp_path / "run") == preds  # a run dir means its predictions.jsonl
    lines = (tmp_path / "run" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[1])["prediction"] is None
    assert "é" in lines[0]  # readable UTF-8, not \u escapes


def test_truncated_last_line_is_skipped_then_cut_before_appending(tmp_path, make_prediction):
    path = tmp_path / "predictions.jsonl"
    with PredictionWriter(path) as writer:
        writer.write(make_prediction(id="a"))
        writer.write(make_prediction(id="b"))
    full = path.read_bytes()
    with path.open("ab") as f:  # a crash in the middle of the third write
        f.write(json.dumps({"id": "c", "dataset": "hotpotqa"}).encode()[:20])

    with pytest.warns(UserWarning, match="truncated last line"):
        assert [p.id for p in read_predictions(path)] == ["a", "b"]
    with pytest.warns(UserWarning, match="truncated last line"):
        assert finished_ids(path, "hotpotqa", "agentic") == {"a", "b"}

    with pytest.warns(UserWarning, match="dropping a truncated last line"):
        writer = PredictionWriter(path)
    assert path.read_bytes() == full
    with writer:
        writer.write(make_prediction(id="c"))
    assert [p.id for p in read_predictions(path)] == ["a", "b", "c"]


def test_finished_ids_filters_dataset_and_mode(tmp_path, make_prediction):
    path = tmp_path / "predictions.jsonl"
    assert finished_ids(path, "hotpotqa", "agentic") == set()  # no file yet: nothing done
    with PredictionWriter(path) as writer:
        writer.write(make_prediction(id="1", dataset="hotpotqa", mode="agentic"))
        writer.write(make_prediction(id="2", dataset="hotpotqa", mode="naive"))
        writer.write(make_prediction(id="3", dataset="nq", mode="agentic"))
        writer.write(make_prediction(id="4", dataset="hotpotqa", mode="agentic"))
    assert finished_ids(path, "hotpotqa", "agentic") == {"1", "4"}
    assert finished_ids(tmp_path, "hotpotqa", "naive") == {"2"}
    assert finished_ids(path, "nq", "naive") == set()


def test_killed_writer_loses_no_written_line(tmp_path):
    """SIGKILL right after `write` returns: every line it reported written is on disk."""
    path = tmp_path / "predictions.jsonl"
    child = textwrap.dedent(
        f"""
        import time
        from agentic_rag.evaluation.predictions import Prediction, PredictionWriter
        writer = PredictionWriter({str(path)!r})
        for i in range(1000):
            writer.write(Prediction(
                id=str(i), dataset="d", mode="agentic", question="q", answers=["a"],
                prediction="a", em=1.0, sub_em=1.0, f1=1.0, num_searches=0, num_turns=1,
                generated_tokens=3, latency_s=0.1, batch_size=1, finish_reason="answer"))
            print(i, flush=True)
            if i >= 5:
                time.sleep(60)
        """
    )
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, cwd=repo
    )
    try:
        reported = [proc.stdout.readline() for _ in range(6)]
    finally:
        proc.kill()
        proc.wait()
    assert [int(r) for r in reported] == list(range(6))
    assert [p.id for p in read_predictions(path)] == [str(i) for i in range(6)]


def test_corrupted_middle_line_and_foreign_records_are_errors(tmp_path, make_prediction):
    path = tmp_path / "predictions.jsonl"
    with PredictionWriter(path) as writer:
        writer.write(make_prediction(id="a"))
    with path.open("a") as f:
        f.write("{not json\n")
    with PredictionWriter(path) as writer:
        writer.write(make_prediction(id="b"))
    with pytest.raises(PredictionsFileError, match=r"predictions.jsonl:2: invalid JSON"):
        read_predictions(path)

    path.write_text(json.dumps({"id": "x", "question": "q", "golden": "a"}) + "\n")
    with pytest.raises(PredictionsFileError, match=r":1: not a prediction record") as err:
        read_predictions(path)
    assert "unknown fields ['golden']" in str(err.value)
    assert "'dataset'" in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `agentic-rag eval` first"):
        read_predictions(tmp_path)
