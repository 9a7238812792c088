"""What the pages show, computed in Python: summaries and CIs, gold passages, old runs, flips
between two runs, training groups, and the `eval view` / `train view` commands."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import yaml

from agentic_rag.cli import main
from agentic_rag.evaluation.compare import compare_runs, paired_bootstrap
from agentic_rag.evaluation.metrics import aggregate
from agentic_rag.evaluation.predictions import read_predictions
from agentic_rag.viewer import eval_payload, train_payload
from agentic_rag.viewer.eval_data import run_row
from agentic_rag.viewer.turns import gold_test, view_turns

from .fixtures import write_eval_run, write_training_output


def test_summary_matches_metrics_with_bootstrap_cis(tmp_path):
    run = write_eval_run(tmp_path / "run", 40, modes=("naive", "agentic"))
    preds = read_predictions(run)
    payload = eval_payload(run)
    rows = payload["runs"][0]["summary"]
    results = aggregate(preds)
    # report order: general QA (nq) before multi-hop (hotpotqa), modes as in report.md
    assert [(r["dataset"], r["mode"]) for r in rows] == [
        ("nq", "naive"),
        ("nq", "agentic"),
        ("hotpotqa", "naive"),
        ("hotpotqa", "agentic"),
    ]
    for row in rows:
        expected = results[row["dataset"]][row["mode"]]
        assert row["n"] == 40 and row["em"] == expected.em and row["f1"] == expected.f1
        group = [p for p in preds if (p.dataset, p.mode) == (row["dataset"], row["mode"])]
        em = np.array([p.em for p in group])
        ci = paired_bootstrap(np.zeros_like(em), em)
        assert (row["em_low"], row["em_high"]) == (ci.low, ci.high)
        assert row["em_low"] <= row["em"] <= row["em_high"]
        assert row["f1_low"] <= row["f1"] <= row["f1_high"]
    assert payload["runs"][0]["chart"].startswith("data:image/png;base64,")
    assert payload["runs"][0]["meta"]["model"] == "fixture-0"
    assert "bootstrap" in payload["ci_method"]


def test_retrieved_passages_are_marked_gold_by_id_else_by_title(tmp_path):
    run = write_eval_run(tmp_path / "run", 30)
    for p in read_predictions(run):
        row = run_row(p)
        hits = [h for t in row["turns"] for r in t["hits"] if isinstance(r, list) for h in r]
        assert [h["gold"] for h in hits] == [h["id"] in p.supporting_ids for h in hits]
        found = {g["id"] for g in row["gold"] if g["found"]}
        assert found == set(p.supporting_ids) & set(p.retrieved_ids)
        assert row["trajectory"] == ""  # turns replace the flat text
    by_title = gold_test([], ["Gold A"])
    assert by_title("any-id", "Gold A") and not by_title("g1", "Other")


def test_runs_without_turns_show_the_flat_trajectory(tmp_path):
    run = write_eval_run(tmp_path / "old", 5, legacy=True)
    for p in read_predictions(run):
        assert p.turns == []
        row = run_row(p)
        assert row["turns"] == [] and row["trajectory"] == p.trajectory
        assert [r["id"] for r in row["retrieved"]] == p.retrieved_ids
        assert [r["gold"] for r in row["retrieved"]] == [
            i in p.supporting_ids for i in p.retrieved_ids
        ]


def test_malformed_turns_render_as_text_and_never_raise():
    turns = view_turns(
        [
            "a bare string",
            {"model": 5, "queries": "not a list", "hits": [None, "timeout", [{"id": 1}, "x"]]},
            {"queries": ["q"], "hits": [[{"id": "g", "title": "T", "score": float("nan")}]]},
        ],
        gold_test(["g"], []),
    )
    assert turns[0] == {"model": "a bare string", "queries": [], "hits": [], "observation": ""}
    assert turns[1]["model"] == "5" and turns[1]["queries"] == []
    assert turns[1]["hits"][:2] == ["", "timeout"]
    assert turns[1]["hits"][2][1] == {"id": "", "title": "x", "score": None, "gold": False}
    assert turns[2]["hits"][0] == [{"id": "g", "title": "T", "score": None, "gold": True}]
    assert view_turns({"not": "a list"}, gold_test([], [])) == []


def test_two_runs_pair_by_dataset_mode_id_and_list_flips_both_ways(tmp_path):
    a = write_eval_run(tmp_path / "a", 50, seed=1)
    b = write_eval_run(tmp_path / "b", 50, seed=2, datasets=("hotpotqa", "triviaqa"))
    payload = eval_payload(a, b)
    em_a = {(p.dataset, p.mode, p.id): p.em for p in read_predictions(a)}
    em_b = {(p.dataset, p.mode, p.id): p.em for p in read_predictions(b)}
    shared = em_a.keys() & em_b.keys()
    gained = {k for k in shared if em_a[k] < 1 <= em_b[k]}
    lost = {k for k in shared if em_b[k] < 1 <= em_a[k]}
    assert gained and lost
    rows = {(q["dataset"], q["mode"], q["id"]): q for q in payload["questions"]}
    assert rows.keys() == em_a.keys() | em_b.keys()  # unpaired questions are listed too
    assert {k for k, q in rows.items() if q["flip"] == "gained"} == gained
    assert {k for k, q in rows.items() if q["flip"] == "lost"} == lost
    assert all(q["runs"][1] is None for k, q in rows.items() if k[0] == "nq")
    expected = [dataclasses.asdict(r) for r in compare_runs(a, b)]
    for row, exp in zip(payload["comparison"], expected, strict=True):
        assert {k: v for k, v in row.items() if k not in ("gained", "lost")} == exp
        assert row["gained"] == sum(k[:2] == (row["dataset"], row["mode"]) for k in gained)
        assert row["lost"] == sum(k[:2] == (row["dataset"], row["mode"]) for k in lost)


def test_training_groups_side_by_side(tmp_path):
    out = write_training_output(tmp_path / "out", steps=(0, 10), groups=3, truncated_tail=True)
    payload = train_payload(out)
    groups = payload["groups"]
    assert [(g["step"], g["group"]) for g in groups] == [
        (s, str(g)) for s in (0, 10) for g in range(3)
    ]
    for g in groups:
        assert [s["sample"] for s in g["samples"]] == [0, 1, 2, 3]
        rewards = [s["reward"] for s in g["samples"]]
        assert g["mixed"] == (len(set(rewards)) > 1)
        assert g["mean_reward"] == pytest.approx(sum(rewards) / 4)
        assert [s["advantage"] for s in g["samples"]] == pytest.approx(
            [r - g["mean_reward"] for r in rewards]
        )
        assert g["samples"][0]["rewards"] == {
            "exact_match_reward": rewards[0],
            "format_reward": None,
        }
    assert [g["mixed"] for g in groups] == [True, True, False] * 2
    # process credit, where training had it on: each turn's process advantage
    assert [s["turn_advantages"] for s in groups[0]["samples"]] == [[0.0, None], [0.25, None]] * 2
    assert payload["problems"] == ["step_000010.jsonl:13: truncated last line"]
    assert payload["log"]["source"].endswith("checkpoint-11/trainer_state.json")  # the newest
    assert len(payload["log"]["rows"]) == 11
    assert payload["log"]["columns"][:2] == ["step", "reward"]
    assert payload["curves"].startswith("data:image/png;base64,")
    summary = payload["summary"]
    assert summary["columns"][:5] == ["stage", "EM", "F1", "searches", "invalid share"]
    assert summary["rows"] == [
        ["base model, naive", "0.100", "0.150", "1.00", "0.013", "+0.455 [+0.300, +0.600]"],
        ["base model, agentic", "0.050", "0.100", "0.00", "0.013", "+0.505 [+0.350, +0.650]"],
        ["after the SFT warm start", "0.275", "0.300", "1.00", "0.013", "+0.280"],
        ["after GRPO", "0.555", "0.625", "1.48", "0.013", ""],
    ]
    assert summary["facts"] == [["seed", "0"], ["grpo_steps", "10"], ["wall time", "6.0 min"]]
    ((title, recipe),) = summary["folds"]
    assert title == "recipe (YAML)" and yaml.safe_load(recipe)["rollout"] == {"max_turns": 4}


def test_training_view_skips_bad_records(tmp_path):
    out = tmp_path / "run"
    write_training_output(out, steps=(3,), groups=1)
    with (out / "trajectories" / "step_000003.jsonl").open("a") as f:
        f.write('["not a record"]\n{"step": 3, "group": 0, "sample": 9, "advantage": NaN}\n')
    payload = train_payload(out)
    (group,) = payload["groups"]
    assert [s["sample"] for s in group["samples"]] == [0, 1, 2, 3, 9]
    assert group["samples"][-1]["advantage"] is None and group["samples"][-1]["turns"] == []
    assert payload["problems"] == [
        "step_000003.jsonl:5: not a trajectory record (no integer 'step')"
    ]
    assert payload["log"]["source"].endswith("run/checkpoint-5/trainer_state.json")

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no training output"):
        train_payload(tmp_path / "empty")


def test_view_commands(tmp_path, capsys):
    a = write_eval_run(tmp_path / "a", 4, chart=False)
    b = write_eval_run(tmp_path / "b", 4, seed=5, chart=False)
    assert main(["eval", "view", str(a)]) == 0
    assert (a / "report.html").stat().st_size > 0
    assert main(["eval", "view", str(a), str(b / "predictions.jsonl")]) == 0
    assert (a / "vs_predictions.jsonl.html").is_file() is False
    assert (a / "vs_b.html").is_file()
    assert main(["eval", "view", str(a), str(b), "-o", str(tmp_path / "x" / "ab.html")]) == 0
    assert "ab.html" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["eval", "view", str(tmp_path / "missing")]) == 2
    assert "no predictions file" in capsys.readouterr().err
    sliced = eval_payload(a, b, datasets=["nq"], modes=["agentic"])
    assert {q["dataset"] for q in sliced["questions"]} == {"nq"}
    assert [(r["dataset"], r["mode"]) for r in sliced["comparison"]] == [("nq", "agentic")]
    assert [r["dataset"] for r in sliced["runs"][0]["summary"]] == ["nq"]
    assert main(["eval", "view", str(a), "--data", "hotpotqa", "--mode", "naive"]) == 2
    assert re.search(r"no prediction for .*the run has hotpotqa/agentic", capsys.readouterr().err)

    out = write_training_output(tmp_path / "train", steps=(1,))
    assert main(["train", "view", str(out), "-o", str(tmp_path / "t.html")]) == 0
    assert (tmp_path / "t.html").is_file()
    for argv, said in [
        (["train", "view", str(out), "--resume"], "unrecognized arguments: --resume"),
        (["train", "lr=1"], "the following arguments are required: --config"),
        (["train", "--config", "recipes/tiny.yaml", "-o", "x.html"], "unrecognized arguments"),
    ]:
        with pytest.raises(SystemExit):
            main(argv)
        assert said in capsys.readouterr().err


def test_a_summary_of_any_shape_still_shows():
    """summary.json is read from disk: odd values show as text, nothing raises."""
    from agentic_rag.viewer.train_summary import summary_view

    view = summary_view(
        {"grpo": "not a dict", "base": {"naive": None}, "vs_base": 3, "em_gain": "x", "new": [1]}
    )
    assert view["rows"] == [
        ["base model, naive", "–", "–", "–", "–", "–"],
        ["after GRPO", "–", "–", "–", "–", ""],
    ]
    assert view["facts"] == [["new", "[1]"]] and view["folds"] == []
