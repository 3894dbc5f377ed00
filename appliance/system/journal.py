"""Logging for the daemon: to journald when run by systemd, to stderr otherwise.

Under systemd every record goes to the journal with ``SYSLOG_IDENTIFIER=parlo``
and its priority, so ``journalctl -u parlo -p warning`` shows only the problems.
That uses systemd-python's ``JournalHandler``; without the package, stderr
lines get a ``<priority>`` prefix, which journald reads the same way.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

IDENTIFIER = "parlo"

# syslog priorities, as journald and ``<N>`` stderr prefixes use them
PRIORITIES = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def under_journald() -> bool:
    """Is our stderr the journal? systemd sets ``$JOURNAL_STREAM`` when it is."""
    return bool(os.environ.get("JOURNAL_STREAM"))


def journal_handler(
    identifier: str = IDENTIFIER, sender: Callable[..., Any] | None = None
) -> logging.Handler | None:
    """systemd-python's ``JournalHandler`` (``sender`` replaces ``journal.send`` in tests)."""
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    options: dict[str, Any] = {"SYSLOG_IDENTIFIER": identifier}
    if sender is not None:
        options["sender_function"] = sender
    return JournalHandler(**options)


class PriorityPrefixFormatter(logging.Formatter):
    """``<4>appliance.app.daemon: ...``: journald reads the prefix as the priority."""

    def format(self, record: logging.LogRecord) -> str:
        priority = PRIORITIES.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return f"<{priority}>{super().format(record)}"


def setup_logging(verbose: bool = False, *, journal: bool | None = None) -> logging.Handler:
    """Send all logging to the journal (under systemd) or stderr; returns the handler used."""
    journal = under_journald() if journal is None else journal
    handler: logging.Handler | None = journal_handler() if journal else None
    if handler is None and journal:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(PriorityPrefixFormatter("%(name)s: %(message)s"))
    elif handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True
    )
    return handler
