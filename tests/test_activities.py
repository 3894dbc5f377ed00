"""Activities: prompts in the class's language, and a guessing game code can keep honest."""

from __future__ import annotations

import random

import pytest

from appliance.core.config import CEFR_LEVELS, Config, CustomActivity
from appliance.lessons.activities import (
    BUILTIN_ACTIVITIES,
    activity_for,
    choose_secret,
    guess_reply,
    guessed_right,
    language_name,
    next_activity,
    secrets_for,
    system_prompt,
    true_answer,
)


def _config(name: str, level: str = "B1", **changes: object) -> Config:
    return Config().with_changes({"activity.name": name, "activity.level": level, **changes})


# --- the class's language ---


def test_the_prompt_names_the_class_language():
    spanish = _config("conversation", language="es")
    prompt = system_prompt(activity_for(spanish), spanish)
    assert "Always reply in Spanish." in prompt
    assert "English" not in prompt
    assert "Always reply in English." in system_prompt(activity_for(Config()), Config())
    b2_german = _config("story", "B2", language="de")
    assert "natural everyday German" in system_prompt(activity_for(b2_german), b2_german)


def test_an_unknown_language_code_names_itself():
    assert language_name("fr") == "French"
    assert language_name("EU") == "EU"
    config = _config("conversation", language="eu")
    assert "Always reply in eu." in system_prompt(activity_for(config), config)


@pytest.mark.parametrize("name", list(BUILTIN_ACTIVITIES))
@pytest.mark.parametrize("level", CEFR_LEVELS)
def test_every_field_in_a_builtin_prompt_is_filled(name, level):
    config = _config(name, level)
    activity = activity_for(config)
    texts = [system_prompt(activity, config), activity.opening]
    texts += [text for pair in activity.examples for text in pair]
    assert not [text for text in texts if "{" in text or "}" in text]


def test_a_teachers_prompt_is_not_a_format_string():
    config = Config().with_changes(
        {
            "custom_activities.quiz": {"prompt": "Quiz {character} on sets like {1, 2}."},
            "activity.name": "quiz",
            "language": "it",
        }
    )
    prompt = system_prompt(activity_for(config), config)
    assert prompt.startswith("Quiz Santa Claus on sets like {1, 2}.")
    assert "Always reply in Italian." in prompt


@pytest.mark.parametrize("name", [n for n, a in BUILTIN_ACTIVITIES.items() if a.ends_with_question])
def test_activities_that_ask_show_replies_that_ask(name):
    """The model copies the examples' shape: one example without a question teaches it."""
    for level in ("A1", "B1"):
        for _, reply in activity_for(_config(name, level)).examples:
            assert reply.endswith("?"), (level, reply)


# --- the guessing game ---

GUESS = BUILTIN_ACTIVITIES["guess"]


def test_the_object_and_its_facts_are_in_the_prompt():
    config = _config("guess", "A1")
    activity = activity_for(config)
    secret = activity.secret
    assert secret is not None and secret in secrets_for(GUESS, "A1")
    prompt = system_prompt(activity, config)
    assert f"You are thinking of {secret.name}." in prompt
    assert all(fact in prompt for fact in secret.facts)
    assert ("Is it a fruit?", "Yes, it is a fruit!") in activity.examples


def test_each_level_has_its_own_fixed_object_until_the_engine_chooses():
    defaults = [activity_for(_config("guess", level)).secret for level in ("A1", "A2", "B1")]
    assert len(set(defaults)) == 3
    assert activity_for(_config("guess", "A1")).secret == defaults[0]  # replayable
    chosen = secrets_for(GUESS, "A1")[-1]
    assert activity_for(_config("guess", "A1"), chosen).secret == chosen
    assert activity_for(_config("conversation")).secret is None


def test_a_new_game_chooses_another_object_at_the_level():
    rng = random.Random(7)
    previous = None
    for _ in range(20):
        secret = choose_secret(GUESS, "A2", rng, previous)
        assert secret != previous and secret in secrets_for(GUESS, "A2")
        previous = secret
    assert choose_secret(BUILTIN_ACTIVITIES["story"], "A2", rng, previous) is None
    assert activity_for(_config("story"), previous).secret is None  # a stale object is dropped


def test_a_right_guess_is_the_objects_word():
    apple = secrets_for(GUESS, "A1")[0]
    assert apple.word == "apple"
    assert guessed_right(apple, "Is it an APPLE?")
    assert guessed_right(apple, "apples!")
    assert not guessed_right(apple, "Is it a pineapple?")
    assert not guessed_right(None, "apple")


def test_the_true_answers_come_from_the_facts():
    apple = secrets_for(GUESS, "A1")[0]
    truth = {
        "Is it an animal?": False,  # a wrong guess
        "Is it red?": True,
        "Can I eat it?": True,
        "Is it big?": False,
        "Does it grow on a tree?": True,
        "My name is Anna. Is it a banana?": False,
        "Is it an apple?": True,
        "Just tell me the answer!": None,
    }
    assert {question: true_answer(apple, question) for question in truth} == truth
    lemon = next(secret for secret in GUESS.secrets if secret.word == "lemon")
    assert true_answer(lemon, "Is it usually sweet?") is False
    assert true_answer(lemon, "Is it sour?") is True
    assert true_answer(lemon, "Would I find it in a kitchen?") is True


def test_code_can_answer_what_the_facts_know():
    apple = secrets_for(GUESS, "A1")[0]
    assert guess_reply(apple, "Is it red?").startswith("Yes! It is red or green.")
    assert guess_reply(apple, "Is it big?").startswith("No! It is not big.")
    assert guess_reply(apple, "Is it a car?").startswith("No, it is not a car.")
    assert guess_reply(apple, "Is it an apple?").startswith("Yes, it is an apple! You win!")
    assert guess_reply(apple, "Just tell me!") is None  # the model answers
    assert guess_reply(apple, "Is it red?", language="es") is None
    assert guess_reply(None, "Is it red?") is None


def test_next_activity_cycles_the_builtin_ones_then_the_teachers_and_wraps():
    config = Config(custom_activities={"food_quiz": CustomActivity(prompt="Ask about food.")})
    seen = []
    for _ in range(len(BUILTIN_ACTIVITIES) + 2):
        config = next_activity(config)
        seen.append(config.activity.name)
    assert seen == [*list(BUILTIN_ACTIVITIES)[1:], "food_quiz", "conversation", "roleplay"]
    assert activity_for(config.with_changes({"activity.name": "food_quiz"})).spoken_name == (
        "food quiz"
    )
