"""The one component that decides what the box shows: the LED, the page, systemd, the log.

Three things feed it, each one way:

* the engine's own :class:`~appliance.core.events.EventStream` (idle, listening, thinking...),
  which :class:`Status` follows;
* device faults, reported by calling :meth:`Status.fault` and :meth:`Status.clear`
  (an unplugged microphone, a start-up that failed);
* model-update progress, reported with :meth:`Status.updating` and :meth:`Status.updated`.

From them it decides one displayed state and publishes it on ``shown``, the stream
the LED, the web page, systemd's ``STATUS=`` and the log subscribe to. Nothing else
publishes there, so a subscriber added late sees the same state as one added early::

    engine events ─┐
    device faults ─┼─▶ Status ─▶ shown ─▶ LED · page · systemd · log
    updates ───────┘

What wins: an update in progress, then a device fault (the box cannot work while
the microphone is gone, whatever the engine last did), then the engine's own state.
A finished turn (:class:`~appliance.core.events.TurnFinished`) passes through unchanged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from appliance.core.events import Event, EventStream, State, StateChanged

log = logging.getLogger(__name__)


class Status:
    """Combines engine state, device faults and update progress into the shown state."""

    def __init__(self, shown: EventStream | None = None) -> None:
        self.shown = shown or EventStream()
        self._lock = threading.Lock()
        self._engine = StateChanged(State.BOOTING)
        self._faults: dict[str, str] = {}  # source → message, in the order they came
        self._update: str | None = None
        self._unfollow: list[Callable[[], None]] = []
        # Deciding and publishing are one step, so two reports at once are shown in order.
        self._publishing = threading.RLock()

    def follow(self, engine_events: EventStream) -> None:
        """Take the engine's states (and finished turns) from ``engine_events``."""
        self._engine = engine_events.last_state
        self._unfollow.append(engine_events.subscribe(self._on_engine_event))
        self._show()

    def fault(self, source: str, message: str) -> None:
        """``source`` ("microphone", "engine"...) is faulty: show ERROR with ``message``."""
        with self._lock:
            self._faults[source] = message
        self._show()

    def clear(self, source: str, message: str = "") -> None:
        """``source`` works again; ``message`` says so ("microphone is connected again")."""
        with self._lock:
            had = self._faults.pop(source, None) is not None
        if had:
            self._show(message)

    def updating(self, message: str) -> None:
        with self._lock:
            self._update = message
        self._show()

    def updated(self, message: str = "") -> None:
        with self._lock:
            had, self._update = self._update is not None, None
        if had:
            self._show(message)

    @property
    def faults(self) -> dict[str, str]:
        with self._lock:
            return dict(self._faults)

    def close(self) -> None:
        for unfollow in self._unfollow:
            unfollow()
        self._unfollow.clear()

    # --- inside ---

    def _on_engine_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            with self._lock:
                self._engine = event
            self._show()
        else:
            self.shown.publish(event)

    def decide(self) -> StateChanged:
        """The state to show now (see the module's docstring for what wins)."""
        with self._lock:
            if self._update is not None:
                return StateChanged(State.UPDATING, self._update)
            if self._faults:
                return StateChanged(State.ERROR, next(reversed(self._faults.values())))
            return self._engine

    def _show(self, why: str = "") -> None:
        """Publish the decided state if it differs from the one shown. ``why`` replaces the
        detail of an engine state shown again after a fault or an update ended."""
        with self._publishing:
            with self._lock:
                own_message = self._update is not None or bool(self._faults)
            decided = self.decide()
            if why and not own_message:
                decided = StateChanged(decided.state, why)
            last = self.shown.last_state
            if (decided.state, decided.detail) != (last.state, last.detail):
                self.shown.publish(decided)
