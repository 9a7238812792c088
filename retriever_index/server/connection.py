"""uvicorn's h11 protocol with one more deadline: a connection must send each request's line
and headers within `timeout_keep_alive` seconds of opening (or of its previous response).

uvicorn closes a connection idle between requests, but not one that never sends a request or
sends its headers a byte at a time; those would otherwise stay open for ever. The body has its
own deadline in `Guard`. Selected by `serve` as `http=` (an import string, so every worker
process finds it).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadDeadlineH11Protocol(H11Protocol):
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.timeout_keep_alive, self._expire, self.cycle)

    def _expire(self, cycle: object) -> None:
        """Close unless a request head arrived since arming (a new cycle started) or the one
        in progress is still being answered."""
        busy = self.cycle is not None and not self.cycle.response_complete
        if self.cycle is cycle and not busy and not self.transport.is_closing():
            self.transport.close()
