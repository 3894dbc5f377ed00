"""Switching the box off, or restarting it, the way systemd wants: ``systemctl``.

The service runs as the unprivileged ``parlo`` user; a polkit rule
(``deploy/polkit/50-parlo-power.rules``, installed by ``deploy/install.sh``) lets
that user, and only that user, ask logind to power off or reboot. No part of
Parlo runs as root for this.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

ACTIONS = ("poweroff", "reboot")


class PowerError(RuntimeError):
    """systemd refused, or could not be asked; the message says what it answered."""


class Power:
    """``power("poweroff")`` or ``power("reboot")``: ask systemd now."""

    def __init__(
        self,
        run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
        systemctl: Sequence[str] = ("systemctl",),
    ) -> None:
        self._run = run
        self._systemctl = tuple(systemctl)

    def __call__(self, action: str) -> None:
        if action not in ACTIONS:
            raise ValueError(f"expected one of {', '.join(ACTIONS)}, got {action!r}")
        log.warning("asking systemd to %s", action)
        try:
            done = self._run([*self._systemctl, action], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PowerError(f"systemctl {action} could not run: {error}") from error
        if done.returncode != 0:
            answer = (done.stderr or done.stdout or "").strip() or f"status {done.returncode}"
            raise PowerError(f"systemctl {action} failed: {answer}")
