"""``parlo daemon``: the whole appliance in one process, as systemd runs it.

The daemon only *composes*; every part does its own job::

    button ─▶ Controller ─▶ Engine ◀─ Microphone, Speaker ◀─ SupervisedAudio ◀─ sounddevice
                              │                                     │ faults
                              └─ engine events ─▶ Status ◀──────────┘
                                                    └─ shown ─▶ LED, systemd, journal, page

In order, it:

1. reads the config and opens the event stream, the status LED (blinking:
   booting) and the systemd notifier;
2. builds the engine with its ``engine_factory`` (the wiring's is
   :func:`appliance.app.wiring.build_engine` on a
   :class:`~appliance.audio.supervised.SupervisedAudio` backend, so an
   unplugged microphone is noticed and recovered from; loading and warming the
   models is the slow part);
3. connects the button through the gesture controller and starts the web page.
   A button that is missing is looked for again every few seconds; meanwhile
   the LED shows the fault and the page works;
4. tells systemd ``READY=1`` once the engine is ready (or has failed: the box
   still runs, shows the error, and serves the page to fix it; a changed config
   then restarts it);
5. runs the main loop, pinging the systemd watchdog while the engine's worker
   loop is alive (its ``heartbeat`` timestamp is recent) and noticing config
   changes (each change is applied once: a change the daemon saved itself, by a
   double tap, is not applied again when the file watcher sees it);
6. on SIGTERM or SIGINT ends the current turn and exits 0; on SIGHUP re-reads
   the config now.

With no models installed it shows the error state and serves the web page (to
import models). Whenever the installed model set changes (the page, a USB stick,
``parlo models``), it exits with status 75, which the unit turns into a restart
that loads the new set.

The daemon is the box as a whole, so it also carries out the gestures that
concern all of it (:class:`~appliance.app.controller.BoxActions`): the next
activity on a double tap (kept in the config file, announced with its opening
line), and the page's address on a very long hold. The wiring, which builds the
real parts, is :mod:`appliance.app.wiring`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from appliance.app.controller import Controller
from appliance.app.status import Status
from appliance.core.config import Config, ConfigError, load_config, save_config
from appliance.core.events import Event, EventStream, State, StateChanged
from appliance.core.presence import PresenceGate
from appliance.engine.controls import EngineControls
from appliance.hardware.buttons import ButtonLike
from appliance.hardware.leds import LedDevice, StatusLed
from appliance.lessons.activities import activity_for, next_activity
from appliance.lessons.language import box_lines
from appliance.models import updates
from appliance.system.network import address_announcement
from appliance.system.notify import Notifier, StatusReporter, Watchdog

log = logging.getLogger(__name__)

# Exit status asking systemd for a fresh start (the unit has RestartForceExitStatus=75).
EXIT_RESTART = 75
# The engine's worker beats at least once a second: when idle, per token while answering,
# and while a reply is being spoken. Only one transcription or one sentence's synthesis
# (a few seconds at most on a slow board) runs without a beat.
ENGINE_STALL_LIMIT = 15.0
MODEL_CHECK_SECONDS = 5.0
# How often a button that was missing at start is looked for again.
BUTTON_RETRY_SECONDS = 5.0

EngineFactory = Callable[[Config, EventStream], EngineControls]


class Service(Protocol):
    """A part that runs beside the engine, such as the web page."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class CannotStart(RuntimeError):
    """The engine cannot be built here; ``shown`` says why, for the LED's page and systemd."""

    def __init__(self, message: str, shown: str) -> None:
        super().__init__(message)
        self.shown = shown


