"""Recipes are checked whole at parse time: every value's type and range (ours and TRL's, the
latter from trl_keys.json without importing TRL) and YAML syntax, each as one error naming the
key, the bad value and what is allowed. Combinations of keys: test_rules.py."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path

import pytest

from agentic_rag.recipe import load_recipe
from agentic_rag.recipe.checks import ALLOWED, Range, RecipeError, describe, spec_of
from agentic_rag.recipe.sections import SECTIONS, RewardSpec

TINY = Path(__file__).resolve().parents[2] / "recipes" / "tiny.yaml"
BASE = ["use_cpu=true", "bf16=false", "report_to=none", "output_dir=/tmp/never-written"]


@pytest.mark.parametrize(
    ("override", "said"),
    [
        # the examples
        ("max_steps=abc", "max_steps='abc': expected an integer >= 1, or -1"),
        ("rollout.max_turns=four", "rollout.max_turns='four': expected an integer >= 1"),
        ("num_generations=0", "num_generations=0: expected an integer >= 2"),
        ("rollout.max_turns=0", "rollout.max_turns=0: expected an integer >= 1"),
        ("beta=nan", "beta='nan': expected a number >= 0"),
        ("beta=.nan", "beta=nan: expected a number >= 0"),
        ("learning_rate=.inf", "learning_rate=inf: expected a number >= 0"),
        ("max_steps=-5", "max_steps=-5: expected an integer >= 1, or -1"),
        # the class: TRL's types and ranges, ours, choices from TRL's own field metadata
        ("use_cpu=maybe", "use_cpu='maybe': expected true or false"),
        ("per_device_train_batch_size=2.5", "per_device_train_batch_size=2.5: expected an integer"),
        ("per_device_train_batch_size=true", "per_device_train_batch_size=True: expected an int"),
        ("seed=-1", "seed=-1: expected an integer in [0, 4294967295]"),
        ("top_p=0", "top_p=0: expected a number in (0, 1]"),
        ("temperature=0", "temperature=0: expected a number > 0"),
        ("lora_dropout=1.0", "lora_dropout=1.0: expected a number in [0, 1)"),
        ("dtype=fp8", "dtype='fp8': expected one of 'auto', 'bfloat16', 'float16', 'float32'"),
        ("loss_type=ppo", "loss_type='ppo': expected one of 'grpo'"),
        ("save_total_limit=0", "save_total_limit=0: expected an integer >= 1, or null"),
        ("protocol.name=xml", "protocol.name='xml': expected one of 'tags', 'tools'"),
        ("protocol.max_obs_tokens=-1", "protocol.max_obs_tokens=-1: expected an integer >= 1"),
        ("retriever.timeout=0", "retriever.timeout=0: expected a number > 0"),
        ("retriever.index=[a]", "retriever.index=['a']: expected a string or null"),
        ("data.holdout=-3", "data.holdout=-3: expected an integer >= 0"),
        ("warm_start.epochs=0", "warm_start.epochs=0: expected a number > 0"),
        ("rewards=[{name: f1, weight: .nan}]", "rewards[].weight=nan: expected a number"),
        ("rewards=[{name: f1, weight: heavy}]", "rewards[].weight='heavy': expected a number"),
        ("rewards=[{name: bleu}]", "rewards[0]: unknown reward 'bleu'"),
        ("rewards=[{name: search_budget, args: {budget: 3}}]", "rewards[0]: reward 'search_b"),
        # grpo's sections: update, credit and its turn rewards
        ("update.trainable_layers=0", "update.trainable_layers=0: expected an integer >= 1, or n"),
        ("update.dynamic_sampling=yes_please", "update.dynamic_sampling='yes_please': expected t"),
        ("update.max_sampling_rounds=-1", "update.max_sampling_rounds=-1: expected an integer >="),
        ("update.oversample=0.5", "update.oversample=0.5: expected a number >= 1 (questions dr"),
        ("update.sft_coef=-0.1", "update.sft_coef=-0.1: expected a number >= 0"),
        ("update.sft_coef=.nan", "update.sft_coef=nan: expected a number >= 0"),
        ("update.sft_batch_size=0", "update.sft_batch_size=0: expected an integer >= 1"),
        ("update.sft_batch_size=2.5", "update.sft_batch_size=2.5: expected an integer >= 1"),
        ("credit.scale=-1", "credit.scale=-1: expected a number >= 0"),
        ("credit.scale=lots", "credit.scale='lots': expected a number >= 0"),
        ("credit.turn_rewards=information_gain", "credit.turn_rewards must be a list of mappings"),
        ("credit.turn_rewards=[redundancy]", "credit.turn_rewards[0] must be a mapping"),
        ("credit.turn_rewards=[{name: redundancy, wieght: 1}]", "(did you mean 'weight'?)"),
        ("credit.turn_rewards=[{weight: 1}]", "credit.turn_rewards[0]: name is required"),
        ("credit.turn_rewards=[{name: 3}]", "credit.turn_rewards[].name=3: expected a string"),
        ("credit.turn_rewards=[{name: redundancy, weight: -1}]", "turn_rewards[].weight=-1: exp"),
        ("credit.turn_rewards=[{name: redundancy, weight: .inf}]", "[].weight=inf: expected a n"),
        ("credit.turn_rewards=[{name: search_cost, args: 0.1}]", "[].args=0.1: expected a mapp"),
    ],
)
def test_bad_values_are_one_error_naming_key_value_and_what_is_allowed(override, said):
    base = [*BASE, "per_device_train_batch_size=32", "num_generations=8"]
    with pytest.raises(RecipeError) as caught:
        load_recipe(None, [*base, override])
    message = str(caught.value)
    assert said in message and "\n" not in message


def test_the_offline_sections_are_checked_before_the_world_is_built():
    for override, said in [
        ("offline.sft_share=1", "offline.sft_share=1: expected a number in (0, 1)"),
        ("offline.kb.num_people=many", "offline.kb.num_people='many': expected an integer"),
        ("offline.model.vocab_size=100", "offline.model.vocab_size=100: expected an integer >="),
    ]:
        with pytest.raises(RecipeError, match=re.escape(said)):
            load_recipe(TINY, [override])
    # TRL's own spelling of "train num_train_epochs epochs"
    assert load_recipe(TINY, ["max_steps=-1"]).grpo.max_steps == -1


def test_values_are_conformed_not_just_checked():
    r = load_recipe(None, [*BASE, "max_steps=1e3", "learning_rate=1", "lora_target_modules=q"])
    assert r.grpo.max_steps == 1000 and isinstance(r.grpo.max_steps, int)
    assert r.grpo.learning_rate == 1
    assert r.model.lora_target_modules == "q"  # one item where TRL takes a list, as its CLI does
    # our sections' values are conformed too, and a list of sections is built entry by entry
    r = load_recipe(None, ["update.sft_batch_size=8.0", "credit.scale=1", CREDIT])
    assert r.update.sft_batch_size == 8 and isinstance(r.update.sft_batch_size, int)
    (spec,) = r.credit.turn_rewards
    assert (spec.name, spec.weight, spec.args) == ("search_cost", 0.5, {"cost": 0.2})
    assert r.credit.enabled
    with pytest.raises(RecipeError, match="rollout.topk=0"):  # eval parses recipes too
        load_recipe(None, ["rollout.topk=0"])


CREDIT = "credit.turn_rewards=[{name: search_cost, weight: 0.5, args: {cost: 0.2}}]"


def test_trl_types_are_specs_that_say_what_they_take():
    """TRL's hints as trl_keys.json holds them: read back, they accept and refuse as the hints
    do, and say so in a recipe author's words."""
    from agentic_rag.recipe.trl_keys import read_file

    keys = read_file()
    assert keys.types["beta"] == "float" and keys.types["max_steps"] == "int"
    assert keys.types["report_to"] == {"union": ["null", "str", {"list": "str"}]}
    assert keys.choices["dtype"] == ["auto", "bfloat16", "float16", "float32"]
    assert set(keys.types) == keys.grpo | keys.model
    hint = typing.Literal["a", "b"] | None
    assert describe(spec_of(hint)) == "one of 'a', 'b' or null"
    assert describe(spec_of(tuple[int, ...])) == "a list of an integer"


