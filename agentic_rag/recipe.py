"""Recipes: the one configuration path for `train`, `eval`, `ask` and the benchmarks.

A recipe YAML holds TRL's `GRPOConfig` and `ModelConfig` fields at the top level (as TRL's own
`--config` files do) plus our sections `retriever`, `protocol`, `rollout`, `rewards`, `data` and,
for the offline default, `offline`. Overrides are `key=value` / `section.key=value` (values parse
as YAML). Every derived field is computed here, once; nothing downstream edits a recipe (sections
are frozen; change one with `dataclasses.replace`).

Unknown keys are errors with a suggestion, never silently ignored: a typo in `beta` must not train
a different model than the one asked for. Keys that moved name their new spelling.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentic_rag.backends.base import Sampling
from agentic_rag.offline.config import OfflineConfig
from agentic_rag.protocols.base import ProtocolConfig
from agentic_rag.recipe_checks import (
    RecipeError,
    check_fields,
    check_top_level_values,
    parse_override,
    read_yaml,
)
from agentic_rag.recipe_rules import check_sections, check_training
from agentic_rag.rollout import RolloutConfig
from agentic_rag.search import RetrieverConfig
from agentic_rag.training.samples import SamplesConfig
from agentic_rag.training.warm_start import WarmStartConfig

RECIPE_FILE = "recipe.yaml"
"""Saved beside every checkpoint `train` writes, so `eval` and `ask` default to its settings."""


@dataclass(frozen=True)
class RewardSpec:
    """One reward function and its weight in the total (becomes TRL's `reward_weights`)."""

    name: str
    """A name in `agentic_rag.rewards.REWARDS` (exact_match, f1, format, search_r1_format, ...)."""
    weight: float = 1.0
    """Weight in the summed reward; 0 logs the reward without training on it."""
    args: dict[str, Any] = field(default_factory=dict)
    """Arguments of reward factories (e.g. `max_searches` for search_budget)."""


@dataclass(frozen=True)
class DataConfig:
    """Questions (a recipe's `data:` section): normalized JSONL/Parquet, Search-R1 parquet,
    FlashRAG JSONL, or a short name of a shared dev set (see docs/evaluation.md)."""

    train: str | None = None
    """Training questions (comma-separated specs are concatenated); the offline default
    generates its own."""
    eval: str | None = None
    """Held-out questions: `train` evaluates the final policy on them (agentic mode, greedy) into
    OUTPUT_DIR/eval, and `eval --config` uses them when `--data` is not given."""
    train_limit: int | None = None
    """Use only the first N training questions."""
    eval_limit: int | None = None
    """Use only the first N held-out questions."""
    holdout: int = 0
    """Hold out this many `eval` questions (a seeded sample, the same for every training seed)
    from the training questions and score them before and after (OUTPUT_DIR/heldout.jsonl); 0
    scores all of `eval`, which should then not overlap `train`."""


SECTIONS: dict[str, type] = {
    "retriever": RetrieverConfig,
    "protocol": ProtocolConfig,
    "rollout": RolloutConfig,
    "data": DataConfig,
    "warm_start": WarmStartConfig,
    "samples": SamplesConfig,
    "offline": OfflineConfig,
}

MOVED = {
    "protocol.topk": "rollout.topk",
    "protocol.max_query_chars": "rollout.max_query_chars",
    "retriever.device": "retriever.encoder_device",
    "retriever.retries": "retriever.retry_budget (seconds of retrying, default 30)",
    "offline.num_entities": "offline.kb.num_people",
    "offline.num_companies": "offline.kb.num_companies",
    "offline.num_cities": "offline.kb.num_cities",
    "offline.num_countries": "offline.kb.num_countries",
    "offline.sft_examples": "offline.kb.num_train_questions",
    "offline.eval_questions": "offline.kb.num_test_questions",
    "offline.vocab_size": "offline.model.vocab_size",
    "offline.hidden_size": "offline.model.hidden_size",
    "offline.num_layers": "offline.model.num_layers",
    "offline.intermediate_size": "offline.model.intermediate_size",
    "offline.sft_epochs": "warm_start.epochs",
    "offline.sft_learning_rate": "warm_start.learning_rate",
    "reward_weights": "each reward's `weight` under `rewards:`",
    "max_completion_length": "rollout.max_completion_tokens",
    "rollout.temperature": "the top-level `temperature` (TRL's, which the GRPO loss uses too)",
    "rollout.top_p": "the top-level `top_p`",
    "rollout.top_k": "the top-level `top_k`",
}
"""Old spelling -> where the setting lives now."""

UNSUPPORTED = {
    "repetition_penalty": 1.0,
    "min_p": None,
    "generation_kwargs": None,
    "vllm_structured_outputs_regex": None,
}
"""TRL sampling options our rollouts do not apply, with their neutral value. Penalties and
filters make the sampling distribution differ from the policy the GRPO loss scores, and
structured outputs would constrain every turn to one regex; set them and the recipe is refused."""


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe: TRL's configs plus our sections, every derived field filled in."""

    grpo: Any
    """trl.GRPOConfig (learning_rate, beta, num_generations, loss_type, temperature, ...), with
    `max_completion_length` = rollout.max_completion_tokens and `reward_weights` from `rewards`;
    None when parsed for evaluation (`training=False`: TRL's device checks do not apply)."""
    model: Any
    """trl.ModelConfig (model_name_or_path, dtype, use_peft, lora_r, ...)."""
    retriever: RetrieverConfig
    protocol: ProtocolConfig
    rollout: RolloutConfig
    data: DataConfig
    warm_start: WarmStartConfig
    samples: SamplesConfig
    rewards: tuple[RewardSpec, ...]
    sampling: Sampling
    """How training rollouts sample: TRL's top-level `temperature`, `top_p`, `top_k`, the ones
    the GRPO loss uses (evaluation is greedy)."""
    offline: OfflineConfig | None = None
    source: dict[str, Any] = field(default_factory=dict)
    """The resolved YAML, saved as OUTPUT_DIR/recipe.yaml."""


def _suggest(unknown: list[str], known: set[str], prefix: str = "") -> str:
    said = []
    for key in unknown:
        if f"{prefix}{key}" in MOVED:
            said.append(f"{key!r} (now {MOVED[prefix + key]})")
            continue
        hint = difflib.get_close_matches(key, known, n=1)
        said.append(f"{key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return ", ".join(said)


def build_section(cls: type, values: Any, where: str):
    """`cls(**values)` with nested sections built recursively and unknown keys refused."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a mapping of keys to values, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {_suggest(unknown, names, f'{where}.')}")
    values = check_fields(cls, values, where)
    kwargs = {}
    for key, value in values.items():
        kind = hints[key]
        nested = kind if dataclasses.is_dataclass(kind) else None
        kwargs[key] = build_section(nested, value, f"{where}.{key}") if nested else value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from None


_SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _yaml_value(value: Any) -> Any:
    """YAML 1.1 reads `1e-6` (no dot) as a string; every ML config means the number."""
    if isinstance(value, str) and _SCIENTIFIC.match(value):
        return float(value)
    if isinstance(value, dict):
        return {k: _yaml_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yaml_value(v) for v in value]
    return value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`key=value` / `section.key=value` overrides; values parse as YAML (numbers, bools, lists)."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value or section.key=value")
        key, value = item.split("=", 1)
        target = raw
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a section")
        target[leaf] = _yaml_value(parse_override(item, value))
    return raw


def _check_top_level(raw: dict[str, Any], grpo_fields: set[str], model_fields: set[str]) -> None:
    moved = [k for k in raw if k in MOVED]
    if moved:
        raise ValueError(f"recipe key {moved[0]!r} is set elsewhere now: {MOVED[moved[0]]}")
    unknown = sorted(set(raw) - grpo_fields - model_fields)
    if unknown:
        known = grpo_fields | model_fields | set(SECTIONS) | {"rewards"}
        raise ValueError(
            f"unknown top-level key(s) in recipe: {_suggest(unknown, known)}. Top-level keys are "
            f"TRL GRPOConfig / ModelConfig fields; ours go under {sorted(SECTIONS)} or `rewards`."
        )
    for key, neutral in UNSUPPORTED.items():
        if raw.get(key, neutral) not in (neutral, {}):
            raise ValueError(
                f"{key}={raw[key]!r}: not applied by agentic_rag's rollouts (the GRPO loss would "
                "score tokens drawn from another distribution); remove it. Sampling is "
                "temperature, top_p and top_k."
            )


def parse_recipe(raw: dict[str, Any], training: bool = True) -> Recipe:
    """A `Recipe` from a YAML mapping (after overrides). `training=False` (evaluation, `ask`)
    checks every key but builds no GRPOConfig, whose device checks (bf16 needs a GPU) concern
    training only."""
    from trl import GRPOConfig, ModelConfig

    raw = dict(raw)
    sections = {name: raw.pop(name, None) for name in SECTIONS}
    rewards_raw = raw.pop("rewards", None) or [{"name": "exact_match"}]
    source = {**raw, **{k: v for k, v in sections.items() if v is not None}, "rewards": rewards_raw}
    grpo_fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    _check_top_level(raw, grpo_fields, model_fields)
    raw = check_top_level_values(raw, (GRPOConfig, ModelConfig))
    built = {
        name: build_section(cls, sections[name] or {}, name)
        for name, cls in SECTIONS.items()
        if sections[name] is not None or name != "offline"
    }
    if not isinstance(rewards_raw, list):
        raise ValueError("rewards must be a list of {name, weight, args} entries")
    rewards = tuple(
        build_section(RewardSpec, r, f"rewards[{i}]") for i, r in enumerate(rewards_raw)
    )
    model = _trl(ModelConfig, {k: v for k, v in raw.items() if k in model_fields})
    defaults = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    top = {k: raw.get(k, defaults[k]) for k in ("temperature", "top_p", "top_k")}
    sampling = Sampling(float(top["temperature"]), float(top["top_p"]), int(top["top_k"] or 0))
    common = {"model": model, "rewards": rewards, "sampling": sampling, "source": source}
    check_sections(Recipe(grpo=None, **common, **built))
    if not training:
        return Recipe(grpo=None, **common, **built)
    check_training(raw, defaults)
    grpo_kwargs = {k: v for k, v in raw.items() if k in grpo_fields}
    grpo_kwargs["reward_weights"] = [r.weight for r in rewards]
    grpo_kwargs["max_completion_length"] = built["rollout"].max_completion_tokens
    if "activation_checkpointing" in grpo_fields and "activation_checkpointing" not in raw:
        # transformers 5's name for it; TRL's default still sets the old one, which then warns
        old = grpo_kwargs.pop("gradient_checkpointing", defaults["gradient_checkpointing"])
        grpo_kwargs["activation_checkpointing"] = old
    if model.dtype and model.dtype != "auto":
        grpo_kwargs["model_init_kwargs"] = {
            **(grpo_kwargs.get("model_init_kwargs") or {}),
            "dtype": model.dtype,
        }
    return Recipe(grpo=_trl(GRPOConfig, grpo_kwargs), **common, **built)


def _trl(cls: type, kwargs: dict[str, Any]):
    """TRL's config from checked values; what its own checks still refuse is a RecipeError."""
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise RecipeError(f"TRL's {cls.__name__} refuses this recipe: {err}") from None


def set_values(raw: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys set to Python values (no YAML parsing: a path stays a string)."""
    for key, value in values.items():
        target = raw
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return raw


def derive(recipe: Recipe, changes: dict[str, Any]) -> Recipe:
    """A new recipe: `recipe`'s YAML with dotted-key `changes`, parsed again so every derived
    field follows (e.g. the offline pipeline pointing GRPO at its warm start)."""
    return parse_recipe(set_values(copy.deepcopy(recipe.source), changes))


def read_recipe_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"recipe {path} not found; recipes live in recipes/*.yaml")
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"recipe {path} must be a YAML mapping of keys to values")
    return _yaml_value(raw)


def load_recipe(
    path: str | Path | None,
    overrides: list[str] | None = None,
    values: dict[str, Any] | None = None,
    training: bool = True,
) -> Recipe:
    """The recipe at `path` (None: every default) with `key=value` overrides, then dotted-key
    `values` (from CLI flags such as `--index`), applied. See `parse_recipe` for `training`."""
    raw = read_recipe_file(path) if path is not None else {}
    raw = apply_overrides(raw, overrides or [])
    return parse_recipe(set_values(raw, values or {}), training)


def save_recipe(recipe: Recipe, folder: str | Path) -> Path:
    """Writes FOLDER/recipe.yaml (the resolved YAML): next to a checkpoint it is that
    checkpoint's protocol and budgets for `eval` and `ask`."""
    path = Path(folder) / RECIPE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe.source, sort_keys=False))
    return path


def recipe_beside(model: str | None) -> Path | None:
    """The recipe `train` saved beside a checkpoint folder, if there is one."""
    if model is None:
        return None
    path = Path(model) / RECIPE_FILE
    return path if path.is_file() else None
