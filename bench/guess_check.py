"""The guessing game's answers to the questions learners ask, for every object.

Run: .venv/bin/python bench/guess_check.py [--object WORD] [--question TEXT] [--tsv]

For each object in guess.toml, each line of bench/guess_checklist.txt is asked in a new
game whose secret is that object, and the box's answer is printed (object, question,
answer; with --tsv also the planner's fallback). Read them: every answer should be a
true, direct yes or no, not "I can't say" and not the answer to another question.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, not another one installed

from appliance.lessons.content import load_content  # noqa: E402
from appliance.lessons.planner import TurnPlanner  # noqa: E402

CHECKLIST = ROOT / "bench" / "guess_checklist.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--object", action="append", default=[], help="only this object's word")
    parser.add_argument("--question", action="append", default=[], help="only questions with it")
    parser.add_argument("--checklist", type=Path, default=CHECKLIST)
    parser.add_argument("--tsv", action="store_true")
    args = parser.parse_args()
    content = load_content("en")
    questions = [q.strip() for q in args.checklist.read_text().splitlines() if q.strip()]
    if args.question:
        questions = [q for q in questions if any(s.lower() in q.lower() for s in args.question)]
    for secret in (*content.guess.simple_objects, *content.guess.objects):
        if args.object and secret.word not in args.object:
            continue
        level = "A2" if secret in content.guess.simple_objects else "B1"
        if not args.tsv:
            print(f"=== {secret.name} ({secret.kind}, {level})")
        for question in questions:
            # A new game for every question, its secret this object.
            plan = TurnPlanner(content, "guess", level, seed=1, secret=secret).plan(question)
            if args.tsv:
                print(f"{secret.name}\t{question}\t{plan.reaction}\t{plan.fallback}")
            else:
                print(f"  {question:<60} -> {plan.reaction}")


if __name__ == "__main__":
    main()
