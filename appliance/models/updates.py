"""How a model update tells the running daemon what it is doing.

The USB import runs in its own process (``parlo-usb-import@.service``). It
writes one small file in the store, ``last-update.json``, as it starts and as it
ends; the daemon reads it to show the "updating" LED pattern and to say the
outcome out loud: "New models installed: tiny-en 1.1.0." or "Update refused: …".
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from appliance.core.durable import write_atomically

STATUS_NAME = "last-update.json"
SPOKEN_WORDS = 16  # a refusal's reason is said briefly; the journal has all of it


@dataclass(frozen=True)
class UpdateStatus:
    state: str  # "updating", "installed" or "refused"
    message: str
    pid: int
    at: float

    @property
    def running(self) -> bool:
        """An update that is still going on (its process is alive)."""
        if self.state != "updating":
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False  # it died part-way: the store is still whole, see durable.py
        except PermissionError:
            pass
        return True


def report(store_root: Path, state: str, message: str = "") -> None:
    status = UpdateStatus(state, message, os.getpid(), time.time())
    write_atomically(store_root / STATUS_NAME, json.dumps(asdict(status)) + "\n")


def read_status(store_root: Path) -> UpdateStatus | None:
    try:
        data = json.loads((store_root / STATUS_NAME).read_text(encoding="utf-8"))
        return UpdateStatus(str(data["state"]), str(data["message"]), int(data["pid"]),
                            float(data["at"]))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


ROLE_WORDS = {"vad": "voice detector", "stt": "speech model", "llm": "language model",
              "tts": "voice"}  # fmt: skip
FILE_NAME = re.compile(r"\S+\.(?:bin|gguf|onnx|json|toml|sig)\b")


def spoken_refusal(reason: str) -> str:
    """A refusal short enough to say aloud, with no file names or hashes in it.

    The importer's messages read "what is wrong: the details"; the box says what
    is wrong, and the journal keeps the details.
    """
    head = reason.split(". ")[0]
    clause = head.split(": ")[0]
    text = clause if len(clause.split()) >= 3 else head
    text = FILE_NAME.sub("", text)
    words = [ROLE_WORDS.get(word, word) for word in text.rstrip(".").split()]
    short = " ".join(words[:SPOKEN_WORDS]) + ("…" if len(words) > SPOKEN_WORDS else "")
    return f"Update refused: {short}."
