"""The status LED: one light that says what the box is doing.

:class:`StatusLed` subscribes to the engine's :class:`~appliance.core.events.EventStream`
and shows one :class:`Pattern` per :class:`~appliance.core.events.State`. It decides
nothing; it only shows the last state it was told about::

    status = StatusLed(PWMLED("GPIO18"), events, brightness=0.6)

==========  ==========================================  ==================
state       single LED                                  RGB LED
==========  ==========================================  ==================
booting     slow blink (1 s on, 1 s off)                white
idle        dim, steady                                 green
listening   full on                                     blue
thinking    fast pulse                                  cyan
speaking    steady, a little less than full             green
error       double blink, then a pause, until resolved  red
updating    alternating bright and dim                  magenta
==========  ==========================================  ==================

The LED itself is anything with a writable ``value`` from 0 to 1 (or an
``(r, g, b)`` tuple for an RGB LED), so the same patterns drive:

- a GPIO LED: :class:`gpiozero.PWMLED` or :class:`gpiozero.RGBLED`;
- any kernel LED under ``/sys/class/leds``, such as a keyboard's Scroll Lock on
  an old laptop: :class:`SysfsLed`, which also has gpiozero's ``on``, ``off``,
  ``blink``, ``pulse`` and ``is_lit``;
- nothing at all: :class:`NullLed`.

An LED that is only on or off (most keyboard LEDs) cannot be dim, so it gets
patterns made of blinks instead (:data:`BINARY_PATTERNS`).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from appliance.core.config import LedSettings
from appliance.core.events import Event, EventStream, State, StateChanged

log = logging.getLogger(__name__)

Frame = tuple[float, float]  # (level from 0 to 1, seconds to hold it)
Colour = tuple[float, float, float]

FADE_FPS = 25


@dataclass(frozen=True)
class Pattern:
    """A loop of frames. One frame is a steady light; more are played over and over."""

    name: str
    frames: tuple[Frame, ...]
    colour: Colour = (1.0, 1.0, 1.0)

    @property
    def is_steady(self) -> bool:
        return len(self.frames) == 1

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(level for level, _ in self.frames)


def steady(level: float) -> tuple[Frame, ...]:
    return ((level, 0.0),)


def blink(on_time: float, off_time: float, on: float = 1.0, off: float = 0.0) -> tuple[Frame, ...]:
    return ((on, on_time), (off, off_time))


def fade(start: float, end: float, seconds: float) -> tuple[Frame, ...]:
    """A smooth change from ``start`` to ``end``, as frames at :data:`FADE_FPS`."""
    steps = max(1, round(seconds * FADE_FPS))
    return tuple((start + (end - start) * (i + 1) / steps, seconds / steps) for i in range(steps))


def pulse(period: float, low: float = 0.0, high: float = 1.0) -> tuple[Frame, ...]:
    return fade(low, high, period / 2) + fade(high, low, period / 2)


def double_blink(flash: float = 0.15, pause: float = 0.9) -> tuple[Frame, ...]:
    return ((1.0, flash), (0.0, flash), (1.0, flash), (0.0, pause))


WHITE, GREEN, BLUE, CYAN, RED, MAGENTA = (
    (1.0, 1.0, 1.0),
    (0.0, 1.0, 0.0),
    (0.0, 0.0, 1.0),
    (0.0, 1.0, 1.0),
    (1.0, 0.0, 0.0),
    (1.0, 0.0, 1.0),
)

IDLE_LEVEL = 0.15

PATTERNS: dict[State, Pattern] = {
    State.BOOTING: Pattern("booting", blink(1.0, 1.0), WHITE),
    State.IDLE: Pattern("idle", steady(IDLE_LEVEL), GREEN),
    State.LISTENING: Pattern("listening", steady(1.0), BLUE),
    State.THINKING: Pattern("thinking", pulse(0.5, low=0.1), CYAN),
    State.SPEAKING: Pattern("speaking", steady(0.6), GREEN),
    State.ERROR: Pattern("error", double_blink(), RED),
    State.UPDATING: Pattern("updating", blink(0.25, 0.25, on=1.0, off=0.3), MAGENTA),
}

# For an LED that is either on or off: no dimming, no fades, so each state is a rhythm.
BINARY_PATTERNS: dict[State, Pattern] = {
    **PATTERNS,
    State.IDLE: Pattern("idle", blink(0.1, 2.9), GREEN),  # a heartbeat: alive, not busy
    State.THINKING: Pattern("thinking", blink(0.1, 0.1), CYAN),
    State.SPEAKING: Pattern("speaking", steady(1.0), GREEN),
    State.UPDATING: Pattern("updating", blink(0.25, 0.25), MAGENTA),
}


class Animation:
    """Plays frames to a ``write(level)`` function on one background thread.

    :meth:`play` replaces whatever was playing at once. A single frame is
    written once and nothing more happens until the next :meth:`play`.
    """

    def __init__(self, write: Callable[[float], None], name: str = "led") -> None:
        self._write = write
        self._frames: tuple[Frame, ...] = ()
        self._repeat = True
        self._changed = threading.Event()
        self._finished = threading.Event()  # the last play() has been played out
        self._closing = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"{name}-animation", daemon=True)
        self._thread.start()

    def play(self, frames: Sequence[Frame], repeat: bool = True) -> None:
        with self._lock:
            self._frames = tuple(frames)
            self._repeat = repeat
            self._finished.clear()
            self._changed.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a pattern played without ``repeat`` has ended. False on timeout."""
        return self._finished.wait(timeout)

    def close(self) -> None:
        self._closing = True
        self._changed.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            self._changed.wait()
            with self._lock:
                self._changed.clear()
                frames, repeat = self._frames, self._repeat
            if self._closing:
                return
            self._play(frames, repeat)
            with self._lock:
                if not self._changed.is_set():
                    self._finished.set()

    def _play(self, frames: tuple[Frame, ...], repeat: bool) -> None:
        if not frames:
            return
        if len(frames) == 1 or not any(seconds for _, seconds in frames):
            self._write(frames[-1][0])
            return
        while True:
            for level, seconds in frames:
                self._write(level)
                if self._changed.wait(seconds):
                    return  # a new pattern (or close) interrupts this one
            if not repeat:
                return


