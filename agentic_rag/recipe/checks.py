"""Recipe values checked at parse time: a recipe that cannot finish never starts.

Every value is checked against its field's type hint (ours, and TRL's `GRPOConfig` /
`ModelConfig` ones as listed in trl_keys.json, so fields added later are covered without a line
here), against the `choices` that TRL's and transformers' fields declare in their metadata, and against the ranges declared
once in `ALLOWED`. Each failure is one `RecipeError` naming the key, the bad value and what is
allowed. Combinations of keys are `rules.py`'s job. Nothing here imports TRL.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class RecipeError(ValueError):
    """A recipe key holds a value the run cannot use; the message says which and what is allowed."""


@dataclass(frozen=True)
class Range:
    """Numbers a key allows: `low`/`high` bounds (open or closed) and named exceptions."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    """True: the value must be above `low`, not equal to it."""
    high_open: bool = False
    also: tuple[float, ...] = ()
    """Values allowed outside the bounds (e.g. -1 for max_steps)."""
    note: str = ""
    """What those values mean, said in the error."""
    null: bool = True
    """Whether null is allowed where the type hint allows it (TRL types some required numbers
    `int | None`)."""

    def __contains__(self, value: float) -> bool:
        if value in self.also:
            return True
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (
            self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            text = (
                f"in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}"
                f"{')' if self.high_open else ']'}"
            )
        elif self.low is not None:
            text = f"{'>' if self.low_open else '>='} {_num(self.low)}"
        else:
            text = f"{'<' if self.high_open else '<='} {_num(self.high)}"
        if self.also:
            text += f", or {' or '.join(_num(v) for v in self.also)}"
        return text + (f" ({self.note})" if self.note else "")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


AT_LEAST_1 = Range(1)
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
SHARE = Range(0, 1)
OPEN_SHARE = Range(0, 1, low_open=True, high_open=True)
SEED = Range(0, 2**32 - 1)

ALLOWED: dict[str, Range | tuple[str, ...]] = {
    # TRL GRPOConfig / transformers TrainingArguments (top level)
    "learning_rate": NON_NEGATIVE,
    "beta": NON_NEGATIVE,
    "num_generations": Range(2, note="advantages compare a group's completions", null=False),
    "max_steps": Range(1, also=(-1,), note="-1 runs num_train_epochs epochs instead"),
    "num_train_epochs": NON_NEGATIVE,
    "per_device_train_batch_size": AT_LEAST_1,
    "per_device_eval_batch_size": AT_LEAST_1,
    "gradient_accumulation_steps": AT_LEAST_1,
    "steps_per_generation": AT_LEAST_1,
    "generation_batch_size": AT_LEAST_1,
    "num_iterations": AT_LEAST_1,
    "temperature": POSITIVE,
    "top_p": Range(0, 1, low_open=True),
    "top_k": NON_NEGATIVE,
    "epsilon": NON_NEGATIVE,
    "epsilon_high": NON_NEGATIVE,
    "warmup_steps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "max_grad_norm": NON_NEGATIVE,
    "adam_beta1": Range(0, 1, high_open=True),
    "adam_beta2": Range(0, 1, high_open=True),
    "adam_epsilon": NON_NEGATIVE,
    "logging_steps": POSITIVE,
    "save_steps": POSITIVE,
    "eval_steps": POSITIVE,
    "save_total_limit": AT_LEAST_1,
    "seed": SEED,
    "data_seed": SEED,
    "dataloader_num_workers": NON_NEGATIVE,
    "vllm_gpu_memory_utilization": Range(0, 1, low_open=True),
    "loss_type": ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"),
    "scale_rewards": ("group", "batch", "none"),
    "importance_sampling_level": ("token", "sequence"),
    "vllm_mode": ("server", "colocate"),
    # TRL ModelConfig
    "lora_r": AT_LEAST_1,
    "lora_alpha": AT_LEAST_1,
    "lora_dropout": Range(0, 1, high_open=True),
    # our sections
    "rollout.max_turns": AT_LEAST_1,
    "rollout.max_turn_tokens": AT_LEAST_1,
    "rollout.max_completion_tokens": AT_LEAST_1,
    "rollout.topk": AT_LEAST_1,
    "rollout.max_query_chars": AT_LEAST_1,
    "protocol.max_obs_tokens": AT_LEAST_1,
    "retriever.ef_search": AT_LEAST_1,
    "retriever.nprobe": AT_LEAST_1,
    "retriever.timeout": POSITIVE,
    "retriever.retry_budget": NON_NEGATIVE,
    "data.train_limit": AT_LEAST_1,
    "data.eval_limit": AT_LEAST_1,
    "data.holdout": NON_NEGATIVE,
    "warm_start.examples": NON_NEGATIVE,
    "warm_start.epochs": POSITIVE,
    "warm_start.learning_rate": NON_NEGATIVE,
    "warm_start.batch_size": AT_LEAST_1,
    "warm_start.trainable_layers": AT_LEAST_1,
    "update.trainable_layers": AT_LEAST_1,
    "update.max_sampling_rounds": NON_NEGATIVE,
    "update.oversample": Range(1, note="questions drawn per missing group"),
    "update.sft_coef": NON_NEGATIVE,
    "update.sft_batch_size": AT_LEAST_1,
    "credit.scale": NON_NEGATIVE,
    "credit.turn_rewards[].weight": Range(0, note="every turn reward is higher-is-better"),
    "samples.every_steps": NON_NEGATIVE,
    "samples.groups": NON_NEGATIVE,
    "offline.sft_share": OPEN_SHARE,
    "offline.shortcut_fraction": SHARE,
    "offline.model.vocab_size": Range(256, note="byte-level BPE needs every byte"),
    "offline.model.hidden_size": AT_LEAST_1,
    "offline.model.num_layers": AT_LEAST_1,
    "offline.model.num_heads": AT_LEAST_1,
    "offline.model.num_kv_heads": AT_LEAST_1,
    "offline.model.intermediate_size": AT_LEAST_1,
    "offline.model.max_position_embeddings": AT_LEAST_1,
}
"""What each key allows beyond its type: a numeric `Range`, or the strings it may be. Keys are
recipe spellings (`rollout.max_turns`; `rewards[].weight` for list entries)."""


def _key(where: str, name: str) -> str:
    return re.sub(r"\[\d+\]", "[]", f"{where}.{name}" if where else name)


Spec = Any
"""A type hint as JSON, so TRL's can be listed in trl_keys.json and checked without importing
TRL: "bool", "int", "float", "str", "null", "any", {"one_of": [values]} (a Literal or an Enum),
{"list": Spec}, {"mapping": Spec} (the values'), {"union": [Spec, ...]}."""


def spec_of(hint: Any) -> Spec:
    """The `Spec` of a Python type hint (a type we cannot spell in YAML is "any": its own
    checks apply)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"one_of": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"union": [spec_of(a) for a in args]}
    if origin in (list, tuple) or hint in (list, tuple):
        return {"list": spec_of(args[0]) if args else "any"}
    if origin is dict or hint is dict:
        return {"mapping": spec_of(args[1]) if len(args) == 2 else "any"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"one_of": [e.value for e in hint]}
    names = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}
    return names.get(hint, "any")


def describe(spec: Spec) -> str:
    """What a `Spec` accepts, in a recipe author's words."""
    if isinstance(spec, dict):
        (kind, inner), *_ = spec.items()
        if kind == "one_of":
            return "one of " + ", ".join(repr(a) for a in inner)
        if kind == "union":
            return " or ".join(describe(a) for a in inner)
        if kind == "list":
            return "a list" if inner == "any" else f"a list of {describe(inner)}"
        return "a mapping"
    words = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}
    return words.get(spec, "anything" if spec == "any" else spec)


_NO = object()


def conform(value: Any, spec: Spec) -> Any:
    """`value` as `spec` holds it (an integral float becomes an int; an int field never takes a
    bool), or `_NO`. NaN and infinities are no number a recipe means."""
    if isinstance(spec, dict):
        (kind, inner), *_ = spec.items()
        if kind == "one_of":
            return value if value in inner and not _bool_for_number(value, inner) else _NO
        if kind == "union":
            for arm in sorted(inner, key=lambda a: a != "null"):
                out = conform(value, arm)
                if out is not _NO:
                    return out
            return _NO
        if kind == "list":
            if not isinstance(value, (list, tuple)):  # one item for a list, as TRL's CLI takes it
                return value if inner != "any" and conform(value, inner) is not _NO else _NO
            items = [conform(v, inner) for v in value]
            return _NO if any(v is _NO for v in items) else type(value)(items)
        if not isinstance(value, dict):
            return _NO
        items = {k: conform(v, inner) for k, v in value.items()}
        return _NO if any(v is _NO for v in items.values()) else items
    if spec == "any":
        return value
    if spec == "null":
        return value if value is None else _NO
    if spec == "bool":
        return value if isinstance(value, bool) else _NO
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec == "int":
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        return value if number and isinstance(value, int) else _NO
    if spec == "float":
        return value if number and math.isfinite(value) else _NO
    return value if isinstance(value, str) else _NO


