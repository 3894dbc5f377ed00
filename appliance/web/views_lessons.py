"""The Lessons page: the lesson now (live), the past ones with their charts, the CSV,
the target words, and shutting the box down or restarting it.

The records come from the daemon's :class:`~appliance.lessons.recorder.LessonRecorder`
(``WebContext.lessons``). ``parlo web`` on its own reads them from the disk and cannot
start or end a lesson. Nothing here shows a student's words: the records hold none
unless the teacher turned ``privacy.log_transcripts`` on, and the page shows only counts.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from appliance.core.config import ConfigError
from appliance.core.paths import lessons_dir, word_lists_path
from appliance.lessons.records import LessonRecord, lessons_csv
from appliance.lessons.store import LessonStore
from appliance.lessons.vocabulary import WordListError, WordLists, parse_word_list
from appliance.web.lesson_chart import speaking_chart
from appliance.web.webapp import WebApp, first, read_form, web_of

log = logging.getLogger(__name__)

DONE = {
    "started": "A new lesson has started. It counts from the next turn.",
    "ended": "The lesson has ended. Its report is below.",
    "not-running": "No lesson was running.",
    "words": "The target words are saved. The box counts them from the next turn.",
    "list-saved": "The list is saved. Pick it under Saved lists next time.",
    "list-used": "The saved list is now this lesson's target words.",
    "list-deleted": "The list was deleted.",
}
OFF_STANDALONE = "Needs the running box: this page is running on its own (parlo web)."
OFF_NO_RECORDER = "The lesson recorder is not running."
OFF_NO_POWER = "The box cannot be shut down from here (it is not running under systemd)."
POWER = {
    "poweroff": ("Shut down", "Shut the box down?", "Shutting down", "shut down"),
    "reboot": ("Restart", "Restart the box?", "Restarting", "restart"),
}
_LESSON_ID = re.compile(r"^\d{6,}-\d{8}T\d{6}$")
PAST_SHOWN = 30


@dataclass(frozen=True)
class LessonView:
    """A lesson as the page shows it: text only, already formatted."""

    id: str
    title: str
    running: bool
    figures: tuple[tuple[str, str, str], ...]  # (key, label, value)
    activities: str
    chart_url: str
    chart_alt: str


def lesson_view(lesson: LessonRecord, now: float) -> LessonView:
    share = lesson.student_share
    median = lesson.median_words
    target = (
        f"{lesson.target_words_hit} of {lesson.target_words}" if lesson.target_words else "none set"
    )
    figures = (
        ("turns", "Turns", str(len(lesson.turns))),
        ("students", "Students spoke", _duration(lesson.student_seconds)),
        ("box", "Parlo spoke", _duration(lesson.box_seconds)),
        ("share", "Students' share", f"{share:.0%}" if share is not None else "–"),
        ("median", "Words per student turn (median)", f"{median:g}" if median is not None else "–"),
        ("distinct", "Different words students used", str(lesson.distinct_words)),
        ("targets", "Target words said", target),
        ("no-speech", "Presses with no speech heard", str(lesson.no_speech_presses)),
        ("filtered", "Replies the word filter changed", str(lesson.filtered_replies)),
    )
    activities = ", ".join(lesson.activities) or "–"
    if lesson.levels:
        activities += " · level " + ", ".join(lesson.levels)
    return LessonView(
        id=lesson.id,
        title=_title(lesson, now),
        running=lesson.running,
        figures=figures,
        activities=activities,
        chart_url=f"/lessons/chart/{lesson.id}.svg?turns={len(lesson.turns)}",
        chart_alt=(
            f"Speaking time per turn: students {_duration(lesson.student_seconds)}, "
            f"Parlo {_duration(lesson.box_seconds)}, over {len(lesson.turns)} turns"
        ),
    )


def _title(lesson: LessonRecord, now: float) -> str:
    start = time.localtime(lesson.started)
    day = time.strftime("%a %d %b", start).replace(" 0", " ")
    begun = time.strftime("%H:%M", start)
    if lesson.running:
        return f"{day}, since {begun} ({lesson.minutes(now):.0f} min)"
    assert lesson.ended is not None
    ended = time.strftime("%H:%M", time.localtime(lesson.ended))
    return f"{day}, {begun}–{ended} ({lesson.minutes():.0f} min)"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


# --- where the records come from ---


def _lessons(web: WebApp) -> tuple[LessonRecord | None, list[LessonRecord]]:
    """The running lesson (or None) and the finished ones, newest first."""
    recorder = web.context.lessons
    if recorder is not None:
        lessons = recorder.lessons()
    else:  # parlo web on its own: what the daemon last wrote
        config, _ = web.load_config()
        idle = config.lessons.idle_minutes * 60.0
        now = time.time()
        lessons = [lesson.settled(now, idle) for lesson in reversed(_store().load())]
    current = lessons[0] if lessons and lessons[0].running else None
    return current, [lesson for lesson in lessons if not lesson.running]


def _store() -> LessonStore:
    return LessonStore(lessons_dir())


def _word_lists() -> WordLists:
    return WordLists(word_lists_path())


# --- pages ---


async def lessons_page(
    request: Request,
    status_code: int = 200,
    words_error: str | None = None,
    typed_words: str | None = None,
) -> Response:
    web = web_of(request)
    current, past = await run_in_threadpool(_lessons, web)
    config, problem = web.load_config()
    now = time.time()
    saved = await run_in_threadpool(_word_lists().load)
    return web.render(
        request,
        "lessons.html",
        status_code,
        title="Lessons",
        current=lesson_view(current, now) if current else None,
        past=[lesson_view(lesson, now) for lesson in past[:PAST_SHOWN]],
        past_total=len(past),
        idle_minutes=config.lessons.idle_minutes,
        target_words=config.lessons.target_words,
        words_text=typed_words
        if typed_words is not None
        else "\n".join(config.lessons.target_words),
        words_error=words_error or problem,
        saved_lists=saved,
        can_record=web.context.lessons is not None,
        can_power=web.context.power is not None,
        off_reason=OFF_STANDALONE
        if web.context.standalone
        else "The lesson recorder is not running.",
        power_off_reason=OFF_STANDALONE if web.context.standalone else OFF_NO_POWER,
        done=DONE.get(request.query_params.get("done", "")),
    )


async def current_lesson(request: Request) -> Response:
    """The running lesson as JSON, for the page's live view."""
    web = web_of(request)
    current, _ = await run_in_threadpool(_lessons, web)
    if current is None:
        return JSONResponse({"running": False})
    view = lesson_view(current, time.time())
    return JSONResponse(
        {
            "running": True,
            "id": view.id,
            "title": view.title,
            "figures": {key: value for key, _, value in view.figures},
            "activities": view.activities,
            "chart": view.chart_url,
            "chart_alt": view.chart_alt,
        }
    )


