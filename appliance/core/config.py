"""One typed config for everything a teacher or technician can change.

The config is a tree of frozen dataclasses with built-in defaults. A TOML file
(``$PARLO_HOME/config.toml``, see :mod:`appliance.core.paths`) overrides any of them::

    language = "en"

    [activity]
    name = "roleplay"
    level = "A2"
    character = "a shopkeeper in a bakery"

    [voice]
    volume = 0.8

Every value is checked when it is read. A mistake names the key and what is
allowed, so the CLI, the daemon's log and the web page can all say exactly what
is wrong::

    >>> Config.from_dict({"voice": {"volume": "loud"}})
    Traceback (most recent call last):
    ConfigError: voice.volume: expected a number from 0.0 to 2.0, got 'loud'

Constraints live beside each field, in ``field(metadata=...)``:
``choices`` (a tuple of allowed values) or ``range`` (inclusive ``(low, high)``).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from appliance.core.durable import write_atomically
from appliance.core.paths import config_path

CEFR_LEVELS = ("A1", "A2", "B1", "B2", "C1")
# The activities the box knows without a teacher's prompt (their content is language data).
BUILTIN_ACTIVITY_NAMES = ("conversation", "roleplay", "improv", "story", "interview", "guess")


class ConfigError(ValueError):
    """A config value is wrong. ``key`` is its dotted path, e.g. ``voice.volume``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


def choice(default: Any, *choices: Any) -> Any:
    return field(default=default, metadata={"choices": choices})


def between(default: float, low: float, high: float) -> Any:
    return field(default=default, metadata={"range": (low, high)})


@dataclass(frozen=True)
class ActivitySettings:
    name: str = "conversation"
    level: str = choice("B1", *CEFR_LEVELS)
    # For a role-play: who the box plays, and where.
    character: str = "Santa Claus"
    setting: str = "a busy toy workshop at the North Pole"


@dataclass(frozen=True)
class CustomActivity:
    """A teacher's own activity, written in config with no code."""

    prompt: str
    opening: str = ""
    max_words: int = between(30, 5, 120)
    ends_with_question: bool = False


@dataclass(frozen=True)
class ReplySettings:
    length: str = choice("short", "short", "medium", "long")
    # Hard limits, whatever the length says: a turn never runs away.
    max_tokens: int = between(80, 8, 512)
    max_seconds: float = between(8.0, 1.0, 60.0)


@dataclass(frozen=True)
class VoiceSettings:
    # An installed piper voice by name ("" picks the one for `language`).
    name: str = ""
    rate: float = between(1.0, 0.5, 2.0)
    # A reply said again because a student asked "Can you say that again, more slowly?"
    slow_rate: float = between(0.75, 0.5, 1.0)
    volume: float = between(1.0, 0.0, 2.0)
    threads: int = between(1, 1, 16)


@dataclass(frozen=True)
class AudioSettings:
    # Sound devices by a substring of their name: indices change across replugs.
    input_device: str = ""
    output_device: str = ""


@dataclass(frozen=True)
class ButtonSettings:
    mode: str = choice("hold", "hold", "tap")
    backend: str = choice("auto", "auto", "gpio", "evdev", "keyboard")
    pin: str = "GPIO17"
    pull_up: bool = True
    bounce_time: float = between(0.02, 0.0, 0.5)
    long_hold: float = between(3.0, 1.0, 30.0)
    very_long_hold: float = between(10.0, 2.0, 60.0)
    # Held this long (silent, from idle), the box asks for a second hold to switch off.
    shutdown_hold: float = between(30.0, 5.0, 120.0)
    # A reset or a shutdown asked for by one hold needs a second hold within this time.
    confirm_window: float = between(10.0, 2.0, 60.0)
    # Tap mode: this much silence after speech ends the turn.
    tap_silence: float = between(0.8, 0.2, 5.0)
    double_tap: float = between(0.4, 0.1, 1.5)
    # evdev backend: a USB "big button" or foot pedal, by device name and key code.
    evdev_device: str = ""
    evdev_key: str = "KEY_SPACE"


@dataclass(frozen=True)
class LedSettings:
    backend: str = choice("auto", "auto", "gpio", "rgb", "sysfs", "none")
    pin: str = "GPIO18"
    rgb_pins: tuple[str, ...] = ("GPIO22", "GPIO23", "GPIO24")
    sysfs_name: str = "input0::scrolllock"
    brightness: float = between(1.0, 0.05, 1.0)


