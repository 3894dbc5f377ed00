"""The big button, whatever it is wired to.

Parlo's gesture :class:`~appliance.app.controller.Controller` needs only
the part of gpiozero's :class:`gpiozero.Button` that every button can offer::

    button.when_pressed = callback     # called with no argument, or with the button
    button.when_released = callback
    button.is_pressed                  # True while held down
    button.close()

Three kinds of button provide it:

- a GPIO push button on a Raspberry Pi: :class:`gpiozero.Button` itself;
- any key of a USB HID device (a big USB button, a foot pedal, a keyboard) on a
  machine without GPIO: :class:`EvdevButton`, read from ``/dev/input`` so it
  works in a headless daemon with no terminal or display;
- the terminal, for ``parlo run`` at a desk: :class:`KeyboardButton`. A
  terminal reports key presses but never key releases, so each key press is a
  whole *tap* (press then release at once), and the controller must use tap mode.

:func:`make_button` picks one from :class:`~appliance.core.config.ButtonSettings`.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import logging
import os
import select
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from appliance.core.config import ButtonSettings

log = logging.getLogger(__name__)

Callback = Callable[[], None] | Callable[[Any], None]


class ButtonLike(Protocol):
    """What the controller needs of a button (gpiozero's ``Button`` has all of it)."""

    when_pressed: Callback | None
    when_released: Callback | None

    @property
    def is_pressed(self) -> bool: ...

    def close(self) -> None: ...


class NoButtonError(RuntimeError):
    """No button of the configured kind could be found."""


class CallbackButton:
    """The gpiozero button interface, for buttons gpiozero cannot drive.

    Subclasses report the physical state with :meth:`_set_pressed`; this class
    turns changes into ``when_pressed`` / ``when_released`` calls. Like gpiozero,
    a callback may take no argument or one (the button).
    """

    def __init__(self) -> None:
        self._pressed = False
        self._when_pressed: Callable[[], None] | None = None
        self._when_released: Callable[[], None] | None = None
        self._closed = threading.Event()

    @property
    def is_pressed(self) -> bool:
        return self._pressed

    @property
    def value(self) -> int:
        return int(self._pressed)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def when_pressed(self) -> Callable[[], None] | None:
        return self._when_pressed

    @when_pressed.setter
    def when_pressed(self, callback: Callback | None) -> None:
        self._when_pressed = self._bind(callback)

    @property
    def when_released(self) -> Callable[[], None] | None:
        return self._when_released

    @when_released.setter
    def when_released(self, callback: Callback | None) -> None:
        self._when_released = self._bind(callback)

    def close(self) -> None:
        self._closed.set()

    def __enter__(self) -> CallbackButton:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _set_pressed(self, pressed: bool) -> None:
        if pressed == self._pressed:
            return
        self._pressed = pressed
        callback = self._when_pressed if pressed else self._when_released
        if callback is not None:
            try:
                callback()
            except Exception:
                log.exception("button callback %r failed", callback)

    def _bind(self, callback: Callback | None) -> Callable[[], None] | None:
        if callback is None:
            return None
        try:
            inspect.signature(callback).bind()
            return callback  # type: ignore[return-value]
        except TypeError:
            return lambda: callback(self)  # type: ignore[call-arg]
        except ValueError:  # a builtin with no signature: assume it takes nothing
            return callback  # type: ignore[return-value]


# --- evdev: a key of any USB input device -----------------------------------------------------

EV_KEY = 0x01
KEY_UP, KEY_DOWN, KEY_AUTOREPEAT = 0, 1, 2


class InputSource(Protocol):
    """Where an :class:`EvdevButton` reads events from: an open input device.

    ``read_events`` waits up to ``timeout`` seconds and returns what arrived
    (objects with ``type``, ``code`` and ``value``, like ``evdev.InputEvent``).
    It raises :class:`OSError` when the device is gone (unplugged).
    """

    name: str

    def read_events(self, timeout: float) -> list[Any]: ...

    def close(self) -> None: ...


class EvdevSource:
    """An ``evdev.InputDevice`` as an :class:`InputSource`, grabbed so its key
    presses do not also type into a console."""

    def __init__(self, device: Any, grab: bool = True) -> None:
        self.device = device
        self.name: str = device.name
        if grab:
            try:
                device.grab()
            except OSError as error:
                log.warning(
                    "could not grab %s (%s); its keys may also reach a console", device.path, error
                )

    def read_events(self, timeout: float) -> list[Any]:
        readable, _, _ = select.select([self.device.fd], [], [], timeout)
        if not readable:
            return []
        try:
            return list(self.device.read())
        except BlockingIOError:
            return []

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.device.close()


def key_code(key: str | int) -> int:
    """``"KEY_SPACE"``, ``"BTN_0"`` or a number, as the kernel's key code."""
    if isinstance(key, int) or str(key).isdigit():
        return int(key)
    from evdev import ecodes

    try:
        return int(ecodes.ecodes[key])
    except KeyError:
        raise NoButtonError(
            f"unknown key name {key!r} (use a name like KEY_SPACE or BTN_0)"
        ) from None


def find_input_device(name: str, key: str | int, input_dir: str = "/dev/input") -> EvdevSource:
    """The first input device whose name contains ``name`` (any, if empty) and has ``key``."""
    import evdev

    code = key_code(key)
    seen = []
    for path in sorted(evdev.list_devices(input_dir)):
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue  # vanished, or not ours to read
        seen.append(device.name)
        if name.lower() in device.name.lower() and code in device.capabilities().get(EV_KEY, []):
            log.info("button: %s (%s), key %s", device.name, path, key)
            return EvdevSource(device)
        device.close()
    found = ", ".join(repr(n) for n in seen) or "none (is the user in the 'input' group?)"
    raise NoButtonError(f"no input device named like {name!r} with key {key}; found: {found}")


class EvdevButton(CallbackButton):
    """One key of a Linux input device as a gpiozero-style button.

    ``EvdevButton("PCsensor FootSwitch", "KEY_B")`` watches the foot pedal's
    ``B`` key. Key autorepeat is ignored, so holding the key is one long press.
    When the device is unplugged the button reads as released, and it is found
    again (by name) when it comes back.

    ``opener`` returns an :class:`InputSource`; tests pass one that replays a
    recorded event stream.
    """

    def __init__(
        self,
        device_name: str = "",
        key: str | int = "KEY_SPACE",
        *,
        input_dir: str = "/dev/input",
        opener: Callable[[], InputSource] | None = None,
        retry_interval: float = 2.0,
    ) -> None:
        super().__init__()
        self.device_name = device_name
        self.key = key
        self.code = key_code(key)
        self.retry_interval = retry_interval
        self._open = opener or (lambda: find_input_device(device_name, key, input_dir))
        # Fail now, loudly, if the device is not there at start: a config mistake is likelier than
        # an unplugged button.
        self._source: InputSource | None = self._open()
        self._thread = threading.Thread(target=self._read, name="evdev-button", daemon=True)
        self._thread.start()

    def close(self) -> None:
        super().close()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _read(self) -> None:
        while not self.closed:
            if self._source is None:
                self._source = self._reopen()
                continue
            try:
                events = self._source.read_events(timeout=0.2)
            except OSError as error:
                if error.errno not in (errno.ENODEV, errno.EBADF, errno.EIO):
                    log.exception("button device failed")
                log.warning(
                    "button device %r is gone; waiting for it to come back", self._source.name
                )
                self._source.close()
                self._source = None
                self._set_pressed(False)
                continue
            self._handle(events)
        if self._source is not None:
            self._source.close()

    def _handle(self, events: Iterable[Any]) -> None:
        for event in events:
            if event.type == EV_KEY and event.code == self.code and event.value != KEY_AUTOREPEAT:
                self._set_pressed(event.value == KEY_DOWN)

    def _reopen(self) -> InputSource | None:
        if self._closed.wait(self.retry_interval):
            return None
        try:
            source = self._open()
        except (OSError, NoButtonError):
            return None
        log.info("button device %r is back", source.name)
        return source


# --- the terminal ----------------------------------------------------------------------------


class KeyboardButton(CallbackButton):
    """The terminal as a button, for ``parlo run`` at a desk.

    Space or Enter is a tap (a terminal never says when a key is let go), so
    use it with the controller in tap mode: one tap starts listening, the next
    tap or a pause in speech ends it. ``q`` calls ``on_quit``.

    ``stream`` is any readable file; tests use a pipe.
    """

    TAP_KEYS = frozenset(" \r\n")
    QUIT_KEYS = frozenset("qQ")

    def __init__(self, stream: Any = None, *, on_quit: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.on_quit = on_quit
        self._fd = (stream or sys.stdin).fileno()
        self._saved_terminal = self._cbreak(self._fd)
        self._thread = threading.Thread(target=self._read, name="keyboard-button", daemon=True)
        self._thread.start()

    def close(self) -> None:
        super().close()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        if self._saved_terminal is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved_terminal)
            self._saved_terminal = None

    def _read(self) -> None:
        while not self.closed:
            readable, _, _ = select.select([self._fd], [], [], 0.2)
            if not readable:
                continue
            data = os.read(self._fd, 64).decode(errors="replace")
            if not data:  # end of input: nothing more will ever be typed
                return
            for char in data:
                if char in self.TAP_KEYS:
                    self._set_pressed(True)
                    self._set_pressed(False)
                elif char in self.QUIT_KEYS and self.on_quit is not None:
                    self.on_quit()

    @staticmethod
    def _cbreak(fd: int) -> list | None:
        """Deliver keys as they are typed (no Enter needed, no echo); returns what to restore."""
        if not os.isatty(fd):
            return None
        import termios
        import tty

        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        attributes = termios.tcgetattr(fd)
        attributes[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSADRAIN, attributes)
        return saved


# --- choosing one ----------------------------------------------------------------------------


def gpio_button(settings: ButtonSettings) -> ButtonLike:
    from gpiozero import Button

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pin-factory fallback chatter; failure raises anyway
        return Button(
            settings.pin,
            pull_up=settings.pull_up,
            bounce_time=settings.bounce_time or None,
        )


def make_button(
    settings: ButtonSettings,
    *,
    interactive: bool = False,
    on_quit: Callable[[], None] | None = None,
) -> tuple[ButtonLike | None, str]:
    """The configured button and the name of its backend, or ``(None, "none")``.

    ``backend = "auto"`` tries GPIO, then an evdev device if one is named, then
    the terminal when ``interactive`` (``parlo run`` in a terminal). The
    ``"keyboard"`` backend only reports taps: run the controller in tap mode.
    """
    backend = settings.backend
    if backend in ("gpio", "evdev", "keyboard"):
        return _make(backend, settings, on_quit), backend
    for candidate in ("gpio", "evdev", "keyboard"):
        if candidate == "evdev" and not settings.evdev_device:
            continue
        if candidate == "keyboard" and not interactive:
            continue
        try:
            return _make(candidate, settings, on_quit), candidate
        except Exception as error:
            log.info("no %s button: %s", candidate, error)
    log.warning("no button found: the box can still be used from its web page")
    return None, "none"


def _make(backend: str, settings: ButtonSettings, on_quit: Callable[[], None] | None) -> ButtonLike:
    if backend == "gpio":
        return gpio_button(settings)
    if backend == "evdev":
        return EvdevButton(settings.evdev_device, settings.evdev_key)
    return KeyboardButton(on_quit=on_quit)
