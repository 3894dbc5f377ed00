"""Long turns: other ways of joining the tail on, replayed on the very same transcriptions.

Run: .venv/bin/python bench/stt_incremental_variants.py [--store DIR ...] [--cache DIR]
     [--pieces FILE] (after bench/stt_incremental.py: adds its section to the end of
     bench/results/stt_incremental.txt, in place of the one an earlier run added)

``bench/stt_incremental.py`` measures the way the box does it, in real time. This
bench asks whether another way would hear better, which one run cannot say: whisper's
words for a long turn swing by whole sentences between two slightly different pieces
of audio, so two runs of two ways differ by more than the ways do. Here every way is
given the same transcriptions. For each long turn (the same turns, conditions and
release as ``bench/stt_incremental.py``) the VAD's pauses are found as the button is
held, and whisper transcribes, once each: the whole turn; the speech up to each pause
(what is transcribed while the button is held); the tail after each pause; and that
tail again with the words before it as whisper's prompt. They are kept in ``--pieces``
(so a second run is quick). Then the turn is replayed: which transcriptions one worker
would have finished by the release (each took as long as it did here, and a pause
waits while one runs), and each way picks its words from them:

- ``plain``: the box's way (``appliance/speech/incremental.py``): the last pause's
  words if they cover the turn; the transcription of the whole turn still running if
  it ends sooner than the tail would; else the words up to a pause, then the tail's;
- ``+repeats``: ``plain``, but a run of five or more of the tail's words that the words
  before it hold already is dropped (as whisper hears words twice);
- ``bridge``: the branch's first way: the tail joined on by word overlap with the newest
  transcription, which ran past the pause where the tail starts (then ``+repeats``);
- ``prompted``: ``plain``, the tail transcribed with the last 30 words before it as
  whisper's prompt;
- ``best cut``: not a way the box could take: the words up to the newest transcription
  and the tail's, cut where they agree best *with the reference*: the least any join of
  those two texts could lose.

Reported for each, against the whole turn heard at once: the WER difference; how many
turns heard worse / better; and ``typical``: the difference over the turns where
neither side is off from the other by more than 8 words (so one turn that whisper
turned into a loop, or cut short, on one side does not decide it). And for every pause
of every turn: the words up to it and the tail after it, against the whole turn, by
how long the tail is (the cost of hearing a tail alone).
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import stt_incremental as incremental_bench  # noqa: E402
import stt_robustness as robustness  # noqa: E402

from appliance.core.config import Config  # noqa: E402
from appliance.speech.degenerate import words_of  # noqa: E402
from appliance.speech.incremental import (  # noqa: E402
    BUDGET_SECONDS,
    MIN_CHUNK_SECONDS,
    MIN_TAIL_SECONDS,
)
from appliance.tools.bench import PRESS_SILENCE_S  # noqa: E402

RESULTS = incremental_bench.RESULTS
HEADING = "Long turns: other ways of joining the tail on, replayed on the same transcriptions"
RATE = robustness.RATE
PROMPT_WORDS = 30
OFF_BY = 8  # words: a turn one side of which whisper lost or looped on
TAIL_BINS = ((1.0, 3.0), (3.0, 5.0), (5.0, 8.0), (8.0, 30.0))
Heard = tuple[str, float]  # text, seconds it took


# --- the transcriptions ---


def transcribe_pieces(stt: Any, vad: Any, audio: np.ndarray) -> dict[str, Any] | None:
    """Every transcription a way may use, for one turn (see the module); None if the
    VAD heard no speech."""
    config = Config()
    stream = vad.stream()
    pauses: list[tuple[float, int]] = []  # (when, in seconds of the turn; speech so far)
    paused_at = -1
    block = incremental_bench.BLOCK
    for offset in range(0, len(audio), block):
        stream.feed(audio[offset : offset + block])
        if (
            stream.heard_speech(config.vad.min_speech_ms)
            and stream.seconds_of_trailing_silence() >= config.stt.guess_after_pause
            and stream.last_speech_frame != paused_at
        ):
            paused_at = stream.last_speech_frame
            speech = stream.speech(config.vad.min_speech_ms, config.vad.pad_ms)
            if speech is not None:
                pauses.append(((offset + block) / RATE, len(speech)))
    speech = stream.speech(config.vad.min_speech_ms, config.vad.pad_ms)
    if speech is None:
        return None

    def hear(piece: np.ndarray, prompt: str = "") -> Heard:
        started = time.perf_counter()
        text = stt.hear(np.ascontiguousarray(piece), prompt=prompt).text
        return text, time.perf_counter() - started

    ends = sorted({end for _, end in pauses if MIN_CHUNK_SECONDS * RATE <= end < len(speech)})
    upto = {end: hear(speech[:end]) for end in ends}
    tails = {end: hear(speech[end:]) for end in ends if len(speech) - end >= RATE}
    prompted = {
        end: hear(speech[end:], " ".join(upto[end][0].split()[-PROMPT_WORDS:])) for end in tails
    }
    return {
        "pauses": pauses,
        "speech": len(speech),
        "released": len(audio) / RATE,
        "whole": hear(speech),
        "upto": upto,
        "tail": tails,
        "prompted": prompted,
    }


# --- the replay ---


def replay(turn: dict[str, Any]) -> tuple[list[int], tuple[int, float] | None]:
    """The pauses whose transcription one worker had finished by the release, oldest
    first, and the one still running then (its end, and when, in seconds of the turn,
    it started)."""
    end = turn["speech"]

    def took(upto: int) -> float:
        return float(turn["whole"][1] if upto == end else turn["upto"][upto][1])

    pauses = [(t, e) for t, e in turn["pauses"] if e == end or e in turn["upto"]]
    done: list[int] = []
    running: tuple[int, float] | None = None  # (end, when it started)
    waiting: int | None = None
    for when, upto in [*pauses, (turn["released"], -1)]:
        while running is not None and running[1] + took(running[0]) <= when:
            finished = running[1] + took(running[0])
            done.append(running[0])
            running = (waiting, finished) if waiting is not None else None
            waiting = None
        if upto < 0:
            break
        if running is None:
            running = (upto, when)
        else:
            waiting = upto
    return done, running


Way = Callable[[dict[str, Any], str], str]


def way_of(turn: dict[str, Any], reference: str, variant: str) -> str:
    """The turn's words as ``variant`` makes them (see the module)."""
    end = turn["speech"]
    done, running = replay(turn)
    if done and done[-1] == end:
        return str(turn["whole"][0])  # ready
    speed = turn["upto"][done[-1]][1] / done[-1] if done else 0.0
    shortest = max(MIN_TAIL_SECONDS * RATE, BUDGET_SECONDS / speed if speed else 0.0)
    starts = [e for e in done if end - e >= shortest and e in turn["tail"]]
    if running is not None and running[0] == end:  # as IncrementalTranscriber estimates it
        time_left = end * speed - (turn["released"] - running[1])
        if not starts or time_left <= (end - starts[-1]) * speed:
            return str(turn["whole"][0])  # waited
    if not starts:
        return str(turn["whole"][0])  # whole
    start = starts[-1]
    before = tokens_of(turn["upto"][start][0])
    pieces = "prompted" if variant == "prompted" else "tail"
    tail = tokens_of(turn[pieces][start][0])
    if variant in ("plain", "prompted"):
        return " ".join(before + tail)
    if variant == "+repeats":
        return " ".join(before + without_repeated_run(before, tail))
    newest = tokens_of(turn["upto"][done[-1]][0])
    if variant == "bridge":
        return " ".join(first_join(before, tail, newest if done[-1] != start else None))
    if variant == "best cut":
        reference_words = robustness.words(reference)
        return min(
            (" ".join(newest[:i] + tail[j:]) for i in range(len(newest) + 1)
             for j in range(len(tail) + 1)),
            key=lambda text: robustness.edit_distance(reference_words, robustness.words(text)),
        )  # fmt: skip
    raise ValueError(f"unknown variant {variant!r}")


