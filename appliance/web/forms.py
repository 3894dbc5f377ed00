"""The settings form: which config keys the page shows, and how typed text becomes config.

Validation is the config's own. Each field's text is turned into the type its
config key wants (a number, a list of words) and handed to
:meth:`Config.with_changes`, so the page's messages are the same ones the CLI
and the log give. Fields are checked one at a time first, so every mistake is
shown beside its own field at once, and then together, for the checks that
span fields.

Only the keys listed in :data:`SETTINGS_FIELDS` can be changed from the page.
Anything else a request carries is ignored: a crafted form cannot move the
page to another port or switch the word filter's allow-list.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.core.config import CEFR_LEVELS, Config, ConfigError
from appliance.lessons.activities import BUILTIN_ACTIVITIES

FORM_ERROR = "_form"  # the key for a mistake that belongs to no single field

MAX_TEXT = 200
MAX_WORDS = 200
MAX_WORD_LENGTH = 40
MAX_PROMPT = 1000
MAX_CUSTOM = 20
CUSTOM_NAME = re.compile(r"[a-z][a-z0-9_]{0,29}")


@dataclass(frozen=True)
class Field:
    """One input on the settings page, bound to one dotted config key.

    ``kind`` says how the text is read: ``text``, ``select``, ``number``,
    ``percent`` (shown 0–100 %, stored 0.0–1.0), ``words`` (one per line) or
    ``switch`` (a checkbox that is sent even when unticked).
    """

    key: str
    label: str
    kind: str
    help: str = ""

    @property
    def input_id(self) -> str:
        return "f-" + self.key.replace(".", "-").replace("_", "-")


SETTINGS_FIELDS: tuple[Field, ...] = (
    Field("activity.name", "Activity", "select"),
    Field("activity.level", "Class level (CEFR)", "select", "Sets the words and sentence length."),
    Field("activity.character", "Character", "text", "Role play: who the box plays."),
    Field("activity.setting", "Setting", "text", "Role play: where the scene happens."),
    Field("reply.length", "Reply length", "select", "Students should do most of the talking."),
    Field("voice.name", "Voice", "select", "Automatic picks the voice for the box's language."),
    Field("voice.rate", "Speaking rate", "number", "1.0 is normal; lower is slower."),
    Field("voice.volume", "Volume", "percent", "100 % is normal; up to 200 %."),
    Field(
        "button.mode",
        "Button",
        "select",
        "Hold: students talk while holding it. Tap: tap once; the box answers after a pause.",
    ),
    Field("audio.input_device", "Microphone", "select"),
    Field("audio.output_device", "Speaker", "select"),
    Field("led.brightness", "Light brightness", "percent"),
    Field("filter.enabled", "Use the word filter", "switch", "Keeps replies classroom-safe."),
    Field(
        "filter.extra_words",
        "Extra words to block",
        "words",
        "One word or phrase per line. Replies never contain them.",
    ),
)
FIELDS_BY_KEY = {field.key: field for field in SETTINGS_FIELDS}

LEVEL_NAMES = {
    "A1": "A1 · beginner",
    "A2": "A2 · elementary",
    "B1": "B1 · intermediate",
    "B2": "B2 · upper intermediate",
    "C1": "C1 · advanced",
}
LENGTH_NAMES = {"short": "Short", "medium": "Medium", "long": "Long"}
BUTTON_NAMES = {"hold": "Hold to talk", "tap": "Tap to talk"}


def field_choices(
    key: str, config: Config, voices: Sequence[str], devices: Sequence[str] | None
) -> list[tuple[str, str]]:
    """The (value, label) pairs of a select field. The current value is always kept."""
    if key == "activity.name":
        pairs = [(name, a.spoken_name or name) for name, a in BUILTIN_ACTIVITIES.items()]
        pairs += [
            (name, f"{name.replace('_', ' ')} (your own)") for name in config.custom_activities
        ]
    elif key == "activity.level":
        pairs = [(level, LEVEL_NAMES.get(level, level)) for level in CEFR_LEVELS]
    elif key == "reply.length":
        pairs = list(LENGTH_NAMES.items())
    elif key == "button.mode":
        pairs = list(BUTTON_NAMES.items())
    elif key == "voice.name":
        pairs = [("", "Automatic")] + [(v, v) for v in voices]
    elif key in ("audio.input_device", "audio.output_device"):
        pairs = [("", "Automatic")] + [(d, d) for d in devices or ()]
    else:
        raise KeyError(key)
    current = str(config_value(config, key))
    if current not in {value for value, _ in pairs}:
        pairs.append((current, f"{current} (not found)"))
    return pairs


def config_value(config: Config, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def display_values(config: Config) -> dict[str, str]:
    """The text each field shows for ``config``."""
    values = {}
    for field in SETTINGS_FIELDS:
        value = config_value(config, field.key)
        if field.kind == "percent":
            values[field.key] = f"{value * 100:g}"
        elif field.kind == "words":
            values[field.key] = "\n".join(value)
        elif field.kind == "switch":
            values[field.key] = "true" if value else "false"
        else:
            values[field.key] = f"{value:g}" if isinstance(value, float) else str(value)
    return values


@dataclass
class SettingsResult:
    """The outcome of a settings form: a valid new config, or errors by field key."""

    config: Config | None
    errors: dict[str, str]
    # What the teacher typed, to show again beside the errors.
    typed: dict[str, str]


def parse_settings(base: Config, form: Mapping[str, Sequence[str]]) -> SettingsResult:
    """Validate the submitted fields against ``base``; only keys present are changed."""
    typed: dict[str, str] = {}
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in SETTINGS_FIELDS:
        submitted = form.get(field.key)
        if not submitted:
            continue
        text = str(submitted[-1])  # a switch sends "false" then, if ticked, "true"
        typed[field.key] = text
        try:
            value = _read(field, text)
            base.with_changes({field.key: value})
        except ConfigError as error:
            errors[field.key] = _message(field, error)
            continue
        changes[field.key] = value
    if errors:
        return SettingsResult(None, errors, typed)
    try:
        return SettingsResult(base.with_changes(changes), {}, typed)
    except ConfigError as error:
        key = error.key if error.key in FIELDS_BY_KEY else FORM_ERROR
        return SettingsResult(
            None, {key: error.message if key != FORM_ERROR else str(error)}, typed
        )


def _read(field: Field, text: str) -> Any:
    """Text from the form to the value the config key wants. Raises ConfigError."""
    if field.kind == "switch":
        if text not in ("true", "false"):
            raise ConfigError(field.key, f"expected on or off, got {text!r}")
        return text == "true"
    if field.kind == "words":
        words = [w.strip() for w in re.split(r"[\n,]", text) if w.strip()]
        if len(words) > MAX_WORDS:
            raise ConfigError(field.key, f"at most {MAX_WORDS} words, got {len(words)}")
        if too_long := [w for w in words if len(w) > MAX_WORD_LENGTH]:
            raise ConfigError(field.key, f"{too_long[0][:20]!r}… is longer than {MAX_WORD_LENGTH}")
        if any(_has_control(w) for w in words):
            raise ConfigError(field.key, "must not contain control characters")
        return words
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise ConfigError(field.key, f"at most {MAX_TEXT} characters, got {len(text)}")
    if _has_control(text):
        raise ConfigError(field.key, "must not contain control characters")
    if field.kind in ("number", "percent"):
        try:
            number = float(text)
        except ValueError:
            return text  # the config names the mistake: "expected a number …, got 'loud'"
        if field.kind == "percent":
            number /= 100
        return int(number) if _config_type(field.key) is int and number.is_integer() else number
    return text


def _has_control(text: str, allowed: str = "") -> bool:
    return any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in text)


def _message(field: Field, error: ConfigError) -> str:
    """The config's message, in the units the field shows."""
    if field.kind != "percent" or error.key != field.key:
        return error.message
    low, high = _config_field(field.key).metadata["range"]
    return f"expected a number from {low * 100:g} to {high * 100:g} (per cent)"


