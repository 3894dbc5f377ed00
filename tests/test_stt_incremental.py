"""The incremental transcriber, with a stand-in whisper (no model): words are runs of one
sample value (word k is k/100, held for 0.4 s), silence is zeros, so what it "hears" is
exact, and a test can make a call unintelligible or hold it until told. The real-model
test of a long turn is in tests/test_speech_loop.py."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from waiting import wait_until

from appliance.speech.incremental import IncrementalTranscriber
from appliance.speech.stt import RATE, Transcript

SAID = "I went to the market and bought green apples today with my sister because we needed"
WORDS = ["", *SAID.split(), "fruit", "for", "a", "cake"]  # "" is silence
WORD = int(0.4 * RATE)
GAP = int(0.05 * RATE)  # between words
PAUSE = int(0.5 * RATE)  # where the student pauses


def heard_words(audio: np.ndarray) -> list[str]:
    values = np.round(audio * 100).astype(int)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], values, [0]])))
    return [WORDS[values[start]] for start in edges[:-1] if values[start] > 0]


class StandIn:
    """Hears the words in its audio; records each call's length and prompt.
    ``unintelligible``: calls (by audio length) that only loop."""

    def __init__(self, unintelligible=()) -> None:
        self.calls: list[int] = []
        self.done: list[int] = []  # the calls that have returned
        self.prompts: list[str] = []
        self.threads: set[str] = set()
        self.unintelligible = unintelligible
        self.gate: threading.Event | None = None  # when set up, each call waits for it

    def __call__(self, audio: np.ndarray, *, should_stop=None, prompt: str = "") -> Transcript:
        self.calls.append(len(audio))
        self.prompts.append(prompt)
        self.threads.add(threading.current_thread().name)
        while self.gate is not None and not self.gate.wait(0.01):
            if should_stop is not None and should_stop():
                self.done.append(len(audio))
                return Transcript("", stopped=True)
        if len(audio) in self.unintelligible:
            heard = Transcript("", unintelligible=True, reason="'na' comes 9 times in a row")
        else:
            heard = Transcript(" ".join(heard_words(audio)))
        self.done.append(len(audio))
        return heard


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


LONG = ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, 13], [14, 15, 16, 17], [18, 19, 20])
SENTENCE = "I went to the market and bought green apples today with my sister because we needed fruit for a cake"  # noqa: E501


def held(
    transcriber: IncrementalTranscriber, hear: StandIn, audio: np.ndarray, pauses: list[int]
) -> None:
    """The button held: each pause handed over, and transcribed before the next one (as a
    box that keeps up: the speech between two pauses lasts longer than a transcription)."""
    for end in pauses:
        done = len(hear.done)
        assert transcriber.pause(audio[:end])
        wait_until(lambda done=done: len(hear.done) > done)


def test_a_long_turn_keeps_every_word_and_only_its_tail_waits_for_release():
    audio, pauses = spoken(*LONG)
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear, min_tail_seconds=3.0, budget_seconds=0)
    held(transcriber, hear, audio, pauses[:-1])
    calls_before_release = len(hear.calls)
    heard = transcriber.finish(audio)
    assert heard.text == SENTENCE == StandIn()(audio).text  # the same words as all at once
    after_release = hear.calls[calls_before_release:]
    assert transcriber.way == "joined" and not transcriber.ready_at_release
    assert len(after_release) == 1 and after_release[0] < len(audio) / 2  # the tail alone
    assert transcriber.tail_seconds_after_release == pytest.approx(after_release[0] / RATE)
    assert after_release[0] >= 3.0 * RATE  # never a tail shorter than min_tail_seconds
    assert hear.calls[:calls_before_release] == pauses[:-1]  # each from the turn's start
    assert any(name.startswith("stt-chunks") for name in hear.threads)


def test_words_said_again_after_a_pause_are_kept():
    """The tail starts inside a pause, so it shares no audio with the words before it:
    a phrase the student says twice is said twice (a rule dropping a run of words the
    tail "heard twice" only ever dropped such a sentence, measured on real speech)."""
    audio, pauses = spoken([1, 2, 3, 4, 5, 6], [7, 8], [1, 2, 3, 4, 5, 6], [9, 10])
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear, min_tail_seconds=3.0, budget_seconds=0)
    held(transcriber, hear, audio, pauses[:-1])
    heard = transcriber.finish(audio)
    assert transcriber.way == "joined" and hear.calls[-1] == len(audio) - pauses[1]
    assert (
        heard.text == "I went to the market and bought green I went to the market and apples today"
    )


def test_the_target_word_prompt_goes_with_every_transcription():
    audio, pauses = spoken(*LONG)
    hear = StandIn()
    transcriber = IncrementalTranscriber(
        hear, prompt="apples, market.", min_tail_seconds=3.0, budget_seconds=0
    )
    held(transcriber, hear, audio, pauses[:-1])
    transcriber.finish(audio)
    assert hear.prompts and set(hear.prompts) == {"apples, market."}


def test_release_right_after_a_pause_uses_what_was_heard_there():
    audio, pauses = spoken(*LONG)
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear, min_tail_seconds=3.0, budget_seconds=0)
    held(transcriber, hear, audio, pauses)  # the last pause too: the student stopped, then let go
    calls = len(hear.calls)
    speech = audio[: pauses[-1]]  # the VAD's speech at release ends where the pause began
    assert transcriber.finish(speech).text == SENTENCE
    assert len(hear.calls) == calls and transcriber.way == "ready"


def test_a_turn_too_short_to_split_is_heard_whole():
    audio, pauses = spoken([1, 2, 3, 4], [5, 6, 7])
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear, min_tail_seconds=3.0, budget_seconds=0)
    held(transcriber, hear, audio, pauses[:1])
    assert transcriber.finish(audio).text == "I went to the market and bought"
    assert hear.calls[-1] == len(audio)  # no tail would have been 3 s long: the whole turn
    assert (
        transcriber.way == "whole" and transcriber.tail_seconds_after_release == len(audio) / RATE
    )


class Clock:
    """A clock the test moves; it counts how often it was read."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def test_a_short_turn_waits_for_its_transcription_running_at_release():
    audio, pauses = spoken([1, 2, 3, 4], [5, 6, 7])
    clock = Clock()
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear, min_tail_seconds=3.0, budget_seconds=0, clock=clock)
    held(transcriber, hear, audio, pauses[:1])
    hear.gate = threading.Event()
    transcriber.pause(audio[: pauses[1]])  # the whole turn, still running at release
    wait_until(lambda: len(hear.calls) == 2)
    reads = clock.reads
    finished: list[Transcript] = []
    speech = audio[: pauses[1]]
    release = threading.Thread(target=lambda: finished.append(transcriber.finish(speech)))
    release.start()
    try:
        wait_until(lambda: clock.reads > reads)  # finish() has decided
    finally:
        hear.gate.set()
        release.join()
    # Too short for a tail of 3 s: the only other way is the whole turn again, so it waits.
    assert finished[0].text == "I went to the market and bought" and len(hear.calls) == 2
    assert transcriber.way == "waited"


