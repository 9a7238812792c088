"""What a protocol is: how a question becomes prompt tokens, how a turn's text becomes an action,
and how search results become observation tokens.

Model output is untrusted input: `parse` never raises, it returns an `invalid` action whose error
becomes the next observation.
"""

from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from agentic_rag.backends.base import FinishReason
from agentic_rag.recipe.sections import ProtocolConfig
from retriever_index.base import check_query as retriever_check_query
from retriever_index.retriever import Hit

logger = logging.getLogger(__name__)

ActionKind = Literal["search", "answer", "invalid", "end"]

MAX_CHARS_PER_TOKEN = 32
"""Untrusted text (questions, passages) is cut to this many characters per token it may use
before it is tokenized, so a 5 MB passage costs what a page does; no tokenizer makes tokens
this long from real text."""


@dataclass(frozen=True)
class Action:
    """One turn's decision, parsed from the tokens the model generated in that turn."""

    kind: ActionKind
    """search, answer, invalid (shown an error, may try again), or end: the model closed its
    turn with its end-of-sequence token and no action (tags), so the episode ends there rather
    than generating past EOS."""
    queries: tuple[str, ...] = ()
    """Search queries (tags protocol issues one; tools protocol may call `search` several times)."""
    answer: str | None = None
    """The final answer read from this turn alone (None: the model answered nothing usable)."""
    error: str | None = None
    """Why the action is invalid; shown to the model as the observation."""
    finish: FinishReason = "stop"
    """How the turn ended; a turn the model did not end itself is closed by the observation."""


def format_passages(hits: list[Hit]) -> str:
    """Search-R1's passage rendering, so prompts trained there read the same here."""
    return "".join(f'Doc {i + 1}(Title: "{h.title}") {h.text}\n' for i, h in enumerate(hits))


def check_query(query: object, max_chars: int) -> str | None:
    """The error message for a query the search tool must not run, or None when it is fine
    (retriever_index's own checks: a string, not empty, within `max_chars`, valid Unicode)."""
    reason = retriever_check_query(query, max_chars)
    return None if reason is None else f"search query {reason}"


class Protocol(ABC):
    """Turns questions into prompts, turn text into actions, results into observation tokens."""

    name: str
    stop: tuple[str, ...]
    """Stop strings that end a turn (besides EOS)."""

    def __init__(self, tokenizer, config: ProtocolConfig):
        self.tokenizer = tokenizer
        self.config = config
        # What the tokenizer puts before text when asked for special tokens (Llama's and Gemma's
        # BOS; nothing for Qwen): raw prompts need it, chat templates write their own.
        plain = tokenizer.encode("a", add_special_tokens=False)
        full = tokenizer.encode("a", add_special_tokens=True)
        cut = len(full) - len(plain)
        self._start_ids = full[:cut] if cut > 0 and full[cut:] == plain else []

    @abstractmethod
    def prompt_ids(self, question: str) -> list[int]:
        """Token ids of the full prompt for a question, generation header included."""

    def parse(self, turn_ids: list[int], context_ids: list[int], finish: FinishReason) -> Action:
        """The action in one generated turn (`context_ids`: everything before it; `finish`: how
        the turn ended). Model output is untrusted: this never raises, any failure becomes the
        sample's invalid action."""
        try:
            action = self._parse(turn_ids, context_ids, finish)
        except Exception as err:  # noqa: BLE001 - one bad sample must not fail its batch
            logger.debug("unparsable turn: %r", err)
            action = Action("invalid", error=f"the turn could not be parsed ({type(err).__name__})")
        return dataclasses.replace(action, finish=finish)

    @abstractmethod
    def _parse(self, turn_ids: list[int], context_ids: list[int], finish: FinishReason) -> Action:
        """`parse` without the safety net."""

    @abstractmethod
    def observation_ids(
        self, action: Action, results: list[list[Hit] | str], budget: int
    ) -> list[int] | None:
        """Tokens appended after a turn: one result per query (hits, or an error string), or the
        action's error for invalid actions. At most `budget` tokens, passages cut to fit; None
        when not even the frame fits, and the episode ends there (never a missing observation
        followed by more generation)."""

    @abstractmethod
    def action_text(self, action: Action, thought: str | None = None) -> str:
        """The text a well-behaved model would generate for `action` (demonstrations, tests)."""

    def demonstration(
        self, steps: list[tuple[Action, list[list[Hit] | str], str | None]]
    ) -> tuple[list[int], list[int]]:
        """Completion ids and env_mask of a well-formed trajectory, built with the same
        observation code as rollouts, so SFT warm-start data matches what GRPO will see.
        Each step: the action, its search results (one per query), and an optional thought."""
        ids: list[int] = []
        mask: list[int] = []
        for action, results, thought in steps:
            end = self.turn_end_ids(action)
            action = dataclasses.replace(action, finish="eos" if end else "stop")
            turn = self.encode(self.action_text(action, thought)) + end
            obs = self.observation_ids(action, results, budget=1 << 30) or []
            ids += turn + obs
            mask += [1] * len(turn) + [0] * len(obs)
        return ids, mask

    def turn_end_ids(self, action: Action) -> list[int]:
        """Tokens a model emits after an action's text (the chat EOS, for the tools protocol)."""
        return []

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def raw_prompt_ids(self, text: str) -> list[int]:
        """A prompt without a chat template, with the start-of-sequence token the model was
        trained to see first (BOS for Llama and Gemma base models)."""
        return self._start_ids + self.encode(text)

    def encode_at_most(self, text: str, max_tokens: int) -> list[int]:
        """The first `max_tokens` tokens of `text`, tokenizing only the prefix they can come from."""
        max_tokens = max(max_tokens, 0)
        return self.encode(text[: max_tokens * MAX_CHARS_PER_TOKEN])[:max_tokens]

    def truncate_text(self, text: str, max_tokens: int) -> str:
        """`text` cut to `max_tokens` tokens (observations are env text, so a cut mid-word is fine)."""
        ids = self.encode(text[: max(max_tokens, 0) * MAX_CHARS_PER_TOKEN + 1])
        if len(ids) <= max_tokens and len(text) <= max_tokens * MAX_CHARS_PER_TOKEN:
            return text
        return self.tokenizer.decode(ids[: max(max_tokens, 0)])
