"""The model store: installed model sets, and which one is in use.

The store lives at ``$PARLO_HOME/models`` (:func:`appliance.core.paths.model_store_root`)::

    models/
      sets/
        tiny-en-1.0.0-3f2a9c1b0e4d/     one directory per installed set:
          manifest.toml                 what it holds (see appliance.models.manifest)
          silero_vad.onnx ...           and the model files
      current  -> sets/tiny-en-1.0.0-3f2a9c1b0e4d
      previous -> sets/...              the set before, for `parlo models rollback`

The engine only ever asks for the current set, and for the models in it
that serve the configured language::

    store = ModelStore(model_store_root())
    models = store.current()          # None until `parlo models fetch` has run
    models.check_language("es")       # ModelChoiceError if whisper or the LLM lack it
    whisper = WhisperStt(models.file("stt"), language="es")
    voice = PiperTts(models.model_path(models.voice_for("es")))

Updates never touch an installed set. A new set is built in a staging directory
on the same filesystem, flushed to disk, renamed into ``sets/`` and only then
made current by atomically replacing the ``current`` symlink. After a power cut
``current`` names either the old set or the new one, each complete.

An installed set has exactly the layout of a USB pack's ``parlo-models/``
directory, so ``parlo models pack ~/.local/share/parlo/models/current`` works.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from appliance.core.config import ConfigError
from appliance.core.durable import (
    crash_point,
    durable_rename,
    fsync_dir,
    remove_tree,
    replace_symlink,
)
from appliance.models.integrity import ProgressCallback, check_set_files
from appliance.models.manifest import (
    ANY_LANGUAGE,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_NAME,
    Manifest,
    ManifestError,
    ModelEntry,
    base_language,
)

log = logging.getLogger(__name__)

BUSY_MESSAGE = "another model update is running; try again when it has finished"
STAGING_PREFIX = ".staging-"
WORK_PREFIX = ".work-"


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message says why and what to do."""


class ModelChoiceError(ConfigError):
    """The config asks for a language or a voice the model set does not have.

    It is a :class:`~appliance.core.config.ConfigError` because the fix is in the
    config (or a new pack): ``key`` names the setting, ``language`` or ``voice.name``.
    """


# How a teacher would call each role in a sentence.
ROLE_TITLES = {"stt": "speech-to-text model", "llm": "language model"}


