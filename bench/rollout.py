"""Rollouts and GRPO steps: our RolloutEngine (`rollout_func`) vs TRL's native tool loop
(`GRPOTrainer(tools=[search])`), side by side in one process.

Same tiny policy (the offline default's shape and tokenizer, SFT-warm-started on tools-protocol
demonstrations so both loops issue real searches; see bench/_world.py), same questions, index, group size, budgets, rewards and chat
template (TRL renders the prompt from a `search` function whose schema equals ours; checked
below). Each run builds both trainers fresh from the same weights and seed, trains `--steps`
GRPO steps with each, alternating which side goes first; the rollout figures time every call of
the trainer's generation stage (our rollout_func, or TRL's generate + tool loop), the step time
is the last step's wall time (the first pays one-time setup). Reported: medians of the per-run
figures with min-max, and the median of the per-run ratios ours/TRL.

Rollouts are greedy by default: the brief warm start puts well-formed tool calls at the policy's
mode for some questions (0.25-0.625 searches per trajectory greedy, 5-run medians) but not yet
under T=1 sampling (0.28), and a loop that rarely searches measures only `generate`. `--sample`
uses the recipe's temperature. The GRPO loss keeps the recipe's temperature either way.

Budgets in TRL's terms: max_completion_length = max_completion_tokens, max_tool_calling_iterations
= max_turns - 1 (TRL's first generation is not an iteration), generation_kwargs.max_new_tokens =
max_turn_tokens. The search tool returns exactly our observation text (top-k passages, truncated
to max_obs_tokens).

Run: .venv/bin/python bench/rollout.py                      (the default recipe: ~3 min)
     .venv/bin/python bench/rollout.py --configs default,g16,long   (+ G=16, longer budgets)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import _world  # before torch: it sets the OpenMP wait policy
from tqdm import tqdm
from transformers import PrinterCallback, TrainerCallback

# The recipe's 48 tokens per turn fit a tags action, not a tool call (~50 tokens of JSON with
# its 400-token vocabulary, plus a thought): tools-protocol turns get 96.
TOOLS_TURN = ["rollout.max_turn_tokens=96"]
CONFIGS = {
    "default": TOOLS_TURN,
    "g16": [*TOOLS_TURN, "num_generations=16"],
    "long": [
        "rollout.max_turns=6",
        "rollout.max_turn_tokens=192",
        "rollout.max_completion_tokens=1024",
    ],
}
SIDES = ("ours", "trl")
METRICS = (
    # (key, label, higher is better)
    ("tokens_per_s", "generated tokens/s", True),
    ("trajectories_per_s", "trajectories/s", True),
    ("searches_per_s", "searches/s", True),
    ("step_s", "wall time per GRPO step (s)", False),
    ("rollout_share", "rollout share of the step", False),
    ("searches_per_traj", "searches per trajectory", None),
    ("tokens_per_traj", "model tokens per trajectory", None),
)


class StepTimes(TrainerCallback):
    def __init__(self):
        self.seconds: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)


class RolloutMeter:
    """Wraps the trainer's generation stage: wall time, model tokens (mask 1), trajectories and
    searches of every call."""

    def __init__(self, trainer, search: _world.CountingSearch):
        self.calls: list[dict[str, float]] = []
        generate = trainer._generate

        def measured(prompts):
            before = search.queries
            started = time.perf_counter()
            out = generate(prompts)
            seconds = time.perf_counter() - started
            completion_ids, mask = out[1], out[2]
            self.calls.append(
                {
                    "seconds": seconds,
                    "tokens": float(sum(map(sum, mask))),
                    "trajectories": float(len(completion_ids)),
                    "searches": float(search.queries - before),
                }
            )
            return out

        trainer._generate = measured


def recipe_for(config: str, seed: int, steps: int, out: str):
    """The tools-protocol tiny recipe with `config`'s changes, for one side of one run."""
    base = _world.load_recipe()
    prompts = base.grpo.per_device_train_batch_size // base.grpo.num_generations
    group = _world.load_recipe(CONFIGS[config]).grpo.num_generations
    recipe = _world.load_recipe(
        [
            *CONFIGS[config],
            f"per_device_train_batch_size={prompts * group}",
            f"seed={seed}",
            f"max_steps={steps}",
            f"output_dir={out}",
            'save_strategy="no"',
            'logging_strategy="no"',
            "disable_tqdm=true",
        ]
    )
    return recipe


def search_tool(protocol, search: _world.CountingSearch):
    """TRL's tool: one query per call, rendered and truncated exactly like our observations."""
    from agentic_rag.protocols.base import check_query, format_passages

    def search_fn(query: str):  # no return annotation: the schema must equal our SEARCH_TOOL
        """Search a Wikipedia-style passage index. Returns the top passages.

        Args:
            query: The search query.
        """
        error = check_query(query, protocol.config.max_query_chars)
        if error:
            return f"Error: {error}"
        (hits,) = search.search_batch([query], protocol.config.topk)
        return protocol.truncate_text(format_passages(hits), protocol.config.max_obs_tokens)

    search_fn.__name__ = "search"
    return search_fn


