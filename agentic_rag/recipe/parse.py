"""Recipes: the one configuration path for `train`, `eval`, `ask` and the benchmarks.

A recipe YAML holds TRL's `GRPOConfig` and `ModelConfig` fields at the top level (as TRL's own
`--config` files do) plus our sections `retriever`, `protocol`, `rollout`, `rewards`, `data` and,
for the offline default, `offline`. Overrides are `key=value` / `section.key=value` (values parse
as YAML). Every derived field is computed here, once; nothing downstream edits a recipe (sections
are frozen; change one with `dataclasses.replace`).

Unknown keys are errors with a suggestion, never silently ignored: a typo in `beta` must not train
a different model than the one asked for. Every value is checked here too (`checks.py`: its type
and range; `rules.py`: combinations), so a recipe that cannot run fails before any stage starts.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentic_rag.backends.base import Sampling
from agentic_rag.recipe.checks import (
    RecipeError,
    check_fields,
    check_top_level_values,
    parse_override,
    read_yaml,
)
from agentic_rag.recipe.rules import check_sections, check_training
from agentic_rag.recipe.sections import (
    SECTIONS,
    CreditConfig,
    DataConfig,
    OfflineConfig,
    ProtocolConfig,
    RetrieverConfig,
    RewardSpec,
    RolloutConfig,
    SamplesConfig,
    UpdateConfig,
    WarmStartConfig,
)
from agentic_rag.recipe.trl_keys import checkpointing, trl_keys

RECIPE_FILE = "recipe.yaml"
"""Saved beside every checkpoint `train` writes, so `eval` and `ask` default to its settings."""


DERIVED = {
    "reward_weights": "each reward's `weight` under `rewards:`",
    "max_completion_length": "rollout.max_completion_tokens",
}
"""TRL keys this parser sets from our sections (set them there): a value given here would be
overwritten, so it is refused instead."""

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
    """A parsed recipe: TRL's top-level keys plus our sections, every derived field filled in.

    Parsing imports nothing heavy; TRL's config objects are built on first use (`grpo`,
    `model`), so `eval`, `ask` and `agentic-rag recipe` never load transformers for them.
    """

    trl: dict[str, Any]
    """The top-level keys as written: TRL `GRPOConfig` and `ModelConfig` fields."""
    retriever: RetrieverConfig
    protocol: ProtocolConfig
    rollout: RolloutConfig
    data: DataConfig
    warm_start: WarmStartConfig
    samples: SamplesConfig
    update: UpdateConfig
    credit: CreditConfig
    rewards: tuple[RewardSpec, ...]
    sampling: Sampling
    """How training rollouts sample: TRL's top-level `temperature`, `top_p`, `top_k`, the ones
    the GRPO loss uses (evaluation is greedy)."""
    offline: OfflineConfig | None = None
    source: dict[str, Any] = field(default_factory=dict)
    """The resolved YAML, saved as OUTPUT_DIR/recipe.yaml."""

    @functools.cached_property
    def grpo(self):
        """trl.GRPOConfig (learning_rate, beta, num_generations, loss_type, temperature, ...),
        with `max_completion_length` = rollout.max_completion_tokens and `reward_weights` from
        `rewards`. Built on first use: its device checks (bf16 needs a GPU) concern training, as
        do the combinations `rules.check_training` checks first."""
        from trl import GRPOConfig

        check_training(self)
        keys = trl_keys()
        kwargs = {k: v for k, v in self.trl.items() if k in keys.grpo}
        if "activation_checkpointing" not in kwargs:
            default = keys.defaults["gradient_checkpointing"]
            kwargs.update(checkpointing(kwargs.pop("gradient_checkpointing", default)))
        kwargs["reward_weights"] = [r.weight for r in self.rewards]
        kwargs["max_completion_length"] = self.rollout.max_completion_tokens
        if self.model.dtype and self.model.dtype != "auto":
            kwargs["model_init_kwargs"] = {
                **(kwargs.get("model_init_kwargs") or {}),
                "dtype": self.model.dtype,
            }
        return _trl(GRPOConfig, kwargs)

    @functools.cached_property
    def model(self):
        """trl.ModelConfig (model_name_or_path, dtype, use_peft, lora_r, ...)."""
        from trl import ModelConfig

        names = trl_keys().model
        return _trl(ModelConfig, {k: v for k, v in self.trl.items() if k in names})


def _trl(cls: type, kwargs: dict[str, Any]):
    """TRL's config from checked values; what its own checks still refuse is a RecipeError."""
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise RecipeError(f"TRL's {cls.__name__} refuses this recipe: {err}") from None


