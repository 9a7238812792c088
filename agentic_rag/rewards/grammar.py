"""Is a completion well formed in its protocol? One check per protocol, each with a reason.

tags: Search-R1 v0.3's sequence check (`is_valid_sequence`) on the completion itself, without the
`<|im_start|>assistant` marker it looks for: think -> (search -> information -> think)* -> answer,
only white space between blocks, nothing after the answer. One deliberate difference: an
`<information>` block is opaque, so retrieved text that happens to contain tags cannot break (or
forge) the structure.

tools: assistant turns that call `search` with a non-empty query, each answered by tool results,
ending in an assistant turn that answers (one `<answer>` block with nothing after it, or a plain
non-empty reply) and calls nothing; the tags protocol's <search>/<information> text is not a call.
"""

from __future__ import annotations

import re
from typing import Any

from agentic_rag.rewards.completion import (
    SPECIAL_TOKEN,
    Turn,
    blocks,
    check_protocol,
    content_text,
    parse_turns,
    without_blocks,
)

_TAG = re.compile(r"(</?(?:think|search|information|answer)>)")
# (state, tag) -> next state; Search-R1's automaton.
_TRANSITIONS = {
    ("start", "<think>"): "in_think",
    ("information", "<think>"): "in_think",
    ("in_think", "</think>"): "after_think",
    ("after_think", "<search>"): "in_search",
    ("in_search", "</search>"): "after_search",
    ("after_search", "<information>"): "in_information",
    ("in_information", "</information>"): "information",
    ("after_think", "<answer>"): "in_answer",
    ("in_answer", "</answer>"): "end",
}
_INSIDE = frozenset({"in_think", "in_search", "in_information", "in_answer"})
_FOREIGN_TAG = re.compile(r"</?(?:search|information)>")


def check_tags(text: str) -> tuple[bool, str]:
    """(valid, reason) for a tags-protocol completion text."""
    state = "start"
    for part in _TAG.split(SPECIAL_TOKEN.sub("", text)):
        if state == "in_information" and part != "</information>":
            continue  # retrieved text: anything goes
        if _TAG.fullmatch(part):
            next_state = _TRANSITIONS.get((state, part))
            if next_state is None:
                return False, f"unexpected {part} after state {state}"
            state = next_state
        elif part.strip() and state not in _INSIDE:
            return False, f"text outside the tags after state {state}: {part.strip()[:40]!r}"
    if state != "end":
        return False, f"ended in state {state}, not after </answer>"
    return True, "valid"


def check_tools(turns: list[Turn]) -> tuple[bool, str]:
    """(valid, reason) for the turns of a tools-protocol completion."""
    if not turns:
        return False, "empty completion"
    if turns[0].role != "assistant":
        return False, "starts with an observation, not an assistant turn"
    if turns[-1].role != "assistant":
        return False, "ends with tool results, not an answer"
    for i, turn in enumerate(turns):
        if turn.role == "assistant" and _FOREIGN_TAG.search(turn.text):
            return False, f"assistant turn {i} writes <search>/<information> tags: use tool calls"
    for i, turn in enumerate(turns[:-1]):
        if turn.role == "observation":
            continue
        if not turn.calls:
            return False, f"assistant turn {i} neither calls search nor is the last turn"
        if not all(call.valid for call in turn.calls):
            return False, f"assistant turn {i} has a malformed call (need search with a query)"
        if "<answer>" in turn.text or "</answer>" in turn.text:
            return False, f"assistant turn {i} answers and searches"
        if "<tool_call>" in turn.text and not turn.text.rstrip().endswith("</tool_call>"):
            return False, f"assistant turn {i} has text after its last tool call"
        if turns[i + 1].role != "observation":
            return False, f"assistant turn {i} is not followed by tool results"
    return _check_final_tools_turn(turns[-1])


def _check_final_tools_turn(turn: Turn) -> tuple[bool, str]:
    text = turn.text  # special tokens are already gone (parse_turns)
    if turn.calls or "<tool_call>" in text:
        return False, "the last turn calls a tool instead of answering"
    answers = blocks(text, "answer")
    if len(answers) > 1:
        return False, "more than one <answer> block"
    if answers:
        if text.count("<answer>") != 1 or text.count("</answer>") != 1:
            return False, "unbalanced <answer> tags"
        if text[text.index("</answer>") + len("</answer>") :].strip():
            return False, "text after </answer>"
        if not answers[0].strip():
            return False, "empty <answer> block"
        return True, "valid"
    if "<answer>" in text or "</answer>" in text:
        return False, "unbalanced <answer> tags"
    if not without_blocks(text, "think").strip():
        return False, "the last turn is empty"
    return True, "valid"


def check_format(completion: Any, protocol: str) -> tuple[bool, str]:
    """(valid, reason) for a completion (text or messages) in `protocol`."""
    if check_protocol(protocol) == "tags":
        if isinstance(completion, list):
            return check_tags("".join(content_text(m) for m in completion))
        return check_tags(completion or "")
    return check_tools(parse_turns(completion, "tools"))
