"""ASGI wrapper in front of the app: bearer-token check, then the request body read here under
a size cap and a deadline, before any route or JSON parsing sees it.

The body is counted as it arrives, so a chunked upload (no Content-Length) is cut off at the
cap, and one that trickles in is cut off at the deadline; the app then gets it whole.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable
from typing import Any

from retriever_index.server.config import ServerConfig


class Guard:
    """Refuses unauthenticated, oversized and too-slow requests with the service's JSON error
    shape; refusals mid-body close the connection so the rest is never read."""

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
                send, 413, self._too_large(f"request body of {int(length)} bytes"), close=True
            )
        body = await self._read_body(receive, send)
        if body is None:
            return None
        return await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Callable, send: Callable) -> bytes | None:
        """The whole body, or None once a refusal has been sent (or the client left)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.body_timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - loop.time())
            except asyncio.TimeoutError:
                await send_error(
                    send,
                    408,
                    f"request body not received within {self.config.body_timeout:g} s "
                    f"({size} bytes arrived): send it at once (or raise --body-timeout)",
                    close=True,
                )
                return None
            if message["type"] != "http.request":  # http.disconnect: nobody to answer
                return None
            size += len(message.get("body", b""))
            if size > self.config.max_body_bytes:
                what = f"request body ({size} bytes received before it was cut off)"
                await send_error(send, 413, self._too_large(what), close=True)
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self, what: str) -> str:
        return (
            f"{what} exceeds {self.config.max_body_bytes}: split the batch "
            "(or raise --max-body-bytes)"
        )


def _replay(body: bytes, receive: Callable) -> Callable:
    """A `receive` that hands the app the body read above, then waits on the real one (which
    only reports a disconnect from then on)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> dict:
        return pending.pop() if pending else await receive()

    return replay


async def send_error(send: Callable, status: int, message: str, close: bool = False) -> None:
    """`{"error": message, "status": status}` as a complete ASGI response; `close` ends the
    connection after it (uvicorn closes on `Connection: close`), so an unread body is dropped."""
    body = json.dumps({"error": message, "status": status}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
