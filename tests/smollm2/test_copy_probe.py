"""The warm start's copy check on the real pretrained checkpoint: the probe finds the copied
spans in SmolLM2's own tokens (chat template, leading-space tokens), and the batched score, which
computes logits only at the spans' positions, equals a plain full-logits forward row by row."""

from __future__ import annotations

import pytest
import torch

from agentic_rag.data.qa import load_qa
from agentic_rag.protocols import make_protocol
from agentic_rag.recipe.sections import ProtocolConfig
from agentic_rag.training.copy_probe import column_targets, copy_score, example_probe
from agentic_rag.training.warm_start import supporting_plans


@pytest.fixture(scope="module")
def smollm2(smollm2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(smollm2_dir).eval()
    return model, AutoTokenizer.from_pretrained(smollm2_dir)


@pytest.fixture(scope="module")
def probe(smollm2, tiny_world, retriever):
    """The real-question path of `train`: demonstrations from gold supporting passages."""
    _, tokenizer = smollm2
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags", max_obs_tokens=64))
    examples = load_qa(str(tiny_world.train))
    rows, used = supporting_plans(protocol, examples, retriever, topk=1, limit=8)
    return example_probe(tokenizer, rows, used), used


def test_the_probe_finds_the_spans_in_smollm2_tokens(smollm2, probe):
    _, tokenizer = smollm2
    rows, used = probe
    assert len(rows) == len(used) == 8
    for row, example in zip(rows, used, strict=True):
        s, e = row.answer
        assert tokenizer.decode(row.input_ids[s:e]).strip() == example.answers[0]
        spans = [tokenizer.decode(row.input_ids[s:e]).strip() for s, e in row.queries]
        assert spans == list(example.supporting_titles)


def test_the_batched_score_equals_a_full_forward_per_row(smollm2, probe):
    model, _ = smollm2
    rows, _ = probe
    answers = queries = 0
    with torch.no_grad():
        for row in rows:
            logits = model(input_ids=torch.tensor([row.input_ids])).logits[0]
            right = {
                t: int(logits[t - 1].argmax()) == row.input_ids[t] for t in column_targets(row)
            }
            answers += all(right[t] for t in range(*row.answer))
            queries += all(right[t] for s, e in row.queries for t in range(s, e))
    score = copy_score(model, rows, batch_size=3)  # right-padded batches of unequal rows
    assert (score.answers, score.queries) == (answers / len(rows), queries / len(rows))
    assert score.demonstrations == len(rows)
    assert not model.training
