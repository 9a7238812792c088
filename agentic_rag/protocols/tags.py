"""Search-R1's text protocol: <think>, <search>query</search>, <information>, <answer>.

Prompt wording, passage rendering and the invalid-action message follow Search-R1 so that
checkpoints and evaluation numbers carry over between the two projects.
"""

from __future__ import annotations

from agentic_rag.backends.base import FinishReason
from agentic_rag.protocols.base import Action, Protocol, format_passages
from agentic_rag.rewards.completion import TAG_MENTION
from agentic_rag.rewards.extraction import turn_answer
from retriever_index.retriever import Hit

SEARCH_R1_TEMPLATE = (
    "Answer the given question. You must conduct reasoning inside <think> and </think> first "
    "every time you get new information. After reasoning, if you find you lack some knowledge, "
    "you can call a search engine by <search> query </search> and it will return the top "
    "searched results between <information> and </information>. You can search as many times "
    "as your want. If you find no further external knowledge needed, you can directly provide "
    "the answer inside <answer> and </answer>, without detailed illustrations. For example, "
    "<answer> Beijing </answer>. Question: {question}\n"
)
INVALID_ACTION_MESSAGE = (
    "\nMy previous action is invalid. If I want to search, I should put the query between "
    "<search> and </search>. If I want to give the final answer, I should put the answer "
    "between <answer> and </answer>. Let me try again.\n"
)


def first_action(text: str) -> tuple[str, str] | None:
    """(tag, content) of the first complete <search> or <answer> block, as Search-R1's regex
    `<(search|answer)>(.*?)</\1>` finds it, in linear time: for each tag only its earliest
    opening can start a match, and it matches iff its closing tag follows."""
    found = []
    for tag in ("search", "answer"):
        start = text.find(f"<{tag}>")
        if start >= 0:
            end = text.find(f"</{tag}>", start + len(tag) + 2)
            if end >= 0:
                found.append((start, tag, text[start + len(tag) + 2 : end]))
    if not found:
        return None
    _, tag, content = min(found)
    return tag, content


class TagsProtocol(Protocol):
    name = "tags"
    stop = ("</search>", "</answer>")

    def __init__(self, tokenizer, config):
        super().__init__(tokenizer, config)
        # Tokenized once: these wrap every observation of every rollout.
        self._head = self.encode("\n\n<information>")
        self._tail = self.encode("</information>\n\n")
        self._invalid = self.encode(INVALID_ACTION_MESSAGE)
        self._template = config.template or SEARCH_R1_TEMPLATE  # its example answer is no answer

    def prompt_ids(self, question: str) -> list[int]:
        text = (self.config.template or SEARCH_R1_TEMPLATE).format(question=question.strip())
        if not (self.config.use_chat_template and self.tokenizer.chat_template):
            return self.raw_prompt_ids(text)
        messages = [{"role": "user", "content": text}]
        if self.config.system_prompt:
            messages.insert(0, {"role": "system", "content": self.config.system_prompt})
        return self.encode(
            self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )

    def _parse(self, turn_ids: list[int], context_ids: list[int], finish: FinishReason) -> Action:
        text = self.tokenizer.decode(turn_ids, skip_special_tokens=True)
        action = first_action(text)  # the first complete action, as Search-R1 reads it
        if action is None:
            if finish == "eos":  # the model closed its turn without acting: do not write past it
                return Action("end")
            return Action("invalid", error="no <search> or <answer> action")
        kind, content = action
        if kind == "answer":  # the reward module's reading of this turn (spam, echo rules)
            return Action("answer", answer=turn_answer(text, "tags", self._template))
        if content.strip() == TAG_MENTION:
            return Action("invalid", error="copied the instructions' <search> and </search>")
        return Action("search", queries=(content.strip(),))

    def observation_ids(
        self, action: Action, results: list[list[Hit] | str], budget: int
    ) -> list[int] | None:
        if action.kind == "answer":
            # Close the sequence so TRL sees a terminated completion; masked like any env token.
            return [self.tokenizer.eos_token_id][:budget]
        if action.kind == "invalid":
            return self._invalid if len(self._invalid) <= budget else None
        (result,) = results
        body = f"Search error: {result}" if isinstance(result, str) else format_passages(result)
        room = min(self.config.max_obs_tokens, budget - len(self._head) - len(self._tail))
        return self._head + self.encode_at_most(body, room) + self._tail if room > 0 else None

    def action_text(self, action: Action, thought: str | None = None) -> str:
        # Spaced like the prompt's "<search> query </search>": a name then tokenizes as it does
        # in the question and the passages (" Name"), so copying it is copying the same tokens.
        think = f"<think> {thought or ''} </think>\n"
        if action.kind == "search":
            return f"{think}<search> {action.queries[0]} </search>"
        if action.kind == "answer":
            return f"{think}<answer> {action.answer} </answer>"
        raise ValueError(f"no demonstration text for a {action.kind} action")
