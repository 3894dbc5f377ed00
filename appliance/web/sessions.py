"""Who is logged in, and who is guessing.

A session is a random token kept only in memory (a restart logs everyone out)
and sent as an ``HttpOnly; SameSite=Strict`` cookie. Each session has its own
CSRF token, which every state-changing form carries back.

When the secret file changes (``parlo passwd``, the page's own password form,
a USB reset), every session ends: each one remembers the file's fingerprint
from when it began.
"""

from __future__ import annotations

import contextlib
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
    in_flight: bool = False


class TooManyTries(Exception):
    """A login attempt refused before any hashing: wait ``wait`` seconds; ``reason`` says why."""

    def __init__(self, wait: float, reason: str) -> None:
        super().__init__(reason)
        self.wait = wait
        self.reason = reason


@dataclass(frozen=True)
class Attempt:
    """One reserved login attempt: counted as a failure until :meth:`LoginThrottle.succeeded`.

    ``delay`` is how long to wait before checking the password: non-zero only while
    the global cap slows every login down.
    """

    address: str
    at: float
    delay: float


@dataclass
class LoginThrottle:
    """Slows guessing to a crawl: per address, lockout with doubling backoff; overall, a slow lane.

    An attempt is *reserved* (:meth:`reserve`) under the lock before the password
    is hashed, and counted as a failure from then on, so parallel guesses cannot
    all slip in before the first is counted; :meth:`succeeded` takes it back.
    Each address has at most one attempt in flight.

    An address gets ``free_failures`` wrong tries, then is locked out for
    ``base_lockout`` seconds, doubling with each further failure up to
    ``max_lockout``. A correct password clears its record. Across all addresses,
    once ``global_failures_per_minute`` failures are counted in the last minute,
    logins are not refused but *slowed*: each waits its turn in one lane that
    lets an attempt through every ``60 / global_failures_per_minute`` seconds.
    Students sharing many machines still cannot guess faster than that, and the
    teacher's correct PIN still gets in, a few seconds later. A hold of the button
    at the box (:meth:`lift_global_cap`) empties the lane at once.
    """

    free_failures: int = 5
    base_lockout: float = 30.0
    max_lockout: float = 15 * 60.0
    global_failures_per_minute: int = 30
    max_delay: float = 120.0  # a longer queue is refused (429) rather than held open
    clock: Clock = time.monotonic
    _records: dict[str, _Record] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=deque)
    _next_slot: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, address: str) -> float:
        """Seconds until ``address``'s lockout ends; 0 when it may try now."""
        now = self.clock()
        with self._lock:
            record = self._records.get(address)
            return max(0.0, record.locked_until - now) if record else 0.0

    def reserve(self, address: str) -> Attempt:
        """Claim an attempt for ``address``, counted as failed. Raises :class:`TooManyTries`."""
        now = self.clock()
        with self._lock:
            self._forget_old(now)
            record = self._records.get(address)
            if record is not None and record.in_flight:
                raise TooManyTries(1.0, "A login from this device is being checked. Wait a moment.")
            if record is not None and record.locked_until > now:
                wait = record.locked_until - now
                raise TooManyTries(wait, f"Too many wrong tries. Wait {wait:.0f} seconds.")
            delay = 0.0
            if len(self._recent) >= self.global_failures_per_minute:
                slot = max(now, self._next_slot)
                delay = slot - now
                if delay > self.max_delay:
                    raise TooManyTries(delay, f"The box is busy. Wait {delay:.0f} seconds.")
                self._next_slot = slot + 60.0 / self.global_failures_per_minute
            if record is None:
                record = self._records[address] = _Record()
                if len(self._records) > 10_000:  # addresses are cheap to forge; memory is not
                    self._records.pop(next(iter(self._records)))
            record.in_flight = True
            record.failures += 1
            extra = record.failures - self.free_failures
            if extra >= 0:
                record.locked_until = now + min(self.base_lockout * 2**extra, self.max_lockout)
            self._recent.append(now)
            return Attempt(address, now, delay)

    def failed(self, attempt: Attempt) -> None:
        """The password was wrong: the reservation stands as a failure."""
        with self._lock:
            record = self._records.get(attempt.address)
            if record is not None:
                record.in_flight = False

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the address's record is cleared, its failure taken back."""
        with self._lock:
            self._records.pop(attempt.address, None)
            with contextlib.suppress(ValueError):
                self._recent.remove(attempt.at)

    def lift_global_cap(self) -> None:
        """Someone at the box held the button: let logins through at full speed again."""
        with self._lock:
            self._recent.clear()
            self._next_slot = 0.0

    def _forget_old(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - 60:
            self._recent.popleft()
