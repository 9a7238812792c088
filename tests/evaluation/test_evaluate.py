"""`agentic-rag eval` end to end on the shared HotpotQA subset with a tiny local policy."""

from __future__ import annotations

import dataclasses
import json

import pytest

from agentic_rag.cli import main
from agentic_rag.evaluation.evaluate import EvalSettings, evaluate
from agentic_rag.evaluation.metrics import read_metrics
from agentic_rag.evaluation.predictions import PredictionWriter, read_predictions
from agentic_rag.recipe.sections import RetrieverConfig, RolloutConfig
from agentic_rag.rewards import exact_match_score, f1_score
from retriever_index import Retriever
from retriever_index.metrics import recall_at_k

N = 12


@pytest.fixture(scope="module")
def questions_file(hotpot_index, tmp_path_factory):
    path = tmp_path_factory.mktemp("hotpot_q") / "hotpotqa.jsonl"
    with path.open("w") as f:
        for q in hotpot_index.subset.questions[:N]:
            row = {k: q[k] for k in ("id", "question", "answers", "supporting_titles")}
            f.write(
                json.dumps({**row, "dataset": "hotpotqa", "supporting_ids": q["gold_ids"]}) + "\n"
            )
    return path


def _settings(tiny_policy, questions_file, hotpot_index, out, modes):
    return EvalSettings(
        model=str(tiny_policy),
        data=[str(questions_file)],
        modes=modes,
        out=str(out),
        retriever=RetrieverConfig(index=str(hotpot_index.dir)),
        rollout=RolloutConfig(max_turns=2, max_turn_tokens=24, topk=3),
        batch_size=4,
        progress=False,
    )


def test_every_mode_end_to_end(tiny_policy, questions_file, hotpot_index, tmp_path):
    rc = main(
        [
            "eval",
            "--model",
            str(tiny_policy),
            "--data",
            str(questions_file),
            "--mode",
            "direct,naive,agentic",
            "--index",
            str(hotpot_index.dir),
            "--out",
            str(tmp_path),
            "--batch-size",
            "4",
            "--no-progress",
            "rollout.max_turns=2",
            "rollout.max_turn_tokens=24",
            "rollout.topk=3",
        ]
    )
    assert rc == 0
    preds = read_predictions(tmp_path / "predictions.jsonl")
    assert sorted({p.mode for p in preds}) == ["agentic", "direct", "naive"]
    assert len(preds) == 3 * N
    results, _ = read_metrics(tmp_path / "metrics.json")
    for mode in ("direct", "naive", "agentic"):
        group = [p for p in preds if p.mode == mode]
        m = results["hotpotqa"][mode]
        em = sum(
            exact_match_score(p.prediction or "", p.answers) if p.prediction else 0.0 for p in group
        )
        f1 = sum(f1_score(p.prediction, p.answers) if p.prediction else 0.0 for p in group)
        assert m.n == N
        assert m.em == pytest.approx(em / N) and m.f1 == pytest.approx(f1 / N)
        assert m.searches == pytest.approx(sum(p.num_searches for p in group) / N)
    assert (tmp_path / "report.md").read_text().count("hotpotqa") >= 1
    assert list(tmp_path.glob("*.png"))

    # naive mode's recall@3 is exactly the retriever's recall for the same queries
    qs = hotpot_index.subset.questions[:N]
    hits = Retriever.load(hotpot_index.dir).search_batch([q["question"] for q in qs], 3)
    expected = recall_at_k(hits, [set(q["gold_ids"]) for q in qs], 3, key="id")
    assert results["hotpotqa"]["naive"].recall == pytest.approx(expected)
    assert results["hotpotqa"]["direct"].recall is None


