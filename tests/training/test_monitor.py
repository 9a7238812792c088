"""The readable per-step line and the health warnings (training/monitor.py)."""

from __future__ import annotations

from types import SimpleNamespace

from agentic_rag.training.monitor import HealthMonitor, Thresholds


def state(step: int) -> SimpleNamespace:
    return SimpleNamespace(is_world_process_zero=True, global_step=step, max_steps=50)


def test_one_readable_line_per_log():
    lines: list[str] = []
    monitor = HealthMonitor(printer=lines.append)
    logs = {
        "reward": 0.4321,
        "rewards/exact_match_reward/mean": 0.375,
        "entropy": 0.8,
        "rollout/invalid_action_share": 0.025,
        "step_time": 3.21,
        "loss": 0.1,
    }
    monitor.on_log(None, state(5), None, logs=logs)
    assert lines == [
        "[agentic-rag] step 5/50 | reward 0.432 | EM 0.375 | invalid 2.5% | entropy 0.800 | s/step 3.2"
    ]
    monitor.on_log(None, state(6), None, logs={"train_runtime": 1.0})  # not a training log
    assert len(lines) == 1


def test_warnings_after_patience_once_until_recovery():
    lines: list[str] = []
    monitor = HealthMonitor(Thresholds(patience=2), printer=lines.append)
    healthy = {"reward": 0.5, "entropy": 1.0, "frac_reward_zero_std": 0.2}
    flat = {"reward": 0.5, "entropy": 1.0, "frac_reward_zero_std": 0.95}
    for step, logs in enumerate([healthy, flat, flat, flat, healthy, flat, flat], start=1):
        monitor.on_log(None, state(step), None, logs=logs)
    warned = [w for w in monitor.warnings if "identical rewards" in w]
    assert [w.split(":")[0] for w in warned] == ["step 3", "step 7"]
    collapsing = HealthMonitor(Thresholds(patience=1), printer=lines.append)
    collapsing.on_log(None, state(1), None, logs={"reward": 0.1, "entropy": 1.0})
    collapsing.on_log(None, state(2), None, logs={"reward": 0.1, "entropy": 0.15})
    assert any("collapsing" in w for w in collapsing.warnings)
