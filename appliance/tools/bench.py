"""``parlo bench``: latency and memory of the speech loop, on the real models.

The student questions in ``tools/data/utterances.txt`` are spoken by the installed
piper voice, padded with the silence a button press leaves around speech
(0.3 s), and played in real time into the same :class:`Engine` the daemon runs,
through a file-backed microphone: press, speak, release when the clip ends.

In the same run it measures a *sequential* baseline on the same models: VAD
after release, STT over whisper's full 30 s window, the whole reply, the whole
reply's speech, then play. The ratio of the two medians is the speed-up that
streaming buys.

Release → first audio is measured from the moment the button is released to
the first sample of the reply handed to the sound device (earcons excluded).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio.files import FileDevices
from appliance.audio.wav import resample, write_wav
from appliance.core.config import Config, load_config, save_config
from appliance.core.events import State, StateChanged, TurnFinished
from appliance.core.memory import release_free_memory
from appliance.engine.conversation import Engine
from appliance.lessons.activities import activity_for, word_budget
from appliance.lessons.text import speakable, word_count
from appliance.speech.loaded import Models

UTTERANCES = Path(__file__).parent / "data" / "utterances.txt"
PRESS_SILENCE_S = 0.3
# "plan" is the turn planner writing the reply (the default for built-in activities);
# "llm_*" the language model writing it (llm.planning = "free", or a teacher's activity).
STAGES = (
    "vad", "stt", "plan", "llm_first_token", "llm_first_sentence", "tts_first_chunk", "first_audio"
)  # fmt: skip


def load_utterances(path: Path = UTTERANCES) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def spoken(models: Models, text: str, silence_s: float = PRESS_SILENCE_S) -> np.ndarray:
    """``text`` spoken by the installed voice, at 16 kHz, with silence around it."""
    voice = models.tts
    audio = resample(voice.synthesize(text), voice.sample_rate, 16000)
    pad = np.zeros(int(16000 * silence_s), dtype=np.float32)
    return np.concatenate([pad, audio, pad])


def process_memory_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS (now) and VmHWM (the peak since start, or since :func:`reset_peak_rss`), in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


def rss_mb() -> float:
    return process_memory_mb()["VmRSS"]


def peak_rss_mb() -> float:
    return process_memory_mb()["VmHWM"]


def reset_peak_rss() -> None:
    """Start peak RSS afresh (Linux: writing 5 to clear_refs resets VmHWM)."""
    Path("/proc/self/clear_refs").write_text("5")


def live_turn(engine: Engine, devices: FileDevices, clip: np.ndarray) -> dict[str, Any]:
    """Press, let the student speak ``clip`` in real time, release; wait for the answer."""
    finished: queue.Queue[TurnFinished | StateChanged] = queue.Queue()
    unsubscribe = engine.events.subscribe(finished.put)
    try:
        devices.feed(clip)
        engine.listen()
        while devices.pending_frames:
            time.sleep(0.005)
        engine.finish_listening()
        while True:
            event = finished.get(timeout=120)
            if isinstance(event, TurnFinished) and not event.heard:
                return {"transcript": "", "reply": "", "not_heard": "no speech heard"}
            if isinstance(event, TurnFinished):
                return {"transcript": event.transcript, "reply": event.reply, **event.timings_ms}
            if isinstance(event, StateChanged) and event.state == State.IDLE and event.detail:
                return {"transcript": "", "reply": "", "not_heard": event.detail}
    finally:
        unsubscribe()


# Long enough that the box is still talking when the student presses.
BARGE_IN_LINE = (
    "Once upon a time there was a tiny dragon who lived in a library by the sea. "
    "Every night she read one book, and every morning she told the fish about it."
)
BARGE_IN_AFTER_S = 0.6  # of reply played before the press


def barge_in(engine: Engine, devices: FileDevices) -> float:
    """Press while the box talks: ms until the speaker falls silent (its last sample is
    played). The press is ``engine.cancel()``, the first thing a barge-in's ``listen()``
    does; the press earcon that follows is new sound, not the reply going on."""
    engine.earcon("press")  # one block through the speaker, so it is open
    devices.played_until = None
    done = engine.say(BARGE_IN_LINE)
    started = time.perf_counter()
    while devices.played_until is None or devices.played_until - started < BARGE_IN_AFTER_S:
        if time.perf_counter() - started > 30:
            raise RuntimeError("the reply never started playing")
        time.sleep(0.005)
    pressed = time.perf_counter()
    engine.cancel()
    done.result(timeout=30)
    time.sleep(0.3)  # anything still playing would have played by now
    assert devices.played_until is not None
    return max(0.0, (devices.played_until - pressed) * 1000)


def sequential_turn(engine: Engine, audio: np.ndarray) -> dict[str, float]:
    """The naive loop: each stage waits for the whole of the one before."""
    models, config = engine.models, engine.config
    released = time.perf_counter()
    speech = models.vad.trim(audio, config.vad.min_speech_ms, config.vad.pad_ms)
    vad_done = time.perf_counter()
    transcript = models.stt.transcribe(speech, fit_window=False) if speech is not None else ""
    stt_done = time.perf_counter()
    words_left, parts = word_budget(activity_for(config), config), []
    if engine.planner is not None:  # the same reply the streamed turn gives, planned whole
        parts.append(engine.planner.plan(transcript).text)
    else:
        for text in models.llm.stream(
            engine.prompt(transcript), config.reply.max_tokens,
            temperature=config.llm.temperature, max_seconds=config.reply.max_seconds,
        ):  # fmt: skip
            parts.append(text)
            if word_count("".join(parts)) >= words_left and text.rstrip().endswith((".", "!", "?")):
                break
    llm_done = time.perf_counter()
    models.tts.synthesize(speakable("".join(parts)) or "Hello.")
    tts_done = time.perf_counter()
    return {
        "vad": (vad_done - released) * 1000,
        "stt": (stt_done - vad_done) * 1000,
        "llm": (llm_done - stt_done) * 1000,
        "tts": (tts_done - llm_done) * 1000,
        "first_audio": (tts_done - released) * 1000,
    }


def idle_cpu_percent(seconds: float = 5.0) -> float:
    """CPU used by this whole process (all threads) while the engine sits idle."""
    before, started = os.times(), time.monotonic()
    time.sleep(seconds)
    after = os.times()
    used = (after.user - before.user) + (after.system - before.system)
    return 100 * used / (time.monotonic() - started)


def measure_startup() -> dict[str, float]:
    """Start ``parlo run`` as systemd would, with a real ``NOTIFY_SOCKET``.

    Times process start → ``READY=1`` (models loaded and warm), then SIGTERM →
    exit, and reads the daemon's RSS at READY. The microphone and speaker are
    files, and the web page listens on a free loopback port, so nothing else on
    the machine is touched.
    """
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(folder / "notify"))
        notify.settimeout(120)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = load_config().with_changes({"web.port": port, "web.bind": ("127.0.0.1",)})

        save_config(config, folder / "config.toml")
        write_wav(folder / "silence.wav", np.zeros(1600, dtype=np.float32), 16000)
        environment = {**os.environ, "NOTIFY_SOCKET": str(folder / "notify"),
                       "PARLO_CONFIG": str(folder / "config.toml")}  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "appliance", "run", "--input-wav", str(folder / "silence.wav"),
             "--output-wav", str(folder / "out.wav")],
            env=environment, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while b"READY=1" not in notify.recv(4096):
                pass
            ready = time.perf_counter() - started
            memory = process_memory_mb(process.pid)
            stopping = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=30)
            stopped = time.perf_counter() - stopping
        finally:
            process.kill()
            notify.close()
    return {"start_to_ready_s": round(ready, 2), "sigterm_to_exit_s": round(stopped, 2),
            "sigterm_exit_code": exit_code, "daemon_rss_at_ready_mb": memory["VmRSS"],
            "daemon_peak_rss_at_ready_mb": memory["VmHWM"]}  # fmt: skip


def percentiles(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(values, 50)), 1),
        "p95": round(float(np.percentile(values, 95)), 1),
    }


def measure(runs: int, config: Config, scaling: bool = False) -> dict[str, Any]:
    from appliance.app.wiring import build_engine

    started = time.perf_counter()
    devices = FileDevices(realtime=True)
    engine = build_engine(config, devices)
    load_seconds = time.perf_counter() - started
    rss_after_load, peak_loading = rss_mb(), peak_rss_mb()
    utterances = load_utterances()
    clips = [engine.run_exclusive(spoken, engine.models, text) for text in utterances]
    engine.run_turn(clips[0], 16000)  # warm every path once
    engine.reset()
    time.sleep(2.0)  # let worker threads of the last turn wind down
    idle_cpu = idle_cpu_percent()
    # The clips above are the bench's own work, not the daemon's: start the peak afresh.
    engine.run_exclusive(release_free_memory)
    reset_peak_rss()

    streamed: list[dict[str, float]] = []
    sequential: list[dict[str, float]] = []
    turns = []
    for run in range(runs):
        turn = live_turn(engine, devices, clips[run % len(clips)])
        streamed.append(turn)
        turns.append(
            {
                "question": utterances[run % len(clips)],
                "heard": turn["transcript"],
                "reply": turn["reply"],
                "first_audio_ms": turn.get("first_audio"),
            }
        )
    peak_turns = peak_rss_mb()  # the daemon's own peak: live turns (loading is measured above)
    barge_ins = [barge_in(engine, devices) for _ in range(max(3, min(runs, 10)))]
    engine.reset()
    reset_peak_rss()
    for run in range(runs):
        sequential.append(engine.run_exclusive(sequential_turn, engine, clips[run % len(clips)]))
        engine.reset()

    first_audio = [t["first_audio"] for t in streamed if "first_audio" in t]
    if not first_audio:
        raise RuntimeError("no turn produced audio: the loop is broken, see the log")
    stages = {
        s: percentiles([t[s] for t in streamed if s in t])["p50"]
        for s in STAGES
        if any(s in t for t in streamed)
    }
    # Overhead: what the turn took beyond the stages' own compute on its critical path.
    critical = ("stt", "llm_first_sentence", "tts_first_chunk", "first_audio")
    overhead = [
        t["first_audio"] - (t["stt"] + t["llm_first_sentence"] + t["tts_first_chunk"])
        for t in streamed
        if all(key in t for key in critical)
    ]
    sequential_first = [t["first_audio"] for t in sequential]
    result = {
        "runs": runs,
        "cores": os.cpu_count(),
        "activity": config.activity.name,
        "release_to_first_audio_ms": percentiles(first_audio),
        "sequential_ms": percentiles(sequential_first),
        "speedup_vs_sequential": round(
            float(np.median(sequential_first) / np.median(first_audio)), 2
        ),
        "stages_ms": stages,
        "sequential_stages_ms": {
            s: percentiles([t[s] for t in sequential])["p50"] for s in ("vad", "stt", "llm", "tts")
        },
        "barge_in_ms": percentiles(barge_ins),
        "overhead_ms": percentiles(overhead) if overhead else None,
        "overhead_percent": round(100 * float(np.median(overhead) / np.median(first_audio)), 1)
        if overhead
        else None,
        "peak_rss_mb": round(max(peak_loading, peak_turns), 1),
        "peak_rss_loading_mb": round(peak_loading, 1),
        "peak_rss_turns_mb": round(peak_turns, 1),
        "peak_rss_sequential_mb": round(peak_rss_mb(), 1),
        "rss_after_load_mb": round(rss_after_load, 1),
        "load_seconds": round(load_seconds, 2),
        "idle_cpu_percent": round(idle_cpu, 2),
        "turns": turns,
    }
    if scaling:
        result["scaling"] = measure_scaling(engine, devices, utterances)
    engine.close()
    result.update(measure_startup())
    return result


def measure_scaling(
    engine: Engine, devices: FileDevices, utterances: list[str]
) -> list[dict[str, float]]:
    """Release → first audio, and STT alone (what is left to transcribe after release), for
    utterances of 1 to 20 s, each played in real time with the button held around it (so
    the engine transcribes at the pauses while it is spoken, as in the daemon)."""
    voice_rate = 16000
    # Not starting with "Hello, my name is Anna": to that, the tiny model often answers
    # "I'm Anna", and the engine asks again (a fair cost, but not what this table is about).
    texts = utterances[1:] + utterances[:1]
    speech = np.concatenate([engine.run_exclusive(spoken, engine.models, t, 0.1) for t in texts])
    rows = []
    for seconds in (1, 3, 5, 10, 20):
        clip = speech[: seconds * voice_rate]
        pad = np.zeros(int(voice_rate * PRESS_SILENCE_S), dtype=np.float32)
        timings = []
        for _ in range(3):
            engine.reset()
            timings.append(live_turn(engine, devices, np.concatenate([pad, clip, pad])))
        rows.append({
            "seconds": seconds,
            "stt_ms": percentiles([t.get("stt", 0.0) for t in timings])["p50"],
            "first_audio_ms": percentiles([t.get("first_audio", 0.0) for t in timings])["p50"],
        })  # fmt: skip
    return rows


def render_table(result: dict[str, Any]) -> str:
    first, sequential = result["release_to_first_audio_ms"], result["sequential_ms"]
    lines = [
        f"Parlo bench: {result['runs']} turns on {result['cores']} cores "
        f"(activity {result['activity']})",
        "",
        f"  release → first audio   p50 {first['p50']:7.0f} ms   p95 {first['p95']:7.0f} ms",
        f"  sequential baseline     p50 {sequential['p50']:7.0f} ms   "
        f"p95 {sequential['p95']:7.0f} ms",
        f"  speed-up vs sequential  {result['speedup_vs_sequential']:.2f}×",
        f"  press → reply silent    p50 {result['barge_in_ms']['p50']:7.0f} ms   "
        f"p95 {result['barge_in_ms']['p95']:7.0f} ms   (barge-in)",
        "",
        "  stage medians (ms):",
    ]
    lines += [f"    {name:20s} {value:7.0f}" for name, value in result["stages_ms"].items()]
    if result["overhead_ms"]:
        lines.append(
            f"    {'pipeline overhead':20s} {result['overhead_ms']['p50']:7.0f}"
            f"   ({result['overhead_percent']}% of first audio)"
        )
    lines += [
        "",
        f"  models loaded and warm  {result['load_seconds']:.2f} s   (in process)",
        f"  process start → READY=1 {result['start_to_ready_s']:.2f} s   "
        f"(SIGTERM → exit {result['sigterm_to_exit_s']:.2f} s, status "
        f"{result['sigterm_exit_code']})",
        f"  RSS after load          {result['rss_after_load_mb']:.0f} MB   (the daemon with its "
        f"web page, at READY: {result['daemon_rss_at_ready_mb']:.0f} MB, peak "
        f"{result['daemon_peak_rss_at_ready_mb']:.0f} MB)",
        f"  peak RSS                {result['peak_rss_mb']:.0f} MB"
        f"   (loading {result['peak_rss_loading_mb']:.0f}, turns {result['peak_rss_turns_mb']:.0f};"
        f" sequential baseline: {result['peak_rss_sequential_mb']:.0f} MB)",
        f"  idle CPU                {result['idle_cpu_percent']:.2f} %",
    ]
    for row in result.get("scaling", []):
        if row is result["scaling"][0]:
            lines += ["", "  utterance   STT      first audio"]
        lines.append(
            f"  {row['seconds']:4d} s   {row['stt_ms']:6.0f} ms   {row['first_audio_ms']:6.0f} ms"
        )
    return "\n".join(lines)


def run_bench(runs: int, as_json: bool, chart: Path | None = None, scaling: bool = False) -> int:
    result = measure(runs, load_config(), scaling=scaling)
    if chart is not None:
        from appliance.tools.benchchart import draw_chart

        draw_chart(result, chart)
    if as_json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(render_table(result))
    sys.stdout.flush()
    return 0
