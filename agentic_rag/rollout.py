"""The multi-turn rollout engine shared by training and evaluation.

Per turn: ONE generation call for every active trajectory, ONE `search_batch` call for every
query issued in that turn, then observations are appended. The model's tokens are kept exactly as
sampled (never decoded and re-encoded); observation tokens carry env_mask 0 and log-prob 0.
Budgets are checked before each generation, so nothing is generated and then dropped. Questions
are untrusted text: one whose prompt cannot fit the model's context beside the completion budget
is refused alone (finish_reason "prompt_too_long", the reason in `error`), never sent to the
backend, and the rest of its batch runs.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol as TypingProtocol

from agentic_rag.backends.base import GREEDY, GenerationBackend, Sampling, SamplingParams
from agentic_rag.protocols.base import MAX_CHARS_PER_TOKEN, Action, Protocol, check_query
from agentic_rag.recipe.sections import RolloutConfig
from agentic_rag.search import SearchTool
from retriever_index.retriever import Hit

logger = logging.getLogger(__name__)


@dataclass
class Turn:
    """Where one generation turn sits in `Trajectory.completion_ids`, and what it searched."""

    start: int
    """Index of the turn's first model token."""
    end: int
    """One past its last model token; the observation runs from here to the next turn's start."""
    queries: list[str] = field(default_factory=list)
    """Queries searched after this turn (valid ones, in order)."""
    results: list[list[Hit] | str] = field(default_factory=list)
    """One per query: the hits, or the error message of a failed search."""
    action: str = ""
    """The parsed action's kind: search, answer, invalid or end."""


@dataclass
class Trajectory:
    """One question's multi-turn episode, in the token layout TRL's rollout_func expects."""

    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    """1 = sampled by the policy (trained on), 0 = observation tokens (masked from the loss)."""
    queries: list[str] = field(default_factory=list)
    retrieved_ids: list[str] = field(default_factory=list)
    retrieved_titles: list[str] = field(default_factory=list)
    retrieved_texts: list[str] = field(default_factory=list)
    num_searches: int = 0
    num_invalid: int = 0
    """Malformed actions plus rejected queries (empty, too long, not a string)."""
    num_search_errors: int = 0
    """Searches that failed in the retriever (e.g. the retrieval server was down)."""
    num_turns: int = 0
    finish_reason: str = ""
    """"answer", "max_turns", "max_tokens" (budget spent, or an observation could not fit),
    "no_action" (the model ended its turn without searching or answering), or
    "prompt_too_long" (refused before generating: see `error`)."""
    final_answer: str | None = None
    turns: list[Turn] = field(default_factory=list)
    error: str | None = None
    """Why the question was refused without generating (its prompt cannot fit the context)."""

    @property
    def done(self) -> bool:
        return bool(self.finish_reason)

    @property
    def generated_tokens(self) -> int:
        """Tokens the policy sampled (observations excluded)."""
        return sum(self.env_mask)

    def describe_turns(self, tokenizer) -> list[dict]:
        """The turns as plain data (predictions.jsonl, training samples, `ask --json`): each
        turn's model text, its queries, their hits (id, title, score) or error, and the
        observation appended after it."""
        out = []
        for i, turn in enumerate(self.turns):
            stop = self.turns[i + 1].start if i + 1 < len(self.turns) else len(self.completion_ids)
            hits = [
                r
                if isinstance(r, str)
                else [{"id": h.id, "title": h.title, "score": float(h.score)} for h in r]
                for r in turn.results
            ]
            out.append(
                {
                    "model": tokenizer.decode(self.completion_ids[turn.start : turn.end]),
                    "action": turn.action,
                    "queries": list(turn.queries),
                    "hits": hits,
                    "observation": tokenizer.decode(self.completion_ids[turn.end : stop]),
                }
            )
        return out

    def turn_hits(self) -> list[list[dict] | None]:
        """Per turn, the passages its searches returned (`id`, `title`, `text`), or None for a
        turn that searched nothing: what turn-level process rewards score (rewards/process.py)."""
        return [
            [
                {"id": h.id, "title": h.title, "text": h.text}
                for found in turn.results
                if not isinstance(found, str)
                for h in found
            ]
            if turn.queries
            else None
            for turn in self.turns
        ]

    def append(self, ids: list[int], logprobs: list[float] | None, model: bool) -> None:
        self.completion_ids += ids
        self.logprobs += logprobs if logprobs is not None else [0.0] * len(ids)
        self.env_mask += [int(model)] * len(ids)


