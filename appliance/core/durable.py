"""Filesystem steps that survive a power cut.

A model update must leave the store holding either the old set or the new one,
whatever moment the power goes, and a saved setting or password is either the
old file or the new one, never half of each. That takes a few habits, each
wrapped here:

- a file's bytes reach the disk before anything points at it (:func:`fsync_file`);
- a rename or a new directory entry is only durable once its *directory* is
  synced (:func:`fsync_dir`);
- a pointer changes in one step: a symlink is made under a temporary name and
  renamed over the old one (:func:`replace_symlink`), which POSIX makes atomic;
- a small file is replaced the same way (:func:`write_atomically`).

Every step that changes the disk (these, and each chunk a copy writes) is also a
numbered *crash point*. Tests set ``PARLO_TEST_CRASH_AT=N`` and the process kills
itself with SIGKILL right after step N, which is how the power-cut tests walk
through every moment of an update.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

CRASH_ENV = "PARLO_TEST_CRASH_AT"

_steps_taken = 0


def crash_point() -> None:
    """Count one durable step; die here if ``$PARLO_TEST_CRASH_AT`` names it (tests only)."""
    global _steps_taken
    _steps_taken += 1
    if os.environ.get(CRASH_ENV) == str(_steps_taken):
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_file(path: Path) -> None:
    """Flush a file's data to the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    crash_point()


def fsync_dir(path: Path) -> None:
    """Flush a directory, making the renames and new entries inside it durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    crash_point()


def durable_rename(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` (same filesystem) and sync the directories involved."""
    os.rename(source, target)
    crash_point()
    fsync_dir(target.parent)
    if source.parent != target.parent:
        fsync_dir(source.parent)


def replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` in one atomic step, durably.

    The new link is made beside the old one under a temporary name and renamed over
    it: a reader (or a reboot) sees the old target or the new one, never no link.
    """
    temporary = link.with_name(f".{link.name}.new-{os.getpid()}")
    temporary.unlink(missing_ok=True)
    os.symlink(target, temporary)
    crash_point()
    os.replace(temporary, link)
    crash_point()
    fsync_dir(link.parent)


def remove_tree(path: Path) -> None:
    """Delete a directory tree, or a file or symlink, if it exists."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path)
    else:
        return
    crash_point()


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: temp file (0600), fsync, rename, sync the directory.

    A reader sees the old file or the new one; of several writers at once, the last wins whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
