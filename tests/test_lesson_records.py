"""Lesson records: when lessons start and end, what they count, and that the disk keeps them.

No models here: the recorder follows ``TurnFinished`` events as the engine publishes
them, on a clock the test moves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from appliance.core.config import Config, ConfigError
from appliance.core.events import EventStream, State, StateChanged, TurnFinished
from appliance.lessons.recorder import LessonRecorder
from appliance.lessons.records import LessonRecord, TurnRecord, lessons_csv
from appliance.lessons.store import LessonStore
from appliance.lessons.vocabulary import (
    TargetMatcher,
    WordListError,
    WordLists,
    parse_word_list,
    recognition_hint,
    target_words,
)

T0 = 1_780_000_000.0
MINUTE = 60.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def turn(
    words: str, at: float, student: float = 2.0, box: float = 3.0, **fields: object
) -> TurnFinished:
    return TurnFinished(
        words, "Nice! Tell me more.", {}, at=at, student_seconds=student, box_seconds=box,
        activity=str(fields.pop("activity", "conversation")), level=str(fields.pop("level", "A2")),
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def recorder_in(
    tmp_path: Path, clock: Clock, config: Config | None = None, **kwargs: object
) -> tuple[LessonRecorder, list[Config]]:
    holder = [config or Config()]
    recorder = LessonRecorder(
        LessonStore(tmp_path / "lessons", **kwargs),  # type: ignore[arg-type]
        config=lambda: holder[0],
        clock=clock,
        background=False,
    )
    return recorder, holder


def test_a_lesson_counts_who_spoke_how_much_and_what_was_said(tmp_path) -> None:
    clock = Clock()
    config = Config().with_changes({"lessons.target_words": ["apple", "ice cream", "banana"]})
    recorder, _ = recorder_in(tmp_path, clock, config)
    events = EventStream()
    events.subscribe(recorder.on_event)
    events.publish(StateChanged(State.LISTENING))
    events.publish(turn("I like apples and ice cream", T0 + 10, student=3.0, box=2.0))
    events.publish(turn("", T0 + 30, student=0.0, box=1.0, heard=False))
    events.publish(turn("Apples are red", T0 + 60, student=2.0, box=4.0, filtered=True))
    events.publish(turn("My name is Sam", T0 + 90, 1.0, 1.0, activity="roleplay", level="B1"))
    clock.now = T0 + 100
    lesson = recorder.current()
    assert lesson is not None and lesson.running
    summary = lesson.summary(clock.now)
    assert summary["turns"] == 3
    assert summary["student_seconds"] == 6.0
    assert summary["box_seconds"] == 8.0  # 2 + 4 + 1, and 1 after the press with no speech
    assert summary["student_share"] == round(6 / 14, 3)
    assert summary["median_words_per_turn"] == 4  # 6, 3, 4 words
    # i like apples and ice cream / are red / my name is sam: 12 distinct (apples twice)
    assert summary["distinct_words"] == 12
    assert (summary["target_words"], summary["target_words_hit"]) == (3, 2)
    assert summary["no_speech_presses"] == 1
    assert summary["filtered_replies"] == 1
    assert summary["activities"] == ["conversation", "roleplay"]
    assert summary["levels"] == ["A2", "B1"]
    assert lesson.chart_points() == [(3.0, 2.0), (2.0, 4.0), (1.0, 1.0)]
    assert [t.at for t in lesson.turns] == [0.0, 49.0, 83.0]  # since the first turn began
    # The same, from the disk: another recorder (a restart) reads it back.
    again, _ = recorder_in(tmp_path, clock, config)
    assert again.current() == lesson


def test_no_student_word_is_stored_unless_the_teacher_asked(tmp_path) -> None:
    clock = Clock()
    recorder, holder = recorder_in(tmp_path, clock)
    recorder.on_event(turn("my hamster Quetzalcoatl sings", T0 + 10))
    stored = "".join(p.read_text() for p in (tmp_path / "lessons").iterdir())
    assert "Quetzalcoatl".lower() not in stored.lower() and "hamster" not in stored
    assert '"words":4' in stored

    holder[0] = Config().with_changes({"privacy.log_transcripts": True})
    recorder.on_event(turn("my hamster Quetzalcoatl sings", T0 + 20))
    stored = "".join(p.read_text() for p in (tmp_path / "lessons").iterdir())
    assert "Quetzalcoatl" in stored  # the check above can see a stored word


def test_a_lesson_starts_after_the_idle_time_and_ends_by_it(tmp_path) -> None:
    clock = Clock()
    config = Config().with_changes({"lessons.idle_minutes": 20})
    recorder, _ = recorder_in(tmp_path, clock, config)
    recorder.on_event(turn("one", T0))
    recorder.on_event(turn("two", T0 + 19 * MINUTE))  # a quiet spell shorter than 20 min
    first = recorder.current()
    assert first is not None and len(first.turns) == 2
    recorder.on_event(turn("three", T0 + 40 * MINUTE))  # 21 min since: a new lesson
    lessons = recorder.lessons()
    assert [len(lesson.turns) for lesson in lessons] == [1, 2]
    assert lessons[1].ended == first.last_active  # ended at its last turn
    assert lessons[0].running and lessons[0].started_by == "turn"
    clock.now = T0 + 61 * MINUTE  # idle again: it ends by itself
    recorder.tick()
    assert recorder.current() is None
    assert all(not lesson.running for lesson in LessonStore(tmp_path / "lessons").load())


def test_the_teacher_starts_and_ends_lessons(tmp_path) -> None:
    clock = Clock()
    recorder, _ = recorder_in(tmp_path, clock)
    recorder.on_event(turn("before", T0))
    clock.now = T0 + 60
    started = recorder.start()
    assert started.started_by == "teacher" and started.started == T0 + 60
    assert recorder.lessons()[1].ended == T0 + 60  # the running one ended at once
    recorder.on_event(turn("during the lesson", T0 + 120))
    clock.now = T0 + 300
    ended = recorder.end()
    assert ended is not None and ended.ended == T0 + 300 and len(ended.turns) == 1
    assert recorder.current() is None and recorder.end() is None
    # A lesson the teacher started is kept even with no turns; a stray press is not.
    recorder.start(T0 + 400)
    recorder.end(T0 + 500)
    recorder.on_event(turn("", T0 + 600, student=0, box=0, heard=False))
    clock.now = T0 + 600 + 21 * MINUTE
    recorder.tick()
    kept = LessonStore(tmp_path / "lessons").load()
    assert [len(lesson.turns) for lesson in kept] == [1, 1, 0]


def test_the_last_200_lessons_are_kept_oldest_dropped_first(tmp_path) -> None:
    clock = Clock()
    recorder, _ = recorder_in(tmp_path, clock, keep=5)
    for n in range(8):
        recorder.start(T0 + n * 100)
        recorder.on_event(turn(f"lesson {n}", T0 + n * 100 + 10))
    recorder.end(T0 + 1000)
    kept = LessonStore(tmp_path / "lessons").load()
    assert len(kept) == 5 == len(recorder.lessons())
    assert [lesson.started for lesson in kept] == [T0 + n * 100 for n in range(3, 8)]
    assert LessonStore(tmp_path / "lessons").keep == 200


def test_a_restart_goes_on_with_the_running_lesson(tmp_path) -> None:
    clock = Clock()
    config = Config().with_changes({"lessons.target_words": ["cat", "dog"]})
    recorder, _ = recorder_in(tmp_path, clock, config)
    recorder.on_event(turn("a cat and a dog", T0))
    recorder.close()
    clock.now = T0 + 5 * MINUTE
    again, _ = recorder_in(tmp_path, clock, config)
    again.on_event(turn("the cat sat", T0 + 6 * MINUTE))
    lesson = again.current()
    assert lesson is not None and len(lesson.turns) == 2
    assert lesson.target_words_hit == 2  # at most the targets, whatever was said again
    # Much later, the lesson that was left running has ended at its last turn.
    clock.now = T0 + 60 * MINUTE
    late, _ = recorder_in(tmp_path, clock, config)
    assert late.current() is None
    assert late.lessons()[0].ended == T0 + 6 * MINUTE


def test_the_writer_thread_writes_and_stops(tmp_path) -> None:
    config = Config()
    recorder = LessonRecorder(LessonStore(tmp_path / "lessons"), config=lambda: config)
    recorder.on_event(turn("hello there", time.time()))
    deadline = time.monotonic() + 5
    while not list((tmp_path / "lessons").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(LessonStore(tmp_path / "lessons").load()) == 1
    recorder.close()
    assert recorder._writer is not None and not recorder._writer.is_alive()
    recorder.on_event(turn("a late turn, after the close", time.time()))  # written at once
    lessons = LessonStore(tmp_path / "lessons").load()
    assert len(lessons) == 1 and len(lessons[0].turns) == 2


def test_an_interrupted_write_or_a_damaged_file_loses_no_other_lesson(tmp_path, caplog) -> None:
    clock = Clock()
    recorder, _ = recorder_in(tmp_path, clock)
    for n in range(3):
        recorder.start(T0 + n * 100)
        recorder.on_event(turn("words", T0 + n * 100 + 10))
    recorder.end(T0 + 500)
    directory = tmp_path / "lessons"
    files = sorted(directory.glob("*.json"))
    # A power cut in the middle of writing: half a temp file beside the records.
    whole = files[-1].read_text()
    (directory / f".{files[-1].name}-k2j3h4").write_text(whole[: len(whole) // 2])
    # And a record the card damaged (a torn sector): skipped, the others still read.
    files[0].write_text(whole[:40])
    store = LessonStore(directory)
    assert [lesson.id for lesson in store.load()] == [files[1].stem, files[2].stem]
    assert "unreadable lesson record" in caplog.text
    again, _ = recorder_in(tmp_path, clock)  # the writer tidies the temp file away
    assert not list(directory.glob(".*"))
    assert len(again.lessons()) == 2


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from appliance.core.config import Config
    from appliance.core.events import TurnFinished
    from appliance.lessons.recorder import LessonRecorder
    from appliance.lessons.store import LessonStore

    recorder = LessonRecorder(LessonStore(Path(sys.argv[1])), config=Config, background=False)
    recorder.start()
    print("ready", flush=True)
    n = 0
    while True:  # the running lesson, rewritten after every turn, until killed
        n += 1
        recorder.on_event(TurnFinished("word " * 50, "reply", {}, student_seconds=1.0,
                                       box_seconds=1.0))
    """
)


