"""The turn planner: the code decides what each reply does; the model at most phrases it.

A 135M model cannot hold a conversation: over multi-turn classroom sessions about
one reply in four was one a teacher would let stand. So for every built-in
activity the planner reads the student's turn (:mod:`~appliance.lessons.understand`)
and builds the reply from the language's content (:mod:`~appliance.lessons.content`):

* a question to the box is answered first, from the persona's facts, so the same
  question always gets the same true answer;
* then one follow-up move from a curated bank: a topic question (never the same one
  twice), the scene's next step, the interview's next question, a story beat, an
  improv scene, or the guessing game's true answer;
* classroom moves are code: "say that again" replays the last reply slowly, "I give up"
  reveals the object, "I don't know" gets encouragement and an easier question, and
  goodbye ends the scene warmly, in character.

:meth:`TurnPlanner.plan` is pure and deterministic for a seed: it returns a
:class:`TurnPlan` holding the reply and the state after it, and changes nothing
until :meth:`TurnPlanner.commit` (a cancelled turn is never committed).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from appliance.core.config import CEFR_LEVELS
from appliance.lessons.activities import (
    SIMPLE_LEVELS,
    Secret,
    answering_fact,
    closest_fact,
    guessed_right,
)
from appliance.lessons.content import (
    Answer,
    BoxAnswer,
    Character,
    Echo,
    LessonContent,
    Place,
    Question,
    Topic,
)
from appliance.lessons.language import fill
from appliance.lessons.safety import common_words
from appliance.lessons.text import sentences_marked, sentences_of, words_of
from appliance.lessons.understand import (
    Act,
    Understanding,
    find,
    key_score,
    matches,
    parse_number,
    sentiment_of,
    understand,
)
from appliance.lessons.vocabulary import TargetMatcher

# The stock reactions that say nothing of the student's line.
FEELING_REACTIONS = (
    "in_scene",
    "in_scene_request",
    "in_scene_negative",
    "positive",
    "negative",
    "neutral",
)
# Activities whose questions are play (the story's "What happened next?"), not a topic.
_PLAYED = ("story", "improv")
PLANNED_ACTIVITIES = ("conversation", "roleplay", "interview", "story", "improv", "guess")
# A topic gets this many questions in a row before the box moves on, unless the student
# keeps talking about it.
QUESTIONS_PER_TOPIC = 2


class Move(StrEnum):
    """What the reply does, besides reacting: logged for every turn."""

    ASK = "ask"  # a topic question
    STEP = "step"  # the scene's or the interview's next step
    ITEM = "item"  # a question about the thing the student asked for
    REPEAT = "repeat"
    EXPLAIN = "explain"  # what a word the student asked about means
    GOODBYE = "goodbye"
    ENCOURAGE = "encourage"
    WAIT = "wait"  # the student spoke to someone else
    NEW_TOPIC = "new_topic"
    BEAT = "beat"  # the story's next event
    ENDING = "ending"
    SCENE = "scene"  # an improv scene is set
    IN_SCENE = "in_scene"
    ANSWER = "answer"  # the guessing game's yes or no
    WIN = "win"
    REVEAL = "reveal"
    NONE = "none"


@dataclass(frozen=True)
class PlannerState:
    """What the planner remembers of the conversation. Student words are kept in memory
    only (for ``skip_if`` and the story's hero), never written anywhere."""

    turn: int = 0
    name: str | None = None
    greeted: bool = False
    said: tuple[str, ...] = ()  # the box's replies
    heard: tuple[str, ...] = ()  # the student's lines
    used: frozenset[str] = frozenset()  # lines and questions already said
    topic: str | None = None
    topic_questions: int = 0
    topics_done: frozenset[str] = frozenset()
    last_question: Question | None = None
    step: int = 0  # the next step in role play and interview
    hero: str | None = None  # the story's main character
    place: Place | None = None  # the improv scene in play
    ordered: bool = False  # in a scene: the student has asked for something
    secret: Secret | None = None  # the guessing game's object
    ended: bool = False


@dataclass(frozen=True)
class TurnPlan:
    """One planned reply: ``reaction`` (what answers the student's line) and ``follow_up``
    (the move that leaves them something to say), and why, for the log."""

    act: Act
    move: Move
    reaction: str
    follow_up: str
    after: PlannerState
    topic: str | None = None
    slow: bool = False  # say it slowly (a repeat request)
    fallback: str = ""  # what stood in for something missing ("unknown question"...)

    @property
    def text(self) -> str:
        return join(self.reaction, self.follow_up)

    def log_fields(self) -> dict[str, str]:
        """The decision, without the student's words."""
        return {
            "act": str(self.act),
            "move": str(self.move),
            "topic": self.topic or "",
            "fallback": self.fallback,
        }


def join(*parts: str) -> str:
    return " ".join(part.strip() for part in parts if part and part.strip())


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


class TurnPlanner:
    """Plans the replies of one conversation in one built-in activity.

    ``content`` is the language's :class:`~appliance.lessons.content.LessonContent`;
    ``character`` and ``setting`` are the teacher's role-play words. ``seed`` makes
    every choice repeatable: the same seed and the same lines give the same replies.
    """

    def __init__(
        self,
        content: LessonContent,
        activity: str,
        level: str,
        *,
        character: str = "",
        setting: str = "",
        seed: int = 0,
        secret: Secret | None = None,
        target_words: tuple[str, ...] = (),
    ) -> None:
        if activity not in PLANNED_ACTIVITIES:
            raise ValueError(f"no planner for activity {activity!r}")
        if level not in CEFR_LEVELS:
            raise ValueError(f"unknown level {level!r}")
        self.content = content
        self.activity = activity
        self.level = level
        self.character_text = character
        classroom = content.classroom
        where = re.split(r"\s(?:in|at|by|on|near|of)\s", setting.strip(), maxsplit=1)[0]
        # The teacher's setting as the character says it: "a small animal clinic in a
        # village" → "the small animal clinic".
        self.place_text = classroom.definite(where) if where else ""
        self.character = content.character_for(character, setting)
        self.seed = seed
        self.target_words = target_words
        self.state = PlannerState(secret=secret or self._new_secret(None, 0))

    @property
    def target_words(self) -> tuple[str, ...]:
        """The lesson's words: a new topic, and a question in it, that invite them come first."""
        return self._targets

    @target_words.setter
    def target_words(self, words: tuple[str, ...]) -> None:
        self._targets = tuple(words)
        self._target_matcher = TargetMatcher(words, self.content.language) if words else None

    def _invites(self, text: str) -> int:
        """How many of the lesson's target words ``text`` has (in any plain form)."""
        matcher = self._target_matcher
        return len(matcher.hits(text)) if matcher is not None else 0

    # --- the planner's two calls ---

    def plan(self, line: str) -> TurnPlan:
        """The reply to ``line``; nothing changes until :meth:`commit`."""
        state = self.state
        if state.ended:  # after a goodbye, the next turn starts the activity again
            state = PlannerState(name=state.name, secret=state.secret, turn=state.turn)
        heard = understand(line, self.content)
        rng = random.Random(f"{self.seed}/{state.turn}/{self.activity}")
        state = replace(state, turn=state.turn + 1, heard=(*state.heard, line))
        if heard.name and not state.name:
            state = replace(state, name=heard.name)
        scene_words = (
            self.activity == "improv" and re.match(r"^\W*(again|one more)\b", line, re.I)
        ) or (self.activity == "guess" and self._plays_again(line, state))
        if (word := self._word_asked(line)) is not None:  # before a repeat: "Sorry, what means…"
            return self._explain(word, heard, state)
        if heard.act == Act.REPEAT and not scene_words:
            return self._repeat(heard, state, rng)
        if heard.act == Act.ASIDE:
            return self._back_from_aside(heard, state, rng) or self._aside(heard, state, rng)
        if find(self.content.classroom.acts["asks_time"], line) and self.activity != "guess":
            # "Can I think for a moment?": the box waits; its question is still the open one.
            text = _pick(self.content.classroom.lines["take_time"], state, rng)
            return TurnPlan(heard.act, Move.WAIT, text, "", _use(state, text), fallback="thinking")
        if heard.complaint and heard.act != Act.GOODBYE:
            return self._after_complaint(heard, state, rng)
        return self._by_activity(heard, state, rng)

    def _plays_again(self, line: str, state: PlannerState) -> bool:
        """ "Let's play again" (any time), or "Again!" right after a reveal."""
        guess = self.content.guess
        after_reveal = len(state.heard) <= 1 and bool(state.said)
        return find(guess.play_again, line) is not None or (
            after_reveal and find(guess.again_after_reveal, line) is not None
        )

    def _by_activity(
        self, heard: Understanding, state: PlannerState, rng: random.Random
    ) -> TurnPlan:
        planners = {
            "conversation": self._conversation,
            "roleplay": self._roleplay,
            "interview": self._interview,
            "story": self._story,
            "improv": self._improv,
            "guess": self._guess,
        }
        return planners[self.activity](heard, state, rng)

    def commit(self, plan: TurnPlan, said: str) -> None:
        """The reply was said (``said``, as spoken): remember it and the plan's state."""
        after = plan.after
        self.state = replace(after, said=(*after.said, said))

    def opening(self) -> str:
        """What the box says to set the scene after a switch to this activity."""
        return self.content.opening.get(self.activity, "")

    # --- shared moves ---

    def _word_asked(self, line: str) -> str | None:
        """The word a student asks the meaning of ("What does platform mean?", "what means
        platform?", "I don't know this word. What is weekend?"), if they ask one."""
        classroom = self.content.classroom
        if find(classroom.acts["teacher_aside"], line):
            return None  # "Teacher, what is 'metal'?": the teacher is asked, not the box
        # Each sentence too: "Sorry, I don't understand. What is shift?"
        for piece in (line, *sentences_marked(line)[1:]):
            for pattern in classroom.acts["define"]:
                if found := pattern.search(piece):
                    word = found["word"].lower().strip()
                    # "What is mean?": the question, not a word, is what they ask about.
                    if word and word not in classroom.stop_words | {"mean", "means"}:
                        # "what means placement test": the glossary may have the phrase.
                        after = re.match(r"\W*([a-z]+)", piece[found.end("word") :].lower())
                        phrases = (f"{word} {after[1]}", f"{word}-{after[1]}") if after else ()
                        # "what does all inclusive mean": the word before, too.
                        before = re.search(r"([a-z]+)\W+$", piece[: found.start("word")].lower())
                        if before:
                            phrases = (*phrases, f"{before[1]} {word}", f"{before[1]}-{word}")
                        return next((p for p in phrases if p in classroom.glossary), word)
        return self._known_word_asked(line)

    def _known_word_asked(self, line: str) -> str | None:
        """A word asked about loosely ("what does it mean parallel parking"), if the
        glossary has it: the longest of the group's first three, two or one words. A
        common word counts only in a turn that says "mean" or "word" ("what is the time"
        asks the time)."""
        classroom = self.content.classroom
        glossary = classroom.glossary
        common = common_words(self.content.language)
        says_mean = re.search(r"\b(?:mean|means|meaning|word)\b", line, re.I) is not None
        for pattern in classroom.acts.get("define_known", ()):
            for found in pattern.finditer(line):
                words = found["word"].lower().split()
                for size in range(len(words), 0, -1):
                    phrase = " ".join(words[:size])
                    candidates = (phrase, phrase.replace(" ", "-"), phrase.removesuffix("s"))
                    key = next((k for k in candidates if k in glossary), None)
                    if (
                        key
                        and key not in classroom.stop_words | {"mean", "means"}
                        and (says_mean or size > 1 or key not in common)
                    ):
                        return key
        return None

    def _explain(self, word: str, heard: Understanding, state: PlannerState) -> TurnPlan:
        """The word in easy words, then the question the student was answering, again."""
        classroom = self.content.classroom
        glossary = classroom.glossary
        known = glossary.get(word) or glossary.get(word.removesuffix("s"))
        explained = known or fill(classroom.lines["no_definition"][0], {"word": word})
        # The last reply that asked something: after "I'll wait" it is the one before.
        last = next((said for said in reversed(state.said) if "?" in said), "")
        # "Oh, really?" is a reaction, not the question still open.
        asked = [q for q in questions_in(last) if len(words_of(q)) >= 3]
        # "What do you think?", "Can you tell me more about that?" say nothing of their own:
        # asked again after a word, they sound like a loop. The guessing game's "Ask me a
        # question with yes or no" is no open question.
        asked = [q for q in asked if not find(classroom.acts.get("vague_question", ()), q)]
        again = asked[-1] if asked and self.activity != "guess" else ""
        back = classroom.lines.get("back_to_question", ())
        if again and back and word not in last.lower() and self.activity not in _PLAYED:
            # The word was not in the question ("what is hedge?" while telling about a
            # park job): the question, said again, is marked as the one still open.
            # "Really? And what happened then?" comes back as "what happened then?".
            lead = find(classroom.acts.get("question_lead", ()), again)
            bare_question = again[lead.end() :] if lead else again
            again = fill(back[0], {"question": capitalise(bare_question)})
        return TurnPlan(
            heard.act,
            Move.EXPLAIN,
            explained,
            again,
            _use(state, explained),
            fallback="" if known else "word not in the glossary",
        )

    def _repeat(self, heard: Understanding, state: PlannerState, rng: random.Random) -> TurnPlan:
        lines = self.content.classroom.lines
        if not state.said:
            text = join(lines["nothing_to_repeat"][0], self.opening())
            return TurnPlan(heard.act, Move.REPEAT, text, "", state, fallback="nothing said yet")
        last = state.said[-1]
        asked = state.last_question
        simpler = ""
        if asked is not None:
            # The simple form if that was not the one asked (B1 and up), else the easier.
            fresh = [q for q in (asked.simple, asked.easier) if q and q not in state.used]
            simpler = fresh[0] if fresh else ""
        easier = find(self.content.classroom.acts["easier"], heard.text) is not None
        if simpler and easier and simpler not in state.used:
            # "Can you say it with easier words?": the same question, put more simply.
            text = join(_pick(lines["simpler"], state, rng), simpler)
            # The question is still the one being answered: its reactions still fit.
            after = _use(state, simpler)
            return TurnPlan(heard.act, Move.REPEAT, "", text, after, slow=True)
        if easier:
            # No easier form of the question: the easiest question left on the topic,
            # else only the question of the last reply, without the rest.
            # The topic's easiest question only when a topic question was asked: after
            # a question about their own words, that question, put shorter.
            easiest = self._easiest_left(state) if asked is not None else ""
            asked_last = questions_in(last)
            shorter = easiest or (asked_last[-1].strip() if asked_last else "")
            answered = last.split(asked_last[-1])[0] if asked_last else last
            # "How much is it?" → "It's forty euros. Anything else?" → "Easier words?":
            # the answer is what they need again, not the question after it.
            answered_one = (
                self.activity in ("roleplay", "interview")  # a fact they need, not a view
                and len(state.heard) >= 2
                and question_sentence_of(state.heard[-2])
            )
            if answered_one and len(words_of(answered)) >= 3:
                shorter = ""
            if shorter and len(words_of(shorter)) >= 4 and not _same_words(shorter, last):
                text = join(_pick(lines["simpler"], state, rng), shorter)
                return TurnPlan(heard.act, Move.REPEAT, "", text, _use(state, shorter), slow=True)
        # The replay is said as it was; the prefix is not in `said`, so a second
        # "What?" replays the reply, not the prefix.
        before = _pick(lines["repeat"], state, rng)
        after = _use(state, f"replayed:{last}")  # so an aside after it does not ask a third time
        return TurnPlan(heard.act, Move.REPEAT, before, last, _forget_last(after), slow=True)

    def _easiest_left(self, state: PlannerState) -> str:
        """In a conversation, the simplest question on the current topic not asked yet."""
        if self.activity != "conversation" or not state.topic:
            return ""
        left = [
            q
            for q in self._topic(state.topic).questions
            if not q.follow_up and q.text not in state.used and self._may_ask(q, state)
        ]
        left = [q for q in left if CEFR_LEVELS.index(q.level) <= 1]  # A1 or A2
        return left[0].text if left else ""

    def _off_task(self, heard: Understanding, rng: random.Random, state: PlannerState) -> str:
        lines = self.content.classroom.lines
        kind = heard.off_task or ""
        if kind == "joke":
            return _pick(lines["jokes"], state, rng)
        if kind == "sum":
            done = _do_sum(heard.text)
            return fill(lines["sum"][0], done) if done else _pick(lines["unknown"], state, rng)
        return lines.get(kind, lines["unknown"])[0]

    def _named_line(
        self,
        state: PlannerState,
        rng: random.Random,
        with_name: tuple[str, ...],
        without: tuple[str, ...],
    ) -> str:
        """A line with the student's name when the box knows it, else one without."""
        if state.name and with_name:
            return fill(_pick(with_name, state, rng), {"name": state.name})
        return _pick(without, state, rng) if without else ""

    def _greeting(
        self,
        heard: Understanding,
        state: PlannerState,
        rng: random.Random,
        greet: tuple[str, ...],
        greet_no_name: tuple[str, ...],
    ) -> tuple[str, PlannerState]:
        """A greeting, the first time the student greets or says their name."""
        # "Hi." then "My name is Ana.": the name is greeted too, once.
        named_now = (
            heard.name is not None
            and len(state.said) <= 2  # not "…My name is Tereza." at the end of a scene
            and not any(heard.name in said for said in state.said)
        )
        if (state.greeted and not named_now) or not (heard.greeting or heard.name):
            return "", state
        thanks = self.content.classroom.lines.get("name_given", ())
        asked = self.content.classroom.acts.get("name_asked", ())
        in_role = self.activity == "roleplay"  # "Yes, I have it here": a booking's
        if (
            in_role
            and named_now
            and state.greeted
            and thanks
            and state.said[-1:]
            and find(asked, state.said[-1])
        ):
            # "Can I have your name, please?" → "Paolo Rossi.": thanked, not greeted again.
            name = heard.name or ""
            return fill(_pick(thanks, state, rng), {"name": name}), replace(state, name=name)
        text = self._named_line(state, rng, greet, greet_no_name)
        if said := re.search(r"\bgood (morning|afternoon|evening)\b", heard.text, re.I):
            # "Good afternoon." is answered with the same time of day.
            text = re.sub(
                r"^(Hello|Hi|Good (morning|afternoon|evening))\b(?: there\b)?",
                f"Good {said[1].lower()}",
                re.sub(r"\bGood (morning|afternoon|evening)\b", f"Good {said[1].lower()}", text),
            )
        return text, replace(state, greeted=True)

    def _answer(
        self,
        heard: Understanding,
        answers: tuple[Answer, ...],
        state: PlannerState,
        rng: random.Random,
        in_scene: bool = False,
        turn: str = "",
    ) -> tuple[str, str]:
        """The persona's answer to the student's question, and the fallback taken (if any).
        ``turn``: the whole turn, when ``heard`` is one of its questions.

        With no fact for it, a yes-or-no question gets a friendly yes in the box's role,
        and in a scene (``in_scene``) a question gets a plausible answer by what it asks;
        only then does the box say it does not know.

        Two questions in one turn ("When would it start, and is it only at weekends?")
        get an answer each when the facts have one for each."""
        joins = self.content.classroom.acts["question_join"]
        parts = question_parts(heard.text, joins)
        if not parts and heard.question:  # a question speech recognition left unmarked
            parts = question_parts(heard.question.rstrip(".!") + "?", joins)
        if len(parts) > 1 and heard.question and not heard.opinion:
            each = [
                self._answer(
                    replace(heard, question=part, text=part),
                    answers,
                    state,
                    rng,
                    in_scene,
                    turn=heard.text,
                )
                for part in parts
            ]
            # Each question its answer, in order, but not "I'm not sure" beside a real one.
            answered: list[str] = []
            for text, fallback in each:
                if fallback != "unknown question" and self._adds_to(text, answered):
                    answered.append(text)
            if answered:
                stock = all(fallback for text, fallback in each)
                return join(*answered), "stock answers" if stock else ""
        question = heard.question or heard.text
        lines = self.content.classroom.lines
        if told := self._box_answer(heard, state, rng):
            return told, "hands the turn over" if self._box_answer_ends_turn(told) else ""
        answer = best_answer(question, answers)
        if answer is None and heard.text != question and _REFERS_BACK.search(question):
            # "The advert mentioned split shifts… How does it work here?": the turn says
            # what "it" is.
            context = best_answer(heard.text, answers)
            if context is not None and key_score(heard.text, context.keys) >= 1:
                answer = context
        phrase_matched = answer is not None and any(
            len(key.split()) > 1 and matches(question, key) for key in answer.keys
        )
        if heard.opinion_why and not phrase_matched and "opinion_why" in lines:
            return _pick(lines["opinion_why"], state, rng), "opinion"
        choosing = find(self.content.classroom.acts["choice"], question)
        either = re.search(r",?\s+or\s+(?!not\b|no\b)\w+", question) is not None
        both = either and "opinion_both" in lines  # "…do more, or is it up to charities?"
        if heard.opinion_yes and not phrase_matched and not choosing and both:
            return _pick(lines["opinion_both"], state, rng), "opinion"
        if heard.opinion_yes and not phrase_matched and not choosing and "opinion_yes" in lines:
            return _pick(lines["opinion_yes"], state, rng), "opinion"
        if heard.opinion and in_scene and not phrase_matched and _WH_START.match(question):
            # "What's the most valuable thing here, in your opinion?": the character's pick.
            for opening in self.content.classroom.in_scene:
                if fits := opening.fits(question):
                    return fill(_pick(opening.answers, state, rng), self._proper(fits[1])), ""
        if heard.opinion and not phrase_matched:
            choices = self.content.classroom.acts["choice"]
            if choice := find(choices, question) or find(choices, heard.text):
                swaps = self.content.classroom.to_me
                # "…: does she open it straight away or wait?" → "open it straight away"
                said = _ASKED_WHO.sub("", choice[1].rstrip(" ,;"))
                first = swap_words(said, swaps) if swaps else to_second_person_from_box(said)
                return fill(_pick(lines["opinion_choice"], state, rng), {"choice": first}), ""
            return _pick(lines["opinion"], state, rng), "opinion"
        likes = re.match(r"^\W*do you (like|love)\b", question, re.I)
        if answer is not None and likes and key_score(question, answer.keys) < 2:
            answer = None  # "Do you like football?": yes, rather than a fact on the side
        fact = best_answer(question, self.content.classroom.facts) if answer is None else None
        if fact is not None and key_score(question, fact.keys) >= 2:
            return fact.text, ""  # "What's the capital of Australia?": "It's Canberra!"
        if answer is None:
            classroom = self.content.classroom
            for opening in classroom.yes_no:
                if opening.scene and not in_scene:
                    continue
                if fits := opening.fits(question, turn or heard.text):
                    found, fields = fits
                    to_me = classroom.to_me
                    rest = (
                        swap_words(found[1], to_me)
                        if to_me
                        else to_second_person_from_box(found[1])
                    )
                    fields = self._proper({**fields, "rest": rest})
                    answer_text = fill(_pick(opening.answers, state, rng), fields)
                    two_ways = lines.get("either_in_scene", ())
                    if (
                        in_scene
                        and self.activity == "roleplay"  # "Are you real or stone?" is play
                        and two_ways
                        and opening.contains is None
                        and _EITHER.search(question)
                    ):
                        # "Do you need the original or is a copy enough?": not "Yes, I do!"
                        answer_text = _pick(two_ways, state, rng)
                    return answer_text, "yes or no"
            if in_scene:
                for opening in classroom.in_scene:
                    if fits := opening.fits(question, turn or heard.text):
                        fields = self._proper(fits[1])
                        said = capitalise(fill(_pick(opening.answers, state, rng), fields))
                        return said, "in the scene"
            # In a scene, "I'm not sure, sorry!" leaves the customer with nothing; a helper
            # who does not know finds out ("unknown_in_scene"), as people at a desk do.
            unknown = (
                lines.get("unknown_in_scene") if in_scene and self.activity == "roleplay" else None
            )
            return _pick(unknown or lines["unknown"], state, rng), "unknown question"
        return fill(answer.text, {"character": self.character_text}), ""

    def _adds_to(self, answer: str, said: list[str]) -> bool:
        """Whether ``answer`` says something ``said`` does not: "Is it far?" after the way
        there ("…About ten minutes on foot.") is answered already."""
        stop = self.content.classroom.stop_words
        words = _words(answer) - stop
        before = set().union(*(_words(text) for text in said)) if said else set()
        if not words:  # "Yes, it is!": nothing to compare, so only not twice
            return answer not in said
        return len(words & before) * 10 < len(words) * 6

    def _proper(self, fields: dict[str, str]) -> dict[str, str]:
        """The student's words as the box says them: "thursday" → "Thursday"."""
        proper = self.content.classroom.proper

        def said(value: str) -> str:
            return " ".join(
                word.capitalize() if word in proper else word for word in value.split(" ")
            )

        return {key: said(value) for key, value in fields.items()}

    def _more_please(
        self, heard: Understanding, state: PlannerState, rng: random.Random
    ) -> TurnPlan | None:
        """ "Yes." to "What are you good at?": a yes or a no does not answer an open
        question, so the box asks for a little more, in easier words."""
        asked, classroom = state.last_question, self.content.classroom
        if (
            asked is None
            or not heard.text  # moving on after "I already told you"
            or heard.act not in (Act.YES, Act.NO)
            or len(heard.content) > 1
            or "more_please" not in classroom.lines
            or not find(classroom.acts["open_question"], asked.for_level(self.level))
        ):
            return None
        again = next((q for q in (asked.easier, asked.simple) if q and q not in state.used), "")
        reaction = _pick(classroom.lines["more_please"], state, rng)
        after = _use(state, reaction, again)
        return TurnPlan(heard.act, Move.ENCOURAGE, reaction, again, after, topic=state.topic)

    def _box_answer(
        self,
        heard: Understanding,
        state: PlannerState,
        rng: random.Random,
        first: tuple[BoxAnswer, ...] = (),
        shared: bool = True,
    ) -> str:
        """The answer every activity gives to this question ("Is my English good?"), or "";
        the activity's own (``first``) come before, and alone when not ``shared``."""
        if not heard.question:
            return ""
        # Any question of the turn: "Is he telling the truth, or lying? And why?"
        asked = [heard.question, *questions_in(heard.text)]
        for entry in (*first, *(self.content.classroom.box_answers if shared else ())):
            if found := next((m for q in asked if (m := find(entry.patterns, q))), None):
                # "The dog" said inside the box's sentence: "I think the dog is good!"
                fields = {
                    key: re.sub(r"^(?:The|A|An|This|That)\b", lambda m: m[0].lower(), value)
                    for key, value in found.groupdict().items()
                    if value
                }
                return fill(_pick(entry.answers, state, rng), fields)
        return ""

    def _box_answer_ends_turn(self, said: str) -> bool:
        return any(
            entry.ends_turn and said in entry.answers
            for entry in self.content.classroom.box_answers
        )

    def _aside(self, heard: Understanding, state: PlannerState, rng: random.Random) -> TurnPlan:
        """Said to the teacher or someone else: the box waits, and the scene stays as it is."""
        lines = self.content.classroom.lines
        kind = "teacher_aside" if heard.aside == "teacher" else "aside"
        text = _pick(lines[kind], state, rng)
        return TurnPlan(heard.act, Move.WAIT, text, "", _use(state, text), fallback=kind)

    def _back_from_aside(
        self, heard: Understanding, state: PlannerState, rng: random.Random
    ) -> TurnPlan | None:
        """ "Teacher, what is 'metal'? ... Ah ok. Is it a spoon?": back from the aside in the
        same turn ("Ah ok", "Sorry", "Anyway" after it), the rest is the turn; "… Sorry.
        Please go on." brings the last question back. None while the student is away."""
        classroom = self.content.classroom
        text = heard.text.replace("…", "...")
        sentences = sentences_marked(text)
        asides = (*classroom.acts["aside"], *classroom.acts["teacher_aside"])
        last_aside = max((i for i, part in enumerate(sentences) if find(asides, part)), default=-1)
        rest = " ".join(sentences[last_aside + 1 :]).strip()
        after_pause = text.rsplit("...", 1)[1] if "..." in text else ""
        if (found := _BACK_FILLER.match(after_pause)) and found.group().strip():
            rest = after_pause.strip()
        marker = _BACK_FILLER.match(rest)
        if not rest or marker is None or not marker.group().strip(" ."):
            return None  # "…is my boss. She always calls.": still talking to them
        rest = rest[marker.end() :].strip()
        # "Okay, it's off now." is only the way back; "I like sandwich with pork." says more.
        if len(_words(rest) - classroom.stop_words) >= 3 or question_sentence_of(rest):
            back = understand(rest, self.content)
            if back.act != Act.ASIDE:
                return self._by_activity(back, state, rng)
        last = state.said[-1] if state.said else ""
        asked = questions_in(last)
        # Nothing was waiting, or it was asked twice already: a third time would nag.
        replayed = any(u.startswith("replayed:") and asked[-1] in u for u in state.used)
        if not asked or replayed:
            return replace(self._move_on(state, rng), act=heard.act)
        reaction = _pick(classroom.reactions["no"], state, rng)
        return TurnPlan(heard.act, Move.REPEAT, reaction, asked[-1], _use(state, reaction))

    def _move_on(self, state: PlannerState, rng: random.Random) -> TurnPlan:
        """The activity's next move, as after a bare "No.": a new topic, the next step."""
        return self._by_activity(Understanding(text="", act=Act.NO), state, rng)

    def _after_complaint(
        self, heard: Understanding, state: PlannerState, rng: random.Random
    ) -> TurnPlan:
        """ "I already told you!": sorry, then what the rest of the turn asks, else a new
        move (not the question the student says they answered)."""
        classroom = self.content.classroom
        sorry = _pick(classroom.lines["sorry_told"], state, rng)
        rest = " ".join(
            part
            for part in sentences_marked(heard.text)
            if not find(classroom.acts["complaint"], part) and question_sentence_of(part)
        )
        if rest:
            plan = self._by_activity(understand(rest, self.content), state, rng)
        else:
            if state.last_question is not None:
                state = replace(state, used=state.used | {state.last_question.text})
            plan = self._move_on(state, rng)
            stock = (*classroom.reactions["no"], *classroom.reactions["in_scene"])
            if plan.reaction in stock:
                plan = replace(plan, reaction="")
        return replace(
            plan,
            act=heard.act,
            reaction=join(sorry, plan.reaction),
            after=_use(plan.after, sorry),
            fallback=plan.fallback or "the student had told it",
        )

    def _react(
        self,
        heard: Understanding,
        echoes: tuple[Echo, ...],
        extra: tuple[str, ...],
        state: PlannerState,
        rng: random.Random,
    ) -> str:
        """A short reaction that fits the student's line: an echo of their own thing, the
        topic's reaction, or one for the feeling of the line."""
        return self._react_asking(heard, echoes, extra, state, rng)[0]

    def _react_asking(
        self,
        heard: Understanding,
        echoes: tuple[Echo, ...],
        extra: tuple[str, ...],
        state: PlannerState,
        rng: random.Random,
    ) -> tuple[str, str]:
        """:meth:`_react`, and a question about the same thing when the reaction took the
        student's own words ("" otherwise)."""
        classroom = self.content.classroom
        reactions, lines = classroom.reactions, classroom.lines
        parts = []
        if heard.origin:
            parts.append(fill(_pick(lines["origin"], state, rng), {"place": heard.origin}))
        elif heard.age:
            parts.append(fill(_pick(lines["age"], state, rng), {"age": capitalise(heard.age)}))
        echo, ask = "", ""
        if heard.sentiment == "negative":
            # "I went to a concert… I was disappointed": the topic's cheerful keyword
            # reaction ("Concerts are so exciting!") would not fit; the line's own words do.
            echo, ask = self._frame(heard, state, rng, negative_only=True)
        if not echo:
            echo = best_echo(heard.text, echoes, state)
            if (
                echo
                and heard.sentiment == "negative"
                and classroom.caring_words
                and sentiment_of(echo, classroom) != "negative"
                and not key_score(echo, classroom.caring_words)
            ):
                echo = ""  # "I hurt my knee playing football": not "Football is so popular!"
            framed, framed_ask = self._frame(heard, state, rng)
            keys = next((e.keys for e in echoes if e.text == echo), ())
            if echo and framed and any(matches(framed, key) for key in keys) and self._whole(heard):
                # "I have a little brother": the student's own words say more than the
                # topic's line about the same thing ("So you have brothers or sisters!").
                echo, ask = framed, framed_ask
        if not echo:
            echo, ask = self._frame(heard, state, rng)
        if echo:
            parts.append(echo)
        elif not parts:
            if heard.act in (Act.YES, Act.NO) and len(heard.content) <= 2:
                parts.append(_pick(reactions[str(heard.act)], state, rng))
            elif heard.sentiment != "positive" and extra and heard.sentiment == "neutral":
                parts.append(_pick(extra, state, rng))
            else:
                parts.append(_pick(reactions[heard.sentiment], state, rng))
        return join(*parts), ask

    def _framed(self, heard: Understanding, state: PlannerState, rng: random.Random) -> str:
        """A reaction with the student's own words ("I want to work abroad" → "To work
        abroad? That's a great plan!"), from the first ``[[frame]]`` that fits."""
        return self._frame(heard, state, rng)[0]

    def _whole(self, heard: Understanding) -> bool:
        """Whether the first frame's words start as a whole phrase ("a little brother",
        "tamales"), not a learner's bare noun ("cinema", "sun")."""
        classroom = self.content.classroom
        for frame in classroom.frames:
            if frame.scene or (frame.feeling and heard.sentiment not in frame.feeling):
                continue
            if found := frame.pattern.search(heard.text):
                words = [w.lower() for w in words_of(heard.text[found.end() :])[:2]]
                first = words[0] if words else ""
                # "be a doctor" is whole too: a verb, then the phrase.
                return bool(set(words) & classroom.determiners) or first.endswith("s")
        return False

    def _frame(
        self,
        heard: Understanding,
        state: PlannerState,
        rng: random.Random,
        negative_only: bool = False,
        scene_only: bool = False,
    ) -> tuple[str, str]:
        """The first ``[[frame]]`` that fits the line and its feeling: its reaction with the
        student's own words, and a follow-up question about the same thing ("" if none
        is left)."""
        classroom = self.content.classroom
        in_scene = self.activity in ("roleplay", "improv")
        for frame in classroom.frames:
            if (frame.scene and not in_scene) or (frame.not_in_scene and in_scene):
                continue
            if frame.feeling and heard.sentiment not in frame.feeling:
                continue
            if negative_only and "negative" not in frame.feeling:
                continue  # made for any line, it may sound cheerful
            if scene_only and not frame.scene:
                continue
            if found := frame.pattern.search(heard.text):
                raw = re.split(r"[,.!?;]", heard.text[found.start() :], maxsplit=1)[0]
                if any(pattern.search(raw) for pattern in classroom.never_echo):
                    continue  # "I want go home": the box does not say a mistake back
                said = own_words(
                    heard.text[found.end() :],
                    7,
                    swaps=classroom.to_you,
                    never=classroom.never_echo,
                    cut=classroom.cut,
                )
                # "I like children very much": what they like, without how much.
                said = _HOW_MUCH.sub("", said)
                after = heard.text[found.end() :]
                thing = classroom.thing(said) if said else ""
                if not said:  # too long to say back whole: the thing itself may do
                    thing = own_words(
                        classroom.thing(re.split(r"[,.!?;]", after, maxsplit=1)[0]),
                        4,
                        swaps=classroom.to_you,
                        never=classroom.never_echo,
                    )
                templates = " ".join((*frame.reactions, *frame.asks))
                if not said and re.search(r"\{(said|own|the)\}", templates):
                    continue
                if not thing and "{thing}" in templates:
                    continue
                if classroom.article is not None and classroom.article.match(said):
                    said = said[:1].lower() + said[1:]  # "A big elephant" inside a line
                fields = {
                    "said": said,
                    "own": classroom.possessive(said),
                    "the": classroom.definite(said),
                    "thing": thing,
                    **{k: v.lower() for k, v in found.groupdict().items() if v},
                }
                reaction = capitalise_sentences(
                    capitalise(fill(_pick(frame.reactions, state, rng), fields))
                )
                asks = tuple(capitalise(fill(a, fields)) for a in frame.asks)
                return reaction, _pick_fresh(asks, state)
        return "", ""

    def _goodbye(
        self,
        heard: Understanding,
        state: PlannerState,
        rng: random.Random,
        with_name: tuple[str, ...],
        without: tuple[str, ...],
        answers: tuple[Answer, ...] = (),
    ) -> TurnPlan:
        # With no name-less goodbye, a named one is said without the name.
        text = self._named_line(state, rng, with_name, without or with_name)
        text = fill(text, {"name": ""}).replace(" ,", ",")
        # "Is my English good? OK, bye!", "When can I start? Thank you, goodbye.": the
        # question is answered before the goodbye, when a fact answers it.
        told = self._box_answer(heard, state, rng)
        if not told and heard.question:
            in_scene = self.activity in ("roleplay", "improv")
            said, fallback = self._answer(heard, answers, state, rng, in_scene=in_scene)
            if fallback not in ("unknown question", "opinion"):
                told = said  # "Can I come on Saturday? Thanks, see you then.": "Yes, of course!"
        if told and told.strip() in text:
            told = ""  # "When will I hear from you?": the goodbye says it already
        text = join(told, text)
        return TurnPlan(heard.act, Move.GOODBYE, text, "", replace(state, ended=True))

    # --- conversation ---

    def _conversation(
        self, heard: Understanding, state: PlannerState, rng: random.Random
    ) -> TurnPlan:
        persona, lines = self.content.conversation, self.content.classroom.lines
        if heard.act == Act.GOODBYE:
            return self._goodbye(
                heard, state, rng, persona.goodbye, persona.goodbye_no_name, persona.answers
            )
        if heard.act == Act.REQUEST and not heard.question:
            heard = replace(heard, act=Act.STATEMENT)  # "I want to work abroad" tells, not asks
        if heard.act == Act.CHANGE_TOPIC and "new_topic" in lines:
            reaction = _pick(lines["new_topic"], state, rng)
            done = state.topics_done | ({state.topic} if state.topic else set())
            moved = replace(state, topic=None, topic_questions=0, topics_done=frozenset(done))
            question, moved = self._next_question(heard.topic, moved, rng, stay=False)
            follow = question.for_level(self.level) if question else ""
            moved = _use(moved, reaction, follow)
            return TurnPlan(heard.act, Move.NEW_TOPIC, reaction, follow, moved, topic=moved.topic)
        greeting, state = self._greeting(
            heard, state, rng, lines["greet"], lines.get("greet_no_name", ())
        )
        fallback, topic, own_ask = "", heard.topic, ""
        pronoun = _words(" ".join(words_of(heard.text)[:1])) & self.content.classroom.pronouns
        if topic is None and pronoun and heard.act == Act.STATEMENT:
            topic = state.topic  # "She is small and she sleeps all day.": still about Mimi
        if heard.act == Act.OFF_TASK:
            reaction, topic = self._off_task(heard, rng, state), None
        elif heard.act in (Act.QUESTION, Act.REQUEST):
            reaction, fallback = self._answer(heard, persona.answers, state, rng)
        elif heard.act == Act.DONT_KNOW:
            reaction = _pick(lines["encourage"], state, rng)
            if state.last_question and state.last_question.easier:
                easier = state.last_question.easier
                if easier not in state.used:
                    plan_state = _use(state, reaction, easier)
                    return TurnPlan(
                        heard.act,
                        Move.ENCOURAGE,
                        join(greeting, reaction),
                        easier,
                        plan_state,
                        topic=state.topic,
                    )
            topic = None
        elif heard.act == Act.INTRODUCTION and not (heard.age or heard.origin):
            # "Hi, I'm Priya. I moved to Manchester…": the greeting, then about the move.
            reaction, own_ask = self._frame(heard, state, rng)
            if not reaction and not greeting:
                reaction = _pick(self.content.classroom.reactions["yes"], state, rng)
        else:
            extra = self._topic(topic).reactions if topic else ()
            echoes = self._topic(topic).echo if topic else ()
            reaction, own_ask = self._react_asking(heard, echoes, extra, state, rng)
        weak_topic = (
            heard.topic is None or key_score(heard.text, self._topic(heard.topic).keys) <= 1
        )
        # A long account that names a topic's word in passing ("…purple nails with
        # little cats on every finger. Two hours!") is about what happened, not the topic.
        in_passing = (
            heard.topic is not None
            and len(words_of(heard.text)) >= 12
            and key_score(heard.text, self._topic(heard.topic).keys) <= 1
        )
        echoed = (
            bool(heard.topic)
            and not in_passing
            and bool(best_echo(heard.text, self._topic(heard.topic).echo, state))
        )
        telling = (
            heard.act == Act.STATEMENT
            and weak_topic
            and not echoed
            and len(heard.content) >= 2
            and _TELLING.search(heard.text) is not None
        )
        # Told how they felt, the student is not asked how they felt.
        asks = tuple(
            q
            for q in (
                # "It's quite stressful, because my manager…": sympathy first.
                *(lines.get("tell_more_bad", ()) if heard.sentiment == "negative" else ()),
                *lines["tell_more"],
                # "What was the best part?" after "the buses on Sunday are terrible": no.
                *(lines.get("tell_more_good", ()) if heard.sentiment == "positive" else ()),
            )
            if heard.sentiment == "neutral" or "feel" not in q
        )
        # "Lots of the people who come are working full time…": a long thought that names a
        # topic's word in passing is about the thought, not the topic.
        long_turn = len(words_of(heard.text)) >= LONG_TURN_WORDS
        musing = (
            not telling
            and (in_passing or long_turn)
            and heard.act in (Act.STATEMENT, Act.YES)
            and not echoed
            and "heard_you" in lines
            and "about_it" in lines
        )
        if musing:
            framed, framed_ask = self._frame(heard, state, rng)
            worry = heard.sentiment == "negative" and "heard_worry" in lines
            heard_kind = "heard_worry" if worry else "heard_you"
            if not worry and not heard.opinion and "heard_told" in lines:
                heard_kind = "heard_told"
            reaction = framed or _pick(lines[heard_kind], state, rng)
            more = framed_ask or self._about_subject(state) or _pick_fresh(lines["about_it"], state)
            if more:
                state = _use(replace(state, last_question=None), reaction, more)
                return TurnPlan(heard.act, Move.ASK, join(greeting, reaction), more, state,
                                fallback="the student's own thought")  # fmt: skip
        framed, framed_ask = self._frame(heard, state, rng) if telling else ("", "")
        if telling and (more := framed_ask or _pick_fresh(asks, state)):
            # "I stopped in the middle of a roundabout…": ask about it, not about Sundays.
            # A topic's stock reaction would not fit the story either: the question reacts.
            reaction = framed
            state = _use(replace(state, last_question=None), reaction, more)
            return TurnPlan(heard.act, Move.ASK, join(greeting, reaction), more, state,
                            fallback="the student's own story")  # fmt: skip
        if heard.act == Act.NO and len(heard.content) <= 2:
            topic = None  # "No." to "Do you have a pet?": ask about something else
        elif heard.act == Act.YES and topic is None:
            topic = state.topic  # "Yes!": go on with what we were talking about
        question, state = self._next_question(
            topic,
            state,
            rng,
            prefer_easy=heard.act == Act.DONT_KNOW,
            # Go on with the topic only when the student answered on it: a question
            # that presumes "yes" ("Who do you play with?") must follow a yes.
            stay=heard.act in (Act.STATEMENT, Act.YES, Act.INTRODUCTION),
            # "Do you ever get tired?" is no new topic: the talk goes on where it was.
            keep=heard.act == Act.QUESTION and heard.topic is None,
        )
        if (
            not own_ask
            and heard.act == Act.STATEMENT
            and heard.topic
            and state.topic != heard.topic
            and len(heard.content) >= 6
        ):
            # "My daughter is starting university in Scotland…", with no question left on
            # it: ask about what they told, not about the last topic.
            about = tuple(
                q
                for q in lines.get("about_it", asks)
                if heard.sentiment == "neutral" or "feel" not in q
            )
            own_ask = _pick_fresh(about, state)
        follow = question.for_level(self.level) if question else ""
        if own_ask:
            # The reaction took the student's own words: the question is about the same
            # thing ("Tell me more about your new phone."), not a new topic's.
            follow, question = own_ask, None
            state = replace(state, last_question=None)
        if fallback == "hands the turn over":
            follow, question, own_ask = "", None, ""  # "…I would suggest that … Try it!"
            state = replace(state, last_question=None)
        back_lines = (*lines["ask_back"], *lines.get("opinion_ask_back", ()))
        asked_back = any(said.endswith(back_lines) for said in state.said[-2:])
        views = heard.act == Act.QUESTION and fallback == "opinion" and not asked_back
        if views and "opinion_ask_back" in lines:
            # "Do you think…?" → the box's view, then theirs: a discussion, not a quiz.
            follow, question, own_ask = _pick(lines["opinion_ask_back"], state, rng), None, ""
            state = replace(state, last_question=None)
            fallback = "asked back"
        if (
            heard.act == Act.QUESTION
            and not fallback
            and not asked_back
            and find(self.content.classroom.acts["asks_taste"], heard.question)
            and "ask_back" in lines
        ):
            # "What's your favourite season?" → "Summer! … What about you?": their turn now.
            follow, question, own_ask = _pick(lines["ask_back"], state, rng), None, ""
            state = replace(state, last_question=None)
            fallback = "asked back"
        state = _use(state, reaction, follow)
        if follow and heard.question and self._same_content(follow, heard.question):
            # The student asked the box this very question: answered, it is theirs to answer.
            follow = _pick(lines["ask_back"], state, rng)
        move = Move.ASK if question or own_ask or fallback == "asked back" else Move.NONE
        if heard.act == Act.DONT_KNOW:
            move = Move.ENCOURAGE
        if own_ask:
            fallback = fallback or "about the student's own words"
        return TurnPlan(
            heard.act,
            move,
            join(greeting, reaction),
            follow,
            state,
            topic=state.topic,
            fallback=fallback or ("" if question else "no question left"),
        )

    def _about_subject(self, state: PlannerState) -> str:
        """A question about the subject the student brought ("I want to talk about my
        pet" → "What else can you tell me about your pet?"), one not asked yet; else ""."""
        classroom = self.content.classroom
        questions = classroom.lines.get("about_subject", ())
        for line in state.heard if questions else ():
            for pattern in classroom.acts.get("subject_brought", ()):
                if found := pattern.search(line):
                    subject = own_words(found["subject"], 4, classroom.to_you, classroom.never_echo)
                    if subject:
                        asks = tuple(fill(q, {"subject": subject.lower()}) for q in questions)
                        return _pick_fresh(asks, state)
        return ""

    def _same_content(self, first: str, second: str) -> bool:
        """ "What music do you like?" and "What kind of music do you like?" ask the same."""
        stop = self.content.classroom.stop_words | {"kind", "sort", "type"}
        return _words(first) - stop == _words(second) - stop

    def _topic(self, name: str | None) -> Topic:
        return next(topic for topic in self.content.topics if topic.name == name)

    def _next_question(
        self,
        topic: str | None,
        state: PlannerState,
        rng: random.Random,
        prefer_easy: bool = False,
        stay: bool = True,
        keep: bool = False,
    ) -> tuple[Question | None, PlannerState]:
        """The next topic question: on ``topic`` if it has one left, else on the current
        topic while it is fresh (if ``stay``, or ``keep``: the student asked the box
        something, so no question that presumes their answer), else on a new topic."""
        order = [topic] if topic else []
        if (stay or keep) and state.topic and state.topic_questions < QUESTIONS_PER_TOPIC:
            order.append(state.topic)
        others = [t.name for t in self.content.topics if t.name not in state.topics_done]
        rng.shuffle(others)
        if self._target_matcher is not None:  # the lesson's words: topics that invite them first
            others.sort(key=lambda name: -self._invites(self._topic_text(name)))
        order += others
        for name in dict.fromkeys(order):  # keeps order, drops repeats
            answered = stay and name in (topic, state.topic)
            question = self._question_in(name, state, prefer_easy, answered)
            if question is not None:
                count = state.topic_questions + 1 if name == state.topic else 1
                done = state.topics_done | (
                    {state.topic} if state.topic and name != state.topic else set()
                )
                return question, replace(
                    state,
                    topic=name,
                    topic_questions=count,
                    topics_done=frozenset(done),
                    last_question=question,
                )
        return None, state

    def _question_in(
        self, topic: str, state: PlannerState, prefer_easy: bool, answered: bool = False
    ) -> Question | None:
        eligible = [
            q
            for q in self._topic(topic).questions
            if self._may_ask(q, state) and (answered or not q.follow_up)
        ]
        if not eligible:
            return None
        rank = CEFR_LEVELS.index(self.level)
        # Questions at the class's level or one below come first, in the file's order.
        near = [q for q in eligible if rank - 1 <= CEFR_LEVELS.index(q.level) <= rank]
        if prefer_easy:
            return min(eligible, key=lambda q: CEFR_LEVELS.index(q.level))
        candidates = near or eligible
        if self._target_matcher is not None:  # a question that invites a target word first
            candidates = sorted(candidates, key=lambda q: -self._invites(q.for_level(self.level)))
        return candidates[0]

    def _topic_text(self, name: str) -> str:
        topic = self._topic(name)
        return " ".join([*topic.keys, *(q.for_level(self.level) for q in topic.questions)])

    def _may_ask(self, question: Question, state: PlannerState) -> bool:
        if CEFR_LEVELS.index(question.level) > CEFR_LEVELS.index(self.level):
            return False
        text = question.for_level(self.level)
        if text in state.used or any(_same_question(text, said) for said in state.said):
            return False
        heard = " ".join(state.heard).lower()
        if any(matches(heard, phrase) for phrase in question.skip_if):
            return False
        return question.follow_up or not self._answered(text, state)

    def _answered(self, question: str, state: PlannerState) -> bool:
        """Whether the student's last line answers ``question`` already: they share a
        word that carries content ("What is your favourite subject?" after "My favourite
        subject is art"). A thing the character sells ("bread") does not count: "White or
        brown bread?" asks about it."""
        if not state.heard or self.activity not in ("conversation", "roleplay", "improv"):
            return False
        classroom = self.content.classroom
        ignore = classroom.stop_words | classroom.not_an_answer
        if self.activity in ("roleplay", "improv"):
            ignore = ignore | {item.name for c in self.content.characters for item in c.items}
        asked = {_stem(w) for w in _words(question) - ignore}
        # What they told, not what they asked: "Do you have a pet?" leaves "Do you have a
        # pet?" theirs to answer.
        # In a scene everything the student said counts ("I am a good boy" answers "Have
        # you been good?" later too); in a conversation only the last line does, as a
        # topic's own words come back in every line about it.
        lines = state.heard[-1:] if self.activity == "conversation" else state.heard
        told = [
            p
            for line in lines
            for p in sentences_of(line)
            if not re.search(re.escape(p) + r"\s*\?", line)
        ]
        said = {_stem(w) for w in _words(" ".join(told)) - ignore}
        # "What do you want to be?" after "I want to be a doctor": three words in a row.
        return bool(asked & said) or _shares_three_words(question, " ".join(told))

    # --- role play ---

    def _roleplay(self, heard: Understanding, state: PlannerState, rng: random.Random) -> TurnPlan:
        plan = self._in_character(self.character, heard, state, rng)
        # The teacher's words in the character's lines: "I'm {character}.", "{place}".
        fields = {"character": self.character_text, "place": self.place_text or "here"}
        return replace(
            plan, reaction=fill(plan.reaction, fields), follow_up=fill(plan.follow_up, fields)
        )

    def _in_character(
        self,
        character: Character,
        heard: Understanding,
        state: PlannerState,
        rng: random.Random,
        move: Move = Move.STEP,
    ) -> TurnPlan:
        persona, lines = character.persona, self.content.classroom.lines
        if heard.act == Act.GOODBYE:
            plan = self._goodbye(
                heard, state, rng, persona.goodbye, persona.goodbye_no_name, persona.answers
            )
            # "How much will it be? Thanks, bye!": the price said is the thing's own.
            return replace(plan, reaction=self._priced(plan.reaction, character, heard, state))
        greeting, state = self._greeting(heard, state, rng, persona.greet, persona.greet_no_name)
        fallback, frame_ask = "", ""
        items = items_named(heard.text, character)
        if heard.act == Act.OFF_TASK:
            reaction = self._off_task(heard, rng, state)
        elif heard.act == Act.QUESTION or (heard.act == Act.REQUEST and heard.question):
            answer = best_answer(heard.question or heard.text, persona.answers)
            several = len(question_parts(heard.text, self.content.classroom.acts["question_join"]))
            if heard.act == Act.REQUEST and items and (answer is None or _weak(answer, heard)):
                reaction = self._item_reaction(character, items, state, rng)
            else:
                reaction, fallback = self._answer(heard, persona.answers, state, rng, in_scene=True)
                if fallback == "unknown question" and heard.act == Act.REQUEST and several < 2:
                    reaction = _pick(("Of course!", "Certainly!"), state, rng)
            reaction = self._priced(reaction, character, heard, state)
        elif heard.act == Act.DONT_KNOW:
            reaction = _pick(lines["encourage"], state, rng)
        elif echo := best_echo(heard.text, character.echo, state):
            reaction = echo
        elif heard.sentiment == "negative" and (framing := self._frame(heard, state, rng, True))[0]:
            reaction, frame_ask = framing  # "There's a problem with my room.": not an order
            items = []
        elif items:
            reaction = self._item_reaction(character, items, state, rng)
        elif (
            heard.act == Act.INTRODUCTION
            and greeting
            and (framing := self._frame(heard, state, rng, scene_only=True))[0]
        ):
            reaction, frame_ask = framing  # "hello I have reservation": the name, please
        elif heard.act == Act.INTRODUCTION and greeting and len(heard.content) <= 3:
            reaction = ""
        elif (framing := self._frame(heard, state, rng))[0]:
            reaction, frame_ask = framing
        elif heard.act == Act.INTRODUCTION and greeting and not (heard.age or heard.origin):
            reaction = ""  # the greeting answers it; a stock "I see." would not
        elif (heard.act in (Act.REQUEST, Act.YES) or heard.sentiment == "neutral") and not (
            heard.age or heard.origin or heard.act == Act.INTRODUCTION
        ):
            # "Chocolate and strawberry, please.": the character takes it in its stride.
            kind = "in_scene_request" if heard.act == Act.REQUEST else "in_scene"
            reaction = _pick(self.content.classroom.reactions[kind], state, rng)
        elif heard.sentiment == "negative":
            # "I'm a bit late for my flight.": the character helps, not "That's a pity."
            reaction = _pick(self.content.classroom.reactions["in_scene_negative"], state, rng)
        else:
            reaction = self._react(heard, character.echo, (), state, rng)
        stock = self.content.classroom.reactions
        if greeting and reaction in stock["in_scene"]:
            reaction = ""  # "Hello! Welcome." needs no "I see." after it (a request, a yes)
        if items:
            state = replace(state, ordered=True)
        asked = heard.act in (Act.QUESTION, Act.REQUEST) and bool(heard.question)
        follow, state, chosen = self._next_step(character, items, state, asked)
        if _OFFERED.match(heard.question):
            follow = ""  # "Would you like a coffee while you work?": offered, not ordered
        if frame_ask and frame_ask not in state.used:
            # "There's a problem with my room": ask about it, not the scene's next step.
            follow, chosen, state = frame_ask, Move.STEP, replace(state, last_question=None)
        if reaction.rstrip().endswith("?"):
            follow = ""  # the reaction asks already ("Oh no! What colour is it?"): one question
        state = _use(state, reaction, follow)
        return TurnPlan(
            heard.act,
            chosen if follow else Move.NONE,
            join(greeting, reaction),
            follow,
            state,
            fallback=fallback,
        )

    def _priced(
        self, text: str, character: Character, heard: Understanding, state: PlannerState
    ) -> str:
        """``text`` with ``{price}`` filled: the price of the latest thing the student named
        that the character has a price for ("How much all together?" after "Three
        oranges"), in the student's own currency."""
        if "{price}" not in text:
            return text
        lines = (heard.text, *reversed(state.heard))
        price = next(
            (
                entry.text
                for line in lines
                for entry in character.prices
                if any(matches(line, key) for key in entry.keys)
            ),
            character.price,
        )
        return fill(text, {"price": fill(price, {"currency": self._currency(lines)})})

    def _currency(self, lines: Sequence[str]) -> str:
        """The money the student talks in ("I have ten pounds"), else the box's own."""
        classroom = self.content.classroom
        for line in lines:
            lowered = line.lower()
            for sign, name in classroom.currency_signs:
                if sign in lowered:
                    return name
            for name in classroom.currencies:
                if re.search(rf"\b{re.escape(name.removesuffix('s'))}s?\b", lowered):
                    return name
        return classroom.currencies[0] if classroom.currencies else ""

    def _item_reaction(
        self, character: Character, items: list[str], state: PlannerState, rng: random.Random
    ) -> str:
        fields = {
            "item": " and ".join(with_article(item) for item in items),
            "thing": " and ".join(bare(item) for item in items),
        }
        return capitalise(fill(_pick(character.item_reactions, state, rng), fields))

    def _next_step(
        self, character: Character, items: list[str], state: PlannerState, asked: bool = False
    ) -> tuple[str, PlannerState, Move]:
        """A question about the thing just asked for, else the scene's next step."""
        line = state.heard[-1].lower() if state.heard else ""
        # The most specific thing first: "chocolate cakes" is asked about as chocolate cake.
        for item in sorted(character.items, key=lambda i: -len(i.name)):
            if (
                item.ask
                and item.ask not in state.used
                and any(matches(named, item.name) for named in items)
            ):
                # "White bread. Small.": the size is said already; don't ask for it.
                told = _words(item.ask) & _words(line) - _words(item.name) - _ASK_WORDS
                # "I want two tickets", then "how much is the ticket?": how many is told.
                singular = item.name.removesuffix("s")
                naming = [
                    said
                    for said in (*state.heard[:-1], line)
                    if matches(said.lower(), singular) or matches(said.lower(), item.name)
                ]
                skipped = any(matches(said, p) for said in naming for p in item.skip_if)
                if not told and not skipped:
                    return item.ask, state, Move.ITEM
        steps = character.steps
        # In order, each once: a step passed over (not yet sensible) comes back later.
        for index, step in enumerate(steps):
            if step.after_order and not state.ordered:
                continue  # "Anything else?" before anything was asked for: not yet
            if step.before_order and state.ordered:
                continue  # "Are you ready to order?" after the order: no more
            # ("what time do you close", unpunctuated: a question all the same)
            if step.not_after_question and (asked or question_sentence_of(line)):
                continue  # "How does the light work?": answered, not asked "How can I help?"
            if (
                self._may_ask(step, state)
                and not self._told(step, state)
                and not _skipped(step, state)
            ):
                return (
                    step.for_level(self.level),
                    replace(state, step=index + 1, last_question=step),
                    Move.STEP,
                )
        return "", replace(state, step=len(steps)), Move.NONE

    def _told(self, step: Question, state: PlannerState) -> bool:
        """Whether a ``skip_if_told`` step is passed over: the student has told in their own
        words what they came for (three words of content, besides their name)."""
        if not step.skip_if_told:
            return False
        classroom = self.content.classroom
        ignore = classroom.stop_words | classroom.small_talk | {(state.name or "").lower()}
        told = [line for line in state.heard if not question_sentence_of(line)]
        said = set().union(*(_words(line) for line in told)) if told else set()
        # "Can you take me to the airport?" tells it too: a request, in two words.
        requests = (*classroom.acts["request"], *classroom.acts["asks_box_to"])
        asked = [
            line
            for line in state.heard
            if question_sentence_of(line)
            and any(find(requests, part) for part in re.split(r"[,.!?]\s*", line))
        ]
        return len(said - ignore) >= 3 or any(len(_words(line) - ignore) >= 2 for line in asked)

    # --- interview ---

    def _interview(self, heard: Understanding, state: PlannerState, rng: random.Random) -> TurnPlan:
        interview, lines = self.content.interview, self.content.classroom.lines
        persona = interview.persona
        if heard.act == Act.REQUEST and not heard.question:
            heard = replace(heard, act=Act.STATEMENT)  # "I want to work here because…"
        if heard.act == Act.GOODBYE:
            return self._goodbye(
                heard, state, rng, persona.goodbye, persona.goodbye_no_name, persona.answers
            )
        greeting, state = self._greeting(heard, state, rng, persona.greet, persona.greet_no_name)
        fallback = ""
        answered = state.last_question
        if (more := self._more_please(heard, state, rng)) is not None:
            return more
        if heard.act == Act.OFF_TASK:
            reaction = self._off_task(heard, rng, state)
        elif heard.act in (Act.QUESTION, Act.REQUEST):
            reaction, fallback = self._answer(heard, persona.answers, state, rng)
        elif heard.act == Act.DONT_KNOW:
            reaction = _pick(lines["encourage"], state, rng)
        elif greeting and (heard.act == Act.INTRODUCTION or not state.said):
            reaction = ""  # "Good afternoon. I'm applying for…": greeted, not "Interesting!"
        elif heard.act == Act.NO:
            reaction = _pick(self.content.classroom.reactions["no"], state, rng)
        elif (
            answered is not None
            and answered.react
            and (not answered.react_if or key_score(heard.text, answered.react_if))
        ):
            reaction = _pick(answered.react, state, rng)
        elif answered is not None and (other := self._answers_other_step(heard, state)):
            # "I can work mornings, not Fridays" to "What are you good at?": it answers the
            # availability question, which is then not asked.
            reaction = _pick(other.react, state, rng)
            state = _use(state, other.for_level(self.level))
        elif answered is not None and (framed := self._framed(heard, state, rng)):
            reaction = framed
        elif answered is not None and (told := best_echo(heard.text, interview.echo, state)):
            reaction = told  # "Once a customer was angry, and I stayed calm."
        elif answered is not None and interview.thanks:
            reaction = _pick(interview.thanks, state, rng)
        else:
            reaction = self._react(heard, (), (), state, rng)
        follow, move = "", Move.STEP
        asked = heard.act in (Act.QUESTION, Act.REQUEST)
        passed_over: list[str] = []
        for index, step in enumerate(interview.steps):
            if step.for_level(self.level) in state.used:
                continue
            if step.not_after_question and asked:
                passed_over.append(step.for_level(self.level))
                continue  # they are asking already: answer, then go on
            if not _skipped(step, state):
                follow = step.for_level(self.level)
                state = replace(state, step=index + 1, last_question=step)
                break
        else:
            state = replace(state, step=len(interview.steps), last_question=None)
            # "Any other questions?" once: asked again in other words, it only repeats.
            asked_more = any(m in state.used for m in interview.more)
            follow = "" if asked_more else interview.more[0]
            move = Move.STEP if follow else Move.NONE
            if follow:
                # "Do you have any other questions?" asks what "Do you have any questions
                # for me?" would: that one is not asked after it.
                state = _use(state, *passed_over)
        state = _use(state, reaction, follow)
        return TurnPlan(
            heard.act,
            move,
            join(greeting, reaction),
            follow,
            state,
            fallback=fallback,
        )

    def _answers_other_step(self, heard: Understanding, state: PlannerState) -> Question | None:
        """A step not asked yet that the student's answer clearly fits (two of its
        ``react_if`` words), when it does not fit the step just asked."""
        for step in self.content.interview.steps:
            if step is state.last_question or step.for_level(self.level) in state.used:
                continue
            if step.react and step.react_if and key_score(heard.text, step.react_if) >= 2:
                return step
        return None

    # --- story ---

    def _story(self, heard: Understanding, state: PlannerState, rng: random.Random) -> TurnPlan:
        story = self.content.story
        group = "simple" if self.level in SIMPLE_LEVELS else "advanced"
        # The hero comes from the story's first lines: later, "The envelope was…" is a
        # thing in the story, not who it is about.
        opening_lines = len(state.said) <= 1
        # A name is the hero's only while there is none, or when it is the hero's own ("his
        # name is Max"): "messages from someone called Ana" brings in someone else.
        named = named_hero(heard.text)
        if named and state.hero and not _OWN_NAME.search(heard.text):
            named = None
        hero = named or state.hero or (story_hero(heard.text) if opening_lines else None)
        if hero and hero == story.begin_hero and len(state.said) <= 1:
            # The box began ("Once upon a time, a tiny dragon…") and the student starts their
            # own: "a girl is walking to school…" is about the girl.
            hero = story_hero(heard.text) or hero
        if hero and hero == story.begin_hero:
            # The box began with its own hero; "A cat. A big orange cat." names the student's.
            for pattern in story.hero_only:
                found = pattern.search(heard.text)
                # A name, not a whole sentence: "A big orange cat.", not "a girl is walking…".
                if found and found["hero"] and len(found["hero"].split()) <= 3:
                    hero = "the " + found["hero"].lower()
        state = replace(state, hero=hero)
        fields = {"hero": hero or story.default_hero}
        if find(story.title_asks, heard.text) and (story.titled or story.title_idea):
            # "Can we give the story a title? I say 'The Girl Who Found the Sun'."
            given = _TITLE_GIVEN.search(heard.text)
            if given and story.titled:
                text = fill(_pick(story.titled, state, rng), {"title": given[1].strip(" .!?")})
            else:
                hero_name = (hero or story.default_hero).removeprefix("the ").title()
                text = fill(_pick(story.title_idea, state, rng), {"hero": hero_name})
            if heard.act == Act.GOODBYE:  # "That's a nice end. Can we give it a title?"
                ending = _pick(story.goodbye, state, rng)
                return TurnPlan(heard.act, Move.ENDING, text, ending, replace(state, ended=True))
            return TurnPlan(heard.act, Move.BEAT, text, "", _use(state, text), fallback="title")
        their_last = _THEIR_LAST_LINE.match(heard.text)
        if their_last and story.ending_with and len(words_of(heard.text)) >= 6 and state.said:
            # "in the end she realises she can go back…": the student ends the story.
            said = to_second_person(their_last[1].strip(" .!"))
            sayable = (
                len(words_of(said)) <= 16
                # "…the old woman says, this is the most beautiful thing I have seen": a
                # character's own words come out wrong in the box's mouth.
                and not find(story.not_said_back, said)
                # "bia win a gold medal… she go home": a learner's mistake, not said back.
                and not any(p.search(said) for p in self.content.classroom.never_echo)
            )
            options = story.ending_with if sayable else story.ending_theirs or story.ending_with
            text = fill(_pick(options, state, rng), {**fields, "said": said})
            plan_state = replace(state, ended=True)
            return TurnPlan(heard.act, Move.ENDING, "", capitalise_sentences(text), plan_state)
        if heard.act == Act.GOODBYE:
            wants_ending = re.search(
                r"\b(finish|end)\b.*\?|\bhave to go\b"
                r"|\b(?:can|could) you (?:finish|end|write an? (?:\w+ )?ending)\b"
                r"|\blet'?s (?:end|finish) it\b|\bend it with\b"
                r"|\b(?:write|give|make) (?:it |us )?(?:an? |the )?(?:\w+ )?end(?:ing)?\b"
                r"|\bfinish the story\b"
                r"|\b(?:decide|make|give it|give us|give the story) (?:the|an|a) (?:\w+ )?ending\b"
                r"|\b(?:can|could) you (?:end|finish) (?:it|the story)\b",
                heard.text,
                re.I,
            )
            pausing = re.search(r"\b(stop|next (lesson|time)|later)\b", heard.text, re.I)
            their_end = _THEIR_ENDING.search(heard.text)
            if their_end and story.ending_with:
                # "Let's end it with the lights coming back on": their ending, said back.
                said = to_second_person(their_end[1].strip(" .!"))
                text = fill(_pick(story.ending_with, state, rng), {**fields, "said": said})
                return TurnPlan(
                    heard.act,
                    Move.ENDING,
                    "",
                    capitalise_sentences(text),
                    replace(state, ended=True),
                )
            if wants_ending and not heard.text.lower().startswith("the end"):
                options = story.ending
                if story.twist_ending and find(story.twist_asks, heard.text):
                    options = story.twist_ending
                elif story.sad_ending and find(story.sad_asks, heard.text):
                    options = story.sad_ending
            elif pausing:
                options = story.pause  # "Let's stop there, we can finish next lesson"
            else:
                options = story.goodbye
            text = fill(_pick(options, state, rng), fields)
            return TurnPlan(
                heard.act, Move.ENDING, "", capitalise_sentences(text), replace(state, ended=True)
            )
        if find(story.change_asks, heard.text) and story.changed and state.said:
            proposed = _THEIR_IDEA.search(heard.text)
            said = to_second_person(proposed[1].strip(" .!?")) if proposed else ""
            if not said and (asked := find(story.change_asks, heard.text)):
                # "let's change that: make him a woman", "…change it she's his daughter"
                rest = re.sub(r"^\W*(?:actually\W+)?", "", heard.text[asked.end() :], flags=re.I)
                rest = _MAKE_THEM.sub(lambda m: f"{_MADE[m[1].lower()]} is ", rest)
                said = rest.strip(" .!?") if len(words_of(rest)) >= 3 else ""
            lines = story.changed if said else story.changed_no_idea or story.changed
            text = capitalise_sentences(fill(_pick(lines, state, rng), {**fields, "idea": said}))
            return TurnPlan(heard.act, Move.BEAT, "", text, _use(state, text), fallback="changed")
        starts = find(story.starts_asks, heard.text)
        # "Okay, I start." (and nothing more of theirs yet), not "okay i start a girl…".
        if starts and len(words_of(heard.text[starts.end() :])) >= 4:
            starts = None
        if not state.said and story.you_start and starts:
            premise = _PREMISE.search(heard.text)
            if premise and story.you_start_about:
                about = to_second_person(premise[1].strip(" .!?"))
                text = fill(_pick(story.you_start_about, state, rng), {"premise": about})
            else:
                text = _pick(story.you_start, state, rng)
            return TurnPlan(heard.act, Move.BEAT, text, "", _use(state, text), fallback="you start")
        if story.retell and find(story.retell_asks, heard.text) and state.said:
            so_far = self._story_so_far(state)
            text = fill(_pick(story.retell, state, rng), {"story": so_far})
            return TurnPlan(heard.act, Move.BEAT, text, "", _use(state, text), fallback="retold")
        asked_twist = story.twist_beats and find(story.twist_asks, heard.text)
        asked_funny = story.funny_beats and find(story.funny_asks, heard.text)
        if asked_twist or asked_funny:
            # "Can you add something surprising?", "Let's make it lighter": that kind of beat.
            kind_beats = story.twist_beats if asked_twist else story.funny_beats
            fresh = [b for b in kind_beats if b not in state.used] or list(kind_beats)
            beat = capitalise_sentences(fill(fresh[0], fields))
            reaction = _pick(
                story.twist_reactions if asked_twist else story.funny_reactions, state, rng
            )
            return TurnPlan(heard.act, Move.BEAT, reaction, beat, _use(state, reaction, fresh[0]))
        if heard.act == Act.DONT_KNOW:
            idea = next(
                (i for i in story.ideas if fill(i, fields) not in state.used), story.ideas[0]
            )
            reaction = _pick(self.content.classroom.lines["encourage"], state, rng)
            follow = capitalise_sentences(fill(idea, fields))
            return TurnPlan(
                heard.act, Move.ENCOURAGE, reaction, follow, _use(state, reaction, follow)
            )
        # "There is a small dog. His name is Biscuit.": the dog is the hero, not a thing.
        names_hero = named_hero(heard.text) is not None
        thing = "" if heard.act == Act.QUESTION or names_hero else self._new_thing(heard.text, hero)
        subject = ""
        # "The dog name is Bobby.": a line that names the hero is about the hero.
        if not thing and heard.act != Act.QUESTION and not named_hero(heard.text):
            subject = self._new_thing(heard.text, hero, story.subject_thing)
        told = best_answer(heard.question, story.answers) if heard.question else None
        if heard.act == Act.OFF_TASK:
            reaction = self._off_task(heard, rng, state)
        elif (
            not state.said
            and not hero
            and (heard.act != Act.STATEMENT or (not thing and len(heard.content) <= 3))
            # "Ok, I start. One morning a boy wake up…": their story, though it begins "Ok".
            and not (heard.act == Act.YES and len(heard.content) >= 5)
        ):
            # "Can you start?", "A story, please!": no idea of theirs, so the box begins.
            reaction = story.begin
            if story.begin_hero:
                hero = story.begin_hero
                state = replace(state, hero=hero)
                fields = {"hero": hero}
        elif heard.question and (
            choice := find(self.content.classroom.acts["choice"], heard.question)
        ):
            # "Should she wait until morning or go out now?": the box takes a side.
            said = _ASKED_WHO.sub("", choice[1].rstrip(" ,;"))
            first = swap_words(said, self.content.classroom.to_me)
            reaction = fill(
                _pick(self.content.classroom.lines["opinion_choice"], state, rng), {"choice": first}
            )
        elif told is not None:
            reaction = capitalise_sentences(fill(told.text, fields))  # "Who is telling it?"
        elif by_box := self._box_answer(heard, state, rng, story.box_answers):
            reaction = by_box  # "The dog is good or bad? You say.": "I think the dog is good!"
        elif any(p.search(heard.text) for p in story.handed_over):
            reaction = _pick(story.handed_reactions, state, rng)  # "You tell me."
        elif thing:
            reaction = capitalise(fill(_pick(story.thing_reactions, state, rng), {"thing": thing}))
        elif subject and (echo := best_echo(heard.text, story.echo, state)):
            reaction, thing = echo, subject  # "The fish is angry!": "Oh no, an angry one!"
        else:
            reaction = best_echo(heard.text, story.echo, state) or _pick(
                story.reactions, state, rng
            )
        classroom = self.content.classroom
        the_thing = classroom.definite(thing) if thing else ""
        fields = {**fields, "the_thing": the_thing}
        said_before = " ".join(state.heard)
        # A beat is used once, whoever the hero was then; one that says what the student
        # has said already ("heard a strange noise") would not add anything.
        is_person = bool(thing) and thing.split()[-1].lower() in story.people
        thing_beats = story.person_beats if is_person and story.person_beats else story.thing_beats
        candidates = thing_beats.get(group, ()) if thing else ()
        # "the robot is very sad because he has no friends": a beat that follows from it.
        told_it = heard.act != Act.QUESTION  # "…I'm running out of ideas?": no race
        scored = [(key_score(heard.text, b.keys), b) for b in story.keyed_beats if told_it]
        keyed = [b for score, b in sorted(scored, key=lambda sb: -sb[0]) if score]
        beats = [
            b
            # A new person comes first ("Then the dog smiled and said hello…"); a new thing's
            # own beats after the line's ("… took the race home" was nonsense).
            for b in (
                *((*candidates, *keyed) if is_person else (*keyed, *candidates)),
                *story.beats[group],
            )
            if f"beat:{b.text}" not in state.used and not self._retold(b.text, said_before)
        ]
        beat = capitalise_sentences(fill(beats[0].text, fields)) if beats else ""
        ask = capitalise_sentences(fill(beats[0].ask, fields)) if beats else ""
        prompts = tuple(capitalise_sentences(fill(p, fields)) for p in story.prompts[group])
        prompt = ask if ask and ask not in state.used else _pick(prompts, state, rng)
        state = _use(state, reaction, beat, prompt, f"beat:{beats[0].text}" if beats else "")
        return TurnPlan(
            heard.act,
            Move.BEAT,
            reaction,
            join(beat, prompt),
            state,
            fallback="" if beats else "no beat left",
        )

    def _story_so_far(self, state: PlannerState) -> str:
        """The story told back: the student's lines that tell it and the box's beats, in
        turn. Questions, asides and requests are left out, and so are the box's reactions
        and questions (a beat is a sentence of the box's that ends in a full stop)."""
        told: list[str] = []
        replies = iter(state.said)
        for line in state.heard[:-1]:
            heard = understand(line, self.content)
            text = _STORY_FILLER.sub("", line.strip())
            if heard.act in (Act.STATEMENT, Act.YES, Act.INTRODUCTION) and not heard.question:
                sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
                kept = [s for s in sentences if not _STORY_FILLER.fullmatch(s)]
                if kept:
                    told.append(capitalise_sentences(" ".join(kept)).rstrip(" .!") + ".")
            # A repeat's reply is the last one again: ``commit`` keeps it once.
            if heard.act != Act.REPEAT and (said := next(replies, None)) is not None:
                beats = [s for s in re.split(r"(?<=[.!?])\s+", said) if s.endswith(".")]
                told.extend(
                    beat
                    for beat in beats
                    # "No problem.", "I like that.": reactions; a repeat is told once.
                    if len(words_of(beat)) >= 4 and beat not in told
                )
        story = " ".join(told)
        if state.hero and state.hero[:1].isupper():  # "marta", as speech recognition has it
            story = re.sub(rf"\b{re.escape(state.hero)}\b", state.hero, story, flags=re.I)
        return story

    def _new_thing(
        self, text: str, hero: str | None, patterns: tuple[re.Pattern[str], ...] | None = None
    ) -> str:
        """The new thing the student put in the story, as they said it ("a big fish"), or
        "": the last one a ``new_thing`` pattern finds that is not the hero."""
        story, classroom = self.content.story, self.content.classroom
        patterns = story.new_thing if patterns is None else patterns
        found = [m for p in patterns for m in p.finditer(text)]
        # The last one, but "with …" only describes: "he found a small dragon with a
        # broken wing" is about the dragon.
        describing = re.compile(r"^\W*with\b", re.I)
        for match in sorted(found, key=lambda m: (bool(describing.match(m[0])), -m.start())):
            rest = classroom.thing(re.split(r"[,.!?;:]", text[match.end() :], maxsplit=1)[0])
            said = own_words(rest, 5, classroom.to_you, classroom.never_echo, classroom.cut)
            # "a letter addressed (to him)": a participle left at the end is not the thing.
            said = _PARTICIPLE_AT_END.sub(r"\1", said) if said else ""
            thing = classroom.thing(said) if said else ""
            nouns = _words(thing) - classroom.stop_words
            if not thing or not nouns or nouns & story.not_things:
                continue
            if hero and nouns & _words(hero):
                continue
            after = text[match.end() :]
            after = after[len(thing) :] if after.lower().startswith(thing.lower()) else ""
            if hero and re.match(rf"^\W*(?:called|named)\s+{re.escape(hero)}\b", after, re.I):
                continue  # "a lighthouse keeper called Oskar": the hero, not a new thing
            return thing[:1].lower() + thing[1:]
        return ""

    def _retold(self, beat: str, said: str) -> bool:
        """Whether the student has told this beat already: two of its words of content."""
        ignore = self.content.classroom.stop_words | {"hero", "then", "suddenly"}
        words = {_stem(w) for w in _words(beat) - ignore if not w.startswith("{")}
        return len(words & {_stem(w) for w in _words(said)}) >= 2

    # --- improv ---

    def _improv(self, heard: Understanding, state: PlannerState, rng: random.Random) -> TurnPlan:
        improv = self.content.improv
        cut = state.place is not None and any(p.search(heard.text) for p in improv.end_asks)
        if cut and (swapped := self._swapped_roles(heard, state)):
            return swapped  # "ok stop that was fun can we change and now you are the king"
        if (heard.act == Act.GOODBYE and state.place is None) or _ends_improv(heard) or cut:
            text = _pick(improv.goodbye, state, rng)
            twists = (
                [t for t in (*state.place.twists, *improv.twists) if t not in state.used]
                if state.place
                else []
            )
            if (their_end := _THEIR_ENDING.search(heard.text)) and improv.ending_with:
                # "Can you give the scene an ending where we become friends?"
                said = to_second_person(their_end[1].strip(" .!?"))
                text = fill(_pick(improv.ending_with, state, rng), {"said": said})
            elif improv.twist_end and twists and find(improv.twist_asks, heard.text):
                # "Let's finish it, I think we need a big twist at the end."
                text = fill(_pick(improv.twist_end, state, rng), {"twist": twists[0]})
            if improv.review and find(improv.review_asks, heard.text):
                # "Which bit do you think worked best? Then I'm done.": said, then goodbye.
                text = join(_pick(improv.review, state, rng), text)
            return TurnPlan(heard.act, Move.GOODBYE, text, "", replace(state, ended=True))
        ideas = [i for i in improv.ideas if i not in state.used]
        if state.place is not None and ideas and find(improv.idea_asks, heard.text):
            return TurnPlan(heard.act, Move.IN_SCENE, ideas[0], "", _use(state, ideas[0]))
        if state.place is not None and any(p.search(heard.text) for p in improv.who_asks):
            # "Who are you in this scene?": the box's role, and the scene goes on.
            text = fill(_pick(improv.who_am_i, state, rng), {"box_role": state.place.box_role})
            return TurnPlan(heard.act, Move.IN_SCENE, text, "", _use(state, text))
        named_place = place_named(heard.text, improv.places)
        words_place = place_in_words(heard.text)
        names_place = named_place not in (None, state.place) or (
            bool(words_place)
            and named_place is None
            and state.place is not None
            and words_place != state.place.where
        )
        if (
            state.place is not None
            and not names_place
            and (swapped := self._swapped_roles(heard, state))
        ):
            return swapped
        if state.place is not None and (twist := _found_group(improv.new_twist, heard.text)):
            # "Now a surprise: the patient is a vampire!": the partner takes it up in the
            # scene; it is not a call for a new one.
            to_you = self.content.classroom.to_you
            twist = swap_words(twist, to_you) if to_you else to_second_person(twist)
            text = fill(_pick(improv.twist_reactions, state, rng), {"twist": twist})
            return TurnPlan(heard.act, Move.IN_SCENE, capitalise(text), "", _use(state, text))
        if state.place is not None and any(p.search(heard.text) for p in improv.twist_asks):
            # "Can you add a twist?": one the scene has not had yet.
            twists = [t for t in (*state.place.twists, *improv.twists) if t not in state.used]
            if twists and improv.twist_given:
                twist = twists[0]
                text = fill(_pick(improv.twist_given, state, rng), {"twist": twist})
                return TurnPlan(heard.act, Move.IN_SCENE, text, "", _use(state, text, twist))
        offers = state.place is not None and find(improv.idea_offers, heard.text) is not None
        if offers and improv.accept and not heard.question.lower().startswith(("can ", "could ")):
            # "What if the voice is from Earth?"; "…no wait, that's a terrible idea": not.
            taken_back = improv.retracted and find(improv.retracts, heard.text)
            text = _pick(improv.retracted if taken_back else improv.accept, state, rng)
            return TurnPlan(heard.act, Move.IN_SCENE, text, "", _use(state, text))
        place = place_named(heard.text, improv.places)
        asks_scene = _asks_for_scene(heard.text)
        moving = re.search(r"\b(now|next|let'?s go|can we go|change|switch)\b", heard.text, re.I)
        # "What about the zoo?" moves on; "what about the chocolate on your tie" plays on.
        moving_to = re.search(r"\b(what about|how about)\b", heard.text, re.I)
        known_elsewhere = place is not None and place != state.place
        # "Now the lights are going off": no new place, unless they go somewhere.
        goes = re.search(
            r"\b(?:let'?s go to|can we go to|now we(?:'re| are) (?:at|in|on)|switch to|change to"
            r"|move to)\b"
            r"|(?:^|[.!?]\s+)\W*(?:now|next),? (?:the |a |an |at |in )?\w+(?:,? please)?\W*$",
            heard.text,
            re.I,
        )
        elsewhere = known_elsewhere or (
            goes is not None
            and state.place is not None
            and place_in_words(heard.text) not in ("", state.place.where)
        )
        # "Now the zoo, please!"
        asks_scene = asks_scene or bool(moving and elsewhere) or bool(moving_to and known_elsewhere)
        again = re.search(r"(?:^|[.!?]\s+)\W*(again|one more|same)\b", heard.text, re.I) is not None
        if heard.act == Act.REPEAT and not asks_scene and not again:
            return self._repeat(heard, state, rng)
        if (asks_scene or again or (place and state.place is None)) or state.place is None:
            return self._scene(heard, state, rng, place, again)
        played = self._box_answer(heard, state, rng, improv.box_answers, shared=False)
        if played and heard.act in (Act.QUESTION, Act.REQUEST):
            # "How old are you? You look very old": the character answers, in play.
            return TurnPlan(heard.act, Move.IN_SCENE, capitalise(played), "", _use(state, played))
        character = self.content.character(state.place.character)
        if character.id == "generic":
            # A scene at a place with no character of its own: the box answers in role,
            # and the student carries the scene on (a service question would break it).
            character = replace(character, steps=(), items=())
        plan = self._in_character(
            character,
            replace(heard, greeting=False),
            replace(state, greeted=True),
            rng,
            Move.IN_SCENE,
        )
        stock = (
            self.content.classroom.in_scene[-1].answers if self.content.classroom.in_scene else ()
        )
        wh = re.match(r"\W*(?:\w+\W+){0,2}?(what|where|when|who|why|how)\b", heard.question.lower())
        by_wh = improv.wh_answers.get(wh[1], ()) if wh and heard.question else ()
        # A place with no character of its own answers like a help desk ("It's just over
        # there, on the left."); in a scene, a question is answered in play.
        # ("How are you?" → "I'm very well, thank you!" stays: that is no help desk.)
        desk = (
            state.place is not None
            and state.place.character == "generic"
            and (plan.fallback == "in the scene" or _DESK_ANSWER.search(plan.reaction))
        )
        if (improv.unknown or by_wh) and (
            plan.fallback == "unknown question" or plan.reaction in stock or (desk and by_wh)
        ):
            # "What is this strange liquid?": no help-desk "Let me check that for you".
            reaction = _pick(by_wh or improv.unknown, plan.after, rng)
            plan = replace(plan, reaction=reaction, after=_use(plan.after, reaction))
        # "Help! A bear!": the scene's own drama comes before the character's manners.
        asked = heard.act in (Act.QUESTION, Act.REQUEST) and heard.question
        drama = plan.move != Move.GOODBYE and not asked  # a question is answered, in role
        echo = best_echo(heard.text, improv.echo, state) if plan.move != Move.GOODBYE else ""
        generic = plan.reaction in (
            *improv.unknown,
            *(a for v in improv.wh_answers.values() for a in v),
        )
        # "Do penguins eat pizza?": the scene's own thing beats "I don't know!"; but only a
        # thing said up to the question ("Look, a helicopter! Is it your family?"), not one
        # said after it ("Where is my crown? I put it next the sandwiches!").
        upto = heard.text.find(heard.question) + len(heard.question) if asked else 0
        asked_echo = best_echo(heard.text[:upto], improv.echo, state) if asked else ""
        if asked and asked_echo and generic:
            plan = replace(plan, reaction=asked_echo, after=_use(plan.after, asked_echo))
        elif (
            asked
            and echo
            and plan.fallback == "yes or no"
            and plan.reaction.startswith("Yes")
            and not plan.reaction.endswith("?")
            and not echo.endswith("?")
        ):
            # "Did you hear that?" → "Yes, I did!", and the scene goes on from the noise.
            reaction = join(plan.reaction, echo)
            plan = replace(plan, reaction=reaction, after=_use(plan.after, echo))
        if not drama:
            echo = ""
        if echo or not plan.reaction:
            reaction = echo or _pick(improv.in_scene, plan.after, rng)
            plan = replace(plan, reaction=reaction, after=_use(plan.after, reaction))
        reactions = self.content.classroom.reactions
        bare = any(plan.reaction in reactions[kind] for kind in FEELING_REACTIONS)
        if bare and not plan.follow_up:
            # A bare "OK." gives the scene nothing: the partner plays along instead.
            lines = improv.partner_negative if heard.sentiment == "negative" else improv.partner
            reaction = _pick(lines, plan.after, rng)
            plan = replace(plan, reaction=reaction, after=_use(plan.after, reaction))
        return replace(plan, move=Move.IN_SCENE if plan.move != Move.GOODBYE else plan.move)

    def _swapped_roles(self, heard: Understanding, state: PlannerState) -> TurnPlan | None:
        """ "Can we swap? I want to be the dentist now, and you are the vampire.": the same
        place, the roles the student gives (the box takes the student's old one)."""
        improv, place = self.content.improv, state.place
        if place is None or not any(p.search(heard.text) for p in improv.swap_asks):
            return None
        theirs = student_role(heard.text) or place.box_role
        box = _BOX_ROLE.search(heard.text)
        mine = _from_box(box[1].lower()) if box else place.student_role
        if _words(theirs) == _words(mine):  # "I want to be the patient, you be the patient"
            same = _words(theirs) == _words(place.student_role)
            mine = place.box_role if same else place.student_role
        swapped = replace(place, student_role=theirs, box_role=mine)
        fields = {"student_role": theirs, "box_role": mine}
        text = fill(_pick(improv.swap, state, random.Random(state.turn)), fields)
        return self._scene_plan(heard, state, text, swapped)

    def _scene(
        self,
        heard: Understanding,
        state: PlannerState,
        rng: random.Random,
        place: Place | None,
        again: bool,
    ) -> TurnPlan:
        improv = self.content.improv
        twist_of_student = student_twist(heard.text, self.content.classroom.to_you)
        articles = {"my", "your", "a", "an", "the"}
        if (their_role := student_role(heard.text)) and _words(their_role) - articles <= _words(
            twist_of_student
        ):
            twist_of_student = ""  # "…and i am the ski instructor": a role, not a twist
        fallback = ""
        named = place_in_words(heard.text) if place is None else ""
        if again and place is None and twist_of_student and state.place is not None:
            named = ""  # "Again, but now the lift plays music": a twist, not a place
        if again and place is None and not named and state.place is not None:
            place = state.place
            swap = re.search(
                r"\bI(?:'m| am) ((?:the|a|an) [\w ]+?) and "
                r"you(?:'re| are) ((?:the|a|an) [\w ]+?)\W*$",
                heard.text,
                re.I,
            )
            if swap:
                # "Again, but this time I'm the guard and you are the fan": the roles change.
                swapped = replace(place, student_role=swap[1].lower(), box_role=swap[2].lower())
                fields = {"student_role": swapped.student_role, "box_role": swapped.box_role}
                text = fill(_pick(improv.swap, state, rng), fields)
                return self._scene_plan(heard, state, text, swapped)
            if twist_of_student:
                fields = {"twist": twist_of_student, "box_role": place.box_role}
                text = fill(_pick(improv.again, state, rng), fields)
                return self._scene_plan(heard, state, text, place)
        words = place_in_words(heard.text)
        worker = next((w for w in improv.workers if key_score(words, w.keys)), None)
        if place is not None and worker is not None and not key_score(words, place.keys):
            place = None  # the student's own place words name another worker
        elif place is not None and worker is not None:
            # "a hotel kitchen": the last word names the place, so the kitchen's worker.
            last = words.split()[-1] if words.split() else ""
            if key_score(last, worker.keys) and not key_score(last, place.keys):
                place = None
        if place is None and _TOGETHER.search(heard.text):
            named = words = ""  # "we're neighbours and your tree… on my garden": no place
        named = named or (words if place is None else "")
        if place is None and named:
            place, fallback = self._place_for(named), "place from the student's words"
        together = _TOGETHER.search(heard.text)
        if place is None and together and improv.scene_together:
            # "We're neighbours and your tree drops leaves all over my garden."
            both = (together[1] or together[2]).lower()
            cast = self._cast(f"one of the {both}", "the other one")
            lines = improv.scene_together if twist_of_student else improv.scene_together_plain
            fields = {"both": both, "twist": twist_of_student}
            # "We are two friends in an escape room and we have only ten minutes left.":
            # the whole set-up, said back, when it says more than who we are.
            group = 1 if together[1] else 2
            setup = re.split(r"[.!?]", heard.text[together.end(group) :], maxsplit=1)[0]
            to_you = self.content.classroom.to_you
            said = setup.strip(" ,")
            said = swap_words(said, to_you) if to_you else to_second_person(said)
            if 2 <= len(words_of(said)) <= 16 and improv.scene_together_plain:
                first = heard.text[together.start() : together.end(group)]
                both = re.sub(r"^we(?:'re| are)\s+", "", first, flags=re.I).lower()
                fields = {"both": f"{both} {said}".strip(), "twist": ""}
                lines = improv.scene_together_plain
            text = fill(_pick(lines or improv.scene_together, state, rng), fields)
            plan = self._scene_plan(heard, state, text, cast)
            return replace(plan, fallback="roles from the student's words")
        given_role = _BOX_ROLE.search(heard.text)
        if place is None and improv.scene_roles and (given_role or student_role(heard.text)):
            # "You are a robot and I am your new owner": no place, the roles the student gave.
            mine = _from_box(given_role[1].lower()) if given_role else improv.worker
            theirs = student_role(heard.text) or improv.visitor
            cast = self._cast(theirs, mine)
            if twist_of_student and (
                _words(theirs) - {"my", "your", "a", "an", "the"} <= _words(twist_of_student)
                or len(words_of(twist_of_student)) <= 4
            ):
                twist_of_student = ""  # "…and I am your new owner", "…and I visit you": roles
            fields = {"student_role": theirs, "box_role": mine, "twist": twist_of_student}
            lines = improv.scene_roles_twist if twist_of_student else improv.scene_roles
            text = fill(_pick(lines or improv.scene_roles, state, rng), fields)
            plan = self._scene_plan(heard, state, text, cast)
            return replace(plan, fallback="roles from the student's words")
        if place is None:
            unused = [p for p in improv.places if p != state.place]
            place, fallback = rng.choice(unused), "place chosen"
        twists = [t for t in place.twists if t not in state.used]
        twist = twist_of_student or (twists[0] if twists else rng.choice(place.twists))
        role = student_role(heard.text) or place.student_role
        # "I am a dog walker and you are a dog.": the partner plays the role it is given.
        given = _BOX_ROLE.search(heard.text)
        box_role = _from_box(given[1].lower()) if given else place.box_role
        if _words(box_role) == _words(role):
            if given and not student_role(heard.text):
                role = improv.visitor  # "you're a guest at a wedding and I've just arrived…"
            else:
                box_role = place.box_role
        if box_role != place.box_role:
            place = replace(place, student_role=role, box_role=box_role)
        fields = {
            "place": place.place,
            "where": place.where or f"at {place.place}",
            "student_role": role,
            "box_role": box_role,
            "twist": twist,
            "name": state.name or "",
        }
        options = improv.scene_named if state.name else improv.scene
        if (
            fallback == "place from the student's words"
            and not twist_of_student
            and student_role(heard.text)
            and given
            and improv.scene_plain
        ):
            options = improv.scene_plain
        text = fill(_pick(options, state, rng), fields)
        if fallback == "place chosen":
            text = join(_pick(improv.pick, state, rng), text)
        plan = self._scene_plan(heard, _use(state, twist), text, place)
        return replace(plan, fallback=fallback)

    def _cast(self, student_role: str, box_role: str) -> Place:
        """A scene with no place, only the roles the student gave."""
        return Place(
            keys=(),
            place="",
            where="",
            character="generic",
            student_role=student_role,
            box_role=box_role,
            twists=self.content.improv.twists,
        )

    def _place_for(self, named: str) -> Place:
        """A scene at a place the content has no table for ("the library"): the worker's
        role from ``[[worker]]`` if it names one, else the director's generic one."""
        improv = self.content.improv
        worker = next((w for w in improv.workers if key_score(named, w.keys)), None)
        return Place(
            keys=(),
            place=named.split(" ", 1)[1],
            where=named,
            character="generic",
            student_role=worker.student_role if worker else improv.visitor,
            box_role=worker.role if worker else improv.worker,
            twists=improv.twists,
        )

    def _scene_plan(
        self, heard: Understanding, state: PlannerState, text: str, place: Place
    ) -> TurnPlan:
        # A new scene: the partner's steps start again, and the box's lines may come back.
        after = replace(state, place=place, step=0, greeted=True, last_question=None)
        return TurnPlan(heard.act, Move.SCENE, "", capitalise(text), _use(after, text))

    # --- the guessing game ---

    def _new_secret(self, previous: Secret | None, games: int) -> Secret | None:
        if self.activity != "guess":
            return None
        guess = self.content.guess
        choices = guess.simple_objects if self.level in SIMPLE_LEVELS else guess.objects
        choices = choices or guess.objects or guess.simple_objects
        rng = random.Random(f"{self.seed}/game/{games}")
        return rng.choice([s for s in choices if s != previous] or list(choices))

    def _guess(self, heard: Understanding, state: PlannerState, rng: random.Random) -> TurnPlan:
        guess = self.content.guess
        secret = state.secret
        assert secret is not None  # chosen when the planner was made
        fields = {"object": secret.name}
        if heard.act == Act.GOODBYE:
            # Right after a reveal the new object has had no question: it is not given away.
            new_game = len(state.heard) <= 1
            key = "goodbye_new_game" if new_game else "goodbye"
            text = fill(_pick(guess.lines[key], state, rng), fields)
            return TurnPlan(heard.act, Move.REVEAL, text, "", replace(state, ended=True))
        if guess.asked_as:
            # "Is it wooden?" is asked as the facts say it: "Is it made of wood?"
            heard = replace(
                heard,
                text=swap_words(heard.text, guess.asked_as),
                question=swap_words(heard.question, guess.asked_as),
            )
        telling = heard.act in (Act.STATEMENT, Act.YES, Act.NO)  # "ok it is soft": "ok", then…
        if telling and not heard.question and find(guess.said_as_question, heard.text):
            # "it make noise", "It is an apple": asked with the voice only, the mark lost.
            heard = replace(heard, act=Act.QUESTION, question=heard.text.strip())
        again = self._plays_again(heard.text, state)
        # "is it a... cup? no": a pause inside the guess, not the end of a sentence.
        paused = "..." in heard.text or "…" in heard.text
        question_text = (heard.text if paused else heard.question).replace("...", " ")
        question_text = re.sub(r"\s+", " ", question_text.replace("…", " "))
        asks_too = bool(heard.question) and not find(guess.play_again, heard.question)
        if again and len(state.heard) <= 1 and not asks_too:
            # A new game has just begun ("Again! One more time." → ready); "Again! Is it
            # an animal?" asks about the new object at once.
            text = _pick(guess.lines["ready"], state, rng)
            return TurnPlan(heard.act, Move.NONE, text, "", _use(state, text))
        guessing = re.search(r"\bis it (?:a|an|the) \w+", question_text, re.I) is not None
        if again and not guessing:
            # Mid-game ("Let's play again, can you think of something harder?"): reveal,
            # then a new one.
            heard = replace(heard, act=Act.GIVE_UP)
        extra = guess.optional_lines
        swap = "swap" in extra and find(guess.swap_asks, heard.text) is not None
        if swap and heard.act != Act.GIVE_UP:
            text = _pick(extra["swap"], state, rng)
            return TurnPlan(heard.act, Move.NONE, text, "", _use(state, text))
        hint_asked = find(guess.hint_asks, heard.text) is not None and heard.act != Act.GIVE_UP
        if hint_asked and not guessing:
            return self._hint(heard, state, rng)
        claims = (
            find(guess.win_claims, heard.text)
            and not heard.question  # "Is it a ruler? I win!": the guess is answered
            and not guessed_right(secret, heard.text)
        )
        if claims and "not_won" in extra:
            text = _pick(extra["not_won"], state, rng)
            return TurnPlan(heard.act, Move.NONE, text, "", _use(state, text))
        asked = questions_in(heard.text)
        if ready_ask := find(guess.asks_ready, heard.text):
            # "Are you ready? Is it something you use in the kitchen?", "alright I'm ready
            # is it something you can find at home": the question after it is answered.
            after_ready = heard.text[ready_ask.end() :]
            rest = next((q for q in reversed(asked) if not find(guess.asks_ready, q)), "")
            if not rest and (
                ready_tail := re.search(r"\b(?:is|are|does|do|can|has) it\b.*", after_ready, re.I)
            ):
                rest = ready_tail[0]
            if not rest:
                text = _pick(guess.lines["ready"], state, rng)
                return TurnPlan(heard.act, Move.NONE, text, "", _use(state, text))
            heard = replace(heard, question=rest.strip())
        if heard.act == Act.GIVE_UP or (guessed_right(secret, heard.text) and heard.question):
            key, move = ("give_up", Move.REVEAL) if heard.act == Act.GIVE_UP else ("win", Move.WIN)
            text = fill(_pick(guess.lines[key], state, rng), fields)
            if swap:  # "I give up, what was it? Now I think of something and you guess."
                text = join(text, _pick(extra["swap"], state, rng))
            fresh = self._new_secret(secret, state.turn)
            after = PlannerState(
                turn=state.turn,
                name=state.name,
                secret=fresh,
                greeted=True,
                used=_use(state, text).used,
                said=state.said,
                heard=(),
            )
            return TurnPlan(heard.act, move, text, "", after)
        question = heard.question
        # "a balloon", "Is it a bus ticket? No? Then a receipt from the shop?": a guess
        # with no "is it".
        bare = _BARE_GUESS.match(question or heard.text)
        if bare and not re.match(r"\W*is it\b", question or "", re.I):
            question = question_text = f"Is it {bare[1]} {bare[2]}?"
        # "…is it a bicycle? No? Okay. Can you give me a hint?": the hint is asked of the box,
        # not about the object.
        about_it = [
            m for m in _GUESS_QUESTION.finditer(question_text) if not find(guess.hint_asks, m[0])
        ]
        if paused and (last := about_it):
            # "Is it... erm... soft?": the question with the pause and the filler left out.
            question = _FILLERS.sub(" ", last[-1][0]).strip()
            question = re.sub(r"\s+", " ", question)
        if not question:
            text = _pick(guess.lines["not_a_question"], state, rng)
            return TurnPlan(
                heard.act, Move.NONE, text, "", _use(state, text), fallback="not a question"
            )
        if either := re.search(r"\b(is|are) it (\w+) or (\w+)\b", question, re.I):
            # "Is it big or small?": the one that is true.
            for side in (either[2], either[3]):
                told = answering_fact(secret, f"Is it {side}?")
                if told is not None and not _NOT.search(told):
                    tail = _pick(guess.tails_yes, state, rng)
                    return TurnPlan(heard.act, Move.ANSWER, told, tail, _use(state, tail))
        # "is it a thermometer i feel like it has to be": the guess, not "has", is asked.
        if aside := _AFTER_GUESS.search(question):
            question = question[: aside.end()] + "?"
            question_text = question
        # "is it a pencil case?" about a guitar ("…in its case"): a thing no fact names
        # whole is a wrong guess, not a question about its case.
        shaped = _GUESS_SHAPED.match(question)
        known = {w.lower() for f in (*secret.facts, secret.kind) for w in words_of(f)}
        unknown_thing = shaped is not None and not {
            w.lower() for w in words_of(shaped[2])
        } <= known | {w + "s" for w in known}
        fact = (
            None
            if unknown_thing
            else fact_of_kind(secret, question, guess.kinds) or answering_fact(secret, question)
        )
        # The last guess of the turn: "is it a pen no wait is it a ruler" → a ruler.
        guesses = list(
            re.finditer(r"\bis it (a|an|the) ([\w ]+?)\W*(?=\bno\b|$)", question_text, re.I)
        )
        # "is it a bench... no wait, a swing?": the guess they moved on to.
        if guesses and (moved := list(_MOVED_ON.finditer(question_text[guesses[-1].end() :]))):
            guesses = [moved[-1]]
        # "is it headphones?": a thing in the plural needs no article.
        plural = re.search(r"\bis it (\w{4,}s)\W*$", question_text, re.I)
        if not guesses and plural and plural[1].lower() not in _NOT_PLURAL_THINGS:
            guesses = [re.match(r"()(.*)", plural[1])]  # type: ignore[list-item]
        wrong = guesses[-1] if guesses else None
        if wrong and fact is not None and _THAN.search(fact):
            fact = None  # "is it a phone?" is a guess, not "It is not smaller than a phone."
        fallback = ""
        if fact is not None:
            yes = re.search(r"\b(not|no|never)\b", fact, re.I) is None
            answer = f"{'Yes' if yes else 'No'}! {fact}"
        elif wrong:
            named = f"{wrong[1].lower()} {wrong[2].lower()}".strip()
            answer = fill(guess.lines["wrong_guess"][0], {"guess": named})
        else:
            answer, fallback = _pick(guess.lines["unknown"], state, rng), "no fact"
        if fact is not None:
            tails = guess.tails_yes if answer.startswith("Yes") else guess.tails_no
        else:
            tails = guess.tails_no if wrong else guess.tails
        tail = _pick(tails, state, rng)
        if hint_asked:  # "Is it a bicycle? No? Okay. Can you give me a hint?": both
            hint = self._hint(heard, state, rng)
            return replace(hint, reaction=join(answer, hint.reaction))
        return TurnPlan(heard.act, Move.ANSWER, answer, tail, _use(state, tail), fallback=fallback)

    def _hint(self, heard: Understanding, state: PlannerState, rng: random.Random) -> TurnPlan:
        """The object's next hint, each one telling a bit more; none twice in a game."""
        guess, secret = self.content.guess, state.secret
        assert secret is not None
        lines = guess.optional_lines
        given = [h for h in secret.hints if any(h in said for said in state.said)]
        # "It is a kind of food." after "Yes! You can eat it.": a hint must tell more.
        told = {w.lower() for said in state.said for w in words_of(said)}
        left = [
            h
            for h in secret.hints
            if h not in given and not (set(_HINT_WORDS.findall(h.lower())) & told)
        ] or [h for h in secret.hints if h not in given]
        if left and "hint" in lines:
            text = fill(lines["hint"][min(len(given), len(lines["hint"]) - 1)], {"hint": left[0]})
        else:
            text = _pick(lines.get("no_more_hints") or guess.lines["not_a_question"], state, rng)
        return TurnPlan(heard.act, Move.ANSWER, text, "", _use(state, text), fallback="hint")


# --- helpers, pure ---


# "a letter addressed": a word in -ed or -ing at the end, but not a noun ("a broken wing").
_PARTICIPLE_AT_END = re.compile(
    r"^(\S+(?: \S+)+?) "
    r"(?!(?:\w*(?:thing|ring|wing|king|ding|ceiling|morning|evening|painting|building)"
    r"|clothing|bed|shed|sled)$)\w+(?:ed|ing)$"
)
# "…and you are a dog", "you can be the waiter": the role the student gives the box.
_ROLE_NOUN = (
    r"(?:(?:fortune|shop|ski|tour|bus|taxi|police|ticket|hotel|night|security|museum|flight|"
    r"talent|cake|zoo|park)\s)?"
    r"(?!(?:better|faster|older|bigger|smaller|later|never|ever|over|together|rather|after|other|"
    r"clever|sure|here|there|super|proper|under|power|water|weather|dinner|winner)\b)"
    r"(?:[a-z]+(?:er|or|ist|ian|ant|eer|man|woman|ess)|detective|suspect|judge|pilot|chef|cook|"
    r"doctor|nurse|king|queen|prince|princess|robot|ghost|parrot|dog|cat|alien|pirate|wizard|"
    r"witch|guide|student|boss|client|patient|guest|thief|spy|vampire|monster|dragon|clown|"
    r"mum|dad|mother|father|grandma|grandpa|penguin|tourist)"
)
_BOX_ROLE = re.compile(
    r"\byou(?:'re| are| be| play| played| can be| could be| will be) "
    # "you are fortune teller with crystal ball": a learner leaves the article out.
    rf"((?:the|a|an|my|your) [\w ]+?|{_ROLE_NOUN})"
    r"(?= now\b| instead\b| and\b| who\b| in\b| at\b| with\b| we\b| we're\b| i\b|[,.!?]|$)",
    re.I,
)
# "Let's end it with the lights coming back on", "an ending where they finally meet".
# "I say 'The Girl Who Found the Sun'", "call it The Rain Village": the title they give.
_TITLE_GIVEN = re.compile(
    r"(?:\bi say|\bcall it|\bmaybe|\bhow about|\btitle is|\btitle:)\s*"
    r"['\"‘“]?([A-Z][^'\"’”?!.]{2,60})",
    re.I,
)
# "make him a woman" → "he is a woman"
_MAKE_THEM = re.compile(r"^\s*make (him|her|it|them)\s+", re.I)
_MADE = {"him": "he", "her": "she", "it": "it", "them": "they"}
# "Maybe it's more happy if she meets someone who helps her": the change they want.
_THEIR_IDEA = re.compile(
    r"\b(?:maybe|what if|how about|instead)\b,?\s+"
    r"(?:it'?s (?:more \w+|better|nicer) if\s+)?(.{6,})$",
    re.I,
)
# "Let's make a story about a village where it never stops raining."
_PREMISE = re.compile(r"\bstory about (.{4,}?)(?:[.!?]|$)", re.I)
# "In the end she decides to stay", "and finally they…": the student tells the ending.
_THEIR_LAST_LINE = re.compile(
    r"^\W*(?:(?:and|so|ok|okay)\W+)?(?:in the end|at the end|finally|and they lived"
    r"|(?:i think )?we (?:should|can|could) (?:finish|end)(?: it| the story)?"
    r"(?: like this| with this)?)\W+(.{6,}?)"
    r"(?:\W+the end\b.*|[.!?]\s*(?:what do you think|is it a good ending|do you like it)\b.*)?$",
    re.I,
)
_THEIR_ENDING = re.compile(
    r"\b(?:end it with|ending (?:where|with|in which)|end with) (.{6,})$", re.I
)
# A turn this long is the student's own thought (measured: B2 turns in the blind sets ran
# to 20-60 words), not a keyword for a topic's stock question.
LONG_TURN_WORDS = 25
_OWN_NAME = re.compile(r"\b(?:his|her|its|their|the \w+'s|the \w+) name is\b", re.I)
# "We're neighbours", "we are two detectives": a scene of two of the same.
_TOGETHER = re.compile(
    # "We're two rival ice sculptors": two of anything.
    r"\bwe(?:'re| are) two ((?:\w+ ){0,2}\w+s)\b"
    r"|\bwe(?:'re| are) (?:two |both |best )?(neighbours|neighbors|friends|colleagues|classmates|"
    r"brothers|sisters|cousins|astronauts|detectives|tourists|students|doctors|teachers|"
    r"flatmates|roommates|explorers|pirates|spies|chefs|scientists)\b",
    re.I,
)


def _from_box(role: str) -> str:
    """ "my grandmother" said by the student is "your grandmother" said by the box."""
    head, _, rest = role.partition(" ")
    if head.lower() not in ("the", "a", "an", "my", "your", "his", "her", "our", "their"):
        return f"{'an' if role[:1].lower() in 'aeiou' else 'a'} {role}"  # "fortune teller"
    return f"{ {'my': 'your', 'your': 'my'}.get(head, head) } {rest}".strip()


_WH_START = re.compile(r"^\W*(?:\w+\W+){0,2}?(?:what|which|who)\b", re.I)


def _pick(options: tuple[str, ...], state: PlannerState, rng: random.Random) -> str:
    """One of ``options`` the conversation has not had yet (any, when all have been said)."""
    fresh = [option for option in options if option not in state.used]
    return rng.choice(fresh or list(options)) if options else ""


def _pick_fresh(options: tuple[str, ...], state: PlannerState) -> str:
    """The first of ``options`` not said yet in this conversation; "" when all were."""
    return next((option for option in options if option not in state.used), "")


def _use(state: PlannerState, *lines: str) -> PlannerState:
    return replace(state, used=state.used | {line for line in lines if line})


def _forget_last(state: PlannerState) -> PlannerState:
    """After a repeat, the last reply is still the one to replay on a second request."""
    return replace(state, said=state.said[:-1]) if state.said else state


_ASK_WORDS = frozenset(
    ["would", "you", "like", "a", "an", "or", "one", "the", "how", "many", "which", "with", "it"]
)


def _words(text: str) -> set[str]:
    return {w.lower() for w in words_of(text)}


def questions_in(text: str) -> list[str]:
    """The sentences of ``text`` that end with a question mark, in order."""
    return [p.strip() for p in re.findall(r"[^.!?]*\?", text) if words_of(p)]


def question_parts(text: str, joins: tuple[re.Pattern[str], ...]) -> list[str]:
    """The questions of a turn, each on its own: "When does it start, and is it only at
    weekends?" → two; a turn with one question → one."""
    parts = questions_in(text)
    split: list[str] = []
    for part in parts:
        pieces = [part]
        for pattern in joins:
            pieces = [q for piece in pieces for q in pattern.split(piece)]
        split += [q.strip(" ,") for q in pieces if q and len(words_of(q)) >= 2]
    return split


def _shares_three_words(first: str, second: str) -> bool:
    """Whether the two share three words in a row ("want to be")."""

    def triples(text: str) -> set[tuple[str, ...]]:
        words = [w.lower() for w in words_of(text)]
        return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}

    return bool(triples(first) & triples(second))


