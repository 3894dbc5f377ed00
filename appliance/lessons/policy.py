"""The guard rails on what a language model writes: one decision per piece, no models.

When the model writes a reply (a teacher's own activity, a language with no planner
content, or ``llm.planning = "free"``), the engine offers each piece (the first
clause, then each sentence) to :func:`decide` before the voice gets it. The
decision is pure: the same piece in the same conversation always gets the same
:class:`Decision`, so the policy is tested in milliseconds (``tests/test_policy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from appliance.lessons.safety import ClassroomFilter, fits_level, role_confusion
from appliance.lessons.text import ends_question, ends_sentence, sentences_of, speakable, words_of

# "Yes, I do." may come again; a whole sentence of four words or more should not.
MIN_REPEAT_WORDS = 4


class Decision(Enum):
    """What to do with one piece of a reply."""

    SAY = "say"  # hand it to the voice
    DROP = "drop"  # leave it out: the reply is shortened
    RETRY = "retry"  # the reply's first piece failed: ask the model once more
    STOP = "stop"  # a blocked word: end the reply (the filter's fallback if nothing was said)


class Problem(StrEnum):
    """Why a piece was not said as it was."""

    BLOCKED = "a blocked word"
    SPEAKS_AS_STUDENT = "speaks as the student"  # "Hi, I'm Anna!" to Anna
    REPEATS_ITSELF = "repeats itself"  # a sentence the box said earlier: tiny models loop
    ABOVE_LEVEL = "above the class's level"


@dataclass(frozen=True)
class Piece:
    """One piece of a reply, and what the decision needs to know of the conversation."""

    text: str
    spoken: tuple[str, ...]  # the pieces of this reply already said
    student_words: str  # everything the student said in the conversation, this turn too
    earlier_replies: tuple[str, ...]  # the box's replies earlier in the conversation
    level: str
    language: str
    may_retry: bool  # the first try: a failed first piece may be asked for again


def decide(piece: Piece, word_filter: ClassroomFilter) -> tuple[Decision, Problem | None]:
    """The decision for ``piece``, and the problem behind it (None for :data:`SAY`).

    * A blocked word ends the reply (:data:`Decision.STOP`).
    * A sentence that speaks as the student, repeats what the box said earlier in the
      conversation, or is above the class's level is left out (:data:`Decision.DROP`),
      or, when it would be the reply's first piece, the reply is asked for again once
      (:data:`Decision.RETRY`). The rest of a sentence already begun is never left out,
      nor a later question that was asked before (better than none).
    """
    if word_filter.blocks(piece.text):
        return Decision.STOP, Problem.BLOCKED
    problem: Problem | None
    if role_confusion(piece.text, piece.student_words, piece.language):
        problem = Problem.SPEAKS_AS_STUDENT
    elif piece.spoken and not ends_sentence(piece.spoken[-1]):
        problem = None  # the rest of a sentence already begun: a fragment would be worse
    elif repeats_earlier(piece.text, piece.earlier_replies) and (
        not piece.spoken or not ends_question(piece.text)
    ):
        problem = Problem.REPEATS_ITSELF
    elif not fits_level(speakable(piece.text), piece.level, piece.language):
        problem = Problem.ABOVE_LEVEL
    else:
        problem = None
    if problem is None:
        return Decision.SAY, None
    if piece.may_retry and not piece.spoken:
        return Decision.RETRY, problem
    return Decision.DROP, problem


def repeats_earlier(text: str, earlier_replies: tuple[str, ...]) -> bool:
    """Whether ``text`` repeats (the start of) a sentence of an earlier reply."""
    words = words_of(text.lower())
    if len(words) < MIN_REPEAT_WORDS:
        return False
    return any(
        words_of(sentence.lower())[: len(words)] == words
        for reply in earlier_replies
        for sentence in sentences_of(reply)
    )