@dataclass(frozen=True)
class VadSettings:
    threshold: float = between(0.5, 0.1, 0.95)
    min_speech_ms: int = between(200, 50, 2000)
    # Silence kept around speech so words are not clipped.
    pad_ms: int = between(150, 0, 1000)


@dataclass(frozen=True)
class SttSettings:
    threads: int = between(2, 1, 16)
    # Start transcribing after this pause while the button is still held (0: never).
    guess_after_pause: float = between(0.25, 0.0, 2.0)
    # Long turns: keep what was transcribed at each pause, so after release only the
    # last few seconds are left to transcribe (engine/recording.py). Off by default: on
    # long turns of real speech it cost 2.4-4.6 points of WER in three of four tiers and
    # conditions (bench/results/stt_incremental.txt). false: transcribe the whole turn at
    # release, unless the student paused before letting go (the pause guess).
    incremental: bool = False


@dataclass(frozen=True)
class LlmSettings:
    backend: str = choice("local", "local", "openai")
    # One thread: the voice runs beside the LLM, and llama.cpp's threads spin-wait badly
    # when they share 2 cores with it (measured by `parlo bench`).
    threads: int = between(1, 1, 16)
    # The prompts with their examples take about 300 tokens, a reply up to reply.max_tokens.
    context_tokens: int = between(1024, 512, 8192)
    history_turns: int = between(4, 0, 20)
    temperature: float = between(0.6, 0.0, 2.0)
    # An OpenAI-compatible server on the LAN, used when backend = "openai".
    base_url: str = ""
    model: str = ""
    timeout_seconds: float = between(4.0, 0.5, 60.0)
    # How much the code plans each turn of a built-in activity (docs/lessons.md): "auto"
    # takes the model set's own ("plan" for the tiny default), "plan" has the code write
    # every reply, "free" lets the model write them (a strong model on the LAN).
    planning: str = choice("auto", "auto", "plan", "free")


@dataclass(frozen=True)
class FilterSettings:
    enabled: bool = True
    extra_words: tuple[str, ...] = ()
    allowed_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrivacySettings:
    # Off by default: nothing a student says is written to disk.
    log_transcripts: bool = False


@dataclass(frozen=True)
class LessonSettings:
    # A lesson starts at the first turn after this many minutes with none, and ends
    # after as many with none (or when the teacher starts or ends it on the page).
    idle_minutes: int = between(20, 1, 480)
    # The lesson's target words (or short phrases), set on the Lessons page: a lesson
    # counts how many of them students said (the count only, never which).
    target_words: tuple[str, ...] = ()


MAX_TARGET_WORDS = 100
MAX_TARGET_WORD_CHARS = 40


@dataclass(frozen=True)
class WebSettings:
    enabled: bool = True
    port: int = between(8080, 1, 65535)
    bind: tuple[str, ...] = ("0.0.0.0",)
    session_hours: float = between(12.0, 0.1, 720.0)


@dataclass(frozen=True)
class ModelSettings:
    # Accept unsigned packs from USB; once a key is installed, only signed ones are accepted.
    allow_unsigned: str = choice("until-key-installed", "until-key-installed", "always", "never")


@dataclass(frozen=True)
class Config:
    language: str = "en"
    activity: ActivitySettings = ActivitySettings()
    custom_activities: dict[str, CustomActivity] = field(default_factory=dict)
    reply: ReplySettings = ReplySettings()
    voice: VoiceSettings = VoiceSettings()
    audio: AudioSettings = AudioSettings()
    button: ButtonSettings = ButtonSettings()
    led: LedSettings = LedSettings()
    vad: VadSettings = VadSettings()
    stt: SttSettings = SttSettings()
    llm: LlmSettings = LlmSettings()
    filter: FilterSettings = FilterSettings()
    privacy: PrivacySettings = PrivacySettings()
    lessons: LessonSettings = LessonSettings()
    web: WebSettings = WebSettings()
    models: ModelSettings = ModelSettings()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        config = _build(cls, data, "")
        config.check()
        return config

    @classmethod
    def from_toml(cls, text: str, source: str = "config") -> Self:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError("", f"{source} is not valid TOML: {error}") from None
        return cls.from_dict(data)

    def check(self) -> None:
        """Checks that span fields: the names an activity may have."""
        known = set(BUILTIN_ACTIVITY_NAMES) | set(self.custom_activities)
        if self.activity.name not in known:
            raise ConfigError(
                "activity.name",
                f"unknown activity {self.activity.name!r} (allowed: {', '.join(sorted(known))})",
            )
        if not self.language.isalpha() or not 2 <= len(self.language) <= 3:
            raise ConfigError(
                "language", f"expected a language code like 'en', got {self.language!r}"
            )
        if self.button.very_long_hold <= self.button.long_hold:
            raise ConfigError("button.very_long_hold", "must be longer than button.long_hold")
        if self.button.shutdown_hold <= self.button.very_long_hold:
            raise ConfigError("button.shutdown_hold", "must be longer than button.very_long_hold")
        if self.llm.backend == "openai" and not self.llm.base_url:
            raise ConfigError("llm.base_url", "is required when llm.backend is 'openai'")
        _check_target_words(self.lessons.target_words)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return _to_toml(self.to_dict())

    def with_changes(self, changes: dict[str, Any]) -> Config:
        """A copy with dotted keys changed, validated: ``{"activity.level": "A2"}``."""
        data = self.to_dict()
        for dotted, value in changes.items():
            *parents, leaf = dotted.split(".")
            table = data
            for part in parents:
                if not isinstance(table.get(part), dict):
                    raise ConfigError(dotted, "unknown key")
                table = table[part]
            if leaf not in table and parents != ["custom_activities"]:
                raise ConfigError(dotted, "unknown key")
            table[leaf] = value
        return Config.from_dict(data)