def question_sentence_of(line: str) -> bool:
    """Whether ``line`` ends as a question."""
    return line.rstrip().endswith("?")


def _stem(word: str) -> str:
    """ "brothers" and "brother", "holidays" and "holiday" count as one word."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _same_words(first: str, second: str) -> bool:
    return [w.lower() for w in words_of(first)] == [w.lower() for w in words_of(second)]


def _same_question(question: str, said: str) -> bool:
    return any(question.lower() == sentence.lower() for sentence in sentences_of(said))


def _skipped(step: Question, state: PlannerState) -> bool:
    heard = " ".join(state.heard).lower()
    return any(matches(heard, phrase) for phrase in step.skip_if)


def _weak(answer: Answer, heard: Understanding) -> bool:
    return key_score(heard.question or heard.text, answer.keys) < 2


def best_answer(question: str, answers: tuple[Answer, ...]) -> Answer | None:
    """The persona fact whose keys the question names most strongly (the first on a tie)."""
    scored = [(key_score(question, a.keys), -i, a) for i, a in enumerate(answers)]
    best = max(scored, default=None, key=lambda entry: entry[:2])
    return best[2] if best and best[0] else None


def best_echo(text: str, echoes: tuple[Echo, ...], state: PlannerState) -> str:
    """The reaction naming the student's own thing, if one fits and was not said yet. A
    key the student says "not" to ("not too big") does not count."""
    text = _NEGATED.sub(" ", text)
    scored = [(key_score(text, e.keys), -i, e.text) for i, e in enumerate(echoes)]
    for score, _, line in sorted(scored, reverse=True):
        if score and line not in state.used:
            return line
    return ""


def capitalise_sentences(text: str) -> str:
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m[1] + m[2].upper(), text)


_DETERMINERS = r"(?:a|an|the|some|my|two|three|four|five|one|six)"
_UNCOUNTABLE = frozenset(
    ["bread", "milk", "water", "juice", "tea", "coffee", "rice", "cheese", "chocolate", "soup"]
)


def items_named(text: str, character: Character) -> list[str]:
    """The things in ``text`` that ``character`` knows of, as the student said them
    ("a big doll", "a cheese sandwich and an orange juice"), longest names first."""
    lowered = text.lower()
    found: list[tuple[int, str, str]] = []
    taken: list[tuple[int, int]] = []
    for item in sorted(character.items, key=lambda i: -len(i.name)):
        describing = rf"(?:{_DETERMINERS}\s+)?(?:(?!{_DETERMINERS}\b)[a-z]+\s+)?"
        pattern = rf"\b({describing}){re.escape(item.name)}(s|es)?\b"
        for match in re.finditer(pattern, lowered):
            if any(start <= match.start(0) < end for start, end in taken):
                continue
            words = (match[1] or "").split()
            # Only a describing word before the thing: "a big doll", not "want doll".
            if words and words[-1] in _NON_ADJECTIVES:
                words = [w for w in words[:-1] if re.fullmatch(_DETERMINERS, w)]
            words = [w for w in words if w != "my"]
            if words[:1] in (["a"], ["an"]):
                # The right one: "a appointment" → "an appointment".
                following = (words[1:] or [item.name])[0]
                words[0] = "an" if following[:1] in "aeiou" else "a"
            before = lowered[: match.start(0)]
            if (
                words[:1] == ["no"]
                or before.endswith(("not ", "no "))
                or re.search(r"\b(?:than|instead of)\b(?:\s+\w+){0,3}\s*$", before)
            ):
                continue  # "No, no bananas.", "…a new one than a repair": not asked for
            plural = match[2] or ""
            simple_plural = not item.name.endswith(("s", "x", "ch", "sh", "y"))
            counted = words[:1] and parse_number(words[0]) not in (None, 0, 1)
            if not plural and counted and simple_plural:
                plural = "s"  # "two ticket" is said back as "two tickets"
            phrase = " ".join([*words, item.name + plural])
            if item.name in _UNCOUNTABLE and phrase.startswith(("a ", "an ")):
                phrase = phrase.split(" ", 1)[1]  # "a bread" → "bread"
            found.append((match.start(0), item.name, phrase))
            taken.append((match.start(0), match.end(0)))
    # "I want a doll. A big doll.": one doll, as the student last described it.
    longest: dict[str, tuple[int, str]] = {}
    for start, name, phrase in sorted(found):
        if name not in longest or len(phrase) >= len(longest[name][1]):
            longest[name] = (longest.get(name, (start, ""))[0], phrase)
    return [phrase for _, phrase in sorted(longest.values())]


def with_article(phrase: str) -> str:
    """ "big doll" → "a big doll"; "two cakes", "bread" and "a ball" stay as they are."""
    first = phrase.split()[0] if phrase.split() else ""
    last = phrase.split()[-1] if phrase.split() else ""
    if re.fullmatch(_DETERMINERS, first) or last in _UNCOUNTABLE or last.endswith("s"):
        return phrase
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def bare(phrase: str) -> str:
    """ "a big doll" → "big doll"."""
    return re.sub(rf"^{_DETERMINERS}\s+", "", phrase)


_NON_ADJECTIVES = frozenset(
    [
        "in",
        "on",
        "at",
        "my",
        "our",
        "your",
        "this",
        "that",
        "want",
        "like",
        "have",
        "need",
        "get",
        "buy",
        "order",
        "i'd",
        "would",
        "please",
        "and",
        "or",
        "with",
        "some",
        "for",
        "of",
        "is",
        "it",
        "and",
        "take",
        "see",
        "love",
        "any",
    ]
)


def named_hero(text: str) -> str | None:
    """A name the student gives the story's main character: "a dog called Bobby", "The
    dog's name is Bobby" → "Bobby"."""
    found = re.search(r"\b(?:called|named|(?:his|her|its|\w+'s|\w+) name is) ([A-Z][a-z]+)\b", text)
    if found:
        return found[1]
    # "a girl called marta finds…", "his name is pico", as speech recognition writes it:
    # a name, not "called the police".
    lower = re.search(r"\b(?:called|named|(?:his|her|its) name is) ([a-z]{3,})\b", text)
    if lower and lower[1] not in _NOT_NAMES_AFTER_CALLED:
        return lower[1].capitalize()
    return None


