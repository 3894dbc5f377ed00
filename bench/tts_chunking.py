"""Memory and latency of the voice: one whole-graph decode per sentence vs streamed chunks.

Run: .venv/bin/python bench/tts_chunking.py   (writes bench/results/tts_chunking.txt)

Each variant runs in a fresh process, so its load-time memory is its own:

- ``whole (piper)``: what Parlo did before streaming, piper's ``PiperVoice.synthesize``
  on one session of the whole graph (per-sentence peak normalisation);
- ``chunked``: :class:`~appliance.speech.tts.PiperTts` as shipped;
- ``chunked, mem pattern on`` and ``chunked, no prepacking``: the same with one
  onnxruntime session option changed, to see whether it saves memory or costs time.

For one-sentence pieces of 5 to 30 words it measures, with 1 thread, the peak RSS growth
of a call (VmHWM reset through /proc/self/clear_refs, freed memory handed back first),
the time to the first chunk and the total time (medians over RUNS calls). "RSS loaded" is
after the voice's load and warm-up, with freed memory handed back; "peak while loading"
is the VmHWM during it. Timings on a
shared 2-core box are noisy: compare variants within one run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.core.memory import release_free_memory  # noqa: E402

RUNS = 5
WORD_COUNTS = (5, 10, 15, 20, 30)
TEXT = (
    "my friend and I walked to the old market by the river on a sunny morning and "
    "we bought fresh bread green apples sweet oranges a small cake and two cups of "
    "hot tea before the long bus ride home"
)
VARIANTS = ("whole (piper)", "chunked", "chunked, mem pattern on", "chunked, no prepacking")
RESULTS = ROOT / "bench" / "results" / "tts_chunking.txt"


def sentence(words: int) -> str:
    text = " ".join(TEXT.split()[:words])
    return text[0].upper() + text[1:] + "."


def memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> int:
    """Hand freed memory back, reset VmHWM to the current RSS and return that RSS (kB)."""
    release_free_memory()
    Path("/proc/self/clear_refs").write_text("5")
    return memory_kb("VmRSS")


def load(variant: str, model_path: Path) -> Callable[[str], Iterator[np.ndarray]]:
    """The variant's voice, as a function from text to audio pieces."""
    import onnxruntime

    from appliance.speech import tts

    if variant == "whole (piper)":
        from piper import PiperVoice
        from piper.config import PiperConfig

        from appliance.speech.vad import cpu_session

        config_path = model_path.with_name(model_path.name + ".json")
        config = PiperConfig.from_dict(json.loads(config_path.read_text()))
        voice = PiperVoice(session=cpu_session(model_path, 1), config=config)
        list(voice.synthesize("Hello."))
        return lambda text: (chunk.audio_float_array for chunk in voice.synthesize(text))

    shipped = tts.session_options

    def with_option(threads: int = 1) -> onnxruntime.SessionOptions:
        options = shipped(threads)
        if variant == "chunked, mem pattern on":
            options.enable_mem_pattern = True
        elif variant == "chunked, no prepacking":
            options.add_session_config_entry("session.disable_prepacking", "1")
        return options

    tts.session_options = with_option
    voice = tts.PiperTts(model_path, threads=1)
    return voice.stream


def measure(variant: str) -> dict:
    """Everything about one variant, in this (fresh) process."""
    import onnxruntime  # noqa: F401
    import piper  # noqa: F401

    from appliance.core.paths import model_store_root
    from appliance.models.store import ModelStore

    model_path = ModelStore(model_store_root()).current().file("tts")
    imported = reset_peak()
    started = time.perf_counter()
    speak = load(variant, model_path)
    load_s = time.perf_counter() - started
    load_peak = memory_kb("VmHWM")
    loaded = reset_peak()
    found = {
        "variant": variant,
        "rss_imports_mb": imported / 1024,
        "rss_after_load_mb": loaded / 1024,
        "load_peak_mb": load_peak / 1024,
        "load_s": load_s,
        "pieces": {},
    }
    for words in WORD_COUNTS:
        text = sentence(words)
        growth, first, total, chunks, seconds = [], [], [], 0, 0.0
        for _ in range(RUNS):
            before = reset_peak()
            started = time.perf_counter()
            pieces = []
            for piece in speak(text):
                if not pieces:
                    first.append(time.perf_counter() - started)
                pieces.append(piece)
            total.append(time.perf_counter() - started)
            growth.append((memory_kb("VmHWM") - before) / 1024)
            chunks, seconds = len(pieces), sum(len(p) for p in pieces) / 22050
            del pieces
        found["pieces"][words] = {
            "peak_growth_mb": statistics.median(growth),
            "first_ms": statistics.median(first) * 1000,
            "total_ms": statistics.median(total) * 1000,
            "chunks": chunks,
            "audio_s": seconds,
        }
    return found


def report(results: list[dict]) -> str:
    lines = [
        "Voice memory and latency: whole-graph decode vs streamed chunks "
        "(en_US-joe-medium, 1 thread)",
        f"command: .venv/bin/python bench/tts_chunking.py  (medians of {RUNS} calls per cell)",
        "",
        f"{'variant':<26} {'RSS imports':>12} {'RSS loaded':>11} {'load adds':>10}"
        f" {'peak while loading':>18} {'load s':>7}",
    ]
    for found in results:
        imports, loaded, peak = (
            found["rss_imports_mb"],
            found["rss_after_load_mb"],
            found["load_peak_mb"],
        )
        lines.append(
            f"{found['variant']:<26} {imports:>9.0f} MB {loaded:>8.0f} MB"
            f" {loaded - imports:>7.0f} MB {peak:>15.0f} MB {found['load_s']:>7.1f}"
        )
    lines += [
        "",
        f"{'variant':<26} {'words':>5} {'audio s':>7} {'chunks':>6} {'peak +MB':>8} "
        f"{'first ms':>8} {'total ms':>8}",
    ]
    for found in results:
        for words, piece in found["pieces"].items():
            lines.append(
                f"{found['variant']:<26} {words:>5} {piece['audio_s']:>7.2f} {piece['chunks']:>6}"
                f" {piece['peak_growth_mb']:>8.1f} {piece['first_ms']:>8.0f}"
                f" {piece['total_ms']:>8.0f}"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--variant":
        print(json.dumps(measure(sys.argv[2])))
        return
    results = []
    for variant in VARIANTS:
        print(f"measuring {variant} ...", file=sys.stderr)
        done = subprocess.run(
            [sys.executable, __file__, "--variant", variant],
            capture_output=True,
            text=True,
            check=True,
        )
        found = json.loads(done.stdout.strip().splitlines()[-1])
        found["pieces"] = {int(words): piece for words, piece in found["pieces"].items()}
        results.append(found)
    text = report(results)
    RESULTS.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
