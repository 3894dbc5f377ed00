"""Installing a model pack from a USB stick (or an upload) without trusting it.

:func:`import_pack` is what ``parlo models import``, the USB unit and the web
page's upload all call::

    result = import_pack(
        Path("/media/stick"), ModelStore(model_store_root()),
        trusted_keys=load_trusted_keys(), allow_unsigned=config.models.allow_unsigned,
        progress=on_progress,
    )

In order, and stopping at the first problem with a message that names it:

1. read ``parlo-models/manifest.toml`` (capped in size) and check it, its
   signature, that it is for this software (``compatible = "parlo-1"``) and not
   older than the set in use (``force`` overrides both);
2. check there is room for it;
3. copy each listed file into a staging directory beside the store, hashing
   the copy as it is written. Only plain files are read: never a symlink, a
   hard link, a pipe or a device, never a path outside the pack; files the
   manifest does not list are never opened;
4. load and run each model that differs from the current set's in a child
   process (:mod:`appliance.models.smoke`), so a model that crashes its engine
   only fails the import;
5. hand the staging directory to :meth:`ModelStore.commit`, which makes it the
   current set atomically and keeps the old one as ``previous``.

Until step 5 the store is untouched; a power cut at any moment leaves the old
set or the new one current, each complete.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from appliance.models.integrity import IntegrityError, ProgressCallback, copy_verified
from appliance.models.manifest import (
    COMPATIBLE,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_NAME,
    Manifest,
    ManifestError,
    check_file_name,
)
from appliance.models.pack import PACK_DIR_NAME
from appliance.models.signing import (
    MAX_SIGNATURE_BYTES,
    NeedsPresence,
    SignatureError,
    TrustedKeys,
    check_signature,
)
from appliance.models.smoke import SmokeTestFailed, smoke_test_in_child
from appliance.models.store import ModelSet, ModelStore, StoreError

SmokeTest = Callable[[str, Path], None]
# (kind, summary) -> whether someone at the box confirmed it; see appliance.core.presence.
ConfirmPresence = Callable[[str, str], bool]
UNSIGNED_PACK = "unsigned-pack"


class ImportRefused(RuntimeError):
    """The pack was not installed; the message says why. The store is unchanged."""


@dataclass(frozen=True)
class ImportResult:
    model_set: ModelSet
    changed: bool
    message: str
    tested_roles: tuple[str, ...] = ()  # the new models that were loaded and run


class PackSource:
    """A pack directory on a stick, read defensively.

    Every file is opened relative to the pack directory's descriptor with
    ``O_NOFOLLOW``, so neither a symlinked file nor a swapped directory leads
    elsewhere, and is refused unless it is a plain file with one link.
    Subclass it to serve files from elsewhere (tests use one that fails mid-read).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            self._dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as error:
            raise ImportRefused(
                f"cannot open the pack directory {directory}: {_why(error)}"
            ) from None

    def __enter__(self) -> PackSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1

    def read_small(self, name: str, limit: int) -> bytes | None:
        """The whole of a small file (the manifest, the signature); None if it is absent."""
        try:
            stream = self.open(name)
        except FileNotFoundError:
            return None
        with stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise ImportRefused(f"{name} is larger than {limit} bytes; that is not a real {name}")
        return data

    def open(self, name: str) -> BinaryIO:
        """Open the plain file ``name`` for reading. Raises :class:`ImportRefused` otherwise."""
        if name not in (MANIFEST_NAME, SIGNATURE_NAME):
            check_file_name(name)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
        try:
            fd = os.open(name, flags, dir_fd=self._dir_fd)
        except FileNotFoundError:
            raise
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise ImportRefused(f"{name} is a symlink; a pack must hold plain files") from None
            raise ImportRefused(f"cannot open {name}: {_why(error)}") from None
        info = os.fstat(fd)
        problem = ""
        if not stat.S_ISREG(info.st_mode):
            problem = f"{name} is not a plain file (it is a {_file_type(info.st_mode)})"
        elif info.st_nlink > 1:
            problem = f"{name} is a hard link ({info.st_nlink} names); a pack must hold plain files"
        if problem:
            os.close(fd)
            raise ImportRefused(problem)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def __str__(self) -> str:
        return str(self.directory)


