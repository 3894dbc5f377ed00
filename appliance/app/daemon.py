"""``parlo daemon``: the whole appliance in one process, as systemd runs it.

The daemon only *composes*; every part does its own job::

    button ─▶ Controller ─▶ Engine ◀─ Microphone, Speaker ◀─ SupervisedAudio ◀─ sounddevice
                              │                                     │ faults
                              └─ engine events ─▶ Status ◀──────────┘
                                                    └─ shown ─▶ LED, systemd, journal, page

In order, it:

1. reads the config and opens the event stream, the status LED (blinking:
   booting) and the systemd notifier;
2. builds the engine with :func:`appliance.app.wiring.build_engine` on a
   :class:`~appliance.audio.supervised.SupervisedAudio` backend, so an
   unplugged microphone is noticed and recovered from (loading and warming the
   models is the slow part);
3. connects the button through the gesture controller and starts the web page;
4. tells systemd ``READY=1`` once the engine is ready (or has failed: the box
   still runs, shows the error, and serves the page to fix it; a changed config
   then restarts it);
5. runs the main loop, pinging the systemd watchdog while the engine's worker
   loop is alive (its ``heartbeat`` timestamp is recent) and noticing config
   changes;
6. on SIGTERM or SIGINT ends the current turn and exits 0; on SIGHUP re-reads
   the config now.

With no models installed it shows the error state and serves the web page (to
import models). Whenever the installed model set changes (the page, a USB stick,
``parlo models``), it exits with status 75, which the unit turns into a restart
that loads the new set.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.app.controller import Controller
from appliance.app.status import Status
from appliance.core.config import Config, ConfigError, load_config
from appliance.core.events import Event, EventStream, State, StateChanged
from appliance.hardware.buttons import ButtonLike, make_button
from appliance.hardware.leds import StatusLed, make_led
from appliance.models import updates
from appliance.system.notify import Notifier, StatusReporter, Watchdog

log = logging.getLogger(__name__)

# Exit status asking systemd for a fresh start (the unit has RestartForceExitStatus=75).
EXIT_RESTART = 75
# The engine's worker beats at least once a second: when idle, per token while answering,
# and while a reply is being spoken. Only one transcription or one sentence's synthesis
# (a few seconds at most on a slow board) runs without a beat.
ENGINE_STALL_LIMIT = 15.0
MODEL_CHECK_SECONDS = 5.0

EngineFactory = Callable[[Config, EventStream], Any]


class Daemon:
    """Runs the appliance until :meth:`stop`. Every part is passed in, so tests can fake any.

    ``engine_factory(config, engine_events)`` builds the engine on its own event
    stream, which ``status`` follows; it raises :class:`CannotStart` (or anything
    else) when it cannot, and the daemon shows why. ``events`` is the shown stream,
    the one ``status`` publishes on and the LED, systemd, the log and the page
    follow. ``web_factory(daemon)`` returns something with ``start()`` and
    ``stop()``. ``closers`` are called last, at shutdown.
    """

    def __init__(
        self,
        config: Config,
        engine_factory: EngineFactory,
        *,
        events: EventStream | None = None,
        status: Status | None = None,
        button: ButtonLike | None = None,
        button_mode: str | None = None,
        led: Any = None,
        notifier: Notifier | None = None,
        watchdog: Watchdog | None = None,
        web_factory: Callable[[Daemon], Any] | None = None,
        models_changed: Callable[[], bool] | None = None,
        config_path: Path | None = None,
        update_store: Path | None = None,
        closers: list[Callable[[], None]] | None = None,
        engine_stall_limit: float = ENGINE_STALL_LIMIT,
        tick: float = 1.0,
    ) -> None:
        self.config = config
        self.status = status or Status(events)
        self.events = self.status.shown  # what the box shows: only `status` publishes here
        self.engine_events = EventStream()  # what the engine does: only the engine publishes
        self.status.follow(self.engine_events)
        self.engine_factory = engine_factory
        self.button = button
        self.button_mode = button_mode
        self.led = led
        self.notifier = notifier or Notifier()
        self.watchdog = watchdog or Watchdog.from_environment(self.notifier)
        self.web_factory = web_factory
        self.models_changed = models_changed
        self.config_path = config_path
        # The model store whose USB updates this daemon shows and announces.
        self.update_store = update_store
        previous_update = updates.read_status(update_store) if update_store else None
        self._update_seen = previous_update.at if previous_update else 0.0
        self.engine_stall_limit = engine_stall_limit
        if self.watchdog.interval is not None:
            tick = min(tick, self.watchdog.interval / 2)
        self.tick = tick
        self.engine: Any = None
        self.controller: Controller | None = None
        self.status_led: StatusLed | None = None
        self.web: Any = None
        self.exit_code = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._closers = list(closers or [])
        self._config_mtime = _mtime(config_path)
        self._engine_failed = False

    # --- control from outside: signals, the web page, the keyboard's q ---

    def stop(self, reason: str = "asked to stop", exit_code: int = 0) -> None:
        if not self._stop.is_set():
            log.info("stopping: %s", reason)
            self.exit_code = exit_code
            self._stop.set()

    def restart(self, reason: str) -> None:
        self.stop(f"restarting: {reason}", EXIT_RESTART)

    def apply_config(self, config: Config) -> None:
        """Use ``config`` everywhere from now on (the engine from its next turn).

        If the engine failed to start, a new config may be the fix (another
        ``language``, say): the daemon restarts to try again with it.
        """
        self.config = config
        if self._engine_failed:
            self.restart("the config changed after the engine failed to start")
        if self.engine is not None:
            self.engine.apply_config(config)
        if self.controller is not None:
            self.controller.apply_config(config)
        if self.status_led is not None:
            self.status_led.brightness = config.led.brightness

    def _log_event(self, event: Event) -> None:
        """States and timings always; a student's words only if the teacher turned that on."""
        if isinstance(event, StateChanged):
            level = logging.ERROR if event.state is State.ERROR else logging.INFO
            log.log(level, "state: %s", _describe(event))
            return
        timings = ", ".join(f"{key} {value:.0f} ms" for key, value in event.timings_ms.items())
        log.info("turn%s: %s", " (cancelled)" if event.cancelled else "", timings)
        if self.config.privacy.log_transcripts:
            log.info("heard: %s | said: %s", event.transcript, event.reply)

    def reload_config(self) -> None:
        try:
            self.apply_config(load_config(self.config_path))
            log.info("config reloaded")
        except Exception as error:
            log.error("config not reloaded, keeping the previous one: %s", error)

    def reload(self) -> None:
        """SIGHUP (``systemctl reload parlo``): new config now; new models by a restart."""
        self.reload_config()
        self._restart_if_models_changed()

    def engine_age(self) -> float:
        """Seconds since the engine's worker loop last went round (0 if it does not say)."""
        beat = getattr(self.engine, "heartbeat", None)
        return time.monotonic() - beat if isinstance(beat, int | float) else 0.0

    # --- the run ---

    def run(self) -> int:
        try:
            self._start()
            self._wait_until_ready()
            if not self._stop.is_set():
                state = self.events.last_state
                self.notifier.ready(_describe(state))
                log.info("ready: %s", _describe(state))
            self._main_loop()
        finally:
            self._shut_down()
        return self.exit_code

    def _start(self) -> None:
        reporter = StatusReporter(self.notifier, self.events)
        self._closers.insert(0, reporter.close)
        self._closers.insert(0, self.events.subscribe(self._log_event))
        # Subscribed after the reporter, so systemd hears the state before READY=1.
        self._closers.insert(0, self.events.subscribe(self._notice_readiness))
        if self.led is not None:
            brightness = self.config.led.brightness
            self.status_led = StatusLed(self.led, self.events, brightness=brightness)
        try:
            self.engine = self.engine_factory(self.config, self.engine_events)
        except CannotStart as error:
            log.error("%s", error)
            self.status.fault("engine", error.shown)
            self._engine_failed = True
        except Exception as error:
            if isinstance(error, ConfigError):  # e.g. a language the models lack: no traceback
                log.error("the engine could not be started: %s", error)
            else:
                log.exception("the engine could not be started")
            self.status.fault("engine", f"the engine failed to start: {error}")
            self._engine_failed = True
        if self.engine is not None:
            if callable(getattr(self.engine, "start", None)):
                self.engine.start()
            if self.button is not None:
                self.controller = Controller(
                    self.button, self.engine, self.events, self.config, mode=self.button_mode
                )
        if self.web_factory is not None:
            try:
                self.web = self.web_factory(self)
                self.web.start()
            except Exception as error:
                log.error("the web page could not be started: %s", error)
                self.web = None

    def _notice_readiness(self, event: Event) -> None:
        if isinstance(event, StateChanged) and event.state is not State.BOOTING:
            self._ready.set()

    def _wait_until_ready(self) -> None:
        """Until the engine has loaded and warmed its models (it leaves BOOTING), or failed.

        Every way of starting publishes a state (the engine's idle, or an error), and
        systemd's watchdog starts only with READY=1; TimeoutStartSec= bounds the loading."""
        while not self._ready.is_set() and not self._stop.wait(self.tick):
            pass

    def _main_loop(self) -> None:
        since_model_check = 0.0
        while not self._stop.wait(self.tick):
            age = self.engine_age()
            if age < self.engine_stall_limit:
                self.watchdog.kick()
            elif self.watchdog.enabled:
                log.error("the engine has not gone round its loop for %.0f s: it hangs", age)
            self._reload_if_config_changed()
            self._follow_model_updates()
            since_model_check += self.tick
            if since_model_check >= MODEL_CHECK_SECONDS:
                since_model_check = 0.0
                self._restart_if_models_changed()

    def _follow_model_updates(self) -> None:
        """Show a USB update in progress on the LED, and say how it ended."""
        if self.update_store is None:
            return
        status = updates.read_status(self.update_store)
        if status is None or status.at <= self._update_seen:
            return
        if status.running:
            self.status.updating("installing models from USB")
            return
        self._update_seen = status.at
        if status.state == "updating":  # the import died part-way; the store is whole
            status = dataclasses.replace(status, message="Update failed. The old models stay.")
        log.info("model update: %s", status.message)
        if self.engine is not None:
            try:
                self.engine.say(status.message).result(timeout=30)
            except Exception:
                log.exception("could not say the update's outcome")
        self.status.updated("model update over")

    def _restart_if_models_changed(self) -> None:
        try:
            changed = self.models_changed is not None and self.models_changed()
        except Exception:
            log.exception("could not check the installed models")
            return
        if changed:
            self.restart("a different model set is installed now")

    def _reload_if_config_changed(self) -> None:
        mtime = _mtime(self.config_path)
        if mtime != self._config_mtime:
            self._config_mtime = mtime
            self.reload_config()

    def _shut_down(self) -> None:
        self.notifier.stopping()
        if self.controller is not None:
            _quietly(self.controller.close)
        if self.engine is not None:
            _quietly(self.engine.cancel)  # ends the current turn: playback stops at once
            if callable(getattr(self.engine, "close", None)):
                _quietly(self.engine.close)
        if self.web is not None:
            _quietly(self.web.stop)
        if self.status_led is not None:
            _quietly(self.status_led.close)
        for device in (self.led, self.button):
            if device is not None and callable(getattr(device, "close", None)):
                _quietly(device.close)
        for close in self._closers:
            _quietly(close)


