"""Classroom activities: what the box is for in this lesson.

An activity is a system prompt, a short example exchange, and rules for the
shape of a reply. Students must do most of the talking, so every reply is short.
The level (CEFR A1–C1) adds plain instructions about words and sentences.

Tiny models copy examples far better than they follow instructions, so each
activity shows one exchange in exactly the shape wanted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from appliance.config import Config


@dataclass(frozen=True)
class Activity:
    """An activity. ``examples`` are the exchanges shown to the model before the class's
    own turns; ``simple_examples`` (if any) replace them at A1 and A2, where replies
    must be shorter and plainer. Examples may name ``{character}`` and ``{setting}``."""

    name: str
    prompt: str
    examples: tuple[tuple[str, str], ...] = ()
    opening: str = ""
    max_words: int = 30
    ends_with_question: bool = False
    spoken_name: str = ""
    simple_examples: tuple[tuple[str, str], ...] = ()


LEVEL_RULES = {
    "A1": "Use very simple, common words. Sentences of at most 6 words.",
    "A2": "Use simple, common words. Sentences of at most 8 words.",
    "B1": "Use everyday words. Sentences of at most 12 words.",
    "B2": "Use natural everyday English. Keep sentences clear.",
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
                "You are Parlo, a friendly English conversation partner for a language student. "
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
            simple_examples=(
                ("Hello! I am Tom.", "Hello, Tom! I am {character}. How are you?"),
                ("Where are you?", "I am in {setting}. Do you like it?"),
                ("What do you do?", "I work here. I love it! Do you want to help me?"),
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
                "You are playing a guessing game. You are thinking of an apple. "
                "The student asks yes or no questions. "
                "Answer only yes or no, and add a short hint. "
                "Never say the word apple unless the student guesses it."
            ),
            examples=(
                ("Is it an animal?", "No, it is not an animal. Hint: you can eat it."),
                ("Is it a fruit?", "Yes, it is a fruit! Hint: it grows on a tree."),
                ("Is it yellow?", "No, it is not yellow. Hint: it can be red or green."),
                ("Is it a banana?", "No, it is not a banana. Hint: it is round."),
            ),
            simple_examples=(
                ("Is it an animal?", "No. Hint: you can eat it."),
                ("Is it a fruit?", "Yes! Hint: it is red or green."),
                ("Is it a banana?", "No. Hint: it is round."),
            ),
            opening="I am thinking of something. Ask me yes or no questions to guess it!",
            max_words=20,
        ),
    )
}


def activity_for(config: Config) -> Activity:
    """The configured activity, built-in or the teacher's own, with the examples for the
    class's level and its character and setting filled in."""
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
    simple = config.activity.level in SIMPLE_LEVELS and activity.simple_examples
    examples = activity.simple_examples if simple else activity.examples
    return replace(activity, examples=tuple(_fill(pair, config) for pair in examples))


def _fill(pair: tuple[str, str], config: Config) -> tuple[str, str]:
    fields = {"character": config.activity.character, "setting": config.activity.setting}
    return (pair[0].format(**fields), pair[1].format(**fields))


def system_prompt(activity: Activity, config: Config) -> str:
    """The full system prompt: the activity, in character, at the class's level."""
    role = activity.prompt.format(
        character=config.activity.character, setting=config.activity.setting
    )
    return f"{role} {LEVEL_RULES[config.activity.level]} Never use lists, links or code."


def word_budget(activity: Activity, config: Config) -> int:
    """How many words a reply may have: the activity's, for the reply length and the level."""
    length = LENGTH_WORDS[config.reply.length] * LEVEL_WORDS[config.activity.level]
    return round(activity.max_words * length)
