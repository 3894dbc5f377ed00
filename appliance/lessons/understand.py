"""Reading a student's turn cheaply: its dialogue act, the student's name, the topic.

Keywords and simple patterns from the language's ``classroom.toml``, no model:
a turn is read in well under a millisecond, and the same words are always read
the same way. :func:`understand` is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from appliance.lessons.content import COURTESY, Classroom, LessonContent, Topic
from appliance.lessons.safety import common_words
from appliance.lessons.text import sentences_marked, sentences_of, words_of


class Act(StrEnum):
    """What the student's turn does."""

    INTRODUCTION = "introduction"  # a greeting, a name
    STATEMENT = "statement"
    QUESTION = "question"  # a question to the box
    REQUEST = "request"  # "Can I have…", "I'd like…"
    YES = "yes"
    NO = "no"
    REPEAT = "repeat"  # "Sorry, can you say that again?", "More slowly, please"
    DONT_KNOW = "dont_know"
    OFF_TASK = "off_task"  # homework, links, code, jokes, sums
    GOODBYE = "goodbye"
    GIVE_UP = "give_up"  # the guessing game
    ASIDE = "aside"  # said to the teacher or someone else: "Wait, my phone…"
    CHANGE_TOPIC = "change_topic"  # "Can we talk about something else?"


@dataclass(frozen=True)
class Understanding:
    """What the planner knows of one turn. ``text`` is the student's words: student data,
    never logged unless the teacher opted in."""

    text: str
    act: Act
    name: str | None = None
    age: str | None = None
    origin: str | None = None
    greeting: bool = False
    topic: str | None = None
    off_task: str | None = None  # which: "homework", "link", "code", "joke", "sum"
    opinion: bool = False  # the student asks what the box thinks
    opinion_why: bool = False  # … why something is so ("Why do you think they leave?")
    opinion_yes: bool = False  # … whether ("Do you think people should…?")
    aside: str | None = None  # to whom: "teacher" or "other"
    complaint: bool = False  # "I already told you": the box asked again
    question: str = ""  # the question sentence, when there is one
    sentiment: str = "neutral"  # "positive", "negative" or "neutral"
    content: frozenset[str] = frozenset()


GREETING = re.compile(r"^\W*(hello|hi|hey|good (morning|afternoon|evening)|hiya)\b", re.I)
_NAME = re.compile(
    r"\b(?i:my name is|my name's|call me|i am called|i'm called|under the name|this is)\s+"
    r"([A-Z][^\W\d_]+)"
)
_NAME_LOWER = re.compile(r"\b(?:my name is|my name's|call me|i am called|i'm called)\s+([^\W\d_]+)")
_I_AM = re.compile(r"\b(?:I'm|I am|i'm|im)\s+([A-Z][^\W\d_]+)\b")
_AGE = re.compile(
    # "I'm thirty-four", and the learner's "I have fifteen years (old)".
    r"\b(?:i'm|i am|im|i have(?= \S+ years?\b))\s+(\d{1,2}|one|two|three|four|five|six|seven|"
    r"eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|"
    r"nineteen|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty)(?:[- ](?:one|two|three|four|"
    r"five|six|seven|eight|nine)\b)?)\b(?:\s+years?(?:\s+old)?)?",
    re.I,
)
# "I'm from Brazil", and "I am Tomas from Brazil" (a name between).
_ORIGIN = re.compile(
    r"\b(?i:i'm|i am|i come|im)\s+(?:[A-Z][^\W\d_]+\s+){0,2}(?i:from)\s+([A-Z][^\W\d_]+)"
)
NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
QUESTION_START = re.compile(
    rf"^{COURTESY}(what|where|when|who|whose|why|how|which|do|does|did|are|is|can|could|"
    r"would|will|have|has|may|shall|should)\b",
    re.I,
)


