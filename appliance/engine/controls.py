"""What the rest of the box may ask of an engine: the controls, and nothing else.

The gesture controller, the daemon and the web page drive the engine only
through :class:`EngineControls`. :class:`~appliance.engine.conversation.Engine`
is the real one; :class:`~appliance.app.fake_engine.FakeEngine` acts it out
for tests and for ``parlo daemon --fake-engine``. Every call returns at once:
the work happens on the engine's own thread, and what it does comes back as
events on its :class:`~appliance.core.events.EventStream`.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from appliance.core.config import Config


class EngineControls(Protocol):
    """An engine's controls. None of them blocks."""

    @property
    def heartbeat(self) -> float:
        """When the engine's worker loop last went round (``time.monotonic()``)."""
        ...

    def listen(self, end_after_silence: float | None = None) -> None:
        """Start listening (barging in on a reply); with ``end_after_silence``, end by itself."""

    def finish_listening(self) -> None:
        """The student let go: answer what was said."""

    def cancel(self) -> None:
        """End the current turn now: playback stops at once."""

    def reset(self) -> None:
        """Forget the conversation so far."""

    def say(self, text: str) -> Future[None]:
        """Say ``text`` (after the current reply); the future is done once it has been said."""
        ...

    def earcon(self, name: str) -> None:
        """Play the named earcon ("press", "reset", "activity", "error"...)."""

    def heard_speech(self) -> bool:
        """True if the student has said something since listening began."""
        ...

    def apply_config(self, config: Config) -> None:
        """Use ``config`` from the next turn on."""

    def close(self) -> None:
        """Stop the worker and let go of the devices and models."""