_NOT_NAMES_AFTER_CALLED = frozenset(
    [
        "the",
        "her",
        "his",
        "him",
        "them",
        "you",
        "she",
        "they",
        "and",
        "but",
        "back",
        "out",
        "for",
        "home",
        "police",
        "again",
        "off",
        "everyone",
        "everybody",
        "someone",
        "somebody",
        "nobody",
        "people",
        "friends",
        "mum",
        "dad",
        "mother",
        "father",
        "help",
    ]
)


def story_hero(text: str) -> str | None:
    """The story's main character from the student's first sentence: "Once there was a
    little cat" → "the little cat"; "a story about a boy who…" → "the boy"."""
    patterns = (
        # "It starts with a woman who finds an old letter": the woman.
        r"\b(?:a|an) ((?:\w+ )?\w+?) who (?:\w+s|\w+ed|is|was|has|had|lives|lived)\b",
        r"\babout (?:a|an|the) ((?:\w+ )?\w+?)"
        r"(?: who\b| that\b| which\b| in\b| on\b| at\b| with\b| and\b|[,.!?]|$)",
        r"\bthere (?:was|lived|is|were) (?:a|an|once a|once an) ((?:\w+ )?\w+?)"
        r"(?: who\b| that\b| called\b|[,.!?]| in\b| on\b|$)",
        r"(?:^\W*|:\s*)(?:a|an|the) ((?:\w+ )?\w+?)"
        r"(?: \w+s\b| was\b| is\b| lived\b| had\b| hadn't\b)",
        # "Hi, I am Mei. One day an old man find a key", "My line: a young fisherman in
        # Iceland woke up": a new sentence (or clause) that begins with someone doing something.
        r"(?:^|[.!?:]\s+|\bone (?:day|morning|night|evening|afternoon),? |\bonce,? "
        r"|\bi(?:'ll)? start,? )(?:a|an) ((?:\w+ )?\w+?)"
        r"(?: (?:in|from|at|on|with|of) [A-Z]?\w+)? (?:\w+ed|woke|found|finds?|saw|sees?|had|has"
        r"|went|goes|lived|lives|was|is|wanted|wants|came|comes|got|gets|ran|runs|met|meets"
        # a learner's present for the past: "one day a boy go to the forest"
        r"|go|see|find|live|walk|want|meet|play|make|take|look|open|run|come|get|hear|wake"
        r"|woke up|wakes)\b",
    )
    for pattern in patterns:
        if found := re.search(pattern, text.strip(), re.I):
            return "the " + found[1].lower()
    return None


