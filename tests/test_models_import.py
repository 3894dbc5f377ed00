"""Importing model packs: each bad pack is refused by name and leaves the store byte for byte alone.

Most tests use small fake model files and skip loading them (``smoke_test=None``);
the smoke tests at the end load real (garbage) files in a real child process.
The end-to-end import of the real default set is in test_models_fetch.py.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import random
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from appliance.core.durable import CRASH_ENV
from appliance.models.importer import ImportRefused, PackSource, import_pack
from appliance.models.manifest import FileEntry, Manifest, ModelEntry
from appliance.models.pack import PackError, make_pack
from appliance.models.signing import (
    TrustedKeys,
    generate_key_pair,
    load_private_key,
    load_trusted_keys,
    sign_manifest,
)
from appliance.models.smoke import SmokeTestFailed, smoke_test_in_child
from appliance.models.store import ModelSet, ModelStore, StoreError
from appliance.models.usb import handle_stick

REPO = Path(__file__).resolve().parents[1]
ROLE_FILES = {
    "vad": ["vad.onnx"],
    "stt": ["stt.bin"],
    "llm": ["llm.gguf"],
    "tts": ["voice.onnx", "voice.onnx.json"],
}
FILE_SIZE = 40_000
ALL_CHANGED = {"vad": 1, "stt": 1, "llm": 1, "tts": 1}


# --- helpers ---


def write_set(
    directory: Path,
    *,
    version: str = "1.0.0",
    variant: dict[str, int] | None = None,
    size: int = FILE_SIZE,
) -> Manifest:
    """Fake model files plus their manifest; ``variant`` picks each role's content."""
    directory.mkdir(parents=True, exist_ok=True)
    variant = variant or {}
    models = []
    for role, names in ROLE_FILES.items():
        rng = random.Random(f"{role}-{variant.get(role, 0)}")
        files = []
        for name in names:
            data = rng.randbytes(size)
            (directory / name).write_bytes(data)
            files.append(FileEntry(name, len(data), hashlib.sha256(data).hexdigest()))
        models.append(ModelEntry(role, f"fake {role}", ("en",), tuple(files), licence="MIT"))
    manifest = Manifest("fake-en", version, ("en",), tuple(models), licence="MIT")
    (directory / "manifest.toml").write_text(manifest.to_toml())
    return manifest