def _bool_for_number(value: Any, options: list) -> bool:
    """`true` is not the option 1 (Python says True == 1)."""
    return isinstance(value, bool) and not any(o is value for o in options)


def check_value(key: str, value: Any, spec: Spec, choices: Any = None) -> Any:
    """`value` conformed to `spec`, within `ALLOWED[key]` and `choices`; else RecipeError."""
    allowed = ALLOWED.get(key)
    out = conform(value, spec)
    if out is None and isinstance(allowed, Range) and not allowed.null:
        out = _NO
    if out is _NO:
        raise RecipeError(f"{key}={value!r}: expected {_what(spec, allowed)}")
    options = tuple(choices) if choices is not None else allowed
    if isinstance(options, tuple) and isinstance(out, str) and out not in options:
        raise RecipeError(f"{key}={out!r}: expected one of {', '.join(map(repr, options))}")
    number = isinstance(out, (int, float)) and not isinstance(out, bool)
    if isinstance(allowed, Range) and number and out not in allowed:
        raise RecipeError(f"{key}={out!r}: expected {_what(spec, allowed)}")
    return out


def _what(spec: Spec, allowed: Any) -> str:
    """The spec's description with the key's range after the number it bounds: "an integer
    >= 2, or null" rather than "an integer or null >= 2"."""
    if not isinstance(allowed, Range):
        return describe(spec)
    arms = spec["union"] if isinstance(spec, dict) and "union" in spec else [spec]
    optional = "null" in arms
    text = " or ".join(describe(a) for a in arms if a != "null") + f" {allowed}"
    return text + (", or null" if optional and allowed.null else "")


def _built_apart(hint: Any) -> bool:
    """A nested section or a list of them: built (and checked) entry by entry by the parser."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (list, tuple) and args:
        hint = args[0]
    return dataclasses.is_dataclass(hint)


def check_fields(cls: type, values: dict[str, Any], where: str = "") -> dict[str, Any]:
    """`values` (keys of dataclass `cls`, unknown ones already refused) checked and conformed;
    nested sections (and lists of them) are left to the caller, which builds them recursively."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = dict(values)
    for name, value in values.items():
        if _built_apart(hints[name]):
            continue
        choices = fields[name].metadata.get("choices")
        out[name] = check_value(_key(where, name), value, spec_of(hints[name]), choices)
    return out


def check_top_level_values(
    raw: dict[str, Any], specs: dict[str, Spec], choices: dict[str, list]
) -> dict[str, Any]:
    """Top-level keys (TRL's config fields, unknown ones already refused) checked against their
    `specs` and `choices` (trl_keys.json) and conformed."""
    return {
        key: check_value(key, value, specs[key], choices.get(key)) if key in specs else value
        for key, value in raw.items()
    }


def read_yaml(path: Path) -> Any:
    """A recipe file's YAML; an unreadable file or a syntax error is one RecipeError naming
    `path:line:column` (a folder, binary or non-UTF-8 file, a stray tab or bracket)."""
    if path.is_dir():
        raise RecipeError(f"recipe {path} is a folder; pass a YAML file such as recipes/tiny.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RecipeError(
            f"recipe {path} is not UTF-8 text (byte {err.start}); save it as UTF-8 YAML"
        ) from None
    except OSError as err:
        raise RecipeError(f"cannot read recipe {path}: {err.strerror or err}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise RecipeError(
            f"{_yaml_where(err, str(path))}: invalid YAML ({_yaml_why(err)})"
        ) from None


def parse_override(item: str, value: str) -> Any:
    """One `key=value` override's value as YAML; a syntax error names the override."""
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise RecipeError(
            f"override {item!r}: the value is not valid YAML ({_yaml_why(err)}); quote it, "
            "e.g. key='text'"
        ) from None


def _yaml_where(err: yaml.YAMLError, path: str) -> str:
    mark = getattr(err, "problem_mark", None)
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path


def _yaml_why(err: yaml.YAMLError) -> str:
    problem = getattr(err, "problem", None)
    context = getattr(err, "context", None)
    why = ": ".join(p for p in (context, problem) if p) or str(err)
    return " ".join(why.split())
