"""Speech to text with whisper.cpp, through pywhispercpp.

The model is loaded once and kept warm. Whisper's encoder normally looks at a
30 s window whatever the utterance's length; ``audio_ctx`` tells it to look only
at as many 20 ms frames as the utterance has (plus a margin), which makes a
4 s question about four times faster with the same words.

With a shortened window, whisper sometimes says a whole sentence twice (it
cannot see where the audio ends); a margin of 256 frames (5 s) past the
utterance avoids most of that, at half again the cost. Three guards make a
64-frame margin as good (measured on the bench utterances: WER 1.0% with either,
median 275 ms against 420 ms on one thread): no retries at higher temperatures,
a token cap that scales with the utterance (also bounding a decode that would
run on forever), and dropping any sentence that repeats an earlier one word for
word, or starts it over and is cut off.

No garbage transcript leaves this module. Every attempt is checked by
:func:`appliance.speech.degenerate.degeneracy` (a letter held on, a word or a
few looping, more words than the audio can hold). A degenerate first attempt is
retried once, with whisper's full 30 s window (which sees where the speech
ends: measured on looping audio, it turned "1. 1. 1. 1. 1. 1." into "1." and
"He was not an old S-E-E-E-E-E-E-E…" into "He was not an old S-E-E."), and
that retry is cut off after ``retry_seconds``. If it still fails,
:meth:`WhisperStt.hear` says so in its :class:`Transcript`
(``unintelligible=True``, ``text=""``, and the ``reason``), so the engine can
say the language's ``not_caught`` line ("Sorry, I didn't catch that. Please
say it again.") instead of answering nonsense. :meth:`WhisperStt.transcribe`
keeps its old shape (text only) and returns ``""`` then.

pywhispercpp crashes the whole process on a malformed model file, so the file
is checked (:func:`appliance.speech.whisper_ggml.validate_ggml`) before loading.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.speech.degenerate import degeneracy, without_annotations

log = logging.getLogger(__name__)

RATE = 16000
FULL_WINDOW_FRAMES = 1500  # 30 s at 50 encoder frames per second
FRAMES_PER_SECOND = 50
# Fast speech is about 4 words, or 6 tokens, a second.
MAX_TOKENS_PER_SECOND = 10
# The retry after a degenerate transcript: the full window, cut off after this long.
RETRY_SECONDS = 3.0
# A retry of an attempt that already had the full window samples a little warmer instead.
RETRY_TEMPERATURE = 0.4


def audio_ctx_for(seconds: float, margin_frames: int = 64, minimum: int = 128) -> int:
    """Encoder frames to look at for an utterance of ``seconds``."""
    frames = math.ceil(seconds * FRAMES_PER_SECOND) + margin_frames
    return int(min(FULL_WINDOW_FRAMES, max(minimum, frames)))


@dataclass(frozen=True)
class Transcript:
    """What :meth:`WhisperStt.hear` made of some audio.

    ``text`` is the words, ``""`` for silence, for sounds that are not words (whisper's
    "[MUSIC PLAYING]" or "(imitates" are taken out) or when nothing trustworthy came
    of the audio. ``unintelligible`` is True when speech-like audio gave only
    degenerate text, even after the retry: the student should be asked to say it
    again. ``reason`` says why for the log ("'no' comes 22 times in a row").
    ``attempts`` is 1, or 2 after a retry. ``stopped`` is True when
    ``should_stop`` ended the work early: the text is then whatever was decoded
    by that time (still never degenerate), and nobody should answer it.
    """

    text: str
    unintelligible: bool = False
    reason: str = ""
    attempts: int = 1
    stopped: bool = False


class WhisperStt:
    """A warm whisper.cpp model. :meth:`hear` and :meth:`transcribe` take 16 kHz mono
    float32 audio; ``retry_seconds`` bounds the one retry of a degenerate transcript."""

    def __init__(
        self,
        model_path: Path,
        language: str = "en",
        threads: int = 2,
        *,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        if not retry_seconds > 0:
            raise ValueError(f"retry_seconds must be more than 0, got {retry_seconds!r}")
        self.retry_seconds = retry_seconds
        from pywhispercpp.model import Model

        from appliance.speech.whisper_ggml import validate_ggml

        validate_ggml(Path(model_path))
        self.language = language
        # One whisper context: a guess made during a pause and a turn must not share it at once.
        self._lock = threading.Lock()
        self.model = Model(
            str(model_path),
            n_threads=threads,
            redirect_whispercpp_logs_to=None,
            print_progress=False,
            print_realtime=False,
            print_timestamps=False,
            no_context=True,
            single_segment=True,
            suppress_blank=True,
            # No retries at higher temperatures: on a repeat they took a minute, not 0.2 s.
            temperature_inc=0.0,
            language=language,
        )
        self.transcribe(np.zeros(RATE // 2, dtype=np.float32))  # warm up

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        fit_window: bool = True,
        should_stop: Callable[[], bool] | None = None,
    ) -> str:
        """The words in ``audio``, ``""`` if there are none or they are unintelligible
        (see :meth:`hear`). ``fit_window=False`` uses the full 30 s window (the baseline)."""
        return self.hear(audio, fit_window=fit_window, should_stop=should_stop).text

    def hear(
        self,
        audio: np.ndarray,
        *,
        fit_window: bool = True,
        should_stop: Callable[[], bool] | None = None,
        prompt: str = "",
    ) -> Transcript:
        """Transcribe ``audio``; retry once if the text is degenerate; never return it.

        The first attempt looks at a window fitted to the audio (or the full window
        with ``fit_window=False``). A degenerate result is tried again with the full
        window (or, if that was the first attempt, at temperature
        :data:`RETRY_TEMPERATURE`), for at most ``retry_seconds``. If that fails
        too, the :class:`Transcript` is ``unintelligible``. ``should_stop`` is polled
        during decoding; when it returns True the work ends early (``stopped``).
        ``prompt`` is whisper's initial prompt: the lesson's target words
        (:func:`appliance.lessons.vocabulary.recognition_hint`); with them, WER in noise
        went from 18.3% to 10.8% and from 11.8% to 9.7% clean, on 16 sentences
        (``bench/target_word_hints.py``). Raises :class:`ValueError` for audio that is
        not one-dimensional.
        """
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"expected mono audio (one dimension), got shape {audio.shape}")
        seconds = len(audio) / RATE
        stop = should_stop or _never
        first_ctx = audio_ctx_for(seconds) if fit_window else 0  # 0: whisper's full window
        text = self._decode(audio, first_ctx, 0.0, stop, prompt)
        reason = degeneracy(text, seconds)
        if reason is None:
            return Transcript(text, stopped=stop())
        if stop():
            return Transcript("", reason=reason, stopped=True)
        log.info("whisper gave a degenerate transcript (%s): %.120r; trying again", reason, text)
        retry_ctx, temperature = (0, 0.0) if first_ctx else (0, RETRY_TEMPERATURE)
        deadline = time.monotonic() + self.retry_seconds

        def out_of_time() -> bool:
            return stop() or time.monotonic() > deadline

        text = self._decode(audio, retry_ctx, temperature, out_of_time, prompt)
        if stop():
            return Transcript("", reason=reason, attempts=2, stopped=True)
        if time.monotonic() > deadline:
            reason = f"{reason}; the retry took over {self.retry_seconds:g} s"
        elif (again := degeneracy(text, seconds)) is None:
            return Transcript(text, attempts=2)
        else:
            reason = f"{reason}; then {again}"
        log.warning("whisper could not make out the speech (%s): asking again", reason)
        return Transcript("", unintelligible=True, reason=reason, attempts=2)

    def _decode(
        self,
        audio: np.ndarray,
        audio_ctx: int,
        temperature: float,
        stop: Callable[[], bool],
        prompt: str = "",
    ) -> str:
        seconds = len(audio) / RATE
        with self._lock:
            # pywhispercpp keeps parameters from call to call: each is set every time.
            segments = self.model.transcribe(
                audio,
                audio_ctx=audio_ctx,
                temperature=temperature,
                max_tokens=math.ceil(seconds * MAX_TOKENS_PER_SECOND) + 16,
                language=self.language,
                initial_prompt=prompt,  # "" too: a prompt once given would stay otherwise
                abort_callback=stop,
            )
        text = without_repeats(" ".join(segment.text.strip() for segment in segments))
        return without_annotations(text)


def _never() -> bool:
    return False


def without_repeats(text: str) -> str:
    """``text`` without sentences that repeat an earlier one (or start it over, cut off)."""
    kept: list[str] = []
    said: list[list[str]] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        words = re.findall(r"[a-z0-9']+", sentence.lower())
        if words and any(earlier[: len(words)] == words for earlier in said):
            continue
        said.append(words)
        kept.append(sentence)
    return " ".join(kept).strip()
