"""Classroom activities: what the box is for in this lesson.

An activity is a system prompt, a short example exchange, and rules for the
shape of a reply. Students must do most of the talking, so every reply is short.
The level (CEFR A1–C1) adds plain instructions about words and sentences.

Tiny models copy examples far better than they follow instructions, so each
activity shows one exchange in exactly the shape wanted.

Prompts and examples may name ``{character}``, ``{setting}`` and ``{language}``;
the guessing game's also ``{secret}``, ``{kind}`` and ``{facts}`` (see :class:`Secret`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from appliance.config import CEFR_LEVELS, Config

# The name of the class's language (``config.language``) as the prompt says it.
LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "ca": "Catalan",
    "el": "Greek",
    "tr": "Turkish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "ar": "Arabic",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
}


def language_name(code: str) -> str:
    """``"es"`` → ``"Spanish"``. A code not in :data:`LANGUAGE_NAMES` names itself
    (``"eu"`` → ``"eu"``): the model may still know it, and a wrong name would be worse."""
    return LANGUAGE_NAMES.get(code.lower(), code)


@dataclass(frozen=True)
class Secret:
    """What the box "thinks of" in the guessing game, and what is true of it.

    A 135M model cannot keep a secret in its head: asked "is it red?" with nothing
    to go on, it says "No" every time. So code chooses the secret
    (:func:`choose_secret`), and the system prompt names it with its ``facts``; the
    model only has to look the answer up. Write each fact as one short sentence; a
    fact that is a "no" says "not" ("It is not an animal."). Secrets are objects, never
    animals: "Is it an animal?" is then a wrong guess whatever the facts say.
    """

    name: str  # with its article: "an apple"
    kind: str  # what sort of thing it is, with its article: "a fruit"
    facts: tuple[str, ...]

    @property
    def word(self) -> str:
        """The word a student must say to win: ``"apple"``."""
        return self.name.split()[-1]


@dataclass(frozen=True)
class Activity:
    """An activity. ``examples`` are the exchanges shown to the model before the class's
    own turns; ``simple_examples`` (if any) replace them at A1 and A2, where replies
    must be shorter and plainer. See the module's docstring for the ``{fields}``."""

    name: str
    prompt: str
    examples: tuple[tuple[str, str], ...] = ()
    opening: str = ""
    max_words: int = 30
    ends_with_question: bool = False
    spoken_name: str = ""
    simple_examples: tuple[tuple[str, str], ...] = ()
    # The guessing game's objects: ``secrets`` from B1 on, ``simple_secrets`` at A1 and A2.
    secrets: tuple[Secret, ...] = ()
    simple_secrets: tuple[Secret, ...] = ()
    # The object in play, set by :func:`activity_for`.
    secret: Secret | None = None


LEVEL_RULES = {
    "A1": "Use very simple, common words. Sentences of at most 6 words.",
    "A2": "Use simple, common words. Sentences of at most 8 words.",
    "B1": "Use everyday words. Sentences of at most 12 words.",
    "B2": "Use natural everyday {language}. Keep sentences clear.",
    "C1": "Speak naturally, with some idioms.",
}
SIMPLE_LEVELS = ("A1", "A2")

LENGTH_WORDS = {"short": 1.0, "medium": 1.6, "long": 2.4}
# Beginners get shorter replies: an activity's ``max_words`` is for B1.
LEVEL_WORDS = {"A1": 0.6, "A2": 0.8, "B1": 1.0, "B2": 1.2, "C1": 1.4}