def place_named(text: str, places: tuple[Place, ...]) -> Place | None:
    scored = [(key_score(text, p.keys), -i, p) for i, p in enumerate(places)]
    best = max(scored, default=None, key=lambda entry: entry[:2])
    return best[2] if best and best[0] else None


def fact_of_kind(
    secret: Secret, question: str, kinds: dict[str, tuple[tuple[str, ...], str, bool]]
) -> str | None:
    """For "Is it made of paper?" about a ball: "It is not made of paper." with the fact
    that names its own material ("It is made of plastic or rubber."); the fact itself
    when it names the one asked (of the facts naming it, the closest to the question).
    None when the question names no word of a kind, or the object's facts say nothing
    of that kind."""
    if _THAN.search(question):
        return None  # "Is it bigger than a car?" is a comparison, not about cars
    asked = {word.lower() for word in words_of(question)}

    def names(fact: str, words: set[str]) -> set[str]:
        return words & {w.lower() for w in words_of(fact)}

    for words, no, closed in kinds.values():
        kind = set(words)
        named = asked & kind
        # "It is smaller than a car." says nothing of what it is for in a car.
        facts = [f for f in secret.facts if not _THAN.search(f)]
        known = [f for f in facts if names(f, kind) and not _NOT.search(f)]
        if named and (naming := [f for f in facts if names(f, named)]):
            # The fact about the word asked, yes or no, closest to the question: "Do you
            # keep it in a box with buttons?" is not "Does it have buttons?"
            told = closest_fact(question, naming)
            if told and _NOT.search(told) and not closed and known:
                return join(told, known[0])  # "It is not made of metal. It is made of…"
            return told
        if named and closed:
            # "Does it have legs?": no fact, no legs.
            return fill(no, {"word": sorted(named)[0]})
        if not named or not known:
            continue
        return join(fill(no, {"word": sorted(named)[0]}), known[0])
    return None


