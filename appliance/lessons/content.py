"""The turn planner's content for one language, read from its data folder and checked.

Everything the planner says comes from here: personas, topic and question banks,
role-play characters, interview questions, story beats, improv places, and the
classroom moves. The files and their fields are described in ``docs/lessons.md``;
:func:`load_content` reads them once and raises :class:`LanguageDataError`
(naming the file and the line) for anything missing or of the wrong kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from appliance.core.config import CEFR_LEVELS
from appliance.lessons.activities import Secret, builtin_activities
from appliance.lessons.language import (
    LanguageDataError,
    TomlFile,
    read_toml,
    tables_of,
    text_of,
    texts_of,
)

PLANNER_FILES = (
    "classroom.toml",
    "conversation.toml",
    "roleplay.toml",
    "interview.toml",
    "story.toml",
    "improv.toml",
    "guess.toml",
)


@dataclass(frozen=True)
class Answer:
    """A persona fact: the answer to questions that name its ``keys``."""

    keys: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Echo:
    """A reaction to a student's line that names one of ``keys``."""

    keys: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Question:
    """A follow-up move: asked at most once, from ``level`` up, unless the student has
    already said one of ``skip_if``."""

    text: str
    level: str = "A1"
    skip_if: tuple[str, ...] = ()
    easier: str = ""
    simple: str = ""  # asked instead at A1 and A2
    react: tuple[str, ...] = ()  # reactions to the student's answer to this question
    # Asked only right after the student spoke on the topic ("Who do you play with?"
    # presumes they play): never as the first question on it.
    follow_up: bool = False
    # A scene step that makes sense only once the student has asked for something.
    after_order: bool = False
    # Not asked right after the student asked a question ("Do you have a question for me?").
    not_after_question: bool = False
    # The answer's words that make ``react`` fit ("good at" for "Great strengths!").
    react_if: tuple[str, ...] = ()
    # A scene step passed over once the student has told what they need in their own
    # words ("How can I help you?" after "I think I left my backpack on the train").
    skip_if_told: bool = False
    # A scene step that makes sense only before the student has asked for anything.
    before_order: bool = False

    def for_level(self, level: str) -> str:
        return self.simple if self.simple and level in ("A1", "A2") else self.text


@dataclass(frozen=True)
class Topic:
    name: str
    keys: tuple[str, ...]
    reactions: tuple[str, ...]
    echo: tuple[Echo, ...]
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Persona:
    """Who the box is in an activity: what it says of itself, how it greets and leaves."""

    name: str
    answers: tuple[Answer, ...]
    greet: tuple[str, ...] = ()
    greet_no_name: tuple[str, ...] = ()
    goodbye: tuple[str, ...] = ()
    goodbye_no_name: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    name: str
    ask: str = ""
    # Not asked when the student's line has one of these ("at three o'clock").
    skip_if: tuple[str, ...] = ()


@dataclass(frozen=True)
class Character:
    """A role-play character (also a partner in an improv scene)."""

    id: str
    match: tuple[str, ...]
    persona: Persona
    steps: tuple[Question, ...]
    items: tuple[Item, ...]
    item_reactions: tuple[str, ...]
    echo: tuple[Echo, ...]
    # Not this character when the teacher's words have one of these ("a cinema ticket
    # seller" is not the station's).
    not_with: tuple[str, ...] = ()
    # Words the teacher's setting must have, when it says one at all: "a ticket seller" at
    # "the ticket kiosk for boat trips on a lake" is no station's (it sold train tickets).
    only_with: tuple[str, ...] = ()
    # ``{price}`` in an answer: the price of the latest thing the student named that one of
    # these has keys for (``prices``), else ``price``; ``{currency}`` in them is the
    # currency the student uses (``[words] currencies`` in classroom.toml).
    prices: tuple[Answer, ...] = ()
    price: str = ""


@dataclass(frozen=True)
class Interview:
    persona: Persona
    steps: tuple[Question, ...]
    more: tuple[str, ...]
    thanks: tuple[str, ...] = ()  # a step's reaction when the answer does not fit its own
    # Reactions by keyword to what the applicant told ("Once a customer was angry, and I
    # stayed calm…"), when the answer does not fit the question just asked.
    echo: tuple[Echo, ...] = ()


@dataclass(frozen=True)
class Beat:
    """A new event in the story, and the question that hands the story back after it."""

    text: str
    ask: str = ""
    keys: tuple[str, ...] = ()  # a keyed beat's: words of the student's line it follows