def test_resume_after_interruption_gives_identical_metrics(
    tiny_policy, questions_file, hotpot_index, tmp_path, monkeypatch
):
    evaluate(_settings(tiny_policy, questions_file, hotpot_index, tmp_path / "full", ["naive"]))

    original = PredictionWriter.write
    writes = {"n": 0}

    def crash_after_one_batch(self, prediction):
        if writes["n"] == 4:
            raise KeyboardInterrupt
        writes["n"] += 1
        original(self, prediction)

    monkeypatch.setattr(PredictionWriter, "write", crash_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        evaluate(
            _settings(tiny_policy, questions_file, hotpot_index, tmp_path / "resumed", ["naive"])
        )
    assert len(read_predictions(tmp_path / "resumed" / "predictions.jsonl")) == 4
    monkeypatch.setattr(PredictionWriter, "write", original)
    evaluate(_settings(tiny_policy, questions_file, hotpot_index, tmp_path / "resumed", ["naive"]))

    full, _ = read_metrics(tmp_path / "full" / "metrics.json")
    resumed, _ = read_metrics(tmp_path / "resumed" / "metrics.json")
    a, b = full["hotpotqa"]["naive"], resumed["hotpotqa"]["naive"]
    for field in ("n", "em", "sub_em", "f1", "searches", "turns", "generated_tokens", "recall"):
        assert getattr(a, field) == getattr(b, field), field
    ids = [p.id for p in read_predictions(tmp_path / "resumed" / "predictions.jsonl")]
    assert len(ids) == len(set(ids)) == N


def test_a_trained_checkpoint_evaluates_with_its_own_recipe(
    tiny_policy, questions_file, hotpot_index, tmp_path
):
    """`train` saves recipe.yaml beside the final model; `eval` without --config uses it."""
    import shutil

    model = tmp_path / "final"
    shutil.copytree(tiny_policy, model)
    (model / "recipe.yaml").write_text(
        "protocol: {name: tags, use_chat_template: false}\n"
        "rollout: {max_turns: 1, max_turn_tokens: 5, topk: 1}\n"
    )
    args = ["eval", "--model", str(model), "--data", str(questions_file), "--no-progress"]
    args += ["--index", str(hotpot_index.dir), "--out", str(tmp_path / "run"), "--limit", "2"]
    assert main([*args, "rollout.topk=2"]) == 0
    preds = read_predictions(tmp_path / "run")
    assert all(p.num_turns == 1 and p.generated_tokens <= 5 for p in preds)
    _, meta = read_metrics(tmp_path / "run")
    assert meta["rollout"]["topk"] == 2 and meta["rollout"]["max_turns"] == 1  # override wins


class FixedSearch:
    """A default search tool whose hits are recognizable by id."""

    def search_batch(self, queries, k):
        from retriever_index.base import Hit

        return [
            [Hit(f"fixed-{i}", "Fixed", "A fixed passage.", 1.0) for i in range(k)] for _ in queries
        ]


def test_dataset_indexes_sample_and_baseline_answers(tiny_world, tmp_path):
    """Each dataset searches its own index (others the default), a seeded sample is drawn per
    dataset and recorded, and baseline answers are `baseline_answer` of the one reply."""
    from agentic_rag.rewards.extraction import baseline_answer

    rows = [json.loads(line) for line in tiny_world.test.read_text().splitlines()]
    files = []
    for name in ("alpha", "beta"):
        files.append(tmp_path / f"{name}.jsonl")
        files[-1].write_text(
            "".join(
                json.dumps({**r, "id": f"{name}{i}", "dataset": name}) + "\n"
                for i, r in enumerate(rows)
            )
        )
    settings = EvalSettings(
        model=str(tiny_world.model),
        data=[str(f) for f in files],
        modes=["direct", "naive"],
        out=str(tmp_path / "run"),
        rollout=RolloutConfig(max_turns=1, max_turn_tokens=8, topk=2),
        sample=5,
        seed=3,
        dataset_indexes={"beta": str(tiny_world.index)},
        batch_size=8,
        progress=False,
    )
    evaluate(settings, search=FixedSearch())
    preds = read_predictions(tmp_path / "run")
    assert len(preds) == 2 * 2 * 5
    naive = {p.dataset: p for p in preds if p.mode == "naive"}
    assert naive["alpha"].retrieved_ids == ["fixed-0", "fixed-1"]
    assert not any(i.startswith("fixed-") for i in naive["beta"].retrieved_ids)
    from agentic_rag.data.qa import load_qa

    sampled = {e.id for e in load_qa(str(files[0]), sample=5, seed=3)}
    assert {p.id for p in preds if p.dataset == "alpha"} == sampled and len(sampled) == 5
    assert {p.id[4:] for p in preds if p.dataset == "beta"} == {i[5:] for i in sampled}
    for p in preds:  # one reply per question, read as a baseline answer; no actions, no invalid
        (turn,) = p.turns
        assert p.prediction == baseline_answer(turn["model"], p.question)
        assert p.num_invalid == 0 and p.num_turns == 1
    _, meta = read_metrics(tmp_path / "run")
    assert (meta["sample"], meta["seed"], meta["dataset_indexes"]) == (
        5,
        3,
        {"beta": str(tiny_world.index)},
    )

    with pytest.raises(
        ValueError, match="index is given for gamma, which is not among the datasets"
    ):
        evaluate(dataclasses.replace(settings, dataset_indexes={"gamma": "x"}))
    with pytest.raises(ValueError, match=r"need --index DIR .* \(for alpha\)"):
        evaluate(dataclasses.replace(settings, out=str(tmp_path / "other")))
