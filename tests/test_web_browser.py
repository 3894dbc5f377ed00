"""The page in a real browser (Debian's Chromium, driven by Playwright), at phone and desktop width.

Screenshots go to ``artifacts/screenshots/`` for people to look at; the test
checks the controls are in the DOM and each file is a PNG of the right width.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright_api
import pytest
from test_web_support import PASSWORD, Running, start_server

from appliance.core.config import load_config
from appliance.core.events import State, StateChanged, TurnFinished

CHROMIUM = os.environ.get("PARLO_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
ATTACK = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


@pytest.fixture(scope="module", autouse=True)
def chromium_is_installed() -> None:
    assert shutil.which(CHROMIUM), f"no Chromium at {CHROMIUM}: apt-get install chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def running(tmp_path, monkeypatch) -> Iterator[Running]:
    running = start_server(tmp_path, monkeypatch)
    yield running
    running.server.stop()


def logged_in_page(browser, running: Running, viewport: dict):
    context = browser.new_context(viewport=viewport, device_scale_factor=1)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    # CSP violations and script errors; a 400 for a deliberately bad form is expected.
    page.on("console", lambda m: errors.append(m.text) if "Refused" in m.text else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{running.url}/")
    assert page.url.endswith("/login")
    page.get_by_label("Password or PIN").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{running.url}/")
    return page, errors


def wait_for_stream(page) -> None:
    """Until this page's EventSource is open (app.js marks ``<html data-live="on">``)."""
    page.wait_for_selector("html[data-live=on]", state="attached")


def screenshot(page, name: str, width: int) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # Written here, not by Playwright, whose file writes leave executor threads behind.
    data = page.screenshot(full_page=True)
    path.write_bytes(data)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    png_width = struct.unpack(">I", data[16:20])[0]
    assert png_width == width, f"{path} is {png_width} px wide"
    print(f"screenshot: {path}")
    return path


def test_a_teacher_on_a_phone_changes_settings_and_watches_a_turn(browser, running) -> None:
    page, console_errors = logged_in_page(browser, running, PHONE)

    # Settings: change the activity and level; role-play fields appear for role play.
    page.get_by_role("link", name="Settings").click()
    character = page.get_by_label("Character")
    page.get_by_label("Activity", exact=True).select_option("story")
    assert not character.is_visible()
    page.get_by_label("Activity", exact=True).select_option("roleplay")
    assert character.is_visible()
    character.fill("a friendly baker")
    page.get_by_label("Class level (CEFR)").select_option("A2")
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_url("**/settings?done=saved")
    assert "next turn" in page.locator(".notice.ok").inner_text()
    config = load_config(running.config_path)
    assert (config.activity.name, config.activity.level) == ("roleplay", "A2")
    assert config.activity.character == "a friendly baker"

    # Bad values: the message sits beside its field and the typed text stays.
    page.get_by_label("Volume (%)").fill("500")
    page.get_by_label("Speaking rate").fill("fast")
    page.get_by_role("button", name="Save settings").click()
    volume_field = page.locator('[data-field="voice.volume"]')
    assert "per cent" in volume_field.locator(".error-text").inner_text()
    assert page.get_by_label("Volume (%)").input_value() == "500"
    assert "expected a number" in page.locator('[data-field="voice.rate"] .error-text').inner_text()
    assert page.get_by_label("Volume (%)").get_attribute("aria-invalid") == "true"
    assert load_config(running.config_path).voice.volume == 1.0
    for control in ("Activity", "Class level (CEFR)", "Voice", "Microphone", "Speaker", "Button"):
        assert page.get_by_label(control, exact=True).count() == 1, control
    screenshot(page, "phone-settings-errors", PHONE["width"])

    # Status: a turn happens on the box; the page follows it live, with no reload.
    page.get_by_role("link", name="Status").click()
    wait_for_stream(page)
    badge = page.locator(".state-card [data-state-badge]")
    running.events.publish(StateChanged(State.LISTENING))
    # Locator waits, not wait_for_function: the page's CSP (rightly) forbids Playwright's eval.
    badge.filter(has_text="Listening").wait_for()
    assert "state-listening" in badge.get_attribute("class")
    running.events.publish(StateChanged(State.THINKING))
    running.events.publish(TurnFinished(ATTACK, "Hello! I sell bread. What would you like?", {}))
    running.events.publish(StateChanged(State.SPEAKING, "answering"))
    page.locator("#reply").filter(has_text="bread").wait_for()
    assert page.locator("#transcript").inner_text() == ATTACK
    assert page.locator("#transcript script, #transcript img").count() == 0
    assert page.evaluate("window.pwned") is None
    badge.filter(has_text="Speaking").wait_for()
    assert "state-speaking" in badge.get_attribute("class")
    nav = page.get_by_role("navigation", name="Pages")
    for control in ("Status", "Settings", "Models", "Tools"):
        assert nav.get_by_role("link", name=control, exact=True).count() == 1
    screenshot(page, "phone-status", PHONE["width"])
    assert console_errors == [], console_errors
    page.context.close()