@dataclass(frozen=True)
class Story:
    default_hero: str
    begin: str
    ending: tuple[str, ...]
    goodbye: tuple[str, ...]
    pause: tuple[str, ...]
    echo: tuple[Echo, ...]
    reactions: tuple[str, ...]
    ideas: tuple[str, ...]
    beats: dict[str, tuple[Beat, ...]]  # "simple" (A1, A2) and "advanced"
    prompts: dict[str, tuple[str, ...]]
    begin_hero: str = ""  # who the box's own beginning is about
    # A new thing in the student's sentence, and the box's reaction and beats about it.
    new_thing: tuple[re.Pattern[str], ...] = ()
    not_things: frozenset[str] = frozenset()
    thing_reactions: tuple[str, ...] = ()
    thing_beats: dict[str, tuple[Beat, ...]] = field(default_factory=dict)
    # A new thing that is a person ("a policeman": its last word is one of ``people``):
    # beats about a person, not a thing ("… took the policeman home").
    person_beats: dict[str, tuple[Beat, ...]] = field(default_factory=dict)
    people: frozenset[str] = frozenset()
    # ``[[keyed_beat]]``: a beat that follows from the student's own line ("the robot is
    # very sad because he has no friends" → a friendly voice), before the stock ones.
    keyed_beats: tuple[Beat, ...] = ()
    answers: tuple[Answer, ...] = ()  # questions to the box about the story
    handed_over: tuple[re.Pattern[str], ...] = ()  # "You tell me."
    handed_reactions: tuple[str, ...] = ()
    hero_only: tuple[re.Pattern[str], ...] = ()  # "A cat. A big orange cat."
    subject_thing: tuple[re.Pattern[str], ...] = ()  # "The fish is angry!"
    # ``[[box_answer]]`` in story.toml: questions the box decides in a story ("You decide:
    # where is the dog?"), before the ones every activity shares.
    box_answers: tuple[BoxAnswer, ...] = ()
    twist_ending: tuple[str, ...] = ()  # said when an ending is asked for with ``twist_asks``
    twist_asks: tuple[re.Pattern[str], ...] = ()
    sad_ending: tuple[str, ...] = ()  # said when an ending is asked for with ``sad_asks``
    sad_asks: tuple[re.Pattern[str], ...] = ()
    # "Let's end it with …": the student's own ending said back ({said}).
    ending_with: tuple[str, ...] = ()
    ending_theirs: tuple[str, ...] = ()  # the same, when their words can't be said back
    # An ending with a character's own words in it ("…and the old woman says, …"): the
    # box would say them wrong, so it says ``ending_theirs``.
    not_said_back: tuple[re.Pattern[str], ...] = ()
    # Mid-story, a twist asked for (``twist_asks``) or a lighter, funnier turn
    # (``funny_asks``): one of these beats, each once, after one of these reactions.
    twist_beats: tuple[str, ...] = ()
    twist_reactions: tuple[str, ...] = ()
    funny_asks: tuple[re.Pattern[str], ...] = ()
    funny_beats: tuple[str, ...] = ()
    funny_reactions: tuple[str, ...] = ()
    # "Can we read the whole story from the beginning?": the story so far, told back
    # (``retell``, with {story}).
    retell_asks: tuple[re.Pattern[str], ...] = ()
    retell: tuple[str, ...] = ()
    # "Okay, I start.": the student begins; the box waits for their first line
    # (``you_start``, or ``you_start_about`` with {premise} from "a story about …").
    starts_asks: tuple[re.Pattern[str], ...] = ()
    you_start: tuple[str, ...] = ()
    you_start_about: tuple[str, ...] = ()
    # "I don't like that part, can we change it? Maybe she meets someone who helps her.":
    # the box takes the change (``changed``, with {idea}; ``changed_no_idea``).
    change_asks: tuple[re.Pattern[str], ...] = ()
    changed: tuple[str, ...] = ()
    changed_no_idea: tuple[str, ...] = ()
    # "Can we give the story a title? I say 'The Girl Who Found the Sun'.": ``titled``
    # with {title}, or ``title_idea`` (with {hero}) when they give none.
    title_asks: tuple[re.Pattern[str], ...] = ()
    titled: tuple[str, ...] = ()
    title_idea: tuple[str, ...] = ()


@dataclass(frozen=True)
class Place:
    keys: tuple[str, ...]
    place: str
    character: str
    student_role: str
    box_role: str
    twists: tuple[str, ...]
    where: str = ""  # "in a bus": the place with its preposition ("" = "at " + place)


@dataclass(frozen=True)
class Worker:
    """Who works at a kind of place, for a scene at a place with no table of its own."""

    keys: tuple[str, ...]
    role: str
    student_role: str


@dataclass(frozen=True)
class Improv:
    scene: tuple[str, ...]
    scene_named: tuple[str, ...]
    again: tuple[str, ...]
    pick: tuple[str, ...]
    goodbye: tuple[str, ...]
    in_scene: tuple[str, ...]
    places: tuple[Place, ...]
    swap: tuple[str, ...] = ()
    echo: tuple[Echo, ...] = ()
    workers: tuple[Worker, ...] = ()
    worker: str = "the person who works there"  # at a place no [[worker]] names
    visitor: str = "a visitor"
    twists: tuple[str, ...] = ()  # for a place with none of its own
    partner: tuple[str, ...] = ()  # the partner's line instead of a bare "OK."
    partner_negative: tuple[str, ...] = ()
    who_am_i: tuple[str, ...] = ()  # "Who are you in this scene?"
    who_asks: tuple[re.Pattern[str], ...] = ()
    # ``[[box_answer]]`` in improv.toml: a question to the box's character answered in
    # play, in any role ("How old are you?", "Are you real or stone?").
    box_answers: tuple[BoxAnswer, ...] = ()
    # A twist the student adds in the scene ("Now a surprise: the patient is a vampire!"),
    # in the group "twist", and the partner's lines for it ({twist}).
    new_twist: tuple[re.Pattern[str], ...] = ()
    twist_reactions: tuple[str, ...] = ()
    # "Can we swap roles?": the roles change at the same place.
    swap_asks: tuple[re.Pattern[str], ...] = ()
    # "Can you add a twist?": the partner gives one of the scene's twists ({twist}).
    twist_asks: tuple[re.Pattern[str], ...] = ()
    twist_given: tuple[str, ...] = ()
    # "Quick, improvise something, what do we do?": the partner has an idea.
    idea_asks: tuple[re.Pattern[str], ...] = ()
    ideas: tuple[str, ...] = ()
    # "Cut!": the scene ends; asked what worked, the partner says (``review``).
    end_asks: tuple[re.Pattern[str], ...] = ()
    review: tuple[str, ...] = ()
    review_asks: tuple[re.Pattern[str], ...] = ()  # "Which bit worked best?"
    # "What if…?", "Maybe we could…": the partner takes the idea up (``accept``).
    idea_offers: tuple[re.Pattern[str], ...] = ()
    accept: tuple[str, ...] = ()
    twist_end: tuple[str, ...] = ()  # the scene ends with a twist asked for ({twist})
    retracts: tuple[re.Pattern[str], ...] = ()  # "no wait, that's a terrible idea"
    retracted: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()  # a question in the scene no answer fits
    # The same, by the question's first word ("where", "why"…): an answer in play, never
    # a help desk's "It's over there, on the left."
    wh_answers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # A scene the student gives roles but no place ("You are a robot and I am your owner").
    scene_roles: tuple[str, ...] = ()
    scene_roles_twist: tuple[str, ...] = ()  # the same, with the student's own twist
    # "We're neighbours and…": a scene of two of the same ({both}), with the twist or not.
    scene_together: tuple[str, ...] = ()
    scene_together_plain: tuple[str, ...] = ()
    # The student names the place and both roles, and no twist: the scene as they gave it
    # ("you are a statue in the city centre and I am a tourist"), no stock twist added.
    scene_plain: tuple[str, ...] = ()
    # The scene ends the way the student asks ("an ending where we become friends").
    ending_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class Opening:
    """Answers chosen by how a question starts (``start``: words or ``|``-alternatives)."""

    start: re.Pattern[str]
    answers: tuple[str, ...]
    scene: bool = False  # only in a scene (a character's "we have"), not from Parlo
    # Fits only when the question also has this ("What time … open?"); its named groups
    # are fields of the answer ("How noisy is it?" → {adj} "noisy").
    contains: re.Pattern[str] | None = None
    # ``contains`` is looked for in the whole turn, not only the question ("When would it
    # be ready? I need it on Thursday.").
    in_turn: bool = False

    def fits(self, question: str, turn: str = "") -> tuple[re.Match[str], dict[str, str]] | None:
        """The start's match and the answer's fields, when this opening fits ``question``
        (``turn``: the whole turn the question is in)."""
        found = self.start.search(question)
        if found is None:
            return None
        if self.contains is None:
            return found, {}
        extra = self.contains.search(turn if self.in_turn and turn else question)
        if extra is None:
            return None
        return found, {key: value.lower() for key, value in extra.groupdict().items() if value}


