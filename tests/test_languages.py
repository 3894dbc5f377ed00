"""The configured language drives whisper, the LLM's instructions and the voice, on the real models.

A Spanish pack is built here from the real default files: the manifest declares
whisper and the LLM for ``es`` and ``en``, and carries two voices, the real joe
voice for ``en`` (listed first) and a copy of it for ``es``. The copy's config
says 16 kHz, so it is told apart from joe by its rate, and a live switch
between the two exercises resampling to the rate the speaker was opened with.
It is packed with ``make_pack`` and imported with ``import_pack``, as a USB
stick would be; only config changes between English and Spanish.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

from appliance.app.daemon import EXIT_RESTART, Daemon
from appliance.app.wiring import build_engine, engine_factory_for
from appliance.audio.files import FileDevices
from appliance.core.config import Config, ConfigError
from appliance.core.events import EventStream, State
from appliance.models.importer import import_pack
from appliance.models.manifest import (
    FileEntry,
    Manifest,
    ManifestError,
    ModelEntry,
    serves_language,
)
from appliance.models.pack import PackError, make_pack
from appliance.models.signing import TrustedKeys
from appliance.models.store import ModelChoiceError, ModelSet, ModelStore
from appliance.speech.loaded import Models
from appliance.speech.remote_llm import FallbackLlm
from appliance.system.notify import Notifier
from appliance.web.modelstore import ModelsBridge

REPO = Path(__file__).resolve().parents[1]
ENGLISH_VOICE = "en_US-joe-medium"
SPANISH_VOICE = "es_ES-prueba-medium"
SPANISH_VOICE_RATE = 16000
QUESTION = "What is your favourite animal?"
LAN_REPLY = ["¡Hola! ", "Me gustan ", "los gatos. ", "¿Y a ti?"]

SPANISH = Config().with_changes({"language": "es"})


# --- the Spanish pack, from the real files ---


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # make_pack copies it anyway; this only saves disk
    except OSError:
        shutil.copyfile(source, target)


def _bilingual_source(model_set: ModelSet, directory: Path) -> None:
    """Model files and a hand-written manifest: what a teacher's integrator would prepare."""
    directory.mkdir()
    for role in ("vad", "stt", "llm", "tts"):
        for path in model_set.files(role):
            _link_or_copy(path, directory / path.name)
    joe = model_set.file("tts")
    shutil.copyfile(joe, directory / f"{SPANISH_VOICE}.onnx")
    voice_config = json.loads(Path(f"{joe}.json").read_text(encoding="utf-8"))
    voice_config["audio"]["sample_rate"] = SPANISH_VOICE_RATE
    voice_config["language"] = {"code": "es_ES", "family": "es"}
    (directory / f"{SPANISH_VOICE}.onnx.json").write_text(json.dumps(voice_config))

    def entry(role: str, languages: tuple[str, ...], *names: str) -> ModelEntry:
        # Sizes and hashes are placeholders: make_pack measures the real files.
        files = tuple(FileEntry(name, 1, "0" * 64) for name in names)
        return ModelEntry(role, f"{role} {names[0]}", languages, files, licence="MIT")

    manifest = Manifest(
        name="prueba-es",
        version="1.0.0",
        languages=("es", "en"),
        licence="MIT AND Apache-2.0",
        models=(
            entry("vad", ("*",), model_set.file("vad").name),
            entry("stt", ("es", "en"), model_set.file("stt").name),
            entry("llm", ("es", "en"), model_set.file("llm").name),
            entry("tts", ("en",), joe.name, f"{joe.name}.json"),
            entry("tts", ("es",), f"{SPANISH_VOICE}.onnx", f"{SPANISH_VOICE}.onnx.json"),
        ),
    )
    (directory / "manifest.toml").write_text(manifest.to_toml())


@pytest.fixture(scope="module")
def bilingual_set(model_set, tmp_path_factory) -> ModelSet:
    """The Spanish pack, packed and imported into a store of its own."""
    work = tmp_path_factory.mktemp("languages")
    _bilingual_source(model_set, work / "source")
    make_pack(work / "source", work / "stick")
    shutil.rmtree(work / "source")
    store = ModelStore(work / "home" / "models")
    result = import_pack(
        work / "stick", store, trusted_keys=TrustedKeys(), allow_unsigned="always", smoke_test=None
    )
    shutil.rmtree(work / "stick")
    assert result.changed and store.current() is not None
    return store.current()


@pytest.fixture(scope="module")
def spanish_models(bilingual_set) -> Models:
    return Models.load(bilingual_set, SPANISH)