_NOT = re.compile(r"\b(not|no|never)\b", re.I)
_THAN = re.compile(r"\bthan\b", re.I)
# Two things to choose from: "the original or is a copy enough", "on the phone or on paper".
_EITHER = re.compile(
    r"^\W*(?:\w+\W+){0,3}?(?:do you need|do you want|do i need|do i have to|should i|must i|"
    r"can i|can we|could i|shall i|is it better|would you prefer|do you prefer)\b"
    # not "is there some club or after-school activity": one of a kind, not a choice
    r"(?!.*\b(?:some|any)\s+\w+(?:\s+\w+)?\s+or\b).*\bor\b",
    re.I,
)
_HINT_WORDS = re.compile(r"\b(?:food|eat|fruit|toy|furniture|sit|music|rain|kitchen|sport)\b")
# "Okay, is it a pencil case?": a guess of a thing, one or two words, and nothing more.
_GUESS_SHAPED = re.compile(r"^\W*(?:\w+\W+){0,2}?is it (a|an|the) ([a-z]+(?: [a-z]+)?)\W*$", re.I)
# A guess said as a thing alone: "a balloon", "Then a receipt from the shop?"
_BARE_GUESS = re.compile(
    r"^\W*(?:(?:then|or|maybe|so|ok|okay|hmm|erm|um|no)\W+)*(a|an|the) (\w+(?: \w+)?)"
    r"(?: from [\w ]+)?\W*$",
    re.I,
)
# "…no wait, a swing", "…i mean the kettle": the student's guess, corrected.
_MOVED_ON = re.compile(
    r"\b(?:no,? wait|wait|i mean|sorry|actually|or maybe|maybe)\W+(a|an|the) (\w+)", re.I
)
_HOW_MUCH = re.compile(r"\s+(?:very much|so much|a lot|a little|too much|very very much)\W*$", re.I)
# A help desk's answer, out of place in an improv scene.
_DESK_ANSWER = re.compile(
    r"\bover there, on the left\b|\blet me check\b|\bfill in this form\b", re.I
)
# The guessing game: the last yes-or-no question in a turn, and words that say nothing.
_GUESS_QUESTION = re.compile(
    r"\b(?:is|are|does|do|can|could|has|have|would) (?:it|you)\b[^?]*", re.I
)
_FILLERS = re.compile(r"\b(?:erm|er|hmm|um|umm|uh|ehm|mm)\b\W*", re.I)
# "Is it always…", "is it yours": no thing guessed.
_NOT_PLURAL_THINGS = frozenset(
    ["always", "yours", "ours", "theirs", "hers", "sometimes", "less", "useless", "endless"]
)
# What starts a student's story line but is not the story: "okay i start", "Hmm... let me
# think.", "so", "and then".
_STORY_FILLER = re.compile(
    r"^\W*(?:(?:ok|okay|so|and|then|erm|hmm|um|well|right|yes|yeah|wait|let me think|"
    r"i(?:'ll)? start|let'?s (?:write|make|do) (?:a )?story(?: about)?)\b\W*)+",
    re.I,
)
# A guess, then the student thinking aloud: "is it a thermometer i feel like it has to be".
_AFTER_GUESS = re.compile(
    r"\bis it (?:a|an|the) \w+(?=\s+(?:i feel|i think|i bet|i'm sure|i am sure|because|maybe)\b)",
    re.I,
)
# A student telling what happened: the box asks about it rather than change the subject.
# Back from an aside in the same turn: "… Sorry. Please go on.", "… Ah ok. Is it…?"
_BACK_FILLER = re.compile(
    r"^\W*(?:(?:sorry about that|sorry|ok|okay|ah|oh|right|anyway|please go on|go on)"
    r"\b\W*)*",
    re.I,
)
# The asking words before a choice: "does she (open it) or (wait)?"
_ASKED_WHO = re.compile(
    r"^\W*(?:does|do|did|is|are|should|will|would|can) (?:she|he|they|it|we|i|you)\s+", re.I
)
# "How does it work here?": a question about something the turn said before it.
_REFERS_BACK = re.compile(r"\b(it|that|this|they|them)\b", re.I)
_OFFERED = re.compile(
    r"^\W*(?:\w+\W+){0,3}?(?:would you like|do you want|can i get you|can i offer you)\b", re.I
)
_TELLING = re.compile(
    r"\b(was|were|went|had|did|got|saw|said|told|came|left|lost|found|\w{3,}ed|yesterday|"
    r"sent|bought|paid|gave|took|made|met|ate|wrote|broke|forgot|spent|sold|kept|heard|won|"
    r"last (?:week|night|weekend|month|year|summer))\b",
    re.I,
)
# "not too big", "no onions", "isn't cold": the negation and the two words after it.
_NEGATED = re.compile(r"\b(?:not|no|never|\w+n't)(?:\s+\w+){1,2}", re.I)


