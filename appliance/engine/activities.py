"""Classroom activities: what the box is for in this lesson.

An activity is a system prompt, a short example exchange, and rules for the
shape of a reply. Students must do most of the talking, so every reply is short.
The level (CEFR A1–C1) adds plain instructions about words and sentences.

Tiny models copy examples far better than they follow instructions, so each
activity shows one exchange in exactly the shape wanted.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.config import Config


@dataclass(frozen=True)
class Activity:
    name: str
    prompt: str
    examples: tuple[tuple[str, str], ...] = ()
    opening: str = ""
    max_words: int = 30
    ends_with_question: bool = False
    spoken_name: str = ""


LEVEL_RULES = {
    "A1": "Use very simple, common words. Sentences of at most 6 words.",
    "A2": "Use simple, common words. Sentences of at most 8 words.",
    "B1": "Use everyday words. Sentences of at most 12 words.",
    "B2": "Use natural everyday English. Keep sentences clear.",
    "C1": "Speak naturally, with some idioms.",
}

LENGTH_WORDS = {"short": 1.0, "medium": 1.6, "long": 2.4}

BUILTIN_ACTIVITIES: dict[str, Activity] = {
    activity.name: activity
    for activity in (
        Activity(
            name="conversation",
            spoken_name="Conversation",
            prompt=(
                "You are a friendly English conversation partner for a language student. "
                "Reply in one or two short sentences, then ask the student one simple question."
            ),
            examples=(("I like football.", "Football is fun! Who is your favourite player?"),),
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
                    "Hello! How are you?",
                    "Hello, my friend! I am very busy today. What would you like?",
                ),
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
            ),
            opening="Give me a place and I will give you a scene!",
            max_words=45,
        ),
        Activity(
            name="story",
            spoken_name="Story",
            prompt=(
                "You and the student tell a story together. The student adds a sentence, "
                "then you add one or two sentences that continue it. Never finish the story."
            ),
            examples=(
                (
                    "Once upon a time there was a small dog.",
                    "The dog lived in a big red house. One day, it found a key.",
                ),
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
                    "I am good at working in a team.",
                    "That is very useful. Can you tell me about a time you helped a colleague?",
                ),
            ),
            opening="Good morning, and welcome. Please tell me a little about yourself.",
            max_words=30,
            ends_with_question=True,
        ),
        Activity(
            name="guess",
            spoken_name="Guessing game",
            prompt=(
                "You are playing a guessing game. You are thinking of an apple. "
                "The student asks yes or no questions. "
                "Answer only yes or no, and add a short hint. "
                "Never say the word apple unless the student guesses it."
            ),
            examples=(
                ("Is it an animal?", "No, it is not an animal. It is something you can eat."),
            ),
            opening="I am thinking of something. Ask me yes or no questions to guess it!",
            max_words=20,
        ),
    )
}


def activity_for(config: Config) -> Activity:
    """The configured activity, built-in or the teacher's own."""
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
    return BUILTIN_ACTIVITIES[name]


def system_prompt(activity: Activity, config: Config) -> str:
    """The full system prompt: the activity, in character, at the class's level."""
    role = activity.prompt.format(
        character=config.activity.character, setting=config.activity.setting
    )
    return f"{role} {LEVEL_RULES[config.activity.level]} Never use lists, links or code."


def word_budget(activity: Activity, config: Config) -> int:
    return round(activity.max_words * LENGTH_WORDS[config.reply.length])
