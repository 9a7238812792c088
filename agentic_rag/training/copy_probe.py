"""Can a warm-started policy copy? Teacher-forced, on held-out demonstrations.

A search agent's answers are copies: the name from the question into the query, the answer out of
the retrieved passage. A warm start that never learned to copy writes the protocol perfectly and
answers with invented names; its held-out EM is ~0 and GRPO's exact-match reward has nothing to
work with. Generation cannot tell "cannot copy" from "searched badly", so the probe feeds the
model a whole held-out demonstration (the gold passage in its observation) and checks, token by
token, whether its greedy prediction of each copied span is the span itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CopyScore:
    """Teacher-forced copying on held-out demonstrations."""

    answers: float
    """Share of demonstrations whose answer span the model predicts exactly, token for token
    (greedy at every position, the gold passage in the context)."""
    queries: float
    """Share of demonstrations whose every search query span it predicts exactly."""
    demonstrations: int
    """Demonstrations scored (those whose spans could be located in their tokens)."""

    def line(self) -> str:
        """One line for logs: `copies 0.83 of held-out answers (queries 0.97, 200 demonstrations)`."""
        return (
            f"copies {self.answers:.2f} of held-out answers"
            f" (queries {self.queries:.2f}, {self.demonstrations} demonstrations)"
        )


@dataclass(frozen=True)
class ProbeRow:
    """A demonstration row and the token positions of what it copies."""

    input_ids: list[int]
    answer: tuple[int, int]
    """[start, end) of the answer span in `input_ids`."""
    queries: tuple[tuple[int, int], ...]
    """[start, end) of each search query span."""


def _model_runs(mask: list[int]) -> list[tuple[int, int]]:
    """[start, end) of each run of model tokens (mask 1)."""
    runs, start = [], None
    for i, m in enumerate([*mask, 0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    return runs


def locate(tokenizer, ids: list[int], run: tuple[int, int], text: str) -> tuple[int, int] | None:
    """[start, end) of the tokens of `ids[run]` that spell the last occurrence of `text` (tokens
    overlapping it count, so a leading-space token of a name is part of its span); None when the
    run does not contain it."""
    start, end = run
    ends, prefix = [], ""
    for i in range(start, end):  # the decoded length after each token: char offsets
        prefix = tokenizer.decode(ids[start : i + 1])
        ends.append(len(prefix))
    at = prefix.rfind(text)
    if not text or at < 0:
        return None
    first = next(k for k, e in enumerate(ends) if e > at)
    last = next(k for k, e in enumerate(ends) if e >= at + len(text))
    return start + first, start + last + 1


def probe_rows(
    tokenizer, rows: list[dict], answers: list[str], queries: list[tuple[str, ...]]
) -> list[ProbeRow]:
    """Demonstration rows (input_ids, completion_mask) with their answer and queries located:
    the answer in the last model turn, query i in model turn i. Rows where a span cannot be
    found are left out."""
    found = []
    for row, answer, qs in zip(rows, answers, queries, strict=True):
        ids, runs = row["input_ids"], _model_runs(row["completion_mask"])
        if len(runs) != len(qs) + 1:
            continue
        answer_span = locate(tokenizer, ids, runs[-1], answer)
        query_spans = [locate(tokenizer, ids, run, q) for run, q in zip(runs, qs, strict=False)]
        if answer_span is None or None in query_spans:
            continue
        found.append(ProbeRow(ids, answer_span, tuple(query_spans)))  # type: ignore[arg-type]
    return found


def column_targets(row: ProbeRow) -> list[int]:
    """Positions of every copied token of a row (answer and queries)."""
    return [t for s, e in (row.answer, *row.queries) for t in range(s, e)]


def copy_score(model, rows: list[ProbeRow], batch_size: int = 16) -> CopyScore:
    """Teacher-forced greedy predictions of every copied span, one forward per batch; logits
    are computed only where a span's token is predicted (`logits_to_keep`), so a 49k-token
    vocabulary costs no more than a tiny one."""
    import torch

    if not rows:
        return CopyScore(0.0, 0.0, 0)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    answers = queries = 0
    try:
        for b in range(0, len(rows), batch_size):
            batch = rows[b : b + batch_size]
            width = max(len(r.input_ids) for r in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for i, r in enumerate(batch):  # right padding: positions are those of a lone row
                ids[i, : len(r.input_ids)] = torch.tensor(r.input_ids)
                attention[i, : len(r.input_ids)] = 1
            # the logits at position t predict token t + 1
            wanted = sorted({t - 1 for r in batch for t in column_targets(r)})
            column = {t: c for c, t in enumerate(wanted)}
            with torch.no_grad():
                logits = model(
                    input_ids=ids.to(device),
                    attention_mask=attention.to(device),
                    logits_to_keep=torch.tensor(wanted, device=device),
                ).logits
            predicted = logits.argmax(-1).cpu().tolist()
            for guesses, r in zip(predicted, batch, strict=True):
                right = {t: guesses[column[t - 1]] == r.input_ids[t] for t in column_targets(r)}
                answers += all(right[t] for t in range(*r.answer))
                queries += all(right[t] for s, e in r.queries for t in range(s, e))
    finally:
        model.train(was_training)
    return CopyScore(answers / len(rows), queries / len(rows), len(rows))


def example_probe(tokenizer, rows: list[dict], examples: list) -> list[ProbeRow]:
    """Probe rows for demonstrations of real questions (`supporting_plans`' rows and the
    QAExamples they came from): the queries are the supporting titles, the answer the first
    gold alias. Yes/no answers are not copied from a passage and are left out."""
    keep = [
        (row, e)
        for row, e in zip(rows, examples, strict=True)
        if e.answers[0].strip().lower() not in ("yes", "no")
    ]
    return probe_rows(
        tokenizer,
        [row for row, _ in keep],
        [e.answers[0] for _, e in keep],
        [tuple(e.supporting_titles) for _, e in keep],
    )
