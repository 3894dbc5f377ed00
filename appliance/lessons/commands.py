"""``parlo lessons``: the lesson records, as the Lessons page shows them.

::

    parlo lessons            # a table, newest first
    parlo lessons --json     # every lesson, oldest first, with its per-turn speaking times
    parlo lessons --csv      # what the page's export downloads

It reads ``$PARLO_HOME/lessons/`` (the daemon writes the running lesson after each
turn), so it works while the daemon runs or not. Counts and durations only: no words.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from appliance.core.config import load_config
from appliance.core.paths import lessons_dir
from appliance.lessons.records import LessonRecord, lessons_csv
from appliance.lessons.store import LessonStore


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lessons", help="the lessons: who talked how much, target words")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="as JSON, with per-turn speaking times")
    form.add_argument("--csv", action="store_true", help="as CSV, one row per lesson")
    parser.set_defaults(handler=lessons_command)


def read_lessons(now: float | None = None) -> list[LessonRecord]:
    """Every lesson kept, oldest first; a running one idle too long shows as ended."""
    now = time.time() if now is None else now
    try:
        idle = load_config().lessons.idle_minutes * 60.0
    except Exception:  # a broken config file must not hide the lessons
        idle = 20 * 60.0
    return [lesson.settled(now, idle) for lesson in LessonStore(lessons_dir()).load()]


def lessons_command(args: argparse.Namespace) -> int:
    now = time.time()
    lessons = read_lessons(now)
    if args.json:
        rows = [
            lesson.summary(now) | {"turn_seconds": [list(p) for p in lesson.chart_points()]}
            for lesson in lessons
        ]
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        print()
    elif args.csv:
        sys.stdout.write(lessons_csv(lessons, now))
    else:
        print_table(lessons, now)
    return 0


COLUMNS = (
    ("started", 16), ("min", 5), ("turns", 5), ("students", 8), ("box", 7), ("share", 5),
    ("words/turn", 10), ("distinct", 8), ("targets", 7), ("silent", 6), ("filtered", 8),
)  # fmt: skip


def print_table(lessons: list[LessonRecord], now: float) -> None:
    if not lessons:
        print("No lessons yet. One starts at the first turn after a quiet spell.")
        return
    print("  ".join(name.ljust(width) for name, width in COLUMNS) + "  activities")
    for lesson in reversed(lessons):
        share = lesson.student_share
        median = lesson.median_words
        targets = f"{lesson.target_words_hit}/{lesson.target_words}" if lesson.target_words else "-"
        cells = (
            time.strftime("%Y-%m-%d %H:%M", time.localtime(lesson.started)),
            f"{lesson.minutes(now):.0f}" + ("+" if lesson.running else ""),
            str(len(lesson.turns)),
            f"{lesson.student_seconds:.0f} s",
            f"{lesson.box_seconds:.0f} s",
            f"{share:.0%}" if share is not None else "-",
            f"{median:g}" if median is not None else "-",
            str(lesson.distinct_words),
            targets,
            str(lesson.no_speech_presses),
            str(lesson.filtered_replies),
        )
        row = "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True))
        activities = ", ".join(lesson.activities) + (" (running)" if lesson.running else "")
        print(f"{row}  {activities}")
