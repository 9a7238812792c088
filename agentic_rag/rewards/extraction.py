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

Baselines (direct and naive evaluation modes) read a one-turn reply with `baseline_answer`: the
same rules when the reply uses answer tags, otherwise the reply's text cut down to its answer, as
FlashRAG's baselines take the generated text (docs/evaluation.md lists the steps and the
measured effect). The agentic mode never falls back to plain text.
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
    strip_special_tokens,
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


# ---- baselines: a plain reply cut down to its answer ----------------------------------------
_LABEL_LINE = re.compile(r"^[^\n]{0,60}:$")
_LIST_MARK = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")
_LEADS = re.compile(
    r"^(?:(?:sure|certainly|okay|ok|of course)\b[,.!]?\s*"
    r"|(?:the\s+)?(?:final\s+|correct\s+|short\s+|right\s+)?answer"
    r"(?:\s+to\s+(?:this|the|your)\s+question)?\s*(?:is|would\s+be|:)\s*:?\s*"
    r"|(?:based\s+on|according\s+to)\s[^,]{1,80},\s*"
    r"|i\s+(?:think|believe)\s+(?:that\s+)?)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?]+([\"'\u201d\u2019)\]]*)(?=\s|$)")
# fmt: off
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "mt", "ft", "vs", "etc", "inc", "ltd", "co",
    "corp", "no", "gen", "col", "capt", "lt", "sgt", "rev", "prof",
})
_COPULA = re.compile(r"\s(?:is|are|was|were)\s", re.IGNORECASE)
_AUXILIARIES = frozenset({
    "is", "are", "was", "were", "do", "does", "did", "can", "could", "has", "have", "had",
    "will", "would", "should", "may", "might",
})
_FUNCTION_WORDS = frozenset({
    "the", "a", "an", "of", "in", "on", "at", "to", "for", "by", "with", "from", "and", "or",
    "that", "which", "who", "whom", "whose", "what", "when", "where", "why", "how", "this",
    "these", "those", "it", "its", "their", "his", "her",
})
_PREPOSITIONS = frozenset({"in", "on", "at", "by", "from", "of", "to", "as", "for"})
# fmt: on
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}
_UNPAIRED = (('"', '"'), ("\u201c", "\u201d"), ("\u00ab", "\u00bb"))


def _words(text: str) -> list[str]:
    return [w for w in (re.sub(r"\W+", "", t).lower() for t in text.split()) if w]


def _first_sentence(text: str) -> str:
    """`text` up to its first sentence end; periods of initials and abbreviations ("J. K.",
    "U.S.", "F.C.", "St.") do not end a sentence."""
    for end in _SENTENCE_END.finditer(text):
        word = text[: end.start()].rsplit(None, 1)[-1] if text[: end.start()].strip() else ""
        bare = re.sub(r"^\W+", "", word).lower()
        if end.group() == "." and (len(bare) == 1 or "." in bare or bare in _ABBREVIATIONS):
            continue
        return text[: end.start()] + end.group(1)  # closing quotes or brackets stay
    return text


def _unquote(text: str) -> str:
    """Without trailing punctuation, enclosing quotes, and a quote left open or closed alone
    by the sentence cut ('"Kvapil".' -> 'Kvapil', 'the name of X."' -> 'the name of X')."""
    text = text.strip().rstrip(".,;:!?").strip()
    while len(text) > 1 and _QUOTES.get(text[0]) == text[-1] and text[0] not in text[1:-1]:
        text = text[1:-1].strip().rstrip(".,;:!?").strip()
    for opening, closing in _UNPAIRED:  # not ' or ’: those are apostrophes too
        if text.endswith(closing) and (text.count(closing) % 2 or opening not in text):
            text = text[: -len(closing)].rstrip(".,;:!?").strip()
        if text.startswith(opening) and (text.count(opening) % 2 or closing not in text[1:]):
            text = text[len(opening) :].strip()
    return text


def _without_restated_question(sentence: str, question: str) -> str:
    """ "The capital of Australia is Canberra" -> "Canberra" for "What is the capital of
    Australia?": the subject before the first is/are/was/were restates the question when every
    content word of it is in the question; then a lower-case run copied from the question
    ("born", "known for ... developed by") and a preposition after it go too. Choice questions
    ("A or B", "between A and B") are left alone: there the subject is usually one of the
    options, i.e. the answer."""
    asked = _words(question)
    copula = _COPULA.search(sentence)
    if copula is None or "or" in asked or "between" in asked:
        return sentence
    subject = [w for w in _words(sentence[: copula.start()]) if w not in _FUNCTION_WORDS]
    if not subject or not set(subject) <= set(asked):
        return sentence
    rest = sentence[copula.end() :].split()
    copied = 0
    while (
        copied < len(rest) - 1
        and rest[0][:1].islower()
        and _contiguous_in(_words(" ".join(rest[: copied + 1])), asked)
    ):
        copied += 1
    if copied and rest[copied].lower() in _PREPOSITIONS and copied < len(rest) - 1:
        copied += 1
    return " ".join(rest[copied:]) or sentence


def _contiguous_in(words: list[str], sequence: list[str]) -> bool:
    n = len(words)
    return n > 0 and any(sequence[i : i + n] == words for i in range(len(sequence) - n + 1))


def baseline_answer(text: str, question: str = "") -> str | None:
    """The answer in a baseline's one-turn reply (direct and naive modes), for any model.

    A reply with answer tags is read by the module rules above (exactly one block, or no
    answer). Otherwise its plain text is cut down, in this order: special tokens, `<think>`
    blocks and Markdown emphasis go; the first non-empty line is kept (the next one when the
    first is a label such as "Answer:"); a list marker and lead-ins ("Sure,", "The answer is",
    "Answer:", "Based on the documents,", "I think") go; the first sentence is kept; for a
    yes/no question a reply starting with yes or no answers "yes" or "no"; a subject that
    restates the question goes ("The capital of Australia is Canberra." -> "Canberra"); finally
    trailing punctuation and enclosing quotes go. None when nothing is left.
    """
    if "<answer>" in text or "</answer>" in text:
        return turn_answer(text, "tags")
    plain = without_blocks(strip_special_tokens(text), "think")
    plain = plain.replace("**", "").replace("__", "").replace("`", "")
    lines = [line.strip() for line in plain.splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[1] if len(lines) > 1 and _LABEL_LINE.match(lines[0]) else lines[0]
    line = _LIST_MARK.sub("", line)
    while lead := _LEADS.match(line):
        if lead.end() == len(line):
            return None  # only a lead-in ("The answer to this question is:"): no answer
        line = line[lead.end() :]
    sentence = _first_sentence(line).strip()
    asked = _words(question)
    if asked and asked[0] in _AUXILIARIES:
        first = _words(sentence[:8])
        if first and first[0] in ("yes", "no"):
            return first[0]
    if asked:
        sentence = _without_restated_question(sentence, question)
    return _unquote(sentence) or None