def test_desktop_pages_render_their_controls(browser, running) -> None:
    running.events.publish(StateChanged(State.IDLE))
    running.events.publish(
        TurnFinished("I like football.", "Football is fun! Who is your favourite player?", {})
    )
    page, console_errors = logged_in_page(browser, running, DESKTOP)
    assert page.locator("#transcript").inner_text() == "I like football."
    assert page.get_by_role("heading", name="Health").count() == 1
    screenshot(page, "desktop-status", DESKTOP["width"])

    page.get_by_role("link", name="Settings").click()
    assert page.get_by_role("button", name="Save settings").is_visible()
    assert page.get_by_label("Extra words to block").count() == 1
    screenshot(page, "desktop-settings", DESKTOP["width"])

    page.get_by_role("link", name="Tools").click()
    page.get_by_role("button", name="Speak it").click()
    page.wait_for_url("**/tools?done=said")
    assert running.said and "speaker works" in running.said[0]
    assert page.locator("pre.log").count() == 1
    screenshot(page, "desktop-tools", DESKTOP["width"])

    page.get_by_role("link", name="Models").click()
    assert page.get_by_label("The pack's folder").count() == 1
    screenshot(page, "desktop-models", DESKTOP["width"])
    assert console_errors == [], console_errors
    page.context.close()


def test_settings_work_with_javascript_off(browser, running) -> None:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{running.url}/login")
    page.get_by_label("Password or PIN").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{running.url}/settings")
    page.get_by_label("Class level (CEFR)").select_option("C1")
    page.get_by_label("Use the word filter").uncheck()
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_url("**/settings?done=saved")
    config = load_config(running.config_path)
    assert config.activity.level == "C1" and not config.filter.enabled
    screenshot(page, "phone-settings-no-js", PHONE["width"])
    context.close()


@pytest.fixture
def lesson_box(tmp_path, monkeypatch) -> Iterator[tuple[Running, list[str]]]:
    """A page with the daemon's lesson recorder and power switch behind it."""
    from appliance.core.config import Config, save_config
    from appliance.lessons.recorder import LessonRecorder
    from appliance.lessons.store import LessonStore

    home = tmp_path / "home"
    config_file = home / "config.toml"
    start = time.time() - 3600
    now = [start]  # the recorder's clock: an hour ago while the past lesson is played
    recorder = LessonRecorder(
        LessonStore(home / "lessons"),
        config=lambda: load_config(config_file),
        clock=lambda: now[0] if now else time.time(),
    )
    powered: list[str] = []
    running = start_server(tmp_path, monkeypatch, lessons=recorder, power=powered.append)
    save_config(
        Config().with_changes({"lessons.target_words": ["bread", "cake", "milk"]}), config_file
    )
    running.events.subscribe(recorder.on_event)
    # A past lesson (an hour ago, twelve turns) for the charts.
    recorder.start(start)
    for n in range(12):
        running.events.publish(
            TurnFinished(
                "I would like some bread and milk please" if n % 3 else "Cake!",
                "Here you are.",
                {},
                at=start + 60 + n * 40,
                student_seconds=1.0 + (n * 7) % 5,
                box_seconds=2.0 + (n * 3) % 4,
                activity="roleplay",
                level="A2",
                heard=n != 5,
                filtered=n == 8,
            )
        )
        now[0] = start + 60 + n * 40
    recorder.end(start + 1200)
    now.clear()  # from here on, the clock is the real one
    yield running, powered
    running.server.stop()
    recorder.close()