@cache  # thousands of keys: re's own cache (512) thrashed, 40 ms a turn (bench: plan p95)
def _key_pattern(key: str) -> re.Pattern[str]:
    parts = key.lower().split()
    body = r"\s+".join(re.escape(part) for part in parts)
    endings = r"(?:s|es)?"
    if len(parts) == 1 and len(parts[0]) > 2:
        endings = r"(?:s|es|ing|ed|d)?"
        if parts[0].endswith("e"):
            body = rf"(?:{body}|{re.escape(parts[0][:-1])}ing)"
    return re.compile(rf"(?<!\w){body}{endings}(?!\w)")


def matches(text: str, key: str) -> bool:
    """Whether ``key`` (a word or phrase) is in ``text`` as whole words; a plural or an
    "-s" form counts ("dogs" for "dog"), and for a one-word key the "-ing" and "-ed"
    forms too ("making" for "make", "played" for "play")."""
    return _key_pattern(key).search(text.lower()) is not None


def key_score(text: str, keys: tuple[str, ...]) -> int:
    """How strongly ``text`` names ``keys``: the number of its words some key covers (a
    phrase says more than a word; "studying" found by "study" and "studying" is one)."""
    lowered = text.lower()
    covered: set[int] = set()
    for key in keys:
        for found in _key_pattern(key).finditer(lowered):
            covered.update(range(found.start(), found.end()))
    kept = "".join(char if index in covered else " " for index, char in enumerate(lowered))
    return len(re.findall(r"\w+", kept))


def find(patterns: tuple[re.Pattern[str], ...], text: str) -> re.Match[str] | None:
    return next((found for p in patterns if (found := p.search(text))), None)


def content_words(text: str, classroom: Classroom) -> frozenset[str]:
    return frozenset(
        word for word in (w.lower() for w in words_of(text)) if word not in classroom.stop_words
    )


def student_name(
    text: str, language: str = "en", not_names: frozenset[str] = frozenset()
) -> str | None:
    """The name the student gives: "My name is Lena", "I'm Kenji" (a capitalised word
    that is not a common word: not "I'm English", "I'm Happy"). Right after a greeting
    ("Hi, I'm Daniel", "Hi Parlo, it's Giulia") a common word is a name too, unless it
    is one of ``not_names`` ("Hi, I'm Fine" is not a name)."""
    text = text.replace("’", "'")
    if found := _NAME.search(text):
        return found[1]
    # Speech recognition in lower case: "hello my name is joana i am from brazil".
    if text == text.lower() and (found := _NAME_LOWER.search(text)):
        word = found[1]
        if word not in common_words(language) and word not in not_names:
            return word.capitalize()
    common = common_words(language)
    for sentence in sentences_of(text)[:2] if GREETING.search(text) else ():
        if found := _GREETED_NAME.search(sentence):
            word = found[1]
            if word.lower() not in not_names and word.lower() not in NUMBER_WORDS:
                return word
    for found in _I_AM.finditer(text):
        word = found[1]
        if word.lower() not in common and word.lower() not in NUMBER_WORDS:
            return word
    return None


# "Hi, I'm Daniel." and "Good evening. I'm Grace, I'm a nurse…": a name, even a word.
_GREETED_NAME = re.compile(r"\b(?:I'm|I am|it's|it is|this is)\s+([A-Z][^\W\d_]+)(?:\W*$|\s*,)")


def question_sentence(text: str, classroom: Classroom) -> str:
    """The sentence of ``text`` that asks something ("" if none). A one-word "Weakness?"
    is the student thinking aloud, not a question."""
    # Cut after each ".", "!", "?" with the mark kept: "…elephants? And how much…?"
    pieces = sentences_marked(text)
    for sentence in reversed(pieces or sentences_of(text) or [text]):
        stripped = sentence.strip()
        ends = stripped.endswith("?") and len(words_of(stripped)) >= 2
        if not ends and find(classroom.acts["telling_clause"], stripped):
            continue  # "When teachers cannot connect, they call me.": telling, not asking
        if ends or (QUESTION_START.search(stripped) and find(classroom.acts["question"], stripped)):
            return stripped
    # sentences_of drops the punctuation it cuts at: look at the raw text too.
    for part in re.findall(r"[^.!?]*\?", text):
        if len(words_of(part)) >= 2:
            return part.strip()
    return _unmarked_question(pieces or [text], classroom)


