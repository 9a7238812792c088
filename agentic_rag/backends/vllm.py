"""vLLM backend reusing TRL's vLLM machinery (colocate engine or `trl vllm-serve` client).

TRL creates the engine, places it on the GPUs and syncs the policy weights into it before every
rollout; this backend only issues our per-turn calls (stop strings, per-turn token caps).
Verified only by code reading and the shape tests: vLLM needs CUDA, which the development
machines lack. See docs/training.md, "What was verified where".
"""

from __future__ import annotations

from agentic_rag.backends.base import FinishReason, Generation, SamplingParams


def _sampling_kwargs(params: SamplingParams) -> dict:
    return {
        "n": 1,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,  # 0 disables top-k in vLLM (-1 is its deprecated spelling)
        "max_tokens": params.max_new_tokens,
        "logprobs": 0,  # the sampled token's log-prob only
        "stop": list(params.stop),
        "include_stop_str_in_output": True,  # the stop tokens were sampled: keep them
    }


class VLLMBackend:
    """Generates with an in-process `vllm.LLM` (colocate, or evaluation) or through TRL's
    `VLLMClient` to a `trl vllm-serve` server."""

    def __init__(self, llm=None, client=None, eos_ids: tuple[int, ...] = ()):
        if (llm is None) == (client is None):
            raise ValueError(
                "VLLMBackend needs exactly one of llm= (vllm.LLM) or client= (TRL VLLMClient)"
            )
        self.llm, self.client, self.eos_ids = llm, client, tuple(eos_ids)

    @classmethod
    def from_trainer(cls, vllm_generation, eos_ids: tuple[int, ...] = ()) -> VLLMBackend:
        """The engine TRL built for GRPOTrainer(use_vllm=True); TRL syncs weights before rollouts."""
        if getattr(vllm_generation, "enable_sleep_mode", False):
            raise ValueError(
                "vllm_enable_sleep_mode is not supported with multi-turn rollouts (the engine "
                "would sleep between turns); set vllm_enable_sleep_mode: false"
            )
        if vllm_generation.mode == "colocate":
            return cls(llm=vllm_generation.llm, eos_ids=eos_ids)
        return cls(client=vllm_generation.vllm_client, eos_ids=eos_ids)

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        if self.llm is not None:
            return self._colocate(prompts, params)
        return self._server(prompts, params)

    def _colocate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
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
            results.append(Generation(ids, logprobs, self._finish(ids, seq.finish_reason, params)))
        return results

    def _server(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        kwargs = _sampling_kwargs(params)
        extra = {
            "stop": kwargs.pop("stop"),
            "include_stop_str_in_output": kwargs.pop("include_stop_str_in_output"),
        }
        out = self.client.generate(prompts=prompts, generation_kwargs=extra, **kwargs)
        results = []
        for ids, logprobs in zip(out["completion_ids"], out["logprobs"], strict=True):
            flat = [lp[0] if isinstance(lp, list) else lp for lp in logprobs]
            results.append(Generation(list(ids), flat, self._finish(ids, None, params)))
        return results

    def _finish(self, ids, reason: str | None, params: SamplingParams) -> FinishReason:
        """vLLM's finish reason in our terms (the server client reports none: read the ids)."""
        if reason == "length" or (reason is None and len(ids) >= params.max_new_tokens):
            return "length"
        return "eos" if ids and ids[-1] in self.eos_ids else "stop"
