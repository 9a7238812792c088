"""The warm start's copy check: after SFT, score copying on held-out demonstrations; below the
recipe's threshold, train the warm start again (a bounded number of times) and, if it still
cannot copy, stop before GRPO spends its steps on a policy that cannot read.

Every attempt is a folder of its own (`sft`, `sft_retry1`, ...) holding its checkpoint and its
check (`copy_check.json`), so a re-run reuses finished attempts and never trains one twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from agentic_rag.training.copy_probe import CopyScore, ProbeRow, copy_score

COPY_CHECK_FILE = "copy_check.json"
"""In each warm-start attempt's folder: its copy score, the threshold and whether it passed;
`train` copies the one GRPO starts from into summary.json (`warm_start_copy`)."""


class WarmStartCopyError(RuntimeError):
    """The warm start did not learn to copy within its retries; GRPO was not started."""


def attempt_dir(out: Path, attempt: int) -> Path:
    """`out` for the first attempt, `out_retryN` for the N-th retry."""
    return out if attempt == 0 else out.with_name(f"{out.name}_retry{attempt}")


def read_check(folder: str | Path) -> dict | None:
    """A checkpoint's copy check, or None when it was never checked."""
    record = Path(folder) / COPY_CHECK_FILE
    return json.loads(record.read_text()) if record.exists() else None


def _score(folder: Path, probe: list[ProbeRow]) -> CopyScore:
    """The attempt's copy score, measured once and then read back from its record."""
    if (known := read_check(folder)) is not None:
        return CopyScore(known["answers"], known["queries"], known["demonstrations"])
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype="auto")
    return copy_score(model, probe)


def checked_warm_start(
    train: Callable[[Path, int], object],
    probe: list[ProbeRow],
    out: Path,
    *,
    min_copy: float | None,
    retries: int,
    retry_action: str,
    say: Callable[[str], None],
) -> Path:
    """Runs `train(folder, attempt)` for attempt 0 (it must reuse a finished folder), scores the
    checkpoint on `probe` and, while it copies less than `min_copy` of the held-out answers,
    retries up to `retries` times, each announced in one line. Returns the folder of the first
    attempt that passes; raises `WarmStartCopyError` when none does. With `min_copy` None the
    score is reported, never enforced."""
    if not probe:
        say("copy check skipped: no held-out demonstrations to score (warm_start.copy_probe)")
        train(out, 0)
        return out
    attempts = 1 + (retries if min_copy is not None else 0)
    for attempt in range(attempts):
        folder = attempt_dir(out, attempt)
        train(folder, attempt)
        score = _score(folder, probe)
        passed = min_copy is None or score.answers >= min_copy
        record = {**asdict(score), "min_copy": min_copy, "passed": passed, "attempt": attempt}
        (folder / COPY_CHECK_FILE).write_text(json.dumps(record, indent=2))
        if passed:
            bar = "" if min_copy is None else f" (warm_start.min_copy {min_copy})"
            say(f"warm start {score.line()}{bar}")
            return folder
        if attempt + 1 < attempts:
            say(
                f"warm start {score.line()}, below warm_start.min_copy {min_copy}:"
                f" {retry_action} (retry {attempt + 1} of {retries})"
            )
    raise WarmStartCopyError(
        f"the warm start did not learn to copy: after {attempts} attempt(s) it copies"
        f" {score.answers:.2f} of held-out answers, below warm_start.min_copy {min_copy}"
        f" (checkpoints: {', '.join(str(attempt_dir(out, a)) for a in range(attempts))})."
        " GRPO was not started: a policy that cannot copy a name out of a passage earns no"
        " exact-match reward. Try more warm_start.epochs or another warm_start.learning_rate."
    )