@dataclass(frozen=True)
class BoxAnswer:
    """``[[box_answer]]``: a question with the same answer in every activity ("Is my
    English good?"), found by any of its patterns; it comes before a persona's facts."""

    patterns: tuple[re.Pattern[str], ...]
    answers: tuple[str, ...]
    # The answer hands the turn to the student ("Try it!"): no question of the box's after it.
    ends_turn: bool = False


@dataclass(frozen=True)
class Frame:
    """A reaction that takes the student's own words after ``pattern`` ("I want to …")."""

    pattern: re.Pattern[str]
    reactions: tuple[str, ...]
    scene: bool = False  # only from a character in a scene
    # Follow-up questions about the same thing ("Tell me about {own}."), asked instead of
    # a new topic's question.
    asks: tuple[str, ...] = ()
    # The feelings of the line it fits ("positive", "negative", "neutral"); () = any.
    feeling: tuple[str, ...] = ()
    not_in_scene: bool = False  # never from a character in a scene


@dataclass(frozen=True)
class Classroom:
    """How a turn is read (``acts``, ``off_task``) and the shared classroom lines."""

    acts: dict[str, tuple[re.Pattern[str], ...]]
    off_task: dict[str, tuple[re.Pattern[str], ...]]
    lines: dict[str, tuple[str, ...]]
    reactions: dict[str, tuple[str, ...]]
    positive_words: tuple[str, ...]
    negative_words: tuple[str, ...]
    stop_words: frozenset[str]
    yes_no: tuple[Opening, ...] = ()
    in_scene: tuple[Opening, ...] = ()
    frames: tuple[Frame, ...] = ()
    # The student's words as the box says them (``[swap] to_you``: "my" → "your") and a
    # question to the box as the box answers it (``to_me``: "your job" → "my job").
    to_you: tuple[tuple[str, str], ...] = ()
    to_me: tuple[tuple[str, str], ...] = ()
    # ``[reflect] never``: words of a learner's that the box does not say back ("a apple").
    never_echo: tuple[re.Pattern[str], ...] = ()
    # ``[words] not_an_answer``: words a question shares with any line ("like", "day"),
    # which do not show that the student has answered it already.
    not_an_answer: frozenset[str] = frozenset()
    # ``[words] not_names``: capitalised words after "Hi, I'm" that are not a name.
    not_names: frozenset[str] = frozenset()
    # ``[words] small_talk``: greeting words that tell nothing of what the student needs.
    small_talk: frozenset[str] = frozenset()
    # ``[words] pronouns``: a line that starts with one goes on with the last topic.
    pronouns: frozenset[str] = frozenset()
    # ``[words] currencies``: the money words a student may use ("ten pounds", "5 euro"),
    # as the box says them; the first is the box's own when the student names none.
    currencies: tuple[str, ...] = ()
    # ``[words] currency_signs``: "£" → "pounds".
    currency_signs: tuple[tuple[str, str], ...] = ()
    # ``[words] dont_know_filler``: words beside "I don't know" that still leave it an "I
    # don't know" ("… what happen next. Help me please").
    dont_know_filler: frozenset[str] = frozenset({"know", "sure", "idea", "maybe"})
    # ``[words] proper``: words the box always says capitalised ("Thursday"), when it says
    # the student's words back in an answer.
    proper: frozenset[str] = frozenset()
    # ``[[fact]]``: questions of fact any persona answers truly ("the capital of Australia").
    facts: tuple[Answer, ...] = ()
    box_answers: tuple[BoxAnswer, ...] = ()
    # Words of a reaction that cares ("Good luck!", "I hope…"): a topic's reaction fits a
    # line that is negative only with one of them, or a negative word, in it.
    caring_words: tuple[str, ...] = ()
    # ``[glossary]``: a word a student asks about ("What does platform mean?"), explained
    # in easy words. The ``define`` act's patterns find the word (their group ``word``).
    glossary: dict[str, str] = field(default_factory=dict)
    # ``[reflect] article``: how a thing the student named starts ("a", "the"), and
    # ``possessive``, said instead when the box asks about it ("a new phone" → "your
    # new phone").
    article: re.Pattern[str] | None = None
    possessive_word: str = ""
    definite_word: str = ""
    # ``[reflect] cut``: words where the student's own words are cut ("who", "since").
    cut: re.Pattern[str] | None = None
    # ``[reflect] determiners``: words a whole noun phrase starts with ("a", "my", "two").
    determiners: frozenset[str] = frozenset()
    # ``[reflect] thing_ends``: where the thing itself ends ("your backpack on the train").
    thing_ends: re.Pattern[str] | None = None

    def thing(self, said: str) -> str:
        return self.thing_ends.split(" " + said, maxsplit=1)[0].strip() if self.thing_ends else said

    def definite(self, said: str) -> str:
        """ "a concert" → "the concert"; "three puppies" → "the three puppies"."""
        if self.article is None or not self.definite_word:
            return said
        if not self.article.match(said):
            return f"{self.definite_word} {said}"
        return self.article.sub(self.definite_word + " ", said, count=1)

    def possessive(self, said: str) -> str:
        if self.article is None or not self.possessive_word:
            return said
        return self.article.sub(self.possessive_word + " ", said, count=1)


