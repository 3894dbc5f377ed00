"""A USB microphone pulled out and plugged back in: the box shows the error, retries, and
recovers by itself, with no crash and no leaked threads.

The fake sound system behaves like PortAudio where it matters: a stream on an unplugged
device either raises ``PortAudioError`` or silently stops calling back, and a device
plugged back in is only listed again after PortAudio is re-initialised.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
from waiting import wait_until

from appliance.app.status import Status
from appliance.audio.devices import AudioDeviceError, Microphone
from appliance.audio.supervised import (
    SupervisedAudio,
    SupervisedInputStream,
    stable_device_name,
)
from appliance.core.events import EventStream, State

try:
    from sounddevice import PortAudioError
except (ImportError, OSError):  # PortAudio not installed: the fakes only need the name

    class PortAudioError(Exception):  # type: ignore[no-redef]
        pass


USB_MIC = "USB PnP Sound Device: Audio (hw:2,0)"


class FakeMicrophoneDevice:
    """One USB microphone that can be unplugged in the ways real ones fail."""

    def __init__(self) -> None:
        self.plugged = True
        self.failure = ""  # how open streams die when unplugged: "raise" or "stall"
        self.streams: list[FakeInputStream] = []

    def unplug(self, failure: str) -> None:
        self.failure = failure
        self.plugged = False

    def plug_in(self) -> None:
        self.failure = ""
        self.plugged = True


class FakeInputStream:
    """Like ``sounddevice.InputStream``: a thread calls back with blocks of audio."""

    def __init__(self, device: FakeMicrophoneDevice, callback, blocksize: int = 160, **_):
        self.device = device
        self.callback = callback
        self.blocksize = blocksize
        self.running = False
        self.closed = False
        self.thread: threading.Thread | None = None
        self.died_with: str = ""

    def start(self) -> None:
        self.running = True
        self.thread = threading.Thread(target=self._run, name="fake-portaudio", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        block = np.full((self.blocksize, 1), 0.01, dtype=np.float32)
        while self.running:
            if not self.device.plugged:
                self.died_with = self.device.failure
                if self.died_with == "stall":
                    time.sleep(0.005)  # alive, active, silent: the nasty case
                    continue
                self.running = False  # the driver ended the stream
                return
            self.callback(block, self.blocksize, None, None)
            time.sleep(0.005)

    @property
    def active(self) -> bool:
        if self.died_with == "raise":
            raise PortAudioError("Unanticipated host error [PaErrorCode -9999]")
        return self.running

    def close(self) -> None:
        self.running = False
        if self.thread is not None:
            self.thread.join()
        self.closed = True


class FakePortAudio:
    """A ``sounddevice`` stand-in: a built-in speaker plus the USB microphone."""

    def __init__(self) -> None:
        self.microphone = FakeMicrophoneDevice()
        self.reinitialised = 0
        self.listed_microphone = True  # what PortAudio saw when it was last initialised

    def reinitialise(self) -> None:
        self.reinitialised += 1
        self.listed_microphone = self.microphone.plugged

    def _devices(self) -> list[dict]:
        devices = [
            {"name": "bcm2835 Headphones", "max_input_channels": 0, "max_output_channels": 2,
             "default_samplerate": 48000.0},
        ]  # fmt: skip
        if self.listed_microphone:
            devices.append(
                {"name": USB_MIC, "max_input_channels": 1, "max_output_channels": 0,
                 "default_samplerate": 16000.0}
            )  # fmt: skip
        return [{**device, "index": i} for i, device in enumerate(devices)]

    def query_devices(self, device=None, kind=None):
        devices = self._devices()
        if isinstance(device, int):
            return devices[device]
        if kind == "input":
            return next(d for d in devices if d["max_input_channels"])
        return devices

    def check_input_settings(self, **_) -> None:
        return None

    def InputStream(self, device=None, callback=None, **kwargs) -> FakeInputStream:
        name = device if isinstance(device, str) else self._devices()[device]["name"]
        if not (self.microphone.plugged and self.listed_microphone and name in USB_MIC):
            raise PortAudioError(f"Error querying device {device!r}")
        stream = FakeInputStream(self.microphone, callback, **kwargs)
        self.microphone.streams.append(stream)
        return stream


@pytest.fixture
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    wait_until(lambda: set(threading.enumerate()) <= before)


@pytest.fixture
def portaudio():
    return FakePortAudio()


def supervised_stream(portaudio: FakePortAudio, faults: list, recoveries: list, frames: list):
    return SupervisedInputStream(
        portaudio.InputStream,
        device=USB_MIC,
        callback=lambda indata, *_: frames.append(len(indata)),
        stall_timeout=0.3,
        poll_interval=0.02,
        backoff=(0.02, 0.05),
        reinitialise=portaudio.reinitialise,
        on_fault=faults.append,
        on_recovered=recoveries.append,
    )


@pytest.mark.parametrize(
    ("failure", "said"),
    [("raise", "PortAudioError: Unanticipated host error"), ("stall", "stopped sending audio")],
)
def test_stream_that_dies_mid_recording_is_reported_and_recovers(
    portaudio, no_leaked_threads, failure, said
):
    faults, recoveries, frames = [], [], []
    stream = supervised_stream(portaudio, faults, recoveries, frames)
    stream.start()
    wait_until(lambda: len(frames) > 5)

    portaudio.microphone.unplug(failure)
    wait_until(lambda: faults)
    assert said in faults[0]
    assert stream.active  # the reader is not bothered: the stream "is" still open
    tries = portaudio.reinitialised
    wait_until(lambda: portaudio.reinitialised > tries + 1)  # it keeps retrying, backing off
    assert len(faults) == 1  # one report per fault, not per try
    assert not recoveries

    portaudio.microphone.plug_in()
    wait_until(lambda: recoveries)
    heard = len(frames)
    wait_until(lambda: len(frames) > heard + 5)  # audio flows again, through the same stream
    assert stream.fault is None
    stream.close()
    assert all(s.closed for s in portaudio.microphone.streams)


def test_stream_ended_by_the_driver_is_a_fault(portaudio, no_leaked_threads):
    faults, recoveries, frames = [], [], []
    stream = supervised_stream(portaudio, faults, recoveries, frames)
    stream.start()
    wait_until(lambda: frames)
    portaudio.microphone.unplug("gone")  # the stream thread simply ends: inactive
    wait_until(lambda: faults)
    assert "driver ended the stream" in faults[0]
    portaudio.microphone.plug_in()
    wait_until(lambda: recoveries)
    stream.close()


def test_device_missing_at_start_is_a_fault_until_it_appears(portaudio, no_leaked_threads):
    faults, recoveries, frames = [], [], []
    portaudio.microphone.unplug("raise")
    portaudio.reinitialise()
    stream = supervised_stream(portaudio, faults, recoveries, frames)
    with pytest.raises(PortAudioError):
        stream.start()  # the caller hears of it at once...
    assert "cannot be opened" in faults[0]  # ...and so does whoever shows faults
    portaudio.microphone.plug_in()
    portaudio.reinitialise()
    stream.start()
    wait_until(lambda: frames and recoveries)
    stream.close()


def test_callback_stop_is_not_a_fault(portaudio, no_leaked_threads):
    faults: list[str] = []

    class CallbackStop(Exception):
        pass

    def callback(*_):
        raise CallbackStop

    stream = SupervisedInputStream(
        lambda **kwargs: FakeEndingStream(kwargs["callback"]),
        callback=callback,
        poll_interval=0.01,
        on_fault=faults.append,
    )
    stream.start()
    wait_until(lambda: not stream.active)
    assert faults == []
    stream.close()


class FakeEndingStream:
    """Calls back once; the callback raises CallbackStop, and the stream ends (as sounddevice's)."""

    def __init__(self, callback) -> None:
        self.callback = callback
        self.active = False

    def start(self) -> None:
        self.active = True
        try:
            self.callback(np.zeros((4, 1), np.float32), 4, None, None)
        except Exception:
            self.active = False

    def close(self) -> None:
        self.active = False


# --- the whole path: the lead's Microphone on a SupervisedAudio backend ----------------------


@pytest.fixture
def box(portaudio, no_leaked_threads):
    engine_events = EventStream()
    engine_events.state(State.IDLE, "ready")
    status = Status()
    status.follow(engine_events)
    events = status.shown
    events.engine = engine_events  # the engine's own stream, for a test to publish on
    audio = SupervisedAudio(
        portaudio,
        status=status,
        input_device="USB PnP",
        reinitialise=portaudio.reinitialise,
        stall_timeout=0.3,
        poll_interval=0.02,
        backoff=(0.02, 0.05),
    )
    yield events, audio, Microphone(audio, "USB PnP")
    audio.close()


def test_microphone_unplugged_while_listening_shows_error_then_idle(box, portaudio, caplog):
    events, _, microphone = box
    blocks: list[np.ndarray] = []
    microphone.open(blocks.append)
    wait_until(lambda: len(blocks) > 3)

    with caplog.at_level(logging.ERROR):
        portaudio.microphone.unplug("stall")
        wait_until(lambda: events.last_state.state is State.ERROR)
    assert "microphone 'USB PnP Sound Device: Audio'" in events.last_state.detail
    assert any(
        r.levelno == logging.ERROR and "Is it unplugged?" in r.getMessage() for r in caplog.records
    )

    events.engine.state(State.THINKING)  # the engine ends its turn meanwhile...
    events.engine.state(State.IDLE)
    assert events.last_state.state is State.ERROR  # ...and the error stays shown

    portaudio.microphone.plug_in()
    wait_until(lambda: events.last_state.state is State.IDLE)
    assert "working again" in events.last_state.detail
    heard = len(blocks)
    wait_until(lambda: len(blocks) > heard + 3)
    microphone.close()


@pytest.mark.parametrize("portaudio_noticed", [False, True])
def test_microphone_unplugged_between_turns_is_found_again_without_a_restart(
    box, portaudio, portaudio_noticed
):
    events, _, microphone = box
    portaudio.microphone.unplug("raise")
    if portaudio_noticed:
        portaudio.reinitialise()  # it is no longer even listed
    with pytest.raises(AudioDeviceError):
        microphone.open(lambda block: None)  # a press while it is out: a clear error...
    assert events.last_state.state is State.ERROR  # ...shown on the LED
    assert "microphone" in events.last_state.detail

    tries = portaudio.reinitialised
    portaudio.microphone.plug_in()  # nobody presses: the box notices by itself
    wait_until(lambda: events.last_state.state is State.IDLE)
    assert portaudio.reinitialised > tries  # PortAudio had to look again to see it
    assert "again" in events.last_state.detail

    blocks: list[np.ndarray] = []
    microphone.open(blocks.append)
    wait_until(lambda: blocks)
    microphone.close()


def test_portaudio_is_not_restarted_under_an_open_output_stream(portaudio):
    class Output:
        closed = False

    portaudio.OutputStream = lambda **kwargs: Output()  # type: ignore[attr-defined]
    audio = SupervisedAudio(portaudio, reinitialise=portaudio.reinitialise)
    output = audio.OutputStream(samplerate=22050)
    assert audio.reinitialise() is False
    output.closed = True
    assert audio.reinitialise() is True
    audio.close()


def test_device_names_lose_their_card_number():
    assert stable_device_name(USB_MIC) == "USB PnP Sound Device: Audio"
    assert stable_device_name("pulse") == "pulse"