_WH_QUESTION = re.compile(rf"^{COURTESY}(?:what|where|when|who|why|how|which)\b", re.I)
_UNSURE = re.compile(r"\b(?:don'?t|do not|didn'?t) know\W*$|\bnot sure\W*$|\bno idea\W*$", re.I)


def _unmarked_question(sentences: list[str], classroom: Classroom) -> str:
    """A question that speech recognition left without its mark: a sentence that starts
    like one ("is it big"), else the last question inside one ("to the city centre how
    much is it" → "how much is it"), not "I don't know what time it is"."""
    acts = classroom.acts
    for sentence in reversed(sentences):
        marked = sentence.strip().endswith((".", "!"))
        stripped = sentence.strip().rstrip(".!")
        if len(words_of(stripped)) < 2:
            continue
        # A sentence the student ended with a full stop is read as marked: only a
        # question word starts a question there ("how long it take."), not "is my boss.".
        if find(acts["question_start"], stripped) and not (
            marked
            and not re.match(rf"^{COURTESY}(?:what|where|when|who|why|how|which)\b", stripped, re.I)
        ):
            return stripped
        if marked:
            continue
        starts = [m.start() for p in acts["question_inside"] for m in p.finditer(stripped)]
        if not starts:
            continue
        start = max(starts)
        # "and you what music do you like": from the question word just before.
        before = stripped[:start]
        wh = list(re.finditer(r"\b(?:what|which|where|when|who|why|how)\b", before, re.I))
        if wh and len(words_of(before[wh[-1].start() :])) <= 3:
            start = wh[-1].start()
        question = stripped[start:]
        # "the main problem is that the rents went up a lot because…" (30 words on): a
        # clause in a long thought, not a question asked inside it.
        if 2 <= len(words_of(question)) <= 16 and not _UNSURE.search(stripped[:start]):
            return question
    return ""


def _after_repeat(text: str, repeat: tuple[re.Pattern[str], ...]) -> str:
    """What comes after the last request to repeat in ``text`` ("…more slowly please")."""
    ends = [m.end() for p in repeat for m in p.finditer(text)]
    if not ends:
        return ""
    return re.sub(r"^\W*(?:please\b)?\W*", "", text[max(ends) :])


def _reread(question: str, text: str, classroom: Classroom) -> str:
    """The question the student asks, read again with the whole turn (``acts`` patterns a
    language may leave out): telling that looks like asking is no question, and a
    question passed on, left at the end, or put as a tag is one."""
    acts = classroom.acts
    long_enough = len(words_of(text))
    found = find(acts["word_found"], text)
    if question and found and len(words_of(text[found.end() :])) >= 2:
        return ""  # "Minecraft and... erm... how you say... car game. Mario Kart!": found
    if question and (find(acts["topic_brought"], question) or find(acts["disagrees"], question)):
        return ""  # "Today we talk about weekend?", "what do you mean it is not a real talent"
    if not question and (passed := find(acts["passed_on"], text)):
        # "my friend asks if we can take photos inside": her question, asked of the box.
        groups = passed.groupdict()
        if groups.get("verb"):
            return f"{groups['verb']} {groups['who']} {groups['rest']}".strip(" .!?") + "?"
        return passed["question"].strip(" .!?") + "?"
    if not question and find(acts["ask_back_end"], text) and long_enough > 4:
        return text  # "i play football on sunday and you": the same, asked of the box
    if question and find(acts["tag"], question) and long_enough > 6:
        return text  # "…so it's not really a shorter week is it": their view, asked
    if question and find(acts["ask_back"], question) and long_enough > 4:
        return text  # "For breakfast I eat bread with tomato. And you?": asked of the box
    return question


def topic_of(text: str, topics: tuple[Topic, ...]) -> str | None:
    scores = [
        (key_score(text, topic.keys), -index, topic.name) for index, topic in enumerate(topics)
    ]
    best = max(scores, default=(0, 0, None))
    return best[2] if best[0] else None


