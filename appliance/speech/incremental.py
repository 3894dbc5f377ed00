"""Transcribing a long turn while it is still being spoken.

Whisper's time grows with the audio, and after release a student waits for all of
it (``parlo bench --scaling``: 1.6 s for a 10 s turn, 1.7 s for 20 s, README). But
students pause while they speak, and a pause is silence: no word runs across it.
:class:`IncrementalTranscriber` transcribes the speech so far at each pause, on its
own thread, while the student goes on. At release the turn's words come, in this
order of preference, from:

1. **ready**: the transcription made at the last pause, if it covers the whole
   turn (the student stopped, then let go): the very words whisper gives for
   the whole turn, as the pause guess (``engine/recording.py``) gives them;
2. **waited**: that transcription still running, if it will be done sooner than a
   tail would be;
3. **joined**: the transcription made at a pause, then the *tail* (the speech after
   that pause) transcribed alone, the two texts put together. The tail starts inside
   the pause, so the two share no audio and no word;
4. **whole**: the whole turn, transcribed after release, if no pause leaves a tail.

The tail is as long as whisper transcribes in ``budget_seconds`` at the speed it ran
at during the turn, and never shorter than ``min_tail_seconds``: whisper hears the
first words of audio worse with less before them.

What was measured (``bench/stt_incremental.py`` in real time, and
``bench/stt_incremental_variants.py`` replaying the same transcriptions for other ways;
both in ``bench/results/stt_incremental.txt``: 24 long turns of real speech, 10-24 s,
clean and in a classroom mix, released 0.3 s after the last word):

- **It costs WER**, which is why ``stt.incremental`` is off by default: against the
  whole turn heard at once, base +2.4 points clean and +3.8 in the classroom mix,
  tiny.en -0.2 and +4.6 (turns heard worse / better: 11/5, 12/5, 9/3, 8/3). Whisper
  hears the first words of a tail, and the last words before a pause, worse than with
  the rest of the turn around them.
- **A cleverer join is not the cure.** Replayed on the same transcriptions (base /
  tiny.en, clean / classroom): the texts put together, as here, cost +0.2 / +1.5 and
  +3.2 / +3.4 points; joining the tail on by word overlap with a later transcription
  that ran past its start (this class's first version) +1.2 / -0.8 and +0.2 / +1.8,
  better for tiny.en but not for base; the words before the tail as whisper's prompt
  +3.5 / +1.3 and +5.7 / +2.7; dropping a run of words the tail "heard twice" changed
  no turn. Even the best cut between the two texts, picked with the reference's help,
  cost +1.2 to +1.3 points on the typical base turn: most of the loss is in hearing
  a tail alone, not in the join.
- **Stopping a transcription is not instant.** whisper.cpp (pywhispercpp 1.5.1) looks
  at the stop request only after the encoder's whole pass, then after each token: a
  transcription of the turn so far that is running at release holds the tail back by
  the rest of its encoder pass. On the bench's box (shared with other work), base's
  words came 1.6 s after release (median) against 1.7 s for the whole turn, tiny.en's
  0.6 s against 0.8 s clean and 0.35 s against 0.7 s in the classroom mix.

It knows nothing of models or microphones: it is given a ``hear`` function
(:meth:`appliance.speech.stt.WhisperStt.hear` in the box) and the speech so far
at each pause, so it is tested with a stand-in ``hear``::

    transcriber = IncrementalTranscriber(stt.hear, prompt=hint)
    transcriber.pause(speech_so_far)     # at each VAD pause while the button is held
    ...
    transcript = transcriber.finish(speech)   # at release: the whole turn's Transcript

``speech_so_far`` and ``speech`` are the same recording as it grows: they must
start at the same sample (the VAD's trimmed speech, whose start is fixed once
the first word is heard) and each must be at least as long as the last.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from appliance.speech.degenerate import degeneracy
from appliance.speech.stt import RATE, Transcript

# A pause this early in the turn is not worth a transcription of its own.
MIN_CHUNK_SECONDS = 1.5
# After release, whisper transcribes at most what it can in this time (at the speed it
# ran at during the turn): with the planner and the voice's first chunk (about 0.15 s),
# a reply starts within about 0.5 s of release however long the turn.
BUDGET_SECONDS = 0.3
# ...but the tail is never shorter than this (see the module's docstring).
MIN_TAIL_SECONDS = 3.0

Hear = Callable[..., Transcript]
Way = Literal["", "ready", "waited", "joined", "whole"]


@dataclass(frozen=True)
class _Heard:
    """A transcription of the turn's first ``end`` samples."""

    end: int
    transcript: Transcript


