"""The offline default's warm-start data: demonstrations, shortcuts, and the tokens they copy."""

from __future__ import annotations

import json

import pytest

from agentic_rag.offline.demonstrations import kb_demonstrations, split_by_entity
from agentic_rag.offline.kb import generate_kb
from agentic_rag.offline.world import check_reusable
from agentic_rag.protocols import make_protocol
from agentic_rag.recipe import load_recipe
from agentic_rag.recipe.sections import ProtocolConfig, SyntheticKBConfig
from agentic_rag.rewards import extract_answer


@pytest.fixture(scope="module")
def rows(tiny_world) -> list[dict]:
    return [json.loads(line) for line in tiny_world.train.read_text().splitlines()]


def _completion(tokenizer, row: dict) -> tuple[str, str]:
    """(model text, observation text) of a demonstration row's completion."""
    ids, mask = row["input_ids"], row["completion_mask"]
    start = mask.index(1)
    model = [t for t, m in zip(ids[start:], mask[start:], strict=True) if m]
    env = [t for t, m in zip(ids[start:], mask[start:], strict=True) if not m]
    return tokenizer.decode(model), tokenizer.decode(env)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_shortcut_fraction_decides_the_two_hop_demonstrations(tokenizer, retriever, rows, fraction):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    demos = kb_demonstrations(protocol, retriever, rows, topk=1, shortcut_fraction=fraction, seed=0)
    assert len(demos) == len(rows)
    assert {len(r["hops"]) for r in rows} == {1, 2}
    for example, demo in zip(rows, demos, strict=True):
        model_text, observations = _completion(tokenizer, demo)
        hops = example["hops"]
        shortcut = len(hops) == 2 and fraction == 1.0
        used = hops[:1] if shortcut else hops
        answer = hops[0]["answer"] if shortcut else example["answers"][0]
        assert (answer == example["answers"][0]) != shortcut  # the bridge is never the answer
        assert model_text.count("<search>") == len(used)
        for hop in used:  # spaced like the prompt, so the name keeps its question tokens
            assert f"<search> {hop['query']} </search>" in model_text
            assert f'(Title: "{hop["query"]}")' in observations  # real retrieval results
            assert hop["answer"] in observations
        assert observations.count("<information>") == len(used)
        assert extract_answer(model_text) == answer


def test_shortcuts_are_a_seeded_share_of_two_hop_questions(tokenizer, retriever, rows):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    two_hop = [r for r in rows if len(r["hops"]) == 2]

    def demos(seed):
        return kb_demonstrations(
            protocol, retriever, two_hop, topk=1, shortcut_fraction=0.5, seed=seed
        )

    first = demos(3)
    assert first == demos(3)
    assert first != demos(4)
    searches = [_completion(tokenizer, d)[0].count("<search>") for d in first]
    assert set(searches) == {1, 2}
    assert 0.25 < searches.count(1) / len(searches) < 0.75


def test_grpo_questions_are_about_entities_the_warm_start_never_saw(rows):
    sft, rl = split_by_entity(rows, 0.7)
    assert sorted(r["id"] for r in sft + rl) == sorted(r["id"] for r in rows)
    sft_entities = {r["supporting_ids"][0] for r in sft}
    assert sft_entities.isdisjoint(r["supporting_ids"][0] for r in rl)
    entities = sft_entities | {r["supporting_ids"][0] for r in rl}
    assert abs(len(sft_entities) / len(entities) - 0.7) < 0.05
    assert split_by_entity(rows, 0.7) == (sft, rl)


def test_a_rerun_with_other_settings_never_reuses_stale_stages(tmp_path):
    settings = {"seed": 0, "offline": {"sft_epochs": 3, "vocab_size": 2048}}
    check_reusable(tmp_path, settings)
    check_reusable(tmp_path, settings)  # same settings: the stages are reused
    changed = {"seed": 0, "offline": {"sft_epochs": 4, "vocab_size": 2048}}
    with pytest.raises(ValueError, match=r"changed: offline\).*new --output-dir"):
        check_reusable(tmp_path, changed)
    with pytest.raises(ValueError, match=r"changed: seed\)"):
        check_reusable(tmp_path, {**settings, "seed": 1})


def test_the_recipe_sizes_every_entity_kind_of_the_world():
    recipe = load_recipe(
        None,
        overrides=[
            "offline.kb={num_people: 800, num_companies: 30, num_cities: 20, num_countries: 10, "
            "num_train_questions: 300}"
        ],
    )
    assert isinstance(recipe.offline.kb, SyntheticKBConfig)
    kb = generate_kb(0, recipe.offline.kb)
    kinds = {"is a company": 0, "is a city in": 0, "is a country": 0}
    for p in kb.passages:
        for marker in kinds:
            kinds[marker] += marker in p.text
    assert kinds == {"is a company": 30, "is a city in": 20, "is a country": 10}
    assert len(kb.passages) == 800 + 30 + 20 + 10 and len(kb.train) == 300