def sentiment_of(text: str, classroom: Classroom) -> str:
    """The feeling of the line; with words of both, the one said last wins ("I've loved
    them for years, and honestly, I was a bit disappointed" is negative)."""
    text = _GREETINGS.sub(" ", text)  # "Good evening." says nothing of the feeling
    negative = key_score(text, classroom.negative_words)
    positive = key_score(text, classroom.positive_words)
    if negative and positive:
        last_negative = _last_at(text, classroom.negative_words)
        last_positive = _last_at(text, classroom.positive_words)
        if last_negative != last_positive:
            return "negative" if last_negative > last_positive else "positive"
    if negative > positive:
        return "negative"
    return "positive" if positive else "neutral"


_GREETINGS = re.compile(r"\bgood (morning|afternoon|evening|night|day)\b", re.I)


def _last_at(text: str, keys: tuple[str, ...]) -> int:
    """Where the last of ``keys`` in ``text`` ends (-1 if none)."""
    lowered = text.lower()
    ends = [m.end() for key in keys for m in _key_pattern(key).finditer(lowered)]
    return max(ends, default=-1)


def understand(text: str, content: LessonContent) -> Understanding:
    """Read one turn. Pure: the same words always give the same :class:`Understanding`."""
    classroom = content.classroom
    acts, words = classroom.acts, content_words(text, classroom)
    cleaned = text.strip()
    question = question_sentence(cleaned, classroom)
    if question and _answers_itself(cleaned, question):
        question = ""  # "Why I want this job? Because I like animals.": an answer
    question = _reread(question, cleaned, classroom)
    off_task = next((kind for kind, p in classroom.off_task.items() if find(p, cleaned)), None)
    identity = {
        "name": student_name(cleaned, content.language, classroom.not_names),
        "age": (found[1] if (found := _AGE.search(cleaned)) else None),
        "origin": (found[1] if (found := _ORIGIN.search(cleaned)) else None),
    }
    common: dict[str, Any] = {
        "text": cleaned,
        "greeting": GREETING.search(cleaned) is not None,
        "topic": topic_of(cleaned, content.topics),
        "opinion": find(acts["opinion"], cleaned) is not None,
        "opinion_why": find(acts["opinion_why"], cleaned) is not None,
        "opinion_yes": bool(question) and find(acts["opinion_yes"], question) is not None,
        "complaint": find(acts["complaint"], cleaned) is not None,
        "question": question,
        "sentiment": sentiment_of(cleaned, classroom),
        "content": words,
        **identity,
    }
    # A long turn that mentions "again" is more likely a story or an answer than a request.
    # "Sorry, I didn't catch that. What flavours do you have?": a new question, not a
    # request to repeat.
    asks_anew = (
        bool(question)
        and not find(acts["repeat"], question)
        and not find(acts["asks_box_to"], question)
        # "…repeat the last part? You said something about 'accessibility'?" asks nothing new
        and QUESTION_START.match(question) is not None
    )
    if question and not asks_anew and (after := _after_repeat(cleaned, acts["repeat"])):
        # "sorry could you speak more slowly please what is the name of this test": a new
        # question after the request, asked unpunctuated.
        new = question_sentence(after, classroom)
        if (
            len(words_of(new)) >= 3
            and after.lower().startswith(new.lower()[:12])  # the question comes next
            and QUESTION_START.match(new)
            and not find(acts["easier"], new)
            and not find(acts["asks_box_to"], new)
        ):
            question, asks_anew = new, True
            common["question"] = new
    aside = (
        "teacher"
        if find(acts["teacher_aside"], cleaned)
        else "other"
        # "What's the capital of Australia? My friend is asking me.": asked of the box.
        if find(acts["aside"], cleaned) and len(words_of(cleaned)) <= 30 and not question
        else None
    )
    repeat_at = min((m.start() for p in acts["repeat"] if (m := p.search(cleaned))), default=-1)
    if (
        repeat_at >= 0
        # "could you repeat the question please i think you asked how i would…": a request
        # that opens a long turn is still the turn's point; later in one, it is a story's.
        and (len(words_of(cleaned)) <= 24 or len(words_of(cleaned[:repeat_at])) <= 2)
        and not asks_anew
    ):
        act = Act.REPEAT
    elif find(acts["give_up"], cleaned):
        act = Act.GIVE_UP
    elif find(acts["goodbye"], cleaned):
        act = Act.GOODBYE
    elif aside is not None:
        act = Act.ASIDE
    elif find(acts["change_topic"], cleaned) and (
        not question or find(acts["change_topic"], question)
    ):
        act = Act.CHANGE_TOPIC  # not "…let's change the topic. What do you think of X?"
    elif off_task is not None:
        act = Act.OFF_TASK
    elif find(acts["another_question"], cleaned):
        act = Act.DONT_KNOW  # "Can you ask another question, please?"
    elif question and find(acts["request"], question) and not _WH_QUESTION.match(question):
        act = Act.REQUEST  # "Can I have…?"; not "How long would it take? I need it for work."
    elif question:
        act = Act.QUESTION
    elif (found := find(acts["dont_know"], cleaned)) and _little_else(cleaned, found, classroom):
        act = Act.DONT_KNOW
    elif find(acts["request"], cleaned):
        act = Act.REQUEST  # "I'd like a sandwich": a request in a scene, a statement elsewhere
    elif find(acts["yes"], cleaned) and len(words) < 5:
        act = Act.YES  # "Yes, I sent it back, but they still…" (5 content words on) tells
    elif find(acts["no"], cleaned):
        act = Act.NO
    elif identity["name"] or (common["greeting"] and len(words) <= 3):
        act = Act.INTRODUCTION
    else:
        act = Act.STATEMENT
    return Understanding(
        act=act,
        off_task=off_task if act == Act.OFF_TASK else None,
        aside=aside if act == Act.ASIDE else None,
        **common,
    )