def _check_target_words(words: tuple[str, ...]) -> None:
    if len(words) > MAX_TARGET_WORDS:
        raise ConfigError(
            "lessons.target_words", f"at most {MAX_TARGET_WORDS} words, got {len(words)}"
        )
    for word in words:
        if (
            not word.strip()
            or len(word) > MAX_TARGET_WORD_CHARS
            or not any(c.isalnum() for c in word)
        ):
            raise ConfigError(
                "lessons.target_words",
                f"each word needs a letter and at most {MAX_TARGET_WORD_CHARS} characters,"
                f" got {word!r}",
            )


def load_config(path: Path | None = None) -> Config:
    """Read the config file, or the defaults if there is none."""

    path = path or config_path()
    if not path.exists():
        return Config()
    return Config.from_toml(path.read_text(encoding="utf-8"), source=str(path))


def save_config(config: Config, path: Path | None = None) -> None:
    """Write atomically: concurrent saves never leave a broken file; the last one wins whole."""

    write_atomically(path or config_path(), config.to_toml())


# --- reading: dicts from TOML into dataclasses, with messages that name the key ---


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(prefix, f"expected a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            allowed = ", ".join(fields)
            raise ConfigError(_join(prefix, key), f"unknown key (allowed: {allowed})")
    values = {}
    for name, value in data.items():
        values[name] = _value(hints[name], fields[name], value, _join(prefix, name))
    try:
        return cls(**values)
    except TypeError as error:  # a required field (no default) is missing
        missing = [
            name
            for name, spec in fields.items()
            if name not in data
            and spec.default is dataclasses.MISSING
            and spec.default_factory is dataclasses.MISSING
        ]
        raise ConfigError(prefix, f"missing {', '.join(missing)}") from error


def _value(hint: Any, spec: dataclasses.Field, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is dict:
        _, item_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a table, got {value!r}")
        return {name: _build(item_type, item, _join(key, name)) for name, item in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, f"expected a list of strings, got {value!r}")
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        # bool is an int in Python, but `volume = true` is a mistake.
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if hint is int and ok and float(value) != int(value):
            ok = False
        low, high = spec.metadata.get("range", (None, None))
        if not ok or (low is not None and not low <= value <= high):
            kind = "a whole number" if hint is int else "a number"
            bounds = f" from {low} to {high}" if low is not None else ""
            raise ConfigError(key, f"expected {kind}{bounds}, got {value!r}")
        return hint(value)
    if hint is str or isinstance(hint, types.UnionType):
        if not isinstance(value, str):
            raise ConfigError(key, f"expected text, got {value!r}")
        choices = spec.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# --- writing: a small TOML emitter for exactly the shapes above ---


def _to_toml(data: dict[str, Any]) -> str:
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    _emit(data, "", lines, tables)
    while tables:
        name, table = tables.pop(0)
        lines.append(f"\n[{name}]")
        _emit(table, name, lines, tables)
    return "\n".join(lines).lstrip("\n") + "\n"


def _emit(table: dict[str, Any], prefix: str, lines: list[str], tables: list) -> None:
    for key, value in table.items():
        if isinstance(value, dict):
            tables.append((_join(prefix, _toml_key(key)), value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " or c == "\t" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'
