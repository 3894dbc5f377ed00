"""Text to speech with piper.

The voice runs on onnxruntime with a session tuned for a small box (see
:func:`appliance.engine.vad.cpu_session`); piper's own loader would use the
default session, with a memory arena that holds on to hundreds of megabytes.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from appliance.engine.vad import cpu_session


class PiperTts:
    """A piper voice. :meth:`synthesize` returns float32 mono audio at :attr:`sample_rate`."""

    def __init__(self, model_path: Path, threads: int = 1, rate: float = 1.0) -> None:
        from piper import PiperVoice
        from piper.config import PiperConfig

        path = Path(model_path)
        config_path = path.with_name(path.name + ".json")
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"cannot read the voice's config {config_path}: {error}") from None
        self.voice = PiperVoice(session=cpu_session(path, threads), config=config)
        self.sample_rate = config.sample_rate
        self.rate = rate
        self._lock = threading.Lock()  # espeak's phonemizer is not safe across threads
        self.synthesize("Hello.")  # warm up

    def synthesize(self, text: str) -> np.ndarray:
        from piper import SynthesisConfig

        settings = SynthesisConfig(length_scale=self.voice.config.length_scale / self.rate)
        with self._lock:
            chunks = [chunk.audio_float_array for chunk in self.voice.synthesize(text, settings)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
