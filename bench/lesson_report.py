"""A lesson from a real run: 11 presses through the daemon with file-backed sound (one of
them silent), then ``parlo lessons`` and ``parlo lessons --json``.

    .venv/bin/python bench/lesson_report.py

It borrows the installed models and voices from ``~/.local/share/parlo`` into a fresh
``PARLO_HOME``, so the machine's own lessons are not touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

HOME = Path(tempfile.mkdtemp(prefix="parlo-lesson-"))
INSTALLED = Path.home() / ".local/share/parlo"
LINES = [
    "Hello! My name is Mia. I am thirteen.",
    "I live in Valencia with my family.",
    "At the weekend I play football with my friends.",
    "",  # a press with nothing said
    "For breakfast I eat bread and fruit.",
    "Do you have a pet?",
    "Sorry, can you say that again?",
    "I can cook pasta with my dad.",
    "I don't know.",
    "My favourite subject is art.",
    "Goodbye, see you next week!",
]


def main() -> None:
    (HOME / "models").symlink_to(INSTALLED / "models")
    (HOME / "cache").mkdir()
    (HOME / "cache" / "voices").symlink_to(INSTALLED / "cache" / "voices")
    os.environ["PARLO_HOME"] = str(HOME)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin
    from waiting import wait_until

    from appliance.app.wiring import build_daemon
    from appliance.audio.files import FileDevices
    from appliance.audio.wav import resample
    from appliance.core.config import Config, save_config
    from appliance.core.events import EventStream, State, TurnFinished

    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    targets = ["breakfast", "weekend", "cook", "family"]
    config = Config().with_changes(
        {"web.enabled": False, "activity.level": "A2", "lessons.target_words": targets}
    )
    save_config(config, HOME / "config.toml")
    devices = FileDevices(output_path=HOME / "speaker.wav", realtime=True)
    events = EventStream()
    turns: list[TurnFinished] = []
    events.subscribe(lambda e: turns.append(e) if isinstance(e, TurnFinished) else None)
    daemon = build_daemon(config, devices, events=events)
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    wait_until(lambda: events.last_state.state == State.IDLE, timeout=120)
    wait_until(lambda: daemon.controller is not None)
    assert daemon.engine is not None
    tts = daemon.engine.models.tts  # type: ignore[attr-defined]
    button = Device.pin_factory.pin(17)
    pad = np.zeros(4800, dtype=np.float32)
    for number, line in enumerate(LINES, 1):
        spoken = resample(tts.synthesize(line), tts.sample_rate, 16000) if line else pad
        devices.feed(np.concatenate([pad, spoken, pad, pad]))
        button.drive_low()
        wait_until(lambda: events.last_state.state == State.LISTENING)
        wait_until(lambda: devices.pending_frames == 0)
        button.drive_high()
        wait_until(lambda n=number: len(turns) >= n, timeout=120)
        wait_until(lambda: events.last_state.state == State.IDLE, timeout=60)
        print(f"  {line!r} -> {turns[-1].reply!r}", file=sys.stderr)
    daemon.stop("the lesson is over")
    runner.join(20)
    for flags in ([], ["--json"]):
        command = [sys.executable, "-m", "appliance", "lessons", *flags]
        print(subprocess.run(command, capture_output=True, text=True, env=os.environ).stdout)


if __name__ == "__main__":
    main()
