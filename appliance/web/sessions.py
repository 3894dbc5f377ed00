"""Who is logged in, and who is guessing.

A session is a random token kept only in memory (a restart logs everyone out)
and sent as an ``HttpOnly; SameSite=Strict`` cookie. Each session has its own
CSRF token, which every state-changing form carries back.

When the secret file changes (``parlo passwd``, the page's own password form,
a USB reset), every session ends: each one remembers the file's fingerprint
from when it began.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.web.auth import secret_version

Clock = Callable[[], float]


@dataclass
class Session:
    token: str
    csrf: str
    expires_at: float
    secret_version: tuple[int, int, int] | None

    def csrf_matches(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(self.csrf, str(candidate))


class SessionStore:
    """Tokens to sessions, with expiry and an end to all of them when the secret changes."""

    MAX_SESSIONS = 64  # a classroom has one teacher; a flood of logins must not grow memory

    def __init__(self, secret_file: Path, hours: float, clock: Clock = time.time) -> None:
        self.secret_file = secret_file
        self.lifetime = hours * 3600
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self) -> Session:
        session = Session(
            token=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            expires_at=self.clock() + self.lifetime,
            secret_version=secret_version(self.secret_file),
        )
        with self._lock:
            self._drop_expired()
            while len(self._sessions) >= self.MAX_SESSIONS:
                oldest = min(self._sessions.values(), key=lambda s: s.expires_at)
                del self._sessions[oldest.token]
            self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session for ``token``, or None (unknown, expired, or the secret changed)."""
        if not token:
            return None
        current_version = secret_version(self.secret_file)
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires_at <= self.clock() or session.secret_version != current_version:
                del self._sessions[token]
                return None
            return session

    def end(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def end_all(self) -> None:
        with self._lock:
            self._sessions.clear()

    def _drop_expired(self) -> None:
        now = self.clock()
        for token in [t for t, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[token]


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    """Slows guessing to a crawl: per address, lockout with doubling backoff; overall, a cap.

    An address gets ``free_failures`` wrong tries, then is locked out for
    ``base_lockout`` seconds, doubling with each further failure up to
    ``max_lockout``. A correct password clears its record. Across all addresses,
    more than ``global_failures_per_minute`` failures close the door for everyone
    for the rest of that minute: students sharing many machines cannot split the
    guessing between them. ``retry_after`` is checked *before* the password is.
    """

    free_failures: int = 5
    base_lockout: float = 30.0
    max_lockout: float = 15 * 60.0
    global_failures_per_minute: int = 30
    clock: Clock = time.monotonic
    _records: dict[str, _Record] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may try now."""
        now = self.clock()
        with self._lock:
            self._forget_old(now)
            waits = [0.0]
            record = self._records.get(address)
            if record:
                waits.append(record.locked_until - now)
            if len(self._recent) >= self.global_failures_per_minute:
                waits.append(self._recent[0] + 60 - now)
            return max(waits)

    def failed(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            record = self._records.setdefault(address, _Record())
            record.failures += 1
            extra = record.failures - self.free_failures
            if extra >= 0:
                record.locked_until = now + min(self.base_lockout * 2**extra, self.max_lockout)
            self._recent.append(now)
            if len(self._records) > 10_000:  # addresses are cheap to forge; memory is not
                self._records.pop(next(iter(self._records)))

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._records.pop(address, None)

    def _forget_old(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - 60:
            self._recent.popleft()
