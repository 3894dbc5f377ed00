"""Telling systemd how the daemon is doing: ``sd_notify`` and the watchdog.

The unit is ``Type=notify``: systemd counts the service as started only when it
sends ``READY=1``, which the daemon does once the models are loaded and warm.
``STATUS=`` lines show in ``systemctl status parlo``. With ``WatchdogSec=``,
systemd kills and restarts the service unless ``WATCHDOG=1`` keeps arriving::

    notifier = Notifier()             # reads $NOTIFY_SOCKET; does nothing without it
    watchdog = Watchdog.from_environment(notifier)
    ...
    notifier.ready("idle")
    while running:
        if engine_loop_is_alive():
            watchdog.kick()           # sends WATCHDOG=1 when due, at most every WatchdogSec/2

The daemon's main loop kicks only while the engine's worker loop is alive too,
so a hung engine, not only a hung main loop, stops the pings.

Messages go through systemd-python (``systemd.daemon.notify``) when it is
installed, and otherwise straight to the socket: a datagram to the path in
``$NOTIFY_SOCKET``, where a leading ``@`` means Linux's abstract namespace.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from appliance.core.events import Event, EventStream, StateChanged

log = logging.getLogger(__name__)


class Notifier:
    """Sends ``sd_notify`` messages; a quiet no-op when not started by systemd."""

    def __init__(self, socket_path: str | None = None, *, use_library: bool = True) -> None:
        self.socket_path = (
            socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET", "")
        )
        self._library = None
        # systemd-python reads $NOTIFY_SOCKET itself, so it can only serve that socket.
        if use_library and self.socket_path == os.environ.get("NOTIFY_SOCKET", ""):
            try:
                from systemd import daemon

                self._library = daemon
            except ImportError:
                pass

    @property
    def enabled(self) -> bool:
        return bool(self.socket_path)

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields in one message. True if it was delivered."""
        if not self.enabled:
            return False
        message = "\n".join(fields)
        try:
            if self._library is not None:
                return bool(self._library.notify(message))
            return self._send_to_socket(message)
        except OSError as error:
            log.warning("could not notify systemd (%s): %s", message.split("=")[0], error)
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={_one_line(text)}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def _send_to_socket(self, message: str) -> bool:
        address = self.socket_path
        if address.startswith("@"):
            address = "\0" + address[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(1.0)
            sock.connect(address)
            sock.sendall(message.encode())
        return True


class Watchdog:
    """Sends ``WATCHDOG=1`` at most every ``timeout / 2`` seconds, when asked and due.

    ``timeout`` is systemd's ``WatchdogSec=`` in seconds (None: no watchdog).
    """

    def __init__(self, notifier: Notifier, timeout: float | None) -> None:
        self.notifier = notifier
        self.timeout = timeout
        self.interval = timeout / 2 if timeout else None
        self.pings = 0
        self._last_ping: float | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, notifier: Notifier) -> Watchdog:
        """The watchdog systemd asked for in ``$WATCHDOG_USEC``, if it is meant for this process."""
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
            return cls(notifier, None)
        return cls(notifier, int(usec) / 1_000_000)

    @property
    def enabled(self) -> bool:
        return self.interval is not None

    def kick(self) -> bool:
        """Ping systemd if a ping is due. Cheap enough to call on every loop iteration."""
        if self.interval is None:
            return False
        now = time.monotonic()
        with self._lock:
            if self._last_ping is not None and now - self._last_ping < self.interval:
                return False
            self._last_ping = now
        self.pings += 1
        return self.notifier.watchdog()


class StatusReporter:
    """Mirrors the box's state into ``STATUS=``, for ``systemctl status parlo``."""

    def __init__(self, notifier: Notifier, events: EventStream) -> None:
        self.notifier = notifier
        self._unsubscribe = events.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            text = event.state.value + (f": {event.detail}" if event.detail else "")
            self.notifier.status(text)


def _one_line(text: str) -> str:
    return " ".join(text.split())
