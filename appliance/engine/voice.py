"""The voice of one reply: pieces of text in, audio to the speaker, in order.

The reply is written (by the planner or the model) while the voice speaks: piece
*n* is played while piece *n + 1* is synthesized. :class:`Voice` runs on its own
thread for one turn; the engine queues pieces with :meth:`Voice.say` and ends the
turn with :meth:`Voice.finish`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from contextlib import closing

import numpy as np

from appliance.audio.devices import Speaker
from appliance.lessons.text import speakable, word_count
from appliance.speech.protocols import TextToSpeech


class Voice(threading.Thread):
    """Synthesizes a reply's pieces in order and hands them to the speaker as they are ready.

    ``cancelled`` is polled between audio chunks: a barge-in stops the voice within
    one chunk. ``on_first_audio`` is called when the reply's first audio is handed to
    the speaker (the engine shows SPEAKING then). ``slow_rate`` is the share of the
    normal rate a slow piece is spoken at.
    """

    def __init__(
        self,
        tts: TextToSpeech,
        speaker: Speaker,
        *,
        cancelled: Callable[[], bool],
        on_first_audio: Callable[[], None],
        slow_rate: float,
    ) -> None:
        super().__init__(name="tts", daemon=True)
        self.tts = tts
        self.speaker = speaker
        self.cancelled = cancelled
        self.on_first_audio = on_first_audio
        self.slow_rate = slow_rate
        self.spoken: list[str] = []  # the pieces said, in order
        self.dropped = 0  # pieces left out (above the class's level, said before...)
        self.first_dropped = ""
        self.samples = 0  # audio samples handed to the speaker
        self.first_synthesis_ms: float | None = None
        self.first_audio_at: float | None = None
        self._pieces: queue.SimpleQueue[tuple[str, bool] | None] = queue.SimpleQueue()

    def say(self, piece: str, slow: bool = False) -> int:
        """Queue a piece of the reply (``slow``: at the slow rate); returns how many words
        it added (0 for a piece with nothing to say)."""
        text = speakable(piece)
        if text:
            self.spoken.append(text)
            self._pieces.put((text, slow))
        return word_count(text)

    def drop(self, piece: str) -> None:
        """Leave ``piece`` out of the reply."""
        self.dropped += 1
        self.first_dropped = self.first_dropped or piece

    def finish(self) -> None:
        """No more pieces: wait until the last one has been handed to the speaker."""
        self._pieces.put(None)
        self.join()

    def timings(self, released_at: float) -> dict[str, float]:
        """``tts_first_chunk`` and ``first_audio`` (from ``released_at``), in ms, if reached."""
        found = {}
        if self.first_synthesis_ms is not None:
            found["tts_first_chunk"] = self.first_synthesis_ms
        if self.first_audio_at is not None:
            found["first_audio"] = (self.first_audio_at - released_at) * 1000
        return found

    def run(self) -> None:
        while (queued := self._pieces.get()) is not None:
            text, slow = queued
            if self.cancelled():
                continue
            started = time.perf_counter()
            # The voice decodes a piece in chunks: the first is played while the rest decode.
            with closing(self.tts.stream(text, slower=self.slow_rate if slow else 1.0)) as chunks:
                for audio in chunks:
                    if self.first_synthesis_ms is None:
                        self.first_synthesis_ms = (time.perf_counter() - started) * 1000
                    if self.cancelled():
                        break
                    self._play(audio)

    def _play(self, audio: np.ndarray) -> None:
        if not len(audio):
            return
        if self.samples == 0:
            self.on_first_audio()
            self.speaker.play(audio, on_start=self._mark_first_audio)
        else:
            self.speaker.play(audio)
        self.samples += len(audio)

    def _mark_first_audio(self) -> None:
        self.first_audio_at = time.perf_counter()
