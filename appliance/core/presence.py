"""Physical presence: what changes who controls the box needs someone at the box.

A USB stick asking for a new PIN, or an unsigned model pack (from a stick or the
page), is not done at once. Whoever wants it (the USB import's own process, the
page's import thread) *asks*: a small request file appears in
``$PARLO_HOME/presence/``. It is pending until one of two things happens:

- someone holds the button at the box (the daemon calls :meth:`PresenceGate.confirm`
  on a long hold) within :data:`WINDOW` seconds: the request goes ahead;
- the window passes: it is refused, the refusal is logged, and nothing changes.

The daemon announces what is pending (:meth:`PresenceGate.pending`: each request's
``summary`` is a sentence to say aloud, with the "confirm" LED pattern) and says
what a hold confirmed. Files make it work across processes: the import unit and
the daemon share only ``$PARLO_HOME/presence/``, both as the ``parlo`` user.

Some requests are carried out by the confirming side (``appliers``): a PIN reset
carries the new secret's *hash*, and the daemon, which may write the secret file,
installs it when the hold confirms it (its gate is
:func:`appliance.web.auth.box_presence_gate`). The sandboxed import unit never writes the
secret itself. Others (an unsigned pack) are carried out by the asker once it
sees the confirmation.

Every hold at the box is also recorded (:meth:`PresenceGate.last_hold`): the page's
login throttle lifts its global cap after one, so a class flooding the login
cannot keep the teacher out.

Claiming is race-free: the confirming side renames ``<id>.request.json`` to
``<id>.claimed.json`` before acting, the asker renames it to ``<id>.expired.json``
when the window has passed; only one rename can win.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from appliance.core.durable import write_atomically
from appliance.core.paths import parlo_home

log = logging.getLogger(__name__)

DIRECTORY_NAME = "presence"
WINDOW = 60.0  # seconds between the ask and the hold that confirms it
OUTCOME_GRACE = 30.0  # how long a claimed request may take to be carried out
HOLD_FILE = "last-hold"
RESET_PIN = "reset-pin"  # a stick asking for a new PIN (appliance.web.auth installs it)
UNSIGNED_PACK = "unsigned-pack"
MAX_REQUEST_BYTES = 8192
_ID = re.compile(r"[0-9a-f]{16}")

Clock = Callable[[], float]
Applier = Callable[[Mapping[str, Any]], None]


class ConfirmPresence(Protocol):
    """What an import asks before doing something only someone at the box may allow.

    ``summary`` is said aloud ("A model pack that is not signed wants to be
    installed."). Returns True once a hold at the box confirmed it, False when
    nobody did in time (the refusal is logged by the gate).
    """

    def __call__(self, kind: str, summary: str) -> bool: ...


class PresenceError(RuntimeError):
    """A request could not be made or read (the presence directory is unusable)."""


@dataclass(frozen=True)
class PresenceRequest:
    id: str
    kind: str
    summary: str
    asked_at: float
    expires_at: float
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def spoken(self) -> str:
        """What the box says while this request is pending."""
        seconds = max(0, round(self.expires_at - self.asked_at))
        return (
            f"{self.summary} To allow it, hold the button for three seconds "
            f"within {seconds} seconds."
        )


def presence_dir() -> Path:

    return parlo_home() / DIRECTORY_NAME


class PresenceGate:
    """Requests that wait for a hold at the box; see the module doc."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        appliers: Mapping[str, Applier] | None = None,
        window: float | None = None,
        clock: Clock = time.time,
        poll: float = 0.2,
    ) -> None:
        self.directory = directory or presence_dir()
        self.appliers = dict(appliers or {})
        self.window = WINDOW if window is None else window
        self.clock = clock
        self.poll = poll

    # --- the asking side: an import ---

    def ask(
        self, kind: str, summary: str, payload: Mapping[str, Any] | None = None
    ) -> PresenceRequest:
        """Make a pending request; it waits for :meth:`confirm` until ``window`` has passed."""
        if not kind or not summary:
            raise PresenceError("a presence request needs a kind and a summary")
        now = self.clock()
        request = PresenceRequest(
            secrets.token_hex(8), kind, summary, now, now + self.window, dict(payload or {})
        )
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomically(self._file(request.id, "request"), json.dumps(asdict(request)))
        except OSError as error:
            raise PresenceError(
                f"cannot ask for a hold at the box in {self.directory}: {error}"
            ) from None
        log.warning("waiting up to %.0f s for a hold at the box: %s", self.window, summary)
        return request

    def wait(self, request: PresenceRequest) -> bool:
        """Block until ``request`` is confirmed (True) or its window has passed (False)."""
        while True:
            outcome = self._outcome(request.id)
            if outcome is not None:
                return self._finish(request, outcome)
            now = self.clock()
            if now > request.expires_at:
                try:
                    os.rename(self._file(request.id, "request"), self._file(request.id, "expired"))
                except FileNotFoundError:
                    # The daemon claimed it just now: its outcome follows, unless it died.
                    if now > request.expires_at + OUTCOME_GRACE:
                        return self._finish(request, "failed: the box never said how it went")
                else:
                    return self._finish(request, "expired")
            time.sleep(self.poll)

    def ask_and_wait(self, kind: str, summary: str) -> bool:
        """:class:`ConfirmPresence` for requests the asker carries out itself."""
        return self.wait(self.ask(kind, summary))

    __call__ = ask_and_wait

    # --- the box's side: the daemon ---

    def pending(self) -> list[PresenceRequest]:
        """Requests waiting for a hold now, oldest first. Expired ones are not listed."""
        now = self.clock()
        found = []
        for path in sorted(self._glob("request")):
            request = self._read(path)
            if request is not None and request.asked_at - 5 <= now <= request.expires_at:
                found.append(request)
        return sorted(found, key=lambda r: r.asked_at)

    def confirm(self) -> list[PresenceRequest]:
        """A hold at the box: let every pending request go ahead. Returns those confirmed.

        Call it on every long hold, whether anything is pending or not: the hold is
        recorded for :meth:`last_hold` too.
        """
        self._record_hold()
        confirmed = []
        for request in self.pending():
            claimed = self._file(request.id, "claimed")
            try:
                os.rename(self._file(request.id, "request"), claimed)
            except FileNotFoundError:
                continue  # expired, or confirmed by someone else, meanwhile
            outcome = "confirmed"
            applier = self.appliers.get(request.kind)
            try:
                if applier is not None:
                    applier(request.payload)
            except Exception as error:  # a bad payload must not take the daemon down
                log.error("confirmed at the box, but it failed: %s: %s", request.summary, error)
                outcome = f"failed: {error}"
            else:
                log.warning("confirmed by a hold at the box: %s", request.summary)
                confirmed.append(request)
            with contextlib.suppress(OSError):
                write_atomically(self._file(request.id, "outcome"), outcome)
                claimed.unlink()
        return confirmed

    def last_hold(self) -> float:
        """When the button was last held at the box (the clock's time), 0 if never."""
        try:
            return float(self._file_named(HOLD_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0.0

    # --- files ---

    def _record_hold(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomically(self._file_named(HOLD_FILE), repr(self.clock()))
        except OSError as error:
            log.error("cannot record the hold at the box in %s: %s", self.directory, error)

    def _outcome(self, request_id: str) -> str | None:
        try:
            return self._file(request_id, "outcome").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _finish(self, request: PresenceRequest, outcome: str) -> bool:
        for state in ("outcome", "expired", "request", "claimed"):
            with contextlib.suppress(OSError):
                self._file(request.id, state).unlink()
        if outcome == "confirmed":
            return True
        if outcome == "expired":
            log.error(
                "refused, nobody held the button at the box within %.0f s: %s",
                request.expires_at - request.asked_at,
                request.summary,
            )
        else:
            log.error("refused: %s (%s)", request.summary, outcome)
        return False

    def _read(self, path: Path) -> PresenceRequest | None:
        try:
            with path.open("rb") as file:
                data = json.loads(file.read(MAX_REQUEST_BYTES + 1)[:MAX_REQUEST_BYTES])
            request = PresenceRequest(
                str(data["id"]),
                str(data["kind"]),
                str(data["summary"]),
                float(data["asked_at"]),
                float(data["expires_at"]),
                dict(data.get("payload") or {}),
            )
        except (OSError, ValueError, KeyError, TypeError):
            log.error("ignoring a damaged presence request %s", path)
            return None
        if not _ID.fullmatch(request.id) or path.name != f"{request.id}.request.json":
            log.error("ignoring a presence request with a wrong name %s", path)
            return None
        return request

    def _glob(self, state: str) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.glob(f"*.{state}.json") if _ID.fullmatch(p.name[:16])]

    def _file(self, request_id: str, state: str) -> Path:
        return self.directory / f"{request_id}.{state}.json"

    def _file_named(self, name: str) -> Path:
        return self.directory / name
