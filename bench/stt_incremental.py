"""Long turns: transcribed while they are spoken, against all at release, on real speech.

Run: .venv/bin/python bench/stt_incremental.py [--store DIR ...] [--cache DIR]
     [--conditions clean,classroom] [--repeats N] [--sets sonnet,talk,prose]
     [--release-after 0.3] (writes bench/results/stt_incremental.txt)

The speech is the real recordings of ``bench/stt_robustness.py``, as long turns of
9 to 24 s (a B1 student's):

- ``sonnet``: Sonnet 1 read for LibriVox, four lines at a time, in four ways of
  grouping them (lines 1-4, 5-8...; 3-6, 7-10...; 2-5...; 4-7...): 13 turns whose
  pauses fall in different places;
- ``talk``: Michael McAuliffe's unscripted talk (the MFA sdist), two and three of
  his utterances at a time, as he said them: 6 turns;
- ``prose``: the MFA author's three sentences, President Kennedy's "ask not", and
  Allison Smith's telephone prompts two and three at a time: 5 turns.

Each is played in real time, in 128 ms blocks, into the project's Silero VAD, as the
engine does while the button is held, and the button is released ``--release-after``
seconds after the clip (0.3 s, as ``parlo bench``); at every pause of
``stt.guess_after_pause`` (0.25 s) the VAD's speech so far goes to
:class:`appliance.speech.incremental.IncrementalTranscriber`, which transcribes it
on its own thread while the audio plays on. At release it gives the turn's words
(:meth:`~appliance.speech.incremental.IncrementalTranscriber.finish`). On the same
final VAD speech, the bench then measures ``whole``: ``WhisperStt.hear`` on all of
it, as the engine does without ``stt.incremental`` (and without a pause long enough
for the pause guess).

Whisper's words for one piece of audio change a little with what the model decoded
before it, so one pass is noisy: ``--repeats N`` plays every turn N times, the
second and later with a different faint dither (white noise 80 dB below full
scale), and the WER is over all of them. Reported per tier and condition: WER of
each way; the incremental way's difference from ``whole``, with a 90% bootstrap
interval over the turns, and how many turns it heard worse and better; and after
release (median / worst): the tail's length and the time to the words. The times
are from a 2-core box shared with other work: they say where the time goes, not
what a quiet box does.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import stt_robustness as robustness  # noqa: E402

from appliance.core.config import Config  # noqa: E402
from appliance.speech.incremental import (  # noqa: E402
    BUDGET_SECONDS,
    MIN_TAIL_SECONDS,
)
from appliance.tools.bench import PRESS_SILENCE_S  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "stt_incremental.txt"
CONDITIONS = ("clean", "classroom")
SETS = ("sonnet", "talk", "prose")
BLOCK = 2048  # 128 ms
DITHER = 1e-4  # -80 dBFS
# The sonnet's 14 lines, four at a time, from four different first lines.
SONNET_GROUPS = ((0, 4, 8, 12), (2, 6, 10), (1, 5, 9), (3, 7, 11))


def long_turns(cache: Path, names: list[str]) -> dict[str, list[robustness.Clip]]:
    """The long turns of each set named (see the module)."""

    def joined(parts: list[robustness.Clip]) -> robustness.Clip:
        return robustness.Clip(
            " ".join(part.text for part in parts), np.concatenate([p.audio for p in parts])
        )

    found: dict[str, list[robustness.Clip]] = {}
    if "sonnet" in names:
        source = robustness.obtain_source(cache)
        found["sonnet"] = [
            clip for group in SONNET_GROUPS for clip in robustness.load_clips(source, group)
        ]
    if "talk" in names or "prose" in names:
        mfa = robustness.obtain_sdist(
            cache, robustness.MFA, robustness.MFA_FILE, robustness.MFA_SHA256
        )
        if "talk" in names:
            talk = robustness.load_talk(mfa)  # 3 utterances from each of two recordings
            pairs = ((0, 2), (1, 3), (3, 5), (4, 6), (0, 3), (3, 6))
            found["talk"] = [joined(talk[a:b]) for a, b in pairs]
        if "prose" in names:
            prose = robustness.load_prose(cache, mfa)  # 3 MFA, Kennedy, 7 prompts
            found["prose"] = [
                joined(prose[0:3]), prose[3], joined(prose[4:7]), joined(prose[7:9]),
                joined(prose[9:11]),
            ]  # fmt: skip
    unknown = set(names) - set(found)
    if unknown:
        raise SystemExit(f"unknown sets {', '.join(sorted(unknown))} (known: {', '.join(SETS)})")
    return found


def held_turns(
    cache: Path, names: list[str], release_after: float
) -> dict[str, list[robustness.Clip]]:
    """:func:`long_turns`, each with ``release_after`` s of silence before and after it
    (before any condition is made of it: the room's noise goes on while the button is
    held)."""
    silence = np.zeros(round(release_after * robustness.RATE), np.float32)
    return {
        name: [robustness.Clip(c.text, np.concatenate([silence, c.audio, silence])) for c in group]
        for name, group in long_turns(cache, names).items()
    }


def run_clip(stt, vad, audio: np.ndarray, settings: dict[str, float]) -> dict[str, Any] | None:
    """One turn in real time: the incremental transcript and the whole one; None if the
    VAD heard no speech in it."""
    from appliance.speech.incremental import IncrementalTranscriber

    config = Config()
    stream = vad.stream()
    transcriber = IncrementalTranscriber(stt.hear, **settings)
    paused_at = -1
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
                transcriber.pause(speech)
        # Real time: the next block arrives when it has been spoken.
        time.sleep(max(0.0, started + (offset + BLOCK) / robustness.RATE - time.monotonic()))
    speech = stream.speech(config.vad.min_speech_ms, config.vad.pad_ms)
    if speech is None:
        transcriber.cancel()
        return None
    released = time.perf_counter()
    incremental = transcriber.finish(speech)
    incremental_ms = (time.perf_counter() - released) * 1000
    released = time.perf_counter()
    whole = stt.hear(speech)
    whole_ms = (time.perf_counter() - released) * 1000
    return {
        "incremental": incremental.text,
        "whole": whole.text,
        "incremental_ms": incremental_ms,
        "whole_ms": whole_ms,
        "tail_s": transcriber.tail_seconds_after_release,
        "ready": transcriber.ready_at_release,
        "way": transcriber.way,
        "transcriptions": transcriber.transcriptions,
        "speech_s": len(speech) / robustness.RATE,
        "unintelligible": incremental.unintelligible or whole.unintelligible,
    }


WAYS = ("whole", "incremental")


def errors(clip: robustness.Clip, text: str) -> int:
    return robustness.edit_distance(robustness.words(clip.text), robustness.words(text))


def summarise(clips: list[robustness.Clip], results: list[dict[str, Any] | None]) -> dict[str, Any]:
    """WER of each way, and the incremental way against the whole, over ``results``
    (one per clip per repeat, clips repeating in order; None where the VAD heard nothing,
    left out of every way alike)."""
    refs = [clips[i % len(clips)] for i, r in enumerate(results) if r is not None]
    missed = sum(r is None for r in results)
    results = [r for r in results if r is not None]
    total = sum(len(robustness.words(clip.text)) for clip in refs)
    row: dict[str, Any] = {
        way: sum(errors(clip, r[way]) for clip, r in zip(refs, results, strict=True)) / total
        for way in WAYS
    }
    diffs = np.array(
        [
            errors(clip, r["incremental"]) - errors(clip, r["whole"])
            for clip, r in zip(refs, results, strict=True)
        ]
    )
    rng = np.random.default_rng(0)
    boots = [rng.choice(diffs, len(diffs)).sum() / total for _ in range(4000)]
    row["diff"] = diffs.sum() / total
    row["ci"] = tuple(np.percentile(boots, [5, 95]))
    row["worse"], row["better"] = int((diffs > 0).sum()), int((diffs < 0).sum())
    for key in ("whole_ms", "incremental_ms", "tail_s"):
        values = [float(r[key]) for r in results]
        row[key] = (statistics.median(values), max(values))
    ways = collections.Counter(r["way"] for r in results)
    row["ways"] = " ".join(f"{way} {count}" for way, count in sorted(ways.items()))
    row["unintelligible"] = sum(bool(r["unintelligible"]) for r in results)
    row["n"] = len(results)
    row["missed"] = missed
    return row


def main() -> int:
    from appliance.core.paths import model_store_root
    from appliance.models.store import ModelStore
    from appliance.speech.stt import WhisperStt
    from appliance.speech.vad import SileroVad

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, action="append", help="a model store (repeat)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "parlo" / "bench")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated")
    parser.add_argument("--repeats", type=int, default=1, help="passes, dithered after the first")
    parser.add_argument("--min-tail", type=float, default=MIN_TAIL_SECONDS)
    parser.add_argument("--budget", type=float, default=BUDGET_SECONDS)
    parser.add_argument(
        "--release-after", type=float, default=PRESS_SILENCE_S,
        help="seconds of silence after the clip before the release (and before the press)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be 1 or more")
    turns = held_turns(args.cache, args.sets.split(","), args.release_after)
    clips = [clip for group in turns.values() for clip in group]
    # Each turn's condition is made with its own set (the babble is other turns of it).
    places = [(group, index) for group in turns.values() for index in range(len(group))]
    stores = args.store or [model_store_root()]
    found = robustness.tiers(stores)
    vad_set = next(s for root in stores for s in ModelStore(root).sets())
    vad = SileroVad(vad_set.file("vad"))
    settings = {"min_tail_seconds": args.min_tail, "budget_seconds": args.budget}
    rows = []
    for name, model in found:
        stt = WhisperStt(model, "en", threads=2)
        for cond in args.conditions.split(","):
            results = []
            for repeat in range(args.repeats):
                for index, (group, place) in enumerate(places):
                    audio = robustness.condition(cond, group, place)
                    if repeat:
                        noise = np.random.default_rng(100 * repeat + index).standard_normal
                        audio = (audio + DITHER * noise(len(audio))).astype(np.float32)
                    results.append(run_clip(stt, vad, audio, settings))
            row = {"tier": name, "condition": cond, "results": results}
            row |= summarise(clips, results)
            rows.append(row)
            print(
                f"{name:14} {cond:10} WER whole {row['whole']:6.1%} incremental "
                f"{row['incremental']:6.1%} ({row['ways']}); tail "
                f"{row['tail_s'][0]:.1f} s, {row['incremental_ms'][0]:.0f} ms after release "
                f"({row['whole_ms'][0]:.0f} ms whole)",
                flush=True,
            )
    lengths = [len(clip.audio) / robustness.RATE for clip in clips]
    words_in_all = sum(len(robustness.words(clip.text)) for clip in clips)
    sets_line = ", ".join(f"{name} {len(group)}" for name, group in turns.items())
    lines = [
        "Long turns: transcribed at the pauses while spoken, against all at release",
        f"command: .venv/bin/python bench/stt_incremental.py{robustness._store_args(args.store)}"
        f" --conditions {args.conditions} --sets {args.sets} --repeats {args.repeats}"
        f" --min-tail {args.min_tail:g} --budget {args.budget:g}"
        f" --release-after {args.release_after:g}",
        f"speech: {len(clips)} long turns of real recorded speech ({sets_line}; "
        f"{min(lengths):.1f}-{max(lengths):.1f} s, {words_in_all} words), played in real time "
        f"through the Silero VAD, released {args.release_after:g} s after the clip; pause = "
        "0.25 s of silence; "
        f"{args.repeats} pass(es), dithered at -80 dBFS after the first",
        "incremental: each pause's speech so far transcribed from the turn's start while held;"
        " at release (ways: how many turns each way) the last pause's words if they cover the",
        "turn (ready), the transcription of the whole turn running if it ends sooner than a tail"
        f" would (waited), else the tail (at least {args.min_tail:g} s, or what {args.budget:g} s"
        " of whisper",
        "at the turn's measured speed covers) put after the words up to its pause (joined),"
        " or the whole turn if no pause leaves such a tail (whole)",
        "diff: incremental minus whole, with a 90% bootstrap interval over the turns; worse /"
        " better: turns heard with more / fewer errors than whole",
        "a turn in which the VAD heard no speech at all is left out of every way (counted below"
        " the table)",
        "after release (median / worst): tail seconds left to transcribe, and milliseconds to"
        " the words; 2 threads on a 2-core box shared with other work",
        "",
        f"{'tier':14} {'condition':10} {'whole':>6} {'incr.':>6} "
        f"{'diff (90% CI)':>22} {'worse/better':>12} {'tail s':>11} {'incr. ms':>12} "
        f"{'whole ms':>12}  ways",
    ]
    for row in rows:
        low, high = row["ci"]
        lines.append(
            f"{row['tier']:14} {row['condition']:10} {row['whole']:6.1%} "
            f"{row['incremental']:6.1%} "
            f"{row['diff']:+6.1%} ({low:+.1%}, {high:+.1%}) "
            f"{row['worse']:>5}/{row['better']:<6} "
            f"{row['tail_s'][0]:5.1f}/{row['tail_s'][1]:<5.1f} "
            f"{row['incremental_ms'][0]:5.0f}/{row['incremental_ms'][1]:<6.0f} "
            f"{row['whole_ms'][0]:5.0f}/{row['whole_ms'][1]:<6.0f} {row['ways']}"
        )
    for row in rows:
        if row["missed"] or row["unintelligible"]:
            lines.append(
                f"{row['tier']} / {row['condition']}: {row['missed']} turn(s) with no speech for"
                f" the VAD; {row['unintelligible']} heard as unintelligible by a way"
            )
    lines += ["", "Each turn of the first pass: the texts"]
    for row in rows:
        for clip, result in zip(clips, row["results"], strict=False):
            if result is None:
                lines.append(f"  {row['tier']} / {row['condition']}: no speech for the VAD")
                lines.append(f"    reference:   {clip.text!r}")
                continue
            lines.append(
                f"  {row['tier']} / {row['condition']}: {result['transcriptions']} transcriptions"
                f" while held, {result['way']}, tail {result['tail_s']:.1f} of"
                f" {result['speech_s']:.1f} s"
            )
            lines.append(f"    reference:   {clip.text!r}")
            for way in WAYS:
                lines.append(f"    {way + ':':12} {result[way]!r}")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = lines.index("") + 1
    print("\n".join(lines[table : table + 1 + len(rows)]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
