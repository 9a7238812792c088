"""`ServerConfig`: the service's limits and batching knobs (the CLI makes each field a flag).

Kept free of FastAPI and uvicorn, so `agentic-rag --help` builds its flags without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retriever_index.client import API_KEY_ENV


@dataclass
class ServerConfig:
    """Limits and batching knobs of the retrieval service (every field is a CLI flag)."""

    default_topk: int = field(
        default=3, metadata={"help": "topk when a request omits it (Search-R1's default)"}
    )
    max_topk: int = field(default=100, metadata={"help": "largest topk/k a request may ask"})
    max_queries: int = field(
        default=1024, metadata={"help": "most queries one request may carry (else 413)"}
    )
    max_query_chars: int = field(
        default=2048, metadata={"help": "longest query string accepted, in characters (else 413)"}
    )
    max_body_bytes: int = field(
        default=8 << 20,
        metadata={"help": "requests whose Content-Length exceeds this are refused unread (413)"},
    )
    micro_batching: bool = field(
        default=True,
        metadata={"help": "merge concurrent requests into one search call; off = one call each"},
    )
    max_batch: int = field(
        default=256,
        metadata={"help": "stop gathering requests into a merged call at this many queries"},
    )
    max_wait_ms: float = field(
        default=2.0,
        metadata={
            "help": "how long the first request of a batch waits for company, in ms (only "
            "while clients are concurrent: after a batch that merged several requests)"
        },
    )
    torch_threads: int = field(
        default=0,
        metadata={
            "help": "torch intra-op threads for the query encoder; 0 = CPU cores - 1, leaving "
            "one core to the event loop (docs/retrieval_service.md: workers and threads)"
        },
    )
    api_key: str | None = field(
        default=None,
        metadata={"help": f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV})"},
    )