# SmolLM2-135M copies the shape of the examples: a reaction, then one question. The
# examples also show how to treat a name ("Nice to meet you, Tom!"), a request for a
# link, and rudeness, because a tiny model left to itself answers "Hi, I'm Tom!".
BUILTIN_ACTIVITIES: dict[str, Activity] = {
    activity.name: activity
    for activity in (
        Activity(
            name="conversation",
            spoken_name="Conversation",
            prompt=(
                "You are Parlo, a friendly {language} conversation partner for a language student. "
                "Reply in one or two short sentences, then ask the student one simple question."
            ),
            examples=(
                ("Hello, my name is Tom.", "Nice to meet you, Tom! I'm Parlo. Where are you from?"),
                ("I played tennis yesterday.", "Tennis is a great sport. Who did you play with?"),
                (
                    "Can you send me a link to a website?",
                    "Sorry, I can only talk, not send links. What do you want to learn about?",
                ),
                (
                    "You are stupid.",
                    "Oh, that is not kind! Let's talk about fun things. What is your hobby?",
                ),
            ),
            simple_examples=(
                ("Hello, my name is Tom.", "Hello, Tom! I am Parlo. How old are you?"),
                ("I like dogs.", "Dogs are nice! Do you have a dog?"),
                ("Send me a link.", "Sorry, I can only talk. What do you like?"),
            ),
            opening="Hello! Let's talk. What did you do today?",
            max_words=30,
            ends_with_question=True,
        ),
        Activity(
            name="roleplay",
            spoken_name="Role play",
            prompt=(
                "You are {character}, in {setting}. Stay in character. "
                "The student is a visitor talking to you. "
                "Reply in one or two short sentences as {character}, "
                "then ask the student a question."
            ),
            examples=(
                (
                    "Hello! My name is Tom.",
                    "Welcome, Tom! I am {character}. What can I do for you?",
                ),
                (
                    "What do you do here?",
                    "I work here every day, and I love it! Would you like to look around?",
                ),
                (
                    "Can I have one, please?",
                    "Of course, here you are! Would you like anything else?",
                ),
                (
                    "Can you show me a website?",
                    "A website? I don't know about those! Can I help you with something else?",
                ),
            ),
            # Beginners' replies are cut at 18 words: each example is short and ends with
            # its question, answering the student's own question first.
            simple_examples=(
                ("Hello! I am Tom.", "Hello, Tom! I am {character}. How are you?"),
                ("Is it hot here?", "No, it is cold here! Do you like the cold?"),
                ("What do you do?", "I work here. Do you want to help me?"),
                ("Bye!", "Goodbye! Will you come back soon?"),
            ),
            opening="Hello there! Welcome! What can I do for you?",
            max_words=30,
            ends_with_question=True,
        ),
        Activity(
            name="improv",
            spoken_name="Improv",
            prompt=(
                "You are an improv theatre director in a classroom. The student asks for a scene. "
                "Describe a short, funny scene in two or three sentences: who is there, where, "
                "and what goes wrong. Then say: Action!"
            ),
            examples=(
                (
                    "A scene at the doctor.",
                    "A patient visits the doctor, but the doctor is a cat. "
                    "The cat only says meow and wants fish. Action!",
                ),
                (
                    "My name is Tom. A scene with me.",
                    "Tom is a chef, but his soup is alive. It jumps out of the pot! Action!",
                ),
                (
                    "Can you send me a link to a video?",
                    "No links, only theatre! A robot makes pancakes, but they fly away. Action!",
                ),
            ),
            simple_examples=(
                ("A scene at the doctor.", "The doctor is a cat. It only says meow. Action!"),
                ("I am Tom. A scene with me.", "Tom is a chef. His soup can sing! Action!"),
                ("A scene at the park.", "A dog reads a book. A bird takes it. Action!"),
            ),
            opening="Give me a place and I will give you a scene!",
            max_words=45,
        ),
        Activity(
            name="story",
            spoken_name="Story",
            prompt=(
                "You and the student tell a story together. The student adds a sentence, "
                "then you add one or two new sentences that continue it. Never finish the story."
            ),
            examples=(
                (
                    "Once upon a time there was a small dog.",
                    "The dog lived in a big red house. One day, it found a key.",
                ),
                (
                    "The key was made of gold.",
                    "The dog carried the key to the old tree in the park.",
                ),
                (
                    "There was a little door in the tree.",
                    "The key opened the door, and a cold wind came out.",
                ),
            ),
            simple_examples=(
                ("Once upon a time there was a small dog.", "The dog was happy. It found a key."),
                ("The key was gold.", "The dog ran to the park with it."),
            ),
            opening="Let's tell a story together. Once upon a time, there was a tiny dragon.",
            max_words=30,
        ),
        Activity(
            name="interview",
            spoken_name="Interview",
            prompt=(
                "You are a kind interviewer helping a student practise a job interview. "
                "Say one short sentence about the answer, then ask the next interview question."
            ),
            examples=(
                (
                    "Good morning. My name is Tom.",
                    "Good morning, Tom, and welcome. Why would you like this job?",
                ),
                (
                    "I am good at working in a team.",
                    "That is very useful. Can you tell me about a time you helped a colleague?",
                ),
                ("I don't know.", "That's fine, take your time. What do you enjoy most at work?"),
            ),
            simple_examples=(
                ("Hello. My name is Tom.", "Hello, Tom. Welcome! Why do you want this job?"),
                ("I like people.", "Good. Can you work on Saturdays?"),
                ("I am a student.", "Very good. What do you study?"),
            ),
            opening="Good morning, and welcome. Please tell me a little about yourself.",
            max_words=30,
            ends_with_question=True,
        ),
        Activity(
            name="guess",
            spoken_name="Guessing game",
            prompt=(
                "You are playing a guessing game. You are thinking of {secret}. {facts} "
                "The student asks yes or no questions. Answer yes or no from what you know. "
                "Never say the word {word}, until the student says it. "
                "Then say: Yes, it is {secret}! You win!"
            ),
            examples=(
                ("Is it an animal?", "No, it is not an animal. Ask me another question!"),
                ("Is it {kind}?", "Yes, it is {kind}! Can you guess what it is?"),
                ("Is it a car?", "No, it is not a car. Try again!"),
            ),
            simple_examples=(
                ("Is it an animal?", "No, it is not an animal."),
                ("Is it {kind}?", "Yes, it is {kind}!"),
                ("Is it a car?", "No, it is not a car."),
            ),
            simple_secrets=(
                Secret(
                    "an apple",
                    "a fruit",
                    (
                        "It is a fruit.",
                        "You can eat it.",
                        "It is red or green.",
                        "It is small and round.",
                        "It grows on a tree.",
                        "It is not big.",
                    ),
                ),
                Secret(
                    "a ball",
                    "a toy",
                    (
                        "It is a toy.",
                        "It is round.",
                        "You play with it.",
                        "You can kick it.",
                        "You can not eat it.",
                        "It is not red.",
                    ),
                ),
                Secret(
                    "a banana",
                    "a fruit",
                    (
                        "It is a fruit.",
                        "You can eat it.",
                        "It is yellow.",
                        "It is long.",
                        "It grows on a tree.",
                        "It is not big.",
                    ),
                ),
                Secret(
                    "a chair",
                    "furniture",
                    (
                        "It is furniture.",
                        "You sit on it.",
                        "It has four legs.",
                        "It is in the classroom.",
                        "You can not eat it.",
                        "It is not a toy.",
                    ),
                ),
            ),
            secrets=(
                Secret(
                    "an umbrella",
                    "a thing you carry",
                    (
                        "You open it when it rains.",
                        "You carry it in your hand.",
                        "It is not alive.",
                        "It is not in the kitchen.",
                        "You can not eat it.",
                        "It is not sweet.",
                    ),
                ),
                Secret(
                    "a guitar",
                    "a musical instrument",
                    (
                        "It is a musical instrument.",
                        "You play music with it.",
                        "It has six strings.",
                        "It is made of wood.",
                        "It is not alive.",
                        "You can not eat it.",
                    ),
                ),
                Secret(
                    "a lemon",
                    "a fruit",
                    (
                        "It is a fruit.",
                        "It is yellow.",
                        "It is sour.",
                        "It is not sweet.",
                        "You find it in the kitchen.",
                        "It grows on a tree.",
                        "It is not big.",
                    ),
                ),
            ),
            opening="I am thinking of something. Ask me yes or no questions to guess it!",
            max_words=20,
        ),
    )
}


