"""What happens when a USB stick is plugged in.

udev only asks systemd to start ``parlo-usb-import@<device>.service``
(``deploy/udev/90-parlo-usb.rules``); that unit mounts the stick read-only
(``deploy/usb-import.sh``) and runs ``parlo models usb MOUNTPOINT``, which calls
:func:`handle_stick`. A stick may carry:

- ``parlo-models/``: a model pack, installed with :func:`appliance.models.importer.import_pack`;
- ``parlo-reset-pin``: a request to reset the web page's PIN, handled by
  ``appliance.web.auth.reset_pin_to_stick`` when that is installed.

Neither a PIN reset nor a pack no trusted key signed goes ahead on the stick's
word: each waits at the presence ``gate`` (:mod:`appliance.core.presence`) for
a hold of the button at the box, and without one nothing changes. Each is done
independently, and each outcome is logged (the journal is where a technician
looks when the LED says an import failed).
"""

from __future__ import annotations

import importlib
import logging
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from appliance.models import updates
from appliance.models.importer import ImportRefused, ImportResult, SmokeTest, import_pack
from appliance.models.pack import PACK_DIR_NAME
from appliance.models.progress import ProgressCallback
from appliance.models.signing import SignatureError, load_trusted_keys
from appliance.models.smoke import smoke_test_in_child
from appliance.models.store import ModelStore, StoreError

log = logging.getLogger(__name__)

RESET_PIN_FILE = "parlo-reset-pin"


class Gate(Protocol):
    """What a stick needs from :class:`appliance.core.presence.PresenceGate`."""

    def ask(self, kind: str, summary: str, payload: Any = None) -> Any: ...
    def wait(self, request: Any) -> bool: ...
    def ask_and_wait(self, kind: str, summary: str) -> bool: ...


@dataclass
class StickOutcome:
    """What :func:`handle_stick` did: one sentence per action, and whether any failed."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def handle_stick(
    mount_point: Path,
    store: ModelStore,
    *,
    allow_unsigned: str,
    progress: ProgressCallback | None = None,
    smoke_test: SmokeTest | None = smoke_test_in_child,
    gate: Gate | None = None,
) -> StickOutcome:
    """Act on whatever the stick at ``mount_point`` carries for Parlo.

    ``gate`` is where a PIN reset or an untrusted pack waits for a hold at the box;
    with none, both are refused.
    """
    outcome = StickOutcome()
    if _is_plain_file(mount_point / RESET_PIN_FILE):
        _reset_pin(mount_point, outcome, gate)
    if (mount_point / PACK_DIR_NAME).exists() or (mount_point / PACK_DIR_NAME).is_symlink():
        updates.report(store.root, "updating")
        try:
            result = import_pack(
                mount_point,
                store,
                trusted_keys=load_trusted_keys(),
                allow_unsigned=allow_unsigned,
                progress=progress,
                smoke_test=smoke_test,
                confirm_presence=gate.ask_and_wait if gate is not None else None,
            )
        except (ImportRefused, SignatureError, StoreError) as error:
            outcome.failed.append(f"model pack not installed: {error}")
            updates.report(store.root, "refused", updates.spoken_refusal(str(error)))
        except BaseException:
            updates.report(store.root, "refused", "Update failed. The old models are still used.")
            raise
        else:
            outcome.done.append(result.message)
            updates.report(store.root, "installed", _spoken_success(result))
    if not outcome.done and not outcome.failed:
        outcome.done.append(f"nothing for Parlo on {mount_point}")
    for line in outcome.done:
        log.info("%s", line)
    for line in outcome.failed:
        log.error("%s", line)
    return outcome


def _spoken_success(result: ImportResult) -> str:
    installed = f"{result.model_set.name} {result.model_set.version}"
    if not result.changed:
        return f"No update needed: {installed} is already in use."
    return f"New models installed: {installed}."


def _reset_pin(mount_point: Path, outcome: StickOutcome, gate: Gate | None) -> None:
    try:
        auth = importlib.import_module("appliance.web.auth")
        reset = auth.reset_pin_to_stick
    except (ImportError, AttributeError):
        outcome.failed.append(f"{RESET_PIN_FILE} found, but this software cannot reset the PIN")
        return
    if gate is None:
        outcome.failed.append(
            f"{RESET_PIN_FILE} found, but nobody at the box can confirm it here; PIN unchanged"
        )
        return
    try:
        pin = reset(mount_point, gate)
    except Exception as error:  # whatever it was, the teacher needs to hear it failed
        outcome.failed.append(f"PIN reset failed: {error}")
    else:
        if pin is None:
            outcome.failed.append("PIN reset refused: nobody held the button at the box in time")
        else:
            outcome.done.append("PIN reset, confirmed at the box")


def _is_plain_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False