class Daemon:
    """Runs the appliance until :meth:`stop`. Every part is passed in, so tests can fake any.

    ``engine_factory(config, engine_events)`` builds the engine on its own event
    stream, which ``status`` follows; it raises :class:`CannotStart` (or anything
    else) when it cannot, and the daemon shows why. ``events`` is the shown stream,
    the one ``status`` publishes on and the LED, systemd, the log and the page
    follow. ``web_factory(daemon)`` returns the page's :class:`Service`.
    ``button`` is the button found at start; if it is None, ``find_button`` (when
    given) is tried at start and then every :data:`BUTTON_RETRY_SECONDS`, with the
    fault shown meanwhile. ``closers`` are called last, at shutdown.
    """

    def __init__(
        self,
        config: Config,
        engine_factory: EngineFactory,
        *,
        events: EventStream | None = None,
        status: Status | None = None,
        button: ButtonLike | None = None,
        find_button: Callable[[], ButtonLike] | None = None,
        button_mode: str | None = None,
        led: LedDevice | None = None,
        notifier: Notifier | None = None,
        watchdog: Watchdog | None = None,
        web_factory: Callable[[Daemon], Service] | None = None,
        power: Callable[[str], None] | None = None,
        follow_config: list[Callable[[Config], None]] | None = None,
        presence: PresenceGate | None = None,
        first_boot_pin: Callable[[], str | None] | None = None,
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
        self.find_button = find_button
        self.button_mode = button_mode
        self.led = led
        self.notifier = notifier or Notifier()
        self.watchdog = watchdog or Watchdog.from_environment(self.notifier)
        self.web_factory = web_factory
        # Asks systemd to "poweroff" or "reboot" (appliance.system.power.Power); None: can't.
        self.power = power
        # Other parts that follow config changes (the supervised sound system's microphone).
        self.follow_config = list(follow_config or [])
        # What waits for someone at the box (a stick's PIN reset, an unsigned pack), and
        # the first boot's PIN, said once on the first long hold.
        self.presence = presence
        self.first_boot_pin = first_boot_pin
        self._announced: set[str] = set()  # presence requests already said aloud
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
        self.engine: EngineControls | None = None
        self.controller: Controller | None = None
        self.status_led: StatusLed | None = None
        self.web: Service | None = None
        self.exit_code = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._closers = list(closers or [])
        self._config_mtime = _mtime(config_path)
        self._engine_failed = False
        self._since_button_search = 0.0

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
        previous, self.config = self.config, config
        if self._engine_failed:
            self.restart("the config changed after the engine failed to start")
        if self.engine is not None:
            self.engine.apply_config(config)
            if _scene(config) != _scene(previous):
                self._announce_activity(config)
        if self.controller is not None:
            self.controller.apply_config(config)
        if self.status_led is not None:
            self.status_led.brightness = config.led.brightness
        for follow in self.follow_config:
            follow(config)

    # --- what gestures ask of the whole box (BoxActions) ---

    def next_activity(self) -> None:
        """A double tap: the next activity, kept in the config file and announced."""
        try:
            config = load_config(self.config_path)  # the newest: the page may have changed it
        except Exception:
            log.exception("could not read the config; cycling from the one in memory")
            config = self.config
        config = next_activity(config)
        log.info("double tap: activity is now %s", config.activity.name)
        self.change_config(config)

    def say_address(self) -> None:
        """A very long hold: where the page is (never the PIN)."""
        self._say(address_announcement(self.config))

    def confirm_at_box(self) -> bool:
        """A silent long hold: let what waits for someone at the box go ahead, and say
        what it was. The first such hold after the first boot also says the new PIN."""
        lines = box_lines(self.config.language)
        said = False
        if self.first_boot_pin is not None:
            pin, self.first_boot_pin = self.first_boot_pin(), None
            if pin:
                self._say(lines.first_pin.format(digits=" ".join(pin)))
                said = True
        if self.presence is None:
            return said
        try:
            confirmed = self.presence.confirm()  # also records the hold (the login throttle)
        except Exception:
            log.exception("could not confirm what waits at the box")
            return said
        for request in confirmed:
            self._say(lines.allowed.format(what=request.summary))
        return said or bool(confirmed)

    def _say(self, text: str) -> None:
        if self.engine is not None:
            self.engine.say(text)

    def _announce_presence_requests(self) -> None:
        """Say each request that waits for a hold at the box, once."""
        if self.presence is None:
            return
        try:
            pending = self.presence.pending()
        except Exception as error:
            log.debug("could not read the presence requests: %s", error)
            return
        for request in pending:
            if request.id not in self._announced:
                self._announced.add(request.id)
                log.warning("waiting for a hold at the box: %s", request.summary)
                self._say(request.spoken)

    def ask_to_shut_down(self) -> None:
        """A 30 s hold: say that a second hold switches the box off."""
        self._say(box_lines(self.config.language).shutdown_ask)

    def shut_down(self) -> None:
        """A second hold after the 30 s one: switch off (on a thread: saying it takes time)."""
        threading.Thread(target=self.power_action, args=("poweroff",), daemon=True).start()

    def power_action(self, action: str) -> None:
        """Say "Shutting down" (or "Restarting") and ask systemd to ``action`` ("poweroff"
        or "reboot"). The page's buttons and the button's shutdown hold come here."""
        if action not in ("poweroff", "reboot"):
            raise ValueError(f"expected poweroff or reboot, got {action!r}")
        lines = box_lines(self.config.language)
        line = lines.shutting_down if action == "poweroff" else lines.restarting
        log.warning("%s, as asked at the box or on the page", action)
        if self.engine is not None:
            try:
                self.engine.say(line).result(timeout=15)
            except Exception:
                log.exception("could not say %r", line)
        if self.power is None:
            log.error("cannot %s here: no way to ask systemd", action)
            return
        try:
            self.power(action)
        except Exception as error:
            log.error("could not %s: %s", action, error)
            self.status.fault("power", f"could not {action}: {error}")

    def change_config(self, config: Config) -> None:
        """Keep ``config`` in the config file and use it now: applied once, not again
        when the file watcher sees the file change."""
        if self.config_path is not None:
            try:
                save_config(config, self.config_path)
                self._config_mtime = _mtime(self.config_path)
            except OSError:
                log.exception("could not save the config; the change lasts until a restart")
        self.apply_config(config)

    def _announce_activity(self, config: Config) -> None:
        """After a switch (a double tap, the page): the activity's name and its opening
        line, which sets the scene."""
        activity = activity_for(config)
        name = activity.spoken_name.strip().rstrip(".")
        self._say(" ".join(part for part in (f"{name}." if name else "", activity.opening) if part))

    def _log_event(self, event: Event) -> None:
        """States and timings always; a student's words only if the teacher turned that on."""
        if isinstance(event, StateChanged):
            level = logging.ERROR if event.state is State.ERROR else logging.INFO
            log.log(level, "state: %s", describe_state(event))
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
        """Seconds since the engine's worker loop last went round (0 with no engine)."""
        return time.monotonic() - self.engine.heartbeat if self.engine is not None else 0.0

    # --- the run ---

    def run(self) -> int:
        try:
            self._start()
            self._wait_until_ready()
            if not self._stop.is_set():
                state = self.events.last_state
                self.notifier.ready(describe_state(state))
                log.info("ready: %s", describe_state(state))
            self._main_loop()
        finally:
            self._shut_down()
        return self.exit_code

    def _start(self) -> None:
        reporter = StatusReporter(self.notifier, self.events)
        self._closers.insert(0, reporter.close)
        self._closers.insert(0, self.events.subscribe(self._log_event))
        # READY=1 follows the engine's own states, not the shown ones: a fault shown before
        # the start (no sound card at boot) hides the engine's idle, which would never come.
        # Status follows the engine from __init__ on, so systemd hears the state first.
        self._closers.insert(0, self.engine_events.subscribe(self._notice_readiness))
        if self.led is not None:
            brightness = self.config.led.brightness
            self.status_led = StatusLed(self.led, self.events, brightness=brightness)
        try:
            self.engine = self.engine_factory(self.config, self.engine_events)
        except CannotStart as error:
            log.error("%s", error)
            # Failed before the fault is shown: a config applied as soon as the page shows
            # it (the fix, another language) must find the failure to restart on.
            self._engine_failed = True
            self.status.fault("engine", error.shown)
            self._ready.set()
        except Exception as error:
            if isinstance(error, ConfigError):  # e.g. a language the models lack: no traceback
                log.error("the engine could not be started: %s", error)
            else:
                log.exception("the engine could not be started")
            self._engine_failed = True
            self.status.fault("engine", f"the engine failed to start: {error}")
            self._ready.set()
        if self.button is None:
            self._find_button()
        else:
            self._connect_button()
        if self.web_factory is not None:
            try:
                self.web = self.web_factory(self)
                self.web.start()
            except Exception as error:
                log.error("the web page could not be started: %s", error)
                self.web = None

    def _find_button(self) -> None:
        """Look for the configured button; while it is missing, show the fault."""
        if self.find_button is None:
            return
        try:
            self.button = self.find_button()
        except Exception as error:
            if "button" not in self.status.faults:
                log.error("the button is missing (looking again every %.0f s): %s",
                          BUTTON_RETRY_SECONDS, error)  # fmt: skip
            self.status.fault("button", f"button not found: {error}")
            return
        self._connect_button()
        self.status.clear("button", "the button is connected")

    def _connect_button(self) -> None:
        if self.engine is not None and self.button is not None:
            self.controller = Controller(
                self.button, self.engine, self.events, self.config, self, mode=self.button_mode
            )

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
            self._announce_presence_requests()
            if self.button is None and self.find_button is not None:
                self._since_button_search += self.tick
                if self._since_button_search >= BUTTON_RETRY_SECONDS:
                    self._since_button_search = 0.0
                    self._find_button()
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
            _quietly(self.engine.close)
        if self.web is not None:
            _quietly(self.web.stop)
        if self.status_led is not None:
            _quietly(self.status_led.close)
        if self.led is not None:
            _quietly(self.led.close)
        if self.button is not None:
            _quietly(self.button.close)
        for close in self._closers:
            _quietly(close)


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:
        log.exception("while shutting down")


def _scene(config: Config) -> tuple[str, str, str]:
    """What, when changed, the box announces: the activity, its character and setting."""
    activity = config.activity
    return activity.name, activity.character, activity.setting


def describe_state(event: StateChanged) -> str:
    """A state as the log and systemd show it: "error: microphone is not connected"."""
    return event.state.value + (f": {event.detail}" if event.detail else "")


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None
