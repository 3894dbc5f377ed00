"""Keeping a tiny model a good classroom partner: words, level, role and language.

Four checks on text, each cheap enough to run on every sentence the box is about
to say (microseconds, no model):

* :class:`ClassroomFilter` — blocked words and phrases. The engine asks it twice:
  :meth:`~ClassroomFilter.redirect_for` on what the *student* said (a blocked
  word there gets a gentle change of topic, and the language model is not asked
  at all), and :meth:`~ClassroomFilter.blocks` on each piece of the reply
  *before* it reaches the voice (a hit stops the reply; if nothing was spoken
  yet, the language's ``fallback`` line is said instead). So a blocked word from the model
  never reaches the speaker.
* :func:`check_level` — is a reply pitched at the class's CEFR level: words per
  sentence and the share of rare words (:data:`WORDS_PER_SENTENCE`,
  :data:`RARE_SHARE`). :func:`fits_level` is the engine's yes/no version, asked
  of each sentence before it is spoken.
* :func:`role_confusion` — the model answered *as the student* ("my name is
  Anna" → "Hi, I'm Anna!"), the typical failure of very small chat models.
* :func:`language_mismatch` — the reply is not in the class's language.

The word lists and the lines said instead live in each language's data folder
(``blocked.txt``, ``common_words.txt``, ``lines.toml``; see
:mod:`appliance.lessons.language`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cache

from appliance.core.config import FilterSettings
from appliance.lessons.language import box_lines, word_list
from appliance.lessons.text import sentences_of, words_of

# The section of blocked.txt whose phrases are idioms, let through ("killing me").
HARMLESS_SECTION = "harmless"
# The section of blocked.txt whose words get the caring line, not a change of topic.
CARE_SECTION = "self-harm"

# CEFR limits. A reply's words per sentence is its word count divided by its number
# of sentences (the mean), so one longer sentence beside short ones can pass.
WORDS_PER_SENTENCE = {"A1": 6, "A2": 8, "B1": 12, "B2": 18, "C1": 25}
# The most a reply may have of words outside the 3000 most common (names and numbers
# are not counted). C1 has no limit.
RARE_SHARE: dict[str, float | None] = {"A1": 0.10, "A2": 0.15, "B1": 0.20, "B2": 0.30, "C1": None}

# Leetspeak: the characters that may stand for a letter in a blocked word.
_LOOKALIKES = {
    "a": "a4@",
    "e": "e3",
    "i": "i1!",
    "l": "l1",
    "o": "o0",
    "s": "s5$",
    "t": "t7",
}
_SEPARATOR = r"[\s\-_.]*"
# Endings caught on the default list: "kills", "killed", "killing", "stabbed".
_ENDINGS = r"(?:s|es|d|ed|ing)?"


@cache
def common_words(language: str = "en") -> frozenset[str]:
    """The language's most common words (empty when the language has no list)."""
    return frozenset(word for word, _ in word_list(language, "common_words"))


# --- the word filter ---


@dataclass(frozen=True)
class _Term:
    word: str
    section: str
    pattern: re.Pattern[str]


def _obfuscation_tolerant(word: str) -> str:
    """A regex for ``word`` that also matches "shiiit", "sh1t", "$hit", "self harm"/"selfharm"."""
    parts = []
    for char in word:
        if char in " -":
            parts.append(_SEPARATOR)
        else:
            parts.append(f"[{re.escape(_LOOKALIKES.get(char, char))}]+")
    body = "".join(parts) + _ENDINGS
    if word.endswith("e"):  # "rape" → "raping"
        body = f"(?:{body}|{''.join(parts[:-1])}ing)"
    return body