def snapshot(root: Path) -> dict[str, object]:
    """Every path under ``root``: symlink targets, file hashes, directories."""
    state: dict[str, object] = {}
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = Path(directory) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                state[key] = ("link", os.readlink(path))
            elif path.is_dir():
                state[key] = "dir"
            else:
                state[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return state


def install(store: ModelStore, pack: Path | PackSource, **options) -> object:
    options.setdefault("trusted_keys", TrustedKeys())
    options.setdefault("allow_unsigned", "always")
    options.setdefault("smoke_test", None)
    return import_pack(pack, store, **options)


def assert_refused(store: ModelStore, pack: Path | PackSource, message: str, **options) -> None:
    before = snapshot(store.root)
    with pytest.raises(ImportRefused) as refused:
        install(store, pack, **options)
    assert message in str(refused.value)
    assert snapshot(store.root) == before


def rewrite_manifest(pack: Path, old: str, new: str) -> None:
    text = (pack / "manifest.toml").read_text()
    assert old in text
    (pack / "manifest.toml").write_text(text.replace(old, new, 1))


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    """A store whose current set is fake-en 1.0.0."""
    store = ModelStore(tmp_path / "home" / "models")
    write_set(tmp_path / "first" / "parlo-models")
    install(store, tmp_path / "first")
    return store


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A stick's pack directory holding fake-en 1.0.1, every model changed."""
    directory = tmp_path / "stick" / "parlo-models"
    write_set(directory, version="1.0.1", variant=ALL_CHANGED)
    return directory


# --- a good pack ---


def test_a_good_pack_becomes_current_and_the_old_set_previous(store: ModelStore, pack: Path):
    old = store.current()
    assert old is not None and old.version == "1.0.0"
    result = install(store, pack.parent)
    current, previous = store.current(), store.previous()
    assert current is not None and previous is not None
    assert (current.version, previous.version) == ("1.0.1", "1.0.0")
    assert current.file("llm").read_bytes() == (pack / "llm.gguf").read_bytes()
    assert current.files("tts")[1].name == "voice.onnx.json"
    assert (current.path / "manifest.toml").read_bytes() == (pack / "manifest.toml").read_bytes()
    assert result.changed and "installed fake-en 1.0.1" in result.message
    assert current.problems(rehash=True) == []

    again = install(store, pack.parent)
    assert not again.changed and "already in use" in again.message

    assert store.rollback().version == "1.0.0"
    assert store.previous().version == "1.0.1"
    switched = install(store, pack)
    assert "already installed" in switched.message
    assert store.current().path == current.path


def test_sets_beyond_current_and_previous_are_removed(store: ModelStore, tmp_path: Path):
    for number in (1, 2, 3):
        write_set(tmp_path / f"v{number}", version=f"1.0.{number}", variant={"llm": number})
        install(store, tmp_path / f"v{number}")
    names = sorted(model_set.version for model_set in store.sets())
    assert names == ["1.0.2", "1.0.3"]


def test_extra_files_are_ignored_and_never_opened(store: ModelStore, pack: Path):
    (pack / "run-me.sh").write_text("#!/bin/sh\nrm -rf /\n")
    os.mkfifo(pack / "pipe")  # opening this would hang the import
    install(store, pack)
    current = store.current()
    assert current is not None
    assert not (current.path / "run-me.sh").exists()
    assert not (current.path / "pipe").exists()


def test_a_missing_model_file_raises_a_clear_error_naming_role_and_set(store: ModelStore):
    current = store.current()
    assert current is not None
    (current.path / "llm.gguf").unlink()
    with pytest.raises(StoreError, match=r"its llm file llm\.gguf is missing"):
        current.file("llm")
    with pytest.raises(StoreError, match="has no 'brain' model"):
        current.file("brain")


# --- bad files ---


def test_wrong_sha256(store: ModelStore, pack: Path):
    data = bytearray((pack / "stt.bin").read_bytes())
    data[100] ^= 0xFF
    (pack / "stt.bin").write_bytes(bytes(data))
    assert_refused(store, pack, "stt file stt.bin is damaged or not the expected file: sha256")


def test_truncated_file(store: ModelStore, pack: Path):
    with open(pack / "llm.gguf", "r+b") as file:
        file.truncate(1000)
    assert_refused(store, pack, f"llm file llm.gguf is truncated: 1000 of {FILE_SIZE} bytes")


def test_file_larger_than_declared(store: ModelStore, pack: Path):
    with open(pack / "vad.onnx", "ab") as file:
        file.write(b"more")
    assert_refused(store, pack, f"vad file vad.onnx is larger than the {FILE_SIZE} bytes")


def test_missing_file(store: ModelStore, pack: Path):
    (pack / "voice.onnx.json").unlink()
    assert_refused(store, pack, "tts file voice.onnx.json is missing from the pack")


@pytest.mark.parametrize(
    ("bad_name", "message"),
    [
        ("../../home/models/current/llm.gguf", "is a path"),
        ("/etc/passwd.gguf", "is a path"),
        ("sub/llm.gguf", "is a path"),
        ("\\u0000llm.gguf", "NUL"),
        ("x" * 300 + ".gguf", "characters long"),
    ],
)
def test_unsafe_names_in_the_manifest(store: ModelStore, pack: Path, bad_name: str, message: str):
    rewrite_manifest(pack, 'name = "llm.gguf"', f'name = "{bad_name}"')
    assert_refused(store, pack, message)


def test_symlink_to_a_file_outside_the_pack(store: ModelStore, pack: Path, tmp_path: Path):
    outside = tmp_path / "secret.gguf"
    (pack / "llm.gguf").rename(outside)  # same bytes: only the link itself is wrong
    (pack / "llm.gguf").symlink_to(outside)
    assert_refused(store, pack, "llm.gguf is a symlink")


def test_symlinked_pack_directory(store: ModelStore, pack: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    pack.rename(elsewhere)
    pack.symlink_to(elsewhere)
    assert_refused(store, pack.parent, "parlo-models is a symlink")


def test_hard_link_to_a_file_outside_the_pack(store: ModelStore, pack: Path, tmp_path: Path):
    outside = tmp_path / "outside.bin"
    (pack / "stt.bin").rename(outside)
    os.link(outside, pack / "stt.bin")
    assert_refused(store, pack, "stt.bin is a hard link (2 names)")


def test_fifo_in_place_of_a_file(store: ModelStore, pack: Path):
    (pack / "vad.onnx").unlink()
    os.mkfifo(pack / "vad.onnx")
    assert_refused(store, pack, "vad.onnx is not a plain file (it is a named pipe)")


def test_directory_in_place_of_a_file(store: ModelStore, pack: Path):
    (pack / "vad.onnx").unlink()
    (pack / "vad.onnx").mkdir()
    assert_refused(store, pack, "vad.onnx is not a plain file (it is a directory)")


# --- bad manifests ---


def test_malformed_manifest(store: ModelStore, pack: Path):
    (pack / "manifest.toml").write_text("name = = 'broken'")
    assert_refused(store, pack, "manifest.toml: is not valid TOML")


def test_huge_manifest(store: ModelStore, pack: Path):
    with open(pack / "manifest.toml", "a") as file:
        file.write("#" * 200_000)
    assert_refused(store, pack, "manifest.toml is larger than 65536 bytes")


def test_missing_manifest(store: ModelStore, pack: Path):
    (pack / "manifest.toml").unlink()
    assert_refused(store, pack.parent, "has no manifest.toml")


def test_unknown_role(store: ModelStore, pack: Path):
    rewrite_manifest(pack, 'role = "llm"', 'role = "brain"')
    assert_refused(store, pack, "unknown role 'brain'")


def test_duplicate_role(store: ModelStore, pack: Path):
    rewrite_manifest(pack, 'role = "stt"', 'role = "vad"')
    rewrite_manifest(pack, 'name = "stt.bin"', 'name = "stt.onnx"')
    (pack / "stt.bin").rename(pack / "stt.onnx")
    assert_refused(store, pack, "role 'vad' appears 2 times")


def test_incompatible_pack(store: ModelStore, pack: Path):
    rewrite_manifest(pack, 'compatible = "parlo-1"', 'compatible = "parlo-2"')
    assert_refused(store, pack, "the pack is for 'parlo-2'")


def test_older_pack_is_refused_unless_forced(store: ModelStore, tmp_path: Path):
    newer = tmp_path / "newer"
    write_set(newer, version="1.1.0", variant={"llm": 2})
    install(store, newer)
    older = tmp_path / "older"
    write_set(older, version="1.0.9", variant={"llm": 3})
    assert_refused(store, older, "fake-en 1.0.9, older than the 1.1.0 in use")
    install(store, older, force=True)
    assert store.current().version == "1.0.9"


def test_same_version_with_different_files_is_refused(store: ModelStore, tmp_path: Path):
    write_set(tmp_path / "same", version="1.0.0", variant={"tts": 5})
    assert_refused(store, tmp_path / "same", "give the pack a new version")


# --- signatures ---


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """Two key pairs; only "school" is trusted, in a keys directory."""
    made = {}
    for name in ("school", "stranger"):
        private, _, _ = generate_key_pair(tmp_path / "keys-made" / name)
        made[name] = private
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    shutil.copy(tmp_path / "keys-made" / "school.pub", trusted)
    made["trusted_dir"] = trusted
    return made


def sign(pack: Path, key: Path) -> None:
    data = (pack / "manifest.toml").read_bytes()
    (pack / "manifest.toml.sig").write_bytes(sign_manifest(data, load_private_key(key)))


def test_signed_pack_by_trusted_key(store: ModelStore, pack: Path, keys: dict[str, Path]):
    sign(pack, keys["school"])
    trusted = load_trusted_keys((keys["trusted_dir"],))
    result = install(store, pack, trusted_keys=trusted, allow_unsigned="never")
    assert "signed by trusted key" in result.message
    assert store.current().signed


def test_unsigned_pack_once_a_key_is_installed(
    store: ModelStore, pack: Path, keys: dict[str, Path]
):
    trusted = load_trusted_keys((keys["trusted_dir"],))
    assert_refused(
        store,
        pack,
        "the pack is not signed",
        trusted_keys=trusted,
        allow_unsigned="until-key-installed",
    )
    install(store, pack, trusted_keys=trusted, allow_unsigned="always")


def test_unsigned_pack_when_never_allowed(store: ModelStore, pack: Path):
    assert_refused(store, pack, "models.allow_unsigned is 'never'", allow_unsigned="never")


def test_valid_signature_by_an_unknown_key(store: ModelStore, pack: Path, keys: dict[str, Path]):
    sign(pack, keys["stranger"])
    trusted = load_trusted_keys((keys["trusted_dir"],))
    assert_refused(
        store, pack, "which this box does not trust", trusted_keys=trusted, allow_unsigned="never"
    )
    assert_refused(
        store,
        pack,
        "which this box does not trust",
        trusted_keys=trusted,
        allow_unsigned="until-key-installed",
    )


def test_signature_over_a_different_manifest(store: ModelStore, pack: Path, keys: dict[str, Path]):
    sign(pack, keys["school"])
    rewrite_manifest(pack, 'version = "1.0.1"', 'version = "1.0.2"')
    trusted = load_trusted_keys((keys["trusted_dir"],))
    for policy in ("never", "always"):
        assert_refused(
            store,
            pack,
            "the manifest was changed after",
            trusted_keys=trusted,
            allow_unsigned=policy,
        )


def test_malformed_signature(store: ModelStore, pack: Path):
    (pack / "manifest.toml.sig").write_text("not a signature")
    assert_refused(store, pack, "manifest.toml.sig is malformed")


def test_unreadable_trusted_key_is_an_error(tmp_path: Path):
    (tmp_path / "broken.pub").write_text("garbage")
    with pytest.raises(ValueError, match="cannot read the public key"):
        load_trusted_keys((tmp_path,))


# --- the disk and the stick failing ---


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (needs root; skipped otherwise)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_not_enough_disk_space_is_found_before_copying(small_disk: Path, tmp_path: Path):
    store = ModelStore(small_disk / "models")
    write_set(tmp_path / "first")
    install(store, tmp_path / "first")  # 200 kB of the 1 MB
    write_set(tmp_path / "big", version="2.0.0", variant=ALL_CHANGED, size=200_000)
    assert_refused(store, tmp_path / "big", "not enough disk space for the pack fake-en")


def test_disk_filling_up_during_the_copy(small_disk: Path, tmp_path: Path, pack: Path):
    store = ModelStore(small_disk / "models")
    write_set(tmp_path / "first")
    install(store, tmp_path / "first")

    def fill_the_disk(step: str, done: int, total: int) -> None:
        ballast = small_disk / "ballast"
        if not ballast.exists():
            with open(ballast, "wb") as file, pytest.raises(OSError):
                file.write(b"\0" * 2_000_000)

    before = snapshot(store.root)
    with pytest.raises(ImportRefused, match="the disk is full"):
        install(store, pack, progress=fill_the_disk)
    assert snapshot(store.root) == before


class FailingStream(io.RawIOBase):
    """A file that reads ``good_bytes`` and then fails like a pulled stick."""

    def __init__(self, inner: BinaryIO, good_bytes: int) -> None:
        self.inner, self.left = inner, good_bytes

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError(errno.EIO, "Input/output error")
        data = self.inner.read(min(size, self.left) if size >= 0 else self.left)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.inner.close()
        super().close()


class FailingPackSource(PackSource):
    def open(self, name: str) -> BinaryIO:
        stream = super().open(name)
        return FailingStream(stream, 1000) if name == "llm.gguf" else stream  # type: ignore[return-value]


def test_io_error_in_the_middle_of_a_copy(store: ModelStore, pack: Path):
    with FailingPackSource(pack) as source:
        assert_refused(store, source, "could not copy llm file llm.gguf: Input/output error")


def test_store_busy_with_another_update(store: ModelStore, pack: Path):
    other = ModelStore(store.root)  # as another process would
    with other.lock(), pytest.raises(StoreError, match="another model update is running"):
        install(store, pack)

    holding, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # as another web request would, on the same store
        with store.lock():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold_the_lock)
    thread.start()
    holding.wait(10)
    try:
        with pytest.raises(StoreError, match="another model update is running"):
            install(store, pack)
    finally:
        release.set()
        thread.join()
    install(store, pack)


# --- power cuts ---

IMPORTER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from appliance.models.importer import import_pack
    from appliance.models.signing import TrustedKeys
    from appliance.models.store import ModelStore
    import_pack(Path(sys.argv[2]), ModelStore(Path(sys.argv[1])), trusted_keys=TrustedKeys(),
                allow_unsigned="always", smoke_test=None)
    """
)


def run_importer(root: Path, pack: Path, crash_at: int | None) -> int:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    environment.pop(CRASH_ENV, None)
    if crash_at is not None:
        environment[CRASH_ENV] = str(crash_at)
    child = subprocess.run(
        [sys.executable, "-c", IMPORTER, str(root), str(pack)], env=environment, check=False
    )
    return child.returncode


def test_power_cut_at_every_step_leaves_the_old_set_or_the_new(tmp_path: Path):
    pristine = ModelStore(tmp_path / "pristine")
    for number in (0, 1):
        write_set(tmp_path / f"v{number}", version=f"1.0.{number}", variant={"llm": number})
        install(pristine, tmp_path / f"v{number}")
    old = pristine.current()
    assert old is not None
    new_pack = tmp_path / "v2"
    new_manifest = write_set(new_pack, version="1.0.2", variant=ALL_CHANGED)

    crashes = 0
    for step in range(1, 200):
        root = tmp_path / f"run-{step}"
        shutil.copytree(pristine.root, root, symlinks=True)
        status = run_importer(root, new_pack, crash_at=step)
        store = ModelStore(root)
        current = store.current()
        assert current is not None, f"no current set after a crash at step {step}"
        assert current.problems(rehash=True) == [], f"damaged set after a crash at step {step}"
        assert current.manifest in (old.manifest, new_manifest)
        previous = store.previous()
        assert previous is None or previous.problems(rehash=True) == []
        if status == 0:
            assert current.manifest == new_manifest
            break
        assert status == -9, f"the importer failed at step {step} with status {status}"
        crashes += 1
        if step % 6 == 0:  # after the power comes back, the import still works
            assert run_importer(root, new_pack, crash_at=None) == 0
            assert store.current().manifest == new_manifest
            assert not [p for p in root.iterdir() if p.name.startswith(".staging")]
        shutil.rmtree(root)
    assert crashes >= 20


# --- models that pass their hashes but do not work ---


def test_garbage_language_model_fails_the_smoke_test(store: ModelStore, tmp_path: Path):
    directory = tmp_path / "garbage"
    write_set(directory, version="1.0.1", variant={"llm": 7})  # random bytes, not a GGUF
    assert_refused(
        store,
        directory,
        "the new llm model llm.gguf failed to load",
        smoke_test=smoke_test_in_child,
    )


def test_garbage_whisper_model_fails_the_smoke_test(store: ModelStore, tmp_path: Path):
    directory = tmp_path / "garbage"
    write_set(directory, version="1.0.1", variant={"stt": 7})
    assert_refused(
        store, directory, "the new stt model stt.bin failed to load", smoke_test=smoke_test_in_child
    )


def test_only_changed_models_are_smoke_tested(store: ModelStore, tmp_path: Path):
    tried = []
    write_set(tmp_path / "new", version="1.0.1", variant={"tts": 1, "vad": 1})
    install(store, tmp_path / "new", smoke_test=lambda role, path: tried.append(role))
    assert tried == ["vad", "tts"]


def test_a_model_that_crashes_its_engine_only_fails_the_import(tmp_path: Path):
    crashing_python = tmp_path / "python"
    crashing_python.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crashing_python.chmod(0o755)
    with pytest.raises(SmokeTestFailed, match=r"crashed the engine loading it \(SIGSEGV\)"):
        smoke_test_in_child("stt", tmp_path / "model.bin", python=str(crashing_python))
    hanging_python = tmp_path / "slow-python"
    hanging_python.write_text("#!/bin/sh\nexec sleep 30\n")
    hanging_python.chmod(0o755)
    with pytest.raises(SmokeTestFailed, match="did not load and run within 1 s"):
        smoke_test_in_child("llm", tmp_path / "m.gguf", timeout=1, python=str(hanging_python))


# --- packs ---


def test_pack_of_an_installed_set_reproduces_it(store: ModelStore, tmp_path: Path):
    current = store.current()
    assert current is not None
    result = make_pack(store.root / "current", tmp_path / "out")
    assert (result.path / "manifest.toml").read_bytes() == (
        current.path / "manifest.toml"
    ).read_bytes()
    assert result.changed_roles == ()
    with pytest.raises(PackError, match="already exists"):
        make_pack(store.root / "current", tmp_path / "out")


def test_pack_with_a_changed_model_and_a_new_version_signed(
    store: ModelStore, tmp_path: Path, keys: dict[str, Path]
):
    source = tmp_path / "edit"
    shutil.copytree(store.root / "current", source)
    (source / "llm.gguf").write_bytes(b"a different model" * 100)
    result = make_pack(source, tmp_path / "out", version="1.1.0", sign_key=keys["school"])
    assert result.changed_roles == ("llm",)
    assert result.signed_by
    trusted = load_trusted_keys((keys["trusted_dir"],))
    install(store, tmp_path / "out", trusted_keys=trusted, allow_unsigned="never")
    assert store.current().version == "1.1.0"


def test_pack_infers_roles_from_file_names(tmp_path: Path):
    source = tmp_path / "loose"
    write_set(source)
    (source / "manifest.toml").unlink()
    (source / "README.txt").write_text("ignored")
    with pytest.raises(PackError, match="give --name, --version, --language"):
        make_pack(source, tmp_path / "out")
    result = make_pack(source, tmp_path / "out", name="loose", version="3.0", languages=("en",))
    roles = {model.role: model.main_file.name for model in result.manifest.models}
    assert roles == {"vad": "vad.onnx", "stt": "stt.bin", "llm": "llm.gguf", "tts": "voice.onnx"}
    (source / "other.gguf").write_bytes(b"x")
    with pytest.raises(
        PackError, match=r"expected one llm model file, found llm\.gguf, other\.gguf"
    ):
        make_pack(source, tmp_path / "out2", name="loose", version="3.0", languages=("en",))


# --- the stick as a whole, and the command line ---


def test_usb_stick_with_a_pack_and_a_pin_reset_request_and_nobody_at_the_box(
    store: ModelStore, pack: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """The attack of issue 14: out of the box, a stick alone changes nothing."""
    from appliance.core.presence import PresenceGate
    from appliance.web import auth

    monkeypatch.setenv("PARLO_HOME", str(tmp_path / "home"))
    secret_file = tmp_path / "home" / "web-secret"
    auth.set_secret("teacher-pin", secret_file)
    (pack.parent / "parlo-reset-pin").write_text("")
    before = snapshot(store.root)
    gate = PresenceGate(tmp_path / "home" / "presence", window=0.3, poll=0.02)
    outcome = handle_stick(
        pack.parent, store, allow_unsigned="until-key-installed", smoke_test=None, gate=gate
    )
    assert outcome.done == []
    assert outcome.failed[0] == "PIN reset refused: nobody held the button at the box in time"
    assert "nobody held the button at the box in time" in outcome.failed[1]
    assert auth.verify_secret("teacher-pin", secret_file)
    assert "nothing changed" in (pack.parent / "parlo-pin.txt").read_text()
    assert {k: v for k, v in snapshot(store.root).items() if "last-update" not in k} == {
        k: v for k, v in before.items() if "last-update" not in k
    }
    assert gate.pending() == []
    # Without a gate at all (nobody can ever confirm), both are refused too.
    outcome = handle_stick(
        pack.parent, store, allow_unsigned="until-key-installed", smoke_test=None
    )
    assert outcome.failed[0].endswith("nobody at the box can confirm it here; PIN unchanged")
    assert "nobody can confirm it here" in outcome.failed[1]
    assert auth.verify_secret("teacher-pin", secret_file)


def test_usb_stick_confirmed_by_a_hold_at_the_box(
    store: ModelStore, pack: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    from appliance.core.presence import PresenceGate
    from appliance.web import auth
    from appliance.web.auth import box_presence_gate

    monkeypatch.setenv("PARLO_HOME", str(tmp_path / "home"))
    secret_file = tmp_path / "home" / "web-secret"
    auth.set_secret("teacher-pin", secret_file)
    (pack.parent / "parlo-reset-pin").write_text("")
    directory = tmp_path / "home" / "presence"
    stick_side = PresenceGate(directory, window=20, poll=0.02)
    daemon_side = box_presence_gate(secret_file, directory=directory)
    confirmed: list[str] = []
    stop = threading.Event()

    def hold_when_asked() -> None:  # the teacher holds the button each time the box asks
        while not stop.is_set():
            confirmed.extend(request.kind for request in daemon_side.confirm())
            stop.wait(0.05)

    holder = threading.Thread(target=hold_when_asked)
    holder.start()
    try:
        outcome = handle_stick(
            pack.parent,
            store,
            allow_unsigned="until-key-installed",
            smoke_test=None,
            gate=stick_side,
        )
    finally:
        stop.set()
        holder.join()
    assert outcome.failed == []
    assert outcome.done[0] == "PIN reset, confirmed at the box"
    assert "confirmed by a hold at the box" in outcome.done[1]
    assert confirmed == ["reset-pin", "unsigned-pack"]
    pin = (pack.parent / "parlo-pin.txt").read_text().split(": ")[1].split()[0]
    assert auth.verify_secret(pin, secret_file) and not auth.verify_secret(
        "teacher-pin", secret_file
    )
    assert store.current().version == "1.0.1"
    empty = tmp_path / "empty-stick"
    empty.mkdir()
    assert handle_stick(empty, store, allow_unsigned="always").done == [
        f"nothing for Parlo on {empty}"
    ]


def test_cli_import_and_list(
    store: ModelStore, pack: Path, monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
):
    from appliance.cli import main

    monkeypatch.setenv("PARLO_HOME", str(store.root.parent))
    monkeypatch.setenv("PARLO_CONFIG", str(tmp_path / "no-config.toml"))
    with open(pack / "llm.gguf", "r+b") as file:
        file.truncate(10)
    assert main(["models", "import", str(pack.parent)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the pack is not signed" in error and "--allow-unsigned" in error
    assert main(["models", "import", "--allow-unsigned", str(pack.parent)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == f"parlo models: llm file llm.gguf is truncated: 10 of {FILE_SIZE} bytes"

    assert main(["models", "list", "--json"]) == 0
    assert '"current": true' in capsys.readouterr().out
    assert main(["models", "verify"]) == 0
    current = ModelSet.load((store.root / "current").resolve())
    (current.path / "vad.onnx").write_bytes(b"\0" * FILE_SIZE)
    assert main(["models", "verify"]) == 1
    assert "vad file vad.onnx is damaged" in capsys.readouterr().err


def test_a_stick_tells_the_daemon_it_installed(store: ModelStore, pack: Path):
    from appliance.models import updates

    handle_stick(pack.parent, store, allow_unsigned="always", smoke_test=None)
    status = updates.read_status(store.root)
    assert (status.state, status.message) == ("installed", "New models installed: fake-en 1.0.1.")
    assert not status.running


def test_a_stick_tells_the_daemon_why_it_refused(store: ModelStore, pack: Path):
    from appliance.models import updates

    with open(pack / "llm.gguf", "r+b") as file:
        file.truncate(10)
    handle_stick(pack.parent, store, allow_unsigned="always", smoke_test=None)
    status = updates.read_status(store.root)
    assert status.state == "refused"
    assert status.message == "Update refused: language model file is truncated."
