"""The warm start's copy check: the probe finds every copied span, scores exactly the tokens
of those spans, and the check retries a warm start that cannot copy, then stops the run."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import torch

from agentic_rag.offline.demonstrations import kb_probe
from agentic_rag.protocols import ProtocolConfig, make_protocol
from agentic_rag.training.copy_check import (
    COPY_CHECK_FILE,
    WarmStartCopyError,
    checked_warm_start,
    read_check,
)
from agentic_rag.training.copy_probe import copy_score


@pytest.fixture(scope="module")
def questions(tiny_world) -> list[dict]:
    return [json.loads(line) for line in tiny_world.train.read_text().splitlines()][:24]


@pytest.fixture(scope="module")
def probe(tokenizer, tiny_world, questions):
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags", use_chat_template=False))
    return kb_probe(protocol, tiny_world.corpus, questions)


def test_the_probe_locates_each_query_and_the_answer(tokenizer, probe, questions):
    assert len(probe) == len(questions)
    assert {len(q["hops"]) for q in questions} == {1, 2}
    for row, q in zip(probe, questions, strict=True):
        s, e = row.answer
        assert tokenizer.decode(row.input_ids[s:e]).strip() == q["answers"][0]
        assert tokenizer.decode(row.input_ids[e:]).lstrip().startswith("</answer>")
        assert len(row.queries) == len(q["hops"])
        for (s, e), hop in zip(row.queries, q["hops"], strict=True):
            assert tokenizer.decode(row.input_ids[s:e]).strip() == hop["query"]
        # the gold passage is in the context before the answer is written
        context = tokenizer.decode(row.input_ids[: row.answer[0]])
        assert f" {q['answers'][0]}." in context.split("<information>")[-1]


class Oracle(torch.nn.Module):
    """Predicts every next token of the rows it knows, except those in `wrong` spans."""

    def __init__(self, rows, vocab: int, wrong: str | None = None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.known = {tuple(r.input_ids): r for r in rows}
        self.vocab, self.wrong = vocab, wrong

    def forward(self, input_ids, attention_mask, logits_to_keep):
        logits = torch.zeros((*input_ids.shape, self.vocab))
        for i, ids in enumerate(input_ids.tolist()):
            row = self.known[tuple(ids[: int(attention_mask[i].sum())])]
            spans = {"answer": [row.answer], "query": list(row.queries), None: []}[self.wrong]
            for t in range(len(row.input_ids) - 1):
                bad = any(s <= t + 1 < e for s, e in spans)
                logits[i, t, (row.input_ids[t + 1] + bad) % self.vocab] = 1.0
        return SimpleNamespace(logits=logits[:, logits_to_keep])


def test_the_score_counts_exactly_the_copied_spans(tokenizer, probe):
    vocab = len(tokenizer)
    right = copy_score(Oracle(probe, vocab), probe, batch_size=5)
    assert (right.answers, right.queries, right.demonstrations) == (1.0, 1.0, len(probe))
    no_answers = copy_score(Oracle(probe, vocab, wrong="answer"), probe, batch_size=5)
    assert (no_answers.answers, no_answers.queries) == (0.0, 1.0)
    no_queries = copy_score(Oracle(probe, vocab, wrong="query"), probe, batch_size=5)
    assert (no_queries.answers, no_queries.queries) == (1.0, 0.0)


def _untrained(tiny_world, trained: list):
    """A `train` callback that 'trains' by copying the untrained model (it cannot copy)."""

    def train(folder, attempt):
        trained.append((folder.name, attempt))
        if not (folder / "config.json").exists():
            shutil.copytree(tiny_world.model, folder)
        return folder

    return train


def test_a_warm_start_that_cannot_copy_is_retried_then_stops_the_run(tiny_world, probe, tmp_path):
    said, trained = [], []
    with pytest.raises(WarmStartCopyError, match=r"did not learn to copy.*min_copy 0\.5"):
        checked_warm_start(
            _untrained(tiny_world, trained),
            probe,
            tmp_path / "sft",
            min_copy=0.5,
            retries=2,
            retry_action="training again",
            say=said.append,
        )
    assert trained == [("sft", 0), ("sft_retry1", 1), ("sft_retry2", 2)]
    assert len(said) == 2 and all("(retry" in line and "\n" not in line for line in said)
    assert "copies 0.00 of held-out answers" in said[0] and "retry 1 of 2" in said[0]
    assert read_check(tmp_path / "sft_retry2") == {
        "answers": 0.0,
        "queries": read_check(tmp_path / "sft_retry2")["queries"],
        "demonstrations": len(probe),
        "min_copy": 0.5,
        "passed": False,
        "attempt": 2,
    }


def test_without_a_threshold_the_score_is_reported_not_enforced(tiny_world, probe, tmp_path):
    said, trained = [], []
    kwargs = dict(min_copy=None, retries=2, retry_action="x", say=said.append)
    folder = checked_warm_start(_untrained(tiny_world, trained), probe, tmp_path / "sft", **kwargs)
    assert folder == tmp_path / "sft" and trained == [("sft", 0)]
    assert len(said) == 1
    assert said[0].startswith("warm start copies 0.00 of held-out answers (queries ")
    assert said[0].endswith(f", {len(probe)} demonstrations)")
    record = json.loads((folder / COPY_CHECK_FILE).read_text())
    assert record["passed"] and record["min_copy"] is None
    # a re-run reads the attempt's score back instead of measuring it again
    (folder / "model.safetensors").unlink()
    assert (
        checked_warm_start(_untrained(tiny_world, []), probe, tmp_path / "sft", **kwargs) == folder
    )


def test_a_warm_start_that_writes_the_spans_passes_on_its_first_attempt(
    tiny_world, probe, tmp_path
):
    """A real warm start (run_sft on the tiny model) trained until it writes the probe's spans:
    here on those very demonstrations, which a model this small can only memorize. The check
    scores it above the threshold and trains no retry."""
    from agentic_rag.recipe.sections import WarmStartConfig
    from agentic_rag.training.warm_start import run_sft

    rows = [
        {
            "input_ids": r.input_ids,
            "completion_mask": [int(t >= r.queries[0][0] - 1) for t in range(len(r.input_ids))],
        }
        for r in probe
    ]
    config = WarmStartConfig(epochs=40, batch_size=8, learning_rate=1e-2)
    said, trained = [], []

    def train(folder, attempt):
        trained.append(attempt)
        return run_sft(tiny_world.model, rows, folder, config, seed=0, use_cpu=True, bf16=False)

    kwargs = dict(min_copy=0.8, retries=2, retry_action="x", say=said.append)
    folder = checked_warm_start(train, probe, tmp_path / "sft", **kwargs)
    assert folder == tmp_path / "sft" and trained == [0]
    check = read_check(folder)
    assert check["passed"] and check["answers"] >= 0.8 and check["attempt"] == 0
    assert said == [
        f"warm start copies {check['answers']:.2f} of held-out answers (queries"
        f" {check['queries']:.2f}, {len(probe)} demonstrations) (warm_start.min_copy 0.8)"
    ]
