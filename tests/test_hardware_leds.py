"""The status LED shows each state, on a gpiozero mock PWM pin and on a fake sysfs tree."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from gpiozero import PWMLED, RGBLED, Device
from gpiozero.pins.mock import MockFactory, MockPWMPin
from waiting import wait_until

from appliance.core.config import LedSettings
from appliance.core.events import EventStream, State, TurnFinished
from appliance.hardware.leds import (
    BINARY_PATTERNS,
    PATTERNS,
    NullLed,
    StatusLed,
    SysfsLed,
    double_blink,
    make_led,
)

BRIGHTNESS = 0.5


@pytest.fixture(autouse=True)
def mock_gpio():
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    yield
    Device.pin_factory.reset()
    Device.pin_factory = None


@pytest.fixture
def gpio_status():
    events = EventStream()
    led = PWMLED("GPIO18")
    pin = Device.pin_factory.pin("GPIO18")
    status = StatusLed(led, events, brightness=BRIGHTNESS)
    yield events, status, pin
    status.close()
    led.close()


def levels_seen(pin) -> set[float]:
    return {round(state.state, 3) for state in pin.states}


@pytest.mark.parametrize("state", list(State))
def test_each_state_has_its_own_pattern_on_the_pin(gpio_status, state):
    events, status, pin = gpio_status
    events.state(State.IDLE if state is State.BOOTING else State.BOOTING)
    pin.clear_states()
    events.state(state)
    pattern = PATTERNS[state]
    assert status.pattern is pattern
    if pattern.is_steady:
        wait_until(lambda: pin.state == pytest.approx(pattern.levels[0] * BRIGHTNESS))
    else:
        # Animated: the pin goes through the pattern's brightest and darkest levels, scaled.
        brightest = round(max(pattern.levels) * BRIGHTNESS, 3)
        darkest = round(min(pattern.levels) * BRIGHTNESS, 3)
        wait_until(lambda: {brightest, darkest} <= levels_seen(pin))


def test_states_look_different_from_each_other():
    shapes = {(p.frames, p.colour) for p in PATTERNS.values()}
    assert len(shapes) == len(State)
    binary_shapes = {p.frames for p in BINARY_PATTERNS.values() if p.name != "speaking"}
    assert len(binary_shapes) == len(State) - 1  # on/off only: speaking looks like listening


def test_listening_is_full_on_and_idle_is_dim(gpio_status):
    events, _, pin = gpio_status
    events.state(State.LISTENING)
    wait_until(lambda: pin.state == pytest.approx(BRIGHTNESS))
    events.state(State.IDLE)
    wait_until(lambda: 0 < pin.state < BRIGHTNESS / 2)


def test_error_is_a_double_blink_that_lasts_until_resolved(gpio_status):
    events, status, pin = gpio_status
    events.state(State.ERROR, "microphone unplugged")
    assert status.pattern.frames == double_blink()
    flashes = [level for level, _ in double_blink()]
    assert flashes == [1.0, 0.0, 1.0, 0.0]
    pauses = [seconds for level, seconds in double_blink() if level == 0.0]
    assert pauses[1] > 3 * pauses[0]  # two quick flashes, then a long dark pause

    pin.clear_states()
    events.publish(TurnFinished("", "", {}))  # other events do not clear it
    wait_until(lambda: sum(1 for s in pin.states if s.state > 0) >= 4)  # it keeps blinking
    assert status.pattern.name == "error"

    events.state(State.IDLE)
    wait_until(lambda: status.pattern.name == "idle")
    wait_until(lambda: pin.state == pytest.approx(PATTERNS[State.IDLE].levels[0] * BRIGHTNESS))


def test_rgb_led_shows_a_colour_per_state():
    events = EventStream()
    led = RGBLED("GPIO22", "GPIO23", "GPIO24")
    status = StatusLed(led, events, brightness=1.0)
    try:
        events.state(State.LISTENING)
        wait_until(lambda: led.value == pytest.approx((0.0, 0.0, 1.0)))
        events.state(State.SPEAKING)
        wait_until(lambda: led.value == pytest.approx((0.0, 0.6, 0.0)))
        events.state(State.ERROR)
        wait_until(lambda: led.value[0] > 0 and led.value[1:] == (0.0, 0.0))
    finally:
        status.close()
        led.close()


def test_a_late_subscriber_shows_the_current_state_at_once():
    events = EventStream()
    events.state(State.LISTENING)
    status = StatusLed(NullLed(), events)
    assert status.pattern.name == "listening"
    status.close()


def test_closing_turns_it_off_and_stops_its_thread(gpio_status):
    events, status, pin = gpio_status
    before = set(threading.enumerate())
    events.state(State.THINKING)
    status.close()
    assert pin.state == 0
    wait_until(
        lambda: not any(t.name == "led-animation" for t in set(threading.enumerate()) - before)
    )
    events.state(State.LISTENING)  # no longer followed
    assert pin.state == 0


# --- sysfs -----------------------------------------------------------------------------------


def fake_led(root: Path, name: str, max_brightness: int = 1, trigger: str = "kbd-scrolllock"):
    path = root / name
    path.mkdir(parents=True)
    (path / "brightness").write_text("0\n")
    (path / "max_brightness").write_text(f"{max_brightness}\n")
    (path / "trigger").write_text(f"none [{trigger}] timer heartbeat\n")
    return path


def test_sysfs_led_takes_over_and_gives_back_the_kernel_led(tmp_path):
    path = fake_led(tmp_path, "input3::scrolllock")
    fake_led(tmp_path, "input3::capslock", trigger="kbd-capslock")
    led = SysfsLed("scrolllock", root=tmp_path)
    assert led.path == path
    assert (path / "trigger").read_text() == "none"
    led.on()
    assert (path / "brightness").read_text() == "1"
    assert led.is_lit
    led.value = 0.1  # a dim level still lights a binary LED
    assert (path / "brightness").read_text() == "1"
    led.off()
    assert (path / "brightness").read_text() == "0"
    led.close()
    assert (path / "trigger").read_text() == "kbd-scrolllock"
    assert (tmp_path / "input3::capslock" / "brightness").read_text() == "0\n"


def test_sysfs_led_with_levels_scales_brightness(tmp_path):
    path = fake_led(tmp_path, "pwr", max_brightness=255, trigger="none")
    led = SysfsLed("pwr", root=tmp_path)
    assert not led.is_binary
    led.value = 0.5
    assert (path / "brightness").read_text() == "128"
    led.close()


def test_sysfs_led_blinks_like_gpiozero(tmp_path):
    path = fake_led(tmp_path, "input0::scrolllock")
    led = SysfsLed("input0::scrolllock", root=tmp_path)
    seen: set[str] = set()
    led.blink(on_time=0.01, off_time=0.01)
    wait_until(lambda: seen.add((path / "brightness").read_text()) or {"0", "1"} <= seen)
    led.blink(on_time=0.01, off_time=0.01, n=2, background=False)
    assert (path / "brightness").read_text() == "0"
    led.close()


def test_binary_sysfs_led_gets_on_off_patterns(tmp_path):
    path = fake_led(tmp_path, "input0::scrolllock")
    events = EventStream()
    led = SysfsLed("scrolllock", root=tmp_path)
    status = StatusLed(led, events)
    try:
        events.state(State.IDLE)
        assert status.pattern is BINARY_PATTERNS[State.IDLE]
        seen: set[str] = set()
        wait_until(lambda: seen.add((path / "brightness").read_text()) or {"0", "1"} <= seen)
        events.state(State.LISTENING)
        wait_until(lambda: (path / "brightness").read_text() == "1")
    finally:
        status.close()
        led.close()


def test_missing_sysfs_led_says_what_there_is(tmp_path):
    fake_led(tmp_path, "input0::numlock")
    with pytest.raises(FileNotFoundError, match="numlock"):
        SysfsLed("scrolllock", root=tmp_path)


def test_make_led_prefers_gpio_then_sysfs_then_nothing(tmp_path, monkeypatch):
    led, backend = make_led(LedSettings())
    assert backend == "gpio" and isinstance(led, PWMLED)
    led.close()

    fake_led(tmp_path, "input0::scrolllock")
    led, backend = make_led(LedSettings(backend="sysfs"), sysfs_root=tmp_path)
    assert backend == "sysfs" and isinstance(led, SysfsLed)
    led.close()

    led, backend = make_led(LedSettings(backend="rgb"))
    assert backend == "rgb" and isinstance(led, RGBLED)
    led.close()

    Device.pin_factory = None
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    led, backend = make_led(LedSettings(), sysfs_root=tmp_path / "nothing")
    assert backend == "none" and isinstance(led, NullLed)
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