_OWN_QUESTION = re.compile(
    r"^\W*(?:so,? |well,? |ok,? )?(?:why (?:do |did |would )?i|what (?:are|is|was) my)\b", re.I
)


_YES_NO_START = re.compile(
    r"^\W*(?:(?:actually|so|and|ok|okay|sorry|well|hmm|um|excuse me)\W+)*"
    r"(?:is|are|can|could|do|does|would|will|may|shall)\b",
    re.I,
)


def _answers_itself(text: str, question: str) -> bool:
    """Whether the student says a question over to themselves and answers it: "Why do I
    want this job? Because…", "A difficult passenger? Honestly, I'd ignore them." """
    after = text[text.find(question) + len(question) :].strip()
    if not words_of(after):
        return False
    # "Why I want this job? Because…" answers it; "Is Thursday better? Because my boss…"
    # says why the student asks.
    # "What days is the course? Because I work until six." says why the student asks too:
    # only a question about themselves ("why I…", "my…") is one they answer.
    if (
        re.match(r"^\W*because\b", after, re.I)
        and not _YES_NO_START.search(question)
        and re.search(r"^\W*why\b|\b(?:i|my|me)\b", question, re.I)
    ):
        return True
    # "Why do I want this job? Well, I'd like to use my English…": the box's question,
    # said over, then answered.
    if _OWN_QUESTION.search(question) and len(words_of(after)) >= 4:
        return True
    return not QUESTION_START.search(question) and len(words_of(question)) <= 4


def _little_else(text: str, found: re.Match[str], classroom: Classroom) -> bool:
    """Whether a turn that says "I don't know" says little besides (one content word)."""
    rest = text[: found.start()] + text[found.end() :]
    # "I don't know what happen next. Help me please": asking for help, not telling.
    return len(content_words(rest, classroom) - classroom.dont_know_filler) <= 1


def parse_number(word: str) -> int | None:
    word = word.lower()
    if word.isdigit():
        return int(word)
    return NUMBER_WORDS.get(word)
