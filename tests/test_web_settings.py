"""The settings form over real HTTP: validation beside each field, custom activities, races."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from test_web_support import Client, Running, start_server

from appliance.core.config import Config, load_config, save_config
from appliance.web import forms


@pytest.fixture
def running(tmp_path, monkeypatch) -> Iterator[Running]:
    running = start_server(tmp_path, monkeypatch)
    yield running
    running.server.stop()


@pytest.fixture
def client(running: Running) -> Client:
    client = running.client()
    assert client.login().status == 303
    return client


def field_error(page: str, key: str) -> str | None:
    """The error text shown inside the field block for ``key``."""
    block = re.search(rf'data-field="{re.escape(key)}">(.*?)</div>', page, re.S)
    assert block, f"no field {key}"
    error = re.search(r'class="error-text"[^>]*>([^<]*)<', block.group(1))
    return error.group(1) if error else None


def test_saving_changes_the_file_and_says_when_it_applies(running: Running, client: Client) -> None:
    saved = client.post(
        "/settings",
        {
            "csrf": client.csrf(),
            "activity.name": "roleplay",
            "activity.level": "A2",
            "activity.character": "a baker",
            "voice.volume": "80",
            "voice.rate": "0.9",
            "led.brightness": "50",
            "audio.input_device": "USB Audio Device",
            "filter.enabled": ["false", "true"],
            "filter.extra_words": "homework\n  exam , test",
        },
    )
    assert saved.status == 303 and saved.header("location") == "/settings?done=saved"
    config = load_config(running.config_path)
    assert config.activity.name == "roleplay" and config.activity.level == "A2"
    assert config.activity.character == "a baker"
    assert config.voice.volume == pytest.approx(0.8) and config.led.brightness == 0.5
    assert config.filter.enabled and config.filter.extra_words == ("homework", "exam", "test")
    assert config.audio.input_device == "USB Audio Device"
    page = client.get("/settings?done=saved").body
    assert "from the next turn" in page
    assert 'value="80"' in page and '<option value="A2" selected>' in page


def test_each_mistake_is_shown_beside_its_field_and_keeps_what_was_typed(
    running: Running, client: Client
) -> None:
    save_config(Config().with_changes({"voice.volume": 0.5}), running.config_path)
    response = client.post(
        "/settings",
        {
            "csrf": client.csrf(),
            "voice.volume": "500",
            "voice.rate": "quick",
            "activity.level": "A2",
            "activity.character": "x" * 250,
        },
    )
    assert response.status == 400
    page = response.body
    assert "per cent" in field_error(page, "voice.volume")
    assert "expected a number from 0.5 to 2.0" in field_error(page, "voice.rate")
    assert "at most 200 characters" in field_error(page, "activity.character")
    assert field_error(page, "activity.level") is None
    assert 'value="500"' in page and 'value="quick"' in page
    assert 'aria-invalid="true"' in page
    assert load_config(running.config_path).voice.volume == 0.5, "nothing saved"


def test_a_crafted_form_cannot_touch_keys_the_page_does_not_show(
    running: Running, client: Client
) -> None:
    client.post(
        "/settings",
        {"csrf": client.csrf(), "web.port": "1", "web.bind": "0.0.0.0", "activity.level": "C1"},
    )
    config = load_config(running.config_path)
    assert config.web == Config().web and config.activity.level == "C1"


def test_custom_activities_can_be_added_chosen_and_deleted(
    running: Running, client: Client
) -> None:
    csrf = client.csrf()
    bad = client.post("/settings/activities", {"csrf": csrf, "name": "story", "prompt": ""})
    assert bad.status == 400
    assert "built-in" in bad.body and "say what the box should do" in bad.body
    added = client.post(
        "/settings/activities",
        {
            "csrf": csrf,
            "name": "Weather report",
            "prompt": "You are a weather reporter.",
            "max_words": "25",
            "ends_with_question": "true",
        },
    )
    assert added.status == 303
    activity = load_config(running.config_path).custom_activities["weather_report"]
    assert activity.max_words == 25 and activity.ends_with_question
    page = client.get("/settings").body
    assert '<option value="weather_report">weather report (your own)</option>' in page
    assert client.post("/settings", {"csrf": csrf, "activity.name": "weather_report"}).status == 303
    in_use = client.post("/settings/activities/delete", {"csrf": csrf, "name": "weather_report"})
    assert in_use.status == 400 and "choose another activity" in in_use.body
    client.post("/settings", {"csrf": csrf, "activity.name": "story"})
    gone = client.post("/settings/activities/delete", {"csrf": csrf, "name": "weather_report"})
    assert gone.status == 303
    assert load_config(running.config_path).custom_activities == {}


def test_devices_come_from_the_daemon_and_a_missing_one_is_marked(
    running: Running, client: Client
) -> None:
    save_config(Config().with_changes({"audio.output_device": "Old Speaker"}), running.config_path)
    page = client.get("/settings").body
    assert '<option value="USB Audio Device">' in page
    assert "Old Speaker (not found)" in page


def test_a_broken_config_file_is_reported_not_overwritten(running: Running, client: Client) -> None:
    running.config_path.write_text("[voice]\nvolume = 'loud'\n")
    page = client.get("/settings").body
    assert "voice.volume" in page and "expected a number" in page
    response = client.post("/settings", {"csrf": client.csrf(), "activity.level": "A1"})
    assert response.status == 400
    assert "'loud'" in running.config_path.read_text()


def test_twenty_tabs_saving_at_once_leave_one_whole_file(running: Running, client: Client) -> None:
    csrf = client.csrf()
    submitted = [
        (level, rate)
        for level, rate in zip(
            ["A1", "A2", "B1", "B2", "C1"] * 4, [0.5 + 0.05 * n for n in range(20)], strict=True
        )
    ]
    statuses: list[int] = []
    start = threading.Barrier(len(submitted))

    def save(level: str, rate: float) -> None:
        tab = Client(running.port)
        tab.cookie = client.cookie
        start.wait()
        fields = {"csrf": csrf, "activity.level": level, "voice.rate": f"{rate:g}"}
        statuses.append(tab.post("/settings", fields).status)

    threads = [threading.Thread(target=save, args=pair) for pair in submitted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [303] * len(submitted)
    config = load_config(running.config_path)  # parses: the file is whole
    assert (config.activity.level, config.voice.rate) in [
        (level, pytest.approx(rate)) for level, rate in submitted
    ]
    leftovers = [
        p.name for p in running.config_path.parent.iterdir() if p.name.startswith(".config")
    ]
    assert leftovers == []


def test_form_reading_keeps_units_and_types() -> None:
    result = forms.parse_settings(Config(), {"voice.volume": ["150"], "led.brightness": ["5"]})
    assert result.config is not None
    assert result.config.voice.volume == 1.5 and result.config.led.brightness == 0.05
    values = forms.display_values(result.config)
    assert values["voice.volume"] == "150" and values["led.brightness"] == "5"
    assert forms.parse_settings(Config(), {"led.brightness": ["1"]}).errors == {
        "led.brightness": "expected a number from 5 to 100 (per cent)"
    }


def test_control_characters_and_floods_are_refused() -> None:
    words = forms.parse_settings(Config(), {"filter.extra_words": ["ok\nbad\x1bword"]})
    assert words.errors == {"filter.extra_words": "must not contain control characters"}
    flood = forms.parse_settings(Config(), {"filter.extra_words": ["w\n" * 300]})
    assert "at most 200 words" in flood.errors["filter.extra_words"]
    prompt = forms.parse_custom_activity(Config(), {"name": ["x"], "prompt": ["a\x00b"]})
    assert prompt.errors == {"prompt": "must not contain control characters"}
    fine = forms.parse_custom_activity(Config(), {"name": ["x"], "prompt": ["line one\nline two"]})
    assert fine.config is not None and fine.config.custom_activities["x"].max_words == 30


def test_on_its_own_the_page_says_what_needs_the_box(tmp_path, monkeypatch) -> None:
    running = start_server(
        tmp_path,
        monkeypatch,
        standalone=True,
        say=None,
        reset_conversation=None,
        list_sound_devices=None,
        health=None,
    )
    try:
        client = running.client()
        client.login()
        assert "running on its own" in client.get("/").body
        assert "Only the running box can list its sound devices" in client.get("/settings").body
        tools = client.get("/tools").body
        assert "disabled" in tools
        said = client.post("/tools/say", {"csrf": client.csrf("/tools"), "text": "hi"})
        assert said.status == 409 and "parlo web" in said.body
        saved = client.post("/settings", {"csrf": client.csrf(), "activity.level": "A1"})
        assert saved.status == 303, "settings still work"
    finally:
        running.server.stop()


def test_the_log_is_shown_escaped(running: Running, client: Client) -> None:
    import logging

    logging.getLogger("appliance.test").warning("odd <b>log</b> line")
    page = client.get("/tools").body
    assert "odd &lt;b&gt;log&lt;/b&gt; line" in page
