"""WAV files, resampling, file-backed devices, and the speaker's stop."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from appliance.audio.devices import AudioDeviceError, Microphone, Speaker, find_device
from appliance.audio.files import FileDevices
from appliance.audio.wav import AudioFileError, Resampler, read_wav, resample, write_wav


def tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_wav_round_trip(tmp_path):
    audio = tone(16000, 0.5)
    write_wav(tmp_path / "a.wav", audio, 16000)
    back, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000
    assert np.abs(back - audio).max() < 1e-3


def test_stereo_is_downmixed_and_24_bit_is_read(tmp_path):
    left, right = tone(8000, 0.1, 300), tone(8000, 0.1, 500)
    frames = np.stack([left, right], axis=1).reshape(-1)
    ints = (frames * (2**23 - 1)).astype(np.int32)
    raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(raw), b"WAVE", b"fmt ", 16, 1, 2,
        8000, 8000 * 6, 6, 24, b"data", len(raw),
    )  # fmt: skip
    (tmp_path / "s.wav").write_bytes(header + raw)
    mono, rate = read_wav(tmp_path / "s.wav")
    assert rate == 8000
    assert np.abs(mono - (left + right) / 2).max() < 1e-4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a WAV file"),
        (b"ID3\x03\x00 this is an mp3", "not a WAV file"),
        (b"RIFF\x04\x00\x00\x00WAVE", "no format chunk"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError, match=message):
        read_wav(path)


def test_a_wav_with_no_samples_is_refused(tmp_path):
    write_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioFileError, match="no audio"):
        read_wav(tmp_path / "empty.wav")


@pytest.mark.parametrize(("source", "target"), [(22050, 16000), (22050, 48000), (44100, 16000)])
def test_resampling_in_chunks_joins_without_seams(source, target):
    audio = tone(source, 1.0)
    whole = resample(audio, source, target)
    resampler = Resampler(source, target)
    parts = [resampler.process(chunk) for chunk in np.array_split(audio, 23)]
    chunked = np.concatenate([*parts, resampler.flush()])[: len(whole)]
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    ideal = tone(target, len(whole) / target)
    assert np.abs(whole[100:-100] - ideal[100 : len(whole) - 100]).max() < 1e-3


def test_devices_are_found_by_name_substring():
    devices = FileDevices()
    assert find_device(devices, "OUTPUT", "output") == 1
    with pytest.raises(AudioDeviceError, match="no input device matching 'usb'"):
        find_device(devices, "usb", "input")


def test_microphone_reads_the_file_once_then_silence(tmp_path):
    write_wav(tmp_path / "q.wav", tone(16000, 0.2), 16000)
    devices = FileDevices(tmp_path / "q.wav", realtime=False)
    heard: list[np.ndarray] = []
    microphone = Microphone(devices)
    microphone.open(heard.append)
    deadline = time.monotonic() + 5
    while sum(len(b) for b in heard) < 16000 and time.monotonic() < deadline:
        time.sleep(0.01)
    microphone.close()
    audio = np.concatenate(heard)
    assert np.abs(audio[:3000]).max() > 0.3
    assert np.abs(audio[4000:]).max() < 1e-3


def test_speaker_plays_everything_and_stop_is_quick(tmp_path):
    out = tmp_path / "out.wav"
    speaker = Speaker(FileDevices(output_path=out, realtime=True), source_rate=22050)
    speaker.play(tone(22050, 0.3))
    assert speaker.wait(timeout=5)
    played, rate = read_wav(out)
    assert rate == 22050
    assert abs(len(played) - 0.3 * 22050) < 64

    speaker.play(tone(22050, 5.0))
    time.sleep(0.3)
    speaker.stop()
    time.sleep(0.5)
    played, _ = read_wav(out)
    # 0.3 s before, about 0.3 s of the long tone, then nothing: not the 5 s queued.
    assert len(played) < 1.5 * 22050, "playback went on after stop()"
    speaker.close()


def test_volume_is_limited_not_clipped():
    speaker = Speaker(FileDevices(realtime=False), volume=2.0)
    loud = speaker._limit(tone(22050, 0.05) * 1.8)
    assert np.abs(loud).max() <= 0.97 + 1e-6
    speaker.close()


class TwoSpeakers(FileDevices):
    """File-backed sound with two output devices; notes which one each stream opens."""

    def __init__(self) -> None:
        super().__init__(realtime=False)
        self.opened: list[int | None] = []

    def query_devices(self, device=None, kind=None):
        devices = [
            {"name": "HDMI", "index": 0, "max_input_channels": 0, "max_output_channels": 2,
             "default_samplerate": 16000.0},
            {"name": "USB speaker", "index": 1, "max_input_channels": 0,
             "max_output_channels": 2, "default_samplerate": 16000.0},
        ]  # fmt: skip
        return devices[device] if isinstance(device, int) else devices

    def OutputStream(self, **kwargs):
        self.opened.append(kwargs.get("device"))
        return super().OutputStream(**kwargs)


def test_a_speaker_chosen_on_the_page_is_used_from_the_next_sound():
    backend = TwoSpeakers()
    speaker = Speaker(backend, "HDMI", source_rate=16000)
    try:
        speaker.play(np.zeros(1600, dtype=np.float32))
        assert speaker.wait(5)
        speaker.use_device("USB")
        speaker.play(np.zeros(1600, dtype=np.float32))
        assert speaker.wait(5)
        speaker.use_device("USB")  # the same again: the open stream is kept
        speaker.play(np.zeros(1600, dtype=np.float32))
        assert speaker.wait(5)
    finally:
        speaker.close()
    assert backend.opened == [0, 1]
