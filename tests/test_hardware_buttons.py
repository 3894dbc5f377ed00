"""Buttons other than GPIO: a USB key read with evdev (from a recorded event stream) and the
terminal. Both must look exactly like gpiozero's Button to the controller."""

from __future__ import annotations

import errno
import os
import threading
import time

import evdev
import pytest
from gpiozero import Button, Device
from gpiozero.pins.mock import MockFactory, MockPWMPin
from waiting import wait_until

from appliance.core.config import ButtonSettings
from appliance.hardware.buttons import (
    CallbackButton,
    EvdevButton,
    KeyboardButton,
    NoButtonError,
    key_code,
    make_button,
)

ecodes = evdev.ecodes
InputEvent = evdev.InputEvent


def key(code: int, value: int, at: float) -> list:
    """What a USB HID keyboard-like device sends for one key change: scan code, key, sync."""
    sec, usec = int(at), int((at % 1) * 1e6)
    return [
        InputEvent(sec, usec, ecodes.EV_MSC, ecodes.MSC_SCAN, 0x70005),
        InputEvent(sec, usec, ecodes.EV_KEY, code, value),
        InputEvent(sec, usec, ecodes.EV_SYN, ecodes.SYN_REPORT, 0),
    ]


# Recorded from a USB foot pedal sending KEY_B: press, held (autorepeat), release; then a
# different key that must be ignored; then a short tap.
PEDAL_RECORDING = [
    *key(ecodes.KEY_B, 1, 100.000),
    *key(ecodes.KEY_B, 2, 100.250),
    *key(ecodes.KEY_B, 2, 100.283),
    *key(ecodes.KEY_B, 0, 101.100),
    *key(ecodes.KEY_A, 1, 102.000),
    *key(ecodes.KEY_A, 0, 102.100),
    *key(ecodes.KEY_B, 1, 103.000),
    *key(ecodes.KEY_B, 0, 103.120),
]


class RecordedSource:
    """An input device that replays a recording in chunks once ``go`` is set, then is
    unplugged (ENODEV) unless told otherwise."""

    def __init__(self, events: list, name: str = "PCsensor FootSwitch", unplug: bool = True):
        self.name = name
        self.chunks = [events[i : i + 3] for i in range(0, len(events), 3)]
        self.unplug = unplug
        self.closed = False
        self.go = threading.Event()

    def read_events(self, timeout: float) -> list:
        if not self.go.wait(timeout):
            return []
        if self.chunks:
            return self.chunks.pop(0)
        if self.unplug:
            raise OSError(errno.ENODEV, "No such device")
        time.sleep(timeout)
        return []

    def close(self) -> None:
        self.closed = True


class Recorder:
    def __init__(self, button) -> None:
        self.seen: list[str] = []
        button.when_pressed = lambda: self.seen.append("pressed")
        button.when_released = lambda: self.seen.append("released")


def test_evdev_button_follows_one_key_and_ignores_autorepeat_and_other_keys():
    source = RecordedSource(PEDAL_RECORDING, unplug=False)
    button = EvdevButton("FootSwitch", "KEY_B", opener=lambda: source)
    recorder = Recorder(button)
    source.go.set()
    wait_until(lambda: len(recorder.seen) == 4)
    assert recorder.seen == ["pressed", "released", "pressed", "released"]
    assert not button.is_pressed
    button.close()
    assert source.closed


def test_evdev_button_unplugged_while_held_reads_released_then_comes_back():
    plugged_in = [
        RecordedSource(key(ecodes.KEY_B, 1, 1.0)),  # pressed, then pulled out
        RecordedSource(key(ecodes.KEY_B, 1, 9.0) + key(ecodes.KEY_B, 0, 9.2), unplug=False),
    ]
    opened: list[RecordedSource] = []

    def opener() -> RecordedSource:
        if not plugged_in:
            raise NoButtonError("not there")
        opened.append(plugged_in.pop(0))
        return opened[-1]

    plugged_in[1].go.set()
    button = EvdevButton("FootSwitch", "KEY_B", opener=opener, retry_interval=0.01)
    recorder = Recorder(button)
    opened[0].go.set()
    wait_until(lambda: len(recorder.seen) == 4)
    assert recorder.seen == ["pressed", "released", "pressed", "released"]
    assert opened[0].closed
    button.close()


def test_evdev_button_stops_its_thread_on_close():
    before = set(threading.enumerate())
    button = EvdevButton("x", "KEY_SPACE", opener=lambda: RecordedSource([], unplug=False))
    button.close()
    assert set(threading.enumerate()) <= before


def test_missing_evdev_device_is_a_clear_error(tmp_path):
    with pytest.raises(NoButtonError, match="no input device named like 'pedal'"):
        EvdevButton("pedal", "KEY_B", input_dir=str(tmp_path))


def test_key_names():
    assert key_code("KEY_SPACE") == 57
    assert key_code("BTN_0") == ecodes.BTN_0
    assert key_code(30) == 30
    with pytest.raises(NoButtonError, match="KEY_NOPE"):
        key_code("KEY_NOPE")


def test_keyboard_button_turns_each_key_into_a_tap_and_q_quits():
    read_end, write_end = os.pipe()
    quit_pressed = threading.Event()
    with os.fdopen(read_end) as stream:
        button = KeyboardButton(stream, on_quit=quit_pressed.set)
        recorder = Recorder(button)
        os.write(write_end, b" x\n")
        wait_until(lambda: len(recorder.seen) == 4)
        assert recorder.seen == ["pressed", "released", "pressed", "released"]
        os.write(write_end, b"q")
        assert quit_pressed.wait(5)
        button.close()
    os.close(write_end)


def test_callbacks_may_take_the_button_like_gpiozero():
    button = CallbackButton()
    seen = []
    button.when_pressed = seen.append
    button._set_pressed(True)
    button._set_pressed(True)  # no change, no call
    assert seen == [button]


def test_make_button_uses_gpio_when_there_is_gpio():
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    try:
        button, backend = make_button(ButtonSettings(pin="GPIO17"))
        assert backend == "gpio" and isinstance(button, Button)
        Device.pin_factory.pin("GPIO17").drive_low()
        assert button.is_pressed  # pull-up: pressed connects the pin to ground
        button.close()
    finally:
        Device.pin_factory.reset()
        Device.pin_factory = None


def test_make_button_without_gpio_or_usb_button_gives_none(monkeypatch):
    Device.pin_factory = None
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    button, backend = make_button(ButtonSettings())
    assert (button, backend) == (None, "none")