@dataclass(frozen=True)
class Guess:
    objects: tuple[Secret, ...]
    simple_objects: tuple[Secret, ...]
    tails: tuple[str, ...]  # after an answer the facts cannot give
    tails_yes: tuple[str, ...]
    tails_no: tuple[str, ...]
    lines: dict[str, tuple[str, ...]]
    # Words of a kind (colour, material, parts): each kind's words, how its "no" is said,
    # and whether what no fact names is a no (parts: "Does it have legs?").
    kinds: dict[str, tuple[tuple[str, ...], str, bool]] = field(default_factory=dict)
    asks_ready: tuple[re.Pattern[str], ...] = ()  # "Are you ready?", "Have you got one?"
    # "Let's play again": in a game, the object is revealed and a new one chosen.
    play_again: tuple[re.Pattern[str], ...] = ()
    # "Again!", "One more time!" right after a reveal: another game (mid-game, a repeat).
    again_after_reveal: tuple[re.Pattern[str], ...] = ()
    # "Now I think of a thing and you ask me": the box keeps its role (``lines.swap``).
    swap_asks: tuple[re.Pattern[str], ...] = ()
    # "I win!" with no right guess: not yet (``lines.not_won``).
    win_claims: tuple[re.Pattern[str], ...] = ()
    # "Can you give me a hint?": the object's next hint (``lines.hint``).
    hint_asks: tuple[re.Pattern[str], ...] = ()
    # "it make noise", "you can eat it": a question said like telling, answered as one.
    said_as_question: tuple[re.Pattern[str], ...] = ()
    # ``asked_as``: a question's words said as the facts say them ("wooden" → "made of
    # wood"; "than my hand" → "than a phone"), longest first.
    asked_as: tuple[tuple[str, str], ...] = ()
    # Optional lines: "swap", "not_won", "hint", "no_more_hints".
    optional_lines: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class LessonContent:
    """All the planner's content for one language."""

    language: str
    classroom: Classroom
    conversation: Persona
    topics: tuple[Topic, ...]
    characters: tuple[Character, ...]
    interview: Interview
    story: Story
    improv: Improv
    guess: Guess
    opening: dict[str, str] = field(default_factory=dict)

    def character_for(self, character: str, setting: str = "") -> Character:
        """The role-play character the teacher's words describe; the generic one if none.

        Only the character's own words count: "a vet" at "a small animal clinic" is not
        the doctor, and a lost-property officer at a station does not sell tickets.
        ``setting`` is the scene's, for the prompt when the model writes the reply."""
        text, scene = character.lower(), f"{character} {setting}".lower()
        for candidate in self.characters:
            if any(re.search(rf"\b{re.escape(word)}", scene) for word in candidate.not_with):
                continue
            if (
                setting.strip()
                and candidate.only_with
                and not any(re.search(rf"\b{re.escape(w)}", scene) for w in candidate.only_with)
            ):
                continue
            if any(re.search(rf"\b{re.escape(word)}", text) for word in candidate.match):
                return candidate
        return self.character("generic")

    def character(self, id: str) -> Character:
        return next(c for c in self.characters if c.id == id)


# --- reading ---

ACT_KEYS = (
    "repeat",
    "give_up",
    "goodbye",
    "dont_know",
    "yes",
    "no",
    "question",
    "request",
    "opinion",
    "asks_box_to",
    "question_join",
    "choice",
    "define",
    "easier",
)
# Acts a language may leave out, each with the line the box says for it: without the
# patterns the act is never read, so a new language pack works before it has them.
OPTIONAL_ACTS = {
    "aside": "aside",  # "Wait, my phone…": said to someone else
    "teacher_aside": "teacher_aside",  # "Teacher, can I open the window?"
    "complaint": "sorry_told",  # "I already told you!"
    "change_topic": "new_topic",  # "Can we talk about something else?"
    "opinion_why": "opinion_why",  # "Why do you think so many drivers leave?"
    "opinion_yes": "opinion_yes",  # "Do you think people should…?": a yes, with a but
    "open_question": "more_please",  # the box's own question that a "Yes." does not answer
    "asks_time": "take_time",  # "Can I think for a moment?"
    "another_question": "encourage",  # "Can you ask another question?": as "I don't know"
    "asks_taste": "ask_back",  # "What's your favourite season?": answered, then asked back
}
# Patterns a language may leave out, with no line of their own: a sentence that starts
# like a question, and where a question starts inside an unmarked sentence (speech
# recognition may leave out the question mark).
OPTIONAL_PATTERNS = (
    "question_start", "question_inside",
    # Telling that looks like asking: a clause before the main one ("When teachers cannot
    # connect, they call me."), a word found aloud ("how you say... car game"), a topic
    # brought ("today we talk about weekend?"), a disagreement ("what do you mean it…").
    "telling_clause", "word_found", "topic_brought", "disagrees",
    # Asking that looks like telling: a question passed on (groups ``question``, or
    # ``who``, ``verb`` and ``rest`` said in a question's order), "and you" at the end, a
    # bare "and you?" after telling, a tag ("…is it").
    "passed_on", "ask_back_end", "ask_back", "tag",
    # A word asked about loosely ("what does it mean parallel parking", "wait what is it
    # puddle"): group ``word`` (up to three words), taken only if the glossary has it.
    "define_known",
    # The subject a student brings to talk about (group ``subject``).
    "subject_brought",
    # The box's own question for the student's name ("Can I have your name, please?").
    "name_asked",
    # A question that says nothing of its own ("What do you think?"), and the lead of
    # one said again ("Really? And …"): after a word is explained.
    "vague_question", "question_lead",
)  # fmt: skip
# Lines a language may leave out; the planner says a plainer one without them.
OPTIONAL_LINES = (
    "about_it", "opinion_ask_back", "opinion_both", "heard_you", "heard_worry", "greet_no_name",
    "unknown_in_scene", "either_in_scene", "back_to_question", "about_subject",
    "heard_told", "tell_more_good", "tell_more_bad", "name_given",
)  # fmt: skip
OFF_TASK_KEYS = ("homework", "link", "code", "joke", "sum")
CLASSROOM_LINES = (
    "repeat",
    "nothing_to_repeat",
    "encourage",
    "unknown",
    "opinion",
    "opinion_choice",
    "homework",
    "link",
    "code",
    "sum",
    "jokes",
    "greet",
    "no_definition",
    "origin",
    "age",
    "ask_back",
    "simpler",
    "tell_more",
)
REACTION_KINDS = (
    "positive",
    "negative",
    "neutral",
    "yes",
    "no",
    "in_scene",
    "in_scene_request",
    "in_scene_negative",
)
# What may come before the question itself: "Excuse me, are you the guide?"
COURTESY = (
    r"\W*(?:(?:excuse me|sorry|hello|hi|hey|so|and|ok|okay|well|hmm|um|umm|erm|er|uh|uhm|ehm|"
    r"mm|please|oh|anyway|actually|by the way|right|honestly|great|perfect|cool|thanks|"
    r"thank you|yes|yeah|alright)\W+)*"
)