class LedDevice(Protocol):
    """An LED the status patterns can drive: gpiozero's ``PWMLED``, ``LED`` or ``RGBLED``,
    :class:`SysfsLed`, or :class:`NullLed`.

    ``value`` is a level from 0 to 1, or an ``(r, g, b)`` tuple of them for an RGB LED;
    gpiozero does not type it, so neither can this.
    """

    value: Any

    def close(self) -> None: ...


class StatusLed:
    """Shows the box's state on an LED, by listening to an :class:`EventStream`.

    ``brightness`` (0 to 1) scales every level. ``binary`` picks the on/off
    patterns; by default it is read from the LED's ``is_binary`` if it has one.
    ``pattern`` is what is showing now.
    """

    def __init__(
        self,
        led: LedDevice,
        events: EventStream,
        *,
        brightness: float = 1.0,
        binary: bool | None = None,
    ) -> None:
        self.led = led
        self.brightness = brightness
        self.is_rgb = isinstance(getattr(led, "value", None), tuple)
        binary = getattr(led, "is_binary", False) if binary is None else binary
        self.patterns = BINARY_PATTERNS if binary else PATTERNS
        self.pattern = self.patterns[State.BOOTING]
        self._animation = Animation(self._write)
        self._lock = threading.Lock()
        self._unsubscribe = events.subscribe(self._on_event)
        self.show(events.last_state.state)

    def show(self, state: State) -> None:
        with self._lock:
            self.pattern = self.patterns[state]
            self._animation.play(self.pattern.frames)

    def close(self) -> None:
        """Stop following events and turn the LED off (the LED itself stays open)."""
        self._unsubscribe()
        self._animation.close()
        self._write(0.0)

    def __enter__(self) -> StatusLed:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self.show(event.state)

    def _write(self, level: float) -> None:
        level = max(0.0, min(1.0, level * self.brightness))
        try:
            if self.is_rgb:
                self.led.value = tuple(level * part for part in self.pattern.colour)
            else:
                self.led.value = level
        except Exception:
            # A device that went away (a keyboard LED unplugged) must not kill the animation.
            log.debug("could not write the LED", exc_info=True)


# --- LEDs --------------------------------------------------------------------------------------


class NullLed:
    """No LED: accepts everything and shows nothing."""

    value: float = 0.0
    is_binary = False

    def on(self) -> None: ...

    def off(self) -> None: ...

    def close(self) -> None: ...


