"""The Lessons page over HTTP: the records, the chart, the CSV, target words, and power."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator

import pytest
from test_web_support import Running, start_server

from appliance.core.config import Config, load_config
from appliance.core.events import TurnFinished
from appliance.lessons.recorder import LessonRecorder
from appliance.lessons.store import LessonStore
from appliance.lessons.vocabulary import WordLists
from appliance.web.lesson_chart import speaking_chart


@pytest.fixture
def lessons(tmp_path, monkeypatch) -> Iterator[tuple[Running, LessonRecorder, list[str]]]:
    home = tmp_path / "home"
    powered: list[str] = []
    holder: list[LessonRecorder] = []

    def config() -> Config:
        return load_config(home / "config.toml")

    # The recorder reads the page's config file, as the daemon's config follows it.
    recorder = LessonRecorder(LessonStore(home / "lessons"), config=config, background=False)
    holder.append(recorder)
    running = start_server(tmp_path, monkeypatch, lessons=recorder, power=powered.append)
    running.events.subscribe(recorder.on_event)
    yield running, recorder, powered
    running.server.stop()
    recorder.close()


def a_turn(words: str, student: float = 2.0, box: float = 3.0, **fields: object) -> TurnFinished:
    return TurnFinished(
        words, "A reply.", {}, student_seconds=student, box_seconds=box,
        activity="conversation", level="A2", **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_page_needs_a_session(lessons) -> None:
    running, _, powered = lessons
    client = running.client()
    assert client.get("/lessons").status == 303
    for path in ("/lessons/current", "/lessons.csv", "/lessons/chart/000001-20260101T000000.svg"):
        assert client.get(path, accept="*/*").status in (303, 401), path
    for path in ("/lessons/start", "/lessons/end", "/lessons/words", "/power"):
        assert client.post(path, {"action": "poweroff", "confirmed": "yes"}).status == 401, path
    client.login()
    # Logged in, but without the form's token: refused, nothing done.
    assert client.post("/power", {"action": "poweroff", "confirmed": "yes"}).status == 403
    assert client.post("/lessons/start", {}).status == 403
    assert powered == [] and not list((running.home / "lessons").glob("*.json"))


def test_a_lesson_shows_live_and_in_the_export(lessons) -> None:
    running, recorder, _ = lessons
    client = running.client()
    client.login()
    page = client.get("/lessons").body
    assert "No lesson is running" in page and "20 quiet minutes" in page
    assert client.get("/lessons/current", accept="application/json").body == '{"running":false}'

    running.events.publish(a_turn("I like my big red bicycle", student=4.0, box=2.0))
    running.events.publish(a_turn("", student=0.0, box=1.0, heard=False))
    running.events.publish(a_turn("It is fast", student=2.0, box=3.0, filtered=True))
    live = client.get("/lessons/current", accept="application/json")
    assert '"running":true' in live.body
    assert '"turns":"2"' in live.body and '"students":"6 s"' in live.body
    assert '"box":"6 s"' in live.body and '"share":"50%"' in live.body
    page = client.get("/lessons").body
    assert "bicycle" not in page and "bicycle" not in live.body  # counts, never words
    assert 'data-lesson-figure="no-speech">1<' in page
    assert 'data-lesson-figure="filtered">1<' in page

    chart_url = re.search(r'src="(/lessons/chart/[^"]+)"', page)
    assert chart_url
    chart = client.get(chart_url.group(1).replace("&amp;", "&"), accept="image/*")
    assert chart.status == 200 and chart.header("content-type") == "image/svg+xml"
    assert chart.body.count('class="student"') == 2 and chart.body.count('class="box"') == 2
    assert "script" not in chart.body and "style=" not in chart.body
    assert client.get("/lessons/chart/..%2Fconfig.svg", accept="image/*").status == 404
    assert client.get("/lessons/chart/000099-20260101T000000.svg", accept="image/*").status == 404

    csrf = client.csrf("/lessons")
    assert client.post("/lessons/end", {"csrf": csrf}).header("location") == "/lessons?done=ended"
    assert recorder.current() is None
    page = client.get("/lessons").body
    assert 'data-lesson-figure="turns">2<' in page  # now among the past lessons
    export = client.get("/lessons.csv", accept="text/csv")
    assert export.header("content-type").startswith("text/csv")
    assert "attachment" in export.header("content-disposition")
    rows = list(csv.DictReader(io.StringIO(export.body)))
    assert len(rows) == 1
    assert rows[0]["turns"] == "2" and rows[0]["student_seconds"] == "6.0"
    assert rows[0]["box_seconds"] == "6.0" and rows[0]["no_speech_presses"] == "1"
    assert "bicycle" not in export.body


def test_the_teacher_starts_and_ends_a_lesson(lessons) -> None:
    running, recorder, _ = lessons
    client = running.client()
    client.login()
    csrf = client.csrf("/lessons")
    response = client.post("/lessons/start", {"csrf": csrf})
    assert response.status == 303 and response.header("location") == "/lessons?done=started"
    lesson = recorder.current()
    assert lesson is not None and lesson.started_by == "teacher"
    assert "A new lesson has started" in client.get("/lessons?done=started").body
    assert client.post("/lessons/end", {"csrf": csrf}).status == 303
    assert client.post("/lessons/end", {"csrf": csrf}).header("location").endswith("not-running")
    assert [x.id for x in recorder.lessons()] == [lesson.id]


def test_target_words_are_entered_saved_as_lists_and_counted(lessons) -> None:
    running, recorder, _ = lessons
    client = running.client()
    client.login()
    csrf = client.csrf("/lessons")
    response = client.post(
        "/lessons/words", {"csrf": csrf, "words": "apple, banana\nice cream", "save_as": "Food"}
    )
    assert response.status == 303
    assert load_config(running.config_path).lessons.target_words == ("apple", "banana", "ice cream")
    assert WordLists(running.home / "word-lists.json").load() == {
        "Food": ("apple", "banana", "ice cream")
    }
    running.events.publish(a_turn("I want an apple and ice cream"))
    lesson = recorder.current()
    assert lesson is not None and (lesson.target_words_hit, lesson.target_words) == (2, 3)
    assert 'data-lesson-figure="targets">2 of 3<' in client.get("/lessons").body

    # A bad list: the message beside the box, what was typed kept, nothing saved.
    bad = client.post("/lessons/words", {"csrf": csrf, "words": "cat, ???"})
    assert bad.status == 400 and "has no letters" in bad.body and "cat, ???" in bad.body
    assert load_config(running.config_path).lessons.target_words == ("apple", "banana", "ice cream")

    # Another words list, then back to the saved one.
    client.post("/lessons/words", {"csrf": csrf, "words": "dog"})
    assert load_config(running.config_path).lessons.target_words == ("dog",)
    assert client.post("/lessons/words/use", {"csrf": csrf, "name": "Food"}).status == 303
    assert load_config(running.config_path).lessons.target_words[0] == "apple"
    assert client.post("/lessons/words/use", {"csrf": csrf, "name": "Nope"}).status == 400
    assert client.post("/lessons/words/delete", {"csrf": csrf, "name": "Food"}).status == 303
    assert WordLists(running.home / "word-lists.json").load() == {}
    # An empty box clears the words.
    client.post("/lessons/words", {"csrf": csrf, "words": ""})
    assert load_config(running.config_path).lessons.target_words == ()


def test_shut_down_and_restart_ask_first(lessons) -> None:
    running, _, powered = lessons
    client = running.client()
    client.login()
    csrf = client.csrf("/lessons")
    asked = client.post("/power", {"csrf": csrf, "action": "poweroff"})
    assert asked.status == 200 and "Shut the box down?" in asked.body and powered == []
    assert 'name="confirmed" value="yes"' in asked.body
    done = client.post("/power", {"csrf": csrf, "action": "poweroff", "confirmed": "yes"})
    assert done.status == 200 and "Shutting down" in done.body
    deadline = time.monotonic() + 5
    while not powered and time.monotonic() < deadline:
        time.sleep(0.02)
    assert powered == ["poweroff"]
    client.post("/power", {"csrf": csrf, "action": "reboot", "confirmed": "yes"})
    deadline = time.monotonic() + 5
    while len(powered) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert powered == ["poweroff", "reboot"]
    assert client.post("/power", {"csrf": csrf, "action": "format-disk"}).status == 400


def test_without_the_daemon_the_page_reads_the_disk_and_cannot_act(tmp_path, monkeypatch) -> None:
    running = start_server(tmp_path, monkeypatch, standalone=True)
    recorder = LessonRecorder(
        LessonStore(running.home / "lessons"), config=Config, background=False
    )
    recorder.on_event(a_turn("hello there"))
    recorder.end()
    try:
        client = running.client()
        client.login()
        page = client.get("/lessons").body
        assert "Past lessons" in page and 'data-lesson-figure="turns">1<' in page
        assert page.count("disabled") >= 4  # start, end, new, shut down, restart
        csrf = client.csrf("/lessons")
        assert client.post("/lessons/start", {"csrf": csrf}).status == 409
        assert client.post("/power", {"csrf": csrf, "action": "reboot"}).status == 409
    finally:
        running.server.stop()


def test_the_chart_draws_students_up_and_the_box_down() -> None:
    svg = speaking_chart([(4.0, 2.0), (10.0, 0.0), (100.0, 3.0)])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    heights = [float(h) for h in re.findall(r'class="student"[^>]*height="([\d.]+)"', svg)]
    assert heights[0] < heights[1] < heights[2]
    assert "No turns yet" in speaking_chart([])
