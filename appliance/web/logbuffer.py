"""The last few hundred log lines, kept in memory for the Tools page.

A teacher who reports "it stopped answering" can read the log from a phone
without a terminal. :func:`install_log_buffer` adds one :class:`LogRing` to the
root logger (once, however often it is called) and returns it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

DEFAULT_LINES = 200
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_install_lock = threading.Lock()


class LogRing(logging.Handler):
    """A logging handler that keeps only the newest ``capacity`` formatted lines."""

    def __init__(self, capacity: int = DEFAULT_LINES) -> None:
        super().__init__(level=logging.INFO)
        self._lines: deque[str] = deque(maxlen=capacity)
        self.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)  # Handler.handle() already holds self.lock

    def lines(self) -> list[str]:
        """Oldest first."""
        with self.lock:  # type: ignore[union-attr]
            return list(self._lines)


def install_log_buffer(capacity: int = DEFAULT_LINES) -> LogRing:
    """The root logger's ring buffer, added on first call."""
    root = logging.getLogger()
    with _install_lock:
        for handler in root.handlers:
            if isinstance(handler, LogRing):
                return handler
        ring = LogRing(capacity)
        root.addHandler(ring)
        if root.level > logging.INFO:
            # Root defaults to WARNING; the ring wants the INFO lines the daemon writes.
            root.setLevel(logging.INFO)
        return ring