def test_killing_the_writer_mid_write_never_loses_an_earlier_lesson(tmp_path) -> None:
    directory = tmp_path / "lessons"
    clock = Clock(time.time() - 3600)
    recorder, _ = recorder_in(tmp_path, clock)
    for n in range(3):  # three finished lessons, an hour ago
        recorder.start(clock.now + n * 60)
        recorder.on_event(turn("earlier lesson", clock.now + n * 60 + 10))
    recorder.end(clock.now + 300)
    earlier = LessonStore(directory).load()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    for attempt in range(6):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(directory)], stdout=subprocess.PIPE, env=env
        )
        assert writer.stdout is not None and writer.stdout.readline().strip() == b"ready"
        time.sleep(0.15 + 0.07 * attempt)  # somewhere in the middle of a write
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        lessons = LessonStore(directory).load()
        assert lessons[:3] == earlier, f"an earlier lesson changed (attempt {attempt})"
        assert len(lessons) == 4 + attempt  # and each killed one is whole, at some turn
        assert lessons[-1].running and lessons[-1].started_by == "teacher"
        for path in directory.glob("0*.json"):
            json.loads(path.read_text())
    assert len(lessons[-1].turns) > 0


def test_csv_and_summary(tmp_path) -> None:
    record = LessonRecord(
        id="000001-20260101T080000",
        started=T0,
        last_active=T0 + 600,
        ended=T0 + 600,
        activities=("=HYPERLINK(1)", "story"),
        levels=("A2",),
        turns=(TurnRecord(0, 2.5, 1.5, 3), TurnRecord(30, 1.0, 1.0, 2)),
        target_words=4,
        target_words_hit=1,
    )
    text = lessons_csv([record])
    header, row = text.strip().split("\r\n")
    assert header.split(",")[:6] == ["started", "ended", "minutes", "activities", "levels", "turns"]
    assert "'=HYPERLINK(1) story" in row  # not a formula in a spreadsheet
    summary = record.summary()
    assert summary["turns"] == 2 and summary["minutes"] == 10.0
    assert summary["student_seconds"] == 3.5 and summary["box_seconds"] == 2.5
    assert summary["median_words_per_turn"] == 2.5
    assert LessonRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_target_words_match_plain_forms_and_phrases() -> None:
    matcher = TargetMatcher(["apple", "ice cream", "run", "study", "like", "hat", "bus"])
    said = {
        "Two apples, please": {"apple"},
        "ICE-CREAM is cold": {"ice cream"},
        "I was running and I liked it": {"run", "like"},
        "She studied; he studies": {"study"},
        "I hated the buses": {"bus"},  # "hated" is not "hat"
        "a card": set(),
    }
    for text, expected in said.items():
        assert {matcher.words[i] for i in matcher.hits(text)} == expected, text
    assert TargetMatcher(["apple"], "fr").hits("apples") == set()  # exact in other languages


