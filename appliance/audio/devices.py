"""The microphone and the speaker.

Both take a *backend*: the :mod:`sounddevice` module itself, or anything with
the same ``InputStream``/``OutputStream``/``query_devices`` calls, such as
:class:`appliance.audio.files.FileDevices`. Devices are chosen by a substring of
their name, because their indices change across reboots and replugs.

The microphone is open only while listening, to save power and CPU. The
speaker's stream opens when there is something to say and closes after a short
idle time, so an idle box sits near 0% CPU.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from appliance.audio.wav import Resampler

log = logging.getLogger(__name__)

SPEECH_RATE = 16000


class SoundBackend(Protocol):
    """What the microphone and the speaker need of a sound system: :mod:`sounddevice`'s
    own calls, which :class:`~appliance.audio.files.FileDevices` and
    :class:`~appliance.audio.supervised.SupervisedAudio` offer too.

    The device lists and streams are sounddevice's own objects, which it does not type.
    """

    def query_devices(self, device: int | str | None = None, kind: str | None = None) -> Any:
        """All devices (a list of dicts with ``name``, ``max_input_channels``...), or one."""

    def check_input_settings(self, **settings: Any) -> None:
        """Raise if the input device cannot record with ``settings`` (samplerate...)."""

    def check_output_settings(self, **settings: Any) -> None:
        """Raise if the output device cannot play with ``settings``."""

    def InputStream(self, **settings: Any) -> Any:
        """A callback input stream, not yet started."""

    def OutputStream(self, **settings: Any) -> Any:
        """A blocking-write output stream, not yet started."""


class AudioDeviceError(RuntimeError):
    """A sound device is missing or failed; the message says which and how."""


def find_device(backend: SoundBackend, name: str, kind: str) -> int | None:
    """The index of the first ``kind`` ("input"/"output") device whose name contains ``name``.

    An empty ``name`` means the system default (``None``).
    """
    if not name:
        return None
    channels = f"max_{kind}_channels"
    devices = list(backend.query_devices())
    for index, device in enumerate(devices):
        if name.lower() in device["name"].lower() and device[channels] > 0:
            return device.get("index", index)
    names = ", ".join(d["name"] for d in devices if d[channels] > 0) or "none"
    raise AudioDeviceError(f"no {kind} device matching {name!r} (found: {names})")


def _pick_rate(backend: SoundBackend, device: int | None, kind: str, wanted: int) -> int:
    check = backend.check_input_settings if kind == "input" else backend.check_output_settings
    try:
        check(device=device, samplerate=wanted, channels=1, dtype="float32")
        return wanted
    except Exception:
        return int(backend.query_devices(device, kind)["default_samplerate"])


class Microphone:
    """Records mono 16 kHz float32 audio while open.

    ``on_audio`` is called from the audio thread with each block, so it must be
    quick (appending to a queue is right)::

        microphone.open(blocks.put)
        ...
        microphone.close()
    """

    def __init__(self, backend: SoundBackend, device: str = "", block_ms: int = 32) -> None:
        self.backend = backend
        self.device_name = device
        self.block_ms = block_ms
        self._stream: Any = None
        self.last_callback_at = 0.0

    def open(self, on_audio: Callable[[np.ndarray], None]) -> None:
        device = find_device(self.backend, self.device_name, "input")
        rate = _pick_rate(self.backend, device, "input", SPEECH_RATE)
        resampler = Resampler(rate, SPEECH_RATE)

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            self.last_callback_at = time.monotonic()
            on_audio(resampler.process(indata[:, 0]))

        try:
            self._stream = self.backend.InputStream(
                device=device, samplerate=rate, channels=1, dtype="float32",
                blocksize=rate * self.block_ms // 1000, callback=callback,
            )  # fmt: skip
            self.last_callback_at = time.monotonic()
            self._stream.start()
        except Exception as error:
            self._stream = None
            raise AudioDeviceError(f"cannot open the microphone: {error}") from error

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as error:  # an unplugged device fails here too
                log.warning("closing the microphone failed: %s", error)


class Speaker:
    """Plays mono float32 audio, queued, from its own thread.

    :meth:`play` returns at once. :meth:`stop` silences the speaker within one
    block (``block_ms``), dropping everything queued: that is barge-in.
    Software ``volume`` is applied with a limiter, so loud voices never clip.
    """

    def __init__(
        self,
        backend: SoundBackend,
        device: str = "",
        *,
        source_rate: int = 22050,
        volume: float = 1.0,
        block_ms: int = 40,
        idle_close_s: float = 3.0,
    ) -> None:
        self.backend = backend
        self.device_name = device
        self.source_rate = source_rate
        self.volume = volume
        self.block_ms = block_ms
        self.idle_close_s = idle_close_s
        self.on_error: Callable[[Exception], None] | None = None
        self._queue: queue.Queue[tuple[np.ndarray, Callable[[], None] | None] | None] = (
            queue.Queue()
        )
        self._generation = 0
        self._device_changed = False  # use_device() named another device
        self._stream: Any = None
        self._device_rate = source_rate
        self._resampler: Resampler | None = None
        self._limiter_gain = 1.0
        self._busy = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="speaker", daemon=True)
        self._thread.start()

    def play(self, audio: np.ndarray, on_start: Callable[[], None] | None = None) -> None:
        """Queue audio at ``source_rate``. ``on_start`` is called as its first block is written."""
        self._idle.clear()
        self._queue.put((np.asarray(audio, dtype=np.float32), on_start))

    def use_device(self, device: str) -> None:
        """Play on ``device`` (a substring of its name) from the next piece of sound on."""
        if device != self.device_name:
            self.device_name = device
            self._device_changed = True

    def prepare(self) -> None:
        """Open the output stream now, so the first word does not wait for it."""
        self._queue.put((np.zeros(0, dtype=np.float32), None))

    def stop(self) -> None:
        """Drop everything queued and stop within one block."""
        self._generation += 1
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._idle.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until everything queued has been played. False on timeout."""
        self._queue.put(None)  # a marker: all before it is played when it is reached
        return self._idle.wait(timeout)

    @property
    def playing(self) -> bool:
        return not self._idle.is_set()

    def close(self) -> None:
        """Stop playing, close the stream and end the speaker's thread."""
        self._closing = True
        self.stop()
        self._queue.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self._close_stream()

    def _run(self) -> None:
        while True:
            try:
                chunk = self._queue.get(timeout=self.idle_close_s)
            except queue.Empty:
                self._close_stream()
                continue
            if chunk is None:
                if self._queue.empty():
                    self._flush_resampler()
                    self._idle.set()
                if getattr(self, "_closing", False):
                    return
                continue
            generation = self._generation
            try:
                self._write(*chunk, generation)
            except Exception as error:
                log.error("speaker failed: %s", error)
                self._close_stream()
                self._idle.set()
                if self.on_error:
                    self.on_error(error)

    def _open_stream(self) -> None:
        device = find_device(self.backend, self.device_name, "output")
        self._device_rate = _pick_rate(self.backend, device, "output", self.source_rate)
        self._resampler = Resampler(self.source_rate, self._device_rate)
        self._stream = self.backend.OutputStream(
            device=device, samplerate=self._device_rate, channels=1, dtype="float32",
            latency="low",
        )  # fmt: skip
        self._stream.start()

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception as error:
                log.warning("closing the speaker failed: %s", error)

    def _write(
        self, chunk: np.ndarray, on_start: Callable[[], None] | None, generation: int
    ) -> None:
        if self._device_changed:  # the page chose another speaker
            self._device_changed = False
            self._close_stream()
        if self._stream is None:
            self._open_stream()
        assert self._resampler is not None
        audio = self._resampler.process(chunk)
        block = max(1, self._device_rate * self.block_ms // 1000)
        for start in range(0, len(audio), block):
            if generation != self._generation:
                self._stream.abort()  # drop what the device has buffered, too
                self._stream.start()
                self._resampler = Resampler(self.source_rate, self._device_rate)
                return
            if on_start is not None:
                on_start()
                on_start = None
            self._stream.write(self._limit(audio[start : start + block]).reshape(-1, 1))

    def _flush_resampler(self) -> None:
        if self._stream is not None and self._resampler is not None:
            tail = self._resampler.flush()
            self._resampler = Resampler(self.source_rate, self._device_rate)
            if len(tail):
                self._stream.write(self._limit(tail).reshape(-1, 1))

    def _limit(self, block: np.ndarray) -> np.ndarray:
        """Apply volume; pull the gain down smoothly wherever a peak would clip."""
        louder = block * self.volume
        peak = float(np.max(np.abs(louder), initial=0.0))
        target = min(1.0, 0.97 / peak) if peak > 0 else 1.0
        # Attack at once, release slowly; ramp across the block so there is no click.
        new_gain = target if target < self._limiter_gain else min(1.0, self._limiter_gain + 0.05)
        ramp = np.linspace(self._limiter_gain, new_gain, len(louder), dtype=np.float32)
        self._limiter_gain = new_gain
        return np.clip(louder * np.minimum(ramp, target), -1.0, 1.0)
