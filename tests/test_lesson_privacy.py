"""Privacy, as a test: after real turns through the daemon with ``log_transcripts`` off,
no word the student said is anywhere under ``$PARLO_HOME`` or in the daemon's log.

The box is the real one (real models, a mock GPIO button, file-backed sound, the
lesson recorder following the daemon's events, as the daemon wires it); the
students speak distinctive words, and Whisper must have heard them for the test to
mean anything. The same turns with ``log_transcripts`` on do leave the words behind,
which shows the search would find them.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin
from waiting import wait_until

from appliance.app.wiring import build_daemon
from appliance.audio.files import FileDevices
from appliance.core.config import Config, load_config, save_config
from appliance.core.events import EventStream, State, TurnFinished
from appliance.core.paths import model_store_root, voice_cache_dir
from appliance.lessons.store import LessonStore

SENTENCES = (
    "I saw a kangaroo at the zoo yesterday.",
    "I have a pet tortoise called Speedy.",
    "We went camping near a volcano.",
)
DISTINCTIVE = ("kangaroo", "speedy", "volcano")  # "tortoise" is heard as "toward us"
TARGETS = ["zoo", "camping", "pet"]
INSTALLED: list[Path] = []  # the machine's model store and voice cache, found before the test


@pytest.fixture
def mock_gpio():
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


def run_lesson(home: Path, log_path: Path, speak, mock_gpio, monkeypatch, **changes) -> list:
    """The daemon in ``home`` (the installed models and voices borrowed by symlink): the
    sentences spoken one turn each, with the recorder subscribed. Returns the turns."""
    home.mkdir()
    (home / "models").symlink_to(INSTALLED[0])
    (home / "cache").mkdir()
    (home / "cache" / "voices").symlink_to(INSTALLED[1])
    monkeypatch.setenv("PARLO_HOME", str(home))
    mock_gpio.reset()  # a fresh button and LED for each daemon
    config = Config().with_changes(
        {
            "web.enabled": False,
            "lessons.target_words": TARGETS,
            **changes,
        }
    )
    save_config(config, home / "config.toml")
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    devices = FileDevices(output_path=home / "speaker.wav", realtime=True)
    events = EventStream()
    turns: list[TurnFinished] = []
    events.subscribe(lambda e: turns.append(e) if isinstance(e, TurnFinished) else None)
    # The daemon's own recorder follows its shown stream and writes under $PARLO_HOME.
    daemon = build_daemon(config, devices, events=events)
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: events.last_state.state == State.IDLE, timeout=120)
        # The button is connected just after the engine is ready: a press before is lost.
        wait_until(lambda: daemon.controller is not None)
        button = mock_gpio.pin(17)
        silence = np.zeros(6400, dtype=np.float32)
        for number, sentence in enumerate(SENTENCES, 1):
            devices.feed(np.concatenate([speak(sentence), silence]))
            button.drive_low()
            wait_until(lambda: events.last_state.state == State.LISTENING)
            wait_until(lambda: devices.pending_frames == 0)
            button.drive_high()
            wait_until(lambda n=number: len(turns) >= n, timeout=120)
            wait_until(lambda: events.last_state.state == State.IDLE, timeout=60)
    finally:
        daemon.stop("test over")  # the recorder writes the lesson so far as it closes
        runner.join(15)
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
    assert not runner.is_alive()
    lessons = LessonStore(home / "lessons").load()
    assert len(lessons) == 1
    lesson = lessons[0]
    assert len(lesson.turns) == len(SENTENCES) and lesson.student_seconds > 3
    assert lesson.box_seconds > 1 and lesson.target_words_hit == 3
    assert lesson.distinct_words >= 15
    return turns


def words_left_behind(home: Path, log_path: Path) -> dict[str, list[str]]:
    """Each distinctive word, and the files (under ``home``, not following the borrowed
    models and voices, and the log) that hold it."""
    found: dict[str, list[str]] = {}
    files = [log_path]
    for folder, _, names in os.walk(home, followlinks=False):
        files += [Path(folder) / name for name in names]
    for path in files:
        if path.is_symlink():
            continue
        data = path.read_bytes().lower()
        for word in DISTINCTIVE:
            if word.encode() in data:
                found.setdefault(word, []).append(str(path))
    return found


def test_no_student_word_is_kept_unless_the_teacher_asked(
    speak, mock_gpio, tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("PARLO_CONFIG", raising=False)
    INSTALLED[:] = [model_store_root().resolve(), voice_cache_dir().resolve()]
    assert (INSTALLED[0] / "current").exists(), "the privacy test needs the real models"

    home, log_path = tmp_path / "off", tmp_path / "off.log"
    turns = run_lesson(home, log_path, speak, mock_gpio, monkeypatch)
    heard = " ".join(turn.transcript for turn in turns).lower()
    assert all(word in heard for word in DISTINCTIVE), f"Whisper heard {heard!r}"
    assert words_left_behind(home, log_path) == {}
    assert load_config(home / "config.toml").lessons.target_words == tuple(TARGETS)
    assert log_path.stat().st_size > 1000  # the daemon did log (states, timings)

    # With the teacher's opt-in, the same search finds the words: it would see a leak.
    home, log_path = tmp_path / "on", tmp_path / "on.log"
    run_lesson(home, log_path, speak, mock_gpio, monkeypatch, **{"privacy.log_transcripts": True})
    found = words_left_behind(home, log_path)
    assert set(found) == set(DISTINCTIVE)
    assert any("/lessons/" in path for path in found["volcano"])
