"""The Models page over HTTP: upload a pack (through the models' own import), switch, roll back.

The packs hold random bytes, not models: the import's smoke test (loading each
model) is switched off, everything else is the real import.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_web_support import Client, Running, start_server

from appliance.models.manifest import FileEntry, Manifest, ModelEntry
from appliance.models.store import ModelStore

FILES = {
    "vad": ["vad.onnx"],
    "stt": ["whisper.bin"],
    "llm": ["tiny.gguf"],
    "tts": ["voice.onnx", "voice.onnx.json"],
}


def make_pack(directory: Path, version: str) -> dict[str, bytes]:
    """A pack of random bytes with a true manifest; returns its files by name."""
    files: dict[str, bytes] = {}
    models = []
    for role, names in FILES.items():
        entries = []
        for name in names:
            data = os.urandom(2048)
            files[name] = data
            entries.append(FileEntry(name, len(data), hashlib.sha256(data).hexdigest()))
        models.append(ModelEntry(role, f"test {role}", ("en",), tuple(entries)))
    manifest = Manifest(name="test-pack", version=version, languages=("en",), models=tuple(models))
    files["manifest.toml"] = manifest.to_toml().encode()
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return files


def multipart(csrf: str | None, files: dict[str, bytes], folder: str = "parlo-models") -> tuple:
    boundary = "----parlo-test-boundary"
    parts = []
    if csrf is not None:
        parts.append(f'Content-Disposition: form-data; name="csrf"\r\n\r\n{csrf}'.encode())
    for name, data in files.items():
        head = (
            f'Content-Disposition: form-data; name="pack"; filename="{folder}/{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data)
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def wait_for_job(client: Client) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = json.loads(client.get("/models/progress", accept="application/json").body)
        if job and job["finished"]:
            return job
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


@pytest.fixture
def running(tmp_path, monkeypatch) -> Iterator[Running]:
    changes: list[bool] = []
    running = start_server(tmp_path, monkeypatch, models_changed=lambda: changes.append(True))
    # The test packs are unsigned: the teacher holds the button at the box when asked.
    running.server.web.models.import_options = {
        "smoke_test": None,
        "confirm_presence": lambda kind, summary: True,
    }
    running.changes = changes  # type: ignore[attr-defined]
    yield running
    running.server.stop()


@pytest.fixture
def client(running: Running) -> Client:
    client = running.client()
    client.login()
    return client


def upload(client: Client, files: dict[str, bytes], csrf: str | None = "page") -> int:
    token = client.csrf("/models") if csrf == "page" else csrf
    body, headers = multipart(token, files)
    return client.request("POST", "/models/upload", body, headers).status


def test_upload_installs_through_the_import_and_shows_it(
    running: Running, client: Client, tmp_path
) -> None:
    assert "No models are installed yet" in client.get("/models").body
    files = make_pack(tmp_path / "pack1", "1.0.0")
    assert upload(client, files) == 303
    job = wait_for_job(client)
    assert job["error"] is None and "installed test-pack 1.0.0" in job["result"]
    store = ModelStore(running.home / "models")
    assert store.current().version == "1.0.0"
    assert running.changes == [True]
    page = client.get("/models").body
    assert "test-pack 1.0.0" in page and "Language model" in page
    assert "test-pack 1.0.0" in client.get("/").body
    assert not any((running.home / "uploads").iterdir()), "the upload is cleaned away"
    voices = client.get("/settings").body
    assert '<option value="voice">voice</option>' in voices


def test_switch_and_roll_back_between_installed_sets(
    running: Running, client: Client, tmp_path
) -> None:
    upload(client, make_pack(tmp_path / "pack1", "1.0.0"))
    wait_for_job(client)
    upload(client, make_pack(tmp_path / "pack2", "1.1.0"))
    wait_for_job(client)
    store = ModelStore(running.home / "models")
    assert (store.current().version, store.previous().version) == ("1.1.0", "1.0.0")
    csrf = client.csrf("/models")
    assert client.post("/models/rollback", {"csrf": csrf}).status == 303
    assert (store.current().version, store.previous().version) == ("1.0.0", "1.1.0")
    newer = next(s for s in store.sets() if s.version == "1.1.0")
    assert client.post("/models/switch", {"csrf": csrf, "set": newer.path.name}).status == 303
    assert store.current().version == "1.1.0"
    missing = client.post("/models/switch", {"csrf": csrf, "set": "../../etc"})
    assert missing.status == 400 and "not installed" in missing.body
    assert len(running.changes) == 4  # two imports, a rollback, a switch


def test_a_tampered_pack_is_refused_and_changes_nothing(
    running: Running, client: Client, tmp_path
) -> None:
    files = make_pack(tmp_path / "pack", "1.0.0")
    files["tiny.gguf"] = os.urandom(2048)  # not what the manifest pins
    assert upload(client, files) == 303
    job = wait_for_job(client)
    assert job["error"] and "tiny.gguf" in job["error"]
    assert ModelStore(running.home / "models").current() is None
    assert "Import failed" in client.get("/models").body


def test_uploads_that_are_not_packs_are_refused(running: Running, client: Client, tmp_path) -> None:
    files = make_pack(tmp_path / "pack", "1.0.0")
    no_manifest = {k: v for k, v in files.items() if k != "manifest.toml"}
    assert upload(client, no_manifest) == 400
    assert upload(client, {"bad name!.gguf": b"x", **files}) == 400
    assert upload(client, files, csrf="wrong") == 403
    assert upload(client, files, csrf=None) == 403
    plain = client.post("/models/upload", {"csrf": client.csrf("/models")})
    assert plain.status == 400
    assert not any((running.home / "uploads").iterdir())
    assert ModelStore(running.home / "models").current() is None


def test_an_unsigned_upload_needs_a_hold_at_the_box(
    running: Running, client: Client, tmp_path, monkeypatch
) -> None:
    """Even a logged-in page cannot install an unsigned pack without someone at the box."""
    from appliance.core import presence

    monkeypatch.setattr(presence, "WINDOW", 0.3)
    running.server.web.models.import_options = {"smoke_test": None}
    assert upload(client, make_pack(tmp_path / "pack", "1.0.0")) == 303
    job = wait_for_job(client)
    assert "nobody held the button at the box in time" in job["error"]
    assert ModelStore(running.home / "models").current() is None
    # With the hold (the daemon confirming the request the page's import made), it goes in.
    box = presence.PresenceGate(running.home / "presence")
    stop = threading.Event()

    def hold() -> None:
        while not stop.is_set() and not box.confirm():
            stop.wait(0.02)

    holder = threading.Thread(target=hold)
    holder.start()
    monkeypatch.setattr(presence, "WINDOW", 10.0)
    try:
        assert upload(client, make_pack(tmp_path / "pack2", "1.0.0")) == 303
        job = wait_for_job(client)
    finally:
        stop.set()
        holder.join()
    assert job["error"] is None and "confirmed by a hold at the box" in job["result"]