VARIANTS = ("plain", "+repeats", "bridge", "prompted", "best cut")


# --- the branch's first join, kept here only to compare with ---

JOIN_WORDS = 2
JOIN_AT = 0.5
TAIL_EDGE_WORDS = 1
REPEAT_WORDS = 5
REPEAT_LOOKBACK_WORDS = 60


def tokens_of(text: str) -> list[str]:
    return [token for token in text.split() if words_of(token)]


def _words(tokens: Sequence[str]) -> tuple[list[str], dict[int, int]]:
    words: list[str] = []
    ends = {0: 0}
    for index, token in enumerate(tokens):
        words += words_of(token)
        ends[len(words)] = index + 1
    return words, ends


def first_join(
    start: Sequence[str], tail: Sequence[str], bridge: Sequence[str] | None
) -> list[str]:
    """The tail joined on at the run of words it and the bridge agree at best, in the
    middle of their overlap; without one, after ``start``; then repeats dropped."""
    if bridge:
        start_words, _ = _words(start)
        bridge_words, bridge_ends = _words(bridge)
        tail_words, tail_ends = _words(tail)
        expected = len(start_words)
        best: tuple[int, int, int] | None = None
        for offset in range(len(bridge_words)):
            overlap = min(len(tail_words), len(bridge_words) - offset)
            agree = sum(bridge_words[offset + j] == tail_words[j] for j in range(overlap))
            candidate = (agree, -abs(offset - expected), offset)
            if agree >= JOIN_WORDS and (best is None or candidate > best):
                best = candidate
        if best is not None:
            offset = best[2]
            aim = expected + JOIN_AT * (len(bridge_words) - expected)
            joins = [
                j
                for j in range(TAIL_EDGE_WORDS, len(tail_words) - JOIN_WORDS + 1)
                if j in tail_ends
                and j + offset in bridge_ends
                and tail_words[j : j + JOIN_WORDS]
                == bridge_words[j + offset : j + offset + JOIN_WORDS]
            ]
            if joins:
                j = min(joins, key=lambda j: (abs(j + offset - aim), j))
                head = list(bridge[: bridge_ends[j + offset]])
                return head + without_repeated_run(head, tail[tail_ends[j] :])
    return list(start) + without_repeated_run(start, tail)


