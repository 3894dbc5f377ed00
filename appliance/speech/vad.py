"""Voice activity detection with silero-vad, on onnxruntime.

Silero looks at 512-sample frames (32 ms at 16 kHz) and keeps a recurrent
state, plus the last 64 samples of the previous frame as context. Feed it frames
as they arrive while the button is held, so that at release only the last few
frames are left to look at::

    vad = SileroVad(model_path)
    stream = vad.stream()
    for block in microphone_blocks:
        stream.feed(block)
    speech = stream.speech(min_speech_ms=200, pad_ms=150)   # None: nobody spoke

:meth:`SileroVad.trim` does the same for a whole recording at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

RATE = 16000
FRAME = 512
CONTEXT = 64


def cpu_session(model_path: Path, threads: int = 1) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session tuned for a small box: few threads, no memory arena."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )


class SileroVad:
    """The silero-vad model. One instance serves every turn; each turn gets a stream."""

    def __init__(self, model_path: Path, threshold: float = 0.5) -> None:
        self.session = cpu_session(model_path)
        self.threshold = threshold
        self._rate = np.array(RATE, dtype=np.int64)

    def stream(self) -> VadStream:
        return VadStream(self)

    def speech_probabilities(self, audio: np.ndarray) -> np.ndarray:
        """The speech probability of each whole 512-sample frame of 16 kHz ``audio``."""
        stream = self.stream()
        stream.feed(audio)
        return np.array(stream.probabilities, dtype=np.float32)

    def trim(
        self, audio: np.ndarray, min_speech_ms: int = 200, pad_ms: int = 150
    ) -> np.ndarray | None:
        """``audio`` without leading and trailing silence, or None if it holds no speech."""
        stream = self.stream()
        stream.feed(audio)
        return stream.speech(min_speech_ms, pad_ms)

    def _run(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        probability, new_state = self.session.run(
            None, {"input": window[None, :], "state": state, "sr": self._rate}
        )
        return float(probability[0, 0]), new_state


class VadStream:
    """One utterance, fed block by block. Keeps the audio and each frame's probability."""

    def __init__(self, vad: SileroVad) -> None:
        self.vad = vad
        self.probabilities: list[float] = []
        self.speech_frames = 0
        self.last_speech_frame = -1
        self._blocks: list[np.ndarray] = []
        self._unread = np.zeros(0, dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._state = np.zeros((2, 1, 128), dtype=np.float32)

    def feed(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        self._blocks.append(block)
        self._unread = np.concatenate([self._unread, block])
        while len(self._unread) >= FRAME:
            frame, self._unread = self._unread[:FRAME], self._unread[FRAME:]
            window = np.concatenate([self._context, frame])
            probability, self._state = self.vad._run(window, self._state)
            self._context = frame[-CONTEXT:]
            self.probabilities.append(probability)
            if probability >= self.vad.threshold:
                self.speech_frames += 1
                self.last_speech_frame = len(self.probabilities) - 1

    @property
    def audio(self) -> np.ndarray:
        if len(self._blocks) > 1:
            self._blocks = [np.concatenate(self._blocks)]
        return self._blocks[0] if self._blocks else np.zeros(0, dtype=np.float32)

    def heard_speech(self, min_speech_ms: int) -> bool:
        return self.speech_frames * FRAME >= min_speech_ms * RATE / 1000

    def seconds_of_trailing_silence(self) -> float:
        """How long it has been quiet since the last speech (0 if nobody spoke yet)."""
        if self.last_speech_frame < 0:
            return 0.0
        return (len(self.probabilities) - 1 - self.last_speech_frame) * FRAME / RATE

    def speech(self, min_speech_ms: int = 200, pad_ms: int = 150) -> np.ndarray | None:
        """The audio from the first to the last speech frame, padded; None if too little speech.

        Speech is frames at or above the threshold; ``min_speech_ms`` of them in all
        are needed, so a cough or a click of the button is not a question.
        """
        if not self.heard_speech(min_speech_ms):
            return None
        speaking = np.flatnonzero(np.array(self.probabilities) >= self.vad.threshold)
        pad = pad_ms * RATE // 1000
        start = max(0, speaking[0] * FRAME - pad)
        end = min(len(self.audio), (speaking[-1] + 1) * FRAME + pad)
        return self.audio[start:end]
