"""vLLM on CPU sized from the job: `cpu_kv_cache_bytes` (the KV cache eval and `use_vllm`
training give vLLM instead of its default 92% of the machine). Runs without vLLM: it reads the
checkpoint's config and the free memory only; tests/vllm runs vLLM with it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agentic_rag.backends.vllm import PROMPT_ROOM, cpu_kv_cache_bytes

# The tiny world's policy: 2 layers x 4 KV heads x 16 dims x (K, V) x float32, 2,048 positions.
PER_TOKEN = 2 * 2 * 4 * 16 * 4
CONTEXT = 2048


@pytest.fixture
def free(monkeypatch):
    """Sets the memory psutil reports free."""

    def set_free(gib: float) -> None:
        import psutil

        available = int(gib * (1 << 30))
        monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=available))

    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    set_free(16)
    return set_free


def test_the_cache_holds_the_jobs_sequences_and_at_least_one_whole_context(tiny_world, free):
    model = str(tiny_world.model)
    assert cpu_kv_cache_bytes(model, "float32", 8, 100) == 8 * (PROMPT_ROOM + 100) * PER_TOKEN
    assert cpu_kv_cache_bytes(model, "bfloat16", 8, 100) == 8 * (PROMPT_ROOM + 100) * PER_TOKEN // 2
    assert cpu_kv_cache_bytes(model, "float32", 1, 10) == CONTEXT * PER_TOKEN  # vLLM's minimum
    assert cpu_kv_cache_bytes(model, "float32", 1, 10, max_model_len=1024) == 1024 * PER_TOKEN


def test_never_more_than_half_the_free_memory_and_one_line_when_too_little(tiny_world, free):
    model = str(tiny_world.model)
    free(0.01)  # 10 MiB: 5 MiB usable, one whole context is 2 MiB
    assert cpu_kv_cache_bytes(model, "float32", 64, 1024) == int(0.01 * (1 << 30)) // 2
    free(0.003)
    with pytest.raises(ValueError, match="set VLLM_CPU_KVCACHE_SPACE=<GiB>") as raised:
        cpu_kv_cache_bytes(model, "float32", 1, 10)
    assert "\n" not in str(raised.value) and "0.00 GiB of memory is free" in str(raised.value)


def test_the_environment_variable_wins(tiny_world, free, monkeypatch):
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")
    assert cpu_kv_cache_bytes(str(tiny_world.model), "float32", 64, 1024) is None
