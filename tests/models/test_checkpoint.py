"""A stage's checkpoint (a warm start, the offline base model) is reused on a re-run only when
it is whole. Bad `--model` specs are cases of tests/commands/test_errors.py."""

from __future__ import annotations

import shutil

from agentic_rag.models.checkpoint import is_complete


def test_a_stage_checkpoint_cut_short_by_a_kill_is_built_again(tiny_world, tmp_path, capsys):
    """A kill while saving leaves config.json beside weights cut short: a re-run must not reuse
    that warm start (it failed in safetensors when GRPO loaded it)."""
    stage = tmp_path / "sft"
    shutil.copytree(tiny_world.model, stage)
    assert is_complete(stage)
    weights = stage / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert not is_complete(stage)
    assert "model.safetensors is damaged" in capsys.readouterr().out
    assert not is_complete(tmp_path / "never-built")
