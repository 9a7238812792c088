"""summary.json's `wall_seconds`: the run and every `--resume` of it, a part killed after its
last heartbeat counting up to that beat; a run without --resume starts again."""

from __future__ import annotations

from agentic_rag import wall_clock
from agentic_rag.wall_clock import CLOCK_FILE, WallClock


class FakeTime:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_wall_seconds_sum_every_resumed_part(tmp_path, monkeypatch):
    clock_time = FakeTime(100.0)
    monkeypatch.setattr(wall_clock.time, "perf_counter", clock_time)
    monkeypatch.setattr(wall_clock, "BEAT_SECONDS", 3600.0)  # beats are driven by hand here

    first = WallClock(tmp_path, resume=False)
    clock_time.now = 130.0
    assert first.stop() == 30.0

    killed = WallClock(tmp_path, resume=True)  # a part killed after its last heartbeat
    clock_time.now += 50.0
    killed._save()
    clock_time.now += 2.0  # lost: no beat after it
    killed._stop.set()

    resumed = WallClock(tmp_path, resume=True)
    clock_time.now += 10.0
    assert resumed.stop() == 90.0  # 30 + 50 + 10
    assert (tmp_path / CLOCK_FILE).read_text() == '{"parts": [30.0, 50.0, 10.0]}'

    fresh = WallClock(tmp_path, resume=False)  # a run without --resume starts again
    clock_time.now += 7.0
    assert fresh.stop() == 7.0
