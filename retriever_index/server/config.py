"""`ServerConfig`: the service's limits and batching knobs (the CLI makes each field a flag).

Kept free of FastAPI and uvicorn, so `agentic-rag --help` builds its flags without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retriever_index.base import API_KEY_ENV


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
        metadata={
            "help": "larger request bodies are refused (413): by Content-Length before reading, "
            "else (chunked) as soon as the bytes received pass it"
        },
    )
    idle_timeout: float = field(
        default=5.0,
        metadata={
            "help": "seconds a connection may sit idle, or take to send a request's line and "
            "headers, before it is closed (uvicorn's timeout_keep_alive)"
        },
    )
    body_timeout: float = field(
        default=30.0,
        metadata={"help": "seconds a client may take to send a request body (else 408)"},
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
            "help": "intra-op threads of the query encoder (torch, ONNX Runtime or OpenVINO); "
            "0 = CPU cores - 1, leaving one core to the event loop (docs/retrieval_service.md: "
            "workers and threads)"
        },
    )
    api_key: str | None = field(
        default=None,
        metadata={
            "help": f"require 'Authorization: Bearer KEY'; on the command line the key shows "
            f"in `ps` to every user, so prefer ${API_KEY_ENV} or --api-key-file"
        },
    )
    cache_size: int = field(
        default=10_000,
        metadata={"help": "query-result cache entries (index, query, k); 0 turns it off"},
    )
    docs: bool = field(
        default=False,
        metadata={
            "help": "serve /docs, /redoc and /openapi.json (off by default: the pages load "
            "scripts from a CDN and describe the API to anyone who can connect)"
        },
    )

    def __post_init__(self) -> None:
        for name in ("default_topk", "max_topk", "max_queries", "max_query_chars", "max_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.cache_size < 0:
            raise ValueError(f"cache_size must be >= 0 (0: no cache), got {self.cache_size}")
        if self.default_topk > self.max_topk:
            raise ValueError(f"default_topk {self.default_topk} exceeds max_topk {self.max_topk}")
        for name in ("max_body_bytes", "idle_timeout", "body_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