class PromptBudget:
    """Which questions' prompts fit the model's context beside a whole completion. A question is
    untrusted text: one that does not fit is refused alone, tokenized only as far as the limit
    needs, so a 5 MB question costs what a page does and never reaches a backend."""

    def __init__(self, protocol: Protocol, context: int | None, max_completion_tokens: int):
        self.protocol = protocol
        self.context_tokens = context
        """The model's context (prompt and completion); None when nobody says (an HTTP server
        that does not list it): then nothing is refused here."""
        self.max_completion_tokens = max_completion_tokens
        self.max_prompt_tokens = None if context is None else context - max_completion_tokens
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 1:
            raise ValueError(
                f"rollout.max_completion_tokens={max_completion_tokens} leaves no room for a "
                f"prompt in the model's {context}-token context: lower it"
            )

    def refusal(self, question: str) -> str | None:
        """Why `question`'s prompt cannot fit, or None when it can."""
        return self.start(question).error

    def start(self, question: str) -> Trajectory:
        """The question's trajectory before its first turn, or a finished one refused with
        finish_reason "prompt_too_long" and the reason in `error`."""
        limit = self.max_prompt_tokens
        if limit is not None and len(question) > limit * MAX_CHARS_PER_TOKEN:
            head = self.protocol.prompt_ids(question[: limit * MAX_CHARS_PER_TOKEN])
            if len(head) > limit:
                return self._refused(question, f"more than {limit:,}")
        ids = self.protocol.prompt_ids(question)
        if limit is not None and len(ids) > limit:
            return self._refused(question, f"{len(ids):,}")
        return Trajectory(prompt_ids=ids)

    def _refused(self, question: str, tokens: str) -> Trajectory:
        why = (
            f"prompt too long: {tokens} tokens (a question of {len(question):,} characters); "
            f"at most {self.max_prompt_tokens:,} fit, the model's {self.context_tokens:,}-token "
            f"context less rollout.max_completion_tokens={self.max_completion_tokens}"
        )
        logger.warning("question refused: %s", why)
        return Trajectory(prompt_ids=[], finish_reason="prompt_too_long", error=why)


class RolloutEngine:
    """Runs batches of questions through generate → parse → search → observe."""

    def __init__(
        self,
        backend: GenerationBackend,
        search: SearchTool,
        protocol: Protocol,
        config: RolloutConfig,
    ):
        self.backend = backend
        self.search = search
        self.protocol = protocol
        self.config = config
        self.budget = PromptBudget(
            protocol, context_tokens(backend, protocol.tokenizer), config.max_completion_tokens
        )

    def refusal(self, question: str) -> str | None:
        """Why `question`'s prompt cannot fit beside a whole completion, or None when it can."""
        return self.budget.refusal(question)

    def run(self, questions: list[str], sampling: Sampling = GREEDY) -> list[Trajectory]:
        """Every question's trajectory; `sampling` is the training recipe's or greedy."""
        trajectories = [self.budget.start(q) for q in questions]
        # A collective backend must be called on every turn by every process, rows or not.
        collective = getattr(self.backend, "collective", False)
        for turn in range(self.config.max_turns):
            active = [t for t in trajectories if not t.done]
            for t in active:
                if self._budget_left(t) <= 0:
                    t.finish_reason = "max_tokens"
            active = [t for t in active if not t.done]
            if not active and not collective:
                break
            self._turn(active, last_turn=turn == self.config.max_turns - 1, sampling=sampling)
        for t in trajectories:
            if not t.done:
                t.finish_reason = "max_turns"
        return trajectories

    def _budget_left(self, t: Trajectory) -> int:
        return self.config.max_completion_tokens - len(t.completion_ids)

    def _turn(self, active: list[Trajectory], last_turn: bool, sampling: Sampling) -> None:
        """One turn of every active trajectory: generate, search, observe."""
        actions = self._generate(active, sampling)
        results = self._search_actions(active, actions, last_turn)
        self._observe(active, actions, results, last_turn)

    def _generate(self, active: list[Trajectory], sampling: Sampling) -> list[Action]:
        """ONE generation call for every active trajectory; appends each turn's tokens and
        returns the action parsed from them."""
        cfg = self.config
        # One call per turn: rows share a budget cap, each row is then clipped to its own budget.
        params = SamplingParams(
            max_new_tokens=min(
                cfg.max_turn_tokens, max((self._budget_left(t) for t in active), default=0)
            ),
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            stop=self.protocol.stop,
        )
        outputs = self.backend.generate([t.prompt_ids + t.completion_ids for t in active], params)
        actions: list[Action] = []
        for t, out in zip(active, outputs, strict=True):
            keep = min(len(out.token_ids), self._budget_left(t))
            finish = out.finish_reason if keep == len(out.token_ids) else "length"
            context = t.prompt_ids + t.completion_ids
            t.turns.append(Turn(start=len(t.completion_ids), end=len(t.completion_ids) + keep))
            t.append(out.token_ids[:keep], out.logprobs[:keep], model=True)
            t.num_turns += 1
            action = self.protocol.parse(out.token_ids[:keep], context, finish)
            t.turns[-1].action = action.kind
            actions.append(action)
        return actions

    def _search_actions(
        self, active: list[Trajectory], actions: list[Action], last_turn: bool
    ) -> list[list[list[Hit] | str]]:
        """Every query validated first, then ONE batched search for all valid ones (none on the
        last turn); per trajectory, per query: its hits or the error shown for it."""
        cfg = self.config
        pending: list[tuple[int, int, str]] = []  # (trajectory index, query index, query)
        results: list[list[list[Hit] | str]] = []
        for i, action in enumerate(actions):
            checks = [check_query(q, cfg.max_query_chars) for q in action.queries]
            results.append([err or [] for err in checks])
            active[i].num_invalid += sum(bool(err) for err in checks) + (action.kind == "invalid")
            if action.kind == "search" and not last_turn:
                pending += [
                    (i, j, q)
                    for j, (q, err) in enumerate(zip(action.queries, checks, strict=True))
                    if not err
                ]
        hits = self._search([q for _, _, q in pending])
        for (i, j, query), found in zip(pending, hits, strict=True):
            results[i][j] = found
            t = active[i]
            t.queries.append(query)
            t.turns[-1].queries.append(query)
            t.turns[-1].results.append(found)
            if isinstance(found, str):
                t.num_search_errors += 1
                continue
            t.num_searches += 1
            t.retrieved_ids += [h.id for h in found]
            t.retrieved_titles += [h.title for h in found]
            t.retrieved_texts += [h.text for h in found]
        return results

    def _observe(
        self,
        active: list[Trajectory],
        actions: list[Action],
        results: list[list[list[Hit] | str]],
        last_turn: bool,
    ) -> None:
        """Each trajectory's observation appended (masked), or its episode ended."""
        for t, action, res in zip(active, actions, results, strict=True):
            if action.kind == "end":
                t.finish_reason = "no_action"
                continue
            if action.kind == "answer":
                # Read from this turn's own tokens by the reward module's grammar, so evaluation
                # scores exactly what training rewards.
                t.final_answer = action.answer
                t.finish_reason = "answer"
            if last_turn and action.kind != "answer":
                continue  # no observation nobody will read
            obs = self.protocol.observation_ids(action, res, self._budget_left(t))
            if obs is None:  # not even the frame fits: stop rather than write past a gap
                t.finish_reason = "max_tokens"
                continue
            t.append(obs, None, model=False)

    def _search(self, queries: list[str]) -> list[list[Hit] | str]:
        """One batched search; if it fails, each query alone, so one bad query never fails the
        rest of the turn (a retrieval outage fails them all, each as an error observation)."""
        if not queries:
            return []
        try:
            return list(self.search.search_batch(queries, self.config.topk))
        except Exception as err:  # noqa: BLE001 - an outage becomes an observation, not a crash
            if len(queries) == 1:
                logger.warning("search failed: %s", err)
                return [f"search failed ({type(err).__name__}: {err})"]
        return [found for query in queries for found in self._search([query])]


