"""Button gestures into engine calls: the whole user interface of the box.

One button does everything. In **hold** mode (the default) a student holds it
while speaking; in **tap** mode a tap starts listening and a second tap, or a
pause in speech (``button.tap_silence``), ends it.

=====================================  ==============================================
gesture                                what happens
=====================================  ==============================================
press while idle                       ``engine.listen()``
release (hold mode)                    ``engine.finish_listening()``
tap while listening (tap mode)         ``engine.finish_listening()``
press while thinking or speaking       barge-in: ``engine.listen()`` stops it and listens
hold ``long_hold`` (3 s), silent       "confirm" earcon: hold again within
                                       ``confirm_window`` (10 s) to reset
the same again, within the window      "reset" earcon, ``engine.reset()``
hold ``very_long_hold`` (10 s)         ``actions.say_address()``
hold ``shutdown_hold`` (30 s)          ``actions.ask_to_shut_down()``: hold again
                                       within the window for ``actions.shut_down()``
two presses within ``double_tap``      "activity" earcon, ``actions.next_activity()``
press while booting or updating        "error" earcon, nothing else
=====================================  ==============================================

Earcons sound as soon as the button moves, before any model runs, so a student
always knows they were heard. ``engine.listen()`` and ``engine.finish_listening()``
play the "press" and "release" earcons themselves; the controller plays the
ones for gestures that call neither.

A long hold counts only if it began while the box was idle and the student
said nothing: in hold mode a student may well talk for more than three seconds.
The controller asks ``engine.heard_speech()`` for that. A silent hold is never
a turn: the listening it began is cancelled. Nothing is wiped or switched off by
one hold alone (a student leaning on the button): the first asks, a second silent
hold within ``confirm_window`` confirms. A very long hold passes through the long
hold, so it asks for a reset too, then says the address instead.

Every silent long hold first tells ``actions`` that someone is at the box
(:meth:`BoxActions.confirm_at_box`): a request waiting for that (a USB stick's
PIN reset, an unsigned pack) goes ahead, and then the hold is used up.

The controller only turns gestures into calls. What a gesture means for the box
as a whole (which activity comes next, saving it, where the page is) is for
``actions``, the :class:`BoxActions` the daemon implements.

The controller handles the button on one thread of its own: button callbacks
only queue what happened, so a slow engine call never delays the next earcon
and the gesture logic needs no locks.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from appliance.core.config import Config
from appliance.core.events import Event, EventStream, State, StateChanged
from appliance.engine.controls import EngineControls
from appliance.hardware.buttons import ButtonLike

log = logging.getLogger(__name__)


class BoxActions(Protocol):
    """What a gesture asks of the box as a whole; the daemon decides how. Each returns soon."""

    def next_activity(self) -> None:
        """Switch to the next activity, keep it, and announce it."""

    def say_address(self) -> None:
        """Say where the web page is (never the PIN)."""

    def confirm_at_box(self) -> bool:
        """A silent long hold: someone is at the box. Let what waits for that go ahead
        (a stick's PIN reset, an unsigned pack...). True if anything did: the hold is
        used up."""
        ...

    def ask_to_shut_down(self) -> None:
        """Say that a second hold switches the box off."""

    def shut_down(self) -> None:
        """Say so, then switch the box off."""


@dataclass
class _Press:
    at: float
    started_idle: bool
    # What the press turned out to be: talk, finish, double-tap, ignored, hold (asking for
    # a confirmation), reset, address, shutdown.
    gesture: str
    # The next hold threshold to watch for: 0 long, 1 very long, 2 shutdown, 3 (DONE) none.
    hold_stage: int = 0


DONE = 3  # a press with no more hold thresholds to watch for


@dataclass(frozen=True)
class _Pending:
    """What a first silent hold asked for, waiting for a second one to confirm it."""

    action: str  # "reset" or "shutdown"
    until: float


class Controller:
    """Drives ``engine`` from ``button``'s gestures, reading the box's state from ``events``.

    ``actions`` carries out the gestures that concern the whole box (a double
    tap, a very long hold). ``mode`` overrides ``config.button.mode`` (a terminal
    button needs "tap").
    """

    def __init__(
        self,
        button: ButtonLike,
        engine: EngineControls,
        events: EventStream,
        config: Config,
        actions: BoxActions,
        *,
        mode: str | None = None,
    ) -> None:
        self.button = button
        self.engine = engine
        self.events = events
        self.config = config
        self.actions = actions
        self._mode = mode
        self._inbox: queue.SimpleQueue[tuple[str, float | threading.Event]] = queue.SimpleQueue()
        self._press: _Press | None = None
        # When the press began that may be the first of a double tap.
        self._last_tap_at: float | None = None
        self._listen_requested = False  # listen() was called and the engine has not yet answered
        self._pending: _Pending | None = None
        self._unsubscribe = events.subscribe(self._on_event)
        self._thread = threading.Thread(target=self._run, name="controller", daemon=True)
        self._thread.start()
        button.when_pressed = self._pressed_callback
        button.when_released = self._released_callback

    @property
    def mode(self) -> str:
        """Either "hold" or "tap": the one given when built, else the config's."""
        return self._mode or self.config.button.mode

    def apply_config(self, config: Config) -> None:
        """Use a new config (mode and timings) from the next press on."""
        self.config = config

    def close(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gpiozero warns that None might be a mistake
            self.button.when_pressed = None
            self.button.when_released = None
        self._unsubscribe()
        self._inbox.put(("stop", time.monotonic()))
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the button's thread: note the time and hand over ---

    def _pressed_callback(self) -> None:
        self._inbox.put(("press", time.monotonic()))

    def _released_callback(self) -> None:
        self._inbox.put(("release", time.monotonic()))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self._listen_requested = False

    # --- the controller's thread ---

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every button event so far has been handled. False on timeout."""
        done = threading.Event()
        self._inbox.put(("flush", done))
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            deadline = self._next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                kind, value = self._inbox.get(timeout=timeout)
            except queue.Empty:
                self._safely(self._hold_reached)
                continue
            at = value if isinstance(value, float) else time.monotonic()
            # A busy machine may deliver a release late: a hold threshold it passed still counts.
            while (deadline := self._next_deadline()) is not None and deadline <= at:
                self._safely(self._hold_reached)
            if kind == "stop":
                return
            if kind == "flush":
                if not isinstance(value, float):
                    value.set()
            else:
                self._safely(self._on_press if kind == "press" else self._on_release, at)

    def _safely(self, handler: Callable[..., None], *args: float) -> None:
        try:
            handler(*args)
        except Exception:
            log.exception("button gesture failed")

    def _state(self) -> State:
        if self._listen_requested:
            return State.LISTENING
        return self.events.last_state.state

    def _on_press(self, at: float) -> None:
        settings = self.config.button
        state = self._state()
        if self._last_tap_at is not None and at - self._last_tap_at <= settings.double_tap:
            self._last_tap_at = None
            self._press = _Press(at, started_idle=False, gesture="double-tap", hold_stage=DONE)
            self.engine.cancel()  # first: cancelling silences the speaker, earcons included
            self._earcon("activity")
            self.actions.next_activity()
            return
        self._last_tap_at = at
        if state in (State.BOOTING, State.UPDATING):
            self._press = _Press(at, started_idle=False, gesture="ignored")
            self._earcon("error")
            return
        if self.mode == "tap" and state is State.LISTENING:
            self._press = _Press(at, started_idle=False, gesture="finish", hold_stage=DONE)
            self.engine.finish_listening()
            return
        self._press = _Press(at, started_idle=state is State.IDLE, gesture="talk")
        self._listen_requested = True
        self.engine.listen(end_after_silence=settings.tap_silence if self.mode == "tap" else None)

    def _on_release(self, at: float) -> None:
        press, self._press = self._press, None
        if press is None:
            return
        if at - press.at > self.config.button.double_tap:
            self._last_tap_at = None  # a hold, not a tap: it cannot start a double tap
        if press.gesture == "talk" and self.mode == "hold":
            self.engine.finish_listening()

    def _next_deadline(self) -> float | None:
        press = self._press
        if press is None or press.hold_stage >= DONE:
            return None
        button = self.config.button
        holds = (button.long_hold, button.very_long_hold, button.shutdown_hold)
        return press.at + holds[press.hold_stage]

    def _hold_reached(self) -> None:
        press = self._press
        if press is None:
            return
        stage, press.hold_stage = press.hold_stage, press.hold_stage + 1  # advance first, always
        now = time.monotonic()
        if stage == 0:
            if press.gesture != "talk" or not press.started_idle or self.engine.heard_speech():
                press.hold_stage = DONE  # someone is talking (or it was not idle): a long turn
                return
            self._last_tap_at = None
            self.engine.cancel()  # a silent hold is a gesture, not a turn
            if self.actions.confirm_at_box():
                press.gesture, press.hold_stage = "presence", DONE
                self._pending = None
                return
            pending, self._pending = self._pending, None
            if pending is not None and now <= pending.until:
                press.gesture, press.hold_stage = pending.action, DONE
                self._confirmed(pending.action)
                return
            log.info("long hold: a second one resets the conversation")
            press.gesture = "hold"
            self._pending = _Pending("reset", now + self.config.button.confirm_window)
            self._earcon("confirm")
        elif stage == 1:
            log.info("very long hold: saying the web page's address")
            press.gesture = "address"
            self._pending = None  # asking for the address is not asking for a reset
            self.actions.say_address()
        elif stage == 2:
            log.info("shutdown hold: a second hold switches the box off")
            press.gesture = "hold"
            self._pending = _Pending("shutdown", now + self.config.button.confirm_window)
            self.actions.ask_to_shut_down()

    def _confirmed(self, action: str) -> None:
        if action == "reset":
            log.info("second long hold: resetting the conversation")
            self.engine.reset()
            self._earcon("reset")
        else:
            log.info("second long hold: switching off")
            self.actions.shut_down()

    def _earcon(self, name: str) -> None:
        try:
            self.engine.earcon(name)
        except Exception:
            log.exception("earcon %r failed", name)
