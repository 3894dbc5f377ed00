"""Classroom activities: what the box is for in this lesson.

An activity is a system prompt, a short example exchange, and rules for the
shape of a reply, all read from the language's ``activities.toml`` (the guessing
game's objects from ``guess.toml``). Students must do most of the talking, so every reply is short.
The level (CEFR A1–C1) adds plain instructions about words and sentences.

Tiny models copy examples far better than they follow instructions, so each
activity shows one exchange in exactly the shape wanted.

Prompts and examples may name ``{character}``, ``{setting}`` and ``{language}``;
the guessing game's also ``{secret}``, ``{kind}`` and ``{facts}`` (see :class:`Secret`).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache

from appliance.core.config import BUILTIN_ACTIVITY_NAMES, CEFR_LEVELS, Config
from appliance.lessons.language import (
    LanguageDataError,
    TomlFile,
    fill,
    language_name,
    read_toml,
    tables_of,
    text_of,
    texts_of,
)


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
    # Said when the student asks for a hint, in order: each tells a bit more.
    hints: tuple[str, ...] = ()

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


SIMPLE_LEVELS = ("A1", "A2")

LENGTH_WORDS = {"short": 1.0, "medium": 1.6, "long": 2.4}
# Beginners get shorter replies: an activity's ``max_words`` is for B1.
LEVEL_WORDS = {"A1": 0.6, "A2": 0.8, "B1": 1.0, "B2": 1.2, "C1": 1.4}


def _exchanges(file: TomlFile, table: dict, key: str, where: str) -> tuple[tuple[str, str], ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
        for pair in value
    ):
        raise file.error(f"{where}.{key}: expected a list of [student, reply] pairs", where, key)
    return tuple((student, reply) for student, reply in value)


def _secrets(language: str) -> tuple[tuple[Secret, ...], tuple[Secret, ...]]:
    """The guessing game's objects from ``guess.toml``: (from B1 on, at A1 and A2)."""
    file = read_toml(language, "guess.toml") or read_toml("en", "guess.toml")
    if file is None:
        return (), ()
    simple: list[Secret] = []
    advanced: list[Secret] = []
    for number, table in enumerate(tables_of(file, file.data, "object", "guess"), start=1):
        where = f"object {number}"
        name = text_of(file, table, "name", where)
        secret = Secret(
            name,
            text_of(file, table, "kind", name),
            texts_of(file, table, "facts", name),
            texts_of(file, table, "hints", name) if "hints" in table else (),
        )
        levels = table.get("levels", "simple")
        if levels not in ("simple", "advanced"):
            raise file.error(f"{name}: levels must be 'simple' or 'advanced'", name, "levels")
        (simple if levels == "simple" else advanced).append(secret)
    return tuple(advanced), tuple(simple)


@cache
def builtin_activities(language: str = "en") -> dict[str, Activity]:
    """The built-in activities as ``activities.toml`` describes them (English when the
    language has none of its own), checked against :data:`BUILTIN_ACTIVITY_NAMES`."""
    file = read_toml(language, "activities.toml") or read_toml("en", "activities.toml")
    if file is None:
        raise LanguageDataError("activities.toml is missing from the package")
    tables = file.data.get("activity")
    if not isinstance(tables, dict) or set(tables) != set(BUILTIN_ACTIVITY_NAMES):
        raise file.error(
            f"[activity.NAME] tables must be exactly {', '.join(BUILTIN_ACTIVITY_NAMES)}",
            "[activity",
        )
    advanced, simple = _secrets(language)
    activities = {}
    for name in BUILTIN_ACTIVITY_NAMES:
        table, where = tables[name], f"activity.{name}"
        max_words = table.get("max_words", 30)
        if not isinstance(max_words, int) or not 5 <= max_words <= 120:
            raise file.error(f"{where}.max_words: expected 5 to 120", where, "max_words")
        activities[name] = Activity(
            name=name,
            prompt=text_of(file, table, "prompt", where),
            examples=_exchanges(file, table, "examples", where),
            simple_examples=_exchanges(file, table, "simple_examples", where),
            opening=text_of(file, table, "opening", where),
            max_words=max_words,
            ends_with_question=bool(table.get("ends_with_question", False)),
            spoken_name=text_of(file, table, "spoken_name", where),
            secrets=advanced if name == "guess" else (),
            simple_secrets=simple if name == "guess" else (),
        )
    return activities