def activity_for(config: Config, secret: Secret | None = None) -> Activity:
    """The configured activity, built-in or the teacher's own, with the examples for the
    class's level and its fields filled in.

    For the guessing game, ``secret`` is the object in play (see :func:`choose_secret`);
    without one, each level has a fixed object (:func:`default_secret`).
    """
    name = config.activity.name
    if name in config.custom_activities:
        custom = config.custom_activities[name]
        return Activity(
            name=name,
            prompt=custom.prompt,
            opening=custom.opening,
            max_words=custom.max_words,
            ends_with_question=custom.ends_with_question,
            spoken_name=name.replace("_", " "),
        )
    activity = BUILTIN_ACTIVITIES[name]
    level = config.activity.level
    if secrets_for(activity, level):
        activity = replace(activity, secret=secret or default_secret(activity, level))
    simple = level in SIMPLE_LEVELS and activity.simple_examples
    examples = activity.simple_examples if simple else activity.examples
    fields = _fields(activity, config)
    return replace(
        activity,
        examples=tuple((fill(q, fields), fill(a, fields)) for q, a in examples),
        opening=fill(activity.opening, fields),
    )


def secrets_for(activity: Activity, level: str) -> tuple[Secret, ...]:
    """The objects the guessing game may choose from at ``level`` (none for other activities)."""
    if level in SIMPLE_LEVELS and activity.simple_secrets:
        return activity.simple_secrets
    return activity.secrets or activity.simple_secrets


def default_secret(activity: Activity, level: str) -> Secret | None:
    """The object when no one chose one: fixed per level, so a replayed session (and
    ``parlo eval``) meets the same one, and neighbouring levels meet different ones."""
    choices = secrets_for(activity, level)
    return choices[CEFR_LEVELS.index(level) % len(choices)] if choices else None


