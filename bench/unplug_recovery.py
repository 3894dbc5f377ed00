"""How quickly the box notices an unplugged microphone, and recovers once it is back.

Run: python bench/unplug_recovery.py

Uses the audio watchdog with its real default timings (stall detection,
backoff 0.5-5 s) on the fake PortAudio from the tests: a USB microphone that
goes silent while listening ("stall", the hardest case) and returns after a
while. Prints, per trial, the time from unplug to the ERROR state and from
plug-in to IDLE.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1]),
    str(Path(__file__).resolve().parents[1] / "tests"),
]

from test_audio_supervised import FakePortAudio  # noqa: E402

from appliance.audio.devices import Microphone  # noqa: E402
from appliance.audio.supervised import SupervisedAudio  # noqa: E402
from appliance.core.events import EventStream, State  # noqa: E402


def wait_for(condition, timeout: float = 60.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError("no recovery")
        time.sleep(0.005)
    return time.monotonic() - started


def trial(out_for: float) -> tuple[float, float]:
    portaudio = FakePortAudio()
    events = EventStream()
    events.state(State.IDLE, "ready")
    audio = SupervisedAudio(portaudio, events=events, input_device="USB PnP",
                            reinitialise=portaudio.reinitialise)  # fmt: skip
    microphone = Microphone(audio, "USB PnP")
    microphone.open(lambda block: None)
    time.sleep(0.5)
    portaudio.microphone.unplug("stall")
    detected = wait_for(lambda: events.last_state.state is State.ERROR)
    time.sleep(max(0.0, out_for - detected))
    portaudio.microphone.plug_in()
    recovered = wait_for(lambda: events.last_state.state is State.IDLE)
    microphone.close()
    audio.close()
    return detected, recovered


if __name__ == "__main__":
    for out_for in (2.0, 5.0, 10.0):
        results = [trial(out_for) for _ in range(3)]
        detect = statistics.median(d for d, _ in results)
        recover = statistics.median(r for _, r in results)
        print(f"unplugged {out_for:4.0f} s: detected after {detect:.2f} s, "
              f"back to idle {recover:.2f} s after plug-in (median of 3)")  # fmt: skip
