"""What a lesson's record holds: counts and durations, and words only if the teacher asked.

A :class:`LessonRecord` is one lesson: when it started and ended, the activities and
levels it used, one :class:`TurnRecord` per turn in which a student was heard (how
long the student and the box spoke, how many words the student said), and counts:
presses with no speech, replies the classroom filter changed, distinct words the
students used, target words they hit. None of these is a word. A turn keeps the
student's words and the reply only when ``privacy.log_transcripts`` is on.

Records are immutable; :meth:`LessonRecord.to_dict` and :meth:`LessonRecord.from_dict`
are their JSON form, :meth:`LessonRecord.summary` the flat one that ``parlo lessons
--json``, the CSV export and the page show.
"""

from __future__ import annotations

import csv
import io
import statistics
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

FORMAT = 1


@dataclass(frozen=True)
class TurnRecord:
    """One turn in which a student was heard. ``at`` is seconds since the lesson began."""

    at: float
    student_seconds: float
    box_seconds: float
    words: int
    filtered: bool = False
    activity: str = ""
    level: str = ""
    # Only with privacy.log_transcripts on.
    transcript: str = ""
    reply: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "at": round(self.at, 2),
            "student_seconds": round(self.student_seconds, 2),
            "box_seconds": round(self.box_seconds, 2),
            "words": self.words,
        }
        if self.filtered:
            data["filtered"] = True
        if self.activity:
            data["activity"] = self.activity
        if self.level:
            data["level"] = self.level
        if self.transcript or self.reply:
            data["transcript"], data["reply"] = self.transcript, self.reply
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TurnRecord:
        return cls(
            at=float(data["at"]),
            student_seconds=float(data["student_seconds"]),
            box_seconds=float(data["box_seconds"]),
            words=int(data["words"]),
            filtered=bool(data.get("filtered", False)),
            activity=str(data.get("activity", "")),
            level=str(data.get("level", "")),
            transcript=str(data.get("transcript", "")),
            reply=str(data.get("reply", "")),
        )


