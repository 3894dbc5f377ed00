"""A lesson's target words: what the teacher wants students to use, and whether they did.

The teacher types the words on the Lessons page (or picks a saved list); they live
in the config as ``lessons.target_words``, so every part of the box that reads the
config sees the same ones from its next turn on:

- :func:`target_words` gives them to whoever wants them (the turn planner, to prefer
  moves that invite them; the speech recogniser, as hints: :func:`recognition_hint`);
- :class:`TargetMatcher` tells which of them a student's turn contains. The lesson
  record keeps only how many were hit, never which (they would be the student's words).

A target may be a short phrase ("ice cream"): it matches the same words in a row. In
English a single word also matches its plain inflections ("apple" in "apples", "walk"
in "walked", "walking"), as a teacher would count it.

Saved lists (:class:`WordLists`) are kept in ``$PARLO_HOME/word-lists.json``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from appliance.core.config import MAX_TARGET_WORD_CHARS, MAX_TARGET_WORDS, Config
from appliance.core.durable import write_atomically
from appliance.lessons.text import words_of

log = logging.getLogger(__name__)

MAX_LISTS = 50
MAX_LIST_NAME = 60
_SEPARATORS = re.compile(r"[\n\r,;]+")
_SIBILANT_ENDINGS = ("s", "x", "z", "ch", "sh", "o")  # "buses", "boxes", "potatoes"


class WordListError(ValueError):
    """A word list the page cannot keep; the message says why, for the teacher."""


def target_words(config: Config) -> tuple[str, ...]:
    """The current lesson's target words, as the teacher wrote them (the planner's and
    the recogniser's way to them)."""
    return config.lessons.target_words


def parse_word_list(text: str) -> tuple[str, ...]:
    """Words or phrases from what a teacher typed: one a line or separated by commas or
    semicolons; spaces tidied, repeats (ignoring case) dropped, order kept.

    Raises :class:`WordListError` for too many, too long or wordless entries.
    """
    words: list[str] = []
    seen: set[str] = set()
    for part in _SEPARATORS.split(text):
        word = " ".join(part.split())
        if not word:
            continue
        if not words_of(word):
            raise WordListError(f"{word!r} has no letters")
        if len(word) > MAX_TARGET_WORD_CHARS:
            raise WordListError(f"{word[:20]!r}… is longer than {MAX_TARGET_WORD_CHARS} characters")
        key = word.casefold()
        if key not in seen:
            seen.add(key)
            words.append(word)
    if len(words) > MAX_TARGET_WORDS:
        raise WordListError(f"at most {MAX_TARGET_WORDS} words, got {len(words)}")
    return tuple(words)


def recognition_hint(words: Sequence[str], max_chars: int = 200) -> str:
    """The target words as a short prompt for a speech recogniser (Whisper's
    ``initial_prompt``): as many whole words as fit in ``max_chars``, "" for none."""
    hint = ""
    for word in words:
        candidate = f"{hint}, {word}" if hint else word
        if len(candidate) + 1 > max_chars:
            break
        hint = candidate
    return f"{hint}." if hint else ""


class TargetMatcher:
    """Which target words a piece of text contains (matched in memory only)."""

    def __init__(self, words: Iterable[str], language: str = "en") -> None:
        self.words = tuple(words)
        self.language = language
        self._targets = [tuple(_tokens(word)) for word in self.words]

    def __len__(self) -> int:
        return len(self.words)

    def hits(self, text: str) -> set[int]:
        """The indices (into :attr:`words`) of the targets that ``text`` contains."""
        tokens = _tokens(text)
        found = set()
        for index, target in enumerate(self._targets):
            if target and self._contains(tokens, target):
                found.add(index)
        return found

    def _contains(self, tokens: list[str], target: tuple[str, ...]) -> bool:
        size = len(target)
        for start in range(len(tokens) - size + 1):
            window = tokens[start : start + size]
            if all(self._same(said, wanted) for said, wanted in zip(window, target, strict=True)):
                return True
        return False

    def _same(self, said: str, wanted: str) -> bool:
        if said == wanted:
            return True
        return self.language == "en" and _english_form_of(said, wanted)


def _tokens(text: str) -> list[str]:
    return [word.casefold() for word in words_of(text)]


def _english_form_of(said: str, wanted: str) -> bool:
    """Whether ``said`` is a plain inflection of ``wanted``: "apples", "buses", "Tom's",
    "liked", "walked", "walking", "running", "stopped", "studied", "making". Short words
    take only the plural, so "hated" is not "hat"."""
    if len(wanted) < 3:
        return False
    if said.startswith(wanted):
        rest = said[len(wanted) :]
        if rest in ("s", "'s") or (rest == "es" and wanted.endswith(_SIBILANT_ENDINGS)):
            return True
        if rest == "d" and wanted.endswith("e"):
            return True
        if rest in ("ed", "ing") and len(wanted) >= 4:
            return True
        # A doubled last consonant: "running" for "run", "stopped" for "stop".
        return len(rest) > 2 and rest[0] == wanted[-1] and rest[1:] in ("ing", "ed")
    if wanted.endswith("e") and said == wanted[:-1] + "ing":  # "making"
        return True
    return wanted.endswith("y") and said in (wanted[:-1] + "ies", wanted[:-1] + "ied")


class WordLists:
    """The teacher's saved lists of target words, by name, in one small JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, tuple[str, ...]]:
        """Every saved list by name (sorted); {} if there are none or the file is unreadable."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.error("the saved word lists could not be read (%s): %s", self.path, error)
            return {}
        if not isinstance(data, dict):
            return {}
        lists = {}
        for name, words in data.items():
            if isinstance(name, str) and isinstance(words, list):
                lists[name] = tuple(word for word in words if isinstance(word, str))
        return dict(sorted(lists.items(), key=lambda item: item[0].casefold()))

    def save(self, name: str, words: Sequence[str]) -> str:
        """Keep ``words`` as the list ``name`` (replacing one of that name). Returns the
        tidied name."""
        name = " ".join(name.split())
        if not name:
            raise WordListError("give the list a name")
        if len(name) > MAX_LIST_NAME:
            raise WordListError(f"a list's name has at most {MAX_LIST_NAME} characters")
        if not words:
            raise WordListError("the list has no words")
        lists = self.load()
        if name not in lists and len(lists) >= MAX_LISTS:
            raise WordListError(f"at most {MAX_LISTS} lists: delete one first")
        lists[name] = tuple(words)
        self._write(lists)
        return name

    def delete(self, name: str) -> bool:
        lists = self.load()
        if lists.pop(name, None) is None:
            return False
        self._write(lists)
        return True

    def _write(self, lists: dict[str, tuple[str, ...]]) -> None:
        data = {name: list(words) for name, words in lists.items()}
        write_atomically(self.path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
