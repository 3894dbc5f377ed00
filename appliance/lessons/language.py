"""Per-language data: everything the box says in a language, and the lists it checks with.

A language is a folder named by its code, holding plain text and TOML files::

    data/en/
        lines.toml          the box's own lines: apologies, redirects, follow-ups
        blocked.txt         the classroom filter's words
        common_words.txt    the 3000 commonest words, for the level check
        classroom.toml      how the planner reads a student's turn, and its classroom moves
        conversation.toml   the conversation partner's persona and topic banks
        roleplay.toml       role-play characters: persona, scene steps, items
        interview.toml      the interviewer: persona and question list
        story.toml          story beats
        improv.toml         improv places and scenes
        guess.toml          the guessing game's objects and their facts

The package ships ``en`` (complete) and the box's lines for a few more. A folder
``$PARLO_HOME/languages/<code>/`` adds a language, or replaces any of the
package's files for one, with no code change: a file found there wins over the
package's file of the same name. See ``docs/languages.md`` and ``docs/lessons.md``.

Files are read once per process and checked when they are read: a mistake is a
:class:`LanguageDataError` that names the file and the line.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE_DATA = Path(__file__).parent / "data"


class LanguageDataError(ValueError):
    """A language data file is missing something or holds a wrong value.

    The message names the file and, where it can be found, the line.
    """


def language_roots() -> tuple[Path, ...]:
    """Where language folders are looked for, first match winning: the box's own, then the
    package's. ``$PARLO_LANGUAGES`` (``:``-separated) replaces the box's own folder."""
    if explicit := os.environ.get("PARLO_LANGUAGES"):
        own = [Path(part) for part in explicit.split(":") if part]
    elif home := os.environ.get("PARLO_HOME") or os.environ.get("STATE_DIRECTORY"):
        own = [Path(home.split(":")[0]) / "languages"]
    else:
        own = []
    return (*own, PACKAGE_DATA)


def find_file(language: str, name: str) -> Path | None:
    """``name`` (``"lines.toml"``) for ``language``: the first root that has it, or None."""
    for root in language_roots():
        path = root / language / name
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class TomlFile:
    """A parsed TOML file that can say where a value stands, for error messages."""

    path: Path
    text: str
    data: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> TomlFile:
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            # tomllib's message already says "(at line N, column M)".
            raise LanguageDataError(f"{path}: not valid TOML: {error}") from None
        return cls(path, text, data)

    def line_of(self, *hints: str) -> int | None:
        """The first line holding the last of ``hints`` that is found (a key or a value)."""
        for hint in reversed(hints):
            if not hint:
                continue
            for number, line in enumerate(self.text.splitlines(), start=1):
                if hint in line:
                    return number
        return None

    def error(self, message: str, *hints: str) -> LanguageDataError:
        line = self.line_of(*hints)
        where = f"{self.path}:{line}" if line else str(self.path)
        return LanguageDataError(f"{where}: {message}")


def read_toml(language: str, name: str) -> TomlFile | None:
    """``name`` for ``language`` parsed, or None when no root has it."""
    path = find_file(language, name)
    return TomlFile.read(path) if path else None


# --- checked access to values ---


def text_of(file: TomlFile, table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise file.error(f"{where}.{key}: expected a line of text, got {value!r}", where, key)
    return value.strip()


def texts_of(
    file: TomlFile, table: Mapping[str, Any], key: str, where: str, *, required: bool = True
) -> tuple[str, ...]:
    value = table.get(key, None if required else [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise file.error(f"{where}.{key}: expected a list of lines of text", where, key)
    if required and not value:
        raise file.error(f"{where}.{key}: needs at least one line", where, key)
    return tuple(v.strip() for v in value)


def tables_of(file: TomlFile, table: Mapping[str, Any], key: str, where: str) -> list[dict]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise file.error(f"{where}.{key}: expected a list of tables ([[{key}]])", key)
    return value


# --- the box's own lines ---


@dataclass(frozen=True)
class BoxLines:
    """What the box says in a language outside any activity's content (``lines.toml``)."""

    language: str
    no_reply: str  # the model gave nothing in time
    fallback: str  # a reply that hit the classroom filter
    last_resort: str  # the teacher's list blocks every other line
    care: str  # the student mentioned hurting themselves
    not_caught: str  # speech was heard but no words could be made of it
    redirects: tuple[str, ...]  # a blocked word from the student: a change of topic
    follow_ups: tuple[str, ...]  # added when a reply that should ask a question asks none
    page_at: str  # where the page is: "{places}", "{port}"
    dot: str  # said between an address's numbers
    or_at: str  # said between two addresses
    again: str  # before the address is said a second time
    no_network: str  # no address to give
    page_off: str  # the page is switched off
    shutdown_ask: str  # a 30 s hold: hold again to switch off
    shutting_down: str
    restarting: str
    allowed: str  # a hold at the box allowed "{what}"
    first_pin: str  # the first boot's PIN: "{digits}"


