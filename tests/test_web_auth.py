"""The secret file, PINs, the USB reset, sessions and the login throttle, without a server."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.web import auth
from appliance.web.sessions import LoginThrottle, SessionStore, TooManyTries


def test_a_pin_is_eight_random_digits() -> None:
    pins = {auth.generate_pin() for _ in range(50)}
    assert all(len(pin) == 8 and pin.isdigit() for pin in pins)
    assert len(pins) > 45


def test_the_secret_is_stored_hashed_and_private(tmp_path) -> None:
    path = tmp_path / "web-secret"
    assert not auth.has_secret(path)
    assert not auth.verify_secret("anything", path)
    auth.set_secret("correct horse", path)
    record = json.loads(path.read_text())
    assert record["scheme"] == "scrypt" and "correct horse" not in path.read_text()
    assert {"n", "r", "p", "salt", "hash"} <= record.keys()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.verify_secret("correct horse", path)
    assert not auth.verify_secret("correct horse ", path)
    assert not auth.verify_secret("", path)


def test_weak_secrets_are_refused(tmp_path) -> None:
    for weak in ("", "12345", " padded ", "x" * 200, "tab\there"):
        try:
            auth.set_secret(weak, tmp_path / "s")
        except auth.SecretError:
            continue
        raise AssertionError(f"{weak!r} was accepted")
    assert not (tmp_path / "s").exists()


def test_a_damaged_secret_file_lets_nobody_in(tmp_path) -> None:
    path = tmp_path / "web-secret"
    path.write_text('{"scheme": "scrypt", "salt": "zz"}')
    assert auth.has_secret(path)
    assert not auth.verify_secret("whatever1", path)


def test_reset_from_a_usb_stick_writes_the_pin_there_and_never_logs_it(tmp_path, caplog) -> None:
    from appliance.core.presence import PresenceGate

    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / auth.RESET_MARKER_NAME).touch()
    secret_file = tmp_path / "web-secret"

    class HeldAtOnce(PresenceGate):  # someone at the box holds the button at once
        def wait(self, request) -> bool:
            auth.install_secret_record(request.payload["record"], secret_file)
            return True

    with caplog.at_level(logging.INFO):
        pin = auth.reset_pin_to_stick(stick, HeldAtOnce(tmp_path / "presence"))
    assert pin is not None and pin in (stick / auth.PIN_FILE_NAME).read_text()
    assert auth.verify_secret(pin, secret_file)
    assert "parlo-pin.txt" in caplog.text and pin not in caplog.text


def test_sessions_expire_and_end_when_the_secret_changes(tmp_path) -> None:
    secret_file = tmp_path / "web-secret"
    auth.set_secret("first-secret", secret_file)
    now = [1000.0]
    store = SessionStore(secret_file, hours=1, clock=lambda: now[0])
    session = store.create()
    assert store.get(session.token) is session
    assert session.csrf_matches(session.csrf) and not session.csrf_matches("other")
    assert not session.csrf_matches(None)
    now[0] += 3601
    assert store.get(session.token) is None
    fresh = store.create()
    auth.set_secret("second-secret", secret_file)
    assert store.get(fresh.token) is None
    assert store.get(None) is None and store.get("") is None


def test_sessions_are_capped(tmp_path) -> None:
    store = SessionStore(tmp_path / "none", hours=1)
    tokens = [store.create().token for _ in range(SessionStore.MAX_SESSIONS + 10)]
    assert sum(store.get(t) is not None for t in tokens) == SessionStore.MAX_SESSIONS


def test_the_throttle_backs_off_per_address_and_slows_everyone() -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])

    def fail(address: str) -> None:
        throttle.failed(throttle.reserve(address))

    for _ in range(4):
        fail("10.0.0.5")
    assert throttle.retry_after("10.0.0.5") == 0
    fail("10.0.0.5")
    assert throttle.retry_after("10.0.0.5") == 30
    with pytest.raises(TooManyTries, match="Wait 30 seconds"):
        throttle.reserve("10.0.0.5")
    now[0] += 30
    fail("10.0.0.5")
    assert throttle.retry_after("10.0.0.5") == 60
    assert throttle.retry_after("10.0.0.6") == 0
    now[0] += 60
    throttle.succeeded(throttle.reserve("10.0.0.5"))
    assert throttle.retry_after("10.0.0.5") == 0
    for n in range(30):  # many machines, one guess each: 30 failures in the minute
        fail(f"10.0.1.{n}")
    # Over the cap, nobody is locked out: each attempt waits its turn, 2 s apart.
    delays = [throttle.reserve(f"10.0.9.{n}").delay for n in range(3)]
    assert delays == [0.0, 2.0, 4.0]
    throttle.lift_global_cap()  # a hold at the box
    assert throttle.reserve("10.0.8.1").delay == 0
    now[0] += 61
    assert throttle.reserve("10.0.8.2").delay == 0


def test_an_attempt_is_counted_before_the_password_is_checked() -> None:
    throttle = LoginThrottle()
    attempt = throttle.reserve("10.0.0.5")
    with pytest.raises(TooManyTries, match="being checked"):
        throttle.reserve("10.0.0.5")  # one in flight per address
    throttle.failed(attempt)
    for _ in range(4):
        throttle.failed(throttle.reserve("10.0.0.5"))
    with pytest.raises(TooManyTries, match="Too many wrong tries"):
        throttle.reserve("10.0.0.5")


def test_parlo_passwd_reads_stdin(tmp_path) -> None:
    repo = Path(__file__).resolve().parent.parent
    env = {"PARLO_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "passwd"],
        input="classroom-7\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=repo,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert auth.verify_secret("classroom-7", tmp_path / "web-secret")
    short = subprocess.run(
        [sys.executable, "-m", "appliance", "passwd"],
        input="123\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=repo,
        check=False,
    )
    assert short.returncode == 2 and "at least 6" in short.stderr
    assert auth.verify_secret("classroom-7", tmp_path / "web-secret")


def test_first_boot_makes_the_box_its_own_pin_once(tmp_path) -> None:
    repo = Path(__file__).resolve().parent.parent
    env = {"PARLO_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)}

    def first_boot() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "appliance", "passwd", "--first-boot"],
            capture_output=True, text=True, env=env, cwd=repo, check=False,
        )  # fmt: skip

    done = first_boot()
    assert done.returncode == 0 and "PIN was made" in done.stderr, done.stderr
    secret_file = tmp_path / "web-secret"
    kept = (tmp_path / auth.FIRST_BOOT_PIN_NAME).read_text().strip()
    assert stat.S_IMODE((tmp_path / auth.FIRST_BOOT_PIN_NAME).stat().st_mode) == 0o600
    assert auth.verify_secret(kept, secret_file) and kept not in done.stdout + done.stderr
    before = secret_file.read_text()
    again = first_boot()
    assert again.returncode == 0 and "nothing was changed" in again.stderr
    assert secret_file.read_text() == before
    assert auth.take_first_boot_pin(secret_file) == kept  # said on the first long hold
    assert auth.take_first_boot_pin(secret_file) is None  # and only then


def test_a_stale_first_boot_pin_is_never_said(tmp_path) -> None:
    secret_file = tmp_path / "web-secret"
    assert auth.make_first_boot_pin(secret_file) is not None
    auth.set_secret("teacher-chose-this", secret_file)
    assert auth.take_first_boot_pin(secret_file) is None