def find_pack_dir(path: Path) -> Path:
    """The pack directory for ``path``: a stick's mount point or the pack directory itself.

    ``path`` itself may be a symlink (it is the caller's choice); ``parlo-models``
    inside it may not (that would be the stick's choice).
    """
    path = Path(path).resolve()
    nested = path / PACK_DIR_NAME
    if nested.is_symlink():
        raise ImportRefused(f"{nested} is a symlink; a pack must be a real directory")
    if nested.is_dir():
        return nested
    if (path / MANIFEST_NAME).is_file():
        return path
    raise ImportRefused(
        f"no Parlo model pack at {path} (expected {nested}/{MANIFEST_NAME}; "
        "make one with `parlo models pack`)"
    )


def import_pack(
    pack: Path | PackSource,
    store: ModelStore,
    *,
    trusted_keys: TrustedKeys,
    allow_unsigned: str,
    force: bool = False,
    progress: ProgressCallback | None = None,
    smoke_test: SmokeTest | None = smoke_test_in_child,
    confirm_presence: ConfirmPresence | None = None,
) -> ImportResult:
    """Check, copy, test and install a pack; see the module doc.

    ``pack`` is a path (a mount point or pack directory) or an open :class:`PackSource`.
    ``smoke_test=None`` skips loading the models (for tests of the checks alone).
    A pack no trusted key signed, under ``allow_unsigned = "until-key-installed"``
    with no key installed, goes ahead only if ``confirm_presence`` (a hold of the
    button at the box) says so; without one it is refused.
    Raises :class:`ImportRefused` (or :class:`StoreError` if the store is busy).
    """
    options = (trusted_keys, allow_unsigned, force, progress, smoke_test, confirm_presence)
    if isinstance(pack, PackSource):
        return _import(pack, store, *options)
    with PackSource(find_pack_dir(pack)) as source:
        return _import(source, store, *options)


def _import(
    source: PackSource,
    store: ModelStore,
    trusted_keys: TrustedKeys,
    allow_unsigned: str,
    force: bool,
    progress: ProgressCallback | None,
    smoke_test: SmokeTest | None,
    confirm_presence: ConfirmPresence | None,
) -> ImportResult:
    manifest_bytes = source.read_small(MANIFEST_NAME, MAX_MANIFEST_BYTES)
    if manifest_bytes is None:
        raise ImportRefused(f"{source} has no {MANIFEST_NAME}")
    try:
        manifest = Manifest.from_toml(manifest_bytes, f"{source}/{MANIFEST_NAME}")
        signature = source.read_small(SIGNATURE_NAME, MAX_SIGNATURE_BYTES)
        trust = check_signature(manifest_bytes, signature, trusted_keys, allow_unsigned)
    except NeedsPresence as error:
        trust = _confirmed_at_box(manifest, str(error), confirm_presence)
    except (ManifestError, SignatureError) as error:
        raise ImportRefused(str(error)) from None
    with store.lock():
        current = store.usable_current()
        same_content = _same_content_as(manifest)
        if not force and current is not None and same_content(current.manifest):
            return ImportResult(
                current,
                False,
                f"{manifest.name} {manifest.version} is already in use; nothing to do",
            )
        _check_wanted(manifest, current, force)
        installed = None if force else store.find(same_content)
        if installed is not None:
            store.switch(installed)
            return ImportResult(installed, True, f"switched to {installed}, already installed")
        try:
            store.check_free_space(manifest.total_size, f"the pack {manifest.name}")
        except StoreError as error:
            raise ImportRefused(str(error)) from None
        with store.staging() as staging:
            _copy_files(source, manifest, staging, progress)
            tested = _try_new_models(manifest, current, staging, smoke_test, progress)
            try:
                model_set = store.commit(staging, manifest_bytes, signature)
            except OSError as error:
                raise ImportRefused(f"could not install the pack: {_why(error)}") from None
    return ImportResult(
        model_set, True, f"installed {model_set} ({trust}); it is now in use", tested
    )