@cache
def level_rules(language: str = "en") -> dict[str, str]:
    file = read_toml(language, "activities.toml") or read_toml("en", "activities.toml")
    assert file is not None  # builtin_activities() has checked it is there
    rules = file.data.get("level_rules", {})
    for level in CEFR_LEVELS:
        if not isinstance(rules.get(level), str):
            raise file.error(f"level_rules.{level}: expected a line of text", "level_rules")
    return rules


BUILTIN_ACTIVITIES = builtin_activities("en")


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


def next_activity(config: Config) -> Config:
    """``config`` with the next activity in the double tap's cycle: the built-in ones,
    then the teacher's own, then round again."""
    custom = [name for name in config.custom_activities if name not in BUILTIN_ACTIVITIES]
    names = [*BUILTIN_ACTIVITIES, *custom]
    name = config.activity.name
    current = names.index(name) if name in names else -1
    return config.with_changes({"activity.name": names[(current + 1) % len(names)]})


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
    "the thing this to usually very what would you your not no never like erm hmm um uh "
    "for with at by about".split()
)
_NEGATIVE = re.compile(r"\b(not|no|never)\b", re.IGNORECASE)
_COMPARED = re.compile(
    r"\bthan (?:a |an |the |my |your )?(?:mobile |cell |smart )?(\w+)", re.IGNORECASE
)
# "Is it more big than a book?": a learner's comparative, read as the right one.
_COMPARATIVES = {
    "big": "bigger", "small": "smaller", "heavy": "heavier", "light": "lighter",
    "long": "longer", "short": "shorter", "tall": "taller", "old": "older",
    "cheap": "cheaper", "soft": "softer", "hard": "harder",
}  # fmt: skip
_LEARNER_COMPARATIVE = re.compile(rf"\bmore ({'|'.join(_COMPARATIVES)})\b", re.IGNORECASE)
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
    """The fact that answers a yes-or-no ``question`` about ``secret``: the closest to it
    (see :func:`_closest`: "Is it big?" → "It is not big."); ``None`` when no fact is, or
    when the closest ones disagree. A comparison ("bigger than a book?") is answered only
    by a fact about the same thing: "It is not bigger than a car." says nothing of books."""
    question = _LEARNER_COMPARATIVE.sub(lambda m: _COMPARATIVES[m[1].lower()], question)
    # "Is it in a supermarket?": the facts say "shop".
    question = re.sub(r"\b(?:super)?market|\bstore\b", "shop", question, flags=re.I)
    # "Is it for kids?": the facts say "children".
    question = re.sub(r"\bkids?\b", "children", question, flags=re.I)
    candidates = secret.facts
    if compared := _COMPARED.search(question):
        thing = compared[1].lower()
        candidates = tuple(f for f in secret.facts if thing in _content_words(f))
    facts = _closest(question, candidates)
    if len({_NEGATIVE.search(fact) is None for fact in facts}) != 1:
        return None
    return facts[0]


def _closest(question: str, facts: Sequence[str]) -> list[str]:
    """The ``facts`` as close to ``question`` as any: the most words shared with it, then
    the rarest shared (a word in few facts says more than one in many: "Do you use it
    outside?" is about outside, not about using), then the fewest words besides ("Is it
    light?" is "It is light.", not "It does not give light."). None share a word: none."""
    asked = _content_words(question)
    words = {fact: _content_words(fact) for fact in facts}
    facts_with = Counter(word for said in words.values() for word in said & asked)

    def closeness(fact: str) -> tuple[int, float, int]:
        shared = asked & words[fact]
        rarity = round(sum(1 / facts_with[word] for word in shared), 6)
        return len(shared), rarity, -len(words[fact] - asked)

    best = max(map(closeness, facts), default=(0, 0.0, 0))
    return [fact for fact in facts if best[0] and closeness(fact) == best]


def closest_fact(question: str, facts: Sequence[str]) -> str | None:
    """Of ``facts``, the one closest to ``question`` (see :func:`_closest`), the first of
    those as close; ``None`` for no facts."""
    return next(iter(_closest(question, facts) or facts), None)


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
    level = fill(level_rules()[config.activity.level], fields)
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


def word_budget(activity: Activity, config: Config) -> int:
    """How many words a reply may have: the activity's, for the reply length and the level."""
    length = LENGTH_WORDS[config.reply.length] * LEVEL_WORDS[config.activity.level]
    return round(activity.max_words * length)
