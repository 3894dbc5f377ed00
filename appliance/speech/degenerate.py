"""Is a transcript something a person could have said in that much audio?

Whisper fails badly when it fails: on a hum, a held vowel, a stammer or a
sound it cannot place it loops ("S-S-S-S-S-S…", "one one one one…", "the end of
the end of the end of…") or writes far more words than the audio can hold.
Such text must never reach the language model. :func:`degeneracy` says why a
transcript is not to be trusted, or returns ``None``; it is pure and needs no
model, so :class:`appliance.speech.stt.WhisperStt` can check every attempt::

    >>> degeneracy("S-S-S-S-S-S-S-S", seconds=4.7)
    "'s' comes 8 times in a row"
    >>> degeneracy("Where is the station?", seconds=1.8) is None
    True

The limits are generous on purpose: a false alarm costs the student one
"Sorry, I didn't catch that", a missed loop costs the class a nonsense reply.
"""

from __future__ import annotations

import re
import zlib

# A word (or a group of up to MAX_UNIT words) said this many times in a row is a loop:
# "no, no, no, no" is a person; five and more is whisper.
MAX_REPEATS = 4
MAX_UNIT = 4
# … but a person may say a word five or six times inside a longer sentence ("I said
# words words words words, and…", in the Montreal Forced Aligner's recorded talk): a
# short run is a loop only when it is most of the transcript, a long one anywhere.
LONG_LOOP = 8
# A letter held this long is a loop too ("Eeeeee", "SSSSSSSSSSSS").
MAX_LETTER_RUN = 5
# Fast speech is about 4 words a second; learners are slower. The slack covers a
# short utterance whose words are crowded at one end.
MAX_WORDS_PER_SECOND = 5.0
WORD_SLACK = 4
MAX_CHARACTERS_PER_SECOND = 25.0
CHARACTER_SLACK = 20
# Whisper's own test for a loop: text that compresses this well repeats itself.
MAX_COMPRESSION_RATIO = 2.4
COMPRESSION_MIN_CHARACTERS = 60

_PUNCTUATION = ".,;:!?\"'()[]{}"
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_LETTER_RUN = re.compile(rf"([^\W\d_])\1{{{MAX_LETTER_RUN},}}", re.IGNORECASE)


def without_annotations(text: str) -> str:
    """``text`` without whisper's notes on sounds that are not words: "[MUSIC PLAYING]",
    "(laughs)", one cut off ("(imitates"), "*" and "♪". Empty if that was all."""
    text = re.sub(r"\[[^\]]*(\]|$)|\([^)]*(\)|$)|[*♪]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text if re.search(r"[^\W_]", text) else ""


def words_of(text: str) -> list[str]:
    """The words of ``text``, lower-case, split at spaces, hyphens and punctuation."""
    return _WORD.findall(text.lower())


def degeneracy(text: str, seconds: float) -> str | None:
    """Why ``text`` cannot be a transcript of ``seconds`` of speech, or ``None`` if it can.

    The reason is one short phrase for the log ("'no' comes 22 times in a row",
    "47 words in 2.7 s of audio"). Empty text is not degenerate: it is silence.
    Raises :class:`ValueError` for a negative duration.
    """
    if seconds < 0 or seconds != seconds:  # NaN is not a duration either
        raise ValueError(f"seconds must be a duration of 0 or more, got {seconds!r}")
    stripped = text.strip()
    if not stripped:
        return None
    if run := _LETTER_RUN.search(stripped):
        return f"the letter {run[1].lower()!r} is held {len(run[0])} times"
    words = words_of(stripped)
    # Words ("S-S-S" is three), and what stands between spaces ("* * * *" has no words).
    tokens = [token.strip(_PUNCTUATION).lower() or token for token in stripped.split()]
    if loop := _longest_loop(words) or _longest_loop(tokens):
        unit, count = loop
        return f"{' '.join(unit)!r} comes {count} times in a row"
    word_limit = MAX_WORDS_PER_SECOND * seconds + WORD_SLACK
    if len(words) > word_limit:
        return f"{len(words)} words in {seconds:.1f} s of audio"
    character_limit = MAX_CHARACTERS_PER_SECOND * seconds + CHARACTER_SLACK
    if len(stripped) > character_limit:
        return f"{len(stripped)} characters in {seconds:.1f} s of audio"
    if len(stripped) >= COMPRESSION_MIN_CHARACTERS:
        raw = stripped.encode("utf-8")
        ratio = len(raw) / len(zlib.compress(raw))
        if ratio > MAX_COMPRESSION_RATIO:
            return f"the text repeats itself (compression ratio {ratio:.1f})"
    return None


def _longest_loop(words: list[str]) -> tuple[tuple[str, ...], int] | None:
    """The unit of 1..MAX_UNIT words repeated most often back to back, if more than allowed."""
    worst: tuple[tuple[str, ...], int] | None = None
    for size in range(1, MAX_UNIT + 1):
        for start in range(len(words) - size * (MAX_REPEATS + 1) + 1):
            unit = words[start : start + size]
            count = 1
            while words[start + count * size : start + (count + 1) * size] == unit:
                count += 1
            looping = count >= LONG_LOOP or 2 * count * size >= len(words)
            if count > MAX_REPEATS and looping and (worst is None or count > worst[1]):
                worst = (tuple(unit), count)
    return worst
