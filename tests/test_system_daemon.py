"""The daemon under a (pretend) systemd: READY=1 after loading, STATUS= on every state change,
WATCHDOG=1 on schedule only while the engine's loop runs, and a clean exit 0 on SIGTERM."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gpiozero import Button, Device
from gpiozero.pins.mock import MockFactory, MockPWMPin
from waiting import wait_until

from appliance.app.daemon import EXIT_RESTART, Daemon
from appliance.app.fake_engine import FakeEngine
from appliance.app.wiring import build_daemon
from appliance.core.config import ButtonSettings, Config, load_config, save_config
from appliance.core.events import EventStream, State
from appliance.core.presence import UNSIGNED_PACK, PresenceGate
from appliance.hardware.buttons import NoButtonError
from appliance.lessons.activities import activity_for
from appliance.system.notify import Notifier, Watchdog
from appliance.system.power import Power, PowerError

REPO = Path(__file__).resolve().parents[1]
WATCHDOG_SECONDS = 0.4  # pings due every 0.2 s
STALL_LIMIT = 0.5


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET: a real AF_UNIX datagram socket, read on a thread."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.messages: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.1)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closing.is_set():
            try:
                self.messages.append(self._sock.recv(4096).decode())
            except TimeoutError:
                continue

    def lines(self) -> list[str]:
        return [line for message in list(self.messages) for line in message.splitlines()]

    def count(self, line: str) -> int:
        return self.lines().count(line)

    def close(self) -> None:
        self._closing.set()
        self._thread.join()
        self._sock.close()


@pytest.fixture
def systemd(tmp_path):
    fake = FakeSystemd(tmp_path / "notify")
    yield fake
    fake.close()


@pytest.fixture
def mock_gpio():
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    yield
    Device.pin_factory.reset()
    Device.pin_factory = None


@pytest.fixture
def start_daemon():
    """Runs a daemon on a thread; whatever happens in the test, it is stopped afterwards."""
    running: list[tuple[Daemon, threading.Thread]] = []

    def start(daemon: Daemon) -> threading.Thread:
        thread = threading.Thread(
            target=lambda: setattr(daemon, "result", daemon.run()), daemon=True
        )
        thread.start()
        running.append((daemon, thread))
        return thread

    yield start
    for daemon, thread in running:
        daemon.stop("test over")
        thread.join(10)


def test_ready_status_and_watchdog_follow_the_engine(systemd, mock_gpio, tmp_path, start_daemon):
    notifier = Notifier(systemd.path, use_library=False)
    engines: list[FakeEngine] = []

    def engine_factory(config: Config, events: EventStream) -> FakeEngine:
        engines.append(FakeEngine(events, load_seconds=0.3, think_seconds=0.05))
        return engines[-1]

    button = Button("GPIO17", bounce_time=None)
    daemon = Daemon(
        dataclasses.replace(Config(), button=ButtonSettings(bounce_time=0.0)),
        engine_factory,
        button=button,
        notifier=notifier,
        watchdog=Watchdog(notifier, WATCHDOG_SECONDS),
        engine_stall_limit=STALL_LIMIT,
    )
    thread = start_daemon(daemon)

    # READY=1 only once the engine has loaded: after its "idle: ready", never before.
    wait_until(lambda: "READY=1" in systemd.lines())
    lines = systemd.lines()
    assert lines.index("STATUS=booting: loading (fake) models") < lines.index("STATUS=idle: ready")
    assert lines.index("STATUS=idle: ready") < lines.index("READY=1")
    assert "WATCHDOG=1" not in lines[: lines.index("STATUS=idle: ready")]

    # STATUS= on each state change, driven through the real button and controller.
    pin = Device.pin_factory.pin("GPIO17")
    pin.drive_low()
    wait_until(lambda: "STATUS=listening" in systemd.lines())
    pin.drive_high()
    wait_until(lambda: systemd.lines().count("STATUS=idle") >= 1)
    assert "STATUS=thinking" in systemd.lines() and "STATUS=speaking" in systemd.lines()

    # WATCHDOG=1 keeps coming while the engine's loop goes round...
    pings = systemd.count("WATCHDOG=1")
    wait_until(lambda: systemd.count("WATCHDOG=1") >= pings + 3)

    # ...and stops when it hangs, although the daemon's own loop is still running.
    engines[0].stall()
    time.sleep(STALL_LIMIT + WATCHDOG_SECONDS)
    pings = systemd.count("WATCHDOG=1")
    time.sleep(3 * WATCHDOG_SECONDS)
    assert systemd.count("WATCHDOG=1") == pings
    assert thread.is_alive()

    engines[0].resume()
    wait_until(lambda: systemd.count("WATCHDOG=1") > pings)

    daemon.stop("test over")
    thread.join(10)
    assert not thread.is_alive()
    assert daemon.result == 0
    assert systemd.lines()[-1] == "STOPPING=1" or "STOPPING=1" in systemd.lines()
    assert engines[0].names(skip_earcons=True)[-1] == "cancel"  # the turn was ended


def test_a_stalled_main_loop_stops_the_pings_too(systemd, start_daemon):
    notifier = Notifier(systemd.path, use_library=False)
    daemon = Daemon(
        Config(),
        lambda config, events: FakeEngine(events),
        notifier=notifier,
        watchdog=Watchdog(notifier, WATCHDOG_SECONDS),
    )
    hang, unhang = threading.Event(), threading.Event()
    check_config = daemon._reload_if_config_changed

    def check_config_or_hang() -> None:  # runs on the main loop, every tick
        if hang.is_set():
            unhang.wait(10)
        check_config()

    daemon._reload_if_config_changed = check_config_or_hang  # type: ignore[method-assign]
    thread = start_daemon(daemon)
    wait_until(lambda: systemd.count("WATCHDOG=1") >= 2)
    hang.set()
    time.sleep(WATCHDOG_SECONDS)
    pings = systemd.count("WATCHDOG=1")
    time.sleep(3 * WATCHDOG_SECONDS)
    assert systemd.count("WATCHDOG=1") == pings
    unhang.set()
    wait_until(lambda: systemd.count("WATCHDOG=1") > pings)
    daemon.stop()
    thread.join(10)


def test_without_models_it_still_starts_shows_the_error_and_restarts_for_new_ones(
    systemd, start_daemon, monkeypatch
):
    monkeypatch.setattr("appliance.app.daemon.MODEL_CHECK_SECONDS", 0.2)
    notifier = Notifier(systemd.path, use_library=False)
    installed = threading.Event()

    def no_models(config: Config, events: EventStream) -> None:
        events.state(State.ERROR, "no models installed: import them on the web page")
        return None

    daemon = Daemon(
        Config(),
        no_models,
        notifier=notifier,
        models_changed=installed.is_set,
        tick=0.1,
    )
    thread = start_daemon(daemon)
    wait_until(lambda: "READY=1" in systemd.lines())
    assert "STATUS=error: no models installed: import them on the web page" in systemd.lines()
    installed.set()
    thread.join(30)
    assert daemon.result == EXIT_RESTART


def test_config_changes_on_disk_reach_the_engine_and_controller(tmp_path, mock_gpio, start_daemon):
    path = tmp_path / "config.toml"
    save_config(Config(), path)
    os.utime(path, (1, 1))  # long ago: the next save surely changes the mtime
    engines: list[FakeEngine] = []
    daemon = Daemon(
        Config(),
        lambda config, events: engines.append(FakeEngine(events)) or engines[-1],
        button=Button("GPIO17"),
        notifier=Notifier("", use_library=False),
        config_path=path,
        tick=0.05,
    )
    thread = start_daemon(daemon)
    wait_until(lambda: daemon.controller is not None)
    save_config(Config().with_changes({"button.mode": "tap", "activity.level": "A2"}), path)
    wait_until(lambda: engines[0].calls_named("apply_config"))
    assert [c.args[0].activity.level for c in engines[0].calls_named("apply_config")] == ["A2"]
    wait_until(lambda: daemon.controller.mode == "tap")  # applied right after the engine
    daemon.stop()
    thread.join(10)


def test_web_page_gets_the_running_parts(systemd, start_daemon):
    built: list[Daemon] = []

    class FakeWeb:
        def __init__(self, daemon: Daemon) -> None:
            built.append(daemon)
            self.running = False

        def start(self) -> None:
            self.running = True

        def stop(self) -> None:
            self.running = False

    daemon = Daemon(
        Config(),
        lambda config, events: FakeEngine(events),
        notifier=Notifier(systemd.path, use_library=False),
        web_factory=FakeWeb,
    )
    thread = start_daemon(daemon)
    wait_until(lambda: "READY=1" in systemd.lines())
    assert built == [daemon] and daemon.engine is not None and daemon.web.running
    daemon.stop()
    thread.join(10)
    assert not daemon.web.running


@pytest.mark.skipif(sys.platform != "linux", reason="AF_UNIX notify sockets are Linux's")
def test_parlo_daemon_process_reports_ready_and_exits_0_on_sigterm(systemd, tmp_path):
    """The real command, as systemd starts it: a separate process, signals and all."""
    config = tmp_path / "config.toml"
    config.write_text('[web]\nenabled = false\n\n[led]\nbackend = "none"\n')
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PARLO_HOME": str(tmp_path / "home"),
        "PARLO_CONFIG": str(config),
        "NOTIFY_SOCKET": systemd.path,
        "WATCHDOG_USEC": "1000000",
        "GPIOZERO_PIN_FACTORY": "mock",
    }
    environment.pop("JOURNAL_STREAM", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance", "daemon", "--fake-engine"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: "READY=1" in systemd.lines() or process.poll() is not None, 60)
        assert process.poll() is None, process.stdout.read()
        # WATCHDOG_PID is unset, so the watchdog is for this process: pings arrive.
        wait_until(lambda: systemd.count("WATCHDOG=1") >= 2)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "STOPPING=1" in systemd.lines()
    assert "stopping: SIGTERM" in output


def start_update_watching_daemon(store: Path, start_daemon) -> tuple[Daemon, list[FakeEngine]]:
    engines: list[FakeEngine] = []
    daemon = Daemon(
        Config(),
        lambda config, events: engines.append(FakeEngine(events)) or engines[-1],
        notifier=Notifier("", use_library=False),
        update_store=store,
        tick=0.05,
    )
    start_daemon(daemon)
    wait_until(lambda: engines and daemon.events.last_state.state is State.IDLE)
    return daemon, engines


def test_a_usb_update_shows_on_the_led_and_its_outcome_is_said(tmp_path, start_daemon):
    from appliance.models import updates

    daemon, engines = start_update_watching_daemon(tmp_path, start_daemon)
    updates.report(tmp_path, "updating")  # by this (living) process: an import under way
    wait_until(lambda: daemon.events.last_state.state is State.UPDATING)
    refusal = updates.spoken_refusal(
        "stt file ggml-tiny.en-q8_0.bin is damaged or not the expected file: sha256 is 00ff..."
    )
    updates.report(tmp_path, "refused", refusal)
    wait_until(lambda: engines[0].calls_named("say"))
    assert [c.args[0] for c in engines[0].calls_named("say")] == [
        "Update refused: speech model file is damaged or not the expected file."
    ]
    wait_until(lambda: daemon.events.last_state.state is State.IDLE)
    daemon.stop()


def test_an_old_update_outcome_is_not_said_again_after_a_restart(tmp_path, start_daemon):
    from appliance.models import updates

    updates.report(tmp_path, "installed", "New models installed: tiny-en 1.1.0.")
    daemon, engines = start_update_watching_daemon(tmp_path, start_daemon)
    time.sleep(0.3)  # several ticks of the main loop
    assert not engines[0].calls_named("say")
    daemon.stop()


# --- what gestures ask of the whole box ----------------------------------------------------------


@pytest.fixture
def running_daemon(start_daemon):
    """``running_daemon(**parts) -> (daemon, engine)``: a daemon on a FakeEngine, started
    and ready, with a quick tick and no systemd."""

    def run(**parts) -> tuple[Daemon, FakeEngine]:
        engines: list[FakeEngine] = []

        def build(config: Config, events: EventStream) -> FakeEngine:
            engines.append(FakeEngine(events))
            return engines[-1]

        parts.setdefault("notifier", Notifier("", use_library=False))
        parts.setdefault("tick", 0.05)
        daemon = Daemon(parts.pop("config", Config()), build, **parts)
        start_daemon(daemon)
        wait_until(lambda: daemon.engine is not None)
        return daemon, engines[0]

    return run


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    save_config(Config(), path)
    os.utime(path, (1, 1))  # long ago: the next save surely changes the mtime
    return path


def _said(engine: FakeEngine) -> list[str]:
    return [call.args[0] for call in engine.calls_named("say")]


def test_the_next_activity_is_kept_announced_with_its_opening_and_applied_once(
    tmp_path, running_daemon
):
    path = _config_file(tmp_path)
    daemon, engine = running_daemon(config_path=path)

    daemon.next_activity()  # what a double tap asks for
    assert load_config(path).activity.name == "roleplay"
    wait_until(lambda: _said(engine))
    opening = activity_for(load_config(path)).opening
    assert _said(engine) == [f"Role play. {opening}"] and "?" in opening
    time.sleep(0.4)  # several ticks of the file watcher, which sees the daemon's own save
    applied = [call.args[0].activity.name for call in engine.calls_named("apply_config")]
    assert applied == ["roleplay"], "a change the daemon saved itself was applied twice"

    daemon.next_activity()
    assert load_config(path).activity.name == "improv"
    wait_until(lambda: len(_said(engine)) == 2)
    assert _said(engine)[1].startswith("Improv. ")


def test_a_switch_on_the_page_is_announced_but_a_new_level_is_not(tmp_path, running_daemon):
    path = _config_file(tmp_path)
    _, engine = running_daemon(config_path=path)
    save_config(Config().with_changes({"activity.level": "A2"}), path)  # as the page does
    wait_until(lambda: engine.calls_named("apply_config"))
    time.sleep(0.2)
    assert _said(engine) == []
    os.utime(path, (2, 2))
    save_config(Config().with_changes({"activity.level": "A2", "activity.name": "story"}), path)
    wait_until(lambda: _said(engine))
    assert _said(engine)[0].startswith("Story. ") and "Once upon a time" in _said(engine)[0]


def test_the_address_is_said_never_the_pin(running_daemon):
    config = Config().with_changes({"web.bind": ["10.0.0.7"], "web.port": 8080})
    daemon, engine = running_daemon(config=config)
    daemon.say_address()  # what a very long hold asks for
    wait_until(lambda: _said(engine))
    (text,) = _said(engine)
    assert "10 dot 0 dot 0 dot 7" in text and "8080" in text.replace(" ", "")
    assert "PIN" not in text.upper()


def test_a_missing_button_shows_the_fault_keeps_the_page_and_is_found_later(
    mock_gpio, monkeypatch, start_daemon
):
    monkeypatch.setattr("appliance.app.daemon.BUTTON_RETRY_SECONDS", 0.2)
    plugged_in = threading.Event()
    searches: list[float] = []

    def find_button() -> Button:
        searches.append(time.monotonic())
        if not plugged_in.is_set():
            raise NoButtonError("no evdev device /dev/input/by-id/usb-big-button")
        return Button("GPIO17", bounce_time=None)

    pages: list[object] = []

    class FakeWeb:
        def __init__(self, daemon: Daemon) -> None:
            pages.append(self)

        def start(self) -> None: ...

        def stop(self) -> None: ...

    shown: list[str] = []
    daemon = Daemon(
        Config(),
        lambda config, events: FakeEngine(events),
        find_button=find_button,
        notifier=Notifier("", use_library=False),
        web_factory=FakeWeb,
        tick=0.05,
    )
    daemon.events.subscribe(
        lambda e: shown.append(f"{e.state.value}: {e.detail}") if hasattr(e, "state") else None
    )
    start_daemon(daemon)
    wait_until(lambda: len(searches) >= 2)  # looked for again, not given up on
    assert pages and daemon.controller is None
    assert daemon.events.last_state.state is State.ERROR
    assert "button not found" in daemon.events.last_state.detail
    plugged_in.set()
    wait_until(lambda: daemon.controller is not None)
    wait_until(lambda: daemon.events.last_state.state is State.IDLE)
    assert any("button not found" in line for line in shown)


def test_build_daemon_survives_a_configured_button_that_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PARLO_CONFIG", str(tmp_path / "config.toml"))
    config = Config().with_changes(
        {"button.backend": "evdev", "button.evdev_device": str(tmp_path / "no-such-device")}
    )
    daemon = build_daemon(config, None, fake_engine=True)
    try:
        assert daemon.button is None and daemon.find_button is not None
        with pytest.raises(Exception, match="no-such-device"):
            daemon.find_button()
    finally:
        daemon._shut_down()


def test_switching_off_says_so_first_then_asks_systemd(running_daemon):
    asked: list[str] = []
    daemon, engine = running_daemon(power=asked.append)
    daemon.ask_to_shut_down()  # the 30 s hold
    daemon.shut_down()  # the second hold
    wait_until(lambda: asked)
    assert _said(engine) == ["To switch me off, hold the button again.", "Shutting down. Goodbye!"]
    assert asked == ["poweroff"]
    daemon.power_action("reboot")  # the page's Restart
    assert asked == ["poweroff", "reboot"] and _said(engine)[-1].startswith("Restarting")
    with pytest.raises(ValueError, match="poweroff or reboot"):
        daemon.power_action("format the disk")


def test_a_refused_switch_off_is_shown(running_daemon):
    def refuse(action: str) -> None:
        raise PowerError(f"systemctl {action} failed: Access denied")

    daemon, _ = running_daemon(power=refuse)
    daemon.power_action("poweroff")
    assert daemon.events.last_state.state is State.ERROR
    assert "Access denied" in daemon.events.last_state.detail


def test_power_asks_systemctl_and_reports_its_answer():
    runs: list[list[str]] = []

    def run(argv, **kwargs):
        runs.append(argv)
        return subprocess.CompletedProcess(argv, 1 if "reboot" in argv else 0, "", "denied")

    power = Power(run=run)
    power("poweroff")
    with pytest.raises(PowerError, match="systemctl reboot failed: denied"):
        power("reboot")
    with pytest.raises(ValueError):
        power("halt; rm -rf /")
    assert runs == [["systemctl", "poweroff"], ["systemctl", "reboot"]]


def test_parts_that_follow_the_config_get_each_change(running_daemon):
    seen: list[Config] = []
    daemon, _ = running_daemon(follow_config=[seen.append])
    chosen = Config().with_changes({"audio.input_device": "USB"})
    daemon.apply_config(chosen)
    assert seen == [chosen]


def test_what_waits_at_the_box_is_said_and_a_hold_allows_it(tmp_path, running_daemon):
    gate = PresenceGate(tmp_path / "presence", window=30)
    daemon, engine = running_daemon(presence=gate)
    asker = PresenceGate(tmp_path / "presence", window=30)  # the USB import, elsewhere
    request = asker.ask(UNSIGNED_PACK, "A model pack that is not signed wants to be installed.")
    wait_until(lambda: _said(engine))
    assert _said(engine) == [request.spoken], "said once, while it waits"
    time.sleep(0.3)
    assert len(_said(engine)) == 1
    assert daemon.confirm_at_box() is True  # the controller's silent long hold
    assert asker.wait(request) is True
    wait_until(lambda: len(_said(engine)) == 2)
    assert _said(engine)[1] == "Allowed: A model pack that is not signed wants to be installed."
    assert daemon.confirm_at_box() is False, "nothing waits any more: the hold is a hold"
    assert gate.last_hold() > 0, "every hold is recorded (it lifts the login slow-down)"


def test_the_first_boot_pin_is_said_once_on_the_first_hold(running_daemon):
    pins = iter(["482913", None])
    daemon, engine = running_daemon(first_boot_pin=lambda: next(pins))
    assert daemon.confirm_at_box() is True
    wait_until(lambda: _said(engine))
    assert _said(engine)[0].startswith("The PIN for my web page is 4 8 2 9 1 3.")
    assert daemon.confirm_at_box() is False and len(_said(engine)) == 1
