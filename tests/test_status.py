"""The one status component: what the LED, systemd and the log show, whoever subscribed when."""

from __future__ import annotations

import pytest
from gpiozero import PWMLED, Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.app.status import Status
from appliance.core.events import EventStream, NestedPublishError, State, StateChanged, TurnFinished
from appliance.hardware.leds import PATTERNS, StatusLed
from appliance.system.notify import StatusReporter


class RecordingNotifier:
    """Stands in for systemd's socket: keeps every STATUS= line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def status(self, text: str) -> bool:
        self.lines.append(text)
        return True


@pytest.fixture
def box():
    """An engine stream, the Status, and two subscribers of what is shown: an LED on a
    gpiozero mock pin (subscribed first) and systemd's STATUS= (subscribed after)."""
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    engine = EventStream()
    status = Status()
    status.follow(engine)
    led = StatusLed(PWMLED("GPIO18"), status.shown)
    systemd = RecordingNotifier()
    reporter = StatusReporter(systemd, status.shown)  # type: ignore[arg-type]
    engine.state(State.IDLE, "ready")
    yield engine, status, led, systemd
    reporter.close()
    led.close()
    status.close()
    Device.pin_factory.reset()
    Device.pin_factory = None


def test_an_unplugged_microphone_stays_shown_on_the_led_and_in_systemd(box):
    engine, status, led, systemd = box
    status.fault("microphone", "microphone 'USB' is not connected")
    engine.state(State.THINKING)  # the turn that was going on winds down...
    engine.state(State.IDLE)  # ...and the engine goes back to idle: the fault still shows
    assert led.pattern is PATTERNS[State.ERROR]
    assert systemd.lines[-1] == "error: microphone 'USB' is not connected"
    assert not any(line.startswith("idle") for line in systemd.lines[1:]), systemd.lines

    status.clear("microphone", "microphone 'USB' is connected again")
    assert led.pattern is PATTERNS[State.IDLE]
    assert systemd.lines[-1] == "idle: microphone 'USB' is connected again"


def test_a_late_subscriber_sees_the_same_state_as_an_early_one(box):
    engine, status, led, _ = box
    status.fault("microphone", "gone")
    engine.state(State.IDLE)
    late = RecordingNotifier()
    reporter = StatusReporter(late, status.shown)  # type: ignore[arg-type]
    engine.state(State.LISTENING)
    engine.state(State.IDLE)
    reporter.close()
    assert late.lines == [], "nothing changed what is shown: ERROR all along"
    assert status.shown.last_state.state is State.ERROR and led.pattern is PATTERNS[State.ERROR]


def test_an_update_wins_over_everything_and_ends_with_the_engines_state(box):
    engine, status, led, systemd = box
    status.updating("installing models from USB")
    engine.state(State.SPEAKING)
    assert led.pattern is PATTERNS[State.UPDATING]
    status.updated("model update over")
    assert systemd.lines[-1] == "speaking: model update over"


def test_finished_turns_pass_through():
    engine, shown = EventStream(), []
    status = Status()
    status.follow(engine)
    status.shown.subscribe(shown.append)
    engine.publish(TurnFinished("hi", "hello", {}))
    assert [type(event) for event in shown] == [TurnFinished]
    status.close()


def test_a_subscriber_may_not_publish_on_the_stream_calling_it(caplog):
    events = EventStream()
    refused: list[BaseException] = []

    def republish(event):
        try:
            events.publish(StateChanged(State.ERROR, "again"))
        except NestedPublishError as error:
            refused.append(error)

    events.subscribe(republish)
    events.state(State.IDLE)
    assert len(refused) == 1
    assert events.last_state.state is State.IDLE


def test_the_thread_leak_check_can_fail():
    """A worker left running is found: the autouse check is not a test that cannot fail."""
    import threading

    from conftest import leftover_threads

    before = set(threading.enumerate())
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="engine", daemon=True)
    worker.start()
    try:
        assert leftover_threads(before, grace=0.1) == ["engine"]
    finally:
        stop.set()
        worker.join()
    assert leftover_threads(before, grace=0.1) == []