@dataclass(frozen=True)
class ModelSet:
    """An installed set of models: a directory holding ``manifest.toml`` and the files."""

    path: Path
    manifest: Manifest

    @classmethod
    def load(cls, path: Path) -> ModelSet:
        """Read the set in ``path``. Raises :class:`StoreError` if its manifest is unusable."""
        manifest_path = path / MANIFEST_NAME
        try:
            with open(manifest_path, "rb") as file:
                data = file.read(MAX_MANIFEST_BYTES + 1)
        except OSError as error:
            raise StoreError(f"model set {path} has no readable {MANIFEST_NAME}: {error}") from None
        try:
            return cls(path, Manifest.from_toml(data, str(manifest_path)))
        except ManifestError as error:
            raise StoreError(str(error)) from None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def languages(self) -> tuple[str, ...]:
        return self.manifest.languages

    @property
    def language(self) -> str:
        """The set's main language (its first)."""
        return self.manifest.languages[0]

    @property
    def size_bytes(self) -> int:
        return self.manifest.total_size

    @property
    def signed(self) -> bool:
        return (self.path / SIGNATURE_NAME).exists()

    def file(self, role: str) -> Path:
        """The file the ``role`` engine opens (``vad``, ``stt``, ``llm``, or the first voice)."""
        return self.files(role)[0]

    def files(self, role: str) -> list[Path]:
        """Every file of the (first) ``role`` model, the one to open first."""
        model = self.manifest.model(role)
        if model is None:
            raise StoreError(f"model set {self.path.name} has no {role!r} model")
        return self.model_files(model)

    def model_path(self, model: ModelEntry) -> Path:
        """The file the engine opens for ``model`` (one of this set's manifest entries)."""
        return self.model_files(model)[0]

    def model_files(self, model: ModelEntry) -> list[Path]:
        """Every file of ``model``, the one to open first; a missing one is a StoreError."""
        paths = [self.path / entry.name for entry in model.files]
        for path in paths:
            if not path.is_file():
                raise StoreError(
                    f"model set {self.path.name} is damaged: its {model.role} file {path.name} is "
                    "missing (run `parlo models verify`, then fetch or import the set again)"
                )
        return paths

    # --- choosing by language ---

    @property
    def voice_names(self) -> tuple[str, ...]:
        """The names ``voice.name`` may take: each voice's file stem, in manifest order."""
        return tuple(voice.voice_name for voice in self.manifest.voices)

    def spoken_languages(self) -> tuple[str, ...]:
        """The languages this set can hold a whole conversation in: whisper, the LLM and a
        voice all serve them. Codes as config writes them (``pt``, not ``pt-BR``)."""
        declared = [*self.manifest.languages]
        for model in self.manifest.models:
            declared += model.languages
        candidates = dict.fromkeys(base_language(code) for code in declared if code != ANY_LANGUAGE)
        return tuple(code for code in candidates if not self._missing_for(code))

    def check_language(self, language: str, voice_name: str = "") -> None:
        """Raise :class:`ModelChoiceError` unless whisper, the LLM and a voice serve ``language``.

        With ``voice_name`` (the config's ``voice.name``) that voice is checked
        instead of looking for one in the language: a teacher may choose any voice.
        The message is one sentence a teacher can act on: what is missing, which
        languages the set does speak, and what to change.
        """
        missing = self._missing_for(language, need_voice=not voice_name)
        if missing:
            raise self._language_error(language, missing)
        self.voice_for(language, voice_name)

    def voice_for(self, language: str, name: str = "") -> ModelEntry:
        """The voice to speak with: the one called ``name`` if given, else the first whose
        languages include ``language`` (or ``*``). Raises :class:`ModelChoiceError`."""
        voices = self.manifest.voices
        if name:
            chosen = next((voice for voice in voices if voice.voice_name == name), None)
            if chosen is None:
                raise ModelChoiceError(
                    "voice.name",
                    f"there is no voice {name!r} in the model set {self.name} {self.version} "
                    f"(installed: {', '.join(self.voice_names)}); choose one of those, "
                    "or leave it empty for the language's own voice",
                )
            return chosen
        chosen = next((voice for voice in voices if voice.serves(language)), None)
        if chosen is None:
            raise self._language_error(language, ["voice"])
        return chosen

    def _language_error(self, language: str, missing: list[str]) -> ModelChoiceError:
        spoken = self.spoken_languages()
        lacking = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} or {missing[-1]}"
        supported = f"it speaks {', '.join(spoken)}" if spoken else "it holds no whole language"
        change = f"set language to {' or '.join(repr(code) for code in spoken)}, " if spoken else ""
        return ModelChoiceError(
            "language",
            f"the model set {self.name} {self.version} has no {lacking} "
            f"for {language!r} ({supported}): {change}or install a model pack for {language!r}",
        )

    def _missing_for(self, language: str, need_voice: bool = True) -> list[str]:
        """What this set lacks to hold a conversation in ``language``, as teachers call it."""
        missing = [
            ROLE_TITLES[role]
            for role in ("stt", "llm")
            if not any(model.serves(language) for model in self.manifest.models_for(role))
        ]
        if need_voice and not any(voice.serves(language) for voice in self.manifest.voices):
            missing.append("voice")
        return missing

    def problems(self, *, rehash: bool, progress: ProgressCallback | None = None) -> list[str]:
        """What is wrong with the installed files, one sentence each; [] if all is well."""
        return check_set_files(self.path, self.manifest, rehash=rehash, progress=progress)

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.path.name})"


