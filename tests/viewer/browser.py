"""Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`):
the stdlib is enough (no websocket client, no WebDriver), and every request, console message
and exception of the page is recorded for the tests to assert on."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

# Flags that work on these machines (root, no network): see the docs' "Headless browser" notes.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",  # containers often give /dev/shm only 64 MB
    "--remote-debugging-pipe",
)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    """The browser to use: $CHROMIUM, else the first of CANDIDATES on PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


class BrowserError(RuntimeError):
    pass


class Browser:
    """One Chromium process; `open(url)` returns a `Page`. Use as a context manager."""

    def __init__(self, executable: str, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="chromium-profile-")
        # Chromium reads commands from fd 3 and writes replies and events to fd 4.
        cmd_read, self._cmd_write = os.pipe()
        self._out_read, out_write = os.pipe()
        high = [os.dup(fd) for fd in (cmd_read, out_write)]  # off 3/4, so dup2 cannot clobber

        def remap() -> None:
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=remap,  # runs before the child closes other fds; tests are single-threaded
        )
        for fd in (cmd_read, out_write, *high):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self._target: str | None = None
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and wait for its reply; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, after: int = 0) -> dict:
        """The first event `method` of `session` at or after index `after` of `events`."""
        index = after
        while True:
            for event in self.events[index:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            index = len(self.events)
            self.events.append(self._read())

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._out_read], [], [], max(left, 0))
            if not ready:
                raise BrowserError(f"no message from Chromium within {self.timeout_s:.0f} s")
            chunk = os.read(self._out_read, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited (code {self.process.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str, width: int = 1280, height: int = 1000) -> Page:
        """Load url in a new tab (closing the previous one) and wait for its load event."""
        if self._target:
            self.send("Target.closeTarget", {"targetId": self._target})
        target = self._target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable", session=session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        mark = len(self.events)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session, after=mark)
        return Page(self, session, mark)

    def close(self) -> None:
        with contextlib.suppress(BrowserError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._cmd_write)
        os.close(self._out_read)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """One tab: evaluate JavaScript, take screenshots, read what the page asked for and logged."""

    def __init__(self, browser: Browser, session: str, first_event: int) -> None:
        self.browser = browser
        self.session = session
        self._first_event = first_event

    def eval(self, expression: str) -> Any:
        """The JSON value of `expression` (awaited when it is a promise); page errors raise."""
        result = self.browser.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.session,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: str | Path) -> Path:
        data = self.browser.send("Page.captureScreenshot", {"format": "png"}, session=self.session)[
            "data"
        ]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def _events(self, *methods: str) -> list[dict]:
        return [
            e
            for e in self.browser.events[self._first_event :]
            if e.get("sessionId") == self.session and e.get("method") in methods
        ]

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self._events("Network.requestWillBeSent")]

    def errors(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser log errors (CSP included)."""
        self.eval("0")  # flush: events queued before this reply are now recorded
        found = []
        for e in self._events(
            "Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded"
        ):
            p = e["params"]
            if e["method"] == "Runtime.consoleAPICalled" and p["type"] in (
                "error",
                "warning",
                "assert",
            ):
                found.append(f"console.{p['type']}: {[a.get('value') for a in p['args']]}")
            elif e["method"] == "Runtime.exceptionThrown":
                found.append(f"exception: {p['exceptionDetails']}")
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                found.append(f"log {p['entry']['level']}: {p['entry']['text']}")
        return found