@dataclass(frozen=True)
class LessonRecord:
    """One lesson. ``ended`` is None while it runs; ``last_active`` is the wall time of
    its last turn (or its start), from which the idle time is counted."""

    id: str
    started: float
    last_active: float
    ended: float | None = None
    started_by: str = "turn"  # "turn" (the first after a quiet spell) or "teacher"
    activities: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    turns: tuple[TurnRecord, ...] = ()
    no_speech_presses: int = 0
    filtered_replies: int = 0
    distinct_words: int = 0
    target_words: int = 0  # how many target words the lesson had (most at once)
    target_words_hit: int = 0  # how many of them students said
    box_only_seconds: float = 0.0  # the box speaking after a press with no speech

    # --- derived ---

    @property
    def running(self) -> bool:
        return self.ended is None

    @property
    def student_seconds(self) -> float:
        return sum(turn.student_seconds for turn in self.turns)

    @property
    def box_seconds(self) -> float:
        return sum(turn.box_seconds for turn in self.turns) + self.box_only_seconds

    @property
    def student_share(self) -> float | None:
        """The students' part of all the speaking (0–1); None before anyone spoke."""
        total = self.student_seconds + self.box_seconds
        return self.student_seconds / total if total > 0 else None

    @property
    def median_words(self) -> float | None:
        """The median words per student turn; None with no turns."""
        return statistics.median(turn.words for turn in self.turns) if self.turns else None

    def minutes(self, now: float | None = None) -> float:
        end = self.ended if self.ended is not None else (now if now is not None else time.time())
        return max(0.0, end - self.started) / 60

    # --- changes (each returns a new record) ---

    def with_turn(
        self, turn: TurnRecord, at: float, distinct_words: int, target_words: int, hit: int
    ) -> LessonRecord:
        return replace(
            self,
            last_active=max(self.last_active, at),
            turns=(*self.turns, turn),
            activities=_added(self.activities, turn.activity),
            levels=_added(self.levels, turn.level),
            filtered_replies=self.filtered_replies + int(turn.filtered),
            distinct_words=distinct_words,
            target_words=max(self.target_words, target_words),
            target_words_hit=hit,
        )

    def with_press(self, at: float, box_seconds: float, activity: str, level: str) -> LessonRecord:
        """A press in which no speech was heard."""
        return replace(
            self,
            last_active=max(self.last_active, at),
            no_speech_presses=self.no_speech_presses + 1,
            box_only_seconds=self.box_only_seconds + box_seconds,
            activities=_added(self.activities, activity),
            levels=_added(self.levels, level),
        )

    def ended_at(self, at: float) -> LessonRecord:
        return replace(self, ended=max(at, self.started))

    def settled(self, now: float, idle_seconds: float) -> LessonRecord:
        """As it stands at ``now``: a running lesson idle for ``idle_seconds`` has ended
        at its last turn (what a reader sees before the recorder has closed it)."""
        if self.running and now - self.last_active >= idle_seconds:
            return self.ended_at(self.last_active)
        return self

    # --- forms ---

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "started": self.started,
            "last_active": self.last_active,
            "ended": self.ended,
            "started_by": self.started_by,
            "activities": list(self.activities),
            "levels": list(self.levels),
            "no_speech_presses": self.no_speech_presses,
            "filtered_replies": self.filtered_replies,
            "distinct_words": self.distinct_words,
            "target_words": self.target_words,
            "target_words_hit": self.target_words_hit,
            "box_only_seconds": round(self.box_only_seconds, 2),
            "turns": [turn.to_dict() for turn in self.turns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LessonRecord:
        """Raises KeyError, TypeError or ValueError for a record that is not one."""
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown lesson format {data.get('format')!r}")
        ended = data.get("ended")
        return cls(
            id=str(data["id"]),
            started=float(data["started"]),
            last_active=float(data["last_active"]),
            ended=float(ended) if ended is not None else None,
            started_by=str(data.get("started_by", "turn")),
            activities=tuple(str(a) for a in data.get("activities", ())),
            levels=tuple(str(a) for a in data.get("levels", ())),
            turns=tuple(TurnRecord.from_dict(turn) for turn in data.get("turns", ())),
            no_speech_presses=int(data.get("no_speech_presses", 0)),
            filtered_replies=int(data.get("filtered_replies", 0)),
            distinct_words=int(data.get("distinct_words", 0)),
            target_words=int(data.get("target_words", 0)),
            target_words_hit=int(data.get("target_words_hit", 0)),
            box_only_seconds=float(data.get("box_only_seconds", 0.0)),
        )

    def summary(self, now: float | None = None) -> dict[str, Any]:
        """The lesson in one flat table row (the CLI's ``--json``, the CSV, the page)."""
        share = self.student_share
        median = self.median_words
        return {
            "id": self.id,
            "started": iso_time(self.started),
            "ended": iso_time(self.ended) if self.ended is not None else None,
            "running": self.running,
            "minutes": round(self.minutes(now), 1),
            "started_by": self.started_by,
            "activities": list(self.activities),
            "levels": list(self.levels),
            "turns": len(self.turns),
            "student_seconds": round(self.student_seconds, 1),
            "box_seconds": round(self.box_seconds, 1),
            "student_share": round(share, 3) if share is not None else None,
            "median_words_per_turn": median,
            "distinct_words": self.distinct_words,
            "target_words": self.target_words,
            "target_words_hit": self.target_words_hit,
            "no_speech_presses": self.no_speech_presses,
            "filtered_replies": self.filtered_replies,
        }

    def chart_points(self) -> list[tuple[float, float]]:
        """Per turn, (student seconds, box seconds): what the lesson's chart draws."""
        return [(turn.student_seconds, turn.box_seconds) for turn in self.turns]


def _added(values: tuple[str, ...], value: str) -> tuple[str, ...]:
    return values if not value or value in values else (*values, value)


def iso_time(at: float) -> str:
    """A wall time as the box's local ISO 8601, to the second (with its UTC offset)."""
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")


CSV_COLUMNS = (
    "started", "ended", "minutes", "activities", "levels", "turns", "student_seconds",
    "box_seconds", "student_share", "median_words_per_turn", "distinct_words",
    "target_words", "target_words_hit", "no_speech_presses", "filtered_replies", "started_by",
)  # fmt: skip


def lessons_csv(lessons: Iterable[LessonRecord], now: float | None = None) -> str:
    """The lessons as CSV, one row each (lists joined with " "). A cell that a
    spreadsheet would run as a formula is quoted with a leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for lesson in lessons:
        row = lesson.summary(now)
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