def own_words(
    text: str,
    most: int = 6,
    swaps: tuple[tuple[str, str], ...] = (),
    never: tuple[re.Pattern[str], ...] = (),
    cut: re.Pattern[str] | None = None,
) -> str:
    """The student's words up to the end of their clause, as the box says them: "my
    sister in Spain because…" → "your sister in Spain"; "" when that is too long, or
    when it holds a learner's mistake the box must not say back (``never``)."""
    clause = re.split(r"[,.!?;]| because\b| but\b| and then\b| so\b", text, maxsplit=1)[0]
    if cut is not None:
        clause = cut.split(" " + clause, maxsplit=1)[0]
    words = clause.split()
    if not words or len(words) > most:
        return ""
    said = " ".join(words)
    if any(pattern.search(said) for pattern in never):
        return ""
    if swaps:
        return swap_words(said, swaps)
    return to_second_person_from_box(said).replace("your're", "you're")


def place_in_words(text: str) -> str:
    """Where a student asks a scene to be: "A scene at the library, please" → "at the
    library"; "in a bus" → "in a bus"; "Now the zoo!" and "Can we go to the zoo?" → "at
    the zoo". Empty when they name no place."""
    end = r"(?=[,.!?]| and\b| with\b| but\b| where\b| please\b| now\b|$)"
    found = re.search(rf"\b((?:at|in|on|inside) (?:the|a|an|my) [\w' ]+?){end}", text, re.I)
    if found is None:
        found = re.search(
            rf"\b(?:now|next|go to|going to|switch to|change to|move to) "
            rf"((?:the|a|an) [\w' ]+?){end}",
            text,
            re.I,
        )
        if found is None:
            # "Can we do a dentist's?", "How about a hot-air balloon repair shop?"
            found = re.search(
                rf"\b(?:can we do|let'?s do|how about|what about|we could do|let'?s try) "
                rf"((?:the|a|an) [\w' -]+?){end}",
                text,
                re.I,
            )
        if found is None:
            return ""
        where = f"at {found[1]}"
    else:
        where = found[1]
    if re.search(
        r"\b(time|morning|evening|afternoon|way|moment|minute|second|hour|while|bit)\b",
        where,
        re.I,
    ):
        return ""
    return where.lower().replace("my ", "your ", 1)