def test_a_pause_too_early_in_the_turn_is_not_transcribed():
    audio, pauses = spoken([1], [2, 3, 4, 5], [6])  # "I" alone is 0.6 s
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear, min_chunk_seconds=1.5)
    assert transcriber.pause(audio[: pauses[0]]) is False
    assert transcriber.pause(audio[: pauses[1]]) is True
    assert transcriber.pause(audio[: pauses[1]]) is False  # nothing new since
    transcriber.finish(audio)


def test_the_transcription_running_at_release_is_stopped_if_the_student_went_on():
    audio, pauses = spoken(*LONG)
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear, min_tail_seconds=3.0, budget_seconds=0)
    held(transcriber, hear, audio, pauses[:2])
    hear.gate = threading.Event()  # the next transcription runs until stopped
    transcriber.pause(audio[: pauses[2]])
    wait_until(lambda: len(hear.calls) == 3)
    hear.gate = None  # the tail after release is heard at once
    assert transcriber.finish(audio).text == SENTENCE  # it did not wait for the stuck one
    assert transcriber.transcriptions == 2


@pytest.mark.parametrize(("elapsed", "waited"), [(0.05, False), (1.0, True)])
def test_a_transcription_of_the_whole_turn_is_waited_for_only_if_it_is_the_quicker(
    elapsed: float, waited: bool
):
    """At 0.1 s per second of audio, the whole 11 s turn takes 1.1 s and the tail (from the
    pause 3 s or more before the end) 0.4 s: just begun at release, the transcription of
    the whole turn is stopped for the tail; nearly done, it is waited for."""
    audio, pauses = spoken(*LONG)
    clock = Clock()
    hear = StandIn()

    def timed(audio: np.ndarray, **kwargs) -> Transcript:
        if hear.gate is None:
            clock.now += 0.1 * len(audio) / RATE  # each transcription while held
        return hear(audio, **kwargs)

    transcriber = IncrementalTranscriber(timed, min_tail_seconds=3.0, budget_seconds=0, clock=clock)
    held(transcriber, hear, audio, pauses[:-1])
    hear.gate = threading.Event()
    transcriber.pause(audio[: pauses[-1]])  # the whole turn, still running at release
    wait_until(lambda: len(hear.calls) == len(pauses))
    clock.now += elapsed
    reads = clock.reads
    finished: list[Transcript] = []
    speech = audio[: pauses[-1]]
    release = threading.Thread(target=lambda: finished.append(transcriber.finish(speech)))
    release.start()
    try:
        wait_until(lambda: clock.reads > reads)  # finish() has looked at the time: decided
    finally:
        hear.gate.set()  # the transcription running, or the tail, may end now
        release.join()
    assert finished and finished[0].text == SENTENCE
    assert transcriber.way == ("waited" if waited else "joined")
    assert len(hear.calls) == len(pauses) + (not waited)


