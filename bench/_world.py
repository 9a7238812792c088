"""The offline default's world for the training benchmarks, built once and cached.

`recipes/tiny.yaml` is read at run time (it is being tuned), switched to the tools protocol so
TRL's native tool loop and our engine see the same chat template, tool schema and observation
text, and warm-started by SFT on tools-protocol demonstrations: the untrained tiny model almost
never emits a tool call, and a loop that issues no searches measures nothing. The cache key is
the recipe's offline, protocol and seed fields, so a retuned recipe gets a fresh world.
"""

from __future__ import annotations

import os

# Before torch loads its OpenMP runtime: on a CPU shared with other jobs, OpenMP's default
# spin-waiting makes rollouts many times slower; passive waiting does not (docs/performance.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "tiny.yaml"
CACHE = ROOT / "outputs" / "bench"
# The tools protocol's own prompt, not the recipe's tags template (which names <search> tags).
TOOLS_OVERRIDES = [
    "protocol.name=tools",
    "protocol.template=null",
    "protocol.use_chat_template=true",
]
# The tools-protocol world (bench/rollout.py, which compares two loops on the same policy) gets a
# warm start far shorter than the recipe's: enough to act in the protocol's format. The tags world
# (bench/train_step.py, "a step of the default recipe") is the recipe's own SFT start: a briefly
# trained policy writes long malformed queries that make every search dear (docs/performance.md,
# the GRPO step's history).
WARM_START_OVERRIDES = {
    "tools": ["offline.kb.num_train_questions=1024", "warm_start.epochs=3"],
    "tags": [],
}


@dataclasses.dataclass
class World:
    recipe: object
    """agentic_rag.recipe.Recipe (tools protocol) the world was built from."""
    model_dir: Path
    """The SFT-warm-started tools-protocol policy both loops start from."""
    train: list
    """Training questions (QAExample) in file order."""

    @functools.cached_property
    def search(self):
        """The `Retriever` over the world's index, loaded on first use (with its encoder, which
        a GPU machine running random weights may not have)."""
        from agentic_rag.search import load_search_tool

        return load_search_tool(self.recipe.retriever)


def load_recipe(overrides: list[str] | None = None, tools: bool = True):
    """recipes/tiny.yaml with the benchmark's warm start, in the tools protocol or as it is."""
    from agentic_rag.recipe import load_recipe as _load

    protocol = TOOLS_OVERRIDES if tools else []
    warm_start = WARM_START_OVERRIDES["tools" if tools else "tags"]
    return _load(RECIPE, [*protocol, *warm_start, *(overrides or [])])


def build(recipe, seed: int | None = None, quiet: bool = True) -> World:
    """KB, index, tiny model and SFT warm start for `recipe` (cached under outputs/bench/): the
    pipeline's own first stages, `prepare_world` and `warm_start`."""
    from agentic_rag.data.splits import load_questions
    from agentic_rag.offline.world import prepare_world
    from agentic_rag.pipeline import warm_start
    from agentic_rag.recipe import derive

    if seed is not None:
        recipe = derive(recipe, {"seed": seed})
    seed = recipe.grpo.seed
    key = json.dumps(
        [
            dataclasses.asdict(recipe.offline),
            dataclasses.asdict(recipe.warm_start),
            dataclasses.asdict(recipe.protocol),
            recipe.rollout.topk,
            seed,
        ],
        sort_keys=True,
    )
    out = CACHE / f"world-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    sink = io.StringIO()
    started = time.perf_counter()
    fresh = not (out / "sft" / "config.json").exists()
    if fresh:
        print(f"building the benchmark world in {out} (SFT warm start, minutes, cached)")
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        recipe = prepare_world(derive(recipe, {"output_dir": str(out)}))
        train = load_questions(recipe.data.train)
        built = World(recipe, out / "sft", train)
        # The warm start searches only when it builds its demonstrations (a fresh world).
        built.model_dir, _, _ = warm_start(recipe, train, built.search if fresh else None)
    if fresh:
        print(f"world ready in {time.perf_counter() - started:.0f} s")
    return built


class CountingSearch:
    """The same retriever for both loops, counting what each one asks of it."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0
        self.queries = 0
        self.seconds = 0.0

    def search_batch(self, queries: list[str], k: int):
        started = time.perf_counter()
        try:
            return self.inner.search_batch(queries, k)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1
            self.queries += len(queries)

    def reset(self) -> None:
        self.calls = self.queries = 0
        self.seconds = 0.0


def timed(record: Callable[[float], None], fn: Callable) -> Callable:
    """`fn` that reports its wall time to `record` after each call."""

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            record(time.perf_counter() - started)

    return wrapper


def quiet_trainer_logs() -> None:
    """TRL/transformers print a line per logging step and per warning; a benchmark table is
    easier to read without them."""
    import logging
    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("agentic_rag").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def machine() -> dict[str, str]:
    """What the figures were measured on, printed next to them."""
    import transformers
    import trl

    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "agentic_rag", "bench"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    device = (
        torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    return {
        "commit": commit,
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
    }


def median_range(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    n = len(ordered)
    mid = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return mid, ordered[0], ordered[-1]