def test_word_lists_are_parsed_checked_and_saved(tmp_path) -> None:
    assert parse_word_list("apple, Apple\n  ice   cream ;bus\n\n") == ("apple", "ice cream", "bus")
    for bad in ("---", "x" * 41, ",".join(f"w{n}" for n in range(101))):
        with pytest.raises(WordListError):
            parse_word_list(bad)
    lists = WordLists(tmp_path / "word-lists.json")
    assert lists.load() == {}
    assert lists.save("  Food   words ", ("apple", "bread")) == "Food words"
    lists.save("animals", ("cat",))
    assert list(lists.load()) == ["animals", "Food words"]
    assert lists.delete("animals") and not lists.delete("animals")
    with pytest.raises(WordListError):
        lists.save("", ("x",))
    (tmp_path / "word-lists.json").write_text("{broken")
    assert lists.load() == {}


def test_target_words_in_config_and_their_api() -> None:
    config = Config().with_changes({"lessons.target_words": ["apple", "bus"]})
    assert target_words(config) == ("apple", "bus")
    assert Config.from_toml(config.to_toml()) == config
    assert recognition_hint(target_words(config)) == "apple, bus."
    assert recognition_hint(["word"] * 100, max_chars=20) == "word, word, word."
    assert recognition_hint(()) == ""
    for bad, key in (
        ({"lessons": {"idle_minutes": 0}}, "lessons.idle_minutes"),
        ({"lessons": {"target_words": ["ok", "!!!"]}}, "lessons.target_words"),
        ({"lessons": {"target_words": ["w"] * 101}}, "lessons.target_words"),
    ):
        with pytest.raises(ConfigError) as caught:
            Config.from_dict(bad)
        assert caught.value.key == key


