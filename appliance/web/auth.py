"""The page's one secret: a PIN or password, stored only as a scrypt hash.

There is no default. The installer generates a PIN (:func:`generate_pin`) and
stores it with :func:`set_secret`; ``parlo passwd`` sets one by hand; a USB
stick carrying ``parlo-reset-pin`` gets a fresh PIN written onto it, once a
hold of the button at the box confirms it (:func:`reset_pin_to_stick`). Until
a secret exists the page accepts no login.

The file ``$PARLO_HOME/web-secret`` (mode 0600) holds JSON::

    {"scheme": "scrypt", "n": 16384, "r": 8, "p": 1, "salt": "<hex>", "hash": "<hex>"}

The parameters travel with the hash, so they can be raised later without
breaking secrets stored before. This module uses only the standard library:
the installer imports it before anything else is set up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from appliance.core.durable import write_atomically
from appliance.core.paths import parlo_home
from appliance.core.presence import RESET_PIN, PresenceGate

log = logging.getLogger(__name__)

SECRET_FILE_NAME = "web-secret"
RESET_MARKER_NAME = "parlo-reset-pin"
PIN_FILE_NAME = "parlo-pin.txt"
RESET_PIN_KIND = RESET_PIN  # the presence request a stick's reset makes
PIN_DIGITS = 8
MIN_SECRET_LENGTH = 6
MAX_SECRET_LENGTH = 128

# 16 MiB of memory and tens of milliseconds per try on a Pi: slow for a guesser, quick for a person.
SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES = 2**14, 8, 1, 32
_RECORD_KEYS = ("scheme", "n", "r", "p", "salt", "hash")


class SecretError(ValueError):
    """A secret that cannot be used (too short, too long, blank)."""


def secret_path() -> Path:
    """Where the hashed secret lives: ``$PARLO_HOME/web-secret``."""

    return parlo_home() / SECRET_FILE_NAME


def generate_pin() -> str:
    """A fresh random PIN of :data:`PIN_DIGITS` digits, easy to read aloud and type on a phone."""
    return "".join(str(secrets.randbelow(10)) for _ in range(PIN_DIGITS))


def check_secret_shape(secret: str) -> None:
    """Refuse secrets too weak or too odd to use. Raises :class:`SecretError`."""
    if secret != secret.strip():
        raise SecretError("the password must not start or end with spaces")
    if len(secret) < MIN_SECRET_LENGTH:
        raise SecretError(f"the password needs at least {MIN_SECRET_LENGTH} characters")
    if len(secret) > MAX_SECRET_LENGTH:
        raise SecretError(f"the password may have at most {MAX_SECRET_LENGTH} characters")
    if any(ord(c) < 32 for c in secret):
        raise SecretError("the password must not contain control characters")


def set_secret(secret: str, path: Path | None = None) -> None:
    """Hash ``secret`` and store it atomically, readable by the owner only.

    Every page session is ended: the server notices the file changed.
    """
    write_atomically(path or secret_path(), json.dumps(secret_record(secret)) + "\n")


def has_secret(path: Path | None = None) -> bool:
    """Whether a secret has been set, so logging in is possible at all."""
    return _read_record(path or secret_path()) is not None


def verify_secret(candidate: str, path: Path | None = None) -> bool:
    """Whether ``candidate`` is the stored secret. False when none is set."""
    record = _read_record(path or secret_path())
    if record is None or not 0 < len(candidate) <= MAX_SECRET_LENGTH:
        return False
    try:
        expected = bytes.fromhex(record["hash"])
        actual = _scrypt(
            candidate, bytes.fromhex(record["salt"]), record["n"], record["r"], record["p"]
        )
    except (KeyError, ValueError, TypeError):
        log.error("the web secret file is damaged; set a new one with `parlo passwd`")
        return False
    return hmac.compare_digest(expected, actual)


def secret_version(path: Path | None = None) -> tuple[int, int, int] | None:
    """A cheap fingerprint of the secret file; when it changes, sessions must end."""
    try:
        info = (path or secret_path()).stat()
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


FIRST_BOOT_PIN_NAME = "first-boot-pin"


def make_first_boot_pin(secret_file: Path | None = None) -> str | None:
    """At a box's first boot (``parlo passwd --first-boot``): its own PIN, if it has none.

    An SD image carries no secret, or every box flashed from it would share one.
    The PIN is also kept, readable by ``parlo`` only, in ``first-boot-pin`` beside the
    secret, for the daemon to say on the first long hold (:func:`take_first_boot_pin`).
    Returns the new PIN, or None when a secret exists already (nothing changes).
    """
    secret_file = secret_file or secret_path()
    if has_secret(secret_file):
        return None
    pin = generate_pin()
    write_atomically(secret_file.with_name(FIRST_BOOT_PIN_NAME), pin + "\n")
    set_secret(pin, secret_file)
    log.warning("made this box's own web page PIN; hold the button to hear it")
    return pin


def take_first_boot_pin(secret_file: Path | None = None) -> str | None:
    """The first-boot PIN, once: the file is deleted, so it is said only the first time.

    None when there is none, or when the secret has changed since (the PIN is stale).
    """
    secret_file = secret_file or secret_path()
    kept = secret_file.with_name(FIRST_BOOT_PIN_NAME)
    try:
        pin = kept.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    kept.unlink(missing_ok=True)
    return pin if verify_secret(pin, secret_file) else None


class PinResetGate(Protocol):
    """The part of :class:`appliance.core.presence.PresenceGate` a PIN reset uses."""

    def ask(self, kind: str, summary: str, payload: Mapping[str, Any] | None = None) -> Any: ...
    def wait(self, request: Any) -> bool: ...


def reset_pin_to_stick(stick_path: Path, gate: PinResetGate) -> str | None:
    """Recovery: a fresh PIN on ``parlo-pin.txt`` on a USB stick, once confirmed at the box.

    Called when a stick carrying ``parlo-reset-pin`` is inserted. Nothing changes
    until someone holds the button at the box: the request (carrying only the new
    PIN's hash) waits at ``gate`` for that hold, and the daemon installs it. The PIN
    is written to the stick first, so a confirmed reset never leaves the teacher
    locked out with a PIN nobody knows; if the hold never comes, the stick's file
    is overwritten to say so, and the old PIN still works. The PIN is never logged
    and never spoken. Returns the new PIN, or None when the reset was refused.
    """
    pin = generate_pin()
    pin_file = stick_path / PIN_FILE_NAME
    write_atomically(
        pin_file,
        f"Parlo web page PIN: {pin}\n"
        "It works only once someone at the box has held the button to confirm the reset.\n",
    )
    request = gate.ask(
        RESET_PIN_KIND,
        "A USB stick asks for a new PIN for the teacher's page.",
        {"record": secret_record(pin)},
    )
    if not gate.wait(request):
        write_atomically(
            pin_file,
            "The PIN reset was not confirmed at the box, so nothing changed: the old PIN\n"
            "still works. To reset it, plug this stick in again and hold the button at the\n"
            "box for three seconds when it asks.\n",
        )
        log.error("web page PIN reset from USB stick refused: not confirmed at the box")
        return None
    write_atomically(
        pin_file,
        f"Parlo web page PIN: {pin}\n"
        "Open the box's address in a browser on the same network and log in with this PIN.\n"
        "Delete this file once you have changed the PIN or noted it somewhere safe.\n",
    )
    log.warning("web page PIN reset from USB stick; the new PIN was written to %s", pin_file)
    return pin


def secret_record(secret: str) -> dict[str, Any]:
    """The stored form of ``secret`` (what :func:`set_secret` writes): its scrypt hash."""
    check_secret_shape(secret)
    salt = secrets.token_bytes(16)
    return {
        "scheme": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": salt.hex(),
        "hash": _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P).hex(),
    }


def install_secret_record(record: object, path: Path | None = None) -> None:
    """Make ``record`` (from :func:`secret_record`, made elsewhere) the secret.

    Raises :class:`SecretError` for anything but a well-formed scrypt record with
    sane parameters: a damaged record must never replace a working secret.
    """
    if not isinstance(record, dict) or set(record) != set(_RECORD_KEYS):
        raise SecretError("the new secret is not a scrypt record")
    if record["scheme"] != "scrypt":
        raise SecretError(f"unknown secret scheme {record['scheme']!r}")
    n, r, p = record["n"], record["r"], record["p"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p)):
        raise SecretError("the new secret's scrypt parameters are not numbers")
    if not (2**10 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 4):
        raise SecretError(f"the new secret's scrypt parameters are out of range: n={n} r={r} p={p}")
    for key, size in (("salt", 16), ("hash", HASH_BYTES)):
        value = record[key]
        try:
            ok = isinstance(value, str) and len(bytes.fromhex(value)) == size
        except ValueError:
            ok = False
        if not ok:
            raise SecretError(f"the new secret's {key} is not {size} bytes of hex")
    write_atomically(path or secret_path(), json.dumps(record) + "\n")


def box_presence_gate(secret_file: Path | None = None, **options: Any) -> PresenceGate:
    """The daemon's presence gate: a confirmed PIN reset is installed into ``secret_file``.

    ``options`` go to :class:`~appliance.core.presence.PresenceGate` (``directory``,
    ``window``...). Call ``confirm()`` on it on every long hold at the box.
    """

    def reset_pin(payload: Mapping[str, Any]) -> None:
        install_secret_record(payload.get("record"), secret_file)

    return PresenceGate(appliers={RESET_PIN: reset_pin}, **options)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=HASH_BYTES
    )


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.error("cannot read the web secret file %s; set a new one with `parlo passwd`", path)
        return None
    return record if isinstance(record, dict) else None
