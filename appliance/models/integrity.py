"""Hashing model files: while copying them in, and when checking them later.

Files are hashed *as they are written*, so what is checked is exactly what was
stored: a stick cannot show one file to the hash and another to the copy.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO

from appliance.core.durable import crash_point, fsync_file
from appliance.models.manifest import Manifest

CHUNK_BYTES = 1024 * 1024

# step label, bytes done, bytes in all (0 if unknown)
ProgressCallback = Callable[[str, int, int], None]


class IntegrityError(ValueError):
    """A file is not what its manifest or catalog says it is."""


def copy_verified(
    source: IO[bytes],
    target: Path,
    *,
    label: str,
    size: int | None,
    sha256: str | None,
    progress: ProgressCallback | None = None,
    step: str = "",
) -> str:
    """Copy ``source`` into a new file ``target``, check it and flush it to disk.

    ``size`` and ``sha256`` are what the file must be (None: not pinned). Reads
    at most one byte past ``size``, so an oversized file costs no disk space.
    Returns the SHA-256 of the copy. Progress is reported as ``step`` (default:
    ``label``). Raises :class:`IntegrityError` naming ``label`` when the copy is
    short, long or different, and leaves the partial target for the caller's
    staging directory to clean up.
    """
    digest = hashlib.sha256()
    written = 0
    step = step or label
    limit = None if size is None else size + 1
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        while True:
            want = CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit - written)
            chunk = source.read(want) if want > 0 else b""
            if not chunk:
                break
            if size is not None and written + len(chunk) > size:
                raise IntegrityError(f"{label} is larger than the {size} bytes declared for it")
            out.write(chunk)
            crash_point()
            digest.update(chunk)
            written += len(chunk)
            if progress is not None:
                progress(step, written, size or 0)
    if size is not None and written < size:
        raise IntegrityError(f"{label} is truncated: {written} of {size} bytes")
    actual = digest.hexdigest()
    if sha256 is not None and actual != sha256:
        raise IntegrityError(
            f"{label} is damaged or not the expected file: sha256 {_mismatch(actual, sha256)}"
        )
    fsync_file(target)
    return actual


def sha256_file(path: Path, progress: ProgressCallback | None = None, label: str = "") -> str:
    """The SHA-256 (hex) of a file's contents."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(label or f"check {path.name}", done, total)
    return digest.hexdigest()


def check_set_files(
    directory: Path, manifest: Manifest, *, rehash: bool, progress: ProgressCallback | None = None
) -> list[str]:
    """Problems with the files of a set in ``directory``, one sentence each; [] if none.

    Sizes and file types are always checked; contents only when ``rehash`` is set,
    since reading a whole set takes seconds on an SD card.
    """
    problems = []
    for model in manifest.models:
        for entry in model.files:
            path = directory / entry.name
            try:
                info = path.lstat()
            except FileNotFoundError:
                problems.append(f"{model.role} file {entry.name} is missing")
                continue
            if not stat.S_ISREG(info.st_mode):
                problems.append(f"{model.role} file {entry.name} is not a regular file")
            elif info.st_size != entry.size:
                problems.append(
                    f"{model.role} file {entry.name} is {info.st_size} bytes, expected {entry.size}"
                )
            elif rehash and (actual := sha256_file(path, progress)) != entry.sha256:
                mismatch = _mismatch(actual, entry.sha256)
                problems.append(f"{model.role} file {entry.name} is damaged: sha256 {mismatch}")
    return problems


def _mismatch(actual: str, expected: str) -> str:
    return f"is {actual[:16]}..., expected {expected[:16]}..."
