"""Every button gesture, on a gpiozero mock pin, drives the engine as specified.

The engine is :class:`FakeEngine`, which records each call and acts out the
states. Hold times are configured small; waits poll with generous timeouts.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from gpiozero import PWMLED, Button, Device
from gpiozero.pins.mock import MockFactory, MockPWMPin
from waiting import wait_until

from appliance.app.controller import Controller
from appliance.app.fake_engine import FakeEngine
from appliance.core.config import ButtonSettings, Config
from appliance.core.events import EventStream, State, StateChanged
from appliance.hardware.leds import IDLE_LEVEL, StatusLed

DOUBLE_TAP = 0.4
LONG_HOLD = 0.3


CONFIRM_WINDOW = 1.5


def settings(
    mode: str = "hold", very_long_hold: float = 3.0, shutdown_hold: float = 6.0
) -> ButtonSettings:
    # Built directly: validation would (rightly) refuse such short holds in a config file.
    return ButtonSettings(
        mode=mode,
        bounce_time=0.0,
        long_hold=LONG_HOLD,
        very_long_hold=very_long_hold,
        shutdown_hold=shutdown_hold,
        confirm_window=CONFIRM_WINDOW,
        double_tap=DOUBLE_TAP,
        tap_silence=0.5,
    )


class RecordedActions:
    """The box-wide actions a gesture asks for, noted in order (the daemon carries them out)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.waiting_for_presence = 0  # how many holds find something to confirm

    def next_activity(self) -> None:
        self.calls.append("next_activity")

    def say_address(self) -> None:
        self.calls.append("say_address")

    def ask_to_shut_down(self) -> None:
        self.calls.append("ask_to_shut_down")

    def confirm_at_box(self) -> bool:
        self.calls.append("confirm_at_box")
        if self.waiting_for_presence:
            self.waiting_for_presence -= 1
            return True
        return False

    def shut_down(self) -> None:
        self.calls.append("shut_down")


class Rig:
    """A mock GPIO button and LED, the fake engine, and the controller between them."""

    def __init__(
        self,
        mode: str = "hold",
        *,
        config: Config | None = None,
        very_long_hold: float = 3.0,
        shutdown_hold: float = 6.0,
        vad_end_seconds: float | None = None,
        think_seconds: float = 0.05,
        speak_seconds: float = 0.05,
    ) -> None:
        self.config = dataclasses.replace(
            config or Config(), button=settings(mode, very_long_hold, shutdown_hold)
        )
        self.events = EventStream()
        self.states: list[State] = []
        self.events.subscribe(
            lambda e: self.states.append(e.state) if isinstance(e, StateChanged) else None
        )
        self.engine = FakeEngine(
            self.events,
            think_seconds=think_seconds,
            speak_seconds=speak_seconds,
            vad_end_seconds=vad_end_seconds,
        )
        wait_until(lambda: self.events.last_state.state is State.IDLE)
        self.button = Button("GPIO17", pull_up=True, bounce_time=None)
        self.pin = Device.pin_factory.pin("GPIO17")
        self.led = PWMLED("GPIO18")
        self.led_pin = Device.pin_factory.pin("GPIO18")
        self.status_led = StatusLed(self.led, self.events)
        self.actions = RecordedActions()
        self.controller = Controller(
            self.button, self.engine, self.events, self.config, self.actions
        )

    def press(self) -> None:
        self.pin.drive_low()

    def release(self) -> None:
        self.pin.drive_high()

    def tap(self) -> None:
        self.press()
        self.release()

    def calls(self) -> list[str]:
        self.controller.flush()
        return self.engine.names()

    def wait_for_call(self, name: str, count: int = 1) -> None:
        wait_until(lambda: self.engine.names().count(name) >= count)

    def wait_for_state(self, state: State) -> None:
        wait_until(lambda: self.events.last_state.state is state)

    def wait_out_double_tap(self) -> None:
        time.sleep(DOUBLE_TAP * 1.5)  # time must pass, so the next press is not a double tap

    def close(self) -> None:
        self.controller.close()
        self.status_led.close()
        self.engine.close()
        self.button.close()
        self.led.close()


@pytest.fixture(autouse=True)
def mock_gpio():
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    yield
    Device.pin_factory.reset()
    Device.pin_factory = None


