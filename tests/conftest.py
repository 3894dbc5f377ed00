"""Shared fixtures. The speech tests use the real installed models, never stand-ins.

The models are the ones ``make test`` fetched into the model store
(``parlo models fetch``). If they are missing, the tests fail with the command
that fixes it: a speech test that skips would prove nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.files import FileDevices
from appliance.audio.wav import resample
from appliance.core.config import Config


@pytest.fixture(scope="session")
def model_set():
    from appliance.app.wiring import NoModelsError, current_model_set

    try:
        return current_model_set()
    except NoModelsError as error:
        pytest.fail(f"{error} (the speech tests need the real models)")


@pytest.fixture(scope="session")
def models(model_set):
    from appliance.speech.loaded import Models

    return Models.load(model_set, Config())


@pytest.fixture(scope="session")
def speak(models):
    """``speak(text) -> 16 kHz float32 audio`` with the installed piper voice."""
    cache: dict[str, np.ndarray] = {}

    def speak(text: str) -> np.ndarray:
        if text not in cache:
            voice = models.tts
            cache[text] = resample(voice.synthesize(text), voice.sample_rate, 16000)
        return cache[text]

    return speak


@pytest.fixture
def make_engine(models, tmp_path: Path) -> Iterator:
    """Build engines on the shared models with file-backed sound; closes them after the test."""
    from appliance.app.wiring import build_engine

    engines = []

    def make(config: Config | None = None, *, realtime: bool = False, **kwargs):
        devices = FileDevices(output_path=tmp_path / "speaker.wav", realtime=realtime)
        engine = build_engine(config or Config(), devices, models=models, **kwargs)
        engine.devices = devices
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


# The threads Parlo starts (daemon threads included: they would run on after a close).
OUR_THREADS = frozenset(
    [
        "audio-close",
        "audio-search",
        "audio-watchdog",
        "controller",
        "engine",
        "evdev-button",
        "fake-engine",
        "file-input",
        "keyboard-button",
        "lesson-writer",
        "llm-breaker",
        "speaker",
        "static",
        "stt-chunks_0",
        "stt-guess",
        "sysfs-led",
        "tts",
        "vad",
        "web-model-import",
        "web-server",
    ]
)


def leftover_threads(before: set[threading.Thread], grace: float = 3.0) -> list[str]:
    """Threads started since ``before`` that still run after ``grace`` seconds: any
    non-daemon thread, and any of :data:`OUR_THREADS` (a worker its owner did not stop)."""
    deadline = time.monotonic() + grace
    while True:
        left = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and (not t.daemon or t.name in OUR_THREADS)
        ]
        if not left or time.monotonic() > deadline:
            return sorted(t.name for t in left)
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def no_thread_leaks(request) -> Iterator[None]:
    """Every test must stop what it started: no non-daemon thread and no Parlo worker
    may survive it (engines made by ``make_engine`` are closed before this checks)."""
    before = set(threading.enumerate())
    yield
    leaked = leftover_threads(before)
    assert not leaked, f"threads left running after {request.node.name}: {leaked}"


def pytest_terminal_summary(terminalreporter) -> None:
    """List the config page's screenshots (CI keeps artifacts/), so a reviewer can find them."""
    shots = sorted(
        (Path(__file__).resolve().parent.parent / "artifacts" / "screenshots").glob("*.png")
    )
    if shots:
        terminalreporter.section("screenshots of the config page")
        for shot in shots:
            terminalreporter.write_line(str(shot.relative_to(shot.parents[2])))
