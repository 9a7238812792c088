"""Fails loudly when a TRL upgrade moves what training/trl_adapter.py reaches into."""

from __future__ import annotations

import inspect
import re

import pytest

from agentic_rag.recipe import parse_recipe
from agentic_rag.training.trl_adapter import TRAINER_ATTRIBUTES, sampling


def test_trl_internals_this_adapter_relies_on():
    from trl import GRPOTrainer
    from trl.models import unwrap_model_for_generation  # noqa: F401

    assert "rollout_func" in inspect.signature(GRPOTrainer.__init__).parameters
    source = inspect.getsource(GRPOTrainer)
    assert 'extra_fields.pop("env_mask"' in source, "TRL no longer reads env_mask from rollout_func"
    for name in TRAINER_ATTRIBUTES:
        assert f"self.{name}" in source, f"GRPOTrainer no longer sets self.{name}"


def test_trainer_exposes_adapter_attributes(tiny_world, tokenizer, tmp_path):
    from datasets import Dataset
    from trl import GRPOTrainer

    from agentic_rag.training.grpo import make_rollout_func

    recipe = parse_recipe(
        {
            "output_dir": str(tmp_path),
            "use_cpu": True,
            "bf16": False,
            "report_to": "none",
            "max_steps": 1,
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "temperature": 0.6,
            "top_k": 7,
            "rewards": [{"name": "exact_match"}, {"name": "format"}],
        }
    )
    trainer = GRPOTrainer(
        model=str(tiny_world.model),
        reward_funcs=[lambda completions, **kw: [0.0] * len(completions)] * 2,
        args=recipe.grpo,
        train_dataset=Dataset.from_list([{"prompt": "q"}] * 8),
        rollout_func=make_rollout_func(str(tiny_world.index), tokenizer),
    )
    for name in TRAINER_ATTRIBUTES:
        if name == "vllm_generation":
            continue  # set only with use_vllm
        assert hasattr(trainer, name), f"GRPOTrainer has no {name!r} any more"
    trainer._metrics["train"]["rollout/x"].append(1.0)  # defaultdict of lists, as log_metrics uses
    assert sampling(trainer) == recipe.sampling
    assert (recipe.sampling.temperature, recipe.sampling.top_k) == (0.6, 7)


@pytest.mark.parametrize("protocol", ["tags", "tools"])
def test_make_rollout_func_accepts_names_and_paths(tiny_world, tokenizer, protocol):
    from agentic_rag.training.grpo import make_rollout_func

    assert callable(make_rollout_func(str(tiny_world.index), tokenizer, protocol=protocol))


def test_the_example_trl_script_trains(tiny_world, tmp_path):
    """examples/trl_grpo.py: a user's own GRPOTrainer with our rollout_func and rewards."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "trl_grpo.py"
    assert len(script.read_text().splitlines()) <= 40
    overrides = ["max_steps=1", "use_cpu=true", "bf16=false", "report_to=none"]
    overrides += [f"output_dir={tmp_path}", 'save_strategy="no"', "logging_steps=1"]
    cmd = [sys.executable, str(script), str(tiny_world.model), str(tiny_world.index)]
    cmd += [str(tiny_world.train), *overrides]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "rollout/searches_per_trajectory" in proc.stdout + proc.stderr


def _fake_trainer(processes=1, kind="MULTI_GPU", zero_stage=None, **args):
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    defaults = {
        "use_vllm": False,
        "vllm_mode": "colocate",
        "vllm_tensor_parallel_size": 1,
        "vllm_enable_sleep_mode": False,
        "ds3_gather_for_generation": True,
    }
    plugin = SimpleNamespace(zero_stage=zero_stage)
    accelerator = SimpleNamespace(
        num_processes=processes,
        distributed_type=DistributedType[kind],
        state=SimpleNamespace(deepspeed_plugin=plugin),
    )
    return SimpleNamespace(args=SimpleNamespace(**{**defaults, **args}), accelerator=accelerator)


@pytest.mark.parametrize(
    ("setup", "refused"),
    [
        ({}, None),
        ({"processes": 8}, None),
        ({"processes": 8, "kind": "DEEPSPEED", "zero_stage": 3}, None),
        ({"processes": 8, "kind": "DEEPSPEED", "zero_stage": 2}, None),
        (
            {
                "processes": 8,
                "kind": "DEEPSPEED",
                "zero_stage": 3,
                "ds3_gather_for_generation": False,
            },
            "ds3_gather_for_generation: false",
        ),
        ({"processes": 2, "kind": "FSDP"}, "with FSDP"),
        ({"processes": 1, "kind": "FSDP"}, None),
        ({"use_vllm": True, "processes": 8}, None),
        ({"use_vllm": True, "vllm_mode": "server", "processes": 1}, None),
        ({"use_vllm": True, "vllm_mode": "server", "processes": 2}, None),
        ({"use_vllm": True, "vllm_tensor_parallel_size": 2}, "vllm_tensor_parallel_size > 1"),
        ({"use_vllm": True, "vllm_enable_sleep_mode": True}, "vllm_enable_sleep_mode"),
    ],
)
def test_generation_setups_that_would_deadlock_are_refused(setup, refused):
    from agentic_rag.training.trl_adapter import check_generation_setup

    trainer = _fake_trainer(**setup)
    if refused is None:
        check_generation_setup(trainer)
        return
    with pytest.raises(ValueError, match=re.escape(refused)) as err:
        check_generation_setup(trainer)
    if "sleep" not in refused:
        assert "Supported:" in str(err.value)


def _checkpointing(model) -> bool:
    """transformers' `is_activation_checkpointing` (`is_gradient_checkpointing` before it)."""
    return any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


