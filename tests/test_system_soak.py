"""Soak: 200 turns through the button, LED and controller without growing or leaking.

Runs with the fake engine by default. ``PARLO_SOAK_REAL=1`` uses the real engine
(installed models) on file-backed sound devices, each turn answering a spoken question.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import resource
import threading
import time
from collections.abc import Callable

import pytest
from gpiozero import PWMLED, Button, Device
from gpiozero.pins.mock import MockFactory, MockPWMPin
from waiting import wait_until

from appliance.app.controller import Controller
from appliance.app.fake_engine import FakeEngine
from appliance.core.config import ButtonSettings, Config
from appliance.core.events import EventStream, State, StateChanged
from appliance.hardware.leds import StatusLed

TURNS = 200
WARM_UP = 20
DOUBLE_TAP = 0.1


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class NoBoxActions:
    """The soak test only talks: no double taps, no very long holds."""

    def next_activity(self) -> None:
        raise AssertionError("a double tap during the soak test")

    def say_address(self) -> None:
        raise AssertionError("a very long hold during the soak test")


def make_engine(
    events: EventStream, config: Config
) -> tuple[object, Callable[[], None], Callable[[], None]]:
    """The engine, what to do before a turn, and what to wait for before letting go.

    The real engine needs a question to hear, and the student to finish saying it.
    """
    if os.environ.get("PARLO_SOAK_REAL") != "1":
        engine = FakeEngine(events, think_seconds=0.005, speak_seconds=0.005)
        return engine, lambda: None, lambda: None
    from appliance.app.wiring import build_engine
    from appliance.audio.files import FileDevices
    from appliance.audio.wav import resample

    devices = FileDevices(realtime=False)
    engine = build_engine(config, devices, events=events)
    voice = engine.models.tts
    question = resample(
        voice.synthesize("What is your favourite animal?"), voice.sample_rate, 16000
    )
    return (
        engine,
        lambda: devices.feed(question),
        lambda: wait_until(lambda: devices.pending_frames == 0),
    )


@pytest.mark.slow
def test_200_turns_without_memory_growth_or_thread_leaks():
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    config = dataclasses.replace(
        Config(), button=ButtonSettings(bounce_time=0.0, double_tap=DOUBLE_TAP)
    )
    events = EventStream()
    finished = threading.Semaphore(0)
    events.subscribe(
        lambda e: (
            finished.release() if isinstance(e, StateChanged) and e.state is State.IDLE else None
        )
    )
    engine, before_turn, question_heard = make_engine(events, config)
    wait_until(lambda: events.last_state.state is State.IDLE)
    button = Button("GPIO17", bounce_time=None)
    led = PWMLED("GPIO18")
    status = StatusLed(led, events)
    controller = Controller(button, engine, events, config, NoBoxActions())
    button_pin = Device.pin_factory.pin("GPIO17")
    led_pin = Device.pin_factory.pin("GPIO18")
    while finished.acquire(blocking=False):
        pass

    last_press = 0.0

    def turn(number: int) -> None:
        nonlocal last_press
        before_turn()
        wait_until(lambda: time.monotonic() > last_press + DOUBLE_TAP * 1.5)
        last_press = time.monotonic()
        button_pin.drive_low()
        wait_until(lambda: events.last_state.state is State.LISTENING)
        question_heard()
        button_pin.drive_high()
        assert finished.acquire(timeout=60), f"turn {number} never finished"
        if isinstance(engine, FakeEngine):
            controller.flush()
            assert engine.names() == ["listen", "finish_listening"], f"turn {number}"
            engine.clear()
        # Mock pins keep a history of every change: not ours to count as growth.
        button_pin.clear_states()
        led_pin.clear_states()

    try:
        for number in range(WARM_UP):
            turn(number)
        gc.collect()
        rss_after_warm_up = rss_bytes()
        threads_after_warm_up = {t.ident for t in threading.enumerate()}

        for number in range(TURNS):
            turn(WARM_UP + number)
        gc.collect()
        wait_until(lambda: {t.ident for t in threading.enumerate()} <= threads_after_warm_up, 10)
        rss_at_end = rss_bytes()
        growth = (rss_at_end - rss_after_warm_up) / rss_after_warm_up
        print(
            f"soak: {TURNS} turns after {WARM_UP} to warm up; RSS {rss_after_warm_up / 2**20:.0f}"
            f" -> {rss_at_end / 2**20:.0f} MB ({growth:+.1%}); threads "
            f"{len(threads_after_warm_up)} -> {threading.active_count()}"
        )
        assert growth <= 0.05, f"RSS grew {growth:.1%} over {TURNS} turns"
    finally:
        controller.close()
        status.close()
        engine.close()
        button.close()
        led.close()
        Device.pin_factory.reset()
        Device.pin_factory = None