def test_parlo_lessons_prints_the_records(tmp_path, monkeypatch, capsys) -> None:
    from appliance.cli import main

    monkeypatch.setenv("PARLO_HOME", str(tmp_path))
    monkeypatch.delenv("PARLO_CONFIG", raising=False)
    assert main(["lessons"]) == 0
    assert "No lessons yet" in capsys.readouterr().out
    now = time.time()
    config = Config().with_changes({"lessons.target_words": ["bread", "jam"]})
    recorder = LessonRecorder(LessonStore(tmp_path / "lessons"), config=lambda: config,
                              background=False)  # fmt: skip
    recorder.on_event(turn("Bread and butter please", now - 600, student=3.0, box=4.0))
    recorder.on_event(turn("Yes, with jam", now - 500, student=2.0, box=2.5))
    recorder.end(now - 400)
    recorder.on_event(turn("Hello again", now - 30, student=1.5, box=1.0))

    assert main(["lessons", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["turns"] for row in rows] == [2, 1]
    first, running = rows
    assert first["student_seconds"] == 5.0 and first["box_seconds"] == 6.5
    assert first["target_words_hit"] == 2 and first["turn_seconds"] == [[3.0, 4.0], [2.0, 2.5]]
    assert not first["running"] and first["minutes"] == 3.5  # from its first turn's start
    started = datetime.fromisoformat(first["started"]).timestamp()
    assert started == pytest.approx(now - 607, abs=1)
    assert datetime.fromisoformat(first["ended"]).timestamp() == pytest.approx(now - 400, abs=1)
    assert running["running"] and running["ended"] is None
    assert "Bread" not in json.dumps(rows) and "butter" not in json.dumps(rows)

    assert main(["lessons"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("started") and len(table) == 3
    assert "(running)" in table[1] and "2/2" in table[2]

    assert main(["lessons", "--csv"]) == 0
    assert capsys.readouterr().out.count("\r\n") == 3
