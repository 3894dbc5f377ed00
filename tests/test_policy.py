"""The guard rails on what a model writes, as pure decisions: no models, milliseconds."""

from __future__ import annotations

import pytest

from appliance.core.config import FilterSettings
from appliance.lessons.policy import Decision, Piece, Problem, decide, repeats_earlier
from appliance.lessons.safety import ClassroomFilter

HARD = "Contemplating philosophical conundrums necessitates extraordinary perseverance."


@pytest.fixture(scope="module")
def word_filter() -> ClassroomFilter:
    return ClassroomFilter(FilterSettings(extra_words=("parlo",)))


def piece(text: str, **changes) -> Piece:
    fields = {
        "text": text,
        "spoken": (),
        "student_words": "Hello, my name is Anna.",
        "earlier_replies": (),
        "level": "A2",
        "language": "en",
        "may_retry": True,
    }
    return Piece(**{**fields, **changes})


def test_a_fitting_piece_is_said(word_filter):
    assert decide(piece("I like dogs. Do you?"), word_filter) == (Decision.SAY, None)


def test_a_blocked_word_stops_the_reply(word_filter):
    assert decide(piece("I am Parlo!"), word_filter) == (Decision.STOP, Problem.BLOCKED)


@pytest.mark.parametrize(
    ("text", "changes", "problem"),
    [
        ("Hi, I'm Anna!", {}, Problem.SPEAKS_AS_STUDENT),
        (HARD, {}, Problem.ABOVE_LEVEL),
        ("I really like big brown dogs.", {"earlier_replies": ("I really like big brown dogs.",)},
         Problem.REPEATS_ITSELF),
    ],
)  # fmt: skip
def test_a_first_piece_that_fails_is_asked_for_again_a_later_one_left_out(
    word_filter, text, changes, problem
):
    assert decide(piece(text, **changes), word_filter) == (Decision.RETRY, problem)
    later = piece(text, spoken=("Good.",), **changes)
    assert decide(later, word_filter) == (Decision.DROP, problem)
    second_try = piece(text, may_retry=False, **changes)
    assert decide(second_try, word_filter) == (Decision.DROP, problem)


def test_the_same_words_pass_at_a_higher_level(word_filter):
    assert decide(piece(HARD, level="C1"), word_filter) == (Decision.SAY, None)


def test_the_rest_of_a_sentence_begun_is_never_left_out(word_filter):
    rest = piece(HARD, spoken=("Well, you know,",))
    assert decide(rest, word_filter) == (Decision.SAY, None)


def test_a_later_question_may_come_again_but_not_a_statement(word_filter):
    earlier = ("Do you have a big dog at home?", "Dogs are really great pets.")
    question = piece("Do you have a big dog at home?", spoken=("Nice.",), earlier_replies=earlier)
    statement = piece("Dogs are really great pets.", spoken=("Nice.",), earlier_replies=earlier)
    assert decide(question, word_filter) == (Decision.SAY, None)
    assert decide(statement, word_filter) == (Decision.DROP, Problem.REPEATS_ITSELF)


def test_short_answers_may_repeat():
    assert not repeats_earlier("Yes, I do.", ("Yes, I do.",))
    assert repeats_earlier("I like big dogs", ("I like big dogs a lot. Do you?",))
