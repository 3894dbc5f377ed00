"""Text to speech with piper, streamed in short pieces.

A piper voice is a VITS model: an encoder turns a sentence's phonemes into a
latent of about 86 frames per second of speech, and a HiFi-GAN decoder turns
each frame into ``hop_length`` samples. Decoding a whole sentence at once takes
memory in proportion to its length (about 33 MB per second of audio) and gives
nothing to play until it is done. So the voice's graph is cut in two when it is
loaded (:mod:`appliance.speech.voice_graph`) and the decoder runs over the latent
in chunks: a small first one so the speaker can start early, larger ones after.
The decoder is convolutional, so each chunk is decoded with
:data:`CONTEXT_FRAMES` frames of its neighbours on each side and those frames'
samples are dropped; the pieces join into the same audio as a whole decode.

Sessions are built with few threads and no memory arena (an arena holds on to
the largest transient for good). A voice whose graph cannot be cut is run whole,
one piece per sentence, as piper itself does.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np
import onnxruntime

from appliance.core.memory import release_free_memory
from appliance.core.paths import voice_cache_dir
from appliance.speech import voice_graph

log = logging.getLogger(__name__)

# Measured on en_US-joe-medium: with 10 frames of context each side
# the pieces match a whole decode to ~1e-6; with 8 they differ by up to 2e-3.
CONTEXT_FRAMES = 10
FIRST_CHUNK_FRAMES = 16  # ~190 ms of audio: out quickly, long enough to cover the next chunk
LARGEST_CHUNK_FRAMES = 32  # the decoder is fastest per frame at 32-64 frames; memory stays small
# Spoken with the noise off at load time to set the voice's fixed gain (see PiperTts).
CALIBRATION_TEXT = "How are you today? I hope the weather is nice where you are."
MAX_GAIN = 4.0


def session_options(threads: int = 1) -> onnxruntime.SessionOptions:
    """Options for a small box: few threads, no memory arena (it would keep the largest peak).

    Turning off onnxruntime's weight prepacking (``session.disable_prepacking``) was
    measured too: no change in memory or speed, so it is left on.
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    # Planning memory per input shape saves no time here (the shapes change with every
    # sentence) and raised the voice's peak by ~15 MB (bench/tts_chunking.py).
    options.enable_mem_pattern = False
    options.log_severity_level = 3
    return options