def test_a_rollout_keeps_trls_gradient_checkpointing_kwargs(tiny_world, tokenizer, tmp_path):
    """Checkpointing is off while generating and back on afterwards with TRL's own kwargs."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from agentic_rag.training.trl_adapter import trainer_backend

    recipe = parse_recipe(
        {
            "output_dir": str(tmp_path),
            "use_cpu": True,
            "bf16": False,
            "report_to": "none",
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "gradient_checkpointing": True,
            # not transformers' default (False), so a re-enable without TRL's kwargs shows
            "gradient_checkpointing_kwargs": {"use_reentrant": True},
        }
    )
    trainer = GRPOTrainer(
        model=str(tiny_world.model),
        reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
        args=recipe.grpo,
        train_dataset=Dataset.from_list([{"prompt": "q"}] * 8),
    )
    model = trainer.accelerator.unwrap_model(trainer.model_wrapped)
    kwargs = trainer.args.gradient_checkpointing_kwargs
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)  # as train() does
    with trainer_backend(trainer, tokenizer) as backend:
        assert not _checkpointing(backend.model)
    assert _checkpointing(model)
    layer = model.model.layers[0]
    assert layer._gradient_checkpointing_func.keywords.get("use_reentrant") is True


def test_the_cpu_server_command_is_trls_with_our_worker_extension():
    from agentic_rag.training.vllm_sync import EXTENSION, serve_command

    command = serve_command(["--model", "/m", "--host", "127.0.0.1", "--dtype", "float32"])
    assert command[1:5] == ["-m", "vllm.entrypoints.openai.api_server", "--model", "/m"]
    assert command[-2:] == ["--worker-extension-cls", EXTENSION]
    assert command[command.index("--logprobs-mode") : command.index("--logprobs-mode") + 2] == [
        "--logprobs-mode",
        "processed_logprobs",
    ]
    assert command[command.index("--dtype") + 1] == "float32"


@pytest.mark.parametrize(
    ("url", "extension", "refused"),
    [
        ("http://127.0.0.1:8000", True, None),
        ("http://0.0.0.0:8000", True, None),  # TRL's default host: this machine
        ("http://10.1.2.3:8000", True, "needs the vLLM server on this machine"),
        ("http://localhost:8000", False, "start it with scripts/vllm_cpu_serve.py"),
    ],
)
def test_server_mode_on_cpu_needs_a_local_server_that_can_reload(url, extension, refused):
    from types import SimpleNamespace

    from agentic_rag.training.vllm_sync import EXTENSION, _check_local_server

    info = {"parallel_config": {"worker_extension_cls": EXTENSION if extension else None}}
    client = SimpleNamespace(base_url=url, get_server_info=lambda: info)
    if refused is None:
        _check_local_server(client)
        return
    with pytest.raises(ValueError, match=re.escape(refused)):
        _check_local_server(client)


def test_vllm_on_cpu_runs_in_the_policys_dtype(tiny_world):
    """What GRPOTrainer loads the policy in: TRL's float32 default, model_init_kwargs' dtype
    ("auto": the checkpoint's, as transformers reads it), or an instantiated model's own."""
    from types import SimpleNamespace

    import torch
    from transformers import AutoConfig

    from agentic_rag.training.vllm_sync import policy_dtype

    path = str(tiny_world.model)
    declared = str(AutoConfig.from_pretrained(path).dtype).removeprefix("torch.")
    for kwargs, expected in [
        (None, "float32"),
        ({"dtype": "bfloat16"}, "bfloat16"),
        ({"dtype": "auto"}, declared),
    ]:
        assert policy_dtype(path, SimpleNamespace(model_init_kwargs=kwargs)) == expected
    model = SimpleNamespace(dtype=torch.bfloat16)
    assert policy_dtype(model, SimpleNamespace(model_init_kwargs=None)) == "bfloat16"