# The lines with no slots and no lists, read as they are.
PLAIN_LINES = (
    "dot", "or_at", "again", "no_network", "page_off", "shutdown_ask", "shutting_down",
    "restarting",
)  # fmt: skip


@cache
def box_lines(language: str) -> BoxLines:
    """The box's lines for ``language``; a language with no ``lines.toml`` speaks English
    lines (the config page then says the language has no lines of its own)."""
    file = read_toml(language, "lines.toml") or read_toml("en", "lines.toml")
    if file is None:
        raise LanguageDataError(f"no lines.toml for {language!r} or 'en' in {language_roots()}")
    table = file.data
    return BoxLines(
        language=language,
        no_reply=text_of(file, table, "no_reply", "lines"),
        fallback=text_of(file, table, "fallback", "lines"),
        last_resort=text_of(file, table, "last_resort", "lines"),
        care=text_of(file, table, "care", "lines"),
        not_caught=text_of(file, table, "not_caught", "lines"),
        redirects=texts_of(file, table, "redirects", "lines"),
        follow_ups=texts_of(file, table, "follow_ups", "lines"),
        page_at=_template(file, table, "page_at", ("places", "port")),
        allowed=_template(file, table, "allowed", ("what",)),
        first_pin=_template(file, table, "first_pin", ("digits",)),
        **{key: text_of(file, table, key, "lines") for key in PLAIN_LINES},
    )


def _template(file: TomlFile, table: Mapping[str, Any], key: str, fields: tuple[str, ...]) -> str:
    """A line with ``{field}`` slots: each of ``fields`` must be there, and nothing else."""
    text = text_of(file, table, key, "lines")
    found = set(re.findall(r"{(\w*)}", text))
    if found != set(fields):
        wanted = ", ".join("{" + name + "}" for name in fields)
        raise file.error(f"lines.{key}: must use exactly {wanted}, not {sorted(found)}", key)
    return text


def read_word_list(path: Path) -> list[tuple[str, str]]:
    """``(word, section)`` pairs from a list file: one a line, ``#`` comments, and
    ``#: section`` lines that start a section. Empty when there is no such file."""
    if not path.is_file():
        return []
    entries, section = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#:"):
            section = line[2:].strip()
        elif line and not line.startswith("#"):
            entries.append((line.lower(), section))
    return entries


@cache
def word_list(language: str, stem: str) -> tuple[tuple[str, str], ...]:
    """:func:`read_word_list` of the language's ``<stem>.txt`` (empty when it has none)."""
    path = find_file(language, f"{stem}.txt")
    return tuple(read_word_list(path)) if path else ()


@cache
def _language_names() -> dict[str, str]:
    path = PACKAGE_DATA / "languages.toml"
    file = TomlFile.read(path)
    names = file.data.get("names")
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise file.error('[names]: expected a table of code = "Name"', "[names]")
    return names


def language_name(code: str) -> str:
    """``"es"`` → ``"Spanish"`` (``data/languages.toml``). A code not listed names itself
    (``"eu"`` → ``"eu"``): the model may still know it, and a wrong name would be worse."""
    return _language_names().get(code.lower(), code)


def fill(text: str, fields: Mapping[str, str]) -> str:
    """``text`` with each ``{field}`` it names replaced. Anything else in braces is left as
    written: a teacher's prompt is not a format string."""
    return re.sub(r"\{(\w+)\}", lambda found: fields.get(found[1], found[0]), text)