def _suggest(unknown: list[str], known: set[str], top_level: frozenset[str] = frozenset()) -> str:
    said = []
    for key in unknown:
        hint = difflib.get_close_matches(key, known, n=1)
        if key in top_level:
            said.append(f"{key!r} (a top-level key, not a section's)")
        else:
            said.append(f"{key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return ", ".join(said)


def build_section(cls: type, values: Any, where: str):
    """`cls(**values)` with nested sections (and lists of them) built recursively, unknown keys
    refused and every value checked."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise RecipeError(f"{where} must be a mapping of keys to values, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        top_level = trl_keys().grpo | trl_keys().model
        raise RecipeError(f"unknown key(s) in {where}: {_suggest(unknown, names, top_level)}")
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise RecipeError(
            f"{where}: {', '.join(missing)} is required (known keys: {sorted(names)})"
        )
    kwargs = check_fields(cls, values, where)
    for key, value in values.items():
        kind = hints[key]
        entry = typing.get_args(kind)[0] if typing.get_origin(kind) in (list, tuple) else None
        if dataclasses.is_dataclass(kind):
            kwargs[key] = build_section(kind, value, f"{where}.{key}")
        elif dataclasses.is_dataclass(entry):
            if not isinstance(value, (list, tuple)):
                raise RecipeError(f"{where}.{key} must be a list of mappings, got {value!r}")
            built = [build_section(entry, v, f"{where}.{key}[{i}]") for i, v in enumerate(value)]
            kwargs[key] = tuple(built)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{where}: {err}") from None


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
            raise RecipeError(f"override {item!r} must look like key=value or section.key=value")
        key, value = item.split("=", 1)
        target = raw
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise RecipeError(f"override {item!r}: {part!r} is not a section")
        target[leaf] = _yaml_value(parse_override(item, value))
    return raw


def _check_top_level(raw: dict[str, Any], grpo_fields: set[str], model_fields: set[str]) -> None:
    derived = [k for k in raw if k in DERIVED]
    if derived:
        raise RecipeError(f"{derived[0]!r} is derived from {DERIVED[derived[0]]}: set it there")
    unknown = sorted(set(raw) - grpo_fields - model_fields)
    if unknown:
        known = grpo_fields | model_fields | set(SECTIONS) | {"rewards"}
        raise RecipeError(
            f"unknown top-level key(s) in recipe: {_suggest(unknown, known)}. Top-level keys are "
            f"TRL GRPOConfig / ModelConfig fields; ours go under {sorted(SECTIONS)} or `rewards`."
        )
    for key, neutral in UNSUPPORTED.items():
        if raw.get(key, neutral) not in (neutral, {}):
            raise RecipeError(
                f"{key}={raw[key]!r}: not applied by agentic_rag's rollouts (the GRPO loss would "
                "score tokens drawn from another distribution); remove it. Sampling is "
                "temperature, top_p and top_k."
            )


def parse_recipe(raw: dict[str, Any]) -> Recipe:
    """A `Recipe` from a YAML mapping (after overrides): every key checked, nothing imported."""
    raw = dict(raw)
    sections = {name: raw.pop(name, None) for name in SECTIONS}
    rewards_raw = raw.pop("rewards", None) or [{"name": "exact_match"}]
    source = {**raw, **{k: v for k, v in sections.items() if v is not None}, "rewards": rewards_raw}
    keys = trl_keys()
    _check_top_level(raw, set(keys.grpo), set(keys.model))
    raw = check_top_level_values(raw, keys.types, keys.choices)
    built = {
        name: build_section(cls, sections[name] or {}, name)
        for name, cls in SECTIONS.items()
        if sections[name] is not None or name != "offline"
    }
    if not isinstance(rewards_raw, list):
        raise RecipeError("rewards must be a list of {name, weight, args} entries")
    rewards = tuple(
        build_section(RewardSpec, r, f"rewards[{i}]") for i, r in enumerate(rewards_raw)
    )
    top = {k: raw.get(k, keys.defaults[k]) for k in ("temperature", "top_p", "top_k")}
    sampling = Sampling(float(top["temperature"]), float(top["top_p"]), int(top["top_k"] or 0))
    recipe = Recipe(trl=raw, rewards=rewards, sampling=sampling, source=source, **built)
    check_sections(recipe)
    return recipe


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
        raise RecipeError(f"recipe {path} must be a YAML mapping of keys to values")
    return _yaml_value(raw)


def load_recipe(
    path: str | Path | None,
    overrides: list[str] | None = None,
    values: dict[str, Any] | None = None,
) -> Recipe:
    """The recipe at `path` (None: every default) with `key=value` overrides, then dotted-key
    `values` (from CLI flags such as `--index`), applied."""
    raw = read_recipe_file(path) if path is not None else {}
    raw = apply_overrides(raw, overrides or [])
    return parse_recipe(set_values(raw, values or {}))


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