async def lesson_chart(request: Request) -> Response:
    web = web_of(request)
    lesson_id = str(request.path_params["lesson"])
    if not _LESSON_ID.match(lesson_id):
        raise HTTPException(404)
    current, past = await run_in_threadpool(_lessons, web)
    lesson = next((x for x in [current, *past] if x is not None and x.id == lesson_id), None)
    if lesson is None:
        raise HTTPException(404)
    svg = speaking_chart(lesson.chart_points())
    return Response(svg, media_type="image/svg+xml", headers={"cache-control": "no-store"})


async def lessons_export(request: Request) -> Response:
    web = web_of(request)
    current, past = await run_in_threadpool(_lessons, web)
    lessons = [*past[::-1], *([current] if current else [])]  # oldest first, as a sheet reads
    stamp = time.strftime("%Y%m%d")
    return Response(
        lessons_csv(lessons),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="parlo-lessons-{stamp}.csv"'},
    )


# --- actions ---


async def start_lesson(request: Request) -> Response:
    web = web_of(request)
    await read_form(request)
    recorder = web.context.lessons
    if recorder is None:
        raise HTTPException(409, OFF_STANDALONE if web.context.standalone else OFF_NO_RECORDER)
    await run_in_threadpool(recorder.start)
    return RedirectResponse("/lessons?done=started", status_code=303)


async def end_lesson(request: Request) -> Response:
    web = web_of(request)
    await read_form(request)
    recorder = web.context.lessons
    if recorder is None:
        raise HTTPException(409, OFF_STANDALONE if web.context.standalone else OFF_NO_RECORDER)
    ended = await run_in_threadpool(recorder.end)
    return RedirectResponse(f"/lessons?done={'ended' if ended else 'not-running'}", status_code=303)


async def save_words(request: Request) -> Response:
    """The target words from the text box; with a name in ``save_as``, kept as a list too."""
    web = web_of(request)
    form = await read_form(request)
    text = first(form, "words")[:8000]
    name = first(form, "save_as").strip()

    def save() -> str | None:
        try:
            words = parse_word_list(text)
            if name:
                _word_lists().save(name, words)
            _set_target_words(web, words)
        except (WordListError, ConfigError) as error:
            return error.message if isinstance(error, ConfigError) else str(error)
        return None

    if (problem := await run_in_threadpool(save)) is not None:
        return await lessons_page(request, 400, words_error=problem, typed_words=text)
    return RedirectResponse(f"/lessons?done={'list-saved' if name else 'words'}#words", 303)


async def use_word_list(request: Request) -> Response:
    web = web_of(request)
    form = await read_form(request)
    name = first(form, "name")

    def use() -> str | None:
        words = _word_lists().load().get(name)
        if words is None:
            return "There is no saved list of that name."
        try:
            _set_target_words(web, words)
        except ConfigError as error:
            return error.message
        return None

    if (problem := await run_in_threadpool(use)) is not None:
        return await lessons_page(request, 400, words_error=problem)
    return RedirectResponse("/lessons?done=list-used#words", status_code=303)


async def delete_word_list(request: Request) -> Response:
    form = await read_form(request)
    await run_in_threadpool(_word_lists().delete, first(form, "name"))
    return RedirectResponse("/lessons?done=list-deleted#words", status_code=303)


def _set_target_words(web: WebApp, words: tuple[str, ...]) -> None:
    with web.config_lock:
        base, problem = web.load_config()
        if problem:
            raise ConfigError("", problem)
        web.save_config(base.with_changes({"lessons.target_words": list(words)}))


async def power(request: Request) -> Response:
    """Shut down or restart: asks first (a page of its own, so it works without
    JavaScript; ``app.js`` asks in a dialog and sends ``confirmed=yes``)."""
    web = web_of(request)
    form = await read_form(request)
    action = first(form, "action")
    if action not in POWER:
        raise HTTPException(400, "Choose Shut down or Restart.")
    if web.context.power is None:
        raise HTTPException(409, OFF_STANDALONE if web.context.standalone else OFF_NO_POWER)
    button, question, doing, verb = POWER[action]
    if first(form, "confirmed") != "yes":
        return web.render(
            request, "power.html", title=button, action=action, button=button,
            question=question, asked=True,
        )  # fmt: skip
    log.info("the page asked the box to %s", verb)
    # The answer goes out first: the box may be gone a moment later.
    response = web.render(
        request, "power.html", title=doing, action=action, doing=doing, asked=False
    )
    response.background = BackgroundTask(run_in_threadpool, web.context.power, action)
    return response