def make_trainer(
    side: str, recipe, world: _world.World, search: _world.CountingSearch, sample: bool
):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from agentic_rag.backends.base import GREEDY
    from agentic_rag.protocols import make_protocol
    from agentic_rag.protocols.tools import DEFAULT_TEMPLATE
    from agentic_rag.training.grpo import build_reward_funcs, make_rollout_func, to_dataset

    args = recipe.grpo
    tokenizer = AutoTokenizer.from_pretrained(world.model_dir)
    protocol = make_protocol(tokenizer, recipe.protocol)
    common = {
        "model": str(world.model_dir),
        "reward_funcs": build_reward_funcs(recipe.rewards),
        "args": args,
        "processing_class": tokenizer,
        "callbacks": [StepTimes()],
    }
    if side == "ours":
        trainer = GRPOTrainer(
            train_dataset=to_dataset(world.train),
            # greedy rollouts when not sampling; the loss keeps TRL's temperature either way
            rollout_func=make_rollout_func(
                search, tokenizer, protocol, recipe.rollout, sampling=None if sample else GREEDY
            ),
            **common,
        )
    else:
        args.max_tool_calling_iterations = recipe.rollout.max_turns - 1
        args.generation_kwargs = {
            "max_new_tokens": recipe.rollout.max_turn_tokens,
            "do_sample": sample,
        }
        template = recipe.protocol.template or DEFAULT_TEMPLATE
        rows = [
            {
                "prompt": [
                    {"role": "user", "content": template.format(question=e.question.strip())}
                ],
                "answers": list(e.answers),
            }
            for e in world.train
        ]
        tool = search_tool(protocol, search)
        _check_same_prompt(tokenizer, protocol, rows[0]["prompt"], world.train[0].question, tool)
        trainer = GRPOTrainer(train_dataset=Dataset.from_list(rows), tools=[tool], **common)
    trainer.remove_callback(PrinterCallback)  # its end-of-training dict would bury the table
    return trainer, RolloutMeter(trainer, search), common["callbacks"][0]


def _check_same_prompt(tokenizer, protocol, messages, question, tool) -> None:
    theirs = tokenizer.apply_chat_template(
        messages, tools=[tool], add_generation_prompt=True, tokenize=False
    )
    if protocol.encode(theirs) != protocol.prompt_ids(question):
        raise AssertionError("TRL's prompt differs from ours: the comparison would not be fair")


def one_run(config: str, seed: int, args, world: _world.World, first: str) -> dict:
    """Both sides, fresh trainers from the same weights and seed; per-side figures."""
    figures = {}
    for side in (first, *(s for s in SIDES if s != first)):
        search = _world.CountingSearch(world.search)
        with tempfile.TemporaryDirectory(prefix="bench_rollout_") as out:
            recipe = recipe_for(config, seed, args.steps, out)
            trainer, meter, steps_cb = make_trainer(side, recipe, world, search, args.sample)
            trainer.train()
        calls = meter.calls
        total = {k: sum(c[k] for c in calls) for k in calls[0]}
        figures[side] = {
            "tokens_per_s": total["tokens"] / total["seconds"],
            "trajectories_per_s": total["trajectories"] / total["seconds"],
            "searches_per_s": total["searches"] / total["seconds"],
            "step_s": steps_cb.seconds[-1],
            "rollout_share": calls[-1]["seconds"] / steps_cb.seconds[-1],
            "searches_per_traj": total["searches"] / total["trajectories"],
            "tokens_per_traj": total["tokens"] / total["trajectories"],
            "rollout_s": [c["seconds"] for c in calls],
            "trajectories": total["trajectories"],
        }
    return figures


def report(config: str, recipe, runs: list[dict], sample: bool) -> dict:
    r = recipe.rollout
    group = recipe.grpo.num_generations
    prompts = recipe.grpo.per_device_train_batch_size // group
    mode = f"sampled at T={recipe.sampling.temperature}" if sample else "greedy"
    print(
        f"\n[{config}] {prompts} prompts x G={group}, {mode}, max_turns {r.max_turns}, "
        f"{r.max_turn_tokens} tokens/turn, {r.max_completion_tokens} per trajectory, "
        f"top-{recipe.rollout.topk} x {recipe.protocol.max_obs_tokens} obs tokens; "
        f"{len(runs)} runs, median [min-max]"
    )
    print(f"{'':30} {'ours':>22} {'TRL native':>22} {'ours/TRL':>20}")
    summary = {}
    for key, label, _ in METRICS:
        cells = []
        for side in SIDES:
            med, lo, hi = _world.median_range([run[side][key] for run in runs])
            cells.append(f"{med:8.3g} [{lo:.3g}-{hi:.3g}]")
            summary.setdefault(side, {})[key] = [med, lo, hi]
        ratios = [run["ours"][key] / run["trl"][key] for run in runs if run["trl"][key]]
        med, lo, hi = _world.median_range(ratios) if ratios else (float("nan"),) * 3
        summary.setdefault("ratio", {})[key] = [med, lo, hi]
        print(f"{label:30} {cells[0]:>22} {cells[1]:>22} {med:7.2f}x [{lo:.2f}-{hi:.2f}]")
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--configs", default="default", help=f"comma-separated, from {sorted(CONFIGS)}")
    ap.add_argument("--runs", type=int, default=5, help="paired runs per config (>= 5 for medians)")
    ap.add_argument(
        "--steps",
        type=int,
        default=2,
        help="GRPO steps per run and side; the last one is the timed step",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--sample",
        action="store_true",
        help="sample at the recipe's temperature (default: greedy, see above)",
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()  # fmt: skip
    configs = args.configs.split(",")
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        print(f"unknown config(s) {unknown}; choose from {sorted(CONFIGS)}", file=sys.stderr)
        return 2
    _world.quiet_trainer_logs()
    world = _world.build(_world.load_recipe())
    info = _world.machine()
    print(" | ".join(f"{k} {v}" for k, v in info.items()))
    results = {"machine": info, "configs": {}}
    for config in configs:
        runs = []
        for i in tqdm(range(args.runs), desc=config, leave=False):
            first = SIDES[i % 2]  # alternate who goes first: drift on a shared machine cancels
            runs.append(one_run(config, args.seed + i, args, world, first))
        recipe = recipe_for(config, args.seed, args.steps, "unused")
        summary = report(config, recipe, runs, args.sample)
        results["configs"][config] = {"summary": summary, "runs": runs}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