@pytest.fixture
def make_rig():
    rigs: list[Rig] = []

    def make(*args, **kwargs) -> Rig:
        rigs.append(Rig(*args, **kwargs))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()


def test_hold_mode_listens_while_held(make_rig):
    rig = make_rig("hold")
    rig.press()
    rig.wait_for_state(State.LISTENING)
    assert rig.engine.calls_named("listen")[0].kwargs == {"end_after_silence": None}
    wait_until(lambda: rig.led_pin.state == 1.0)  # the LED follows: full on while listening

    rig.release()
    rig.wait_for_state(State.IDLE)
    assert rig.calls() == ["listen", "finish_listening"]
    assert rig.states[-4:] == [State.LISTENING, State.THINKING, State.SPEAKING, State.IDLE]
    wait_until(lambda: rig.led_pin.state == pytest.approx(IDLE_LEVEL))


def test_tap_mode_tap_starts_and_second_tap_ends(make_rig):
    rig = make_rig("tap")
    rig.tap()
    rig.wait_for_state(State.LISTENING)
    assert rig.engine.calls_named("listen")[0].kwargs == {"end_after_silence": 0.5}
    assert rig.calls() == ["listen"]  # letting go of a tap does not end the turn

    rig.wait_out_double_tap()
    rig.tap()
    rig.wait_for_call("finish_listening")
    rig.wait_for_state(State.IDLE)
    assert rig.calls() == ["listen", "finish_listening"]


def test_tap_mode_pause_in_speech_ends_the_turn(make_rig):
    rig = make_rig("tap", vad_end_seconds=0.1)
    rig.tap()
    rig.wait_for_state(State.LISTENING)
    wait_until(lambda: State.SPEAKING in rig.states)  # the (fake) VAD ended it
    rig.wait_for_state(State.IDLE)
    assert rig.calls() == ["listen"]
    assert rig.engine.calls_named("listen")[0].kwargs == {"end_after_silence": 0.5}


def test_press_while_speaking_barges_in(make_rig):
    rig = make_rig("hold", speak_seconds=30)
    rig.engine.say("A very long story")
    rig.wait_for_state(State.SPEAKING)
    rig.engine.clear()

    rig.press()
    rig.wait_for_state(State.LISTENING)
    rig.release()
    assert rig.calls() == ["listen", "finish_listening"]


def test_tap_while_thinking_barges_in_instead_of_finishing(make_rig):
    rig = make_rig("tap", think_seconds=30)
    rig.tap()
    rig.wait_for_state(State.LISTENING)
    rig.wait_out_double_tap()
    rig.tap()
    rig.wait_for_state(State.THINKING)
    rig.wait_out_double_tap()
    rig.engine.clear()

    rig.tap()
    rig.wait_for_state(State.LISTENING)
    assert rig.calls() == ["listen"]


def earcons(rig: Rig) -> list[str]:
    return [call.args[0] for call in rig.engine.calls_named("earcon")]


def silent_hold(rig: Rig) -> list[str]:
    """Hold past ``long_hold`` without a word; the calls it made."""
    rig.wait_out_double_tap()
    rig.wait_for_state(State.IDLE)
    rig.engine.clear()
    rig.press()
    time.sleep(LONG_HOLD * 1.8)
    rig.release()
    return rig.calls()


def test_a_silent_long_hold_asks_and_a_second_one_resets(make_rig):
    rig = make_rig("hold")
    first = silent_hold(rig)
    assert first == ["listen", "cancel", "earcon"], "one hold alone wipes nothing"
    assert earcons(rig) == ["confirm"]
    second = silent_hold(rig)
    assert second == ["listen", "cancel", "reset", "earcon"]
    assert earcons(rig) == ["reset"]
    assert "finish_listening" not in first + second  # a silent hold is not a turn
    third = silent_hold(rig)
    assert "reset" not in third, "a reset needs asking again"


def test_a_hold_that_confirms_something_at_the_box_is_used_up(make_rig):
    rig = make_rig("hold")
    rig.actions.waiting_for_presence = 1  # a stick's PIN reset waits for someone at the box
    first = silent_hold(rig)
    assert rig.actions.calls == ["confirm_at_box"]
    assert first == ["listen", "cancel"], "no confirm earcon: the hold allowed the request"
    second = silent_hold(rig)
    assert "reset" not in second and earcons(rig) == ["confirm"], "a reset still needs two"