def _confirmed_at_box(
    manifest: Manifest, why: str, confirm_presence: ConfirmPresence | None
) -> str:
    summary = (
        f"A model pack that is not signed, {manifest.name} {manifest.version}, "
        "wants to be installed."
    )
    if confirm_presence is None:
        raise ImportRefused(
            f"{why}; nobody can confirm it here (sign the pack, or run "
            "`parlo models import --allow-unsigned` at the box's shell)"
        )
    if not confirm_presence(UNSIGNED_PACK, summary):
        raise ImportRefused(f"{why}, and nobody held the button at the box in time")
    return "not signed by a trusted key; accepted: confirmed by a hold at the box"


def _same_content_as(manifest: Manifest) -> Callable[[Manifest], bool]:
    def same(installed: Manifest) -> bool:
        return (installed.name, installed.version, installed.content_id()) == (
            manifest.name,
            manifest.version,
            manifest.content_id(),
        )

    return same


def _check_wanted(manifest: Manifest, current: ModelSet | None, force: bool) -> None:
    if force:
        return
    if manifest.compatible != COMPATIBLE:
        raise ImportRefused(
            f"the pack is for {manifest.compatible!r}, this software reads {COMPATIBLE!r} "
            "(--force installs it anyway)"
        )
    if current is None or current.name != manifest.name:
        return
    if manifest.version_key < current.manifest.version_key:
        raise ImportRefused(
            f"the pack holds {manifest.name} {manifest.version}, older than the "
            f"{current.version} in use (--force installs it anyway)"
        )
    if manifest.version_key == current.manifest.version_key:
        raise ImportRefused(
            f"the pack holds {manifest.name} {manifest.version} with different files from the "
            f"{manifest.version} in use; give the pack a new version (--force installs it anyway)"
        )


def _copy_files(
    source: PackSource, manifest: Manifest, staging: Path, progress: ProgressCallback | None
) -> None:
    for model in manifest.models:
        for entry in model.files:
            label = f"{model.role} file {entry.name}"
            try:
                with source.open(entry.name) as stream:
                    copy_verified(
                        stream,
                        staging / entry.name,
                        label=label,
                        size=entry.size,
                        sha256=entry.sha256,
                        progress=progress,
                        step=f"copy {entry.name}",
                    )
            except FileNotFoundError:
                raise ImportRefused(f"{label} is missing from the pack") from None
            except IntegrityError as error:
                raise ImportRefused(str(error)) from None
            except OSError as error:
                raise ImportRefused(f"could not copy {label}: {_why(error)}") from None


def _try_new_models(
    manifest: Manifest,
    current: ModelSet | None,
    staging: Path,
    smoke_test: SmokeTest | None,
    progress: ProgressCallback | None,
) -> tuple[str, ...]:
    """Smoke-test each model that is not byte for byte one in use; return their roles."""
    in_use = {(model.role, model.files) for model in current.manifest.models} if current else set()
    new_models = [model for model in manifest.models if (model.role, model.files) not in in_use]
    if smoke_test is None:
        return ()
    for model in new_models:
        if progress is not None:
            progress(f"try the new {model.role} model {model.main_file.name}", 0, 0)
        try:
            smoke_test(model.role, staging / model.main_file.name)
        except SmokeTestFailed as error:
            raise ImportRefused(f"{error}; the models in use are unchanged") from None
    return tuple(dict.fromkeys(model.role for model in new_models))  # each voice is a "tts"


def _why(error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return "the disk is full"
    return error.strerror or str(error)


def _file_type(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "directory",
        stat.S_ISFIFO: "named pipe",
        stat.S_ISCHR: "character device",
        stat.S_ISBLK: "block device",
        stat.S_ISSOCK: "socket",
        stat.S_ISLNK: "symlink",
    }
    return next((kind for test, kind in kinds.items() if test(mode)), "special file")
