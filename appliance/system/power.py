"""Shutting the box down or restarting it, through systemd, never as root.

The daemon runs as the ``parlo`` user. ``systemctl poweroff`` (or ``reboot``) from it
asks logind over D-Bus, and polkit lets that user do those two things only
(``deploy/polkit/50-parlo-power.rules``, installed by ``deploy/install.sh``). systemd
then stops every service in order, the daemon included (SIGTERM), so the config,
the lessons and the model store are all closed properly before the power goes.

::

    power("poweroff")   # or "reboot"; raises PowerError if systemd said no
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence

ACTIONS = ("poweroff", "reboot")
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class PowerError(RuntimeError):
    """systemd refused or failed; the message says why, for the log."""


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def power(action: str, run: Runner = _run) -> None:
    """Ask systemd to ``poweroff`` or ``reboot`` the box (it returns once asked)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown power action {action!r} (allowed: {', '.join(ACTIONS)})")
    try:
        result = run(["systemctl", "--no-ask-password", action])
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PowerError(f"systemctl {action}: {error}") from None
    if result.returncode != 0:
        why = (result.stderr or result.stdout or "").strip() or f"exit status {result.returncode}"
        raise PowerError(f"systemctl {action} failed: {why}")
