"""Streaming text into speakable pieces."""

from __future__ import annotations

from appliance.lessons.text import SentenceSplitter, speakable, word_count


def split(tokens: list[str]) -> list[str]:
    splitter = SentenceSplitter(first_clause_words=5)
    pieces = [piece for token in tokens for piece in splitter.feed(token)]
    if rest := splitter.flush():
        pieces.append(rest)
    return pieces


def test_sentences_are_ready_as_soon_as_they_end():
    splitter = SentenceSplitter()
    assert splitter.feed("Hello") == []
    assert splitter.feed(" there!") == ["Hello there!"]
    assert splitter.feed(" How are") == []
    assert splitter.feed(" you?") == ["How are you?"]
    assert splitter.flush() is None


def test_a_long_first_sentence_is_cut_at_a_clause():
    pieces = split(
        ["Well, ", "that is ", "a really ", "lovely idea, ", "and I ", "like it", ". Ok", "."]
    )
    assert pieces == ["Well, that is a really lovely idea,", "and I like it.", "Ok."]


def test_abbreviations_and_numbers_do_not_end_sentences():
    pieces = split(["Mr", ". Smith ", "paid 3", ".", "5 euros", ". Then ", "he left", "."])
    assert pieces == ["Mr. Smith paid 3.5 euros.", "Then he left."]


def test_newlines_end_a_piece():
    assert split(["One line\n", "Another"]) == ["One line", "Another"]


def test_links_code_and_markup_are_never_spoken():
    text = "**Great!** See https://example.com/x or `rm -rf /` and <b>this</b> 😀 # now"
    assert speakable(text) == "Great! See or and this now"


def test_word_count():
    assert word_count("It's a nice day, isn't it?") == 6


def test_whisper_repeats_are_dropped_but_new_sentences_kept():
    from appliance.speech.stt import without_repeats

    assert without_repeats("I went home. I went home.") == "I went home."
    assert (
        without_repeats("What do you like to eat? What do you like") == "What do you like to eat?"
    )
    assert without_repeats("I like cats. I like dogs.") == "I like cats. I like dogs."
