"""The one stream of events that leaves the conversation engine.

The engine publishes; the LED, the web page, systemd's ``STATUS=`` and the log
subscribe. Nothing subscribes to anything else, so no component needs to know
who is listening::

    events = EventStream()
    unsubscribe = events.subscribe(lambda event: print(event))
    events.publish(StateChanged(State.LISTENING))

Subscribers are called in the publisher's thread, in the order they subscribed,
so they must be quick: hand slow work to a thread or queue of your own. A
subscriber that raises is logged and skipped; it never breaks the engine. A
subscriber may not publish on the stream it was called from (that is how an
earlier version showed IDLE after ERROR): :meth:`EventStream.publish` refuses it
with :class:`NestedPublishError`. To combine states, use
:class:`~appliance.app.status.Status`, which reads one stream and publishes on another.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

log = logging.getLogger(__name__)


class State(StrEnum):
    """What the box is doing, as a student or teacher would describe it."""

    BOOTING = "booting"
    IDLE = "idle"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    ERROR = "error"
    UPDATING = "updating"


@dataclass(frozen=True)
class StateChanged:
    """The box entered ``state``. ``detail`` says why, for people (the log, the page)."""

    state: State
    detail: str = ""
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class TurnFinished:
    """A turn ended. The words are student data: only the page shows them by default.

    The rest is what a lesson's record counts (none of it is a word): how long the
    student spoke (the speech the VAD heard, 0 for a typed turn) and the box spoke,
    whether any speech was heard at all (a press with none has ``heard=False`` and
    no words), whether the classroom filter changed the reply, and the activity and
    level it happened in.
    """

    transcript: str
    reply: str
    timings_ms: dict[str, float]
    cancelled: bool = False
    at: float = field(default_factory=time.time)
    student_seconds: float = 0.0
    box_seconds: float = 0.0
    heard: bool = True
    filtered: bool = False
    activity: str = ""
    level: str = ""


Event = StateChanged | TurnFinished
Subscriber = Callable[[Event], None]


class NestedPublishError(RuntimeError):
    """A subscriber tried to publish on the stream that is calling it."""


class EventStream:
    """A thread-safe fan-out of :data:`Event` to subscribers.

    It remembers the last :class:`StateChanged` so late subscribers (a browser
    tab opened later) can be told the current state at once.
    """

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self.last_state = StateChanged(State.BOOTING)
        self.last_turn: TurnFinished | None = None
        self._delivering = threading.local()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` for every event from now on. Returns an unsubscribe function."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: Event) -> None:
        if getattr(self._delivering, "active", False):
            raise NestedPublishError(f"a subscriber published {event!r} while being called")
        with self._lock:
            if isinstance(event, StateChanged):
                self.last_state = event
            else:
                self.last_turn = event
            subscribers = list(self._subscribers)
        self._delivering.active = True
        try:
            for subscriber in subscribers:
                try:
                    subscriber(event)
                except Exception:
                    log.exception("event subscriber %r failed", subscriber)
        finally:
            self._delivering.active = False

    def state(self, state: State, detail: str = "") -> None:
        """Shorthand for ``publish(StateChanged(state, detail))``."""
        self.publish(StateChanged(state, detail))
