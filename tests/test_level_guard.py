"""The engine's level post-check: a reply above the class's level is shortened, or asked again.

The language model here is scripted, so each test knows what it will say; VAD, STT
and the voice are the real models, and every spoken reply goes through the real
engine, splitter and filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from appliance.app.wiring import build_engine
from appliance.audio.files import FileDevices
from appliance.core.config import Config
from appliance.engine.conversation import SIMPLER_PLEASE
from appliance.lessons.language import box_lines
from appliance.lessons.safety import fits_level
from appliance.speech.protocols import Message

FOLLOW_UPS = box_lines("en").follow_ups
NO_REPLY = box_lines("en").no_reply

HARD = "Contemplating philosophical conundrums necessitates extraordinary perseverance. "
EASY = "I like dogs. Do you have a dog?"


class ScriptedLlm:
    """Says each of ``replies`` in turn, in small chunks like a streamed model."""

    all_threads = 1
    context_tokens = 0  # no context to fit: the script is short

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.questions: list[str] = []
        self.temperatures: list[float] = []
        self.stop_reason = ""
        self.threads: list[int] = []

    def use_threads(self, threads: int) -> None:
        self.threads.append(threads)

    def count_tokens(self, messages: list[Message]) -> int:
        return 0

    def close(self) -> None:
        pass

    def prefill(self, messages: list[Message]) -> None:
        pass

    def stream(
        self,
        messages: list[Message],
        max_tokens: int,
        should_stop: Callable[[], bool] = lambda: False,
        **settings: object,
    ) -> Iterator[str]:
        self.questions.append(messages[-1]["content"])
        self.temperatures.append(float(settings["temperature"]))
        reply = self.replies.pop(0)
        self.stop_reason = "stop"
        for start in range(0, len(reply), 7):
            yield reply[start : start + 7]


@pytest.fixture
def engine_saying(models, tmp_path: Path) -> Iterator[Callable]:
    """``engine_saying(level, *replies)``: an engine on the real models but a scripted LLM."""
    engines = []

    def make(level: str, *replies: str, changes: dict | None = None):
        scripted = ScriptedLlm(*replies)
        # A story by default: it adds no follow-up question, so replies are the script's.
        # The model writes every reply ("free"), as for a teacher's own activity: these
        # are the guard rails on what a model writes.
        settings = {"activity.name": "story", "activity.level": level, "llm.planning": "free",
                    **(changes or {})}  # fmt: skip
        config = Config().with_changes(settings)
        devices = FileDevices(output_path=tmp_path / "speaker.wav")
        engines.append(build_engine(config, devices, models=replace(models, llm=scripted)))
        return engines[-1], scripted

    yield make
    for engine in engines:
        engine.close()


def test_a_first_sentence_above_the_level_is_asked_for_again_once(engine_saying):
    engine, llm = engine_saying("A1", HARD + EASY, EASY)
    result = engine.run_text_turn("Tell me something.")
    assert result.regenerated
    assert result.reply == EASY
    assert llm.questions == ["Tell me something.", f"Tell me something.\n{SIMPLER_PLEASE}"]
    assert engine.history[-2]["content"] == "Tell me something.", "history keeps the real words"


def test_a_later_sentence_above_the_level_is_left_out(engine_saying):
    engine, llm = engine_saying("A1", f"I like dogs. {HARD}Do you?")
    result = engine.run_text_turn("I have a dog.")
    assert not result.regenerated
    assert result.pieces_dropped == 1
    assert result.reply == "I like dogs. Do you?"
    assert len(llm.questions) == 1


def test_the_same_words_pass_at_a_higher_level(engine_saying):
    sentence = "That sounds like a wonderful adventure in the mountains!"
    assert not fits_level(sentence, "A1") and fits_level(sentence, "B1")
    engine, _ = engine_saying("B1", sentence)
    result = engine.run_text_turn("We went hiking.")
    assert result.reply == sentence and not result.regenerated and not result.pieces_dropped


def test_above_the_level_twice_still_says_something(engine_saying):
    engine, _ = engine_saying("A1", HARD, HARD)
    result = engine.run_text_turn("Tell me something.")
    assert result.regenerated
    assert result.reply == HARD.strip(), "silence would be worse than a hard sentence"
    assert result.reply_seconds > 0, "and it is spoken"


def test_a_blocked_word_still_wins_over_the_level_check(engine_saying):
    engine, _ = engine_saying("C1", "I hate you. Do you like dogs?")
    engine.apply_config(engine.config.with_changes({"filter.extra_words": ["hate"]}))
    result = engine.run_text_turn("Hello.")
    assert "hate" not in result.reply.lower()
    assert result.reply == engine.filter.fallback


def test_a_long_conversation_forgets_its_oldest_turns_instead_of_overflowing(
    models, model_set, tmp_path: Path
):
    # 20 remembered turns soon outgrow 512 tokens: without the fitting, replies are first
    # squeezed into what is left, then llama.cpp refuses the prompt and the box shows ERROR.
    from appliance.speech.llm import LocalLlm

    config = Config().with_changes(
        {
            "llm.history_turns": 20,
            "llm.context_tokens": 512,
            "llm.planning": "free",  # the model writes the replies and needs the history
            "reply.max_tokens": 60,
            "reply.max_seconds": 60.0,
        }  # fmt: skip: a busy machine must not time the reply out
    )
    small = LocalLlm(model_set.file("llm"), threads=1, context_tokens=512)
    devices = FileDevices(output_path=tmp_path / "speaker.wav")
    engine = build_engine(config, devices, models=replace(models, llm=small))
    question = "Yesterday my whole family went to the big market in the town centre together."
    said: list[dict[str, str]] = []
    try:
        for turn in range(8):
            result = engine.run_text_turn(f"{question} Turn {turn}.")
            assert result.reply, f"turn {turn} got no reply"
            said += [{"role": "user", "content": result.transcript},
                     {"role": "assistant", "content": result.reply}]  # fmt: skip
        everything = engine.prompt(None)[: -len(engine.history) or None] + said
        assert small.count_tokens(everything) > 512, "the test must overflow without fitting"
        assert small.count_tokens(engine.prompt("x " * 120)) + 60 <= 512
        assert 0 < len(engine.history) < len(said), "the oldest turns are forgotten"
        assert engine.history[-2]["content"].endswith("Turn 7."), "the newest are kept"
    finally:
        engine.close()


def test_a_model_that_says_nothing_in_time_gets_an_apology_not_silence(engine_saying):
    engine, _ = engine_saying("B1", "")
    result = engine.run_text_turn("Hello.")
    assert result.reply == NO_REPLY
    assert result.reply_seconds > 0
    assert engine.history == [], "an apology is not part of the conversation"


def test_a_blocked_student_word_is_never_sent_to_the_model_even_with_no_line_left(engine_saying):
    engine, llm = engine_saying("B1", "Never asked.")
    every_line_blocked = ["shit", "let's", "you", "okay", "that", "what"]
    engine.apply_config(engine.config.with_changes({"filter.extra_words": every_line_blocked}))
    result = engine.run_text_turn("This is shit.")
    assert llm.questions == []
    assert result.reply == ""


def test_a_reply_that_starts_by_repeating_an_earlier_one_is_asked_for_again(engine_saying):
    engine, llm = engine_saying(
        "B1", "The cat was very sad. What happened next?", "The cat was very sad.",
        "The cat found a fish in the river.",
    )  # fmt: skip
    engine.run_text_turn("Once upon a time there was a cat.")
    result = engine.run_text_turn("The cat was hungry.")
    assert result.regenerated
    assert result.reply == "The cat found a fish in the river."
    assert llm.questions[-1] == "The cat was hungry."
    assert llm.temperatures[-1] > llm.temperatures[0], "asked again, warmer"


def test_a_reply_out_of_words_still_finishes_its_sentence(engine_saying):
    five_words = {"custom_activities.tiny": {"prompt": "Be brief.", "max_words": 5},
                  "activity.name": "tiny"}  # fmt: skip
    engine, _ = engine_saying(
        "B1", "We went to the big old market, and we bought apples. Then we went home.",
        changes=five_words,
    )  # fmt: skip
    result = engine.run_text_turn("What did you do?")
    assert result.reply == "We went to the big old market, and we bought apples."


def test_the_rest_of_a_sentence_begun_is_never_dropped(engine_saying):
    # The first clause is spoken before the rest exists; dropping the rest for its level
    # would leave the student a fragment ending in a comma.
    engine, _ = engine_saying("A1", f"I like the big red ball, {HARD.lower()}Do you?")
    result = engine.run_text_turn("I have a ball.")
    assert result.reply.startswith("I like the big red ball, contemplating")
    assert result.reply.endswith("Do you?")


def test_a_later_question_may_come_again_but_not_a_statement(engine_saying):
    engine, _ = engine_saying(
        "B1", "I like dogs a lot. How are you today?",
        "Cats are nice too. I like dogs a lot. How are you today?",
    )  # fmt: skip
    engine.run_text_turn("Hello.")
    result = engine.run_text_turn("I have a cat.")
    assert result.reply == "Cats are nice too. How are you today?"
    assert result.pieces_dropped == 1


def test_a_reply_that_speaks_as_the_student_is_asked_for_again(engine_saying):
    engine, llm = engine_saying(
        "B1", "Hi, I'm Anna! What is your name?", "Nice to meet you, Anna! Where are you from?",
        changes={"activity.name": "conversation"},
    )  # fmt: skip
    result = engine.run_text_turn("Hello, my name is Anna.")
    assert result.regenerated
    assert result.reply == "Nice to meet you, Anna! Where are you from?"
    assert llm.questions[-1] == "Hello, my name is Anna."
    assert llm.temperatures[-1] > llm.temperatures[0], "asked again, warmer"


def test_an_activity_that_asks_questions_always_ends_with_one(engine_saying):
    engine, _ = engine_saying(
        "B1", "Football is a great sport.", "Tennis is fun too. Do you?",
        changes={"activity.name": "conversation"},
    )  # fmt: skip
    result = engine.run_text_turn("I like football.")
    assert result.asked_back
    assert result.reply.startswith("Football is a great sport. ")
    assert result.reply.endswith("?") and result.reply.split(". ", 1)[1] in FOLLOW_UPS
    second = engine.run_text_turn("I like tennis.")
    assert not second.asked_back and second.reply == "Tennis is fun too. Do you?"


def test_a_story_does_not_get_questions_added(engine_saying):
    engine, _ = engine_saying("B1", "The dragon flew away.", changes={"activity.name": "story"})
    result = engine.run_text_turn("Once upon a time there was a dragon.")
    assert not result.asked_back and result.reply == "The dragon flew away."


def test_the_guessing_game_answers_from_its_object_and_starts_anew_when_guessed(engine_saying):
    engine, llm = engine_saying("A1", "Never asked.", changes={"activity.name": "guess"})
    secret = engine.secret
    assert secret is not None and secret.facts
    first = engine.run_text_turn("Is it a car?")
    assert first.reply.startswith("No") and len(engine.history) == 2
    won = engine.run_text_turn(f"Is it {secret.name}?")
    assert "You win" in won.reply
    assert llm.questions == [], "code answered both: the tiny model says 'No' to everything"
    assert engine.secret is not None and engine.secret != secret, "a new object"
    assert engine.history == [], "a new game"
