"""The manifest and catalog parsers: every malformed input gets a message naming the field."""

from __future__ import annotations

import dataclasses

import pytest

from appliance.models.catalog import Catalog, Tier, load_catalog
from appliance.models.manifest import (
    MAX_MANIFEST_BYTES,
    FileEntry,
    Manifest,
    ManifestError,
    ModelEntry,
    check_file_name,
)

SHA = "ab" * 32


def sample_manifest() -> Manifest:
    def model(role: str, *names: str) -> ModelEntry:
        files = tuple(FileEntry(name, 10, SHA) for name in names)
        return ModelEntry(role, f"test {role}", ("en",), files)

    return Manifest(
        name="test-en",
        version="1.2.0",
        languages=("en",),
        licence="MIT",
        models=(
            model("vad", "vad.onnx"),
            model("stt", "stt.bin"),
            model("llm", "llm.gguf"),
            model("tts", "voice.onnx", "voice.onnx.json"),
        ),
    )


def test_manifest_round_trips_through_toml_byte_for_byte():
    manifest = sample_manifest()
    text = manifest.to_toml()
    again = Manifest.from_toml(text.encode())
    assert again == manifest
    assert again.to_toml() == text
    assert again.set_dir_name() == f"test-en-1.2.0-{manifest.content_id()}"


def test_content_id_depends_on_files_only():
    manifest = sample_manifest()
    renamed = dataclasses.replace(manifest, description="other words")
    assert renamed.content_id() == manifest.content_id()
    changed_file = manifest.to_toml().replace("llm.gguf", "llm2.gguf")
    assert Manifest.from_toml(changed_file.encode()).content_id() != manifest.content_id()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('version = "1.2.0"', 'version = "one"', "version: expected numbers separated by dots"),
        ('version = "1.2.0"', "", "missing 'version'"),
        ('role = "llm"', 'role = "brain"', "unknown role 'brain'"),
        ('role = "llm"', 'role = "vad"', "should end in .onnx"),
        ('name = "llm.gguf"', 'name = "../llm.gguf"', "is a path"),
        ('name = "llm.gguf"', 'name = "/etc/passwd.gguf"', "is a path"),
        ('name = "llm.gguf"', 'name = ".hidden.gguf"', "not start with '.'"),
        ('name = "llm.gguf"', 'name = "llm\\u0000.gguf"', "NUL"),
        ('name = "llm.gguf"', f'name = "{"a" * 200}.gguf"', "characters long"),
        ('name = "llm.gguf"', 'name = "manifest.toml"', "reserved for the manifest"),
        ("size = 10", "size = -1", "expected 1 to"),
        ("size = 10", 'size = "10"', "expected a whole number"),
        (f'sha256 = "{SHA}"', 'sha256 = "xyz"', "64 lower-case hex digits"),
        ('languages = ["en"]', 'languages = ["english!"]', "not a language code"),
        ('name = "voice.onnx.json"', 'name = "voice.json"', "needs 'voice.onnx.json'"),
    ],
)
def test_bad_manifest_fields_are_named(old: str, new: str, message: str):
    text = sample_manifest().to_toml()
    assert old in text
    bad = text.replace(old, new, 1)
    with pytest.raises(ManifestError, match=r"manifest\.toml") as raised:
        Manifest.from_toml(bad.encode())
    assert message in str(raised.value)


def test_file_names_must_differ_even_in_case():
    manifest = sample_manifest()
    llm = manifest.model("llm")
    assert llm is not None
    clash = dataclasses.replace(llm, files=(*llm.files, FileEntry("VAD.onnx", 1, SHA)))
    models = tuple(clash if model.role == "llm" else model for model in manifest.models)
    with pytest.raises(ManifestError, match=r"clashes with 'vad\.onnx'"):
        dataclasses.replace(manifest, models=models)


def test_duplicate_role_is_refused():
    text = sample_manifest().to_toml()
    extra = '\n[[models]]\nrole = "vad"\nname = "second"\nlanguages = ["*"]\n'
    extra += f'[[models.files]]\nname = "vad2.onnx"\nsize = 1\nsha256 = "{SHA}"\n'
    with pytest.raises(ManifestError, match="role 'vad' appears 2 times"):
        Manifest.from_toml((text + extra).encode())


def test_missing_role_is_refused():
    text = sample_manifest().to_toml()
    start, end = text.index('[[models]]\nrole = "llm"'), text.index('[[models]]\nrole = "tts"')
    without_llm = text[:start] + text[end:]
    with pytest.raises(ManifestError, match="no model for role 'llm'"):
        Manifest.from_toml(without_llm.encode())


def test_huge_and_garbage_manifests_are_refused():
    with pytest.raises(ManifestError, match="too big for a manifest"):
        Manifest.from_toml(b"#" * (MAX_MANIFEST_BYTES + 1))
    with pytest.raises(ManifestError, match="not valid TOML"):
        Manifest.from_toml(b"name = = =")
    with pytest.raises(ManifestError, match="not UTF-8"):
        Manifest.from_toml(b"\xff\xfe")


@pytest.mark.parametrize("name", ["a/b", "..", "", "x" * 129, "con:txt", "bad name"])
def test_unsafe_file_names(name: str):
    with pytest.raises(ManifestError):
        check_file_name(name)


def test_repository_catalog_is_valid_and_complete():
    catalog = load_catalog()
    pack = catalog.pack("tiny-en")
    manifest = pack.manifest()
    assert {model.role for model in manifest.models} == {"vad", "stt", "llm", "tts"}
    assert pack.is_installed_as(manifest)
    assert pack.models["stt"].convert == "ct2-whisper-ggml"


def test_pick_tier_says_which_and_why():
    catalog = load_catalog()
    small = dataclasses.replace(catalog, tiers=(Tier("tiny-en", 700), Tier("base-en", 1800)))
    one_gb = small.pick_tier(1024**3)
    assert one_gb.pack == "tiny-en"
    assert "1024 MB" in one_gb.reason and "base-en would need 1800 MB" in one_gb.reason
    big = small.pick_tier(8 * 1024**3)
    assert big.pack == "tiny-en" and "base-en would suit it better" in big.reason
    tiny = small.pick_tier(256 * 1024**2)
    assert tiny.pack == "tiny-en" and "less than the 700 MB" in tiny.reason
    assert Catalog(catalog.packs).pick_tier(1).pack == "tiny-en"
