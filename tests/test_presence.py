"""Physical presence: requests wait for a hold at the box, and without one nothing changes."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from appliance.core.presence import PresenceGate
from appliance.web import auth


def gate(directory: Path, window: float = 5.0, **options) -> PresenceGate:
    return PresenceGate(directory, window=window, poll=0.02, **options)


def test_a_request_waits_for_a_hold_and_is_then_confirmed(tmp_path: Path) -> None:
    applied: list[dict] = []
    stick = gate(tmp_path)
    box = gate(tmp_path, appliers={"thing": applied.append})
    request = stick.ask("thing", "Something wants doing.", {"n": 1})
    (pending,) = box.pending()
    assert pending.summary == "Something wants doing." and pending.id == request.id
    assert "hold the button for three seconds within 5 seconds" in pending.spoken
    assert applied == []  # nothing happens until the hold
    assert [r.id for r in box.confirm()] == [request.id]
    assert applied == [{"n": 1}]
    assert stick.wait(request) is True
    assert box.pending() == [] and box.confirm() == []
    assert applied == [{"n": 1}]  # applied once only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last-hold"]


def test_without_a_hold_in_time_the_request_is_refused_and_logged(tmp_path, caplog) -> None:
    applied: list[dict] = []
    stick = gate(tmp_path, window=0.2)
    with caplog.at_level(logging.ERROR):
        assert stick.ask_and_wait("thing", "Something wants doing.") is False
    assert "nobody held the button at the box within 0 s: Something wants doing." in caplog.text
    box = gate(tmp_path, appliers={"thing": applied.append})
    assert box.pending() == [] and box.confirm() == [] and applied == []


def test_a_hold_before_the_ask_confirms_nothing(tmp_path: Path) -> None:
    box = gate(tmp_path)
    assert box.confirm() == []
    assert box.last_hold() > 0
    stick = gate(tmp_path, window=0.2)
    assert stick.ask_and_wait("thing", "Later.") is False


def test_a_failing_applier_refuses_the_request_without_taking_the_daemon_down(tmp_path) -> None:
    def broken(payload) -> None:
        raise ValueError("bad payload")

    stick, box = gate(tmp_path), gate(tmp_path, appliers={"thing": broken})
    request = stick.ask("thing", "Something.")
    assert box.confirm() == []
    assert stick.wait(request) is False


def test_damaged_and_misnamed_request_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "0123456789abcdef.request.json").write_text("{not json")
    (tmp_path / "fedcba9876543210.request.json").write_text(
        json.dumps({"id": "0123456789abcdef", "kind": "x", "summary": "s",
                    "asked_at": 0, "expires_at": 1e12})
    )  # fmt: skip
    assert gate(tmp_path).pending() == []


def test_a_confirmed_pin_reset_is_installed_by_the_box(tmp_path: Path) -> None:
    secret_file = tmp_path / "web-secret"
    auth.set_secret("old-secret", secret_file)
    stick_dir = tmp_path / "stick"
    stick_dir.mkdir()
    stick = gate(tmp_path / "presence", window=20)
    box = auth.box_presence_gate(secret_file, directory=tmp_path / "presence")
    result: list[str | None] = []
    worker = threading.Thread(
        target=lambda: result.append(auth.reset_pin_to_stick(stick_dir, stick))
    )
    worker.start()
    while not box.pending():
        pass
    # The stick carries the PIN before the hold, but it does not work yet.
    assert "works only once someone at the box" in (stick_dir / "parlo-pin.txt").read_text()
    assert auth.verify_secret("old-secret", secret_file)
    box.confirm()
    worker.join()
    (pin,) = result
    assert pin is not None and auth.verify_secret(pin, secret_file)
    assert f"PIN: {pin}" in (stick_dir / "parlo-pin.txt").read_text()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"scheme": "plain"}, "unknown secret scheme"),
        ({"n": 3}, "out of range"),
        ({"n": "16384"}, "not numbers"),
        ({"salt": "zz"}, "salt is not 16 bytes"),
        ({"hash": "00"}, "hash is not 32 bytes"),
        ({"extra": 1}, "not a scrypt record"),
    ],
)
def test_a_damaged_secret_record_never_replaces_the_secret(tmp_path, change, message) -> None:
    secret_file = tmp_path / "web-secret"
    auth.set_secret("old-secret", secret_file)
    record = auth.secret_record("new-secret") | change
    with pytest.raises(auth.SecretError, match=message):
        auth.install_secret_record(record, secret_file)
    assert auth.verify_secret("old-secret", secret_file)
    auth.install_secret_record(auth.secret_record("new-secret"), secret_file)
    assert auth.verify_secret("new-secret", secret_file)


def test_a_request_claimed_by_a_box_that_then_died_is_refused(tmp_path, monkeypatch) -> None:
    from appliance.core import presence

    monkeypatch.setattr(presence, "OUTCOME_GRACE", 0.2)
    stick = gate(tmp_path, window=0.1)
    request = stick.ask("thing", "Something.")
    # The daemon renamed it (claimed it) and was killed before writing the outcome.
    (tmp_path / f"{request.id}.request.json").rename(tmp_path / f"{request.id}.claimed.json")
    assert stick.wait(request) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == []
