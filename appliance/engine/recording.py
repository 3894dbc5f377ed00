"""Recording one turn: microphone blocks through the VAD while the button is held.

:class:`Recording` holds a turn's audio as it arrives, and :meth:`Recording.run`
(on a thread of its own) feeds each block to the VAD. In tap mode it ends the
turn on silence. While the student pauses with the button still held, it has
what was said so far transcribed, in one of two ways (``stt.incremental``):

- as a :class:`PauseGuess` of the whole turn so far (the default), dropped if the
  student goes on: the words are ready at release only when the student paused
  long enough before letting go;
- or incrementally (``stt.incremental = true``): each pause's speech so far goes to
  an :class:`~appliance.speech.incremental.IncrementalTranscriber`, which keeps its
  transcriptions even when the student goes on, so after release only the last
  few seconds are left to transcribe, however long the turn, at a cost in WER
  (measured in ``bench/results/stt_incremental.txt``).

:meth:`Recording.transcribe` gives the turn's words.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from appliance.speech.incremental import IncrementalTranscriber
from appliance.speech.protocols import SpeechToText
from appliance.speech.stt import Transcript
from appliance.speech.vad import VadStream

MAX_LISTEN_SECONDS = 30.0
NO_SPEECH_TIMEOUT = 6.0


@dataclass(frozen=True)
class ListenSettings:
    """How a recording listens (from the config's ``vad`` and ``stt`` sections)."""

    min_speech_ms: int
    pad_ms: int
    guess_after_pause: float  # seconds of pause before a guess starts; 0: never
    end_after_silence: float | None = None  # tap mode: end the turn after this silence
    prompt: str = ""  # whisper's initial prompt: the lesson's target words
    incremental: bool = False  # transcribe at each pause, keeping what was heard (module doc)


class PauseGuess(threading.Thread):
    """A transcription started during a pause while the button is still held."""

    def __init__(
        self, stt: SpeechToText, speech: np.ndarray, last_speech_frame: int, prompt: str = ""
    ) -> None:
        super().__init__(name="stt-guess", daemon=True)
        self.stt = stt
        self.speech = speech
        self.last_speech_frame = last_speech_frame
        self.prompt = prompt
        self.heard = Transcript("")
        self.stale = threading.Event()

    def run(self) -> None:
        self.heard = self.stt.hear(self.speech, should_stop=self.stale.is_set, prompt=self.prompt)

    def drop(self) -> None:
        self.stale.set()
        self.join()


class Recording:
    """One turn's audio: blocks queued by the microphone, fed to ``stream`` (the VAD)."""

    def __init__(self, stream: VadStream) -> None:
        self.stream = stream
        self.blocks: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self.done = threading.Event()  # every block has been through the VAD
        self.vad_seconds = 0.0  # time spent in the VAD
        self.guess: PauseGuess | None = None
        self.guesses_used = 0
        self.incremental: IncrementalTranscriber | None = None
        self._paused_at = -1  # the last speech frame before the pause last handed over
        self._dropped = False  # cancelled: no transcription may start from now on
        self._lock = threading.Lock()

    def end(self) -> None:
        """No more blocks: what the microphone delivers after this is not heard."""
        self.blocks.put(None)

    def drop_guess(self) -> None:
        """The turn is cancelled: stop whatever is being transcribed for it."""
        with self._lock:
            self._dropped = True
            incremental = self.incremental
        if self.guess is not None:
            self.guess.stale.set()
        if incremental is not None:
            incremental.cancel()

    def heard_speech(self, min_speech_ms: int) -> bool:
        return self.stream.heard_speech(min_speech_ms)

    def run(
        self,
        settings: ListenSettings,
        stt: SpeechToText,
        is_current: Callable[[], bool],
        finish: Callable[[], None],
    ) -> None:
        """Feed each block to the VAD until :meth:`end`; call ``finish`` when the turn
        should end by itself (silence in tap mode, nothing said, or too long).

        ``is_current`` says whether this recording is still the turn being listened to;
        once released or cancelled, the rest is only drained.
        """
        started = time.monotonic()
        while (block := self.blocks.get()) is not None:
            begun = time.perf_counter()
            self.stream.feed(block)
            self.vad_seconds += time.perf_counter() - begun
            if not is_current():
                continue
            listened = time.monotonic() - started
            spoke = self.stream.heard_speech(settings.min_speech_ms)
            silence = self.stream.seconds_of_trailing_silence()
            self._guess_during_pause(settings, stt, spoke, silence)
            end = settings.end_after_silence
            ended_by_silence = end is not None and (
                (spoke and silence >= end) or (not spoke and listened > NO_SPEECH_TIMEOUT)
            )
            if ended_by_silence or listened > MAX_LISTEN_SECONDS:
                finish()
        self.done.set()

    def speech(self, settings: ListenSettings) -> np.ndarray | None:
        """The speech heard, padded, or None if there was none."""
        return self.stream.speech(settings.min_speech_ms, settings.pad_ms)

    def transcribe(
        self,
        stt: SpeechToText,
        speech: np.ndarray,
        should_stop: Callable[[], bool],
        prompt: str = "",
    ) -> Transcript:
        """What was heard in ``speech``: from the transcriptions made while it was spoken
        (incrementally, or the guess made during the last pause if it still holds), never
        a degenerate transcript (see :meth:`WhisperStt.hear`)."""
        with self._lock:
            incremental = self.incremental
        if incremental is not None:
            heard = incremental.finish(speech, should_stop)
            self.guesses_used += incremental.ready_at_release
            return heard
        guess = self.guess
        if guess is not None:
            if guess.last_speech_frame == self.stream.last_speech_frame:
                guess.join()
                if not guess.stale.is_set():
                    self.guesses_used += 1
                    return guess.heard
            guess.drop()
        return stt.hear(speech, should_stop=should_stop, prompt=prompt)

    def _guess_during_pause(
        self, settings: ListenSettings, stt: SpeechToText, spoke: bool, silence: float
    ) -> None:
        if settings.incremental:
            self._transcribe_during_pause(settings, stt, spoke, silence)
            return
        guess, stream = self.guess, self.stream
        if guess is not None and guess.last_speech_frame != stream.last_speech_frame:
            guess.drop()  # the student went on speaking
            self.guess = guess = None
        pause = settings.guess_after_pause
        if guess is None and spoke and pause and silence >= pause:
            speech = stream.speech(settings.min_speech_ms, settings.pad_ms)
            if speech is not None:
                self.guess = PauseGuess(stt, speech, stream.last_speech_frame, settings.prompt)
                self.guess.start()

    def _transcribe_during_pause(
        self, settings: ListenSettings, stt: SpeechToText, spoke: bool, silence: float
    ) -> None:
        """At each new pause, hand the speech so far to the incremental transcriber."""
        stream, pause = self.stream, settings.guess_after_pause
        if not (spoke and pause and silence >= pause):
            return
        if stream.last_speech_frame == self._paused_at:
            return  # this pause was handed over already
        self._paused_at = stream.last_speech_frame
        speech = stream.speech(settings.min_speech_ms, settings.pad_ms)
        if speech is None:
            return
        with self._lock:
            if self._dropped:
                return
            if self.incremental is None:
                self.incremental = IncrementalTranscriber(stt.hear, prompt=settings.prompt)
            incremental = self.incremental
        incremental.pause(speech)
