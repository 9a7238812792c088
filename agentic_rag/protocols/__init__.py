"""How a trajectory looks as text and tokens: Search-R1 tags or chat-template tool calls."""

from agentic_rag.protocols.base import Action, Protocol
from agentic_rag.protocols.tags import TagsProtocol
from agentic_rag.protocols.tools import ToolsProtocol
from agentic_rag.recipe.sections import ProtocolConfig

PROTOCOLS: dict[str, type[Protocol]] = {"tags": TagsProtocol, "tools": ToolsProtocol}


def make_protocol(tokenizer, config: ProtocolConfig) -> Protocol:
    if config.name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {config.name!r}; choose one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[config.name](tokenizer, config)


__all__ = ["Action", "Protocol", "TagsProtocol", "ToolsProtocol", "make_protocol"]