def test_the_tail_is_as_long_as_the_budget_transcribes_at_the_speed_measured():
    """At 0.1 s per second of audio, a budget of 0.5 s covers a 5 s tail: the tail starts at
    the latest pause 5 s or more before the end, although one 3 s before it would do."""
    audio, pauses = spoken(*LONG)
    clock = Clock()
    hear = StandIn()

    def timed(audio: np.ndarray, **kwargs) -> Transcript:
        clock.now += 0.1 * len(audio) / RATE
        return hear(audio, **kwargs)

    transcriber = IncrementalTranscriber(
        timed, min_tail_seconds=3.0, budget_seconds=0.5, clock=clock
    )
    held(transcriber, hear, audio, pauses[:-1])
    assert transcriber.finish(audio).text == SENTENCE
    tail = hear.calls[-1]
    assert tail == min(len(audio) - end for end in pauses[:-1] if len(audio) - end >= 5 * RATE)
    assert any(3 * RATE <= len(audio) - end < 5 * RATE for end in pauses[:-1])


def test_an_unintelligible_tail_makes_the_turn_unintelligible():
    audio, pauses = spoken(*LONG)
    hear = StandIn(unintelligible={len(audio) - pauses[2]})
    transcriber = IncrementalTranscriber(hear, min_tail_seconds=3.0, budget_seconds=0)
    held(transcriber, hear, audio, pauses[:-1])
    heard = transcriber.finish(audio)
    assert heard.unintelligible and heard.text == ""
    assert heard.reason == "'na' comes 9 times in a row"


def test_an_unintelligible_stretch_is_not_kept_and_the_tail_covers_it():
    audio, pauses = spoken(*LONG)
    hear = StandIn(unintelligible={pauses[2]})
    transcriber = IncrementalTranscriber(hear, min_tail_seconds=3.0, budget_seconds=0)
    held(transcriber, hear, audio, pauses[:-1])
    assert transcriber.transcriptions == len(pauses) - 2  # that one was not kept
    assert transcriber.finish(audio).text == SENTENCE


def test_a_loop_across_the_join_sends_the_whole_turn_to_whisper_again():
    audio, pauses = spoken([1, 2, 3, 4, 5, 5, 5, 5], [5, 5, 5, 5, 6, 7])
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear, min_tail_seconds=2.0, budget_seconds=0)
    held(transcriber, hear, audio, pauses[:1])
    heard = transcriber.finish(audio)
    # Neither part loops, but joined "market" comes 8 times in a row (degenerate.py): the
    # whole turn goes to whisper again (which, unlike this stand-in, would retry it).
    assert hear.calls[-2:] == [len(audio) - pauses[0], len(audio)]
    assert heard.text.split().count("market") == 8


def test_a_stop_request_at_release_is_honoured():
    audio, pauses = spoken(*LONG)
    hear = StandIn()
    transcriber = IncrementalTranscriber(hear, min_tail_seconds=3.0, budget_seconds=0)
    held(transcriber, hear, audio, pauses[:-1])
    heard = transcriber.finish(audio, should_stop=lambda: True)
    assert heard.stopped and heard.text == ""


def test_cancel_abandons_the_transcription_and_ends_the_worker():
    audio, pauses = spoken(*LONG)
    hear = StandIn()
    hear.gate = threading.Event()  # never set: only a stop ends the transcription
    transcriber = IncrementalTranscriber(hear)
    transcriber.pause(audio[: pauses[0]])
    wait_until(lambda: hear.calls)
    transcriber.cancel()  # returns once the worker has ended (the leak check would see it)
    assert hear.done == hear.calls  # the transcription running gave up
    assert transcriber.pause(audio[: pauses[1]]) is False  # a late pause is ignored
    assert transcriber.finish(audio).stopped  # nobody answers a cancelled turn


def test_bad_calls_are_clear_errors():
    audio, pauses = spoken([1, 2, 3, 4], [5])
    transcriber = IncrementalTranscriber(StandIn())
    with pytest.raises(ValueError, match="expected mono audio"):
        transcriber.pause(np.zeros((2, 100), np.float32))
    transcriber.pause(audio[: pauses[0]])
    with pytest.raises(ValueError, match=r"shorter than the .* already transcribed"):
        transcriber.pause(audio[:100])
    transcriber.finish(audio)
    with pytest.raises(ValueError, match=r"finish\(\) twice"):
        transcriber.finish(audio)
    with pytest.raises(ValueError, match="rate must be a positive"):
        IncrementalTranscriber(StandIn(), rate=0)
    with pytest.raises(ValueError, match="min_tail_seconds must be 0 or more"):
        IncrementalTranscriber(StandIn(), min_tail_seconds=-1)
    with pytest.raises(ValueError, match="budget_seconds must be 0 or more"):
        IncrementalTranscriber(StandIn(), budget_seconds=float("nan"))
