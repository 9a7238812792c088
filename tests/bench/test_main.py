"""`make bench`: every benchmark is in exactly one tier, and names are checked before anything
runs (nothing is timed here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "__main__.py"


def _bench_main():
    spec = importlib.util.spec_from_file_location("bench_main", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_is_quick_or_long_by_name():
    bench = _bench_main()
    assert set(bench.QUICK).isdisjoint(bench.LONG)
    assert sorted({*bench.QUICK, *bench.LONG}) == bench.scripts()


def test_an_unknown_name_lists_the_benchmarks_and_runs_nothing(capsys):
    assert _bench_main().main(["scale", "nope"]) == 2
    out = capsys.readouterr().out
    assert "unknown benchmark(s) nope" in out and "scale_real" in out and "=====" not in out
