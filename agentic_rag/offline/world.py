"""The offline default's world, the first stage of `train` for a recipe with an `offline:`
section: a seeded fictional KB, its MiniLM index and an untrained tiny policy, built under
OUTPUT_DIR and reused on a re-run. The recipe it returns points at them, and the pipeline goes
on as for any recipe."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from agentic_rag.protocols.tags import INVALID_ACTION_MESSAGE, SEARCH_R1_TEMPLATE
from agentic_rag.recipe import Recipe, derive
from agentic_rag.recipe.sections import OfflineConfig, ProtocolConfig

# Fixed text every trajectory contains; in the tokenizer's training data so it gets short tokens.
PROTOCOL_TEXTS = (
    SEARCH_R1_TEMPLATE,
    INVALID_ACTION_MESSAGE,
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    'Doc 1(Title: "',
    "I need to search.",
    "I need to search again.",
    "I know the answer.",
)
SETTINGS_FILE = "offline_settings.json"


class StaleOutputError(ValueError):
    """The output directory holds stages built with other settings."""


def prepare_world(
    recipe: Recipe, resume: bool = False, check: Callable[[Recipe], None] | None = None
) -> Recipe:
    """Builds (or reuses) the world under `output_dir` and returns the recipe pointed at it: its
    index as the retriever, its training and held-out questions as `data.train` and
    `data.eval`, and, unless the recipe names a `model_name_or_path` (a real model on the
    fictional world: recipes/smollm2_offline.yaml), the untrained tiny policy as the model.
    `check` sees the recipe pointed at the world's questions before the index is built (cheap
    checks before the expensive part); `resume` continues an interrupted index build."""
    out = Path(recipe.grpo.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    given = recipe.model.model_name_or_path
    check_reusable(
        out,
        {
            "seed": recipe.grpo.seed,
            "offline": asdict(recipe.offline),
            "warm_start": asdict(recipe.warm_start),
            "protocol": asdict(recipe.protocol),
            "topk": recipe.rollout.topk,
            "bf16": recipe.grpo.bf16,
            **({"model": given} if given else {}),
        },
    )

    def check_questions(kb: dict[str, Path]) -> None:
        if check is not None:
            check(derive(recipe, {"data.train": str(kb["train"]), "data.eval": str(kb["test"])}))

    seed = recipe.grpo.seed
    world = build_world(
        recipe.offline, recipe.protocol, out, seed, not given, resume, check_questions
    )
    changes = {
        "retriever.index": str(world["index"]),
        "data.train": str(world["train"]),
        "data.eval": str(world["test"]),
    }
    if not given:
        changes["model_name_or_path"] = str(world["base_model"])
    return derive(recipe, changes)


def check_reusable(out: Path, settings: dict) -> None:
    """Stages are reused on a re-run, so only when they were built with the same settings."""
    stamp = out / SETTINGS_FILE
    settings = json.loads(json.dumps(settings, default=str))
    if not stamp.exists():
        stamp.write_text(json.dumps(settings, indent=2))
        return
    built = json.loads(stamp.read_text())
    changed = sorted(k for k in built.keys() | settings.keys() if built.get(k) != settings.get(k))
    if changed:
        raise StaleOutputError(
            f"{out} holds stages built with other settings (changed: {', '.join(changed)});"
            f" pass a new --output-dir, or delete {out} to rebuild from scratch"
        )


def build_world(
    cfg: OfflineConfig,
    protocol: ProtocolConfig,
    out: Path,
    seed: int,
    tiny: bool = True,
    resume: bool = False,
    check: Callable[[dict[str, Path]], None] | None = None,
) -> dict[str, Path]:
    """KB files (corpus, train, test), index and (with `tiny`) the untrained tiny model under
    `out`. `check` sees the KB files first; `resume` continues an interrupted index build (a
    model folder cut short by a kill is built again)."""
    from agentic_rag.models.checkpoint import is_complete
    from agentic_rag.offline.kb import generate_kb, iter_texts, write_kb
    from agentic_rag.offline.tiny_model import save_tiny
    from retriever_index.build import BuildConfig, build_index

    kb = generate_kb(seed, cfg.kb)
    paths = write_kb(kb, out / "kb")
    if check is not None:
        check(paths)
    index_dir = out / "index"
    if not (index_dir / "manifest.json").exists():
        build_index(BuildConfig(corpus=str(paths["corpus"]), out=str(index_dir), resume=resume))
    model_dir = out / "base_model"
    if tiny and not is_complete(model_dir):
        texts = [*iter_texts(kb), *PROTOCOL_TEXTS, protocol.template or ""]
        save_tiny(texts, model_dir, cfg.model, seed=seed)
    return {**paths, "index": index_dir, **({"base_model": model_dir} if tiny else {})}
