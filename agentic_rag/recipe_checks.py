"""Recipe values checked at parse time: a recipe that cannot finish never starts.

Every value is checked against its field's type hint (ours and TRL's `GRPOConfig` /
`ModelConfig`, so fields added later are covered without a line here), against the `choices`
that TRL's and transformers' fields declare in their metadata, and against the ranges declared
once in `ALLOWED`. Each failure is one `RecipeError` naming the key, the bad value and what is
allowed. Combinations of keys are `recipe_rules`' job.
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


def describe(hint: Any) -> str:
    """What a type hint accepts, in a recipe author's words."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return "anything"
    if hint is type(None):
        return "null"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin in (list, tuple):
        return f"a list of {describe(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(e.value) for e in hint)
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return words.get(hint, getattr(hint, "__name__", str(hint)))


_NO = object()


def conform(value: Any, hint: Any) -> Any:
    """`value` as `hint` holds it (an integral float becomes an int; an int field never takes a
    bool), or `_NO`. NaN and infinities are no number a recipe means."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if hint is type(None):
        return value if value is None else _NO
    if origin is typing.Literal:
        return value if value in args else _NO
    if origin in (typing.Union, types.UnionType):
        for arm in sorted(args, key=lambda a: a is not type(None)):
            out = conform(value, arm)
            if out is not _NO:
                return out
        return _NO
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):  # one item for a list, as TRL's CLI takes it
            return value if args and conform(value, args[0]) is not _NO else _NO
        if not args or args[0] is Any:
            return value
        items = [conform(v, args[0]) for v in value]
        return _NO if any(v is _NO for v in items) else type(value)(items)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return _NO
        if len(args) == 2 and args[1] is not Any:
            items = {k: conform(v, args[1]) for k, v in value.items()}
            return _NO if any(v is _NO for v in items.values()) else items
        return value
    if hint is bool:
        return value if isinstance(value, bool) else _NO
    if hint is int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return value if ok and math.isfinite(value) else _NO
    if hint is str:
        return value if isinstance(value, str) else _NO
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value if value in {e.value for e in hint} or isinstance(value, hint) else _NO
    return value  # a library type we do not know how to spell in YAML: its own checks apply


def check_value(key: str, value: Any, hint: Any, choices: Any = None) -> Any:
    """`value` conformed to `hint`, within `ALLOWED[key]` and `choices`; else RecipeError."""
    allowed = ALLOWED.get(key)
    out = conform(value, hint)
    if out is None and isinstance(allowed, Range) and not allowed.null:
        out = _NO
    if out is _NO:
        raise RecipeError(f"{key}={value!r}: expected {_what(hint, allowed)}")
    options = tuple(choices) if choices is not None else allowed
    if isinstance(options, tuple) and isinstance(out, str) and out not in options:
        raise RecipeError(f"{key}={out!r}: expected one of {', '.join(map(repr, options))}")
    number = isinstance(out, (int, float)) and not isinstance(out, bool)
    if isinstance(allowed, Range) and number and out not in allowed:
        raise RecipeError(f"{key}={out!r}: expected {_what(hint, allowed)}")
    return out


def _what(hint: Any, allowed: Any) -> str:
    """The hint's description with the key's range after the number it bounds: "an integer
    >= 2, or null" rather than "an integer or null >= 2"."""
    if not isinstance(allowed, Range):
        return describe(hint)
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    arms = [a for a in args if a is not type(None)] if optional else [hint]
    text = " or ".join(describe(a) for a in arms) + f" {allowed}"
    return text + (", or null" if optional and allowed.null else "")


def check_fields(cls: type, values: dict[str, Any], where: str = "") -> dict[str, Any]:
    """`values` (keys of dataclass `cls`, unknown ones already refused) checked and conformed;
    nested dataclass sections are left to the caller, which builds them recursively."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = dict(values)
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            continue
        choices = fields[name].metadata.get("choices")
        out[name] = check_value(_key(where, name), value, hint, choices)
    return out


def check_top_level_values(raw: dict[str, Any], classes: tuple[type, ...]) -> dict[str, Any]:
    """Top-level keys (TRL's config fields; unknown ones already refused) checked and conformed
    against the first of `classes` that has them; section mappings are left as they are."""
    owners: dict[str, tuple[Any, Any]] = {}
    for cls in reversed(classes):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            owners[f.name] = (hints[f.name], f.metadata.get("choices"))
    out = dict(raw)
    for key, value in raw.items():
        if key in owners:
            out[key] = check_value(key, value, *owners[key])
    return out


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
