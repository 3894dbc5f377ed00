"""The incremental transcriber, with a stand-in whisper: words are runs of one sample value
(word k is k/100, held for 0.4 s), silence is zeros, so what it "hears" is exact."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from appliance.speech.incremental import IncrementalTranscriber, join
from appliance.speech.stt import RATE, Transcript

WORDS = ["", "I", "went", "to", "the", "market", "and", "bought", "green", "apples", "today"]
WORD = int(0.4 * RATE)
GAP = int(0.05 * RATE)  # between words
PAUSE = int(0.5 * RATE)  # where the student pauses


class StandIn:
    """Hears the words in its audio, and records each call's length."""

    def __init__(self, unintelligible_at: int | None = None) -> None:
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.unintelligible_at = unintelligible_at

    def __call__(self, audio: np.ndarray, *, should_stop=None) -> Transcript:
        self.calls.append(len(audio))
        self.threads.add(threading.current_thread().name)
        if self.unintelligible_at == len(self.calls):
            return Transcript("", unintelligible=True, reason="'na' comes 9 times in a row")
        values = np.round(audio * 100).astype(int)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], values, [0]])))
        found = [WORDS[values[start]] for start in edges[:-1] if values[start] > 0]
        return Transcript(" ".join(found))


def spoken(*phrases: list[int]) -> tuple[np.ndarray, list[int]]:
    """Audio of the phrases (word indexes), a pause after each; and where each pause ends
    the speech so far (the VAD's speech end plus its 0.15 s of padding)."""
    audio: list[np.ndarray] = []
    pauses = []
    for phrase in phrases:
        for word in phrase:
            audio += [np.full(WORD, word / 100, np.float32), np.zeros(GAP, np.float32)]
        pauses.append(sum(map(len, audio)) + int(0.15 * RATE))
        audio.append(np.zeros(PAUSE, np.float32))
    return np.concatenate(audio), pauses


def test_words_are_the_same_as_the_whole_turn_and_only_the_tail_waits_for_release():
    audio, pauses = spoken([1, 2, 3, 4, 5], [6, 7, 8, 9], [10])
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear)
    assert [transcriber.pause(audio[:end]) for end in pauses[:2]] == [True, True]
    heard = transcriber.finish(audio)
    assert heard.text == "I went to the market and bought green apples today"
    assert heard.text == StandIn()(audio).text  # the same words as all at once
    assert sum(hear.calls) == len(audio)  # every sample heard once: no overlap, no gap
    assert hear.calls[-1] == len(audio) - pauses[1]  # after release: only the tail
    assert transcriber.scheduled_seconds == pytest.approx(pauses[1] / RATE)
    assert any(name.startswith("stt-chunks") for name in hear.threads)


def test_a_short_stretch_waits_for_the_next_pause():
    audio, pauses = spoken([1], [2, 3, 4, 5], [6])  # "I" alone is 0.6 s
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear, min_chunk_seconds=1.5)
    assert transcriber.pause(audio[: pauses[0]]) is False
    assert transcriber.pause(audio[: pauses[1]]) is True
    assert transcriber.finish(audio).text == "I went to the market and"
    assert hear.calls[0] == pauses[1]  # "I" went with the next stretch


def test_release_right_after_a_pause_has_nothing_left_to_hear():
    audio, pauses = spoken([1, 2, 3, 4], [5, 6, 7])
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear)
    transcriber.pause(audio[: pauses[0]])
    transcriber.pause(audio[: pauses[1]])
    speech = audio[: pauses[1]]  # the VAD's speech at release ends where the pause began
    assert transcriber.finish(speech).text == "I went to the market and bought"
    assert len(hear.calls) == 2


def test_an_unintelligible_stretch_makes_the_turn_unintelligible():
    audio, pauses = spoken([1, 2, 3, 4], [5, 6, 7, 8], [9])
    transcriber = IncrementalTranscriber(StandIn(unintelligible_at=2))
    for end in pauses[:2]:
        transcriber.pause(audio[:end])
    heard = transcriber.finish(audio)
    assert heard.unintelligible and heard.text == ""
    assert heard.reason == "'na' comes 9 times in a row"


def test_cancel_abandons_the_stretch_and_ends_the_worker():
    started, released = threading.Event(), threading.Event()

    def slow(audio: np.ndarray, *, should_stop) -> Transcript:
        started.set()
        while not should_stop():
            released.wait(0.01)
        return Transcript("cut off", stopped=True)

    audio, pauses = spoken([1, 2, 3, 4], [5])
    transcriber = IncrementalTranscriber(slow)
    transcriber.pause(audio[: pauses[0]])
    assert started.wait(5)
    transcriber.cancel()
    with pytest.raises(ValueError, match=r"pause\(\) after finish\(\)"):
        transcriber.pause(audio)


def test_bad_calls_are_clear_errors():
    audio, pauses = spoken([1, 2, 3, 4], [5])
    transcriber = IncrementalTranscriber(StandIn())
    with pytest.raises(ValueError, match="expected mono audio"):
        transcriber.pause(np.zeros((2, 100), np.float32))
    transcriber.pause(audio[: pauses[0]])
    with pytest.raises(ValueError, match=r"shorter than the .* already transcribed"):
        transcriber.pause(audio[:100])
    transcriber.finish(audio)
    with pytest.raises(ValueError, match="finish\\(\\) twice"):
        transcriber.finish(audio)
    with pytest.raises(ValueError, match="rate must be a positive"):
        IncrementalTranscriber(StandIn(), rate=0)
    with pytest.raises(ValueError, match="must be 0 or more"):
        IncrementalTranscriber(StandIn(), min_chunk_seconds=-1)


def test_join_keeps_order_and_counts_the_retries():
    parts = [Transcript("I went"), Transcript(""), Transcript("home", attempts=2)]
    assert join(parts) == Transcript("I went home", attempts=2)
    assert join([]) == Transcript("")