def _config_field(key: str) -> dataclasses.Field:
    owner: Any = Config
    *parents, leaf = key.split(".")
    for part in parents:
        owner = typing.get_type_hints(owner)[part]
    return next(f for f in dataclasses.fields(owner) if f.name == leaf)


def _config_type(key: str) -> Any:
    owner: Any = Config
    for part in key.split("."):
        hint = typing.get_type_hints(owner)[part]
        owner = hint
    return owner


# --- the teacher's own activities ---


@dataclass
class CustomActivityResult:
    config: Config | None
    errors: dict[str, str]
    typed: dict[str, str]


def parse_custom_activity(base: Config, form: Mapping[str, Sequence[str]]) -> CustomActivityResult:
    """Add or replace one custom activity from the small form beside the settings."""
    typed = {
        key: str(form.get(key, [""])[-1]) for key in ("name", "prompt", "opening", "max_words")
    }
    typed["ends_with_question"] = "true" if "true" in form.get("ends_with_question", []) else ""
    errors: dict[str, str] = {}
    name = typed["name"].strip().lower().replace(" ", "_")
    if not CUSTOM_NAME.fullmatch(name):
        errors["name"] = "use 1–30 letters, digits or spaces, starting with a letter"
    elif name in BUILTIN_ACTIVITIES:
        errors["name"] = "that name belongs to a built-in activity"
    elif name not in base.custom_activities and len(base.custom_activities) >= MAX_CUSTOM:
        errors["name"] = f"there can be at most {MAX_CUSTOM} activities of your own"
    prompt = typed["prompt"].strip()
    if not prompt:
        errors["prompt"] = "say what the box should do"
    elif len(prompt) > MAX_PROMPT:
        errors["prompt"] = f"at most {MAX_PROMPT} characters"
    elif _has_control(prompt, allowed="\n\r\t"):
        errors["prompt"] = "must not contain control characters"
    opening = typed["opening"].strip()
    if len(opening) > MAX_TEXT:
        errors["opening"] = f"at most {MAX_TEXT} characters"
    elif _has_control(opening):
        errors["opening"] = "must not contain control characters"
    try:
        max_words: Any = int(typed["max_words"].strip() or "30")
    except ValueError:
        max_words = typed["max_words"]
    if errors:
        return CustomActivityResult(None, errors, typed)
    activity = {
        "prompt": prompt,
        "opening": opening,
        "max_words": max_words,
        "ends_with_question": bool(typed["ends_with_question"]),
    }
    try:
        config = base.with_changes({f"custom_activities.{name}": activity})
    except ConfigError as error:
        field = "max_words" if error.key.endswith("max_words") else "prompt"
        return CustomActivityResult(None, {field: error.message}, typed)
    return CustomActivityResult(config, {}, typed)


def remove_custom_activity(base: Config, name: str) -> Config:
    """``base`` without the custom activity ``name``. Raises ConfigError if it is in use."""
    if name not in base.custom_activities:
        raise ConfigError("custom_activities", f"there is no activity called {name!r}")
    if base.activity.name == name:
        raise ConfigError("custom_activities", "choose another activity before deleting this one")
    data = base.to_dict()
    del data["custom_activities"][name]
    return Config.from_dict(data)