@dataclass
class _Running:
    """The transcription being made: of the first ``end`` samples, since ``started``."""

    end: int
    started: float
    stop: threading.Event = field(default_factory=threading.Event)


class IncrementalTranscriber:
    """One turn's transcript, made mostly while it is spoken (see the module).

    ``hear(audio, should_stop=..., prompt=...)`` must return a :class:`Transcript`.
    Transcriptions run one at a time on a worker thread named ``stt-chunks_0``; a
    pause that comes while one runs waits for it (only the newest waiting pause is
    transcribed). :meth:`finish` and :meth:`cancel` end the worker. An instance
    serves one turn.
    """

    def __init__(
        self,
        hear: Hear,
        *,
        prompt: str = "",
        rate: int = RATE,
        min_chunk_seconds: float = MIN_CHUNK_SECONDS,
        min_tail_seconds: float = MIN_TAIL_SECONDS,
        budget_seconds: float = BUDGET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be a positive number of samples a second, got {rate!r}")
        for name, value in (
            ("min_chunk_seconds", min_chunk_seconds),
            ("min_tail_seconds", min_tail_seconds),
            ("budget_seconds", budget_seconds),
        ):
            if not value >= 0:
                raise ValueError(f"{name} must be 0 or more, got {value!r}")
        self._hear = hear
        self._prompt = prompt
        self._rate = rate
        self._min_chunk = int(min_chunk_seconds * rate)
        self._min_tail = int(min_tail_seconds * rate)
        self._budget = budget_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()  # cancel()
        self._caller_stop: Callable[[], bool] = _never  # finish()'s should_stop
        self._heard: list[_Heard] = []  # transcriptions made, oldest first
        self._waiting: np.ndarray | None = None  # the newest pause not yet transcribed
        self._running: _Running | None = None
        self._scheduled = 0  # the longest speech handed in so far, in samples
        self._seconds_per_sample = 0.0  # how fast the last transcription ran (0: unknown)
        self._worker: ThreadPoolExecutor | None = None
        self._task: Future[None] | None = None
        self._finished = False
        self.way: Way = ""  # how finish() came by the words (the module's list)
        self.tail_seconds_after_release = 0.0  # what finish() had left to transcribe

    @property
    def ready_at_release(self) -> bool:
        """Whether finish() used a transcription started before release."""
        return self.way in ("ready", "waited")

    @property
    def scheduled_seconds(self) -> float:
        """How much of the turn has been handed to whisper before release."""
        return self._scheduled / self._rate

    @property
    def transcriptions(self) -> int:
        """How many transcriptions were made while the button was held."""
        return len(self._heard)

    def pause(self, speech_so_far: np.ndarray) -> bool:
        """The student paused: transcribe the speech so far in the background (if it is
        long enough and has grown). Returns at once: True if it was taken. A pause after
        :meth:`finish` or :meth:`cancel` (a VAD thread a block behind) is ignored.
        Raises :class:`ValueError` if ``speech_so_far`` is shorter than an earlier one
        or not mono."""
        audio = self._check(speech_so_far)
        with self._lock:
            if self._finished:
                return False
            if len(audio) < max(self._min_chunk, 1) or len(audio) == self._scheduled:
                return False
            self._scheduled = len(audio)
            self._waiting = audio.copy()
            if self._task is None or self._task.done():
                if self._worker is None:
                    self._worker = ThreadPoolExecutor(
                        max_workers=1, thread_name_prefix="stt-chunks"
                    )
                self._task = self._worker.submit(self._work)
            return True

    def finish(
        self, speech: np.ndarray, should_stop: Callable[[], bool] | None = None
    ) -> Transcript:
        """The button was released: the whole turn's :class:`Transcript`, the first of
        the module's four ways that applies (:attr:`way` says which).

        A transcription of exactly ``speech`` still running is waited for if it should
        be done before the tail would be; any other is stopped. Unintelligible if the
        tail is (no words of the turn are given, so nothing half-heard is answered);
        ``stopped`` if ``should_stop`` says so or :meth:`cancel` was called. If the
        joined text is degenerate (a loop across the join), the whole turn is
        transcribed again."""
        audio = self._check(speech)
        end = len(audio)

        def stopped() -> bool:
            return self._stop.is_set() or self._caller_stop()

        with self._lock:
            if self._stop.is_set():
                return Transcript("", stopped=True)  # cancelled
            if self._finished:
                raise ValueError("finish() twice: an IncrementalTranscriber serves one turn")
            self._finished = True
            self._caller_stop = should_stop or _never  # a transcription waited for stops too
            self._waiting = None
            running = self._running
            if running is not None and not self._worth_waiting_for(running, end):
                running.stop.set()
        self._shut_down()
        if stopped():
            return Transcript("", stopped=True)
        heard = list(self._heard)
        if heard and heard[-1].end == end:
            self.way = "waited" if running is not None and running.end == end else "ready"
            return heard[-1].transcript
        start = self._start_of_tail(end)
        if start is None:  # too short to split: the whole turn, as without this class
            return self._whole(audio, stopped)
        self.way = "joined"
        self.tail_seconds_after_release = (end - start.end) / self._rate
        tail = self._hear(
            np.ascontiguousarray(audio[start.end :]), should_stop=stopped, prompt=self._prompt
        )
        if tail.stopped or stopped():
            return Transcript("", stopped=True)
        if tail.unintelligible:
            return tail
        text = " ".join(part for part in (start.transcript.text, tail.text) if part)
        if degeneracy(text, end / self._rate) is not None:
            return self._whole(audio, stopped)
        return Transcript(text, attempts=tail.attempts)

    def cancel(self) -> None:
        """Stop now (a barge-in, a cancelled turn): the transcription running is
        abandoned, no other is started, and the worker thread ends."""
        self._stop.set()
        with self._lock:
            self._finished = True
            self._waiting = None
        self._shut_down()

    # --- the worker ---

    def _work(self) -> None:
        while True:
            with self._lock:
                audio, self._waiting = self._waiting, None
                if audio is None or self._finished:
                    return
                running = self._running = _Running(len(audio), self._clock())

            def should_stop(stop: threading.Event = running.stop) -> bool:
                return stop.is_set() or self._stop.is_set() or self._caller_stop()

            heard = self._hear(audio, should_stop=should_stop, prompt=self._prompt)
            with self._lock:
                self._running = None
                if not (heard.stopped or heard.unintelligible or should_stop()):
                    self._heard.append(_Heard(len(audio), heard))
                    if heard.attempts == 1:  # a retry's time says nothing of the next one
                        took = self._clock() - running.started
                        self._seconds_per_sample = max(took, 0.0) / len(audio)

    def _whole(self, audio: np.ndarray, stopped: Callable[[], bool]) -> Transcript:
        self.way = "whole"
        self.tail_seconds_after_release = len(audio) / self._rate
        return self._hear(audio, should_stop=stopped, prompt=self._prompt)

    def _tail_samples(self) -> int:
        """The shortest tail: what ``budget_seconds`` transcribes at the speed measured."""
        fits = self._budget / self._seconds_per_sample if self._seconds_per_sample else 0.0
        return max(self._min_tail, int(fits), 1)

    def _start_of_tail(self, end: int) -> _Heard | None:
        """The transcription whose end the tail starts at: the latest that leaves a tail
        of at least :meth:`_tail_samples`."""
        shortest = self._tail_samples()
        for heard in reversed(self._heard):
            if end - heard.end >= shortest:
                return heard
        return None

    def _worth_waiting_for(self, running: _Running, end: int) -> bool:
        """Whether the transcription running should be done before the tail would be."""
        elapsed = self._clock() - running.started
        if running.end != end:
            return False  # the student went on after that pause
        start = self._start_of_tail(end)
        if start is None:
            return True  # the other way is the whole turn again
        speed = self._seconds_per_sample
        return running.end * speed - elapsed <= (end - start.end) * speed

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


def _never() -> bool:
    return False
