"""Chat-template function calling: a `search(query)` tool rendered by the tokenizer's template.

Tool calls are parsed with TRL/transformers response parsing, and results are rendered as tool
messages by the same chat template, so an instruct model sees exactly the conversation format it
was trained on. ChatML templates without tool support get one (`tool_template.py`). The final answer is the last assistant message without tool calls (inside
<answer> tags when present).
"""

from __future__ import annotations

import json

from agentic_rag.backends.base import FinishReason
from agentic_rag.protocols.base import Action, Protocol, format_passages
from agentic_rag.protocols.tool_template import ensure_tool_template
from agentic_rag.rewards.extraction import turn_answer
from retriever_index.retriever import Hit

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search a Wikipedia-style passage index. Returns the top passages.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "The search query."}},
            "required": ["query"],
        },
    },
}
DEFAULT_TEMPLATE = (
    "Answer the question. Use the search tool to look up facts you do not know, as many times "
    "as you need. When you know the answer, reply with it inside <answer> and </answer>, "
    "without detailed illustrations. Question: {question}"
)
_SENTINEL = "\x00RESULT\x00"


class ToolsProtocol(Protocol):
    name = "tools"
    stop = ()  # a turn ends at the chat template's end-of-turn token (the tokenizer's EOS)

    def __init__(self, tokenizer, config):
        super().__init__(tokenizer, config)
        # TRL's parsing schema for the templates it knows; ChatML models without tool support
        # (SmolLM2) get a tool-aware template set on the tokenizer (protocols/tool_template.py).
        ensure_tool_template(tokenizer, SEARCH_TOOL)
        self._frames: dict[int, list[str]] = {}
        self._frame(1)  # fail at construction, not mid-rollout, on an unusable template

    def _messages(self, question: str) -> list[dict]:
        text = (self.config.template or DEFAULT_TEMPLATE).format(question=question.strip())
        messages = [{"role": "user", "content": text}]
        if self.config.system_prompt:
            messages.insert(0, {"role": "system", "content": self.config.system_prompt})
        return messages

    def prompt_ids(self, question: str) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            self._messages(question),
            tools=[SEARCH_TOOL],
            tokenize=False,
            add_generation_prompt=True,
        )
        return self.encode(text)

    def _frame(self, n: int) -> list[str]:
        """The template text around `n` tool results, from just after the assistant's EOS to the
        next assistant header: rendered once per `n` with sentinels and split there (templates
        group consecutive tool results, so `n` matters)."""
        if n in self._frames:
            return self._frames[n]
        call = {"type": "function", "function": {"name": "search", "arguments": {"query": "q"}}}
        convo = [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [call] * n},
        ]
        results = [{"role": "tool", "name": "search", "content": _SENTINEL} for _ in range(n)]
        render = self.tokenizer.apply_chat_template
        base = render(convo, tools=[SEARCH_TOOL], tokenize=False)
        full = render(
            [*convo, *results], tools=[SEARCH_TOOL], tokenize=False, add_generation_prompt=True
        )
        eos = self.tokenizer.eos_token
        if not full.startswith(base) or eos not in base:
            raise ValueError(
                "the chat template does not render tool results as a continuation of the "
                "conversation; the tools protocol cannot append observations to it"
            )
        pieces = full[len(base) :].split(_SENTINEL)
        pieces[0] = base[base.rindex(eos) + len(eos) :] + pieces[0]
        self._frames[n] = pieces
        return pieces

    def _parse(self, turn_ids: list[int], context_ids: list[int], finish: FinishReason) -> Action:
        from trl.chat_template_utils import parse_response

        if not turn_ids:  # an OpenAI-compatible server may return an empty turn
            return Action("invalid", error="empty turn: call search or answer")
        message = parse_response(self.tokenizer, turn_ids, prefix=context_ids)
        calls = message.get("tool_calls") or []
        if not calls:
            text = self.tokenizer.decode(turn_ids, skip_special_tokens=True)
            if "<tool_call>" in text:  # TRL falls back to plain text on malformed calls
                return Action(
                    "invalid", error="malformed tool call: expected JSON with name and arguments"
                )
            if finish == "length":  # a reply cut at max_turn_tokens is not a final answer
                return Action("invalid", error="the reply was cut off at the token limit")
            content = message.get("content") or ""
            return Action("answer", answer=turn_answer(content, "tools"))
        queries = []
        for call in calls:
            function = call.get("function", {}) if isinstance(call, dict) else {}
            if function.get("name") != "search":
                return Action(
                    "invalid",
                    error=f"unknown tool {function.get('name')!r}; the only tool is 'search'",
                )
            arguments = function.get("arguments")
            if isinstance(arguments, str):  # some templates leave arguments as a JSON string
                try:
                    arguments = json.loads(arguments)
                except (json.JSONDecodeError, RecursionError):
                    return Action("invalid", error="tool call arguments are not valid JSON")
            if not isinstance(arguments, dict) or "query" not in arguments:
                return Action("invalid", error="search needs a 'query' argument")
            queries.append(arguments["query"])
        return Action("search", queries=tuple(queries))

    def observation_ids(
        self, action: Action, results: list[list[Hit] | str], budget: int
    ) -> list[int] | None:
        if action.kind == "answer":
            return []
        if action.kind == "invalid":
            bodies = [f"Error: {action.error}"]
        else:
            bodies = [f"Error: {r}" if isinstance(r, str) else format_passages(r) for r in results]
        # A turn the model did not end (cut at the token limit) is closed here, so the tool
        # results follow a complete assistant message as the template renders them.
        close = [] if action.finish == "eos" else [self.tokenizer.eos_token_id]
        pieces = self._frame(len(bodies))
        per_result = self.config.max_obs_tokens // len(bodies)
        while per_result > 0:
            text = pieces[0] + "".join(
                self.truncate_text(body, per_result) + piece
                for body, piece in zip(bodies, pieces[1:], strict=True)
            )
            ids = close + self.encode(text)
            if len(ids) <= budget:
                return ids
            # Passages cut shorter until the frame fits (token counts of joined text can differ
            # from the parts' by a merge, hence the loop).
            per_result = min(per_result - 1, per_result - (len(ids) - budget) // len(bodies))
        return None

    def action_text(self, action: Action, thought: str | None = None) -> str:
        prefix = f"{thought}\n" if thought else ""
        if action.kind == "search":
            calls = (
                '<tool_call>\n{"name": "search", "arguments": '
                + json.dumps({"query": q})
                + "}\n</tool_call>"
                for q in action.queries
            )
            return prefix + "\n".join(calls)
        if action.kind == "answer":
            return f"{prefix}<answer>{action.answer}</answer>"
        raise ValueError(f"no demonstration text for a {action.kind} action")

    def turn_end_ids(self, action: Action) -> list[int]:
        return [self.tokenizer.eos_token_id]
