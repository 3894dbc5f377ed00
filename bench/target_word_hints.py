"""Does giving Whisper the lesson's target words as a prompt help it hear them?

Run: .venv/bin/python bench/target_word_hints.py   (writes bench/results/target_word_hints.txt)

Sixteen student sentences (twelve with a target word, four without) are spoken by the
installed piper voice, with white noise of a few levels added (σ of the samples, the
voice peaking near 1.0), and transcribed by the installed Whisper with the STT's own
window fitting and repeat removal, once with no prompt and once with
``recognition_hint(targets)`` as whisper.cpp's ``initial_prompt``. It reports the word
error rate (after lower-casing; "favorite" counted as "favourite") and in how many
sentences the target words found (``TargetMatcher``) are the ones spoken.

pywhispercpp keeps the parameters of one ``transcribe`` call for the next, so the
prompt is passed on every call (``""`` for none): a prompt once given otherwise
stays for every later turn. Sixteen sentences and one voice are few: the numbers
show the direction, not the size, of the effect on a class.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from appliance.app.wiring import current_model_set
from appliance.audio.wav import resample
from appliance.core.config import Config
from appliance.lessons.vocabulary import TargetMatcher, recognition_hint
from appliance.speech.loaded import Models
from appliance.speech.stt import MAX_TOKENS_PER_SECOND, RATE, audio_ctx_for, without_repeats

TARGETS = [
    "tortoise", "volcano", "hippopotamus", "broccoli", "cucumber", "giraffe",
    "Madagascar", "thunderstorm", "library", "recipe", "umbrella", "penguin",
]  # fmt: skip
SENTENCES = [
    "I have a pet tortoise called Speedy.",
    "We climbed a volcano on holiday.",
    "The hippopotamus is very big.",
    "I don't like broccoli at all.",
    "Can I have a cucumber sandwich?",
    "The giraffe has a long neck.",
    "My grandmother lives in Madagascar.",
    "There was a thunderstorm last night.",
    "I read books in the library.",
    "This recipe is from my mum.",
    "I forgot my umbrella today.",
    "Penguins live where it is cold.",
    "What is your favourite animal?",
    "I play football with my brother.",
    "Can you say that again, please?",
    "I went to the shop yesterday.",
]
NOISE = (0.0, 0.01, 0.02, 0.03)
OUT = Path(__file__).resolve().parent / "results" / "target_word_hints.txt"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("favorite", "favourite"))


def errors(reference: str, heard: str) -> int:
    """Word-level edit distance."""
    ref, hyp = words(reference), words(heard)
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            diagonal, row[j] = (
                row[j],
                min(row[j] + 1, row[j - 1] + 1, diagonal + (ref[i - 1] != hyp[j - 1])),
            )
    return row[len(hyp)]


def main() -> None:
    models = Models.load(current_model_set(), Config())
    whisper = models.stt.model  # type: ignore[attr-defined]
    hint = recognition_hint(TARGETS)
    matcher = TargetMatcher(TARGETS)
    rng = np.random.default_rng(1)
    total_words = sum(len(words(s)) for s in SENTENCES)
    lines = [f"prompt: {hint!r}", ""]
    for noise in NOISE:
        counts = {"no prompt": [0, 0], "target words": [0, 0]}
        for sentence in SENTENCES:
            voice = models.tts
            audio = resample(voice.synthesize(sentence), voice.sample_rate, RATE)
            if noise:
                audio = audio + rng.normal(0, noise, len(audio))
            audio = np.ascontiguousarray(audio, dtype=np.float32)
            seconds = len(audio) / RATE
            for kind, prompt in (("no prompt", ""), ("target words", hint)):
                segments = whisper.transcribe(
                    audio,
                    audio_ctx=audio_ctx_for(seconds),
                    max_tokens=math.ceil(seconds * MAX_TOKENS_PER_SECOND) + 16,
                    language="en",
                    initial_prompt=prompt,
                )
                heard = without_repeats(" ".join(s.text.strip() for s in segments))
                counts[kind][0] += errors(sentence, heard)
                counts[kind][1] += matcher.hits(heard) == matcher.hits(sentence)
        for kind, (wrong, right) in counts.items():
            lines.append(
                f"noise σ={noise:.2f}  {kind:12s}  WER {wrong:3d}/{total_words} = "
                f"{wrong / total_words:5.1%}   target words right in {right}/{len(SENTENCES)}"
            )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
