"""Can the tiny model write the reaction part of a planned reply? Measured, not assumed.

    python bench/model_reactions.py > bench/results/model_reactions.txt

The planner's design leaves room for the language model to phrase only the short
reaction to a student's statement ("A big brown dog! I like dogs."), with the
code's question after it. This asks the installed model for such reactions, with
four example reactions in its prompt, at two temperatures, and prints each with
the time it took to write it whole (a reaction must be checked whole before it is
spoken, so all of it is on the path from release). Read the output: the count of
reactions that fit is a teacher's reading, noted in docs/lessons.md.
"""

from __future__ import annotations

import statistics
import time

from appliance.app.wiring import current_model_set
from appliance.speech.llm import LocalLlm

SYSTEM = (
    "You are Parlo, a friendly English conversation partner. React to what the student "
    "says in one short, kind sentence of at most eight words. Do not ask a question."
)
EXAMPLES = [
    ("I have a dog.", "A dog! That's lovely."),
    ("I played tennis yesterday.", "Tennis is a great sport."),
    ("My sister is a doctor.", "A doctor! That is an important job."),
    ("I find English hard.", "English can be hard, but you are doing well."),
]
# Statements from the judged sessions (appliance/tools/data/judged_sessions.toml).
LINES = [
    "I like pizza. And ice cream.",
    "Yesterday I go to cinema with my friend.",
    "It was a film about space. It was very good.",
    "I'm studying English because I want to work in another country one day.",
    "Last summer I have been to the beach every day with my family.",
    "To be honest, I find it hard to follow native speakers when they talk fast on the phone.",
    "I have a dog. His name is Max.",
    "I usually switch them off after the first episode, but then I lose the jokes.",
    "I worked in a shop last summer. I sell shoes.",
    "I am friendly and I work hard.",
]


def main() -> None:
    llm = LocalLlm(current_model_set().file("llm"), threads=2, context_tokens=1024)
    messages = [{"role": "system", "content": SYSTEM}]
    for student, reaction in EXAMPLES:
        messages += [
            {"role": "user", "content": student},
            {"role": "assistant", "content": reaction},
        ]
    llm.prefill(messages)  # as the engine would, while idle
    times = []
    for line in LINES:
        for temperature in (0.2, 0.7):
            started = time.perf_counter()
            reaction = "".join(
                llm.stream(
                    [*messages, {"role": "user", "content": line}], 24, temperature=temperature
                )
            )
            took = (time.perf_counter() - started) * 1000
            times.append(took)
            print(f"{line!r}\n    t={temperature}  {took:5.0f} ms  {reaction!r}")
    print(
        f"\nwhole reaction written: median {statistics.median(times):.0f} ms, "
        f"max {max(times):.0f} ms over {len(times)}"
    )


if __name__ == "__main__":
    main()