def _patterns(file: TomlFile, table: dict[str, Any], key: str, where: str) -> tuple:
    compiled = []
    for pattern in texts_of(file, table, key, where):
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as error:
            raise file.error(f"{where}.{key}: bad pattern {pattern!r}: {error}", pattern) from None
    return tuple(compiled)


def _acts(
    file: TomlFile, acts: dict[str, Any], lines: dict[str, Any]
) -> dict[str, tuple[re.Pattern[str], ...]]:
    found = {key: _patterns(file, acts, key, "acts") for key in ACT_KEYS}
    for key in OPTIONAL_PATTERNS:
        found[key] = _optional_patterns(file, acts, key, "acts")
    for key, line in OPTIONAL_ACTS.items():
        found[key] = _optional_patterns(file, acts, key, "acts")
        if found[key] and line not in lines:
            raise file.error(f"acts.{key} needs the line lines.{line}, said for it", "acts", key)
    for pattern in found["subject_brought"]:
        if "subject" not in pattern.groupindex:
            raise file.error(
                f"acts.subject_brought: {pattern.pattern!r} needs a (?P<subject>…) group",
                "subject_brought",
            )
    for pattern in (*found["define"], *found["define_known"]):
        if "word" not in pattern.groupindex:
            raise file.error(
                f"acts.define: the pattern {pattern.pattern!r} needs a group (?P<word>...)",
                pattern.pattern,
            )
    return found


def _optional_patterns(
    file: TomlFile, table: dict[str, Any], key: str, where: str
) -> tuple[re.Pattern[str], ...]:
    return _patterns(file, table, key, where) if key in table else ()


def _box_answers(file: TomlFile) -> tuple[BoxAnswer, ...]:
    return tuple(
        BoxAnswer(
            _patterns(file, entry, "pattern", "box_answer"),
            texts_of(file, entry, "answer", "box_answer"),
            ends_turn=bool(entry.get("ends_turn", False)),
        )
        for entry in tables_of(file, file.data, "box_answer", "box_answer")
    )


def _glossary(file: TomlFile) -> dict[str, str]:
    """``[glossary]``: word → its explanation in easy words (the word in lower case)."""
    table = _section(file, "glossary")
    return {word.lower(): text_of(file, table, word, "glossary") for word in table}


def _more_glossary(glossary: dict[str, str], file: TomlFile) -> dict[str, str]:
    """``glossary.toml``'s ``[glossary]`` added to classroom.toml's: the long word list
    lives in a file of its own, and a word in both is an error (which one would be said?)."""
    more = _glossary(file)
    if twice := sorted(set(more) & set(glossary)):
        raise file.error(
            f"{', '.join(twice[:5])} already in classroom.toml's [glossary]", f"{twice[0]} ="
        )
    return {**glossary, **more}


def _section(file: TomlFile, key: str) -> dict[str, Any]:
    table = file.data.get(key)
    if not isinstance(table, dict):
        raise file.error(f"missing the [{key}] table", f"[{key}")
    return table


def _echoes(file: TomlFile, table: dict[str, Any], where: str) -> tuple[Echo, ...]:
    return tuple(
        Echo(texts_of(file, entry, "keys", where), text_of(file, entry, "text", where))
        for entry in tables_of(file, table, "echo", where)
    )


def _answers(file: TomlFile, table: dict[str, Any], key: str, where: str) -> tuple[Answer, ...]:
    return tuple(
        Answer(texts_of(file, entry, "keys", where), text_of(file, entry, "text", where))
        for entry in tables_of(file, table, key, where)
    )


def _questions(file: TomlFile, table: dict[str, Any], key: str, where: str) -> tuple:
    questions = []
    for entry in tables_of(file, table, key, where):
        text = text_of(file, entry, "text", where)
        level = entry.get("level", "A1")
        if level not in CEFR_LEVELS:
            raise file.error(f"{where}: level {level!r} is not one of {CEFR_LEVELS}", text)
        questions.append(
            Question(
                text=text,
                level=level,
                skip_if=texts_of(file, entry, "skip_if", text, required=False),
                easier=str(entry.get("easier", "")),
                simple=str(entry.get("simple", "")),
                react=texts_of(file, entry, "react", text, required=False),
                follow_up=bool(entry.get("follow_up", False)),
                after_order=bool(entry.get("after_order", False)),
                not_after_question=bool(entry.get("not_after_question", False)),
                react_if=texts_of(file, entry, "react_if", text, required=False),
                skip_if_told=bool(entry.get("skip_if_told", False)),
                before_order=bool(entry.get("before_order", False)),
            )
        )
    return tuple(questions)


def _persona(file: TomlFile, table: dict[str, Any], where: str, answers_key: str) -> Persona:
    return Persona(
        name=str(table.get("name", "")),
        answers=_answers(file, table, answers_key, where),
        greet=texts_of(file, table, "greet", where, required=False),
        greet_no_name=texts_of(file, table, "greet_no_name", where, required=False),
        goodbye=texts_of(file, table, "goodbye", where, required=False),
        goodbye_no_name=texts_of(file, table, "goodbye_no_name", where, required=False),
    )


def _openings(file: TomlFile, key: str) -> tuple[Opening, ...]:
    openings = []
    for entry in tables_of(file, file.data, key, key):
        start = text_of(file, entry, "start", key)
        words = "|".join(re.escape(part.strip()) for part in start.split("|"))
        contains = _patterns(file, entry, "contains", start) if "contains" in entry else ()
        openings.append(
            Opening(
                re.compile(rf"^{COURTESY}(?:{words})\b\s*(.*?)\W*$", re.IGNORECASE),
                texts_of(file, entry, "answer", start),
                scene=bool(entry.get("scene", False)),
                contains=contains[0] if contains else None,
                in_turn=bool(entry.get("in_turn", False)),
            )
        )
    return tuple(openings)


