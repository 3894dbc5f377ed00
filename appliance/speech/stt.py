"""Speech to text with whisper.cpp, through pywhispercpp.

The model is loaded once and kept warm. Whisper's encoder normally looks at a
30 s window whatever the utterance's length; ``audio_ctx`` tells it to look only
at as many 20 ms frames as the utterance has (plus a margin), which makes a
4 s question about four times faster with the same words.

With a shortened window, whisper sometimes says a whole sentence twice (it
cannot see where the audio ends); a margin of 256 frames (5 s) past the
utterance avoids most of that, at half again the cost. Three guards make a
64-frame margin as good (measured on the bench utterances: WER 1.0% with either,
median 275 ms against 420 ms on one thread): no retries at higher temperatures,
a token cap that scales with the utterance (also bounding a decode that would
run on forever), and dropping any sentence that repeats an earlier one word for
word, or starts it over and is cut off.

pywhispercpp crashes the whole process on a malformed model file, so the file
is checked (:func:`appliance.speech.whisper_ggml.validate_ggml`) before loading.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

RATE = 16000
FULL_WINDOW_FRAMES = 1500  # 30 s at 50 encoder frames per second
FRAMES_PER_SECOND = 50
# Fast speech is about 4 words, or 6 tokens, a second.
MAX_TOKENS_PER_SECOND = 10


def audio_ctx_for(seconds: float, margin_frames: int = 64, minimum: int = 128) -> int:
    """Encoder frames to look at for an utterance of ``seconds``."""
    frames = math.ceil(seconds * FRAMES_PER_SECOND) + margin_frames
    return int(min(FULL_WINDOW_FRAMES, max(minimum, frames)))


class WhisperStt:
    """A warm whisper.cpp model. :meth:`transcribe` takes 16 kHz mono float32 audio."""

    def __init__(self, model_path: Path, language: str = "en", threads: int = 2) -> None:
        from pywhispercpp.model import Model

        from appliance.speech.whisper_ggml import validate_ggml

        validate_ggml(Path(model_path))
        self.language = language
        # One whisper context: a guess made during a pause and a turn must not share it at once.
        self._lock = threading.Lock()
        self.model = Model(
            str(model_path),
            n_threads=threads,
            redirect_whispercpp_logs_to=None,
            print_progress=False,
            print_realtime=False,
            print_timestamps=False,
            no_context=True,
            single_segment=True,
            suppress_blank=True,
            # No retries at higher temperatures: on a repeat they took a minute, not 0.2 s.
            temperature_inc=0.0,
            language=language,
        )
        self.transcribe(np.zeros(RATE // 2, dtype=np.float32))  # warm up

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        fit_window: bool = True,
        should_stop: Callable[[], bool] | None = None,
    ) -> str:
        """The words in ``audio``. ``fit_window=False`` uses the full 30 s window (the baseline)."""
        seconds = len(audio) / RATE
        audio_ctx = audio_ctx_for(seconds) if fit_window else 0  # 0: whisper's full window
        with self._lock:
            segments = self.model.transcribe(
                np.ascontiguousarray(audio, dtype=np.float32),
                audio_ctx=audio_ctx,
                max_tokens=math.ceil(seconds * MAX_TOKENS_PER_SECOND) + 16,
                language=self.language,
                abort_callback=should_stop,
            )
        return without_repeats(" ".join(segment.text.strip() for segment in segments))


def without_repeats(text: str) -> str:
    """``text`` without sentences that repeat an earlier one (or start it over, cut off)."""
    kept: list[str] = []
    said: list[list[str]] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        words = re.findall(r"[a-z0-9']+", sentence.lower())
        if words and any(earlier[: len(words)] == words for earlier in said):
            continue
        said.append(words)
        kept.append(sentence)
    return " ".join(kept).strip()
