"""Putting the assistant together: config + installed models + sound devices → an Engine.

Every front end (``parlo run``, ``parlo converse``, ``parlo bench``, the
daemon) builds its engine here, so they all run exactly the same loop.
"""

from __future__ import annotations

import logging
from typing import Any

from appliance.audio.devices import Microphone, Speaker
from appliance.core.config import Config
from appliance.core.events import EventStream, State
from appliance.core.memory import limit_malloc_arenas, release_free_memory
from appliance.engine.conversation import Engine
from appliance.speech.loaded import Models

log = logging.getLogger(__name__)


class NoModelsError(RuntimeError):
    pass


def current_model_set() -> Any:
    """The installed model set that ``current`` points to, or a clear error."""
    from appliance.core.paths import model_store_root
    from appliance.models.store import ModelStore

    model_set = ModelStore(model_store_root()).current()
    if model_set is None:
        raise NoModelsError(
            f"no models are installed in {model_store_root()}: run `parlo models fetch`"
        )
    return model_set


def sound_backend() -> Any:
    """The ``sounddevice`` module, or None when PortAudio or every device is missing."""
    try:
        import sounddevice
    except OSError as error:  # PortAudio itself is not installed
        log.info("no sound system: %s", error)
        return None
    try:
        devices = sounddevice.query_devices()
    except Exception as error:
        log.info("no sound devices: %s", error)
        return None
    has_input = any(d["max_input_channels"] > 0 for d in devices)
    has_output = any(d["max_output_channels"] > 0 for d in devices)
    return sounddevice if has_input and has_output else None


def build_engine(
    config: Config,
    backend: Any,
    *,
    models: Models | None = None,
    events: EventStream | None = None,
) -> Engine:
    """An engine on ``backend`` (``sounddevice`` or :class:`~appliance.audio.files.FileDevices`)."""
    # Each turn runs on short-lived threads; without a cap on malloc arenas the process
    # grew by 31% over 200 turns (the soak test), with it RSS stays flat.
    limit_malloc_arenas()
    if models is None:
        if events is not None:
            events.state(State.BOOTING, "loading models")
        models = Models.load(current_model_set(), config)
    speaker = Speaker(
        backend,
        config.audio.output_device,
        source_rate=models.tts.sample_rate,
        volume=config.voice.volume,
    )
    microphone = Microphone(backend, config.audio.input_device)
    engine = Engine(models, config, speaker, microphone, events)
    release_free_memory()  # what loading and warming up used and let go: about 15 MB
    return engine