def _quietly(action: Callable[[], Any]) -> None:
    try:
        action()
    except Exception:
        log.exception("while shutting down")


def _describe(event: StateChanged) -> str:
    return event.state.value + (f": {event.detail}" if event.detail else "")


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None


# --- the real parts ------------------------------------------------------------------------------


def engine_factory_for(backend: Any) -> EngineFactory:
    """The lead's engine (``appliance.app.wiring.build_engine``) on a supervised sound backend."""

    def build(config: Config, events: EventStream) -> Any:
        from appliance.app.wiring import NoModelsError, build_engine

        try:
            return build_engine(config, backend, events=events)
        except NoModelsError as error:
            shown = "no models installed: import them on the web page"
            raise CannotStart(str(error), shown) from None

    return build


class CannotStart(RuntimeError):
    """The engine cannot be built here; ``shown`` says why, for the LED's page and systemd."""

    def __init__(self, message: str, shown: str) -> None:
        super().__init__(message)
        self.shown = shown


def fake_engine_factory(config: Config, events: EventStream) -> Any:
    from appliance.app.fake_engine import FakeEngine

    return FakeEngine(events, think_seconds=0.8, speak_seconds=1.5, vad_end_seconds=3.0)


def web_page_for(daemon: Daemon, audio: Any) -> Any:
    """The web engineer's ``WebServer``, wired to this daemon's parts."""
    from appliance.web.context import WebContext
    from appliance.web.server import WebServer

    engine = daemon.engine

    def health() -> dict[str, Any]:
        return {
            "microphone": _device_name(audio, "input", daemon.config.audio.input_device),
            "speaker": _device_name(audio, "output", daemon.config.audio.output_device),
            "state": _describe(daemon.events.last_state),
            "engine loop": f"{daemon.engine_age():.0f} s ago"
            if engine is not None
            else "no engine",
            "watchdog": "on" if daemon.watchdog.enabled else "off (not under systemd)",
        }

    return WebServer(
        WebContext(
            events=daemon.events,
            config_path=daemon.config_path or _config_path(),
            say=engine.say if engine is not None else None,
            reset_conversation=engine.reset if engine is not None else None,
            list_sound_devices=lambda: _device_names(audio),
            health=health,
            models_changed=lambda: daemon.restart("the models changed"),
        )
    )


