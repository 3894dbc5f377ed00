"""The lesson records on disk: one small JSON file per lesson, the last 200 kept.

``$PARLO_HOME/lessons/`` holds ``<sequence>-<start time>.json`` files. A lesson's
file is replaced whole after each of its turns (temp file, fsync, rename, directory
sync: :func:`~appliance.core.durable.write_atomically`), and a finished lesson's
file is never written again. So a power cut at any moment leaves every earlier
lesson as it was, and the running one as it was after its last turn or the one
before. A temp file left by a cut is ignored and tidied away; a file that cannot be
read (a damaged card) is skipped with a warning, never taken for an empty history.

The sequence number, not the clock, orders the lessons: a box with no clock battery
may boot in the past.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

from appliance.core.durable import fsync_dir, write_atomically
from appliance.lessons.records import LessonRecord

log = logging.getLogger(__name__)

KEEP = 200
_NAME = re.compile(r"^(\d{6,})-(\d{8}T\d{6})\.json$")


def lesson_id(sequence: int, started: float) -> str:
    """A lesson's id and file name: its sequence number and its start (UTC)."""
    return f"{sequence:06d}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(started))}"


def sequence_of(lesson_id: str) -> int:
    return int(lesson_id.split("-", 1)[0])


class LessonStore:
    """The lessons in ``directory``, oldest first; at most ``keep`` of them."""

    def __init__(self, directory: Path, keep: int = KEEP) -> None:
        self.directory = directory
        self.keep = keep

    def load(self) -> list[LessonRecord]:
        """Every readable lesson, oldest first."""
        lessons = []
        for path in self._files():
            try:
                record = LessonRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.warning("skipping the unreadable lesson record %s: %s", path.name, error)
                continue
            if record.id != path.stem:
                log.warning("skipping %s: it holds the record of %s", path.name, record.id)
                continue
            lessons.append(record)
        return lessons

    def save(self, record: LessonRecord) -> None:
        """Write ``record`` (replacing its earlier version) whole; then drop the oldest
        lessons beyond :attr:`keep`."""
        if not _NAME.match(f"{record.id}.json"):
            raise ValueError(f"not a lesson id: {record.id!r}")
        text = json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":"))
        write_atomically(self.directory / f"{record.id}.json", text + "\n")
        self.prune()

    def delete(self, lesson_id: str) -> None:
        path = self.directory / f"{lesson_id}.json"
        if _NAME.match(path.name) and path.exists():
            path.unlink()
            fsync_dir(self.directory)

    def prune(self) -> None:
        """Delete the oldest lessons beyond :attr:`keep`."""
        files = self._files()
        for path in files[: max(0, len(files) - self.keep)]:
            path.unlink(missing_ok=True)
        if len(files) > self.keep:
            fsync_dir(self.directory)

    def tidy(self) -> None:
        """Remove temp files a power cut left behind (only the writer should call this)."""
        if not self.directory.is_dir():
            return
        for path in self.directory.glob(".*.json-*"):
            log.info("removing %s, left by an interrupted write", path.name)
            path.unlink(missing_ok=True)

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        files = [path for path in self.directory.iterdir() if _NAME.match(path.name)]
        return sorted(files, key=lambda path: sequence_of(path.name))
