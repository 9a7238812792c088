"""Two recipes, the same seeds, one table: held-out EM after the warm start and after GRPO, the
gain, the steps GRPO took to reach 90% of its final training EM, and wall time, paired by seed.

Runs `agentic-rag train --config RECIPE --seed N --output-dir OUT/<recipe>_sN` for every recipe
and seed that has no summary.json yet (a killed run resumes: `--resume`), then prints the table
(markdown) and the mean paired difference of the final held-out EM between the recipes.

    .venv/bin/python scripts/compare_recipes.py recipes/tiny.yaml recipes/tiny_process.yaml \
        --seeds 0,1,2 --out runs/credit --share-warm-start [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

SMOOTHING = 0.8
"""As curves.png: the training EM is noisy (a step scores a few groups)."""


def steps_to_90(
    log_history: list[dict], key: str = "rewards/exact_match_reward/mean"
) -> int | None:
    """First logged step whose smoothed training EM reaches 90% of the last smoothed value."""
    from agentic_rag.training.curves import smoothed

    points = [(row["step"], row[key]) for row in log_history if key in row and "step" in row]
    if not points:
        return None
    steps, values = zip(*points, strict=True)
    line = smoothed(list(values), SMOOTHING)
    target = 0.9 * line[-1]
    return next(step for step, value in zip(steps, line, strict=True) if value >= target)


WARM_START = ("base_model", "index", "kb", "offline_settings.json", "sft", "eval/sft")
"""What `--share-warm-start` copies: the offline world and the warm start, with its evaluation."""


def share_warm_start(source: Path, folder: Path) -> None:
    """Start `folder` from `source`'s world and warm start, so both recipes' GRPO begins from the
    same checkpoint (the pipeline reuses them: a tighter pairing, and the SFT runs once)."""
    if folder.exists() or not (source / "sft" / "config.json").exists():
        return
    for name in WARM_START:
        if (source / name).is_dir():
            shutil.copytree(source / name, folder / name)
        elif (source / name).exists():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, folder / name)


def run(
    recipe: Path, seed: int, out: Path, overrides: list[str], warm_from: Path | None = None
) -> dict:
    folder = out / f"{recipe.stem}_s{seed}"
    summary = folder / "summary.json"
    if warm_from is not None:
        share_warm_start(warm_from, folder)
    if not summary.exists():
        cmd = [sys.executable, "-m", "agentic_rag.cli", "train", "--config", str(recipe),
               "--seed", str(seed), "--output-dir", str(folder), *overrides]  # fmt: skip
        if folder.exists():
            cmd.insert(4, "--resume")
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    result = json.loads(summary.read_text())
    history = folder / "log_history.json"
    result["steps_to_90"] = (
        steps_to_90(json.loads(history.read_text())) if history.exists() else None
    )
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("recipes", nargs=2, type=Path, help="the baseline recipe, then the other")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--share-warm-start",
        action="store_true",
        help="offline recipes that differ only after the warm start: the second recipe's run of "
        "each seed starts from the first's world and SFT checkpoint instead of rebuilding them",
    )
    ap.add_argument("overrides", nargs="*", help="key=value for both recipes")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    first, second = args.recipes
    results = {}
    for s in seeds:
        results[(first.stem, s)] = run(first, s, args.out, args.overrides)
        warm = args.out / f"{first.stem}_s{s}" if args.share_warm_start else None
        results[(second.stem, s)] = run(second, s, args.out, args.overrides, warm)
    print("\n| recipe | seed | warm start EM | after GRPO EM | gain | steps to 90% | minutes |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (name, seed), r in results.items():
        start = r.get("sft") or r.get("start")
        print(f"| {name} | {seed} | {start['em']:.3f} | {r['grpo']['em']:.3f} | "
              f"{r['grpo']['em'] - start['em']:+.3f} | {r['steps_to_90']} | "
              f"{r['wall_seconds'] / 60:.1f} |")  # fmt: skip
    a, b = (r.stem for r in args.recipes)
    diffs = [results[(b, s)]["grpo"]["em"] - results[(a, s)]["grpo"]["em"] for s in seeds]
    print(f"\n{b} - {a}, final held-out EM, paired by seed: mean {statistics.mean(diffs):+.3f} "
          f"(per seed {', '.join(f'{d:+.3f}' for d in diffs)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
