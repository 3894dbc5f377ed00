"""The whole appliance on real models: a mock GPIO button and LED, file-backed sound.

This is the box as a student meets it: press the big button, speak, let go,
and it answers out loud while the LED follows along.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin
from waiting import wait_until

from appliance.app.wiring import build_daemon
from appliance.audio.files import FileDevices
from appliance.audio.wav import read_wav
from appliance.core.config import Config, save_config
from appliance.core.events import EventStream, State, StateChanged, TurnFinished


@pytest.fixture
def mock_gpio():
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


def test_press_speak_release_and_the_box_answers(mock_gpio, speak, tmp_path, monkeypatch):
    monkeypatch.setenv("PARLO_CONFIG", str(tmp_path / "config.toml"))
    config = Config().with_changes({"web.enabled": False})
    save_config(config, tmp_path / "config.toml")
    devices = FileDevices(output_path=tmp_path / "speaker.wav", realtime=True)
    events = EventStream()
    seen: list = []
    events.subscribe(seen.append)
    daemon = build_daemon(config, devices, events=events)
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: events.last_state.state == State.IDLE, timeout=120)
        button, led = mock_gpio.pin(17), mock_gpio.pin(18)
        wait_until(lambda: 0 < led.state < 0.5)  # idle: a dim, steady light
        idle_brightness = led.state

        silence = np.zeros(6400, dtype=np.float32)
        devices.feed(np.concatenate([speak("What is your favourite food?"), silence]))
        button.drive_low()  # pressed: the button pulls the pin to ground
        wait_until(lambda: events.last_state.state == State.LISTENING)
        wait_until(lambda: led.state == 1.0)  # listening: full on
        wait_until(lambda: devices.pending_frames == 0)  # the student has finished
        button.drive_high()

        wait_until(lambda: any(isinstance(e, TurnFinished) for e in seen), timeout=120)
        wait_until(lambda: events.last_state.state == State.IDLE, timeout=60)
        turn = next(e for e in seen if isinstance(e, TurnFinished))
        assert "food" in turn.transcript.lower()
        assert turn.reply
        states = [e.state for e in seen if isinstance(e, StateChanged)]
        assert states[-4:] == [State.LISTENING, State.THINKING, State.SPEAKING, State.IDLE]
        spoken, rate = read_wav(tmp_path / "speaker.wav")
        assert len(spoken) / rate > 1.0 and np.abs(spoken).max() > 0.1
        wait_until(lambda: led.state == idle_brightness)
    finally:
        daemon.stop("test over")
        runner.join(15)
    assert not runner.is_alive()