def _classroom(file: TomlFile) -> Classroom:
    acts, off_task = _section(file, "acts"), _section(file, "off_task")
    lines, reactions = _section(file, "lines"), _section(file, "reactions")
    words = _section(file, "words")
    return Classroom(
        acts=_acts(file, acts, lines),
        off_task={key: _patterns(file, off_task, key, "off_task") for key in OFF_TASK_KEYS},
        lines={
            **{key: texts_of(file, lines, key, "lines") for key in CLASSROOM_LINES},
            **{
                key: texts_of(file, lines, key, "lines")
                for key in (*OPTIONAL_ACTS.values(), *OPTIONAL_LINES)
                if key in lines
            },
        },
        box_answers=_box_answers(file),
        reactions={key: texts_of(file, reactions, key, "reactions") for key in REACTION_KINDS},
        positive_words=texts_of(file, reactions, "positive_words", "reactions"),
        negative_words=texts_of(file, reactions, "negative_words", "reactions"),
        caring_words=texts_of(file, reactions, "caring_words", "reactions", required=False),
        stop_words=frozenset(text_of(file, words, "stop", "words").split()),
        yes_no=_openings(file, "yes_no"),
        frames=tuple(
            Frame(
                _patterns(file, entry, "pattern", "frame")[0],
                texts_of(file, entry, "reactions", "frame"),
                scene=bool(entry.get("scene", False)),
                asks=texts_of(file, entry, "asks", "frame", required=False),
                feeling=_feelings(file, entry),
                not_in_scene=bool(entry.get("not_in_scene", False)),
            )
            for entry in tables_of(file, file.data, "frame", "frame")
        ),
        in_scene=_openings(file, "in_scene"),
        to_you=_swaps(file, "to_you"),
        facts=_answers(file, file.data, "fact", "fact"),
        glossary=_glossary(file),
        to_me=_swaps(file, "to_me"),
        never_echo=_patterns(file, _section(file, "reflect"), "never", "reflect"),
        article=_patterns(file, _section(file, "reflect"), "article", "reflect")[0],
        possessive_word=text_of(file, _section(file, "reflect"), "possessive", "reflect"),
        definite_word=text_of(file, _section(file, "reflect"), "definite", "reflect"),
        cut=_cut(file, "cut"),
        thing_ends=_cut(file, "thing_ends"),
        determiners=frozenset(
            texts_of(file, _section(file, "reflect"), "determiners", "reflect", required=False)
        ),
        pronouns=frozenset(str(words.get("pronouns", "")).split()),
        small_talk=frozenset(str(words.get("small_talk", "")).split()),
        not_names=frozenset(str(words.get("not_names", "")).lower().split()),
        not_an_answer=frozenset(str(words.get("not_an_answer", "")).split()),
        currencies=tuple(str(words.get("currencies", "")).split()),
        currency_signs=tuple(_signs(file, words)),
        proper=frozenset(str(words.get("proper", "")).split()),
        dont_know_filler=frozenset(
            str(words.get("dont_know_filler", "know sure idea maybe")).split()
        ),
    )


def _signs(file: TomlFile, words: dict[str, Any]) -> list[tuple[str, str]]:
    table = words.get("currency_signs", {})
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    ):
        raise file.error("words.currency_signs: expected a table of signs", "currency_signs")
    return list(table.items())


FEELINGS = ("positive", "negative", "neutral")


def _cut(file: TomlFile, key: str) -> re.Pattern[str] | None:
    words = texts_of(file, _section(file, "reflect"), key, "reflect", required=False)
    if not words:
        return None
    body = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
    return re.compile(rf"\s(?:{body})\b", re.IGNORECASE)


def _feelings(file: TomlFile, entry: dict[str, Any]) -> tuple[str, ...]:
    feelings = texts_of(file, entry, "feeling", "frame", required=False)
    for feeling in feelings:
        if feeling not in FEELINGS:
            raise file.error(f"frame.feeling: {feeling!r} is not one of {FEELINGS}", feeling)
    return feelings


def _word_table(file: TomlFile, table: Any, where: str) -> tuple[tuple[str, str], ...]:
    """A table of word (or phrase) → words said instead, longest first (``where`` names it
    in the error)."""
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    ):
        raise file.error(f"{where}: expected a table of words", where.rsplit(".", 1)[-1])
    return tuple(sorted(((k.lower(), v) for k, v in table.items()), key=lambda kv: -len(kv[0])))