class SysfsLed:
    """A kernel LED under ``/sys/class/leds``, with gpiozero's LED interface.

    ``SysfsLed("scrolllock")`` takes the first LED whose name contains
    ``scrolllock`` (an exact name wins). On open it sets the LED's trigger to
    ``none`` so the kernel stops driving it, and puts the old trigger back on
    :meth:`close`, so a keyboard's Scroll Lock works again afterwards.

    Writing needs permission: ``deploy/install.sh`` adds a udev rule giving the
    ``parlo`` group write access. ``root`` lets tests use a fake tree.
    """

    def __init__(
        self, name: str = "input0::scrolllock", *, root: str | Path = "/sys/class/leds"
    ) -> None:
        self.path = find_sysfs_led(name, Path(root))
        self.name = self.path.name
        self.max_brightness = max(1, int(self._read("max_brightness") or 1))
        self._saved_trigger = self._current_trigger()
        if self._saved_trigger not in (None, "none"):
            self._write_file("trigger", "none")
        self._value = 0.0
        self._animation: Animation | None = None
        self.value = 0.0

    @property
    def is_binary(self) -> bool:
        return self.max_brightness == 1

    @property
    def value(self) -> float:
        return self._value

    @value.setter
    def value(self, value: float) -> None:
        value = max(0.0, min(1.0, float(value)))
        # Anything above zero lights it: on a binary LED a dim level must not read as "off".
        raw = 0 if value == 0 else max(1, round(value * self.max_brightness))
        self._write_file("brightness", str(raw))
        self._value = value

    @property
    def is_lit(self) -> bool:
        return self._value > 0

    def on(self) -> None:
        self._stop_animation()
        self.value = 1.0

    def off(self) -> None:
        self._stop_animation()
        self.value = 0.0

    def toggle(self) -> None:
        self.value = 0.0 if self.is_lit else 1.0

    def blink(
        self,
        on_time: float = 1.0,
        off_time: float = 1.0,
        fade_in_time: float = 0.0,
        fade_out_time: float = 0.0,
        n: int | None = None,
        background: bool = True,
    ) -> None:
        """Like gpiozero's ``PWMLED.blink``; ``n`` is how many times (None: for ever)."""
        frames = [
            *(fade(0.0, 1.0, fade_in_time) if fade_in_time else ()),
            (1.0, on_time),
            *(fade(1.0, 0.0, fade_out_time) if fade_out_time else ()),
            (0.0, off_time),
        ]
        self._start_animation(frames * (n or 1), repeat=n is None, wait=not background)

    def pulse(
        self,
        fade_in_time: float = 1.0,
        fade_out_time: float = 1.0,
        n: int | None = None,
        background: bool = True,
    ) -> None:
        self.blink(0.0, 0.0, fade_in_time, fade_out_time, n, background)

    def close(self) -> None:
        self._stop_animation()
        try:
            self.value = 0.0
            if self._saved_trigger not in (None, "none"):
                self._write_file("trigger", self._saved_trigger)
        except OSError:
            pass  # unplugged: nothing to restore

    def __enter__(self) -> SysfsLed:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start_animation(self, frames: list[Frame], repeat: bool, wait: bool) -> None:
        self._stop_animation()
        self._animation = Animation(self._set_quietly, name="sysfs-led")
        self._animation.play(frames, repeat=repeat)
        if wait and not repeat:
            self._animation.wait()

    def _stop_animation(self) -> None:
        if self._animation is not None:
            self._animation.close()
            self._animation = None

    def _set_quietly(self, level: float) -> None:
        try:
            self.value = level
        except OSError:
            log.debug("could not write %s", self.path, exc_info=True)

    def _current_trigger(self) -> str | None:
        text = self._read("trigger")
        if text is None:
            return None
        # The file lists every trigger and marks the active one: "none [kbd-scrolllock] timer".
        for word in text.split():
            if word.startswith("[") and word.endswith("]"):
                return word[1:-1]
        return None

    def _read(self, name: str) -> str | None:
        try:
            return (self.path / name).read_text().strip()
        except OSError:
            return None

    def _write_file(self, name: str, text: str) -> None:
        (self.path / name).write_text(text)


def find_sysfs_led(name: str, root: Path = Path("/sys/class/leds")) -> Path:
    """The LED directory named ``name``, else the first whose name contains it."""
    if (root / name).is_dir():
        return root / name
    candidates = sorted(path for path in root.glob("*") if name.lower() in path.name.lower())
    if not candidates:
        available = ", ".join(sorted(p.name for p in root.glob("*"))) or "none"
        raise FileNotFoundError(f"no LED named like {name!r} under {root} (found: {available})")
    return candidates[0]


def make_led(
    settings: LedSettings, *, sysfs_root: str | Path = "/sys/class/leds"
) -> tuple[LedDevice, str]:
    """The configured LED and the name of its backend; :class:`NullLed` if there is none.

    ``backend = "auto"`` tries a GPIO PWM LED, then the kernel LED named by
    ``sysfs_name``, then gives up quietly: an LED is nice to have, not needed.
    """
    order = {"auto": ("gpio", "sysfs"), "none": ()}.get(settings.backend, (settings.backend,))
    for backend in order:
        try:
            return _make(backend, settings, sysfs_root), backend
        except Exception as error:
            if settings.backend != "auto":
                log.error("LED (%s) not available: %s", backend, error)
            else:
                log.info("no %s LED: %s", backend, error)
    return NullLed(), "none"


def _make(backend: str, settings: LedSettings, sysfs_root: str | Path) -> LedDevice:
    if backend == "sysfs":
        return SysfsLed(settings.sysfs_name, root=sysfs_root)
    from gpiozero import PWMLED, RGBLED

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if backend == "rgb":
            return RGBLED(*settings.rgb_pins)
        return PWMLED(settings.pin)