def voice_session(model: Path | bytes, threads: int = 1) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session for a voice, or half of one, from its file or its bytes."""
    source = model if isinstance(model, bytes) else str(model)
    session = onnxruntime.InferenceSession(
        source,
        sess_options=session_options(threads),
        providers=["CPUExecutionProvider"],
        enable_fallback=0,
    )
    # onnxruntime's Python wrapper keeps the model's bytes to rebuild the session on another
    # execution provider if one fails; with the CPU alone that never happens, and the copy
    # would stay in memory for good (the size of the model).
    if hasattr(session, "_model_bytes"):
        session._model_bytes = None
    return session


def chunk_bounds(frames: int) -> list[tuple[int, int]]:
    """How ``frames`` latent frames are cut into pieces to decode: ``(start, end)`` pairs.

    The first piece has :data:`FIRST_CHUNK_FRAMES`, each next one twice the last, up to
    :data:`LARGEST_CHUNK_FRAMES`. A remainder shorter than half a piece joins the piece before.
    """
    bounds: list[tuple[int, int]] = []
    start, size = 0, FIRST_CHUNK_FRAMES
    while start < frames:
        end = min(frames, start + size)
        if frames - end < size // 2:
            end = frames
        bounds.append((start, end))
        start, size = end, min(2 * size, LARGEST_CHUNK_FRAMES)
    return bounds


class PiperTts:
    """A piper voice. :meth:`stream` yields float32 mono audio at :attr:`sample_rate`.

    Loudness: piper scales each sentence so that its peak is 1.0. Streamed
    pieces cannot be scaled by their own peaks (the gain would jump from piece
    to piece), and a sentence's peak is not known until its end. Instead every
    piece gets one fixed gain, :attr:`gain`, set at load time from the peak of
    :data:`CALIBRATION_TEXT` spoken with the noise off, and is clipped to
    [-1, 1]. For en_US-joe a raw sentence peaks between 0.42 and 0.68 and the
    calibration text at 0.66, so speech comes out about as loud as piper's
    (within ~2 dB) and an unusually loud sentence clips a little at its peaks.
    """

    def __init__(self, model_path: Path, threads: int = 1, rate: float = 1.0) -> None:
        from piper import PiperVoice
        from piper.config import PiperConfig

        path = Path(model_path)
        config_path = path.with_name(path.name + ".json")
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"cannot read the voice's config {config_path}: {error}") from None
        self.sample_rate = config.sample_rate
        self.rate = rate
        self.gain = 1.0
        self._config = config
        self._lock = threading.Lock()  # phonemizers cache state; one inference at a time
        self._whole: onnxruntime.InferenceSession | None = None
        self._encoder: onnxruntime.InferenceSession | None = None
        self._decoder: onnxruntime.InferenceSession | None = None
        self._latent = ""
        self._decoder_inputs: tuple[str, ...] = ()
        self._load_sessions(path, threads)
        # Piper's own session is never run: PiperVoice is used for text → phoneme ids.
        self.voice = PiperVoice(session=self._whole or self._encoder, config=config)
        try:
            self.gain = self._calibrated_gain()  # also warms the sessions up
        except RuntimeError as error:
            if self._whole is not None:
                raise
            log.warning("the voice %s cannot be streamed (%s); it runs whole", path.name, error)
            self._encoder = self._decoder = None
            self._whole = voice_session(path, threads)
            self.gain = self._calibrated_gain()

    @property
    def streams(self) -> bool:
        """True if sentences are decoded in pieces, False if the voice's graph runs whole."""
        return self._whole is None

    def stream(
        self,
        text: str,
        *,
        noise_scale: float | None = None,
        noise_w: float | None = None,
        slower: float = 1.0,
    ) -> Generator[np.ndarray, None, None]:
        """Speak ``text``: float32 mono pieces at :attr:`sample_rate`, each as soon as it is ready.

        ``noise_scale`` and ``noise_w`` (the voice's own by default) set how much
        random variation VITS adds to the sound and to the phonemes' lengths; 0
        makes the output deterministic. Nothing is yielded for text with nothing
        to say. ``slower`` (below 1) speaks at that share of the voice's rate: a repeat for
        a student who asked "more slowly, please". Safe to call from several threads:
        each model run takes the lock, but it is never held while a piece waits to be
        consumed.
        """
        config = self._config
        scales = np.array(
            [
                config.noise_scale if noise_scale is None else noise_scale,
                config.length_scale / (self.rate * slower),
                config.noise_w_scale if noise_w is None else noise_w,
            ],
            dtype=np.float32,
        )
        with self._lock:
            sentences = self.voice.phonemize(text)
            phoneme_ids = [
                self.voice.phonemes_to_ids(phonemes) for phonemes in sentences if phonemes
            ]
        for ids in phoneme_ids:
            inputs: dict[str, np.ndarray] = {
                "input": np.array([ids], dtype=np.int64),
                "input_lengths": np.array([len(ids)], dtype=np.int64),
                "scales": scales,
            }
            if config.num_speakers > 1:
                inputs["sid"] = np.array([config.default_speaker_id], dtype=np.int64)
            for piece in self._decode(inputs):
                if piece.size:
                    yield np.clip(piece * self.gain, -1.0, 1.0).astype(np.float32)

    def synthesize(self, text: str) -> np.ndarray:
        """All of :meth:`stream` ``(text)`` in one array."""
        pieces = list(self.stream(text))
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    def _decode(self, inputs: dict[str, np.ndarray]) -> Iterator[np.ndarray]:
        """One sentence's raw audio, piece by piece."""
        if self._whole is not None:
            with self._lock:
                audio = self._whole.run(None, inputs)[0]
            yield audio.reshape(-1)
            return
        assert self._encoder is not None and self._decoder is not None
        with self._lock:
            latent = self._encoder.run([self._latent], inputs)[0]
        extra = {name: inputs[name] for name in self._decoder_inputs}
        hop, frames = self._config.hop_length, latent.shape[-1]
        for start, end in chunk_bounds(frames):
            low, high = max(0, start - CONTEXT_FRAMES), min(frames, end + CONTEXT_FRAMES)
            window = np.ascontiguousarray(latent[..., low:high])
            with self._lock:
                audio = self._decoder.run(None, {self._latent: window, **extra})[0].reshape(-1)
            if audio.size != (high - low) * hop:
                raise RuntimeError(
                    f"the decoder gave {audio.size} samples for {high - low} frames, "
                    f"not {hop} per frame"
                )
            yield audio[(start - low) * hop : (end - low) * hop]

    def _load_sessions(self, path: Path, threads: int) -> None:
        """Encoder and decoder sessions of the voice (cut once, then kept), or the whole voice."""

        try:
            split = voice_graph.cached_split(path, voice_cache_dir())
        except RuntimeError as error:
            log.warning("%s; the voice %s runs whole", error, path.name)
            split = None
        else:
            if split is None:
                log.warning("the voice %s has no decoder to cut off; it runs whole", path.name)
        if split is None:
            self._whole = voice_session(path, threads)
        else:
            self._encoder = voice_session(split.encoder, threads)
            self._decoder = voice_session(split.decoder, threads)
            self._latent, self._decoder_inputs = split.latent, split.decoder_inputs
        release_free_memory()

    def _calibrated_gain(self) -> float:
        """The gain that brings :data:`CALIBRATION_TEXT`'s raw peak to 1.0 (at most MAX_GAIN)."""
        self.gain = 1.0
        pieces = list(self.stream(CALIBRATION_TEXT, noise_scale=0.0, noise_w=0.0))
        peak = max((float(np.abs(piece).max()) for piece in pieces), default=0.0)
        return min(MAX_GAIN, 1.0 / peak) if peak > 1.0 / MAX_GAIN else MAX_GAIN
