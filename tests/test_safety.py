"""The classroom checks: the word filter, the level check, role confusion, language."""

from __future__ import annotations

import pytest

from appliance.core.config import FilterSettings
from appliance.lessons.language import box_lines, read_word_list
from appliance.lessons.safety import (
    ClassroomFilter,
    check_level,
    common_words,
    guess_language,
    language_mismatch,
    role_confusion,
)

LINES = box_lines("en")
REDIRECTS, SAFE_FALLBACK, CARE_REPLY = LINES.redirects, LINES.fallback, LINES.care


@pytest.fixture(scope="module")
def default_filter() -> ClassroomFilter:
    return ClassroomFilter(FilterSettings())


# --- the word filter ---


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("This is shit.", "shit"),
        ("SHIT happens", "shit"),
        ("shiiiiit!", "shit"),
        ("you are sh1t", "shit"),
        ("what a $hit day", "shit"),
        ("fuuuuck", "fuck"),
        ("a$$hole", "asshole"),
        ("He killed the dragon.", "kill"),
        ("they were killing the birds", "kill"),
        ("I want to kill myself", "kill myself"),
        ("no more self-harm", "self harm"),
        ("selfharm", "self harm"),
        ("Show me porn", "porn"),
    ],
)
def test_the_default_list_catches_words_and_simple_disguises(default_filter, text, word):
    assert default_filter.blocks(text) == word


@pytest.mark.parametrize(
    "text",
    [
        "I have a new skill.",  # kill inside a word
        "We live in Essex.",  # sex inside a word
        "My class is fun.",
        "I like grapes.",
        "The horse is in the stable.",
        "Hello! How are you?",
        "",
    ],
)
def test_words_inside_other_words_are_not_blocked(default_filter, text):
    assert default_filter.blocks(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "Where's the nearest café? My feet are killing me.",
        "We were killing time before the bus came.",
        "Stop it, you're killing me, haha!",
    ],
)
def test_everyday_idioms_with_a_blocked_word_are_let_through(default_filter, text):
    assert default_filter.blocks(text) is None
    # ...but the word itself is still blocked next to them.
    assert default_filter.blocks(f"{text} I want to kill him.") == "kill"


def test_the_teacher_adds_words_and_allowed_words_win():
    settings = FilterSettings(extra_words=("homework", "boring test"), allowed_words=("Moby Dick",))
    word_filter = ClassroomFilter(settings)
    assert word_filter.blocks("No HOMEWORK today") == "homework"
    assert word_filter.blocks("What a boring  test") == "boring test"
    assert word_filter.blocks("homeworks") is None  # the teacher's words match exactly
    assert word_filter.blocks("I read Moby Dick.") is None  # the allowed phrase is ignored
    assert word_filter.blocks("Dick is rude") == "dick"  # the word alone is still blocked
    unblocked = ClassroomFilter(FilterSettings(allowed_words=("kill",)))
    assert unblocked.blocks("kill the lights") is None
    assert unblocked.blocks("shit") == "shit"


def test_an_allowed_word_also_overrides_the_teachers_own_list():
    word_filter = ClassroomFilter(FilterSettings(extra_words=("test",), allowed_words=("TEST",)))
    assert word_filter.blocks("a test") is None


def test_a_disabled_filter_blocks_nothing():
    word_filter = ClassroomFilter(FilterSettings(enabled=False))
    assert word_filter.blocks("shit") is None
    assert word_filter.redirect_for("shit") is None


def test_a_student_swearing_gets_a_friendly_redirect(default_filter):
    redirect = default_filter.redirect_for("This lesson is shit.")
    assert redirect in REDIRECTS
    assert redirect.endswith("?")
    assert default_filter.redirect_for("This lesson is fun.") is None
    # The same words always get the same line: a replayed session hears the same reply.
    assert default_filter.redirect_for("This lesson is shit.") == redirect


def test_self_harm_gets_a_caring_reply_not_a_change_of_topic(default_filter):
    assert default_filter.redirect_for("Sometimes I want to kill myself.") == CARE_REPLY
    assert default_filter.redirect_for("Let's kill the monster!") in REDIRECTS


def test_the_fallback_line_is_itself_clean_and_asks_a_question(default_filter):
    assert default_filter.fallback == SAFE_FALLBACK
    for line in [SAFE_FALLBACK, *REDIRECTS, CARE_REPLY]:
        assert default_filter.blocks(line) is None


