"""Connection limits uvicorn does not have: a header deadline and a cap per address.

uvicorn (with h11) waits for a request's headers for ever, and refuses every
request with 503 once ``limit_concurrency`` connections are open. Sixty-four
half-open connections that never finish their headers (slowloris) then take the
page offline for as long as they stay open. :func:`guarded_protocol` makes an
``H11Protocol`` that

- closes a connection whose request headers are not complete within
  ``header_timeout`` seconds of it opening, or of its previous response ending;
- closes at once a new connection from an address that already holds
  ``per_address`` connections, so one device cannot fill the server.

Bodies are not timed: a pack upload may be slow, and every other body is small
and counted (:class:`appliance.web.security.BodyLimit`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

HEADER_TIMEOUT = 10.0
PER_ADDRESS = 64  # 20 tabs saving at once, or 40 logins racing, still get answers


def guarded_protocol(
    header_timeout: float = HEADER_TIMEOUT, per_address: int = PER_ADDRESS
) -> type[H11Protocol]:
    """An ``H11Protocol`` class with its own connection counts; pass it as uvicorn's ``http``."""
    if header_timeout <= 0 or per_address < 1:
        raise ValueError("header_timeout must be positive and per_address at least 1")
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    class GuardedH11Protocol(H11Protocol):
        _header_deadline: asyncio.TimerHandle | None = None
        _counted: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            host = self.client[0] if self.client else "?"
            with lock:
                if counts[host] >= per_address:
                    full = True
                else:
                    full = False
                    counts[host] += 1
                    self._counted = host
            if full:
                log.warning("web page: %s holds %d connections already; closed", host, per_address)
                transport.close()
                return
            self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            if self._counted is not None:
                with lock:
                    counts[self._counted] -= 1
                    if counts[self._counted] <= 0:
                        del counts[self._counted]
                self._counted = None
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._disarm_header_deadline()  # the headers are in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_deadline()  # the next request's headers, on a kept-alive link

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self._header_deadline = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm_header_deadline(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _headers_too_slow(self) -> None:
            self._header_deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return GuardedH11Protocol