def _asked_as(file: TomlFile, game: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """``[game] asked_as``: a question's word (or phrase) → the facts' words."""
    return _word_table(file, game.get("asked_as", {}), "game.asked_as")


def _swaps(file: TomlFile, key: str) -> tuple[tuple[str, str], ...]:
    """``[swap] to_you``: word (or phrase) → what the box says instead."""
    return _word_table(file, _section(file, "swap").get(key), f"swap.{key}")


def _topics(file: TomlFile) -> tuple[Topic, ...]:
    topics = []
    for entry in tables_of(file, file.data, "topic", "topic"):
        name = text_of(file, entry, "name", "topic")
        questions = _questions(file, entry, "questions", name)
        if not questions:
            raise file.error(f"topic {name!r} has no questions", f'"{name}"')
        topics.append(
            Topic(
                name=name,
                keys=texts_of(file, entry, "keys", name),
                reactions=texts_of(file, entry, "reactions", name),
                echo=_echoes(file, entry, name),
                questions=questions,
            )
        )
    return tuple(topics)


def _characters(file: TomlFile) -> tuple[Character, ...]:
    characters = []
    for entry in tables_of(file, file.data, "character", "character"):
        id = text_of(file, entry, "id", "character")
        persona = _persona(file, entry, id, "answer")
        for key in ("greet", "greet_no_name", "goodbye", "goodbye_no_name"):
            if not getattr(persona, key):
                raise file.error(f"character {id!r} needs {key}", f'"{id}"')
        items = tuple(
            Item(
                text_of(file, item, "name", id),
                str(item.get("ask", "")),
                texts_of(file, item, "skip_if", id, required=False),
            )
            for item in tables_of(file, entry, "items", id)
        )
        steps = _questions(file, entry, "steps", id)
        if not steps:
            raise file.error(f"character {id!r} needs steps", f'"{id}"')
        characters.append(
            Character(
                id=id,
                match=texts_of(file, entry, "match", id, required=False),
                persona=persona,
                steps=steps,
                items=items,
                item_reactions=texts_of(file, entry, "item_reactions", id),
                echo=_echoes(file, entry, id),
                not_with=texts_of(file, entry, "not_with", id, required=False),
                only_with=texts_of(file, entry, "only_with", id, required=False),
                prices=_answers(file, entry, "prices", id) if "prices" in entry else (),
                price=_price(file, entry, id, persona),
            )
        )
    if not any(c.id == "generic" for c in characters):
        raise file.error('needs a character with id = "generic", for any other role')
    return tuple(characters)


def _price(file: TomlFile, entry: dict[str, Any], id: str, persona: Persona) -> str:
    """``price``: needed when an answer says ``{price}``."""
    price = str(entry.get("price", ""))
    if not price and any("{price}" in answer.text for answer in persona.answers):
        raise file.error(f"character {id!r} says {{price}}: it needs price", f'"{id}"')
    return price


def _interview(file: TomlFile) -> Interview:
    table = _section(file, "interviewer")
    return Interview(
        persona=Persona(
            name="",
            answers=_answers(file, file.data, "answer", "interview"),
            greet=texts_of(file, table, "greet", "interviewer"),
            greet_no_name=texts_of(file, table, "greet_no_name", "interviewer"),
            goodbye=texts_of(file, table, "goodbye", "interviewer"),
            goodbye_no_name=texts_of(file, table, "goodbye_no_name", "interviewer"),
        ),
        steps=_questions(file, file.data, "step", "interview"),
        more=texts_of(file, table, "more", "interviewer"),
        thanks=texts_of(file, table, "thanks", "interviewer"),
        echo=_echoes(file, table, "interviewer") if "echo" in table else (),
    )


def _by_level(file: TomlFile, key: str) -> dict[str, tuple[str, ...]]:
    table = _section(file, key)
    return {group: texts_of(file, table, group, key) for group in ("simple", "advanced")}


def _beats(file: TomlFile, key: str = "beats") -> dict[str, tuple[Beat, ...]]:
    table = _section(file, key)
    beats = {}
    for group in ("simple", "advanced"):
        entries = tables_of(file, table, group, "beats")
        if not entries:
            raise file.error(f"{key}.{group}: needs at least one beat", f"[{key}]")
        beats[group] = tuple(
            Beat(text_of(file, entry, "text", f"{key}.{group}"), str(entry.get("ask", "")))
            for entry in entries
        )
    return beats


def _story(file: TomlFile) -> Story:
    table = _section(file, "story")
    return Story(
        default_hero=text_of(file, table, "default_hero", "story"),
        begin=text_of(file, table, "begin", "story"),
        ending=texts_of(file, table, "ending", "story"),
        goodbye=texts_of(file, table, "goodbye", "story"),
        pause=texts_of(file, table, "pause", "story"),
        echo=_echoes(file, table, "story"),
        reactions=texts_of(file, table, "reactions", "story"),
        ideas=texts_of(file, table, "ideas", "story"),
        beats=_beats(file),
        prompts=_by_level(file, "prompts"),
        begin_hero=str(table.get("begin_hero", "")),
        new_thing=_patterns(file, table, "new_thing", "story"),
        not_things=frozenset(texts_of(file, table, "not_things", "story", required=False)),
        thing_reactions=texts_of(file, table, "thing_reactions", "story"),
        thing_beats=_beats(file, "thing_beats"),
        person_beats=_beats(file, "person_beats") if "person_beats" in file.data else {},
        people=frozenset(texts_of(file, table, "people", "story", required=False)),
        keyed_beats=tuple(
            Beat(
                text_of(file, entry, "text", "keyed_beat"),
                text_of(file, entry, "ask", "keyed_beat"),
                texts_of(file, entry, "keys", "keyed_beat"),
            )
            for entry in tables_of(file, file.data, "keyed_beat", "keyed_beat")
        ),
        answers=_answers(file, table, "answer", "story"),
        handed_over=_patterns(file, table, "handed_over", "story"),
        handed_reactions=texts_of(file, table, "handed_reactions", "story"),
        hero_only=_patterns(file, table, "hero_only", "story"),
        subject_thing=_patterns(file, table, "subject_thing", "story"),
        box_answers=_box_answers(file),
        twist_ending=texts_of(file, table, "twist_ending", "story", required=False),
        twist_asks=_optional_patterns(file, table, "twist_asks", "story"),
        sad_ending=texts_of(file, table, "sad_ending", "story", required=False),
        sad_asks=_optional_patterns(file, table, "sad_asks", "story"),
        ending_with=texts_of(file, table, "ending_with", "story", required=False),
        ending_theirs=texts_of(file, table, "ending_theirs", "story", required=False),
        not_said_back=_optional_patterns(file, table, "not_said_back", "story"),
        twist_beats=texts_of(file, table, "twist_beats", "story", required=False),
        twist_reactions=texts_of(file, table, "twist_reactions", "story", required=False),
        funny_asks=_optional_patterns(file, table, "funny_asks", "story"),
        retell_asks=_optional_patterns(file, table, "retell_asks", "story"),
        retell=texts_of(file, table, "retell", "story", required=False),
        starts_asks=_optional_patterns(file, table, "starts_asks", "story"),
        you_start=texts_of(file, table, "you_start", "story", required=False),
        you_start_about=texts_of(file, table, "you_start_about", "story", required=False),
        change_asks=_optional_patterns(file, table, "change_asks", "story"),
        changed=texts_of(file, table, "changed", "story", required=False),
        changed_no_idea=texts_of(file, table, "changed_no_idea", "story", required=False),
        title_asks=_optional_patterns(file, table, "title_asks", "story"),
        titled=texts_of(file, table, "titled", "story", required=False),
        title_idea=texts_of(file, table, "title_idea", "story", required=False),
        funny_beats=texts_of(file, table, "funny_beats", "story", required=False),
        funny_reactions=texts_of(file, table, "funny_reactions", "story", required=False),
    )


def _improv(file: TomlFile, characters: tuple[Character, ...]) -> Improv:
    table = _section(file, "director")
    known = {c.id for c in characters}
    places = []
    for entry in tables_of(file, file.data, "place", "place"):
        name = text_of(file, entry, "place", "place")
        character = text_of(file, entry, "character", name)
        if character not in known:
            raise file.error(f"{name}: no role-play character {character!r}", f'"{character}"')
        places.append(
            Place(
                keys=texts_of(file, entry, "keys", name),
                place=name,
                character=character,
                student_role=text_of(file, entry, "student_role", name),
                box_role=text_of(file, entry, "box_role", name),
                twists=texts_of(file, entry, "twists", name),
            )
        )
    if not places:
        raise file.error("needs at least one [[place]]")
    workers = tuple(
        Worker(
            texts_of(file, entry, "keys", "worker"),
            text_of(file, entry, "role", "worker"),
            text_of(file, entry, "student_role", "worker"),
        )
        for entry in tables_of(file, file.data, "worker", "worker")
    )
    return Improv(
        scene=texts_of(file, table, "scene", "director"),
        scene_named=texts_of(file, table, "scene_named", "director"),
        scene_roles=texts_of(file, table, "scene_roles", "director", required=False),
        scene_roles_twist=texts_of(file, table, "scene_roles_twist", "director", required=False),
        scene_together=texts_of(file, table, "scene_together", "director", required=False),
        scene_together_plain=texts_of(
            file, table, "scene_together_plain", "director", required=False
        ),
        scene_plain=texts_of(file, table, "scene_plain", "director", required=False),
        ending_with=texts_of(file, table, "ending_with", "director", required=False),
        again=texts_of(file, table, "again", "director"),
        pick=texts_of(file, table, "pick", "director"),
        goodbye=texts_of(file, table, "goodbye", "director"),
        in_scene=texts_of(file, table, "in_scene", "director"),
        swap=texts_of(file, table, "swap", "director"),
        places=tuple(places),
        echo=_echoes(file, table, "director"),
        workers=workers,
        worker=text_of(file, table, "worker", "director"),
        visitor=text_of(file, table, "visitor", "director"),
        twists=texts_of(file, table, "twists", "director"),
        partner=texts_of(file, table, "partner", "director"),
        partner_negative=texts_of(file, table, "partner_negative", "director"),
        who_am_i=texts_of(file, table, "who_am_i", "director"),
        who_asks=_patterns(file, table, "who_asks", "director"),
        box_answers=_box_answers(file),
        new_twist=_optional_patterns(file, table, "new_twist", "director"),
        twist_reactions=texts_of(file, table, "twist_reactions", "director", required=False),
        swap_asks=_optional_patterns(file, table, "swap_asks", "director"),
        twist_asks=_optional_patterns(file, table, "twist_asks", "director"),
        twist_given=texts_of(file, table, "twist_given", "director", required=False),
        idea_asks=_optional_patterns(file, table, "idea_asks", "director"),
        ideas=texts_of(file, table, "ideas", "director", required=False),
        end_asks=_optional_patterns(file, table, "end_asks", "director"),
        review=texts_of(file, table, "review", "director", required=False),
        review_asks=_optional_patterns(file, table, "review_asks", "director"),
        idea_offers=_optional_patterns(file, table, "idea_offers", "director"),
        accept=texts_of(file, table, "accept", "director", required=False),
        twist_end=texts_of(file, table, "twist_end", "director", required=False),
        retracts=_optional_patterns(file, table, "retracts", "director"),
        retracted=texts_of(file, table, "retracted", "director", required=False),
        unknown=texts_of(file, table, "unknown", "director", required=False),
        wh_answers=_wh_answers(file, table),
    )


WH_WORDS = ("what", "where", "when", "who", "why", "how")


def _wh_answers(file: TomlFile, table: dict) -> dict[str, tuple[str, ...]]:
    """``wh_answers = { where = [...], why = [...] }``: each key a question word."""
    answers = table.get("wh_answers", {})
    if not isinstance(answers, dict):
        raise file.error("wh_answers must be a table of question words", "wh_answers")
    for word in answers:
        if word not in WH_WORDS:
            raise file.error(
                f"wh_answers: {word!r} is not one of {', '.join(WH_WORDS)}", "wh_answers"
            )
    return {word: texts_of(file, answers, word, "wh_answers") for word in answers}


GUESS_LINES = (
    "win", "give_up", "goodbye", "goodbye_new_game", "ready", "not_a_question", "unknown",
    "wrong_guess",
)  # fmt: skip


def _guess(file: TomlFile, language: str) -> Guess:
    game = builtin_activities(language)["guess"]
    table = _section(file, "game")
    if "hint_asks" in table and "hint" not in table:
        raise file.error("hint_asks needs the line hint, with {hint} in it", "game", "hint_asks")
    return Guess(
        objects=game.secrets,
        simple_objects=game.simple_secrets,
        tails=texts_of(file, table, "tails", "game"),
        tails_yes=texts_of(file, table, "tails_yes", "game"),
        tails_no=texts_of(file, table, "tails_no", "game"),
        kinds={
            kind: (
                texts_of(file, entry, "words", kind),
                text_of(file, entry, "no", kind),
                bool(entry.get("closed", False)),
            )
            for kind, entry in file.data.get("kinds", {}).items()
        },
        lines={key: texts_of(file, table, key, "game") for key in GUESS_LINES},
        asks_ready=_patterns(file, table, "asks_ready", "game"),
        play_again=_optional_patterns(file, table, "play_again", "game"),
        again_after_reveal=_optional_patterns(file, table, "again_after_reveal", "game"),
        swap_asks=_optional_patterns(file, table, "swap_asks", "game"),
        win_claims=_optional_patterns(file, table, "win_claims", "game"),
        hint_asks=_optional_patterns(file, table, "hint_asks", "game"),
        said_as_question=_optional_patterns(file, table, "said_as_question", "game"),
        asked_as=_asked_as(file, table),
        optional_lines={
            key: texts_of(file, table, key, "game")
            for key in ("swap", "not_won", "hint", "no_more_hints")
            if key in table
        },
    )


def _read(language: str, name: str) -> TomlFile:
    file = read_toml(language, name)
    if file is None:
        raise LanguageDataError(f"{language}: {name} is missing")
    return file


def has_content(language: str) -> bool:
    """Whether ``language`` has the planner's content (else the model writes replies)."""
    return all(read_toml(language, name) is not None for name in PLANNER_FILES)


@cache
def load_content(language: str) -> LessonContent:
    """The planner's content for ``language``, checked. Raises :class:`LanguageDataError`."""
    classroom = _classroom(_read(language, "classroom.toml"))
    if (words := read_toml(language, "glossary.toml")) is not None:
        classroom = replace(classroom, glossary=_more_glossary(classroom.glossary, words))
    conversation = _read(language, "conversation.toml")
    persona_table = _section(conversation, "persona")
    characters = _characters(_read(language, "roleplay.toml"))
    activities = builtin_activities(language)
    return LessonContent(
        language=language,
        classroom=classroom,
        conversation=_persona(conversation, persona_table, "persona", "answer"),
        topics=_topics(conversation),
        characters=characters,
        interview=_interview(_read(language, "interview.toml")),
        story=_story(_read(language, "story.toml")),
        improv=_improv(_read(language, "improv.toml"), characters),
        guess=_guess(_read(language, "guess.toml"), language),
        opening={name: activity.opening for name, activity in activities.items()},
    )
