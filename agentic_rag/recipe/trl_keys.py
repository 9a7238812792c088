"""The top-level keys of a recipe, TRL's `GRPOConfig` and `ModelConfig` fields, known without
importing TRL: `GRPOConfig` loads transformers and torch (seconds), and parsing a recipe for
`eval`, `ask` or `agentic-rag recipe` needs only the names, each field's type (as a
`checks.Spec`) and the choices it declares, so every value is checked at parse time.

trl_keys.json lists them for the TRL and transformers versions it names; where other versions
are installed they are read from TRL itself (correct, only slower). After an upgrade rewrite it
with `python -m agentic_rag.recipe.trl_keys`; tests/recipe/test_trl_keys.py fails until then.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

KEYS_FILE = Path(__file__).with_name("trl_keys.json")
SAMPLING_KEYS = ("temperature", "top_p", "top_k")
TRAINING_KEYS = (
    "max_steps",
    "num_train_epochs",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_generations",
    "generation_batch_size",
    "steps_per_generation",
    "eval_strategy",
    "load_best_model_at_end",
    "save_strategy",
    "use_peft",
)
"""What `rules.check_training` reads: the combinations TRL refuses once training runs are
checked without importing it."""
DEFAULT_KEYS = (*SAMPLING_KEYS, "gradient_checkpointing", *TRAINING_KEYS)


@dataclass(frozen=True)
class TrlKeys:
    versions: dict[str, str]
    """{"trl": ..., "transformers": ...}: the versions these names were read from."""
    grpo: frozenset[str]
    """`trl.GRPOConfig` fields (TRL's and transformers' `TrainingArguments`')."""
    model: frozenset[str]
    """`trl.ModelConfig` fields."""
    defaults: dict[str, float | int | bool | str | None]
    """The defaults of `DEFAULT_KEYS`: the sampling keys, `gradient_checkpointing` and the
    `TRAINING_KEYS`."""
    types: dict[str, Any]
    """Every key's type hint as a `checks.Spec` (GRPOConfig's where both configs have a key)."""
    choices: dict[str, list]
    """The values a key's field declares in its `choices` metadata, where it does."""

    def to_json(self) -> dict:
        return {
            "versions": self.versions,
            "grpo": sorted(self.grpo),
            "model": sorted(self.model),
            "defaults": self.defaults,
            "types": dict(sorted(self.types.items())),
            "choices": dict(sorted(self.choices.items())),
        }


def installed_versions() -> dict[str, str]:
    """The installed TRL and transformers versions (package metadata: nothing imported)."""
    found = {}
    for name in ("trl", "transformers"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def read_from_trl() -> TrlKeys:
    """The keys as the installed TRL defines them (imports TRL, transformers and torch)."""
    from trl import GRPOConfig, ModelConfig

    from agentic_rag.recipe.checks import spec_of

    grpo = {f.name: f for f in dataclasses.fields(GRPOConfig)}
    model = {f.name: f for f in dataclasses.fields(ModelConfig)}
    types, choices = {}, {}
    for cls in (ModelConfig, GRPOConfig):  # GRPOConfig's last: it wins a shared name
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            types[f.name] = spec_of(hints[f.name])
            if f.metadata.get("choices") is not None:
                choices[f.name] = list(f.metadata["choices"])
    return TrlKeys(
        versions=installed_versions(),
        grpo=frozenset(grpo),
        model=frozenset(model),
        defaults={k: _plain((grpo.get(k) or model[k]).default) for k in DEFAULT_KEYS},
        types=types,
        choices=choices,
    )


def _plain(value: Any) -> Any:
    """A default as JSON holds it (an Enum default as its value)."""
    return getattr(value, "value", value)


def read_file(path: Path = KEYS_FILE) -> TrlKeys:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return TrlKeys(
        versions=raw["versions"],
        grpo=frozenset(raw["grpo"]),
        model=frozenset(raw["model"]),
        defaults=raw["defaults"],
        types=raw["types"],
        choices=raw["choices"],
    )


@functools.cache
def trl_keys() -> TrlKeys:
    """From trl_keys.json when it matches the installed versions, else from TRL."""
    listed = read_file()
    return listed if listed.versions == installed_versions() else read_from_trl()


def checkpointing(value: bool) -> dict[str, bool]:
    """`gradient_checkpointing` as a TrainingArguments keyword, under the name the installed
    transformers reads without a FutureWarning: `activation_checkpointing` where it has that field
    (TRL 1.16 still sets the old name's default, so only passing the new one keeps it quiet);
    recipes keep the old name, which every version reads."""
    if "activation_checkpointing" in trl_keys().grpo:
        return {"activation_checkpointing": value}
    return {"gradient_checkpointing": value}


def main() -> None:
    KEYS_FILE.write_text(json.dumps(read_from_trl().to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {KEYS_FILE}")


if __name__ == "__main__":
    main()