def test_yaml_syntax_errors_name_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("output_dir: x\nrollout: {max_turns: 2\nseed: 1\n")
    with pytest.raises(RecipeError, match=re.escape(f"{bad}:3:5: invalid YAML")):
        load_recipe(bad)
    (tmp_path / "tab.yaml").write_text("seed: 1\n\tbeta: 0.1\n")
    with pytest.raises(RecipeError, match=r"tab.yaml:2:1: invalid YAML .*'\\t'"):
        load_recipe(tmp_path / "tab.yaml")
    (tmp_path / "latin1.yaml").write_bytes("output_dir: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RecipeError, match="is not UTF-8 text"):
        load_recipe(tmp_path / "latin1.yaml")
    with pytest.raises(RecipeError, match="is a folder; pass a YAML file"):
        load_recipe(tmp_path)
    with pytest.raises(RecipeError, match=r"override 'beta=\[1,': the value is not valid YAML"):
        load_recipe(None, [*BASE, "beta=[1,"])


def _field_types() -> dict[str, typing.Any]:
    """Every recipe key (dotted) with its type hint: TRL's top level and our sections."""
    from trl import GRPOConfig, ModelConfig

    keys: dict[str, typing.Any] = {}
    for cls in (GRPOConfig, ModelConfig):
        keys.update(typing.get_type_hints(cls))

    def walk(cls: type, prefix: str) -> None:
        for name, hint in typing.get_type_hints(cls).items():
            entry = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else None
            if dataclasses.is_dataclass(hint):
                walk(hint, f"{prefix}.{name}")
            elif dataclasses.is_dataclass(entry):
                walk(entry, f"{prefix}.{name}[]")
            else:
                keys[f"{prefix}.{name}"] = hint

    for name, cls in {**SECTIONS, "rewards[]": RewardSpec}.items():
        walk(cls, name)
    return keys


def test_every_declared_range_names_a_real_numeric_key():
    """A renamed or removed field must not leave its range behind, silently unchecked."""
    keys = _field_types()
    stale = sorted(set(ALLOWED) - set(keys))
    assert stale == []
    for key, allowed in ALLOWED.items():
        arms = typing.get_args(keys[key]) or (keys[key],)
        wanted = (int, float) if isinstance(allowed, Range) else (str,)
        assert any(a in wanted for a in arms), f"{key}: {allowed} does not fit {keys[key]}"


def test_declared_loss_types_are_the_ones_trl_implements():
    """Fails loudly when a TRL upgrade adds or drops a loss, so the choice list follows it."""
    from trl.trainer import grpo_trainer

    source = inspect.getsource(grpo_trainer.GRPOTrainer)
    used = set(re.findall(r'loss_type == "(\w+)"', source))
    for group in re.findall(r"loss_type in \[([^\]]+)\]", source):
        used |= set(re.findall(r'"(\w+)"', group))
    assert used == set(ALLOWED["loss_type"])