def _found_group(patterns: tuple[re.Pattern[str], ...], text: str, group: str = "twist") -> str:
    """The named ``group`` of the first pattern found in ``text`` ("" if none)."""
    for pattern in patterns:
        if (found := pattern.search(text)) and found[group]:
            return found[group].strip()
    return ""


def _asks_for_scene(text: str) -> bool:
    # ("stepping out of the scene for a second… okay, back in" asks for none.)
    text = re.sub(r"\b(?:out of|back (?:in|to)|in) the scene\b", " ", text, flags=re.I)
    return (
        re.search(r"\b(scene|let'?s do|can we do|one at|do one|another one|now a)\b", text, re.I)
        is not None
    )


def _ends_improv(heard: Understanding) -> bool:
    # "Let's end the scene. Can we do a spaceship next time?": it ends now.
    later = re.search(r"\b(?:next time|later|another time|another day)\b", heard.text, re.I)
    return heard.act == Act.GOODBYE and (later is not None or not _asks_for_scene(heard.text))


_TO_YOU = (
    (r"\bI'm\b|\bI am\b", "you are"),
    (r"\bI've\b|\bI have\b", "you have"),
    (r"\bmy\b", "your"),
    (r"\bI\b", "you"),
    (r"\bme\b", "you"),
    (r"\bam\b", "are"),
)


