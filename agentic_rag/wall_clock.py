"""Wall-clock seconds a `train` output folder cost, summed over the run and every `--resume` of
it (summary.json's `wall_seconds`).

Each part's elapsed time is written to OUTPUT_DIR/wall_clock.json every few seconds by a
background thread, so a part killed with SIGKILL still counts up to its last write; a resumed part
adds its own entry. A run without --resume starts the count again.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

CLOCK_FILE = "wall_clock.json"
BEAT_SECONDS = 5.0


class WallClock:
    """Started with the part it times; `seconds()` is every part so far, this one included."""

    def __init__(self, folder: Path, resume: bool, write: bool = True):
        self.path = Path(folder) / CLOCK_FILE
        self.parts = self._earlier() if resume else []
        self.started = time.perf_counter()
        self.write = write
        """Only the main process writes (every rank times the same run)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="wall-clock", daemon=True)
        if write:
            self._save()
            self._thread.start()

    def _earlier(self) -> list[float]:
        try:
            parts = json.loads(self.path.read_text())["parts"]
            return [float(p) for p in parts]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def _now(self) -> float:
        return time.perf_counter() - self.started

    def seconds(self) -> float:
        return round(sum(self.parts) + self._now(), 1)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"parts": [*self.parts, round(self._now(), 1)]}))
        os.replace(tmp, self.path)

    def _beat(self) -> None:
        while not self._stop.wait(BEAT_SECONDS):
            with contextlib.suppress(OSError):  # a full disk must not kill the run over a clock
                self._save()

    def stop(self) -> float:
        """The total, written once more; the clock stops beating."""
        self._stop.set()
        if self.write:
            self._thread.join()
            self._save()
        return self.seconds()
