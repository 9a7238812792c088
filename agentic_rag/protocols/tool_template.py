"""Tool calling for chat models whose template has none: a ChatML template that renders tools.

The tools protocol needs two things from a tokenizer: a chat template that renders the tool list,
assistant tool calls and tool results, and a `response_template` with which transformers'
`parse_response` reads tool calls back out of generated tokens. TRL sets the latter for the
templates it knows (Qwen2.5/3, Llama 3.1/3.2, ...). A ChatML model without tool support
(SmolLM2-Instruct: its template ignores `tools=` and has no `tool` role) gets both from here, in
the Hermes form Qwen2.5 uses: the tool schemas in the system turn, one
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` JSON object per call, results as a user
turn of `<tool_response>` blocks (the user role the model knows, not a `tool` role it never saw).

The protocol sets them on the tokenizer itself, not on a copy: rollouts, TRL's parsing and
`save_pretrained` then all see one template, so a checkpoint trained with tool calls is saved
with the template its trajectories were written in. Without tools the new template renders
every conversation byte for byte as the model's own template did (checked when it is installed:
otherwise the tokenizer is left as it was and an error says why), so prompts of the tags
protocol and plain chat do not change. The model's default system prompt is kept.
"""

from __future__ import annotations

from typing import Any

CHATML_END = "<|im_end|>"

_TEMPLATE = r"""
{%- if messages and messages[0].role == 'system' %}
    {%- set system = messages[0].content %}
    {%- set turns = messages[1:] %}
{%- else %}
    {%- set system %}@DEFAULT@{% endset %}
    {%- set turns = messages %}
{%- endif %}
{%- if system or tools %}
    {{- '<|im_start|>system\n' + system }}
    {%- if tools %}
        {{- '\n\nYou can call these tools, described in JSON between <tools> and </tools>:\n<tools>' }}
        {%- for tool in tools %}
            {{- '\n' + (tool | tojson) }}
        {%- endfor %}
        {{- '\n</tools>\n\nTo call a tool, reply with one JSON object per call between <tool_call> and </tool_call>:\n<tool_call>\n{"name": <tool name>, "arguments": <arguments as a JSON object>}\n</tool_call>' }}
    {%- endif %}
    {{- '<|im_end|>\n' }}
{%- endif %}
{%- for message in turns %}
    {%- if message.role == 'assistant' and message.tool_calls %}
        {{- '<|im_start|>assistant' }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for call in message.tool_calls %}
            {%- if call.function is defined %}
                {%- set call = call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' + call.name + '", "arguments": ' }}
            {{- call.arguments if call.arguments is string else (call.arguments | tojson) }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == 'tool' %}
        {%- if loop.first or loop.previtem.role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
        {%- if loop.last or loop.nextitem.role != 'tool' %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- else %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

CHATML_RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "reasoning_content": {
            "open": "<think>",
            "close_pattern": r"</think>\s*",
            "content": "text",
        },
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}
"""How transformers' `parse_response` reads a generated turn of that template back into
`{"role", "content", "tool_calls"}` (the layout TRL uses for Qwen's templates)."""

_PROBES: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "q"}],
    [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
    [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "q2"},
    ],
]
"""Conversations the installed template must render exactly as the model's own one."""


def chatml_tool_template(default_system: str | None) -> str:
    """The ChatML template with tools; `default_system` is written when a conversation has no
    system message (None: no system turn then, unless there are tools)."""
    text = default_system or ""
    if "{% endraw %}" in text:
        raise ValueError("the default system prompt cannot be embedded in a template")
    return _TEMPLATE.replace("@DEFAULT@", "{% raw %}" + text + "{% endraw %}" if text else "")


def _render(tokenizer, messages: list[dict], **kwargs) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def default_system_prompt(tokenizer) -> str | None:
    """The system message a ChatML template writes when the conversation has none."""
    text = _render(tokenizer, [{"role": "user", "content": "q"}])
    head, user = "<|im_start|>system\n", f"{CHATML_END}\n<|im_start|>user\nq{CHATML_END}"
    if text.startswith(head) and user in text:
        return text[len(head) : text.index(user)]
    return None


def renders_tools(tokenizer, tool: dict) -> bool:
    """Whether the tokenizer's chat template writes a tool list (SmolLM2's ignores `tools=`)."""
    messages = [{"role": "user", "content": "q"}]
    return _render(tokenizer, messages, tools=[tool]) != _render(tokenizer, messages)


def is_chatml(tokenizer) -> bool:
    """`<|im_start|>role\\ncontent<|im_end|>` turns, ended by the `<|im_end|>` EOS."""
    if tokenizer.eos_token != CHATML_END or not tokenizer.chat_template:
        return False
    return "<|im_start|>user\nq<|im_end|>\n" in _render(
        tokenizer, [{"role": "user", "content": "q"}]
    )


def install_chatml_tool_template(tokenizer, tool: dict) -> None:
    """Give a ChatML tokenizer without tool support the template and response template above,
    after checking the new template renders tool-free conversations exactly as the old one."""
    old = tokenizer.chat_template
    before = [_render(tokenizer, m, add_generation_prompt=g) for m in _PROBES for g in (0, 1)]
    tokenizer.chat_template = chatml_tool_template(default_system_prompt(tokenizer))
    after = [_render(tokenizer, m, add_generation_prompt=g) for m in _PROBES for g in (0, 1)]
    if after != before or not renders_tools(tokenizer, tool):
        tokenizer.chat_template = old
        raise ValueError(
            "this ChatML chat template renders conversations differently from the standard "
            "form, so a tool-calling version of it cannot be derived: give the tokenizer a "
            "template that renders tools and set `tokenizer.response_template`"
        )
    tokenizer.response_template = CHATML_RESPONSE_TEMPLATE


def ensure_tool_template(tokenizer, tool: dict) -> None:
    """Make `tokenizer` render and parse tool calls, or raise saying how: its own response
    template, TRL's for the templates it knows, else (ChatML without tools) ours."""
    if getattr(tokenizer, "response_template", None) is not None:
        return
    from trl.chat_template_utils import add_response_schema

    try:
        add_response_schema(tokenizer)  # Qwen2.5/3, Llama 3.1/3.2, ...: TRL's parsing schema
        return
    except ValueError:
        pass
    if is_chatml(tokenizer) and not renders_tools(tokenizer, tool):
        install_chatml_tool_template(tokenizer, tool)
        return
    raise ValueError(
        "the tools protocol needs a chat template whose tool calls can be parsed (Qwen2.5, "
        "Qwen3, Llama 3.1/3.2, or any ChatML template without tools, which gets one); set "
        "`tokenizer.response_template` for this template, or use `protocol.name: tags`"
    )