def without_repeated_run(before: Sequence[str], tail: Sequence[str]) -> list[str]:
    """``tail`` without a sentence (or a sentence's end) of REPEAT_WORDS or more words
    that the words before it hold already, word for word."""
    seen = _words(before)[0][-REPEAT_LOOKBACK_WORDS:]
    kept: list[str] = []
    sentences: list[list[str]] = [[]]
    for token in tail:
        sentences[-1].append(token)
        if token.rstrip("\"')»”").endswith((".", "!", "?")):
            sentences.append([])
    for sentence in filter(None, sentences):
        words, ends = _words(sentence)
        cut = len(sentence)
        for first in range(len(words) - REPEAT_WORDS + 1):
            run, earlier = words[first:], seen + words[:first]
            if first in ends and any(
                earlier[i : i + len(run)] == run for i in range(len(earlier) - len(run) + 1)
            ):
                cut = ends[first]
                break
        kept += sentence[:cut]
        seen += _words(sentence[:cut])[0]
    return kept


# --- the report ---


def errors(reference: str, text: str) -> int:
    return robustness.edit_distance(robustness.words(reference), robustness.words(text))


def main() -> int:
    from appliance.core.paths import model_store_root
    from appliance.models.store import ModelStore
    from appliance.speech.stt import WhisperStt
    from appliance.speech.vad import SileroVad

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, action="append", help="a model store (repeat)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "parlo" / "bench")
    parser.add_argument("--pieces", type=Path, help="default: CACHE/stt_incremental_pieces.pkl")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    pieces_path = args.pieces or args.cache / "stt_incremental_pieces.pkl"
    pieces: dict[tuple[str, str, int], Any] = (
        pickle.loads(pieces_path.read_bytes()) if pieces_path.is_file() else {}
    )
    turns = incremental_bench.held_turns(args.cache, list(incremental_bench.SETS), PRESS_SILENCE_S)
    clips = [clip for group in turns.values() for clip in group]
    places = [(group, index) for group in turns.values() for index in range(len(group))]
    stores = args.store or [model_store_root()]
    vad_file = next(s for root in stores for s in ModelStore(root).sets()).file("vad")
    vad = None
    found = robustness.tiers(stores)
    for name, model in found:
        stt = None
        for condition in incremental_bench.CONDITIONS:
            for index, (group, place) in enumerate(places):
                if (name, condition, index) in pieces:
                    continue
                vad = vad or SileroVad(vad_file)
                stt = stt or WhisperStt(model, "en", threads=2)
                audio = robustness.condition(condition, group, place)
                pieces[(name, condition, index)] = transcribe_pieces(stt, vad, audio)
                pieces_path.write_bytes(pickle.dumps(pieces))
                print(name, condition, index, flush=True)
        del stt

    lines = [
        HEADING,
        f"command: .venv/bin/python bench/stt_incremental_variants.py"
        f"{robustness._store_args(args.store)}",
        f"speech: the {len(clips)} long turns of bench/stt_incremental.py, released "
        f"{PRESS_SILENCE_S:g} s after the clip; each transcription made once (2 threads), the"
        " release replayed with the times they took",
        f"rules: tail at least {MIN_TAIL_SECONDS:g} s, or what {BUDGET_SECONDS:g} s of whisper"
        " covers at the turn's speed (as appliance/speech/incremental.py)",
        f"diff: the way minus the whole turn heard at once, in WER points; worse/better: turns;"
        f" typical: the diff over the turns where neither is off from the other by more than"
        f" {OFF_BY} words (n: how many)",
        "",
        f"{'tier':14} {'condition':10} {'whole':>6}  "
        + "  ".join(f"{variant:>30}" for variant in VARIANTS),
    ]
    for name, _ in found:
        for condition in incremental_bench.CONDITIONS:
            keyed = [
                (clip, pieces[(name, condition, index)])
                for index, clip in enumerate(clips)
                if pieces[(name, condition, index)] is not None
            ]
            total = sum(len(robustness.words(clip.text)) for clip, _ in keyed)
            whole = [errors(clip.text, turn["whole"][0]) for clip, turn in keyed]
            cells = []
            for variant in VARIANTS:
                diffs = np.array(
                    [
                        errors(clip.text, way_of(turn, clip.text, variant)) - base
                        for (clip, turn), base in zip(keyed, whole, strict=True)
                    ]
                )
                typical = diffs[np.abs(diffs) <= OFF_BY]
                cells.append(
                    f"{diffs.sum() / total:+6.1%} {(diffs > 0).sum():>2}/{(diffs < 0).sum():<2}"
                    f" typ. {typical.sum() / total:+5.1%} n{len(typical):<2}"
                )
            lines.append(
                f"{name:14} {condition:10} {sum(whole) / total:6.1%}  "
                + "  ".join(f"{cell:>30}" for cell in cells)
            )
    lines += [
        "",
        "The cost of hearing a tail alone: at every pause of every turn, the words up to it",
        "then the tail's, against the whole turn (mean WER points over those turns' words;",
        "median words per turn; worse/better)",
        "",
        f"{'tier':14} {'condition':10} "
        + " ".join(f"{f'tail {low:g}-{high:g} s':>26}" for low, high in TAIL_BINS),
    ]
    for name, _ in found:
        for condition in incremental_bench.CONDITIONS:
            cells = []
            for low, high in TAIL_BINS:
                diffs, words = [], 0
                for index, clip in enumerate(clips):
                    turn = pieces[(name, condition, index)]
                    if turn is None:
                        continue
                    for upto, tail in turn["tail"].items():
                        if low * RATE <= turn["speech"] - upto < high * RATE:
                            text = " ".join(filter(None, (turn["upto"][upto][0], tail[0])))
                            diffs.append(
                                errors(clip.text, text) - errors(clip.text, turn["whole"][0])
                            )
                            words += len(robustness.words(clip.text))
                if not diffs:
                    cells.append(f"{'-':>26}")
                    continue
                array = np.array(diffs)
                median = statistics.median(diffs)
                cells.append(
                    f"n{len(diffs):<3} {array.sum() / words:+6.1%} med {median:+3.0f}"
                    f" {(array > 0).sum():>2}/{(array < 0).sum():<2}"
                )
            lines.append(f"{name:14} {condition:10} " + " ".join(cells))
    before = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
    before = before.split(HEADING)[0].rstrip("\n")
    args.out.write_text((before + "\n\n\n" if before else "") + "\n".join(lines) + "\n", "utf-8")
    print("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