def test_a_second_hold_after_the_window_only_asks_again(make_rig):
    rig = make_rig("hold")
    silent_hold(rig)
    time.sleep(CONFIRM_WINDOW + 0.2)
    assert "reset" not in silent_hold(rig)
    assert earcons(rig) == ["confirm"]


def test_long_hold_while_talking_is_just_a_long_turn(make_rig):
    rig = make_rig("hold")
    rig.engine.speech_heard = True
    rig.press()
    time.sleep(LONG_HOLD * 2)
    rig.release()
    assert rig.calls() == ["listen", "finish_listening"]


def test_long_hold_after_a_barge_in_is_not_a_reset(make_rig):
    rig = make_rig("hold", speak_seconds=30)
    rig.engine.say("A very long story")
    rig.wait_for_state(State.SPEAKING)
    rig.engine.clear()
    rig.press()
    time.sleep(LONG_HOLD * 2)
    rig.release()
    assert "reset" not in rig.calls()


def test_very_long_hold_asks_for_the_address_and_resets_nothing(make_rig):
    rig = make_rig("hold", very_long_hold=0.8)
    rig.press()
    wait_until(lambda: "say_address" in rig.actions.calls)
    rig.release()
    calls = rig.calls()
    assert calls == ["listen", "cancel", "earcon"]
    assert "say" not in calls  # what the address is, and saying it, is the daemon's
    assert rig.actions.calls == ["confirm_at_box", "say_address"]
    assert "reset" not in silent_hold(rig), "asking for the address is not asking for a reset"


def test_the_shutdown_hold_asks_and_a_second_hold_switches_off(make_rig):
    rig = make_rig("hold", very_long_hold=0.6, shutdown_hold=1.0)
    rig.press()
    wait_until(lambda: "ask_to_shut_down" in rig.actions.calls)
    rig.release()
    assert rig.actions.calls == ["confirm_at_box", "say_address", "ask_to_shut_down"]
    calls = silent_hold(rig)
    assert rig.actions.calls[-1] == "shut_down" and "reset" not in calls


def test_double_tap_silences_sounds_and_asks_for_the_next_activity(make_rig):
    rig = make_rig("hold")
    rig.tap()
    rig.tap()
    wait_until(lambda: rig.actions.calls)
    assert rig.engine.calls_named("earcon")[-1].args == ("activity",)
    assert rig.calls() == ["listen", "finish_listening", "cancel", "earcon"]
    assert rig.actions.calls == ["next_activity"]

    rig.wait_out_double_tap()
    rig.tap()
    rig.tap()
    wait_until(lambda: len(rig.actions.calls) == 2)
    assert rig.actions.calls == ["next_activity", "next_activity"]


def test_three_quick_taps_are_one_double_tap_and_a_press(make_rig):
    rig = make_rig("tap")
    for _ in range(3):
        rig.tap()
    rig.controller.flush()
    assert rig.actions.calls == ["next_activity"]


def test_presses_while_updating_only_sound_an_error(make_rig):
    rig = make_rig("hold")
    rig.events.state(State.UPDATING, "installing models")
    rig.engine.clear()
    rig.press()
    rig.release()
    assert rig.calls() == ["earcon"]
    assert rig.engine.calls_named("earcon")[0].args == ("error",)


def test_a_late_release_still_counts_the_hold_it_passed(make_rig):
    """The controller judges holds by when the button moved, not when it got round to it."""
    rig = make_rig("hold")
    stall = threading.Event()
    rig.controller._inbox.put(("flush", _Blocker(stall)))  # hold up the controller's thread
    rig.press()
    time.sleep(LONG_HOLD * 2)
    rig.release()
    stall.set()
    assert rig.calls()[:3] == ["listen", "cancel", "earcon"]
    assert earcons(rig) == ["confirm"]


class _Blocker:
    """Stands in for a flush marker; its set() blocks until ``release`` is set."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def set(self) -> None:
        self.release.wait(10)


def test_closing_leaves_no_threads_and_unhooks_the_button(make_rig):
    before = set(threading.enumerate())
    rig = make_rig("hold")
    rig.close()
    wait_until(lambda: set(threading.enumerate()) <= before)
    assert rig.button.when_pressed is None
    rig.press()  # nothing listens any more: must not raise
