"""Every use of GRPOTrainer internals, in one place.

`rollout_func` is TRL's public (experimental) hook, used in `grpo.py`. What this module reaches
into is private or semi-private and may move in a TRL release; `TRAINER_ATTRIBUTES` lists it,
and tests/training/test_trl_adapter.py fails loudly when an upgrade moves any of it.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from agentic_rag.backends.base import GenerationBackend, Sampling

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is our supported path

TRAINER_ATTRIBUTES = (
    "_metrics",
    "model_wrapped",
    "accelerator",
    "args",
    "vllm_generation",
)
"""GRPOTrainer attributes read here (`vllm_generation` only when `use_vllm`)."""
TRL_DEPRECATED_CALLS = (
    "`is_gradient_checkpointing` is deprecated",
    "`gradient_checkpointing_enable` is deprecated",
    "`gradient_checkpointing_disable` is deprecated",
)
"""FutureWarnings TRL raises through newer transformers at every step and rollout (its
`unwrap_model_for_generation` and `disable_gradient_checkpointing` use the deprecated names):
TRL's calls, which no recipe can change, silenced by `build_trainer` so a run reads clean."""


def sampling(trainer) -> Sampling:
    """The trainer's sampling settings: the same temperature its loss divides logits by."""
    args = trainer.args
    return Sampling(args.temperature, args.top_p, args.top_k or 0)


def build_trainer(**kwargs):
    """`SearchGRPOTrainer(**kwargs)` (training/trainer.py: GRPOTrainer plus our `update:` and
    `credit:` settings), ready for multi-turn rollouts: where vLLM runs on CPU, with the weight
    sync that works there (TRL's own cannot: training/vllm_sync.py), and refused at once in the
    set-ups `check_generation_setup` names. Use it instead of `GRPOTrainer(...)` in your own
    script when it generates with vLLM on CPU; elsewhere both train the same."""
    from agentic_rag.training import vllm_sync
    from agentic_rag.training.trainer import SearchGRPOTrainer

    for message in TRL_DEPRECATED_CALLS:  # for the process: TRL reads it in every step
        warnings.filterwarnings("ignore", message=re.escape(message), category=FutureWarning)
    with vllm_sync.construction(kwargs["model"], kwargs["args"]):
        trainer = SearchGRPOTrainer(**kwargs)
    check_generation_setup(trainer)
    if trainer.args.use_vllm:
        vllm_sync.install(trainer)
    return trainer


def check_generation_setup(trainer) -> None:
    """Refuses, before the first rollout, the set-ups where per-turn generation would deadlock or
    silently diverge across processes, naming the ones that work.

    A multi-turn rollout makes a data-dependent number of generation calls per process (a
    process whose questions are all answered stops early). That is fine when each call is local:
    one process, DDP, ZeRO-3 with parameters gathered for generation (the default), vLLM
    colocate without tensor parallelism. vLLM server mode is a collective the backend handles
    (`VLLMServerBackend`: every process calls on every turn). Refused: FSDP and ZeRO-3 without
    gathering (the weights are sharded inside every forward pass), colocated tensor parallelism
    (its group would have to generate every turn together) and vLLM sleep mode (the engine
    would sleep between turns)."""
    from accelerate.utils import DistributedType

    args, accelerator = trainer.args, trainer.accelerator
    processes = accelerator.num_processes
    supported = (
        "Supported: one process; several processes with DDP, or with ZeRO-3 and "
        "ds3_gather_for_generation: true (the default), or with use_vllm in vllm_mode: server, "
        "or vllm_mode: colocate with vllm_tensor_parallel_size: 1."
    )
    if args.use_vllm:
        if args.vllm_enable_sleep_mode:
            raise ValueError(
                "vllm_enable_sleep_mode is not supported with multi-turn rollouts (the engine "
                "would sleep between turns); set vllm_enable_sleep_mode: false"
            )
        if args.vllm_mode == "colocate" and args.vllm_tensor_parallel_size > 1:
            raise ValueError(
                "vllm_tensor_parallel_size > 1 in colocate mode: the tensor-parallel group would "
                "have to generate every turn together. Use vllm_mode: server for a model that "
                "needs several devices. " + supported
            )
        return
    kind = accelerator.distributed_type
    zero3 = kind == DistributedType.DEEPSPEED and accelerator.state.deepspeed_plugin.zero_stage == 3
    if processes > 1 and (
        kind == DistributedType.FSDP or (zero3 and not args.ds3_gather_for_generation)
    ):
        raise ValueError(
            "the transformers backend with FSDP, or ZeRO-3 with ds3_gather_for_generation: false, "
            "shards the policy inside every forward pass, so all processes would have to make "
            "the same generation calls, which multi-turn rollouts cannot promise. Use vLLM "
            "(use_vllm: true) or ZeRO-3 with ds3_gather_for_generation: true. " + supported
        )


@contextmanager
def trainer_backend(trainer, tokenizer) -> Iterator[GenerationBackend]:
    """A backend generating with the trainer's current policy: TRL's vLLM engine or server
    (weights synced by TRL, or `vllm_sync`, before each rollout) or the policy unwrapped for
    `generate` (DDP/DeepSpeed aware, as TRL does internally; parameters gathered, so no call is
    a collective: `synced_gpus` off)."""
    check_generation_setup(trainer)
    if trainer.args.use_vllm:
        from agentic_rag.backends.vllm import VLLMBackend, VLLMServerBackend

        generation = trainer.vllm_generation
        if generation.mode == "colocate":
            yield VLLMBackend(generation.llm)
        else:  # the client exists on the main process only
            yield VLLMServerBackend(getattr(generation, "vllm_client", None))
        return
    import torch
    from trl.models import unwrap_model_for_generation

    from agentic_rag.backends.hf import HFBackend

    with (
        unwrap_model_for_generation(
            trainer.model_wrapped,
            trainer.accelerator,
            gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
            gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs,
        ) as model,
        torch.no_grad(),
    ):
        yield HFBackend(model, tokenizer, synced_gpus=False)


def log_metrics(trainer, stats: dict[str, float]) -> None:
    """Adds rollout statistics to the trainer's per-step logs (averaged across processes by TRL)."""
    mode = "train" if trainer.model.training else "eval"
    for key, value in stats.items():
        trainer._metrics[mode][f"rollout/{key}"].append(value)


def logged_values(trainer, key: str) -> list[float]:
    """The values of a train metric gathered since the last log (every pass of every step when
    logging is off, as in bench/train_step.py)."""
    return list(trainer._metrics["train"].get(key, []))
