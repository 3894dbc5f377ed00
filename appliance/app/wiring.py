"""The one place that builds the box from its parts.

* :func:`build_engine`: config + installed models + sound devices → an
  :class:`~appliance.engine.conversation.Engine`. Every front end (``parlo run``,
  ``parlo converse``, ``parlo bench``, ``parlo eval``, the daemon) builds its
  engine here, so they all run exactly the same loop.
* :func:`build_daemon`: the engine on a supervised sound system, the button, the
  LED, the status component and the web page → a :class:`~appliance.app.daemon.Daemon`.
* :func:`run_daemon` and :func:`run_assistant`: ``parlo daemon`` and ``parlo run``.

Nothing here decides how the box behaves; it only connects the parts.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable

from appliance.app.daemon import CannotStart, Daemon, EngineFactory, Service, describe_state
from appliance.app.fake_engine import FakeEngine
from appliance.app.status import Status
from appliance.audio.devices import Microphone, SoundBackend, Speaker
from appliance.audio.supervised import SupervisedAudio
from appliance.core.config import Config, load_config
from appliance.core.events import EventStream, State
from appliance.core.memory import limit_malloc_arenas, release_free_memory
from appliance.core.paths import config_path, lessons_dir, model_store_root
from appliance.engine.controls import EngineControls
from appliance.engine.conversation import Engine
from appliance.hardware.buttons import ButtonLike, NoButtonError, make_button
from appliance.hardware.leds import make_led
from appliance.lessons.recorder import LessonRecorder
from appliance.lessons.store import LessonStore
from appliance.models.store import ModelSet, ModelStore
from appliance.speech.loaded import Models
from appliance.system.journal import setup_logging
from appliance.system.power import Power
from appliance.web.auth import box_presence_gate, secret_path, take_first_boot_pin

log = logging.getLogger(__name__)


class NoModelsError(RuntimeError):
    pass


def current_model_set() -> ModelSet:
    """The installed model set that ``current`` points to, or a clear error."""
    model_set = ModelStore(model_store_root()).current()
    if model_set is None:
        raise NoModelsError(
            f"no models are installed in {model_store_root()}: run `parlo models fetch`"
        )
    return model_set


def sound_backend() -> SoundBackend | None:
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
    backend: SoundBackend,
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


# --- the daemon ----------------------------------------------------------------------------------


def engine_factory_for(backend: SoundBackend) -> EngineFactory:
    """:func:`build_engine` on ``backend`` (a supervised sound system), as the daemon needs."""

    def build(config: Config, events: EventStream) -> Engine:
        try:
            return build_engine(config, backend, events=events)
        except NoModelsError as error:
            shown = "no models installed: import them on the web page"
            raise CannotStart(str(error), shown) from None

    return build


def fake_engine_factory(config: Config, events: EventStream) -> FakeEngine:
    """``parlo daemon --fake-engine``: the whole box, acted out without models."""
    return FakeEngine(events, think_seconds=0.8, speak_seconds=1.5, vad_end_seconds=3.0)


def web_page_for(
    daemon: Daemon, audio: SoundBackend | None, lessons: LessonRecorder | None = None
) -> Service:
    """The teacher's page (:class:`~appliance.web.server.WebServer`), wired to this
    daemon's parts."""
    from appliance.web.context import WebContext
    from appliance.web.server import WebServer

    engine = daemon.engine

    def health() -> dict[str, str]:
        return {
            "microphone": _device_name(audio, "input", daemon.config.audio.input_device),
            "speaker": _device_name(audio, "output", daemon.config.audio.output_device),
            "state": describe_state(daemon.events.last_state),
            "engine loop": f"{daemon.engine_age():.0f} s ago"
            if engine is not None
            else "no engine",
            "watchdog": "on" if daemon.watchdog.enabled else "off (not under systemd)",
        }

    return WebServer(
        WebContext(
            events=daemon.events,
            config_path=daemon.config_path or config_path(),
            say=engine.say if engine is not None else None,
            reset_conversation=engine.reset if engine is not None else None,
            list_sound_devices=lambda: _device_names(audio),
            health=health,
            models_changed=lambda: daemon.restart("the models changed"),
            lessons=lessons,
            power=daemon.power_action if daemon.power is not None else None,
        )
    )


def _device_names(audio: SoundBackend | None) -> list[str]:
    if audio is None:
        return []
    backend = audio.backend if isinstance(audio, SupervisedAudio) else audio
    return [device["name"] for device in backend.query_devices()]


def _device_name(audio: SoundBackend | None, kind: str, wanted: str) -> str:
    """The device that ``wanted`` picks now, or "" if there is none (no restarting PortAudio)."""
    if audio is None:
        return ""
    backend = audio.backend if isinstance(audio, SupervisedAudio) else audio
    try:
        devices = list(backend.query_devices())
    except Exception:
        return ""
    channels = f"max_{kind}_channels"
    for device in devices:
        if device.get(channels, 0) > 0 and wanted.lower() in device["name"].lower():
            return device["name"]
    return ""