class Episode(TypingProtocol):
    """What `summarize` reads: a `Trajectory`, or an evaluation `Prediction` read back."""

    num_searches: int
    num_turns: int
    num_invalid: int
    num_search_errors: int
    finish_reason: str
    generated_tokens: int


def summarize(episodes: list[Episode]) -> dict[str, float]:
    """Rollout statistics: logged at every training step, reported by evaluation. Shares of
    invalid actions and search errors are per turn; the rest per episode."""
    n = max(len(episodes), 1)
    turns = sum(e.num_turns for e in episodes) or 1
    finish = Counter(e.finish_reason for e in episodes)
    stats = {
        "searches_per_trajectory": sum(e.num_searches for e in episodes) / n,
        "turns_per_trajectory": sum(e.num_turns for e in episodes) / n,
        "invalid_action_share": sum(e.num_invalid for e in episodes) / turns,
        "search_error_share": sum(e.num_search_errors for e in episodes) / turns,
        "answered_share": finish["answer"] / n,
        "model_tokens_per_trajectory": sum(e.generated_tokens for e in episodes) / n,
    }
    for reason in ("max_turns", "max_tokens", "no_action", "prompt_too_long"):
        stats[f"finish_{reason}_share"] = finish[reason] / n
    return stats


TOKENIZER_NO_LIMIT = 10**9
"""transformers' `model_max_length` when a tokenizer states no limit is ~1e30."""


def context_tokens(backend: GenerationBackend, tokenizer) -> int | None:
    """The model's context length: the backend's (the model config or the vLLM engine), else
    the tokenizer's `model_max_length` when it states one."""
    known = getattr(backend, "context_tokens", None)
    if known:
        return int(known)
    stated = getattr(tokenizer, "model_max_length", None)
    return int(stated) if isinstance(stated, int) and 0 < stated < TOKENIZER_NO_LIMIT else None
