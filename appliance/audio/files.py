"""WAV files that behave like sound devices.

:class:`FileDevices` stands in for the :mod:`sounddevice` module wherever Parlo
would open a real microphone or speaker: it has ``InputStream``,
``OutputStream`` and ``query_devices`` with the same call signatures (the
subset Parlo uses). The daemon runs headless in tests and CI with it::

    devices = FileDevices(input_path=Path("question.wav"), output_path=Path("out.wav"))
    microphone = Microphone(devices)   # reads question.wav once, then silence
    speaker = Speaker(devices)         # appends everything played to out.wav

Input streams call back from their own thread at the real-time pace of the
audio (``realtime=False`` delivers as fast as possible). More input can be
queued at any time with :meth:`FileDevices.feed`, like a student speaking again.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio.wav import read_wav, resample, to_int16, wav_header


class FileDevices:
    """A file-backed replacement for the ``sounddevice`` module."""

    PortAudioError = RuntimeError

    def __init__(
        self,
        input_path: Path | None = None,
        output_path: Path | None = None,
        *,
        samplerate: int = 16000,
        realtime: bool = True,
    ) -> None:
        self.samplerate = samplerate
        self.realtime = realtime
        self.output_path = output_path
        # When the speaker last finished playing a block (time.perf_counter()): with
        # ``realtime``, when the sound really stopped. The bench times barge-in with it.
        self.played_until: float | None = None
        self._pending = np.zeros(0, dtype=np.float32)
        self._lock = threading.Lock()
        if input_path is not None:
            audio, rate = read_wav(input_path)
            self.feed(resample(audio, rate, samplerate))

    def feed(self, audio: np.ndarray) -> None:
        """Queue audio (mono float32 at ``samplerate``) for the next input stream to read."""
        with self._lock:
            self._pending = np.concatenate([self._pending, audio.astype(np.float32)])

    @property
    def pending_frames(self) -> int:
        """How much queued input the microphone has not read yet."""
        with self._lock:
            return len(self._pending)

    def take_input(self, frames: int) -> np.ndarray:
        """The next ``frames`` of queued input, padded with silence."""
        with self._lock:
            block, self._pending = self._pending[:frames], self._pending[frames:]
        return np.pad(block, (0, frames - len(block)))

    def query_devices(self, device: Any = None, kind: str | None = None) -> Any:
        devices = [
            {"name": "file input", "index": 0, "max_input_channels": 1, "max_output_channels": 0,
             "default_samplerate": float(self.samplerate)},
            {"name": "file output", "index": 1, "max_input_channels": 0, "max_output_channels": 1,
             "default_samplerate": float(self.samplerate)},
        ]  # fmt: skip
        if kind == "input":
            return devices[0]
        if kind == "output":
            return devices[1]
        return devices

    def check_input_settings(
        self, device: Any = None, samplerate: float | None = None, **_: Any
    ) -> None:
        return None

    def check_output_settings(
        self, device: Any = None, samplerate: float | None = None, **_: Any
    ) -> None:
        return None

    def InputStream(self, **kwargs: Any) -> FileInputStream:
        return FileInputStream(self, **kwargs)

    def OutputStream(self, **kwargs: Any) -> FileOutputStream:
        return FileOutputStream(self, **kwargs)


class _Stream:
    def __init__(self, samplerate: float | None, blocksize: int | None) -> None:
        self.samplerate = float(samplerate or 16000)
        self.blocksize = blocksize or 512
        self.active = False
        self.closed = False

    def __enter__(self) -> _Stream:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def abort(self) -> None:
        self.active = False

    def close(self) -> None:
        self.stop()
        self.closed = True


class FileInputStream(_Stream):
    """Like ``sounddevice.InputStream``: calls ``callback(indata, frames, time, status)``."""

    def __init__(
        self,
        devices: FileDevices,
        *,
        callback: Callable[..., None],
        samplerate: float | None = None,
        blocksize: int | None = None,
        channels: int = 1,
        dtype: str = "float32",
        **_: Any,
    ) -> None:
        super().__init__(samplerate, blocksize)
        self._devices = devices
        self._callback = callback
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        super().start()
        self._thread = threading.Thread(target=self._run, name="file-input", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        super().stop()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        period = self.blocksize / self.samplerate
        next_at = time.monotonic()
        while self.active:
            block = self._devices.take_input(self.blocksize)
            self._callback(block.reshape(-1, 1), self.blocksize, None, None)
            if self._devices.realtime:
                next_at += period
                time.sleep(max(0.0, next_at - time.monotonic()))


class FileOutputStream(_Stream):
    """Like ``sounddevice.OutputStream`` in blocking mode: ``write(data)`` appends to the WAV.

    With ``realtime`` devices, ``write`` takes as long as the audio lasts, as a
    real device's blocking write does, so stopping playback can be tested.
    """

    def __init__(
        self,
        devices: FileDevices,
        *,
        samplerate: float | None = None,
        blocksize: int | None = None,
        channels: int = 1,
        dtype: str = "float32",
        **_: Any,
    ) -> None:
        super().__init__(samplerate, blocksize)
        self._devices = devices
        self._path = devices.output_path
        self.frames_written = 0

    def write(self, data: np.ndarray) -> bool:
        samples = np.asarray(data, dtype=np.float32).reshape(-1)
        if self._path is not None:
            _append_wav(self._path, samples, int(self.samplerate))
        self.frames_written += len(samples)
        if self._devices.realtime:
            time.sleep(len(samples) / self.samplerate)
        self._devices.played_until = time.perf_counter()
        return False  # no underflow


def _append_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """Append to a 16-bit mono WAV, creating it if needed, keeping its header right."""
    pcm = to_int16(samples).tobytes()
    if not path.exists() or path.stat().st_size < 44:
        path.write_bytes(wav_header(rate, 0))
    with open(path, "r+b") as file:
        file.seek(0, os.SEEK_END)
        file.write(pcm)
        data_bytes = file.tell() - 44
        file.seek(4)
        file.write(struct.pack("<I", 36 + data_bytes))
        file.seek(40)
        file.write(struct.pack("<I", data_bytes))
