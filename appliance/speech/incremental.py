"""Transcribing a long turn while it is still being spoken.

Whisper needs about a sixth of the audio's length to transcribe it, and after
release a student waits for all of it: 1.6 s for a 10 s turn on tiny.en. But
students pause while they speak, and a pause is silence: no word runs across
it, so the speech before a pause is finished and cannot change, whatever comes
after. :class:`IncrementalTranscriber` transcribes each stretch of speech up to
a pause, on its own thread, while the student goes on; at release only the
stretch since the last pause (the tail) is left to transcribe.

It knows nothing of models or microphones: it is given a ``hear`` function
(:meth:`appliance.speech.stt.WhisperStt.hear` in the box) and the speech so far
at each pause, so it is tested with a stand-in ``hear`` and measured on real
speech by ``bench/stt_incremental.py``::

    transcriber = IncrementalTranscriber(stt.hear)
    transcriber.pause(speech_so_far)     # at each VAD pause while the button is held
    ...
    transcript = transcriber.finish(speech)   # at release: the whole turn's Transcript

``speech_so_far`` and ``speech`` are the same recording as it grows: they must
start at the same sample (the VAD's trimmed speech, whose start is fixed once
the first word is heard) and each must be at least as long as the last.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from appliance.speech.stt import RATE, Transcript

# A stretch shorter than this waits for the next pause: whisper hears a word or two
# worse than a phrase, and each transcription has a fixed cost.
MIN_CHUNK_SECONDS = 1.5
# A tail shorter than this after the last committed pause is the VAD's padding, not words.
MIN_TAIL_SECONDS = 0.3

Hear = Callable[..., Transcript]


class IncrementalTranscriber:
    """One turn's transcript, built stretch by stretch at the pauses (see the module).

    ``hear(audio, should_stop=...)`` must return a :class:`Transcript`. Stretches are
    transcribed one at a time, in order, on a worker thread named ``stt-chunks``;
    :meth:`finish` and :meth:`cancel` end it. An instance serves one turn.
    """

    def __init__(
        self,
        hear: Hear,
        *,
        rate: int = RATE,
        min_chunk_seconds: float = MIN_CHUNK_SECONDS,
        min_tail_seconds: float = MIN_TAIL_SECONDS,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be a positive number of samples a second, got {rate!r}")
        if min_chunk_seconds < 0 or min_tail_seconds < 0:
            raise ValueError(
                "min_chunk_seconds and min_tail_seconds must be 0 or more, got "
                f"{min_chunk_seconds!r} and {min_tail_seconds!r}"
            )
        self._hear = hear
        self._rate = rate
        self._min_chunk = int(min_chunk_seconds * rate)
        self._min_tail = int(min_tail_seconds * rate)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._scheduled = 0  # samples handed to the worker so far (the next stretch starts here)
        self._chunks: list[Future[Transcript]] = []
        self._worker: ThreadPoolExecutor | None = None
        self._finished = False

    @property
    def scheduled_seconds(self) -> float:
        """How much of the turn has been handed to whisper before release."""
        return self._scheduled / self._rate

    def pause(self, speech_so_far: np.ndarray) -> bool:
        """The student paused: transcribe the speech since the last stretch, if it is long
        enough, in the background. Returns at once: True if a stretch was started.
        Raises :class:`ValueError` if ``speech_so_far`` is shorter than an earlier one,
        not mono, or comes after :meth:`finish`."""
        audio = self._check(speech_so_far)
        with self._lock:
            if self._finished:
                raise ValueError("pause() after finish(): the turn is over")
            if len(audio) - self._scheduled < max(self._min_chunk, 1):
                return False
            chunk = audio[self._scheduled :].copy()
            self._scheduled = len(audio)
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stt-chunks")
            self._chunks.append(
                self._worker.submit(self._hear, chunk, should_stop=self._stop.is_set)
            )
            return True

    def finish(self, speech: np.ndarray) -> Transcript:
        """The button was released: wait for the stretches, transcribe the tail, and return
        the whole turn. Unintelligible if any stretch was (no words of it are given, so
        nothing half-heard is answered); ``stopped`` after :meth:`cancel`."""
        audio = self._check(speech)
        with self._lock:
            if self._finished:
                raise ValueError("finish() twice: an IncrementalTranscriber serves one turn")
            self._finished = True
            tail = audio[self._scheduled :]
        try:
            heard = [chunk.result() for chunk in self._chunks]
        finally:
            self._shut_down()
        if len(tail) >= max(self._min_tail, 1) and not self._stop.is_set():
            heard.append(self._hear(np.ascontiguousarray(tail), should_stop=self._stop.is_set))
        return join(heard, stopped=self._stop.is_set())

    def cancel(self) -> None:
        """Stop now (a barge-in, a cancelled turn): the stretch being transcribed is
        abandoned, the rest are not started, and the worker thread ends."""
        self._stop.set()
        with self._lock:
            self._finished = True
        for chunk in self._chunks:
            chunk.cancel()
        self._shut_down()

    def _shut_down(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)

    def _check(self, audio: np.ndarray) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"expected mono audio (one dimension), got shape {audio.shape}")
        if len(audio) < self._scheduled:
            raise ValueError(
                f"the speech so far is {len(audio)} samples, shorter than the {self._scheduled} "
                "already transcribed: pass the whole turn from its start each time"
            )
        return audio


def join(parts: list[Transcript], *, stopped: bool = False) -> Transcript:
    """The transcripts of consecutive stretches as one: their words in order, or
    unintelligible (with every reason) if any stretch was."""
    attempts = max((part.attempts for part in parts), default=1)
    if failed := [part for part in parts if part.unintelligible]:
        reason = "; ".join(part.reason for part in failed)
        return Transcript(
            "", unintelligible=True, reason=reason, attempts=attempts, stopped=stopped
        )
    text = " ".join(part.text for part in parts if part.text)
    return Transcript(text, attempts=attempts, stopped=stopped or any(p.stopped for p in parts))
