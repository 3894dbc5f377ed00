"""Keeping the microphone working when it is pulled out and plugged back in.

A USB microphone that is unplugged does not always say so. Depending on the
driver, PortAudio raises :class:`sounddevice.PortAudioError`, marks the stream
inactive, or simply stops calling back while claiming to be active. And
PortAudio learns about devices only when it is initialised, so a microphone
plugged back in stays invisible until PortAudio is started again.

Two pieces handle this:

:class:`SupervisedInputStream`
    A drop-in for :class:`sounddevice.InputStream` (callback mode). It opens
    the real stream through a *stream factory*, watches it, and on any of the
    three signs reports a fault, closes the dead stream, re-initialises
    PortAudio and tries again, waiting 0.5, 1, 2, 4, then 5 s between tries.
    When audio flows again it reports the recovery.

:class:`SupervisedAudio`
    A drop-in for the :mod:`sounddevice` module, used as the ``backend`` of the
    :class:`~appliance.audio.devices.Microphone` and ``Speaker``. Its input
    streams are supervised; it shows faults as the ERROR state (with one clear
    journal line) until they are resolved; and because the microphone is open
    only while a student talks, it also notices a microphone missing between
    turns and watches for its return, so the box goes back to idle by itself::

        audio = SupervisedAudio(sounddevice, events=events, input_device="USB")
        microphone = Microphone(audio, "USB")
        speaker = Speaker(audio, "Headphones")

Re-initialising PortAudio invalidates every open stream in the process, so it
is skipped while an output stream is open (the speaker closes its stream when
idle) and only ever happens while the microphone is missing.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from appliance.audio.devices import SoundBackend

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0, 5.0)

_PORTAUDIO_LOCK = threading.Lock()


class FaultReport(Protocol):
    """Where device faults go (:class:`~appliance.app.status.Status` in the daemon)."""

    def fault(self, source: str, message: str) -> None: ...

    def clear(self, source: str, message: str = "") -> None: ...


def reinitialise_portaudio() -> None:
    """Restart PortAudio so it sees devices plugged in since it started."""
    import sounddevice as sd

    with _PORTAUDIO_LOCK:
        sd._terminate()
        sd._initialize()


def _nothing() -> None:
    pass


def _nothing_with(message: str) -> None:
    pass


class SupervisedInputStream:
    """An input stream that survives its device going away and coming back.

    It takes :class:`sounddevice.InputStream`'s keyword arguments (``callback``
    is required) and passes them to ``open_stream`` on every try. Its own:

    ``open_stream``
        Makes the real stream; tests pass a fake that breaks on cue.
    ``stall_timeout``
        Seconds without a callback that count as a dead device.
    ``on_fault(message)`` / ``on_recovered(message)``
        Called once when audio stops, and once when it flows again.
    ``reinitialise``
        Run before each retry (e.g. :func:`reinitialise_portaudio`).

    ``active`` stays True from :meth:`start` to :meth:`stop`, through faults,
    so the code reading the microphone never has to care; ``fault`` says what
    is wrong now (None when audio flows).
    """

    def __init__(
        self,
        open_stream: Callable[..., Any],
        *,
        stall_timeout: float = 1.0,
        poll_interval: float = 0.1,
        backoff: Sequence[float] = BACKOFF_SECONDS,
        reinitialise: Callable[[], object] = _nothing,
        on_fault: Callable[[str], None] = _nothing_with,
        on_recovered: Callable[[str], None] = _nothing_with,
        label: str = "microphone",
        **stream_kwargs: Any,
    ) -> None:
        if stream_kwargs.get("callback") is None:
            raise TypeError(
                "SupervisedInputStream needs a callback (blocking reads are not supervised)"
            )
        self._callback = stream_kwargs["callback"]
        self._kwargs = {**stream_kwargs, "callback": self._forward}
        self._open_stream = open_stream
        self.stall_timeout = stall_timeout
        self.poll_interval = poll_interval
        self.backoff = tuple(backoff) or (1.0,)
        self.reinitialise = reinitialise
        self.on_fault = on_fault
        self.on_recovered = on_recovered
        self.label = label
        self.fault: str | None = None
        self._fault_since = 0.0
        self._stream: Any = None
        self._last_audio: float | None = None
        self._finished_by_callback = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # --- the InputStream interface ---

    def start(self) -> None:
        """Open the stream and watch it. If the device cannot be opened now, the fault is
        reported and the error raised, so the caller can say so at once."""
        if self._closed:
            raise RuntimeError("stream is closed")
        if self.active:
            return
        self._stopping.clear()
        self._finished_by_callback = False
        self._last_audio = None
        try:
            stream = self._open_stream(**self._kwargs)
            stream.start()
        except Exception as error:
            self._report_fault(f"cannot be opened ({_describe(error)})")
            raise
        self._stream = stream
        self._thread = threading.Thread(
            target=self._supervise, args=(stream,), name="audio-watchdog", daemon=True
        )
        self._thread.start()

    def stop(self, ignore_errors: bool = True) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    abort = stop

    def close(self, ignore_errors: bool = True) -> None:
        self.stop()
        self._closed = True

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopped(self) -> bool:
        return not self.active

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> SupervisedInputStream:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the supervisor's thread ---

    def _forward(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        self._last_audio = time.monotonic()
        try:
            self._callback(indata, frames, time_info, status)
        except BaseException as error:
            if type(error).__name__ in ("CallbackStop", "CallbackAbort"):
                self._finished_by_callback = True  # the reader ended it: not a fault
            raise

    def _supervise(self, stream: Any) -> None:
        failures = 0
        while True:
            problem = self._watch(stream)
            self._close_quietly(stream)
            if problem is None:
                return  # stopped, or ended by the callback
            if self._last_audio is not None:
                failures = 0  # it worked for a while: start the backoff again
            self._report_fault(problem)
            while True:
                delay = self.backoff[min(failures, len(self.backoff) - 1)]
                failures += 1
                if self._stopping.wait(delay):
                    return
                try:
                    self.reinitialise()
                except Exception as error:
                    log.debug("re-initialising audio failed: %s", error)
                self._last_audio = None
                stream, problem = self._open()
                if problem is None:
                    break
                self._report_fault(problem)

    def _open(self) -> tuple[Any, str | None]:
        try:
            stream = self._open_stream(**self._kwargs)
            stream.start()
        except Exception as error:
            return None, f"cannot be opened ({_describe(error)})"
        self._stream = stream
        return stream, None

    def _watch(self, stream: Any) -> str | None:
        """Wait until the stream dies (returns why) or we are stopped (returns None)."""
        opened_at = time.monotonic()
        while not self._stopping.wait(self.poll_interval):
            try:
                active = stream.active
            except Exception as error:
                return f"failed ({_describe(error)})"
            if not active:
                return (
                    None if self._finished_by_callback else "stopped (the driver ended the stream)"
                )
            last_audio = self._last_audio
            if time.monotonic() - (last_audio or opened_at) > self.stall_timeout:
                return f"stopped sending audio ({self.stall_timeout:.1f} s of nothing)"
            if last_audio is not None and self.fault is not None:
                self._report_recovery()
        return None

    def _close_quietly(self, stream: Any) -> None:
        self._stream = None
        # Closing a stream on a vanished device can hang inside the driver; never let it hang us.
        closer = threading.Thread(target=_close, args=(stream,), name="audio-close", daemon=True)
        closer.start()
        closer.join(timeout=2)
        if closer.is_alive():
            log.warning("closing the dead %s hung; leaving it behind", self.label)

    def _report_fault(self, problem: str) -> None:
        if self.fault is None:
            self._fault_since = time.monotonic()
            self.fault = f"{self.label} {problem}"
            _call(self.on_fault, self.fault)
        else:
            log.debug("%s still unavailable: %s", self.label, problem)

    def _report_recovery(self) -> None:
        self.fault = None
        seconds = time.monotonic() - self._fault_since
        _call(self.on_recovered, f"{self.label} is working again after {seconds:.0f} s")


class SupervisedAudio:
    """The :mod:`sounddevice` module (or a stand-in such as ``FileDevices``), supervised.

    It offers all of :class:`~appliance.audio.devices.SoundBackend`:

    ``InputStream(...)``
        Returns a :class:`SupervisedInputStream`. A device given by index is
        remembered by name, so a retry finds it again after a replug.
    ``OutputStream(...)``
        The backend's, remembered so PortAudio is not restarted under it.
    ``query_devices()``
        When ``input_device`` is not in the list, restarts PortAudio once and
        asks again: that is how a replugged microphone becomes visible.
    ``check_input_settings(...)``, ``check_output_settings(...)``
        The backend's.

    A fault (from a stream, or the input device missing) is logged once at
    error level and reported to ``status`` (a :class:`FaultReport`, the daemon's status),
    which shows ERROR whatever the engine does meanwhile. Until the microphone
    works again a thread looks for it every few seconds; when it is back, the
    fault is cleared and the box shows the engine's state again by itself.
    """

    def __init__(
        self,
        backend: SoundBackend | None = None,
        *,
        status: FaultReport | None = None,
        input_device: str = "",
        reinitialise: Callable[[], None] | None = None,
        stall_timeout: float = 1.0,
        poll_interval: float = 0.1,
        backoff: Sequence[float] = BACKOFF_SECONDS,
    ) -> None:
        if backend is None:
            import sounddevice

            backend = sounddevice
        self.backend: SoundBackend = backend
        self.status = status
        self.input_device = input_device
        is_portaudio = getattr(backend, "__name__", "") == "sounddevice"
        self._reinitialise = reinitialise or (reinitialise_portaudio if is_portaudio else _nothing)
        self.stall_timeout = stall_timeout
        self.poll_interval = poll_interval
        self.backoff = tuple(backoff)
        self.fault: str | None = None
        self.faults = 0
        self._lock = threading.Lock()
        self._streams_lock = threading.Lock()
        self._outputs: weakref.WeakSet[Any] = weakref.WeakSet()
        self._inputs: weakref.WeakSet[SupervisedInputStream] = weakref.WeakSet()
        self._closing = threading.Event()
        self._searcher: threading.Thread | None = None

    # --- the sounddevice interface ---

    def InputStream(self, **kwargs: Any) -> SupervisedInputStream:
        device = kwargs.get("device")
        if isinstance(device, int):
            name = stable_device_name(self.backend.query_devices(device)["name"])
            kwargs["device"] = name
        label = f"microphone {kwargs.get('device')!r}" if kwargs.get("device") else "microphone"
        stream = SupervisedInputStream(
            self._open_input,
            stall_timeout=self.stall_timeout,
            poll_interval=self.poll_interval,
            backoff=self.backoff,
            reinitialise=self.reinitialise,
            on_fault=self.report_fault,
            on_recovered=self.report_recovery,
            label=label,
            **kwargs,
        )
        with self._streams_lock:
            self._inputs.add(stream)
        return stream

    def OutputStream(self, **kwargs: Any) -> Any:
        stream = self.backend.OutputStream(**kwargs)
        with self._streams_lock:
            self._outputs.add(stream)
        return stream

    def query_devices(self, device: Any = None, kind: str | None = None) -> Any:
        if device is not None or kind is not None:
            return self.backend.query_devices(device, kind)
        devices = self.backend.query_devices()
        if not self._input_present(devices) and self.reinitialise():
            devices = self.backend.query_devices()
        if not self._input_present(devices):
            self.report_fault(f"{self._input_label()} is not connected")
        return devices

    def use_input_device(self, device: str) -> None:
        """Supervise ``device`` (a substring of its name) from now on: the page chose it."""
        self.input_device = device

    def check_input_settings(self, **settings: Any) -> None:
        self.backend.check_input_settings(**settings)

    def check_output_settings(self, **settings: Any) -> None:
        self.backend.check_output_settings(**settings)

    # --- faults ---

    def check(self) -> bool:
        """Look for the input device now (the daemon calls this at start). True if present."""
        return self._input_present(self.query_devices())

    def reinitialise(self) -> bool:
        """Restart PortAudio unless a stream depends on it. True if it was restarted."""
        with self._streams_lock:
            outputs, inputs = list(self._outputs), list(self._inputs)
        busy_outputs = [s for s in outputs if not getattr(s, "closed", False)]
        busy_inputs = [s for s in inputs if s.active and s.fault is None]
        if busy_outputs or busy_inputs:
            log.debug("not restarting audio: streams are open")
            return False
        self._reinitialise()
        return True

    def report_fault(self, message: str) -> None:
        with self._lock:
            first = self.fault is None
            self.fault = message
        if first:
            self.faults += 1
            log.error("%s. Is it unplugged? Waiting for it to come back.", message)
            if self.status is not None:
                self.status.fault("microphone", message)
            self._search_in_background()

    def report_recovery(self, message: str) -> None:
        with self._lock:
            was_faulty, self.fault = self.fault is not None, None
        if was_faulty:
            log.warning("%s", message)
            if self.status is not None:
                self.status.clear("microphone", message)

    def close(self) -> None:
        self._closing.set()
        searcher = self._searcher
        if searcher is not None and searcher is not threading.current_thread():
            searcher.join(timeout=5)

    # --- inside ---

    def _open_input(self, **kwargs: Any) -> Any:
        return self.backend.InputStream(**kwargs)

    def _input_present(self, devices: Any) -> bool:
        wanted = self.input_device.lower()
        return any(
            d.get("max_input_channels", 0) > 0 and wanted in d["name"].lower() for d in devices
        )

    def _input_label(self) -> str:
        return f"microphone {self.input_device!r}" if self.input_device else "microphone"

    def _search_in_background(self) -> None:
        with self._lock:
            if self._searcher is not None and self._searcher.is_alive():
                return
            self._searcher = threading.Thread(target=self._search, name="audio-search", daemon=True)
            self._searcher.start()

    def _search(self) -> None:
        """While faulty and no stream is retrying by itself, look for the microphone."""
        tries = 0
        while self.fault is not None:
            delay = self.backoff[min(tries, len(self.backoff) - 1)] if self.backoff else 1.0
            tries += 1
            if self._closing.wait(delay):
                return
            with self._streams_lock:
                inputs = list(self._inputs)
            if any(stream.active for stream in inputs):
                continue  # an open stream retries and reports recovery itself
            try:
                self.reinitialise()
                present = self._input_present(self.backend.query_devices())
            except Exception as error:
                log.debug("looking for the microphone failed: %s", error)
                continue
            if present:
                self.report_recovery(f"{self._input_label()} is connected again")


def stable_device_name(name: str) -> str:
    """A device's name without the ALSA card number, which can change across replugs:
    ``"USB PnP Sound Device: Audio (hw:2,0)"`` → ``"USB PnP Sound Device: Audio"``."""
    return re.sub(r"\s*\(hw:\d+,\d+\)$", "", name)


def _close(stream: Any) -> None:
    try:
        stream.close()
    except Exception as error:
        log.debug("closing a dead stream: %s", error)


def _call(callback: Callable[[str], None], message: str) -> None:
    try:
        callback(message)
    except Exception:
        log.exception("audio fault callback failed")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
