"""The typed config: defaults, TOML round trips, and errors that name the key."""

from __future__ import annotations

import threading

import pytest

from appliance.core.config import Config, ConfigError, load_config, save_config


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"voice": {"volume": "loud"}}, "voice.volume", "from 0.0 to 2.0"),
        ({"voice": {"volume": 3.5}}, "voice.volume", "from 0.0 to 2.0"),
        (
            {"voice": {"volum": 1.0}},
            "voice.volum",
            "allowed: name, rate, slow_rate, volume, threads",
        ),
        ({"nonsense": 1}, "nonsense", "unknown key"),
        ({"activity": {"level": "D1"}}, "activity.level", "A1, A2, B1, B2, C1"),
        ({"activity": {"name": "karaoke"}}, "activity.name", "conversation"),
        ({"stt": {"threads": 1.5}}, "stt.threads", "whole number"),
        ({"stt": {"incremental": "yes"}}, "stt.incremental", "true or false"),
        ({"web": {"port": 0}}, "web.port", "from 1 to 65535"),
        ({"privacy": {"log_transcripts": "yes"}}, "privacy.log_transcripts", "true or false"),
        ({"voice": {"rate": True}}, "voice.rate", "number"),
        ({"web": {"bind": "0.0.0.0"}}, "web.bind", "list of strings"),
        ({"custom_activities": {"quiz": {"opening": "Hi"}}}, "custom_activities.quiz", "prompt"),
        ({"llm": {"backend": "openai"}}, "llm.base_url", "required"),
        ({"language": "english"}, "language", "language code"),
        ({"button": {"long_hold": 5.0, "very_long_hold": 4.0}}, "button.very_long_hold", "longer"),
    ],
)
def test_bad_values_name_their_key(data, key, words):
    with pytest.raises(ConfigError) as caught:
        Config.from_dict(data)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")
    assert words in str(caught.value)


def test_defaults_round_trip_through_toml():
    config = Config()
    assert Config.from_toml(config.to_toml()) == config


def test_a_teachers_file_overrides_only_what_it_says(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[activity]\nname = "roleplay"\nlevel = "A2"\n\n[voice]\nvolume = 0.5\n')
    config = load_config(path)
    assert (config.activity.name, config.activity.level, config.voice.volume) == (
        "roleplay", "A2", 0.5,
    )  # fmt: skip
    assert config.reply == Config().reply


def test_custom_activities_are_written_in_config_with_no_code(tmp_path):
    config = Config().with_changes(
        {
            "custom_activities.weather": {"prompt": "Talk about the weather.", "max_words": 20},
            "activity.name": "weather",
        }
    )
    path = tmp_path / "config.toml"
    save_config(config, path)
    again = load_config(path)
    assert again.activity.name == "weather"
    assert again.custom_activities["weather"].prompt == "Talk about the weather."


def test_invalid_toml_says_so(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[voice\nvolume = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_text_with_quotes_and_newlines_survives_saving(tmp_path):
    tricky = 'a "quoted" \\ back\nslash\tand ünïcode'
    config = Config().with_changes({"activity.character": tricky})
    save_config(config, tmp_path / "c.toml")
    assert load_config(tmp_path / "c.toml").activity.character == tricky


def test_concurrent_saves_leave_a_whole_file(tmp_path):
    path = tmp_path / "config.toml"
    volumes = [round(0.05 * i, 2) for i in range(20)]
    threads = [
        threading.Thread(
            target=save_config, args=(Config().with_changes({"voice.volume": v}), path)
        )
        for v in volumes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert load_config(path).voice.volume in volumes
    assert not [p for p in tmp_path.iterdir() if p.name != "config.toml"], "temp files left"
