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
) -> GenerationBackend:
    """`hf`: transformers on `device` (default cuda when available); `vllm`: an in-process
    `vllm.LLM`; `openai`: an OpenAI-compatible `/completions` server at `base_url` serving
    `model` (evaluation only: see backends/openai_compat.py)."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
    if kind == "openai":
        from agentic_rag.backends.openai_compat import OpenAICompatBackend, OpenAICompatConfig

        if not base_url:
            raise ValueError("backend openai needs a base URL, e.g. http://127.0.0.1:8000/v1")
        return OpenAICompatBackend(OpenAICompatConfig(base_url=base_url, model=model), tokenizer)
    if kind == "vllm":
        return _vllm_backend(model, tokenizer)
    import torch
    from transformers import AutoModelForCausalLM

    from agentic_rag.backends.hf import HFBackend

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    policy = AutoModelForCausalLM.from_pretrained(model, dtype="auto").to(device)
    return HFBackend(policy, tokenizer)


def _vllm_backend(model: str, tokenizer) -> GenerationBackend:
    """An in-process `vllm.LLM` in the checkpoint's own dtype, as the transformers backend loads
    it. On CPU it runs eagerly (torch.compile only added start-up time: docs/vllm_cpu.md); its KV
    cache there is `VLLM_CPU_KVCACHE_SPACE` GiB."""
    from vllm import LLM
    from vllm.platforms import current_platform

    from agentic_rag.backends.vllm import VLLMBackend, checkpoint_dtype

    llm = LLM(
        model=model,
        tokenizer=tokenizer.name_or_path,
        dtype=checkpoint_dtype(model),
        enforce_eager=current_platform.is_cpu(),
        seed=0,
    )
    return VLLMBackend(llm)