def build_daemon(
    config: Config,
    backend: SoundBackend | None,
    *,
    interactive: bool = False,
    fake_engine: bool = False,
    events: EventStream | None = None,
) -> Daemon:
    """The daemon with real hardware, the given sound backend and the web page.

    ``backend`` is the ``sounddevice`` module (or ``FileDevices``); None means
    PortAudio is missing, and only ``fake_engine`` can run then.
    """
    status = Status(events or EventStream())
    holder: list[Daemon] = []

    def find_button() -> tuple[ButtonLike | None, str]:
        return make_button(
            config.button, interactive=interactive, on_quit=lambda: holder[0].stop("q pressed")
        )

    def find_button_again() -> ButtonLike:
        button, _ = find_button()
        if button is None:
            raise NoButtonError(f"no {config.button.backend} button")
        return button

    try:
        button, button_backend = find_button()
        retry: Callable[[], ButtonLike] | None = None
    except Exception as error:  # configured, but not there (yet): the daemon looks again
        log.error("the %s button is missing: %s", config.button.backend, error)
        button, button_backend, retry = None, config.button.backend, find_button_again
    led, led_backend = make_led(config.led)
    log.info("button: %s; LED: %s", button_backend, led_backend)
    audio: SupervisedAudio | None = None
    closers: list[Callable[[], None]] = []
    if backend is not None and not fake_engine:
        audio = SupervisedAudio(backend, status=status, input_device=config.audio.input_device)
        audio.check()
        closers.append(audio.close)
    models: ModelWatch | None = None
    if fake_engine:
        engine_factory: EngineFactory = fake_engine_factory
    elif audio is not None:
        models = ModelWatch()
        engine_factory = models.loading(engine_factory_for(audio))
    else:
        engine_factory = _no_sound_system

    # The lessons: every finished turn on the shown stream, counted (no words unless the
    # teacher turned transcripts on); written by the recorder's own thread.
    recorder = LessonRecorder(
        LessonStore(lessons_dir()), config=lambda: holder[0].config if holder else config
    )
    closers.append(status.shown.subscribe(recorder.on_event))
    closers.append(recorder.close)  # the lesson so far is written at shutdown

    def web_page(daemon: Daemon) -> Service:
        return web_page_for(daemon, audio, recorder)

    web_factory: Callable[[Daemon], Service] | None = None
    if config.web.enabled:
        try:
            import appliance.web.server  # noqa: F401  (uvicorn and friends installed?)

            web_factory = web_page
        except ImportError as error:
            log.warning("the web page is not available: %s", error)
    daemon = Daemon(
        config,
        engine_factory,
        status=status,
        button=button,
        find_button=retry,
        button_mode="tap" if button_backend == "keyboard" else None,
        led=led,
        web_factory=web_factory,
        models_changed=models.changed if models is not None else None,
        config_path=config_path(),
        update_store=model_store_root() if models is not None else None,
        closers=closers,
        power=Power(),
        presence=box_presence_gate(secret_path()),
        first_boot_pin=take_first_boot_pin,
        follow_config=[lambda new: audio.use_input_device(new.audio.input_device)]
        if audio is not None
        else [],
    )
    holder.append(daemon)
    return daemon


def _no_sound_system(config: Config, events: EventStream) -> Engine:
    shown = "no sound system: install libportaudio2"
    raise CannotStart(shown, shown)


class ModelWatch:
    """Notices when the installed model set is no longer the one the engine loaded."""

    def __init__(self) -> None:
        self.loaded: str | None = None

    @staticmethod
    def current() -> str | None:
        model_set = ModelStore(model_store_root()).current()
        return str(model_set.path) if model_set is not None else None

    def loading(self, factory: EngineFactory) -> EngineFactory:
        """``factory``, noting which set it loads."""

        def build(config: Config, events: EventStream) -> EngineControls:
            self.loaded = self.current()
            return factory(config, events)

        return build

    def changed(self) -> bool:
        try:
            return self.current() != self.loaded
        except Exception as error:  # a store being rewritten right now: look again later
            log.debug("could not read the model store: %s", error)
            return False


def _install_signal_handlers(daemon: Daemon) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: daemon.stop("SIGINT"))
    signal.signal(
        signal.SIGHUP, lambda *_: threading.Thread(target=daemon.reload, daemon=True).start()
    )


def run_daemon(
    *, interactive: bool = False, fake_engine: bool = False, verbose: bool = False
) -> int:
    """``parlo daemon``: log to the journal, use the real sound system. Returns the exit status."""
    setup_logging(verbose)
    config = load_config()
    backend: SoundBackend | None = None
    try:
        import sounddevice

        backend = sounddevice
    except OSError as error:  # PortAudio itself is missing
        log.error("no sound system: %s", error)
    daemon = build_daemon(config, backend, interactive=interactive, fake_engine=fake_engine)
    _install_signal_handlers(daemon)
    return daemon.run()


def run_assistant(config: Config, backend: SoundBackend | None, *, interactive: bool = True) -> int:
    """``parlo run``: the same appliance in a terminal, with the keyboard as a button too."""
    daemon = build_daemon(config, backend, interactive=interactive)
    _install_signal_handlers(daemon)
    if interactive and sys.stdin.isatty():
        print("Space or Enter: talk, then again to stop (or just pause). q: quit.", file=sys.stderr)
    return daemon.run()
