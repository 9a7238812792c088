"""ASGI wrapper in front of the app: bearer-token check and body-size cap before any route or
body parsing, so a refused request costs neither a JSON parse nor a search."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from retriever_index.server.config import ServerConfig


class Guard:
    """Refuses unauthenticated and oversized requests with the service's JSON error shape."""

    def __init__(self, app: Any, config: ServerConfig):
        self.app = app
        self.config = config
        self.expected = f"Bearer {config.api_key}".encode() if config.api_key else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.expected is not None and not hmac.compare_digest(
            headers.get(b"authorization", b""), self.expected
        ):
            return await send_error(send, 401, "missing or wrong 'Authorization: Bearer <key>'")
        length = headers.get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.config.max_body_bytes:
            return await send_error(
                send,
                413,
                f"request body of {int(length)} bytes exceeds {self.config.max_body_bytes}: "
                "split the batch",
            )
        return await self.app(scope, receive, send)


async def send_error(send: Callable, status: int, message: str) -> None:
    """`{"error": message, "status": status}` as a complete ASGI response."""
    body = json.dumps({"error": message, "status": status}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
