"""Peak RSS of the whole daemon: models, web page, button, LED, through real turns.

``parlo bench`` measures the engine alone. This runs the daemon's own
composition (:func:`appliance.app.wiring.build_daemon`, web page on, a
gpiozero mock button and LED, file-backed sound in real time) in this process,
and presses the button for each question of ``appliance/tools/data/utterances.txt``. The
question audio is made in a child process, so none of its memory is counted.

    .venv/bin/python bench/daemon_memory.py [--turns 12]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from appliance.audio.files import FileDevices
from appliance.audio.wav import read_wav
from appliance.core.config import Config, save_config
from appliance.core.events import EventStream, State, TurnFinished
from appliance.tools.bench import peak_rss_mb, reset_peak_rss, rss_mb

MAKE_CLIPS = """
import sys
from pathlib import Path
from appliance.app.wiring import current_model_set
from appliance.audio.wav import write_wav
from appliance.tools.bench import load_utterances, spoken
from appliance.speech.loaded import Models
from appliance.core.config import Config
models = Models.load(current_model_set(), Config())
for number, text in enumerate(load_utterances()):
    write_wav(Path(sys.argv[1]) / f"{number:02d}.wav", spoken(models, text), 16000)
"""


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the daemon did not get there in time")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=12)
    args = parser.parse_args()

    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from appliance.app.wiring import build_daemon

    scratch = Path(tempfile.mkdtemp(prefix="parlo-daemon-memory-"))
    subprocess.run([sys.executable, "-c", MAKE_CLIPS, str(scratch)], check=True,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    clips = [read_wav(path)[0] for path in sorted(scratch.glob("*.wav"))]

    os.environ["PARLO_CONFIG"] = str(scratch / "config.toml")
    config = Config().with_changes({"web.port": free_port(), "web.bind": ("127.0.0.1",)})
    save_config(config, scratch / "config.toml")
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    devices = FileDevices(output_path=scratch / "speaker.wav", realtime=True)
    events = EventStream()
    finished: list[TurnFinished] = []
    events.subscribe(lambda event: isinstance(event, TurnFinished) and finished.append(event))
    started = rss_mb()
    daemon = build_daemon(config, devices, events=events)
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    led = Device.pin_factory.pin(config.led.pin)
    wait_until(lambda: events.last_state.state == State.IDLE and 0 < led.state < 0.5)
    ready, loading_peak = rss_mb(), peak_rss_mb()  # the dim idle light: the button is live
    reset_peak_rss()

    button = Device.pin_factory.pin(config.button.pin)
    silence = np.zeros(4800, dtype=np.float32)
    for turn in range(args.turns):
        devices.feed(np.concatenate([clips[turn % len(clips)], silence]))
        button.drive_low()
        wait_until(lambda: events.last_state.state == State.LISTENING, timeout=10)
        wait_until(lambda: devices.pending_frames == 0)
        button.drive_high()
        wait_until(lambda n=turn: len(finished) > n)
        wait_until(lambda: events.last_state.state == State.IDLE)
    turns_peak, after = peak_rss_mb(), rss_mb()
    daemon.stop("measured")
    runner.join(15)
    shutil.rmtree(scratch, ignore_errors=True)

    print(f"Parlo daemon memory: {args.turns} turns, web page on, mock button and LED")
    print("command: .venv/bin/python bench/daemon_memory.py")
    print(f"  before the daemon            {started:5.0f} MB")
    print(f"  READY (models loaded, warm)  {ready:5.0f} MB   (loading peak {loading_peak:.0f})")
    print(f"  peak over the turns          {turns_peak:5.0f} MB")
    print(f"  after the turns              {after:5.0f} MB")
    print(f"  peak RSS of the daemon       {max(loading_peak, turns_peak):5.0f} MB")
    heard = sum(bool(event.reply) for event in finished)
    print(f"  turns answered               {heard}/{args.turns}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
