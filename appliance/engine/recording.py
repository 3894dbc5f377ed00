"""Recording one turn: microphone blocks through the VAD while the button is held.

:class:`Recording` holds a turn's audio as it arrives, and :meth:`Recording.run`
(on a thread of its own) feeds each block to the VAD. In tap mode it ends the
turn on silence. While the student pauses with the button still held, it starts
a :class:`PauseGuess`: a transcription of what was said so far. If the student
says nothing more, the words are ready at release; if they go on, the guess is
dropped. :meth:`Recording.transcribe` gives the turn's words, from the guess
when it still holds.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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

    def end(self) -> None:
        """No more blocks: what the microphone delivers after this is not heard."""
        self.blocks.put(None)

    def drop_guess(self) -> None:
        if self.guess is not None:
            self.guess.stale.set()

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
        """What was heard in ``speech``: the guess made during the pause, if it still
        holds (never a degenerate transcript: see :meth:`WhisperStt.hear`)."""
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
