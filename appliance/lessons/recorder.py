"""The lesson recorder: follows the box's events and keeps each lesson's record.

A lesson starts at the first turn after the box has had none for
``lessons.idle_minutes`` (20 by default), or when the teacher starts one on the page.
It ends when the teacher ends it, when the teacher starts another, or once the box
has been idle that long again (it then ends at its last turn). A lesson that started
by itself and never heard a student (a stray press) is not kept.

::

    recorder = LessonRecorder(LessonStore(lessons_dir()), config=lambda: daemon.config)
    unsubscribe = daemon.events.subscribe(recorder.on_event)
    ...
    unsubscribe(); recorder.close()      # at shutdown: the last changes reach the disk

:meth:`on_event` runs in the engine's thread, so it only updates the record in
memory; a writer thread of its own (``lesson-writer``) puts it on disk, and closes a
lesson that has gone idle. The words of a turn are looked at in memory, to count the
distinct words and the target words said; they are stored only when
``privacy.log_transcripts`` is on. After a restart in the middle of a lesson the
lesson goes on, but the words it heard before are forgotten, so a word said again
is counted again as a distinct word (at most the targets, for target words).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from appliance.core.config import Config
from appliance.core.events import Event, TurnFinished
from appliance.lessons.records import LessonRecord, TurnRecord
from appliance.lessons.store import LessonStore, lesson_id, sequence_of
from appliance.lessons.text import words_of
from appliance.lessons.vocabulary import TargetMatcher

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0


class LessonRecorder:
    """The current lesson and the past ones, kept in ``store``.

    ``config`` returns the config in use now (``lessons.idle_minutes``,
    ``lessons.target_words``, ``privacy.log_transcripts``, ``language``). With
    ``background=False`` every change is written before the call returns (tests, tools).
    """

    def __init__(
        self,
        store: LessonStore,
        config: Callable[[], Config],
        *,
        clock: Callable[[], float] = time.time,
        background: bool = True,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self.store = store
        self._config = config
        self._clock = clock
        self._tick_seconds = tick_seconds
        self._lock = threading.Condition()
        self._write_lock = threading.Lock()
        self._pending: dict[str, LessonRecord | None] = {}  # None: delete the file
        self._past: list[LessonRecord] = []
        self._current: LessonRecord | None = None
        self._words: set[str] = set()
        self._targets_seen: set[str] = set()
        self._hit: set[str] = set()
        self._base = (0, 0, 0)  # distinct words, targets, hits counted before a restart
        self._matcher = TargetMatcher(())
        self._stopping = False
        store.tidy()
        loaded = store.load()
        self._sequence = max((sequence_of(record.id) for record in loaded), default=0)
        self._resume(loaded)
        self._writer: threading.Thread | None = None
        if background:
            self._writer = threading.Thread(target=self._write_loop, name="lesson-writer")
            self._writer.daemon = True
            self._writer.start()
        else:
            self._flush()

    # --- what the page and the CLI ask ---

    def current(self) -> LessonRecord | None:
        """The running lesson, if there is one."""
        with self._lock:
            self._end_if_idle(self._clock())
            current = self._current
        self._after_change()
        return current

    def lessons(self) -> list[LessonRecord]:
        """Every lesson kept, newest first (the running one, if any, first of all)."""
        with self._lock:
            self._end_if_idle(self._clock())
            lessons = list(reversed(self._past))
            if self._current is not None:
                lessons.insert(0, self._current)
        self._after_change()
        return lessons

    def lesson(self, lesson_id: str) -> LessonRecord | None:
        return next((lesson for lesson in self.lessons() if lesson.id == lesson_id), None)

    def idle_seconds(self) -> float:
        return self._config().lessons.idle_minutes * 60.0

    # --- what the teacher does ---

    def start(self, at: float | None = None) -> LessonRecord:
        """Start a lesson now (ending the running one)."""
        at = self._clock() if at is None else at
        with self._lock:
            if self._current is not None:
                self._finish(at)
            lesson = self._begin(at, "teacher")
        log.info("lesson %s started on the page", lesson.id)
        self._after_change()
        return lesson

    def end(self, at: float | None = None) -> LessonRecord | None:
        """End the running lesson now. Returns it, or None if none was running."""
        at = self._clock() if at is None else at
        with self._lock:
            self._end_if_idle(at)
            lesson = self._finish(at) if self._current is not None else None
        if lesson is not None:
            log.info("lesson %s ended on the page", lesson.id)
        self._after_change()
        return lesson

    # --- following the box ---

    def on_event(self, event: Event) -> None:
        """An event from the shown stream (subscribe this): quick, never blocks on the disk."""
        if not isinstance(event, TurnFinished):
            return
        config = self._config()
        with self._lock:
            began = event.at - event.student_seconds - event.box_seconds
            self._end_if_idle(began)
            if self._current is None:
                self._begin(began, "turn")
            self._count(event, began, config)
        self._after_change()

    def tick(self) -> None:
        """End a lesson that has been idle too long (the writer calls this every 30 s)."""
        with self._lock:
            self._end_if_idle(self._clock())
        self._after_change()

    def flush(self) -> None:
        """Write what is waiting, now."""
        self._flush()

    def close(self) -> None:
        """Stop the writer, after writing what is waiting. The running lesson stays
        running: a restart goes on with it."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._writer is not None:
            self._writer.join(10)
        self._flush()

    # --- inside (callers hold the lock) ---

    def _resume(self, loaded: list[LessonRecord]) -> None:
        now = self._clock()
        idle = self.idle_seconds()
        for record in loaded:
            if record.running and record is not loaded[-1]:
                self._finished(record.ended_at(record.last_active))  # left open: a crash
            elif record.running and now - record.last_active < idle:
                self._current = record
                self._base = (record.distinct_words, record.target_words, record.target_words_hit)
                log.info("lesson %s goes on after a restart", record.id)
            elif record.running:
                self._finished(record.ended_at(record.last_active))
            else:
                self._past.append(record)
        self._past = self._past[-self.store.keep :]

    def _begin(self, at: float, started_by: str) -> LessonRecord:
        self._sequence += 1
        lesson = LessonRecord(
            id=lesson_id(self._sequence, at), started=at, last_active=at, started_by=started_by
        )
        self._current = lesson
        self._words, self._targets_seen, self._hit = set(), set(), set()
        self._base = (0, 0, 0)
        self._pending[lesson.id] = lesson
        return lesson

    def _count(self, event: TurnFinished, began: float, config: Config) -> None:
        assert self._current is not None
        lesson = self._current
        if not event.heard:
            self._current = lesson.with_press(
                event.at, event.box_seconds, event.activity, event.level
            )
        else:
            words = [word.casefold() for word in words_of(event.transcript)]
            self._words.update(words)
            targets = config.lessons.target_words
            if self._matcher.words != targets or self._matcher.language != config.language:
                self._matcher = TargetMatcher(targets, config.language)
            keys = [word.casefold() for word in targets]
            self._targets_seen.update(keys)
            self._hit.update(keys[index] for index in self._matcher.hits(event.transcript))
            keep_words = config.privacy.log_transcripts
            turn = TurnRecord(
                at=max(0.0, began - lesson.started),
                student_seconds=event.student_seconds,
                box_seconds=event.box_seconds,
                words=len(words),
                filtered=event.filtered,
                activity=event.activity,
                level=event.level,
                transcript=event.transcript if keep_words else "",
                reply=event.reply if keep_words else "",
            )
            distinct, targets_before, hits_before = self._base
            target_count = max(targets_before, len(self._targets_seen))
            self._current = lesson.with_turn(
                turn,
                event.at,
                distinct_words=distinct + len(self._words),
                target_words=target_count,
                hit=min(target_count, hits_before + len(self._hit)),
            )
        self._pending[self._current.id] = self._current

    def _end_if_idle(self, now: float) -> None:
        lesson = self._current
        if lesson is not None and now - lesson.last_active >= self.idle_seconds():
            log.info(
                "lesson %s ended: no turn for %d minutes", lesson.id, self.idle_seconds() // 60
            )
            self._finish(lesson.last_active)

    def _finish(self, at: float) -> LessonRecord:
        assert self._current is not None
        lesson = self._current.ended_at(at)
        self._current = None
        self._words, self._targets_seen, self._hit = set(), set(), set()
        self._finished(lesson)
        return lesson

    def _finished(self, lesson: LessonRecord) -> None:
        if lesson.started_by == "turn" and not lesson.turns:
            self._pending[lesson.id] = None  # a stray press, no lesson: not kept
            return
        self._past.append(lesson)
        del self._past[: max(0, len(self._past) - self.store.keep)]
        self._pending[lesson.id] = lesson

    # --- writing ---

    def _after_change(self) -> None:
        if self._writer is None or self._stopping:  # no writer (any more): write it now
            self._flush()
        else:
            with self._lock:
                if self._pending:
                    self._lock.notify_all()

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                if not self._pending and not self._stopping:
                    self._lock.wait(self._tick_seconds)
                if self._stopping:
                    return
            self._flush()
            self.tick()

    def _flush(self) -> None:
        with self._write_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
            for index, (lesson_id_, record) in enumerate(pending.items()):
                try:
                    if record is None:
                        self.store.delete(lesson_id_)
                    else:
                        self.store.save(record)
                except OSError as error:
                    log.error("could not write lesson %s: %s", lesson_id_, error)
                    with self._lock:  # try again later, unless a newer version is waiting
                        for key, value in list(pending.items())[index:]:
                            self._pending.setdefault(key, value)
                    return
