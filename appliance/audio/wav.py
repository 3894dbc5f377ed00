"""Reading and writing WAV files, and changing sample rates.

Inside Parlo, audio is a float32 numpy array of mono samples in [-1, 1].
:func:`read_wav` turns any common WAV into that (8/16/24/32-bit PCM or 32-bit
float, any channel count, downmixed to mono), and says clearly what is wrong
with a file it cannot read. Python's :mod:`wave` reads PCM only, so this parses
the RIFF chunks itself.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

PCM = 1
IEEE_FLOAT = 3
EXTENSIBLE = 0xFFFE


class AudioFileError(ValueError):
    """A file is not audio that Parlo can use; the message says why."""


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a WAV file as ``(mono float32 samples, sample rate)``."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise AudioFileError(f"{path}: cannot read: {error.strerror}") from None
    return parse_wav(data, str(path))


def parse_wav(data: bytes, name: str = "audio") -> tuple[np.ndarray, int]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFileError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    samples: bytes | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise AudioFileError(f"{name}: truncated format chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            samples = body  # a truncated file keeps what it has
        offset += 8 + size + (size & 1)
    if fmt is None:
        raise AudioFileError(f"{name}: WAV has no format chunk")
    if samples is None:
        raise AudioFileError(f"{name}: WAV has no data chunk")
    tag, channels, rate, bits = fmt
    if channels < 1 or rate < 1000:
        raise AudioFileError(f"{name}: implausible WAV format ({channels} channels, {rate} Hz)")
    audio = _decode(samples, tag, bits, name)
    usable = len(audio) - len(audio) % channels
    audio = audio[:usable].reshape(-1, channels).mean(axis=1, dtype=np.float32)
    if audio.size == 0:
        raise AudioFileError(f"{name}: WAV holds no audio")
    return audio.astype(np.float32, copy=False), rate


def _decode(raw: bytes, tag: int, bits: int, name: str) -> np.ndarray:
    width = bits // 8
    raw = raw[: len(raw) - len(raw) % max(width, 1)]
    if tag == IEEE_FLOAT and bits == 32:
        return np.frombuffer(raw, "<f4").astype(np.float32)
    if tag != PCM:
        raise AudioFileError(f"{name}: unsupported WAV encoding (format tag {tag})")
    if bits == 8:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    if bits == 16:
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768
    if bits == 24:
        bytes3 = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        values = bytes3[:, 0] | (bytes3[:, 1] << 8) | (bytes3[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)
        return values.astype(np.float32) / (1 << 23)
    if bits == 32:
        return np.frombuffer(raw, "<i4").astype(np.float32) / 2**31
    raise AudioFileError(f"{name}: unsupported WAV sample size ({bits} bits)")


def to_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")


def wav_header(rate: int, frames: int) -> bytes:
    data_bytes = frames * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, PCM, 1, rate),
        *(rate * 2, 2, 16, b"data", data_bytes),
    )


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    """Write mono float audio as a 16-bit PCM WAV."""
    samples = to_int16(np.asarray(audio, dtype=np.float32).reshape(-1))
    Path(path).write_bytes(wav_header(rate, len(samples)) + samples.tobytes())


class Resampler:
    """Changes the sample rate of a stream of chunks, with no seams between them.

    A windowed-sinc interpolator that keeps the tail of each chunk, so audio cut
    into sentences or device blocks joins up exactly as if it were one array::

        resampler = Resampler(22050, 48000)
        for chunk in chunks:
            play(resampler.process(chunk))
        play(resampler.flush())
    """

    def __init__(self, from_rate: int, to_rate: int, half_width: int = 16) -> None:
        common = math.gcd(from_rate, to_rate)
        self.up, self.down = to_rate // common, from_rate // common
        self.half_width = half_width
        # Lowpass below the lower Nyquist frequency, with a little room for the window.
        cutoff = min(1.0, to_rate / from_rate) * 0.92
        phases = np.arange(self.up)[:, None] / self.up
        taps = np.arange(-half_width + 1, half_width + 1)[None, :]
        distance = phases - taps
        window = np.kaiser(2 * half_width + 1, 8.0)
        window_at = np.interp(distance, np.arange(-half_width, half_width + 1), window)
        table = cutoff * np.sinc(cutoff * distance) * window_at
        self._table = (table / table.sum(axis=1, keepdims=True)).astype(np.float32)
        self._taps = taps[0]
        self._buffer = np.zeros(half_width, dtype=np.float32)  # silence before the start
        self._buffer_start = -half_width  # absolute input index of _buffer[0]
        self._next_output = 0

    def process(self, chunk: np.ndarray) -> np.ndarray:
        if self.up == self.down:
            return np.asarray(chunk, dtype=np.float32)
        self._buffer = np.concatenate([self._buffer, np.asarray(chunk, dtype=np.float32)])
        buffer_end = self._buffer_start + len(self._buffer)
        # Output k sits at input position k * down / up and needs inputs up to floor + half_width.
        last = ((buffer_end - self.half_width) * self.up - 1) // self.down
        if last < self._next_output:
            return np.zeros(0, dtype=np.float32)
        outputs = np.arange(self._next_output, last + 1)
        base, phase = np.divmod(outputs * self.down, self.up)
        indices = (base - self._buffer_start)[:, None] + self._taps[None, :]
        result = np.einsum("ij,ij->i", self._buffer[indices], self._table[phase])
        self._next_output = last + 1
        keep_from = (self._next_output * self.down) // self.up - self.half_width + 1
        drop = keep_from - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start = keep_from
        return result.astype(np.float32)

    def flush(self) -> np.ndarray:
        """The last samples, once no more input is coming."""
        return self.process(np.zeros(self.half_width, dtype=np.float32))


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a whole array (see :class:`Resampler` for streams)."""
    if from_rate == to_rate:
        return np.asarray(audio, dtype=np.float32)
    resampler = Resampler(from_rate, to_rate)
    out = np.concatenate([resampler.process(audio), resampler.flush()])
    return out[: round(len(audio) * to_rate / from_rate)]