def test_the_box_own_lines_obey_the_teacher_list_too():
    # A teacher who blocks "you" must not hear it from the fallback or a redirect either.
    strict = ClassroomFilter(FilterSettings(extra_words=("you", "your", "shit")))
    for line in [strict.fallback, strict.redirect_for("This lesson is shit.")]:
        assert line and strict.blocks(line) is None, line
    assert strict.redirect_for("Sometimes I want to kill myself.") == strict.fallback
    silent = ClassroomFilter(FilterSettings(extra_words=("let's", "you", "okay")))
    assert silent.fallback == "", "when every line is blocked, nothing is said"


def test_the_language_picks_the_lists(tmp_path):
    german = ClassroomFilter(FilterSettings(extra_words=("Mist",)), language="de")
    assert german.blocks("shit") is None  # no German default list is shipped
    assert german.blocks("So ein Mist!") == "mist"
    assert german.fallback.startswith("Lass uns")
    assert common_words("de") == frozenset()


def test_word_lists_have_sections_and_comments(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("# a comment\nOne\n\n#: rude\nTwo Words\n", encoding="utf-8")
    assert read_word_list(path) == [("one", ""), ("two words", "rude")]
    assert read_word_list(tmp_path / "missing.txt") == []


def test_the_shipped_lists_are_sane():
    words = common_words("en")
    assert 2900 <= len(words) <= 3000
    assert {"the", "football", "breakfast", "sister", "don't"} <= words
    assert not {"shit", "fuck"} & words


# --- the level check ---


def test_a_short_simple_reply_fits_a1():
    report = check_level("Football is fun! Who is your favourite player?", "A1")
    assert (report.words, report.sentences, report.longest_sentence) == (8, 2, 5)
    assert report.words_per_sentence == 4.0
    assert report.rare_share == 0.0
    assert report.ok


def test_long_sentences_fail_a1_but_pass_b1():
    text = "Yesterday my friends and I went to the big park near our school."
    assert not check_level(text, "A1").ok
    assert check_level(text, "A1").problems == ("13.0 words per sentence (at most 6)",)
    assert check_level(text, "B2").ok


def test_rare_words_are_counted_but_names_numbers_and_inflections_are_not():
    report = check_level("I met Anna in 2019. We played with her cats.", "A1")
    assert report.rare_words == ()
    rare = check_level("The quintessential ramifications are intriguing.", "C1")
    assert rare.rare_words == ("quintessential", "ramifications", "intriguing")
    assert rare.rare_share == pytest.approx(3 / 5)
    assert rare.ok  # C1 has no rare-word limit
    assert not check_level("The quintessential ramifications are intriguing.", "B2").ok


def test_without_a_common_word_list_the_rare_share_is_not_judged():
    report = check_level("Ich habe einen Hund. Er ist sehr klein.", "A1", language="de")
    assert report.rare_share is None
    assert report.ok


# --- role confusion ---


@pytest.mark.parametrize(
    "reply",
    [
        "Hello, I'm Anna! What do you like?",
        "My name is Anna. What's your favourite sport?",
        "Hi! I am also Anna.",
        "Call me Anna.",
        "Hello there, Anna! I’m Anna and I am 14 years old.",
    ],
)
def test_claiming_the_students_name_is_role_confusion(reply):
    assert role_confusion(reply, "Hello, my name is Anna. I am 14 years old.")


@pytest.mark.parametrize(
    "reply",
    [
        "Nice to meet you, Anna! What do you like?",
        "Hello Anna, I'm Parlo. How are you?",
        "Anna is a lovely name.",
        "I'm happy to meet you.",
    ],
)
def test_talking_to_the_student_by_name_is_fine(reply):
    assert not role_confusion(reply, "Hello, my name is Anna.")


def test_age_and_home_count_and_i_am_name_is_understood():
    assert role_confusion("I am 14 years old too!", "I am 14 years old.")
    assert role_confusion("Oh, I'm from Brazil as well.", "I'm from Brazil.")
    assert not role_confusion("Brazil is beautiful!", "I'm from Brazil.")
    assert role_confusion("I'm Tom, the elf.", "Hello Santa! I'm Tom.")
    assert not role_confusion("I'm happy too.", "I'm happy.")  # only a capitalised word is a name
    assert not role_confusion("I'm OK.", "I'm OK.")


# --- language ---


def test_language_mismatch():
    assert not language_mismatch("Hello! What is your favourite food?")
    assert language_mismatch("Hola, ¿qué tal? Me llamo Juan y tengo una casa.")
    assert language_mismatch("你好！你今天做了什么？我很高兴。")
    assert not language_mismatch("Hola, ¿qué tal? Me llamo Juan y tengo una casa.", "es")
    assert language_mismatch("Hello, what is your name and where do you live?", "es")
    assert not language_mismatch("OK, yes.")  # too short to tell
    assert guess_language("Je suis très content, et tu?") == "fr"
