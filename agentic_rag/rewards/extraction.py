"""The final answer of a completion, read so that it cannot be gamed.

Rules (docs/rewards.md lists them with the reasons):
- Only the final model turn answers: text after the last observation. An answer written before a
  search, or inside retrieved text, is not the answer.
- Exactly one `<answer>...</answer>` block there, or no answer at all: several blocks are answer
  spam and score nothing (Search-R1 takes the last one; with stop strings on `</answer>` a policy
  never writes two, so only spam is affected).
- Mentions of the tags ("put it between <answer> and </answer>", in the Search-R1 prompt and its
  invalid-action message) and verbatim copies of the prompt's example ("For example, <answer>
  Beijing </answer>") are removed before looking: they are instructions, not answers.
- tools protocol only: a final message with no tool call and no answer tags answers with its
  whole content (minus `<think>` blocks), since instruct models often answer plainly. A final
  message with a tool call, or with an unclosed `<answer>`, has no answer.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from agentic_rag.rewards.completion import (
    TAG_MENTION,
    Turn,
    blocks,
    check_protocol,
    content_text,
    infer_protocol,
    parse_turns,
    without_blocks,
)

_SENTENCE_END = re.compile(r"[.!?:\n]")


def prompt_text(prompt: Any) -> str:
    """The text of a TRL prompt: a string, or the contents of its chat messages."""
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(content_text(m) for m in prompt if isinstance(m, dict))


@lru_cache(maxsize=256)
def _example_echo(prompt: str) -> re.Pattern | None:
    """A pattern for verbatim copies of the prompt's answer examples: each `<answer>` block of the
    prompt with the words that introduce it in its sentence ("For example, <answer> Beijing
    </answer>"), white space free. Cached: a GRPO batch repeats each prompt G times."""
    snippets, pos = [], 0
    for content in blocks(prompt, "answer"):
        start = prompt.index(f"<answer>{content}</answer>", pos)
        pos = start + len(f"<answer>{content}</answer>")
        if content.strip() == TAG_MENTION:
            continue
        sentence_start = max((m.end() for m in _SENTENCE_END.finditer(prompt[:start])), default=0)
        words = prompt[sentence_start:pos].split()
        snippets.append(r"\s*".join(re.escape(w) for w in words))
    return re.compile("|".join(snippets)) if snippets else None


def _answer_blocks(text: str, prompt: str) -> list[str]:
    echo = _example_echo(prompt) if "<answer>" in prompt else None
    if echo is not None:
        text = echo.sub(" ", text)
    return [b.strip() for b in blocks(text, "answer") if b.strip() != TAG_MENTION]


def final_answer(turns: list[Turn], protocol: str, prompt: str = "") -> str | None:
    """The answer in already parsed turns (see the module rules); None when there is none."""
    if not turns or turns[-1].role != "assistant":
        return None
    final = turns[-1]
    if protocol == "tools" and (final.calls or "<tool_call>" in final.text):
        return None  # still searching: the trajectory ran out of turns or tokens
    blocks = _answer_blocks(final.text, prompt)
    if len(blocks) == 1:
        return blocks[0]
    if blocks or protocol == "tags" or "<answer>" in final.text or "</answer>" in final.text:
        return None
    plain = without_blocks(final.text, "think").strip()
    return plain or None


def turn_answer(text: str, protocol: str, prompt: str = "") -> str | None:
    """The answer in one model turn's own text, by the rules above. The rollout engine reads
    every answering turn this way, from the tokens the model generated in it."""
    return final_answer([Turn("assistant", text)], protocol, prompt)


def extract_answer(completion: Any, protocol: str | None = None, prompt: Any = None) -> str | None:
    """The final answer of a completion (text or chat messages) in `protocol` ("tags" or "tools";
    None infers it from the completion), or None when it has none.

    Pass the `prompt` to ignore copies of its example answer. Empty and None completions have no
    answer.
    """
    protocol = check_protocol(protocol) if protocol else infer_protocol(completion)
    return final_answer(parse_turns(completion, protocol), protocol, prompt_text(prompt))