@pytest.fixture
def engine_on(tmp_path) -> Iterator:
    """``engine_on(models, config)``: an engine with file-backed sound, closed after the test."""
    engines = []

    def make(models: Models, config: Config):
        devices = FileDevices(output_path=tmp_path / "speaker.wav", realtime=False)
        engine = build_engine(config, devices, models=models)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def _spy_on_whisper(stt: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the keyword arguments pywhispercpp's ``transcribe`` is given, and run it."""
    calls: list[dict[str, Any]] = []
    real = stt.model.transcribe

    def transcribe(media: Any, *args: Any, **params: Any) -> Any:
        calls.append(params)
        return real(media, *args, **params)

    monkeypatch.setattr(stt.model, "transcribe", transcribe)
    return calls


# --- the pack ---


def test_the_pack_declares_spanish_and_carries_two_voices(bilingual_set: ModelSet):
    assert bilingual_set.voice_names == (ENGLISH_VOICE, SPANISH_VOICE)
    assert bilingual_set.spoken_languages() == ("es", "en")
    assert bilingual_set.voice_for("es").voice_name == SPANISH_VOICE
    assert bilingual_set.voice_for("en").voice_name == ENGLISH_VOICE
    assert bilingual_set.voice_for("es", ENGLISH_VOICE).voice_name == ENGLISH_VOICE
    assert bilingual_set.problems(rehash=False) == []
    assert ModelsBridge(bilingual_set.path.parents[1], None).voices() == [
        ENGLISH_VOICE,
        SPANISH_VOICE,
    ]


def test_several_voices_are_allowed_but_not_several_of_anything_else(bilingual_set: ModelSet):
    text = bilingual_set.manifest.to_toml()
    assert Manifest.from_toml(text.encode()) == bilingual_set.manifest
    second_whisper = text.replace('role = "tts"', 'role = "stt"', 1).replace(
        f'name = "{ENGLISH_VOICE}.onnx"', 'name = "whisper2.bin"', 1
    )
    with pytest.raises(ManifestError, match="role 'stt' appears 2 times; a set has one stt model"):
        Manifest.from_toml(second_whisper.encode())


def test_packing_infers_each_voices_language_from_its_config(tmp_path: Path):
    source = tmp_path / "models"
    source.mkdir()
    for name in ("vad.onnx", "whisper.bin", "llm.gguf", "a.onnx", "b.onnx"):
        (source / name).write_bytes(name.encode())
    (source / "a.onnx.json").write_text('{"language": {"code": "es_ES", "family": "es"}}')
    (source / "b.onnx.json").write_text("{}")
    pack = make_pack(source, tmp_path / "out", name="mixed", version="1", languages=("es", "en"))
    voices = {voice.voice_name: voice.languages for voice in pack.manifest.voices}
    assert voices == {"a": ("es",), "b": ("es", "en")}
    (source / "whisper2.bin").write_bytes(b"again")
    with pytest.raises(
        PackError, match=r"expected one stt model file, found whisper\.bin, whisper2\.bin"
    ):
        make_pack(source, tmp_path / "out2", name="mixed", version="1", languages=("es",))


# --- loading for a language ---


def test_whisper_is_pinned_to_the_configured_language(spanish_models, speak, monkeypatch):
    stt = spanish_models.stt
    calls = _spy_on_whisper(stt, monkeypatch)
    text = stt.transcribe(speak(QUESTION))
    assert [call["language"] for call in calls] == ["es"]
    params = stt.model.get_params()
    assert params["language"] == "es" and not params["detect_language"]
    # tiny.en is English-only: whisper.cpp transcribes English whatever it is asked for.
    assert "animal" in text.lower()


def test_the_spanish_voice_is_chosen_though_the_english_one_comes_first(spanish_models):
    assert spanish_models.voice_name == SPANISH_VOICE
    assert spanish_models.tts.sample_rate == SPANISH_VOICE_RATE
    assert len(spanish_models.tts.synthesize("Hola.")) > 0


def test_the_engine_filters_and_instructs_in_spanish(spanish_models, engine_on, monkeypatch):
    engine = engine_on(spanish_models, SPANISH)
    assert engine.filter.language == "es"
    prompts: list[str] = []
    real_stream = spanish_models.llm.stream

    def stream(messages: list[dict[str, str]], *args: Any, **kwargs: Any) -> Any:
        prompts.append(messages[0]["content"])
        return real_stream(messages, *args, **kwargs)

    monkeypatch.setattr(spanish_models.llm, "stream", stream)
    engine.run_text_turn("Hola, me llamo Ana.")  # what the tiny model makes of it varies
    assert len(prompts) == 1 and "Always reply in Spanish." in prompts[0]


def test_an_english_only_set_refuses_french_in_one_clear_sentence(model_set):
    french = Config().with_changes({"language": "fr"})
    with pytest.raises(ModelChoiceError) as refused:
        Models.load(model_set, french)
    assert isinstance(refused.value, ConfigError) and refused.value.key == "language"
    # tiny.en hears English only; whisper base hears French, but the LLM and voice do not.
    hears_french = serves_language(model_set.manifest.model("stt").languages, "fr")
    lacking = "" if hears_french else "speech-to-text model, "
    assert str(refused.value) == (
        f"language: the model set {model_set.name} {model_set.version} has no {lacking}"
        "language model or voice for 'fr' (it speaks en): set language to 'en', "
        "or install a model pack for 'fr'"
    )
    with pytest.raises(ModelChoiceError, match=r"voice\.name: there is no voice 'nobody'.*"):
        Models.load(model_set, Config().with_changes({"voice.name": "nobody"}))


def test_parlo_says_so_in_one_line(model_set, tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(model_set.path.parents[1])
    (home / "config.toml").write_text('language = "fr"\n')
    environment = {**os.environ, "PARLO_HOME": str(home)}
    environment.pop("PARLO_CONFIG", None)
    finished = subprocess.run(
        [sys.executable, "-m", "appliance", "converse", "--text", "Bonjour"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 2
    assert (
        finished.stderr.strip()
        .splitlines()[-1]
        .startswith(f"parlo converse: language: the model set {model_set.name} ")
    )
    assert "Traceback" not in finished.stderr


def test_the_daemon_shows_the_error_and_restarts_when_the_config_changes(model_set, tmp_path: Path):
    french = Config().with_changes({"language": "fr"})
    devices = FileDevices(output_path=tmp_path / "speaker.wav", realtime=False)
    events = EventStream()
    daemon = Daemon(
        french,
        engine_factory_for(devices),
        events=events,
        notifier=Notifier("", use_library=False),
        tick=0.05,
    )
    thread = threading.Thread(target=lambda: setattr(daemon, "result", daemon.run()), daemon=True)
    thread.start()
    try:
        wait_until(lambda: events.last_state.state is State.ERROR, timeout=60)
        detail = events.last_state.detail
        failed = f"the engine failed to start: language: the model set {model_set.name} "
        assert detail.startswith(failed)
        assert "install a model pack for 'fr'" in detail
        daemon.apply_config(Config())  # the teacher puts English back
        thread.join(30)
        assert daemon.result == EXIT_RESTART
    finally:
        daemon.stop("test over")
        thread.join(10)


# --- following the config live, between turns ---


def test_a_live_switch_from_english_to_spanish(bilingual_set, engine_on, speak, monkeypatch):
    models = Models.load(bilingual_set, Config())
    assert (models.voice_name, models.stt.language) == (ENGLISH_VOICE, "en")
    english_rate = models.tts.sample_rate
    engine = engine_on(models, Config())
    engine.apply_config(SPANISH)
    engine.run_exclusive(lambda: None)  # after the config change on the engine's thread
    assert (models.voice_name, models.stt.language) == (SPANISH_VOICE, "es")
    assert engine.filter.language == "es"
    # The speaker was opened for joe's rate; the Spanish voice is resampled to it.
    assert models.tts.sample_rate == english_rate != SPANISH_VOICE_RATE

    calls = _spy_on_whisper(models.stt, monkeypatch)
    result = engine.run_turn(speak(QUESTION), 16000)
    assert [call["language"] for call in calls] == ["es"]
    assert "animal" in result.transcript.lower()

    spanish_voice = models.tts
    engine.apply_config(SPANISH.with_changes({"voice.name": "nobody"}))
    engine.run_exclusive(lambda: None)
    assert engine.state is State.ERROR
    assert "there is no voice 'nobody'" in engine.events.last_state.detail
    assert ENGLISH_VOICE in engine.events.last_state.detail
    assert models.tts is spanish_voice and models.voice_name == SPANISH_VOICE
    engine.say("¡Hola!").result(timeout=60)  # the box still speaks
    assert engine.state is State.IDLE


def test_a_live_switch_to_a_lan_model_answers_from_the_next_turn(spanish_models, engine_on):
    local = spanish_models.llm
    engine = engine_on(spanish_models, SPANISH)
    with _FakeLanModel() as lan:
        assert "llm_total" in engine.run_text_turn("Hola.").timings_ms
        assert lan.requests == []  # the box's own model answered
        no_scheme = SPANISH.with_changes({"llm.backend": "openai", "llm.base_url": "10.0.0.9"})
        engine.apply_config(no_scheme)
        engine.run_exclusive(lambda: None)
        assert engine.state is State.ERROR and spanish_models.llm is local
        assert "expected a URL like http://" in engine.events.last_state.detail
        to_lan = SPANISH.with_changes({"llm.backend": "openai", "llm.base_url": lan.url})
        try:
            engine.apply_config(to_lan)
            result = engine.run_text_turn("¿Qué animales te gustan?")
            assert isinstance(spanish_models.llm, FallbackLlm)
            assert spanish_models.llm.fallback is local  # the box's own model stays warm
            assert spanish_models.llm.used == "primary"
            assert result.reply == "".join(LAN_REPLY).strip()
            assert len(lan.requests) == 1
            assert lan.requests[0]["messages"][-1]["content"] == "¿Qué animales te gustan?"
        finally:
            engine.apply_config(SPANISH)
            engine.run_exclusive(lambda: None)
        assert spanish_models.llm is local
        engine.run_text_turn("Hola otra vez.")
        assert len(lan.requests) == 1


class _FakeLanModel:
    """A tiny OpenAI-compatible server on loopback that streams :data:`LAN_REPLY`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                requests.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in LAN_REPLY:
                    self._send({"choices": [{"delta": {"content": piece}, "finish_reason": None}]})
                self._send({"choices": [{"delta": {}, "finish_reason": "stop"}]})
                self.wfile.write(b"data: [DONE]\n\n")

            def _send(self, event: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _FakeLanModel:
        threading.Thread(target=self.server.serve_forever, name="fake-lan", daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