class ModelStore:
    """The sets under ``root`` and the ``current``/``previous`` pointers.

    Reading (:meth:`current`, :meth:`sets`) needs no lock: the pointers are
    symlinks, replaced atomically. Changing anything takes :meth:`lock`, so a USB
    import, a web upload and a `parlo models fetch` never interleave.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.sets_dir = self.root / "sets"
        self._thread_lock = threading.RLock()
        self._lock_depth = 0
        self._lock_fd: int | None = None

    # --- reading ---

    def current(self) -> ModelSet | None:
        """The set in use, or None if none is installed yet."""
        return self._pointed_set("current")

    def previous(self) -> ModelSet | None:
        """The set in use before the last change, or None."""
        return self._pointed_set("previous")

    def usable_current(self) -> ModelSet | None:
        """The current set if it is readable and all its files are there, else None.

        For deciding whether an update is needed; the engine uses :meth:`current`,
        whose errors say what is wrong.
        """
        current = self._quietly(self.current)
        return current if current and not current.problems(rehash=False) else None

    def sets(self) -> list[ModelSet]:
        """Every installed set, by directory name. Unreadable directories are skipped."""
        found = []
        if self.sets_dir.is_dir():
            for path in sorted(self.sets_dir.iterdir()):
                try:
                    found.append(ModelSet.load(path.resolve()))
                except StoreError as error:
                    log.warning("skipping %s: %s", path, error)
        return found

    def find(self, wanted: Callable[[Manifest], bool]) -> ModelSet | None:
        """An intact installed set whose manifest is ``wanted``; the current one first."""
        candidates = [self._quietly(self.current), *self.sets()]
        for candidate in candidates:
            if candidate and wanted(candidate.manifest) and not candidate.problems(rehash=False):
                return candidate
        return None

    def free_bytes(self) -> int:
        """Space left for new sets on the store's filesystem."""
        self.root.mkdir(parents=True, exist_ok=True)
        stats = os.statvfs(self.root)
        return stats.f_bavail * stats.f_frsize

    def check_free_space(self, needed: int, what: str) -> None:
        """Raise :class:`StoreError` unless ``needed`` bytes (plus a margin) are free."""
        margin = 32 * 1024 * 1024 if needed > 256 * 1024 * 1024 else needed // 8
        free = self.free_bytes()
        if free < needed + margin:
            raise StoreError(
                f"not enough disk space for {what}: it needs {_mb(needed + margin)}, "
                f"{_mb(free)} is free in {self.root}"
            )

    # --- changing ---

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store for one update. Raises :class:`StoreError` if another is running.

        The lock is held against other processes (``flock`` on ``.lock``) and other
        threads, and may be taken again by the thread holding it. Taking it also
        clears what an interrupted update left behind.
        """
        if not self._thread_lock.acquire(blocking=False):
            raise StoreError(BUSY_MESSAGE)
        try:
            if self._lock_depth == 0:
                self._lock_fd = self._lock_file()
                self._remove_leftovers()
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None
        finally:
            self._thread_lock.release()

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh directory on the store's filesystem to assemble a new set in.

        It is deleted on the way out unless :meth:`install` has moved it into ``sets/``.
        """
        with self.lock():
            path = self.root / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
            path.mkdir()
            crash_point()
            try:
                yield path
            finally:
                remove_tree(path)

    @contextlib.contextmanager
    def work_dir(self) -> Iterator[Path]:
        """A scratch directory on the store's filesystem (not RAM-backed /tmp), deleted after."""
        with self.lock():
            path = self.root / f"{WORK_PREFIX}{secrets.token_hex(4)}"
            path.mkdir()
            try:
                yield path
            finally:
                remove_tree(path)

    def install(self, staging: Path, manifest_bytes: bytes, signature: bytes | None) -> ModelSet:
        """Seal the files in ``staging`` as a set and move it into ``sets/``.

        The model files must already be in ``staging``, flushed to disk. The
        manifest (and its signature) are written last, then the directory is
        renamed into place in one step. The set is not made current.
        """
        with self.lock():
            manifest = Manifest.from_toml(manifest_bytes)
            _write_file(staging / MANIFEST_NAME, manifest_bytes)
            if signature is not None:
                _write_file(staging / SIGNATURE_NAME, signature)
            problems = check_set_files(staging, manifest, rehash=False)
            if problems:
                raise StoreError(f"cannot install {manifest.name}: {'; '.join(problems)}")
            fsync_dir(staging)
            self.sets_dir.mkdir(exist_ok=True)
            target = self._free_set_path(manifest.set_dir_name())
            durable_rename(staging, target)
            return ModelSet(target.resolve(), manifest)

    def commit(self, staging: Path, manifest_bytes: bytes, signature: bytes | None) -> ModelSet:
        """Install the set in ``staging``, make it current and drop sets no longer needed.

        This is the one way new models enter the store, for `fetch` and for imports.
        """
        with self.lock():
            new_set = self.install(staging, manifest_bytes, signature)
            self.switch(new_set)
            self.collect_garbage()
            return new_set

    def switch(self, model_set: ModelSet) -> None:
        """Make ``model_set`` current; the set current until now becomes ``previous``."""
        with self.lock():
            current = self._pointed_path("current")
            if current == model_set.path.resolve():
                return
            if current is not None:
                replace_symlink(self.root / "previous", self._link_target(current))
            replace_symlink(self.root / "current", self._link_target(model_set.path))

    def rollback(self) -> ModelSet:
        """Go back to the previous set (and keep the current one as ``previous``)."""
        with self.lock():
            previous = self.previous()
            if previous is None:
                raise StoreError("there is no previous model set to go back to")
            current = self._pointed_path("current")
            replace_symlink(self.root / "current", self._link_target(previous.path))
            if current is not None:
                replace_symlink(self.root / "previous", self._link_target(current))
            return previous

    def collect_garbage(self) -> list[Path]:
        """Delete installed sets that are neither current nor previous. Returns them."""
        with self.lock():
            keep = {self._pointed_path("current"), self._pointed_path("previous")}
            removed = []
            if self.sets_dir.is_dir():
                for path in sorted(self.sets_dir.iterdir()):
                    if path.resolve() not in keep:
                        remove_tree(path)
                        removed.append(path)
            if removed:
                fsync_dir(self.sets_dir)
            return removed

    # --- inside ---

    def _lock_file(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(BUSY_MESSAGE) from None
        return fd

    def _pointed_path(self, pointer: str) -> Path | None:
        link = self.root / pointer
        if not link.is_symlink():
            if link.exists():
                raise StoreError(f"{link} should be a symlink to a model set; move it away")
            return None
        return link.resolve()

    def _pointed_set(self, pointer: str) -> ModelSet | None:
        path = self._pointed_path(pointer)
        if path is None:
            return None
        if not path.is_dir():
            raise StoreError(
                f"{self.root / pointer} points to {path}, which is missing; "
                "run `parlo models fetch` to install models again"
            )
        return ModelSet.load(path)

    def _quietly(self, read: Callable[[], ModelSet | None]) -> ModelSet | None:
        try:
            return read()
        except StoreError:
            return None

    def _link_target(self, set_path: Path) -> str:
        # Relative, so the store still works when mounted or copied elsewhere.
        return os.path.relpath(set_path.resolve(), self.root.resolve())

    def _free_set_path(self, dir_name: str) -> Path:
        target = self.sets_dir / dir_name
        number = 1
        while target.exists() or target.is_symlink():
            number += 1
            target = self.sets_dir / f"{dir_name}.{number}"
        return target

    def _remove_leftovers(self) -> None:
        for path in self.root.iterdir():
            if path.name.startswith(
                (STAGING_PREFIX, WORK_PREFIX, ".current.new-", ".previous.new-")
            ):
                log.info("removing %s, left by an interrupted update", path.name)
                remove_tree(path)


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    crash_point()


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"