def _device_names(audio: Any) -> list[str]:
    if audio is None:
        return []
    backend = getattr(audio, "backend", audio)
    return [device["name"] for device in backend.query_devices()]


def _device_name(audio: Any, kind: str, wanted: str) -> str:
    """The device that ``wanted`` picks now, or "" if there is none (no restarting PortAudio)."""
    if audio is None:
        return ""
    backend = getattr(audio, "backend", audio)
    try:
        devices = list(backend.query_devices())
    except Exception:
        return ""
    channels = f"max_{kind}_channels"
    for device in devices:
        if device.get(channels, 0) > 0 and wanted.lower() in device["name"].lower():
            return device["name"]
    return ""


def _config_path() -> Path:
    from appliance.core.paths import config_path

    return config_path()


def build_daemon(
    config: Config,
    backend: Any,
    *,
    interactive: bool = False,
    fake_engine: bool = False,
    events: EventStream | None = None,
) -> Daemon:
    """The daemon with real hardware, the given sound backend and the web page.

    ``backend`` is the ``sounddevice`` module (or ``FileDevices``); None means
    PortAudio is missing, and only ``fake_engine`` can run then.
    """
    from appliance.audio.supervised import SupervisedAudio

    status = Status(events or EventStream())
    holder: list[Daemon] = []
    button, button_backend = make_button(
        config.button, interactive=interactive, on_quit=lambda: holder[0].stop("q pressed")
    )
    led, led_backend = make_led(config.led)
    log.info("button: %s; LED: %s", button_backend, led_backend)
    config_path = _config_path()
    audio = None
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

    def web_page(daemon: Daemon) -> Any:
        return web_page_for(daemon, audio)

    web_factory: Callable[[Daemon], Any] | None = None
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
        button_mode="tap" if button_backend == "keyboard" else None,
        led=led,
        web_factory=web_factory,
        models_changed=models.changed if models is not None else None,
        config_path=config_path,
        update_store=_store_root() if models is not None else None,
        closers=closers,
    )
    holder.append(daemon)
    return daemon


