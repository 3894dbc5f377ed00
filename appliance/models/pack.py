"""``parlo models pack``: turn a directory of model files into a USB pack.

A pack is a directory ``parlo-models/`` holding ``manifest.toml``, an optional
``manifest.toml.sig`` and the model files, which is also exactly how an
installed set is laid out. So the easiest pack is a copy of a box's current set::

    make_pack(Path("/var/lib/parlo/models/current"), Path("/media/stick"), version="1.0.1")

If the source directory has a manifest, its names, languages and licences are
kept and only sizes and hashes are recomputed (so a swapped-in model is picked
up). Without one, each file's role is inferred from its name:

==========================  =====
``*.gguf``                  llm
``*.bin`` (whisper ggml)    stt
``*.onnx`` + ``.onnx.json``  tts (a piper voice; there may be several)
``*.onnx`` alone            vad
==========================  =====

and ``name``, ``version`` and ``languages`` must be given. whisper and the LLM
are declared for ``languages``; each voice for the language its ``.onnx.json``
names (piper's ``language.family``), or ``languages`` if it names none. For
anything else (a multilingual whisper, a voice for two languages), write the
manifest by hand and pack again: see ``docs/languages.md``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from appliance.core.durable import durable_rename, fsync_dir, remove_tree
from appliance.models.integrity import ProgressCallback, copy_verified
from appliance.models.manifest import (
    ANY_LANGUAGE,
    COMPATIBLE,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MULTIPLE_ROLES,
    ROLES,
    SIGNATURE_NAME,
    FileEntry,
    Manifest,
    ManifestError,
    ModelEntry,
    is_language_code,
)
from appliance.models.signing import load_private_key, sign_manifest

PACK_DIR_NAME = "parlo-models"


class PackError(ValueError):
    """The source directory cannot be made into a pack; the message says why."""


@dataclass(frozen=True)
class PackResult:
    path: Path
    manifest: Manifest
    changed_roles: tuple[str, ...]  # roles whose files differ from the source's manifest
    signed_by: str = ""


def make_pack(
    source: Path,
    out: Path,
    *,
    name: str | None = None,
    version: str | None = None,
    languages: tuple[str, ...] | None = None,
    sign_key: Path | None = None,
    progress: ProgressCallback | None = None,
) -> PackResult:
    """Write ``out/parlo-models/`` from the model files in ``source``; see the module doc."""
    source = source.resolve()
    if not source.is_dir():
        raise PackError(f"{source} is not a directory")
    private_key = load_private_key(sign_key) if sign_key is not None else None
    template = _source_manifest(source)
    if template is None:
        template = _inferred_manifest(source, name, version, languages)
    else:
        template = replace(
            template,
            name=name or template.name,
            version=version or template.version,
            languages=languages or template.languages,
        )
    target = out / PACK_DIR_NAME
    if target.exists() or target.is_symlink():
        raise PackError(f"{target} already exists; remove it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    partial = out / f".{PACK_DIR_NAME}.partial-{os.getpid()}"
    remove_tree(partial)
    partial.mkdir()
    try:
        models = tuple(_copy_model(model, source, partial, progress) for model in template.models)
        try:
            manifest = replace(template, models=models)
        except ManifestError as error:
            raise PackError(str(error)) from None
        manifest_bytes = manifest.to_toml().encode()
        (partial / MANIFEST_NAME).write_bytes(manifest_bytes)
        signed_by = ""
        if private_key is not None:
            (partial / SIGNATURE_NAME).write_bytes(sign_manifest(manifest_bytes, private_key))
            from appliance.models.signing import key_id

            signed_by = key_id(private_key.public_key())
        elif (
            _same_bytes(source / MANIFEST_NAME, manifest_bytes)
            and (source / SIGNATURE_NAME).is_file()
        ):
            # Nothing changed, so the source's signature still holds.
            (partial / SIGNATURE_NAME).write_bytes((source / SIGNATURE_NAME).read_bytes())
        fsync_dir(partial)
        durable_rename(partial, target)
    except BaseException:
        remove_tree(partial)
        raise
    changed = tuple(
        model.role
        for model, before in zip(manifest.models, template.models, strict=True)
        if model.files != before.files
    )
    return PackResult(target, manifest, changed, signed_by)


def _source_manifest(source: Path) -> Manifest | None:
    path = source / MANIFEST_NAME
    if not path.is_file():
        return None
    with open(path, "rb") as file:
        data = file.read(MAX_MANIFEST_BYTES + 1)
    try:
        return Manifest.from_toml(data, str(path))
    except ManifestError as error:
        raise PackError(f"{error} (fix it, or remove it to have roles inferred)") from None


def _inferred_manifest(
    source: Path, name: str | None, version: str | None, languages: tuple[str, ...] | None
) -> Manifest:
    missing = [flag for flag, value in (("--name", name), ("--version", version)) if not value]
    if not languages:
        missing.append("--language")
    if missing:
        raise PackError(f"{source} has no {MANIFEST_NAME}, so give {', '.join(missing)}")
    assert name and version and languages
    files = sorted(
        path.name for path in source.iterdir() if path.is_file() and not path.is_symlink()
    )
    by_role: dict[str, list[list[str]]] = {role: [] for role in ROLES}
    for file in files:
        lower = file.lower()
        if lower.endswith(".gguf"):
            by_role["llm"].append([file])
        elif lower.endswith(".bin"):
            by_role["stt"].append([file])
        elif lower.endswith(".onnx") and f"{file}.json" in files:
            by_role["tts"].append([file, f"{file}.json"])
        elif lower.endswith(".onnx"):
            by_role["vad"].append([file])
    models = []
    for role, candidates in by_role.items():
        several_allowed = role in MULTIPLE_ROLES and candidates
        if len(candidates) != 1 and not several_allowed:
            found = ", ".join(group[0] for group in candidates) or "none"
            raise PackError(
                f"{source}: expected one {role} model file, found {found}; keep one, or write "
                f"a {MANIFEST_NAME} that says which file is which"
            )
        for file_names in candidates:
            if role == "vad":
                model_languages: tuple[str, ...] = (ANY_LANGUAGE,)
            elif role == "tts":
                model_languages = _voice_languages(source / file_names[1]) or languages
            else:
                model_languages = languages
            placeholder = tuple(FileEntry(file, 1, "0" * 64) for file in file_names)
            models.append(ModelEntry(role, Path(file_names[0]).stem, model_languages, placeholder))
    try:
        return Manifest(name, version, languages, tuple(models), compatible=COMPATIBLE)
    except ManifestError as error:
        raise PackError(str(error)) from None


def _voice_languages(config_path: Path) -> tuple[str, ...]:
    """The language a piper voice's ``.onnx.json`` names (``language.family``), if any."""
    try:
        family = json.loads(config_path.read_text(encoding="utf-8"))["language"]["family"]
    except (OSError, ValueError, KeyError, TypeError):
        return ()
    return (family,) if isinstance(family, str) and is_language_code(family) else ()


def _copy_model(
    model: ModelEntry, source: Path, target: Path, progress: ProgressCallback | None
) -> ModelEntry:
    files = []
    for entry in model.files:
        path = source / entry.name
        if path.is_symlink() or not path.is_file():
            raise PackError(f"{path} ({model.role}) is missing or not a plain file")
        with open(path, "rb") as stream:
            sha256 = copy_verified(
                stream,
                target / entry.name,
                label=str(path),
                size=None,
                sha256=None,
                progress=progress,
                step=f"copy {entry.name}",
            )
        files.append(FileEntry(entry.name, (target / entry.name).stat().st_size, sha256))
    return replace(model, files=tuple(files))


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False
