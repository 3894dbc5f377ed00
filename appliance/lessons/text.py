"""Text on its way from the language model to the voice.

:class:`SentenceSplitter` cuts streamed text into pieces the voice can start on
at once: whole sentences, and for the very first piece, a clause, so the box
starts talking after a few words rather than a whole sentence.

:func:`speakable` removes what must never be read aloud: links, code, markup.
"""

from __future__ import annotations

import re

ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "mt", "no"}
SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*$")
CLAUSE_END = re.compile(r"[,;:—–]$")


class SentenceSplitter:
    """Feed streamed text; get back the pieces that are ready to speak."""

    def __init__(self, first_clause_words: int = 5) -> None:
        self.first_clause_words = first_clause_words
        self._buffer = ""
        self._pieces_given = 0

    def feed(self, text: str) -> list[str]:
        ready = []
        for part in re.split(r"(\s+)", text):
            if not part:
                continue
            if part.isspace() and "\n" in part and self._buffer.strip():
                ready.append(self._take())
                continue
            self._buffer += part
            if not part.isspace() and self._ends_piece(self._buffer):
                ready.append(self._take())
        return ready

    def flush(self) -> str | None:
        return self._take() if self._buffer.strip() else None

    def _ends_piece(self, text: str) -> bool:
        stripped = text.rstrip()
        last_word = stripped.split()[-1] if stripped.split() else ""
        if SENTENCE_END.search(stripped):
            word = last_word.rstrip(".!?…\"')]").lower()
            is_abbreviation = stripped.endswith(".") and word in ABBREVIATIONS
            # "3." may become "3.5": wait for the next piece.
            is_number = stripped.endswith(".") and word[-1:].isdigit()
            return not is_abbreviation and not is_number
        if self._pieces_given == 0 and CLAUSE_END.search(stripped):
            return len(stripped.split()) >= self.first_clause_words
        return False

    def _take(self) -> str:
        piece, self._buffer = self._buffer.strip(), ""
        self._pieces_given += 1
        return piece


URL = re.compile(r"(https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)
CODE = re.compile(r"```.*?(```|$)|`[^`]*`", re.DOTALL)
TAGS = re.compile(r"<[^>]{0,200}>")
MARKUP = re.compile(r"[*_#~|\\^{}\[\]<>=]+")
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]")


def speakable(text: str) -> str:
    """``text`` with links, code, markup and emoji removed, and spaces tidied."""
    text = CODE.sub(" ", text)
    text = URL.sub(" ", text)
    text = TAGS.sub(" ", text)
    text = MARKUP.sub(" ", text)
    text = EMOJI.sub("", text)
    text = re.sub(r"^\s*[-•]\s+", "", text)
    return re.sub(r"\s+", " ", text).strip()


# The one tokenizer: a word is letters or digits in any script, with inner apostrophes.
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?:\s+|$)")


def words_of(text: str) -> list[str]:
    """Words as a teacher counts them: "don't" is one word, "3" is one, "—" is none, and
    "Привет, как дела?" is three."""
    return _WORD.findall(text.replace("’", "'"))


def word_count(text: str) -> int:
    return len(words_of(text))


def sentences_of(text: str) -> list[str]:
    """``text`` cut after ``.``, ``!``, ``?`` and ``…``; pieces with no word dropped."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if _WORD.search(piece)]


_MARKED_SENTENCE = re.compile(r"[^.!?…]+[.!?…]*")


def sentences_marked(text: str) -> list[str]:
    """``text`` cut after each ``.``, ``!``, ``?`` and ``…``, the marks kept ("…elephants?
    And how much…?" → two, each with its "?"); pieces with no word dropped."""
    return [piece.strip() for piece in _MARKED_SENTENCE.findall(text) if _WORD.search(piece)]


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends a sentence (".", "!", "?", "…", maybe inside quotes)."""
    return SENTENCE_END.search(text.rstrip()) is not None


def ends_question(text: str) -> bool:
    """Whether ``text`` ends with a question mark (maybe inside quotes)."""
    return text.rstrip().rstrip("\"')]").endswith("?")
