"""One view of a completion for every reward: a list of turns, whatever shape TRL passes.

TRL hands reward functions either decoded text or a list of chat messages. Both protocols are
read into the same `Turn` list (model turns and environment observations, in order) so that
answer extraction, grammar checks and search counting are written once. Chat-template special
tokens (`<|im_start|>`, `<|im_end|>`, ...) are dropped when present and never required: the
same completion may be decoded with or without them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

PROTOCOLS = ("tags", "tools")
SEARCH_TOOL = "search"

SPECIAL_TOKEN = re.compile(r"<\|[^<>|\s]{1,40}\|>|</s>")
_ASSISTANT_ROLE = re.compile(r"\s*assistant\b")
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
# "between <search> and </search>": the protocol's instructions name the tags this way (the
# Search-R1 prompt and invalid-action message); such a mention is never a query or an answer.
TAG_MENTION = "and"


@dataclass(frozen=True)
class ToolCall:
    """A search action; `query` is None when the call was malformed (bad JSON, wrong tool,
    missing or empty query)."""

    name: str | None
    query: str | None

    @property
    def valid(self) -> bool:
        return self.name == SEARCH_TOOL and bool(self.query)


@dataclass(frozen=True)
class Turn:
    """A model turn ("assistant") or what the environment inserted after it ("observation")."""

    role: Literal["assistant", "observation"]
    text: str
    calls: tuple[ToolCall, ...] = ()


def infer_protocol(completion: Any) -> str:
    """The protocol a completion was written in, for callers that do not say: tool calls or
    tool messages mean "tools", anything else "tags"."""
    if isinstance(completion, list):
        if any(m.get("tool_calls") or m.get("role") == "tool" for m in completion):
            return "tools"
        completion = "".join(content_text(m) for m in completion)
    if isinstance(completion, str) and (
        "<tool_call>" in completion or "<tool_response>" in completion
    ):
        return "tools"
    return "tags"


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: use one of {PROTOCOLS}")
    return protocol


def content_text(message: dict) -> str:
    """A message's text: content may be a string, None (tool-call-only turns) or typed parts."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def parse_turns(completion: Any, protocol: str) -> list[Turn]:
    """Turns of a completion (text or messages) in `protocol`; [] for None or empty input."""
    check_protocol(protocol)
    if not completion:
        return []
    if isinstance(completion, str):
        return _tags_turns(completion) if protocol == "tags" else _tools_text_turns(completion)
    if not isinstance(completion, list):
        raise TypeError(
            f"a completion must be a string or a list of message dicts, got {type(completion).__name__}"
        )
    if protocol == "tags":  # observations are part of the text: the messages only split it up
        return _tags_turns("".join(content_text(m) for m in completion))
    return _tools_message_turns(completion)


def blocks(text: str, tag: str) -> list[str]:
    """Contents of the complete `<tag>...</tag>` blocks of `text`, leftmost first: what
    `re.findall(r"<tag>(.*?)</tag>", text, re.DOTALL)` returns, in linear time (that regex
    rescans to the end from every unclosed opening tag: quadratic on hostile output)."""
    opening, closing = f"<{tag}>", f"</{tag}>"
    found, pos = [], 0
    while (start := text.find(opening, pos)) >= 0:
        end = text.find(closing, start + len(opening))
        if end < 0:
            break
        found.append(text[start + len(opening) : end])
        pos = end + len(closing)
    return found


def without_blocks(text: str, tag: str) -> str:
    """`text` without its `<tag>...</tag>` blocks; an unclosed block runs to the end."""
    return "".join(
        segment for inside, segment in _split(text, f"<{tag}>", f"</{tag}>") if not inside
    )


def strip_special_tokens(text: str) -> str:
    return SPECIAL_TOKEN.sub("", text) if "<|" in text or "</s>" in text else text


def _split(text: str, open_tag: str, close_tag: str) -> list[tuple[bool, str]]:
    """(is_observation, text) segments around `open_tag`...`close_tag` blocks; an unclosed block
    runs to the end. `str.find`, not a regex: passages are long and must not be scanned twice."""
    segments, pos = [], 0
    while (start := text.find(open_tag, pos)) >= 0:
        segments.append((False, text[pos:start]))
        start += len(open_tag)
        end = text.find(close_tag, start)
        end = len(text) if end < 0 else end
        segments.append((True, text[start:end]))
        pos = end + len(close_tag)
    segments.append((False, text[pos:]))
    return segments