def choose_secret(
    activity: Activity, level: str, rng: random.Random, previous: Secret | None = None
) -> Secret | None:
    """A new object for the guessing game at ``level``, not the one just played; ``None``
    for an activity with no objects. Pure but for ``rng``: a seeded one replays a game."""
    choices = secrets_for(activity, level)
    if not choices:
        return None
    return rng.choice([secret for secret in choices if secret != previous] or choices)


def guessed_right(secret: Secret | None, student: str) -> bool:
    """Whether the student named the secret ("Is it an apple?"; "apples" counts too)."""
    if secret is None:
        return False
    return re.search(rf"\b{re.escape(secret.word)}(e?s)?\b", student, re.IGNORECASE) is not None


# Words that say nothing about the object: left out when a question is matched to a fact.
_QUESTION_WORDS = frozenset(
    "a an and are be can do does find i in is it me my of on or so some something that "  # noqa: SIM905
    "the thing this to usually very what would you your not no never".split()
)
_NEGATIVE = re.compile(r"\b(not|no|never)\b", re.IGNORECASE)
_WRONG_GUESS = re.compile(r"\bis it (a|an) (\w+)\?\s*$", re.IGNORECASE)


def _content_words(text: str) -> set[str]:
    words = re.findall(r"[a-z]+", text.lower())
    # A plain plural or third person ("trees", "grows") counts as its stem.
    return {
        word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
        for word in words
        if word not in _QUESTION_WORDS
    }


def answering_fact(secret: Secret, question: str) -> str | None:
    """The fact that answers a yes-or-no ``question`` about ``secret``: the one sharing
    most words with it ("Is it big?" → "It is not big."); ``None`` when no fact does, or
    when the best ones disagree."""
    asked = _content_words(question)
    overlaps = {fact: len(asked & _content_words(fact)) for fact in secret.facts}
    best = max(overlaps.values(), default=0)
    facts = [fact for fact, overlap in overlaps.items() if best and overlap == best]
    if len({_NEGATIVE.search(fact) is None for fact in facts}) != 1:
        return None
    return facts[0]


def true_answer(secret: Secret, question: str) -> bool | None:
    """The true answer to a yes-or-no question about ``secret``; ``None`` when its facts
    do not say. Naming the secret is a right guess (yes); a fact with "not" is a no; a
    question naming one thing no fact mentions ("Is it a car?") is a wrong guess (no)."""
    if guessed_right(secret, question):
        return True
    if (fact := answering_fact(secret, question)) is not None:
        return _NEGATIVE.search(fact) is None
    return False if _WRONG_GUESS.search(question) else None


def guess_reply(secret: Secret | None, question: str, language: str = "en") -> str | None:
    """The guessing game's reply when code knows the true answer, else ``None`` (then the
    model answers). SmolLM2-135M answers "No" to nearly everything even when the facts
    are in its prompt (measured: every "yes" question got a "no"), so the engine should
    say this instead of asking the model. English only, for now.
    """
    if secret is None or language != "en":
        return None
    if guessed_right(secret, question):
        return (
            f"Yes, it is {secret.name}! You win! Let's play again. I am thinking of something new."
        )
    if (fact := answering_fact(secret, question)) is not None:
        return f"{'No' if _NEGATIVE.search(fact) else 'Yes'}! {fact} Ask me another question!"
    if found := _WRONG_GUESS.search(question):
        return f"No, it is not {found[1].lower()} {found[2].lower()}. Try again!"
    return None


def system_prompt(activity: Activity, config: Config) -> str:
    """The full system prompt: the activity, in character, at the class's level, in the
    class's language."""
    fields = _fields(activity, config)
    role = fill(activity.prompt, fields)
    level = fill(LEVEL_RULES[config.activity.level], fields)
    return f"{role} {level} Always reply in {fields['language']}. Never use lists, links or code."


def _fields(activity: Activity, config: Config) -> dict[str, str]:
    fields = {
        "character": config.activity.character,
        "setting": config.activity.setting,
        "language": language_name(config.language),
    }
    if activity.secret is not None:
        fields |= {
            "secret": activity.secret.name,
            "word": activity.secret.word,
            "kind": activity.secret.kind,
            "facts": " ".join(activity.secret.facts),
        }
    return fields


def fill(text: str, fields: dict[str, str]) -> str:
    """``text`` with each ``{field}`` it names replaced. Anything else in braces is left as
    written: a teacher's prompt is not a format string."""
    return re.sub(r"\{(\w+)\}", lambda found: fields.get(found[1], found[0]), text)


def word_budget(activity: Activity, config: Config) -> int:
    """How many words a reply may have: the activity's, for the reply length and the level."""
    length = LENGTH_WORDS[config.reply.length] * LEVEL_WORDS[config.activity.level]
    return round(activity.max_words * length)
