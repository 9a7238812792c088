"""Viewer fixtures: a headless Chromium for the session (skipped, with the reason, when none is
installed) and a real evaluation run of the untrained tiny model over the session's tiny world."""

from __future__ import annotations

from pathlib import Path

import pytest

from .browser import Browser, find_chromium


@pytest.fixture(scope="session")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            "no Chromium found (PATH or $CHROMIUM): install Debian's with "
            "`apt-get install -y chromium` (.ci/run does) to run the browser tests"
        )
    with Browser(executable) as b:
        yield b


@pytest.fixture(scope="session")
def tiny_eval_run(tiny_world, tmp_path_factory) -> Path:
    """`agentic-rag eval` of the untrained tiny policy, naive and agentic, on 16 questions."""
    from agentic_rag.evaluation.evaluate import EvalSettings, evaluate
    from agentic_rag.recipe.sections import RetrieverConfig, RolloutConfig

    out = tmp_path_factory.mktemp("tiny_eval_run")
    evaluate(
        EvalSettings(
            model=str(tiny_world.model),
            data=[str(tiny_world.test)],
            modes=["naive", "agentic"],
            out=str(out),
            retriever=RetrieverConfig(index=str(tiny_world.index)),
            rollout=RolloutConfig(max_turns=2, max_turn_tokens=24, topk=3),
            batch_size=16,
            progress=False,
        )
    )
    return out
