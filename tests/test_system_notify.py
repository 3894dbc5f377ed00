"""sd_notify over a real AF_UNIX datagram socket, the watchdog's schedule, and journald logging."""

from __future__ import annotations

import logging
import os
import socket
import uuid

import pytest

from appliance.core.events import EventStream, State
from appliance.system.journal import PriorityPrefixFormatter, journal_handler, setup_logging
from appliance.system.notify import Notifier, StatusReporter, Watchdog


@pytest.fixture
def notify_socket(tmp_path):
    """A socket where systemd would listen; yields (address for $NOTIFY_SOCKET, receive())."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(5)

    def receive() -> str:
        return sock.recv(4096).decode()

    yield str(path), receive
    sock.close()


def test_ready_and_status_reach_the_socket(notify_socket):
    address, receive = notify_socket
    notifier = Notifier(address, use_library=False)
    assert notifier.ready("idle: ready")
    assert receive() == "READY=1\nSTATUS=idle: ready"
    assert notifier.status("listening\nnow")
    assert receive() == "STATUS=listening now"  # one line: systemd shows only the first
    assert notifier.watchdog()
    assert receive() == "WATCHDOG=1"


def test_abstract_socket_addresses_start_with_at():
    name = f"parlo-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier("@" + name, use_library=False).stopping()
        assert sock.recv(100) == b"STOPPING=1"


def test_systemd_python_is_used_when_installed(notify_socket, monkeypatch):
    import systemd.daemon  # noqa: F401  (installed by the systemd extra; must be used)

    address, receive = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    notifier = Notifier()
    assert notifier._library is not None
    assert notifier.ready()
    assert receive() == "READY=1"


def test_without_systemd_nothing_is_sent_and_nothing_fails(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.ready() is False


def test_a_vanished_socket_is_logged_not_raised(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "gone"), use_library=False)
    assert notifier.watchdog() is False
    assert "could not notify systemd" in caplog.text


def test_status_follows_state_changes(notify_socket):
    address, receive = notify_socket
    events = EventStream()
    reporter = StatusReporter(Notifier(address, use_library=False), events)
    events.state(State.LISTENING)
    assert receive() == "STATUS=listening"
    events.state(State.ERROR, "microphone unplugged")
    assert receive() == "STATUS=error: microphone unplugged"
    reporter.close()


def test_watchdog_reads_its_timeout_from_systemd(monkeypatch):
    notifier = Notifier("", use_library=False)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    watchdog = Watchdog.from_environment(notifier)
    assert (watchdog.timeout, watchdog.interval) == (30.0, 15.0)

    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert not Watchdog.from_environment(notifier).enabled
    monkeypatch.delenv("WATCHDOG_USEC")
    assert not Watchdog.from_environment(notifier).enabled


def test_watchdog_pings_at_most_once_per_interval(notify_socket):
    address, receive = notify_socket
    watchdog = Watchdog(Notifier(address, use_library=False), timeout=600)
    assert watchdog.kick() is True
    assert receive() == "WATCHDOG=1"
    assert watchdog.kick() is False  # not due for another five minutes
    assert watchdog.pings == 1


# --- logging -----------------------------------------------------------------------------------


def test_journal_records_carry_the_identifier_and_priority():
    import systemd.journal  # noqa: F401

    sent: list[tuple[str, dict]] = []
    handler = journal_handler(sender=lambda text, **fields: sent.append((text, fields)))
    logger = logging.getLogger("test.journal")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("microphone %s is gone", "USB")
    finally:
        logger.removeHandler(handler)
    message, fields = sent[0]
    assert message == "microphone USB is gone"
    assert fields["SYSLOG_IDENTIFIER"] == "parlo"
    assert fields["PRIORITY"] == "3"


def test_stderr_under_journald_gets_priority_prefixes():
    record = logging.LogRecord("appliance.x", logging.WARNING, __file__, 1, "hello", None, None)
    formatted = PriorityPrefixFormatter("%(name)s: %(message)s").format(record)
    assert formatted == "<4>appliance.x: hello"


def test_setup_logging_picks_the_journal_only_under_systemd(monkeypatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        assert isinstance(setup_logging(), logging.StreamHandler)
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
        handler = setup_logging()
        try:
            from systemd.journal import JournalHandler
        except ImportError:
            assert isinstance(handler.formatter, PriorityPrefixFormatter)
        else:
            assert isinstance(handler, JournalHandler)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
