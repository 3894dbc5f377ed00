"""The Models page's view of :mod:`appliance.models`: what is installed, switching, importing.

The web page changes the store only through the models package's own code
(:class:`~appliance.models.store.ModelStore` and its pack import), so an upload
is checked exactly like a USB stick. Anything that package does not offer yet
is reported on the page instead of being done a second way here.

An import runs on its own thread as one :class:`ImportJob`; the page polls its
progress. Only one runs at a time, and the store's own lock also keeps it
apart from a USB import or ``parlo models fetch``.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.models.store import ModelSet, ModelStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SetSummary:
    """One installed model set, as the page lists it."""

    key: str  # its directory name in sets/, the value a switch form sends
    title: str
    models: tuple[tuple[str, str], ...]  # (role, model name)
    size_mb: int
    signed: bool
    current: bool = False
    previous: bool = False


@dataclass
class ModelsView:
    available: bool
    problem: str | None = None
    current: SetSummary | None = None
    previous: SetSummary | None = None
    sets: list[SetSummary] = field(default_factory=list)
    can_import: bool = False


@dataclass
class ImportJob:
    """One pack import in progress or finished. Read by the page, written by the job thread."""

    step: str = "receiving"
    done: int = 0
    total: int = 0
    finished: bool = False
    error: str | None = None
    result: str | None = None

    def as_dict(self) -> dict[str, Any]:
        percent = round(100 * self.done / self.total) if self.total else None
        return {
            "step": self.step,
            "done": self.done,
            "total": self.total,
            "percent": percent,
            "finished": self.finished,
            "error": self.error,
            "result": self.result,
        }


ROLE_NAMES = {
    "vad": "Voice detector",
    "stt": "Speech to text",
    "llm": "Language model",
    "tts": "Voice",
}


class ModelsBridge:
    """Everything the Models page does, on the store at ``root``."""

    def __init__(
        self,
        root: Path | None,
        changed: Callable[[], None] | None,
        presence_dir: Path | None = None,
    ) -> None:
        self._root = root
        self._changed = changed
        # Where an unsigned upload waits for a hold at the box (default $PARLO_HOME/presence).
        self._presence_dir = presence_dir
        self._job_lock = threading.Lock()
        self.job: ImportJob | None = None
        # Extra arguments for import_pack; tests pass {"smoke_test": None} to skip loading models.
        self.import_options: dict[str, Any] = {}

    @property
    def root(self) -> Path:
        if self._root is not None:
            return self._root
        from appliance.core.paths import model_store_root

        return model_store_root()

    def clean_leftovers(self) -> None:
        """Remove uploads a crash or power cut left behind (no import can be using them:
        this runs before the page serves anyone)."""
        uploads = self.root.parent / "uploads"
        try:
            leftovers = list(uploads.iterdir())
        except FileNotFoundError:
            return
        except OSError as error:
            log.warning("cannot look for upload leftovers in %s: %s", uploads, error)
            return
        for path in leftovers:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if leftovers:
            log.info("removed %d upload leftover(s) from %s", len(leftovers), uploads)

    def store(self) -> ModelStore | None:
        return ModelStore(self.root)

    def view(self) -> ModelsView:
        store = self.store()
        if store is None:
            return ModelsView(available=False, problem="The model store is not part of this build.")
        view = ModelsView(available=True, can_import=importer() is not None)
        try:
            current, previous = store.current(), store.previous()
            view.current = _summary(current, current, previous) if current else None
            view.previous = _summary(previous, current, previous) if previous else None
            view.sets = [_summary(s, current, previous) for s in store.sets()]
        except Exception as error:  # a damaged store must not take the page down
            log.exception("reading the model store failed")
            view.problem = str(error)
        return view

    def voices(self) -> list[str]:
        """The voices the current set's manifest lists, by the name ``voice.name`` takes."""
        store = self.store()
        try:
            current = store.current() if store else None
        except Exception:
            return []
        if current is None:
            return []
        return list(current.voice_names)

    def switch(self, key: str) -> str:
        """Make the installed set in ``sets/<key>`` current. Returns its title."""
        store = self._store_or_fail()
        chosen = next((s for s in store.sets() if s.path.name == key), None)
        if chosen is None:
            raise LookupError("that model set is not installed")
        if problems := chosen.problems(rehash=False):
            raise LookupError(f"{chosen.name} is damaged: {problems[0]}")
        store.switch(chosen)
        self._notify()
        return str(chosen)

    def rollback(self) -> str:
        store = self._store_or_fail()
        back = store.rollback()
        self._notify()
        return str(back)

    # --- imports ---

    def begin_import(self) -> ImportJob:
        """Claim the one import slot. Raises RuntimeError if an import is running."""
        with self._job_lock:
            if self.job is not None and not self.job.finished:
                raise RuntimeError("a model import is already running; wait for it to finish")
            self.job = ImportJob()
            return self.job

    def abandon(self, job: ImportJob) -> None:
        """Forget ``job`` as if it never began (a refused upload)."""
        with self._job_lock:
            if self.job is job:
                self.job = None

    def run_import(self, job: ImportJob, pack_dir: Path, allow_unsigned: str) -> None:
        """Import the pack the upload left in ``pack_dir`` on a thread; delete it afterwards.

        ``allow_unsigned`` is the config's ``models.allow_unsigned``, as for a USB stick.
        """
        thread = threading.Thread(
            target=self._import,
            args=(job, pack_dir, allow_unsigned),
            name="web-model-import",
            daemon=True,
        )
        thread.start()

    def _import(self, job: ImportJob, pack_dir: Path, allow_unsigned: str) -> None:
        def progress(step: str, done: int, total: int) -> None:
            job.step, job.done, job.total = step, done, total

        try:
            import_pack = importer()
            if import_pack is None:
                raise RuntimeError("importing packs is not part of this build")
            from appliance.models.signing import load_trusted_keys

            def confirm_at_box(kind: str, summary: str) -> bool:
                from appliance.core.presence import PresenceGate

                job.step, job.done, job.total = "waiting for a button hold at the box", 0, 0
                return PresenceGate(self._presence_dir).ask_and_wait(kind, summary)

            job.step, job.done, job.total = "checking the pack", 0, 0
            options: dict[str, Any] = {"confirm_presence": confirm_at_box, **self.import_options}
            result = import_pack(
                pack_dir,
                self._store_or_fail(),
                trusted_keys=load_trusted_keys(),
                allow_unsigned=allow_unsigned,
                progress=progress,
                **options,
            )
            job.result = result.message
            log.info("model pack from the web page: %s", result.message)
            if result.changed:
                self._notify()
        except Exception as error:
            log.warning("model pack upload failed: %s", error)
            job.error = str(error) or type(error).__name__
        finally:
            shutil.rmtree(pack_dir, ignore_errors=True)
            job.finished = True

    def _store_or_fail(self) -> ModelStore:
        store = self.store()
        if store is None:
            raise RuntimeError("the model store is not part of this build")
        return store

    def _notify(self) -> None:
        if self._changed is not None:
            try:
                self._changed()
            except Exception:
                log.exception("telling the daemon about new models failed")


def importer() -> Callable[..., Any] | None:
    """The models package's :func:`~appliance.models.importer.import_pack`, if this build has it."""
    try:
        from appliance.models.importer import import_pack
    except ImportError:
        return None
    return import_pack


def _summary(
    model_set: ModelSet, current: ModelSet | None, previous: ModelSet | None
) -> SetSummary:
    manifest = model_set.manifest
    path = model_set.path.resolve()
    return SetSummary(
        key=model_set.path.name,
        title=f"{manifest.name} {manifest.version}",
        models=tuple((ROLE_NAMES.get(m.role, m.role), m.name) for m in manifest.models),
        size_mb=round(model_set.size_bytes / 1e6),
        signed=model_set.signed,
        current=current is not None and path == current.path.resolve(),
        previous=previous is not None and path == previous.path.resolve(),
    )
