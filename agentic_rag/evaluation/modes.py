"""Answers questions in one of three modes with the training rollout engine, greedily.

- direct: one turn, no retrieval;
- naive: one batched retrieval with the question, passages in the prompt, one turn;
- agentic: the multi-turn search loop used in training.
All three go through `RolloutEngine`, so budgets and generation are identical. The agentic
answer is the protocol's strict reading (what training rewards); direct and naive are
baselines for any model, prompted as FlashRAG prompts them for a short answer and read with
`baseline_answer` (answer tags if the model writes them, else the reply cut to its answer).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

from tqdm.auto import tqdm

from agentic_rag.backends.base import GREEDY, GenerationBackend, Sampling
from agentic_rag.data.qa import QAExample
from agentic_rag.evaluation.metrics import score_answer
from agentic_rag.evaluation.predictions import Prediction, PredictionWriter
from agentic_rag.protocols import make_protocol
from agentic_rag.protocols.base import format_passages
from agentic_rag.recipe.sections import ProtocolConfig, RolloutConfig
from agentic_rag.rewards.extraction import baseline_answer
from agentic_rag.rollout import RolloutEngine, Trajectory
from agentic_rag.search import SearchTool

MODES = ("direct", "naive", "agentic")
REFUSED_QUESTION_CHARS = 2000
"""A refused question is recorded cut to this many characters (its record says how long)."""
# FlashRAG's zero-shot and naive-RAG instructions (flashrag/pipeline, flashrag/prompt), sent as
# the user turn so that the model's own default system prompt stays, as in Search-R1's prompts.
_SHORT = "Only give me the answer and do not output any other words."
DIRECT_TEMPLATE = (
    f"Answer the question based on your own knowledge. {_SHORT}\nQuestion: {{question}}\n"
)
NAIVE_TEMPLATE = (
    f"Answer the question based on the given documents. {_SHORT}\n"
    "The following are given documents.\n\n{documents}\nQuestion: {question}\n"
)


@dataclasses.dataclass
class ModeRunner:
    """Everything needed to answer questions; one instance serves every mode and dataset."""

    backend: GenerationBackend
    tokenizer: object
    search: SearchTool | None
    protocol: ProtocolConfig
    rollout: RolloutConfig
    batch_size: int = 32
    sampling: Sampling = GREEDY
    """Greedy for evaluation; `ask --temperature` samples."""

    def engine(self, mode: str) -> RolloutEngine:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        if mode != "direct" and self.search is None:
            raise ValueError(
                f"mode {mode!r} needs a retriever: pass --index DIR or --retriever-url"
            )
        if mode == "agentic":
            return RolloutEngine(
                self.backend,
                self.search,
                make_protocol(self.tokenizer, self.protocol),
                self.rollout,
            )
        # One answer turn; the runner writes the whole user message (documents included).
        protocol = make_protocol(
            self.tokenizer, dataclasses.replace(self.protocol, template="{question}")
        )
        return RolloutEngine(
            self.backend, self.search, protocol, dataclasses.replace(self.rollout, max_turns=1)
        )

    def run(
        self,
        mode: str,
        examples: list[QAExample],
        writer: PredictionWriter | None = None,
        progress: bool = True,
    ) -> list[Prediction]:
        engine = self.engine(mode)
        predictions: list[Prediction] = []
        bar = tqdm(total=len(examples), desc=f"{mode}", unit="q", disable=not progress)
        for batch in _chunks(examples, self.batch_size):
            start = time.perf_counter()
            hits = None
            if mode == "naive":
                hits, prompts = self._naive_prompts(engine, batch)
            elif mode == "direct":
                prompts = [DIRECT_TEMPLATE.format(question=e.question) for e in batch]
            else:
                prompts = [e.question for e in batch]
            trajectories = engine.run(prompts, self.sampling)
            elapsed = time.perf_counter() - start
            for i, (example, t) in enumerate(zip(batch, trajectories, strict=True)):
                if mode != "agentic":
                    self._read_baseline(t, example.question)
                if hits is not None and hits[i] is not None:  # the harness's one search
                    t.num_searches, t.queries = 1, [example.question]
                    t.retrieved_ids = [h.id for h in hits[i]]
                    t.retrieved_titles = [h.title for h in hits[i]]
                p = self._prediction(mode, example, t, elapsed, len(batch))
                predictions.append(p)
                if writer is not None:
                    writer.write(p)
            bar.update(len(batch))
            bar.set_postfix(q_per_s=f"{bar.n / max(bar.format_dict['elapsed'], 1e-9):.2f}")
        bar.close()
        return predictions

    def _naive_prompts(
        self, engine: RolloutEngine, batch: list[QAExample]
    ) -> tuple[list[list | None], list[str]]:
        """One batched search with the questions that can fit the context (a question that
        cannot is refused by the engine unsearched), and the prompts with the passages found,
        each cut to `protocol.max_obs_tokens` (the agent's budget for a whole observation)."""
        fits = [i for i, e in enumerate(batch) if engine.refusal(e.question) is None]
        queries = [batch[i].question for i in fits]
        found = self.search.search_batch(queries, self.rollout.topk) if queries else []
        hits: list[list | None] = [None] * len(batch)
        for i, h in zip(fits, found, strict=True):
            hits[i] = h
        cut = engine.protocol.truncate_text
        prompts = [
            e.question
            if h is None
            else NAIVE_TEMPLATE.format(
                documents=format_passages(
                    [
                        dataclasses.replace(x, text=cut(x.text, self.protocol.max_obs_tokens))
                        for x in h
                    ]
                ),
                question=e.question,
            )
            for e, h in zip(batch, hits, strict=True)
        ]
        return hits, prompts

    def _read_baseline(self, t: Trajectory, question: str) -> None:
        """A baseline's one reply is its answer: read by `baseline_answer`. It takes no
        actions, so none is invalid; replies cut at the token limit still answer."""
        if not t.turns:
            return  # refused before generating (t.error says why)
        (turn,) = t.turns
        text = self.tokenizer.decode(t.completion_ids[turn.start : turn.end])
        t.final_answer = baseline_answer(text, question)
        t.num_invalid = 0
        if t.final_answer is not None:
            t.finish_reason = "answer"

    def _prediction(
        self, mode: str, e: QAExample, t: Trajectory, seconds: float, n: int
    ) -> Prediction:
        scores = score_answer(t.final_answer, e.answers)
        question = e.question
        if t.error and len(question) > REFUSED_QUESTION_CHARS:  # the dataset keeps it whole
            question = f"{question[:REFUSED_QUESTION_CHARS]}... [{len(question):,} characters]"
        return Prediction(
            id=e.id,
            dataset=e.dataset,
            mode=mode,
            question=question,
            answers=list(e.answers),
            prediction=t.final_answer,
            em=scores.em,
            sub_em=scores.sub_em,
            f1=scores.f1,
            num_searches=t.num_searches,
            num_turns=t.num_turns,
            generated_tokens=sum(t.env_mask),
            latency_s=seconds,
            batch_size=n,
            finish_reason=t.finish_reason,
            num_invalid=t.num_invalid,
            num_search_errors=t.num_search_errors,
            queries=list(t.queries),
            retrieved_ids=list(t.retrieved_ids),
            retrieved_titles=list(t.retrieved_titles),
            supporting_ids=list(e.supporting_ids),
            supporting_titles=list(e.supporting_titles),
            trajectory=self.tokenizer.decode(t.completion_ids),
            turns=t.describe_turns(self.tokenizer),
            error=t.error,
        )


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