def _no_sound_system(config: Config, events: EventStream) -> None:
    shown = "no sound system: install libportaudio2"
    raise CannotStart(shown, shown)


class ModelWatch:
    """Notices when the installed model set is no longer the one the engine loaded."""

    def __init__(self) -> None:
        self.loaded: str | None = None

    @staticmethod
    def current() -> str | None:
        from appliance.core.paths import model_store_root
        from appliance.models.store import ModelStore

        model_set = ModelStore(model_store_root()).current()
        return str(model_set.path) if model_set is not None else None

    def loading(self, factory: EngineFactory) -> EngineFactory:
        """``factory``, noting which set it loads."""

        def build(config: Config, events: EventStream) -> Any:
            self.loaded = self.current()
            return factory(config, events)

        return build

    def changed(self) -> bool:
        try:
            return self.current() != self.loaded
        except Exception as error:  # a store being rewritten right now: look again later
            log.debug("could not read the model store: %s", error)
            return False


def _store_root() -> Path:
    from appliance.core.paths import model_store_root

    return model_store_root()


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
    from appliance.system.journal import setup_logging

    setup_logging(verbose)
    config = load_config()
    try:
        import sounddevice as backend
    except OSError as error:  # PortAudio itself is missing
        log.error("no sound system: %s", error)
        backend = None
    daemon = build_daemon(config, backend, interactive=interactive, fake_engine=fake_engine)
    _install_signal_handlers(daemon)
    return daemon.run()


def run_assistant(config: Config, backend: Any, *, interactive: bool = True) -> int:
    """``parlo run``: the same appliance in a terminal, with the keyboard as a button too."""
    daemon = build_daemon(config, backend, interactive=interactive)
    _install_signal_handlers(daemon)
    if interactive and sys.stdin.isatty():
        print("Space or Enter: talk, then again to stop (or just pause). q: quit.", file=sys.stderr)
    return daemon.run()