def test_the_lessons_page_follows_a_lesson_live_at_both_widths(browser, lesson_box) -> None:
    running, powered = lesson_box
    page, console_errors = logged_in_page(browser, running, PHONE)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Lessons").click()
    page.wait_for_url("**/lessons")
    assert page.get_by_role("button", name="Start a lesson").is_visible()
    assert page.get_by_label("Words or short phrases", exact=False).input_value() == (
        "bread\ncake\nmilk"
    )
    past = page.locator("article.lesson")
    assert past.count() == 1
    assert past.locator('[data-lesson-figure="turns"]').inner_text() == "11"
    assert past.locator('[data-lesson-figure="targets"]').inner_text() == "3 of 3"
    chart = past.locator("img.chart")
    chart.scroll_into_view_if_needed()
    assert chart.bounding_box()["width"] > 300

    # A lesson starts by itself at the next turn; the page follows it with no reload.
    wait_for_stream(page)
    live = page.locator("[data-lesson-live]")
    running.events.publish(
        TurnFinished(
            "Can I have a cake?",
            "Of course!",
            {},
            student_seconds=2.0,
            box_seconds=1.5,
            activity="roleplay",
            level="A2",
        )
    )
    live.locator('[data-lesson-figure="turns"]').filter(has_text="1").wait_for()
    assert live.locator("[data-lesson-running]").is_visible()
    assert live.locator('[data-lesson-figure="targets"]').inner_text() == "1 of 3"
    assert live.locator('[data-lesson-figure="students"]').inner_text() == "2 s"
    assert "cake" not in live.inner_text().lower()
    screenshot(page, "phone-lessons", PHONE["width"])

    # End it (the browser asks first), then Shut down: asked, then done.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End the lesson").click()
    page.wait_for_url("**/lessons?done=ended")
    assert page.locator("article.lesson").count() == 2
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Shut down").click()
    assert powered == [] and page.url.endswith("done=ended")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Shut down").click()
    page.get_by_role("heading", name="Shutting down…").wait_for()
    assert console_errors == [], console_errors
    page.context.close()

    page, console_errors = logged_in_page(browser, running, DESKTOP)
    page.goto(f"{running.url}/lessons")
    assert page.get_by_role("link", name="Download all as CSV").count() == 1
    screenshot(page, "desktop-lessons", DESKTOP["width"])
    assert console_errors == [], console_errors
    page.context.close()
    assert powered == ["poweroff"]


def test_shut_down_asks_on_a_page_with_javascript_off(browser, lesson_box) -> None:
    running, powered = lesson_box
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{running.url}/login")
    page.get_by_label("Password or PIN").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{running.url}/lessons")
    page.get_by_role("button", name="Restart").click()
    page.get_by_role("heading", name="Restart the box?").wait_for()
    assert powered == []
    page.get_by_role("button", name="Yes, restart").click()
    page.get_by_role("heading", name="Restarting…").wait_for()
    context.close()
    deadline = time.monotonic() + 5
    while not powered and time.monotonic() < deadline:
        time.sleep(0.02)
    assert powered == ["reboot"]