def swap_words(text: str, swaps: tuple[tuple[str, str], ...]) -> str:
    """``text`` with each word or phrase of ``swaps`` (longest first) put the other way
    round, in one pass: "my sister and I" → "your sister and you"."""
    if not swaps:
        return text
    table = dict(swaps)
    pattern = "|".join(re.escape(key).replace(r"\ ", r"\s+") for key, _ in swaps)

    def swap(found: re.Match[str]) -> str:
        return table.get(re.sub(r"\s+", " ", found[0].lower()), found[0])

    return re.sub(rf"(?<![\w'])(?:{pattern})(?![\w'])", swap, text, flags=re.I)


def to_second_person_from_box(text: str) -> str:
    """What the student asked about, as the box says it: "watch my films" → "watch your films"."""
    return re.sub(r"\bmy\b", "your", re.sub(r"\bI\b", "you", text))


def to_second_person(text: str) -> str:
    for pattern, replacement in _TO_YOU:
        text = re.sub(pattern, replacement, text, flags=re.I)
    return text


def student_twist(text: str, swaps: tuple[tuple[str, str], ...] = ()) -> str:
    """The student's own twist for a scene: "…, and I have missed my train" → "you have
    missed your train"; "Again, but this time I'm very angry" → "you are very angry"."""
    patterns = (
        r"\bthis time,? (.+?)[.!?]*$",
        r"\b(?:and|but) (I(?:'m| am| have|'ve)? .+?)[.!?]*$",
        # "…you are the satnav in my car, but you are very confused": the box's own trait
        r"\bbut (you(?:'re| are) .+?)[.!?]*$",
        r"\bbut now,? (.+?)[.!?]*$",
        # "…, but the dentist is scared of teeth?", "…, where the owner is terrified of…"
        r"\b(?:but|where) ((?:the|a|an) [\w' ]+? (?:is|are|has|hates|loves|can'?t|cannot|"
        r"doesn'?t|never) [^,.!?]+?)(?:,| and | who |[.!?]|$)",
        r"\b(?:and|but) ((?:it|there)(?:'s| is| are) .+?)[.!?]*$",
        # "we're neighbours and your tree has been dropping leaves all over my garden"
        r"\b(?:and|but) ((?:your|my|our|his|her) [\w ]+? (?:has|have|is|are|was|were|keeps?|"
        r"won'?t|can'?t|doesn'?t) [^.!?]+?)[.!?]*$",
        # "…a cooking show where everything goes wrong"
        r"\bwhere ((?:everything|everyone|everybody|nothing|nobody|all the \w+) [^,.!?]+?)"
        r"(?:,|[.!?]|$)",
        # "A scene at a bus stop? It is raining."
        r"(?:^|[.!?]\s+)(it(?:'s| is) (?:raining|snowing|very \w+|night|dark|late|foggy)[^.!?]*)",
        # "A scene in a lift? Two people are stuck between floors."
        r"(?:^|[.!?]\s+|\band\s+)((?:two|three|the|we|both|some|all|our) [\w ]*?"
        r"(?:are|is|get|gets|got) (?:stuck|lost|trapped|locked|late|stop|stopped)\b[^.!?]*)",
    )
    for pattern in patterns:
        if found := re.search(pattern, text.strip(), re.I):
            twist = found[1].strip()
            if re.match(r"^(in|at|on) ", twist, re.I):
                return ""  # "but in a school": a place, not a twist
            if not re.search(r"\b(the patient|my name)\b", twist, re.I):
                # "Two people are stuck" said inside the box's sentence: "But two people…"
                if not re.match(r"^I\b", twist):
                    twist = twist[:1].lower() + twist[1:]
                return swap_words(twist, swaps) if swaps else to_second_person(twist)
    return ""


def student_role(text: str) -> str:
    """The role the student takes: "I'm the patient" → "the patient"."""
    found = re.search(
        r"\bI(?:'m| am|'ll be| will be| want to be|'d like to be| would like to be| were|"
        r"'ll play| will play| play) (the|a|an|your|my) "
        r"(\w+(?: (?!and\b|but\b|with\b|in\b|at\b|who\b|i\b|you\b|we\b)\w+)?)\b",
        text,
        re.I,  # "i am the ski instructor", as speech recognition writes it
    )
    if not found:
        # "I am customer who is very nervous": a learner leaves the article out.
        bare = re.search(
            rf"\bI(?:'m| am|'ll be| will be| want to be) ({_ROLE_NOUN})"
            r"(?= now\b| and\b| who\b| with\b|[,.!?]|$)",
            text,
            re.I,
        )
        return f"a {bare[1].lower()}" if bare else ""
    # "I am your new owner": the student's words, as the box says them ("your new owner").
    article = {"my": "your", "your": "my"}.get(found[1].lower(), found[1].lower())
    return f"{article} {found[2]}"


_NUMBERS = {
    "times": "*",
    "x": "*",
    "*": "*",
    "multiplied by": "*",
    "plus": "+",
    "+": "+",
    "minus": "-",
    "-": "-",
    "divided by": "/",
}


def _do_sum(text: str) -> dict[str, str] | None:
    found = re.search(
        r"\b(\d+|[a-z]+) (times|plus|minus|multiplied by|divided by|x|\+|-|\*) (\d+|[a-z]+)\b",
        text,
        re.I,
    )
    if not found:
        return None
    a, b = parse_number(found[1]), parse_number(found[3])
    op = _NUMBERS.get(found[2].lower())
    if a is None or b is None or op is None or (op == "/" and b == 0):
        return None
    result = {"*": a * b, "+": a + b, "-": a - b, "/": a / b}[op]
    shown = str(int(result)) if float(result).is_integer() else f"{result:.2f}"
    return {"a": found[1], "op": found[2].lower(), "b": found[3], "result": shown}


def planned(activity: str) -> bool:
    return activity in PLANNED_ACTIVITIES
