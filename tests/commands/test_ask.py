"""`agentic-rag ask`: one question through the rollout engine, shown turn by turn or as JSON."""

from __future__ import annotations

import json

from agentic_rag.cli import main


def test_ask_prints_every_turn_and_json_round_trips(tiny_world, capsys):
    question = json.loads(tiny_world.test.read_text().splitlines()[0])["question"]
    common = ["ask", "--model", str(tiny_world.model), "--index", str(tiny_world.index)]
    budgets = ["rollout.max_turns=2", "rollout.max_turn_tokens=12"]  # after the question
    sampled = ["--json", "--samples", "2", "--temperature", "1", question, *budgets]
    assert main([*common, *sampled]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["question"] == question and len(record["samples"]) == 2
    for sample in record["samples"]:
        assert 1 <= len(sample["turns"]) <= 2 and sample["generated_tokens"] > 0
        assert set(sample["turns"][0]) == {"model", "action", "queries", "hits", "observation"}

    assert main([*common, "--json", question, *budgets]) == 0  # greedy: the text view shows it
    (greedy,) = json.loads(capsys.readouterr().out)["samples"]
    assert main([*common, question, *budgets]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"question: {question}")
    for i, turn in enumerate(greedy["turns"], start=1):
        assert f"--- turn {i} ({turn['action']}) ---\n{turn['model']}" in shown
        for query in turn["queries"]:
            assert f"  search: {query}" in shown
    assert f"answer: {greedy['final_answer']!r} ({greedy['finish_reason']};" in shown


def test_ask_without_a_retriever_says_what_to_pass(tiny_world, capsys):
    assert main(["ask", "--model", str(tiny_world.model), "Who?"]) == 2
    assert "--index DIR or --retriever-url URL" in capsys.readouterr().err


def test_the_readmes_ask_example_is_a_question_the_default_world_answers():
    """README's `ask` example is a held-out question of the world `make train` builds (seed and
    `offline:` section of recipes/tiny.yaml), asked of the folders `train` writes, and the
    passage its search finds states the answer."""
    import re
    from pathlib import Path

    from agentic_rag.offline.kb import generate_kb
    from agentic_rag.recipe import load_recipe

    root = next(p for p in Path(__file__).resolve().parents if (p / "README.md").is_file())
    examples = re.findall(
        r'agentic-rag ask --model (\S+) --index (\S+) "([^"]+)"', (root / "README.md").read_text()
    )
    assert examples, "README.md shows no `agentic-rag ask` example"
    recipe = load_recipe(root / "recipes" / "tiny.yaml")
    kb = generate_kb(recipe.grpo.seed, recipe.offline.kb)
    held_out = {q.question: q for q in kb.test}
    passages = {p.id: p for p in kb.passages}
    out = recipe.grpo.output_dir
    for model, index, question in examples:
        assert (model, index) == (f"{out}/final", f"{out}/index")
        assert question in held_out, f"{question!r} is not a question of the default world"
        hop = held_out[question].hops[0]
        assert hop.query in question and hop.answer in passages[hop.passage_id].text
