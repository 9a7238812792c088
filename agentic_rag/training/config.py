"""Recipes: one YAML = TRL's `GRPOConfig` and `ModelConfig` fields at the top level (as in TRL's
own `--config` files) plus our sections `retriever`, `protocol`, `rollout`, `rewards`, `data` and,
for the offline default, `offline`.

Unknown keys are errors with a suggestion, never silently ignored: a typo in `beta` must not
train a different model than the one the user asked for.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentic_rag.protocols.base import ProtocolConfig
from agentic_rag.retrieval import RetrieverConfig
from agentic_rag.rollout import RolloutConfig


@dataclass
class RewardSpec:
    """One reward function and its weight in the total (TRL `reward_weights`)."""

    name: str
    """A name in `agentic_rag.rewards.REWARDS` (exact_match, f1, format, search_r1_format, ...)."""
    weight: float = 1.0
    """Weight in the summed reward; 0 logs the reward without training on it."""
    args: dict[str, Any] = field(default_factory=dict)
    """Arguments of reward factories (e.g. `max_searches` for search_budget)."""


@dataclass
class DataConfig:
    """Training and held-out questions (normalized JSONL/Parquet, Search-R1 parquet, FlashRAG)."""

    train: str | None = None
    """Dataset spec (see `agentic_rag.data.qa.load_qa`); the offline default generates its own."""
    eval: str | None = None
    """Held-out questions evaluated before and after GRPO (optional)."""
    train_limit: int | None = None
    """Use only the first N training questions."""
    eval_limit: int | None = None
    """Use only the first N held-out questions."""


@dataclass
class OfflineConfig:
    """The built-in offline default: fictional KB -> index -> tiny model -> SFT -> GRPO -> eval."""

    num_entities: int = 3500
    """People in the generated knowledge base, one passage each; most questions start from one."""
    num_companies: int = 150
    """Companies, one passage each. Two-hop questions go through them: the fewer there are, the
    more questions share one, and the more GRPO can earn by recalling its facts instead of
    reading them (docs/training.md)."""
    num_cities: int = 150
    """Cities, one passage each (at least one per country in each split)."""
    num_countries: int = 100
    """Countries, one passage each."""
    vocab_size: int = 2048
    hidden_size: int = 128
    num_layers: int = 2
    intermediate_size: int = 384
    sft_epochs: float = 3.0
    """Warm-start epochs over demonstrations; the copy circuit forms in the first half."""
    sft_learning_rate: float = 6e-3
    sft_examples: int = 6000
    """Training questions generated; split between the warm start and GRPO by `sft_share`."""
    sft_share: float = 0.8
    """Share of training entities whose questions are warm-start demonstrations; GRPO trains on
    the questions about the others, so its reward pays for reading, not for recall."""
    shortcut_fraction: float = 0.7
    """Share of two-hop demonstrations that answer after one search, with the bridge entity
    (wrong): the warm start then under-searches and GRPO must learn that a second search pays."""
    eval_questions: int = 200
    """Held-out questions scored before and after GRPO."""


SECTIONS = {
    "retriever": RetrieverConfig,
    "protocol": ProtocolConfig,
    "rollout": RolloutConfig,
    "data": DataConfig,
    "offline": OfflineConfig,
}


@dataclass
class Recipe:
    grpo: Any
    """trl.GRPOConfig (TRL's own fields: learning_rate, beta, num_generations, loss_type, ...)."""
    model: Any
    """trl.ModelConfig (model_name_or_path, dtype, use_peft, lora_r, ...)."""
    retriever: RetrieverConfig
    protocol: ProtocolConfig
    rollout: RolloutConfig
    data: DataConfig
    rewards: list[RewardSpec]
    offline: OfflineConfig | None = None
    source: dict[str, Any] = field(default_factory=dict)
    """The resolved YAML, saved next to checkpoints."""


def _build(cls, values: dict[str, Any], where: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        hints = {k: difflib.get_close_matches(k, names, n=1) for k in unknown}
        said = ", ".join(
            f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items()
        )
        raise ValueError(f"unknown key(s) in {where}: {said}")
    return cls(**values)


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
        target[leaf] = _yaml_value(yaml.safe_load(value))
    return raw


def parse_recipe(raw: dict[str, Any]) -> Recipe:
    from trl import GRPOConfig, ModelConfig

    raw = dict(raw)
    sections = {name: raw.pop(name, None) for name in SECTIONS}
    rewards_raw = raw.pop("rewards", None) or [{"name": "exact_match"}]
    source = {**raw, **{k: v for k, v in sections.items() if v is not None}, "rewards": rewards_raw}
    grpo_fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(raw) - grpo_fields - model_fields)
    if unknown:
        known = grpo_fields | model_fields | set(SECTIONS) | {"rewards"}
        hints = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
        said = ", ".join(
            f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items()
        )
        raise ValueError(
            f"unknown top-level key(s) in recipe: {said}. Top-level keys are TRL GRPOConfig / "
            f"ModelConfig fields; ours go under {sorted(SECTIONS)} or `rewards`."
        )
    sampling = {"temperature", "top_p", "top_k"} & set(sections["rollout"] or {})
    if sampling:
        raise ValueError(
            f"rollout.{sorted(sampling)[0]}: set sampling at the top level (TRL's GRPOConfig "
            "fields temperature/top_p/top_k), which the GRPO loss uses too"
        )
    rewards = [_build(RewardSpec, r, f"rewards[{i}]") for i, r in enumerate(rewards_raw)]
    grpo_kwargs = {k: v for k, v in raw.items() if k in grpo_fields}
    grpo_kwargs.setdefault("reward_weights", [r.weight for r in rewards])
    grpo = GRPOConfig(**grpo_kwargs)
    sections["rollout"] = {
        **(sections["rollout"] or {}),
        "temperature": grpo.temperature,
        "top_p": grpo.top_p,
        "top_k": grpo.top_k or 0,
    }
    return Recipe(
        grpo=grpo,
        model=ModelConfig(**{k: v for k, v in raw.items() if k in model_fields}),
        rewards=rewards,
        source=source,
        **{
            name: (
                _build(cls, sections[name] or {}, name)
                if (sections[name] is not None or name != "offline")
                else None
            )
            for name, cls in SECTIONS.items()
        },
    )


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"recipe {path} not found; recipes live in recipes/*.yaml")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"recipe {path} must be a YAML mapping of keys to values")
    return parse_recipe(apply_overrides(_yaml_value(raw), overrides or []))