def _tags_turns(text: str) -> list[Turn]:
    turns = []
    for observation, segment in _split(
        strip_special_tokens(text), "<information>", "</information>"
    ):
        if observation:
            turns.append(Turn("observation", segment))
            continue
        queries = (q.strip() for q in blocks(segment, "search"))
        calls = tuple(ToolCall(SEARCH_TOOL, q) for q in queries if q != TAG_MENTION)
        if segment.strip() or calls:
            turns.append(Turn("assistant", segment, calls))
    return turns


def _tools_text_turns(text: str) -> list[Turn]:
    turns: list[Turn] = []
    segments = _split(strip_special_tokens(text), "<tool_response>", "</tool_response>")
    for i, (observation, segment) in enumerate(segments):
        if observation:
            if turns and turns[-1].role == "observation":  # parallel results: one observation
                segment = f"{turns.pop().text}\n{segment.strip()}"
            turns.append(Turn("observation", segment.strip()))
            continue
        # Role names left when special tokens are stripped belong to the observation around
        # them: "...</tool_call>\nuser\n<tool_response>...</tool_response>\nassistant\n...".
        if i > 0 and (role := _ASSISTANT_ROLE.match(segment)):
            segment = segment[role.end() :]
        tail = segment.rstrip()
        if i < len(segments) - 1 and tail.endswith("user") and not tail[-5:-4].isalnum():
            segment = tail[: -len("user")]
        calls = tuple(_text_call(body) for body in _TOOL_CALL.findall(segment))
        if segment.strip() or calls:
            turns.append(Turn("assistant", segment, calls))
    return turns


def rollout_turns(turns: list[dict], protocol: str) -> list[Turn]:
    """Turns exactly as the rollout engine recorded them (its `turns` column: each model turn's
    own text, its parsed action and queries, the observation after it), so nothing depends on
    how a chat template frames tool results or on tags inside observations."""
    parsed: list[Turn] = []
    for turn in turns:
        action, queries = turn.get("action"), turn.get("queries") or []
        if protocol == "tags":
            calls: tuple[ToolCall, ...] = tuple(ToolCall(SEARCH_TOOL, q) for q in queries)
        elif action == "search":
            calls = tuple(ToolCall(SEARCH_TOOL, q.strip() or None) for q in queries)
        else:
            calls = (ToolCall(None, None),) if action == "invalid" else ()
        parsed.append(Turn("assistant", strip_special_tokens(turn.get("model") or ""), calls))
        if turn.get("observation"):
            parsed.append(Turn("observation", strip_special_tokens(turn["observation"])))
    return parsed


def _tools_message_turns(messages: list[dict]) -> list[Turn]:
    turns: list[Turn] = []
    for message in messages:
        role = message.get("role")
        if role != "assistant":  # tool results (and any user/system message) come from outside
            turns.append(Turn("observation", content_text(message)))
        else:
            # The content may itself hold a decoded multi-turn continuation (TRL falls back to
            # plain text when it cannot parse a response): read it like text.
            inner = _tools_text_turns(content_text(message))
            structured = tuple(_structured_call(c) for c in message.get("tool_calls") or ())
            if inner and inner[-1].role == "assistant":
                last = inner.pop()
                inner.append(Turn("assistant", last.text, last.calls + structured))
            elif structured or not inner:
                inner.append(Turn("assistant", "", structured))
            turns += inner
    return turns


def _text_call(body: str) -> ToolCall:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError:
        return ToolCall(None, None)
    if not isinstance(payload, dict):
        return ToolCall(None, None)
    return _call(payload.get("name"), payload.get("arguments"))


def _structured_call(call: Any) -> ToolCall:
    if not isinstance(call, dict):
        return ToolCall(None, None)
    function = call.get("function", call)
    if not isinstance(function, dict):
        return ToolCall(None, None)
    return _call(function.get("name"), function.get("arguments"))


def _call(name: Any, arguments: Any) -> ToolCall:
    if isinstance(arguments, str):  # OpenAI-style messages carry arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            arguments = None
    query = arguments.get("query") if isinstance(arguments, dict) else None
    query = query.strip() if isinstance(query, str) else None
    return ToolCall(name if isinstance(name, str) else None, query or None)
