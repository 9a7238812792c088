"""Search-R1's text protocol: <think>, <search>query</search>, <information>, <answer>.

Prompt wording, passage rendering and the invalid-action message follow Search-R1 so that
checkpoints and evaluation numbers carry over between the two projects.
"""

from __future__ import annotations

import re

from agentic_rag.protocols.base import Action, Protocol, format_passages
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
_ACTION = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL)


class TagsProtocol(Protocol):
    name = "tags"
    stop = ("</search>", "</answer>")

    def __init__(self, tokenizer, config):
        super().__init__(tokenizer, config)
        # Tokenized once: these wrap every observation of every rollout.
        self._head = self.encode("\n\n<information>")
        self._tail = self.encode("</information>\n\n")
        self._invalid = self.encode(INVALID_ACTION_MESSAGE)

    def prompt_ids(self, question: str) -> list[int]:
        text = (self.config.template or SEARCH_R1_TEMPLATE).format(question=question.strip())
        if self.config.use_chat_template and self.tokenizer.chat_template:
            messages = [{"role": "user", "content": text}]
            if self.config.system_prompt:
                messages.insert(0, {"role": "system", "content": self.config.system_prompt})
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        return self.encode(text)

    def parse(self, turn_ids: list[int], context_ids: list[int]) -> Action:
        text = self.tokenizer.decode(turn_ids, skip_special_tokens=True)
        match = _ACTION.search(text)  # the first complete action, as Search-R1 reads it
        if match is None:
            return Action("invalid", error="no <search> or <answer> action")
        kind, content = match.group(1), match.group(2).strip()
        if kind == "answer":
            return Action("answer", answer=content)
        return Action("search", queries=(content,))

    def observation_ids(
        self, action: Action, results: list[list[Hit] | str], budget: int
    ) -> list[int]:
        if action.kind == "answer":
            # Close the sequence so TRL sees a terminated completion; masked like any env token.
            return [self.tokenizer.eos_token_id][:budget]
        if action.kind == "invalid":
            return self._invalid[:budget]
        (result,) = results
        body = f"Search error: {result}" if isinstance(result, str) else format_passages(result)
        room = min(self.config.max_obs_tokens, budget - len(self._head) - len(self._tail))
        return self._head + self.encode(body)[:room] + self._tail if room > 0 else []

    def action_text(self, action: Action, thought: str | None = None) -> str:
        # Spaced like the prompt's "<search> query </search>": a name then tokenizes as it does
        # in the question and the passages (" Name"), so copying it is copying the same tokens.
        think = f"<think> {thought or ''} </think>\n"
        if action.kind == "search":
            return f"{think}<search> {action.queries[0]} </search>"
        if action.kind == "answer":
            return f"{think}<answer> {action.answer} </answer>"
        raise ValueError(f"no demonstration text for a {action.kind} action")