def _whole_word(body: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


class ClassroomFilter:
    """Blocked words and phrases: the default list for the language, plus the teacher's.

    Built from ``config.filter``: ``extra_words`` are blocked too (as whole words,
    exactly as written, any case); ``allowed_words`` win over both lists: an
    allowed word is taken off the lists, and an allowed phrase ("Moby Dick") is
    ignored wherever it appears in the text. With ``enabled = false`` nothing is
    blocked.

    Matching is whole-word and case-insensitive: "skill" does not match "kill".
    Words of the default list also match with repeated letters ("fuuuck"),
    common leetspeak ("sh1t", "a$$hole") and the endings -s, -es, -ed, -ing.
    """

    def __init__(self, settings: FilterSettings | None = None, language: str = "en") -> None:
        settings = settings or FilterSettings()
        self.enabled = settings.enabled
        self.language = language
        self.lines = box_lines(language)
        allowed = {word.strip().lower() for word in settings.allowed_words if word.strip()}
        terms: dict[str, _Term] = {}
        listed = word_list(language, "blocked")
        # "My feet are killing me": phrases of the section "harmless" are let through,
        # as a teacher's allowed phrase is.
        allowed |= {word for word, section in listed if section == HARMLESS_SECTION}
        for word, section in listed:
            if section == HARMLESS_SECTION:
                continue
            if word not in allowed and word not in terms:
                terms[word] = _Term(word, section, _whole_word(_obfuscation_tolerant(word)))
        for word in (w.strip().lower() for w in settings.extra_words):
            if word and word not in allowed and word not in terms:
                body = _SEPARATOR.join(re.escape(part) for part in word.split())
                terms[word] = _Term(word, "teacher", _whole_word(body))
        # Longest first, so "kill myself" (self-harm) wins over "kill".
        self.terms = sorted(terms.values(), key=lambda term: -len(term.word))
        self._allowed = [
            _whole_word(_SEPARATOR.join(re.escape(part) for part in word.split()))
            for word in sorted(allowed, key=len, reverse=True)
        ]

    def blocks(self, text: str) -> str | None:
        """The blocked word or phrase (as listed) that ``text`` contains, or None."""
        term = self._match(text)
        return term.word if term else None

    def redirect_for(self, transcript: str) -> str | None:
        """What to say instead of asking the model, when the student said a blocked word.

        None when the transcript is fine. Self-harm words get a caring line that
        points to a trusted adult; anything else a friendly change of topic.
        """
        term = self._match(transcript)
        if term is None:
            return None
        if term.section == CARE_SECTION:
            return self._first_allowed([self.lines.care])
        lines = self.lines.redirects
        start = sum(map(ord, transcript)) % len(lines)
        return self._first_allowed([*lines[start:], *lines[:start]])

    @property
    def fallback(self) -> str:
        """The line said instead of a reply that hit the filter before anything was spoken."""
        return self._first_allowed([self.lines.fallback])

    def _first_allowed(self, lines: list[str]) -> str:
        """The first of ``lines`` the teacher's list lets through, else a last resort, else ""."""
        lines = [*lines, self.lines.last_resort]
        return next((line for line in lines if self._match(line) is None), "")

    def _match(self, text: str) -> _Term | None:
        if not self.enabled or not text:
            return None
        for allowed in self._allowed:
            text = allowed.sub(" ", text)
        return next((term for term in self.terms if term.pattern.search(text)), None)


# --- the level check ---


@dataclass(frozen=True)
class LevelReport:
    """How a reply measures against a CEFR level (limits in the module's constants)."""

    level: str
    words: int
    sentences: int
    words_per_sentence: float  # the mean
    longest_sentence: int
    rare_words: tuple[str, ...]
    rare_share: float | None  # None when the language has no common-word list
    max_words_per_sentence: int
    max_rare_share: float | None
    ok: bool
    problems: tuple[str, ...] = field(default=())


def check_level(text: str, level: str, language: str = "en") -> LevelReport:
    """Measure ``text`` against ``level`` (A1–C1).

    * words per sentence: the mean over the reply's sentences must be at most
      A1 6, A2 8, B1 12, B2 18, C1 25;
    * rare-word share: words not among the language's 3000 most common words,
      over all words counted, must be at most A1 10 %, A2 15 %, B1 20 %, B2 30 %
      (C1: no limit). Numbers are not counted, nor names (a capitalised word
      that does not start a sentence). Inflected forms of common words count as
      common: "played", "cats", "happier", "stopped".
    """
    sentences = sentences_of(text)
    lengths = [len(words_of(sentence)) for sentence in sentences]
    words = sum(lengths)
    mean = words / len(sentences) if sentences else 0.0
    max_per_sentence = WORDS_PER_SENTENCE[level]
    max_rare = RARE_SHARE[level]
    known = common_words(language)
    rare: list[str] = []
    counted = 0
    for sentence in sentences:
        for position, word in enumerate(words_of(sentence)):
            if any(char.isdigit() for char in word):
                continue
            if position > 0 and word[0].isupper() and word != "I":
                continue  # a name: Anna, Paris, Lego
            counted += 1
            if known and not _is_common(word.lower(), known):
                rare.append(word.lower())
    rare_share = (len(rare) / counted if counted else 0.0) if known else None
    problems = []
    if mean > max_per_sentence:
        problems.append(f"{mean:.1f} words per sentence (at most {max_per_sentence})")
    if max_rare is not None and rare_share is not None and rare_share > max_rare:
        problems.append(f"{rare_share:.0%} rare words (at most {max_rare:.0%})")
    return LevelReport(
        level=level,
        words=words,
        sentences=len(sentences),
        words_per_sentence=mean,
        longest_sentence=max(lengths, default=0),
        rare_words=tuple(rare),
        rare_share=rare_share,
        max_words_per_sentence=max_per_sentence,
        max_rare_share=max_rare,
        ok=not problems,
        problems=tuple(problems),
    )


def fits_level(text: str, level: str, language: str = "en") -> bool:
    """Whether ``text``, one sentence or a few, passes :func:`check_level` for the engine.

    The engine asks this of each sentence before it is spoken. A share is a poor
    measure of a few words (one rare word in five is 20 %, over A1's 10 %), so a
    short sentence may hold as many rare words as a full-length sentence at the
    level may: A1 1, A2 2, B1 3, B2 6.
    """
    report = check_level(text, level, language)
    if report.words_per_sentence > report.max_words_per_sentence:
        return False
    if report.max_rare_share is None or report.rare_share is None:
        return True
    counted = max(report.words, report.max_words_per_sentence)
    return len(report.rare_words) <= math.ceil(report.max_rare_share * counted)


def _is_common(word: str, known: frozenset[str]) -> bool:
    """``word`` or its stem is common: a light English stemmer, enough for a word list."""
    if word in known:
        return True
    for ending in ("'s", "s'", "'ll", "'re", "'ve", "'d"):
        if word.endswith(ending) and word[: -len(ending)] in known:
            return True
    stems = []
    for ending, replacements in (
        ("ies", ("y",)),
        ("ied", ("y",)),
        ("es", ("", "e")),
        ("s", ("",)),
        ("ed", ("", "e")),
        ("ing", ("", "e")),
        ("ly", ("", "le")),
        ("ier", ("y",)),
        ("iest", ("y",)),
        ("er", ("", "e")),
        ("est", ("", "e")),
    ):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            stem = word[: -len(ending)]
            stems += [stem + replacement for replacement in replacements]
            if len(stem) > 2 and stem[-1] == stem[-2]:  # stopped → stop
                stems.append(stem[:-1])
    return any(stem in known for stem in stems)


# --- role confusion ---

_NAME_INTRO = re.compile(
    r"\b(?:my name is|my name's|call me|i am called|i'm called)\s+([^\W\d_]+)", re.IGNORECASE
)
_I_AM_NAME = re.compile(r"\b(?:[Ii]'m|I am)\s+([A-Z][^\W\d_A-Z]+)\b")
_AGE = re.compile(r"\b(?:i'm|i am)\s+(\d+)(?:\s+years?\s+old)?\b", re.IGNORECASE)
_ORIGIN = re.compile(r"\b(?i:i'm|i am|i come)\s+from\s+([A-Z][^\W\d_]+)")


def student_identity(transcript: str) -> tuple[set[str], set[str], set[str]]:
    """The names, ages and home places the student gave for themselves (lowercase)."""
    text = transcript.replace("’", "'")
    names = {match.group(1).lower() for match in _NAME_INTRO.finditer(text)}
    # "I'm Anna", "I am Tom": a capitalised word after "I'm" (not "I'm happy", not "I'm OK").
    names |= {match.group(1).lower() for match in _I_AM_NAME.finditer(text)}
    ages = {match.group(1) for match in _AGE.finditer(text)}
    places = {match.group(1).lower() for match in _ORIGIN.finditer(text)}
    return names, ages, places


def role_confusion(reply: str, transcript: str, language: str = "en") -> bool:
    """True when the reply claims the student's name, age or home as the box's own.

    The student says "Hello, my name is Anna." — a reply "Hello, I'm Anna!",
    "My name is Anna." or "Call me Anna" is the model speaking as the student.
    "Nice to meet you, Anna!" is fine. Ages ("I am 12 years old") and homes
    ("I'm from Spain") count the same way. ``transcript`` may hold everything the
    student said in the session, so a later claim is caught too.

    The patterns are English: for another ``language`` this returns False (not
    measured) until that language's patterns are added.
    """
    if language != "en":
        return False
    names, ages, places = student_identity(transcript)
    text = reply.replace("’", "'")
    claim = r"\b(?:my name is|my name's|call me|i am called|i'm called|i'm|i am)\s+(?:also\s+)?"
    for name in names:
        if re.search(claim + re.escape(name) + r"\b", text, re.IGNORECASE):
            return True
    for age in ages:
        if re.search(rf"\b(?:i'm|i am)\s+(?:also\s+)?{age}\s+years?\s+old", text, re.IGNORECASE):
            return True
    for place in places:
        pattern = rf"\b(?:i'm|i am|i come)\s+(?:also\s+)?from\s+{re.escape(place)}\b"
        if re.search(pattern, text, re.IGNORECASE):
            return True
    return False


# --- language ---

# The commonest function words of each language, mostly distinct between them (no "a",
# "de", "en", "die" ...): enough to tell which language a sentence is in.
_STOP_WORDS_TEXT = {
    "en": "the and is are you your what i it this that with have to of was do not my",
    "es": "el la los las y es que qué un una por para con tu yo pero muy está",
    "fr": "le les et est je tu vous une que qui pour pas avec dans sur très c'est",
    "de": "der das und ist ich du nicht ein eine mit auf für sehr wie was",
    "it": "il lo gli e è che di un una per con non sono mi ti molto",
    "pt": "o os as e é que um uma para com não você eu muito está",
    "nl": "het een en is ik je niet van dat met voor zijn ook wat",
}
STOP_WORDS = {code: frozenset(words.split()) for code, words in _STOP_WORDS_TEXT.items()}


def guess_language(text: str) -> str | None:
    """The language of :data:`STOP_WORDS` with most function words in ``text``, if any."""
    words = [word.lower() for word in words_of(text)]
    scores = {code: sum(word in stop for word in words) for code, stop in STOP_WORDS.items()}
    best = max(scores, key=lambda code: scores[code])
    return best if scores[best] else None


def language_mismatch(text: str, language: str = "en") -> bool:
    """True when ``text`` is clearly not in ``language``.

    Two tests, for replies of three words or more: the script (for English, more
    than 10 % of the letters outside ASCII; for other Latin-script languages,
    more than 30 % outside the Latin alphabet), and the function words: another
    language of :data:`STOP_WORDS` has strictly more of them than ``language``.
    """
    words = words_of(text)
    if len(words) < 3:
        return False
    letters = [char for char in text if char.isalpha()]
    if language == "en":
        foreign = sum(not char.isascii() for char in letters)
        if letters and foreign / len(letters) > 0.10:
            return True
    elif language in STOP_WORDS:
        foreign = sum(not _is_latin(char) for char in letters)
        if letters and foreign / len(letters) > 0.30:
            return True
    if language not in STOP_WORDS:
        return False
    lowered = [word.lower() for word in words]
    scores = {code: sum(word in stop for word in lowered) for code, stop in STOP_WORDS.items()}
    return max(scores.values()) > scores[language]


def _is_latin(char: str) -> bool:
    return char.isascii() or "\u00c0" <= char <= "\u024f"
