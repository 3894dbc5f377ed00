"""What the engine needs of each model, in one place.

The engine is written against these Protocols, never against a model class, so a
model can be swapped (a server on the LAN for the box's own language model, a
voice at another sample rate) and tests can stand in for any of them. The real
ones are :class:`~appliance.speech.stt.WhisperStt`,
:class:`~appliance.speech.llm.LocalLlm`, :class:`~appliance.speech.remote_llm.RemoteLlm`
and :class:`~appliance.speech.remote_llm.FallbackLlm`, and
:class:`~appliance.speech.tts.PiperTts` (or :class:`~appliance.speech.loaded.ResampledVoice`).
Voice activity is :class:`~appliance.speech.vad.SileroVad`: it is small and has
no stand-in, so it needs no Protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from appliance.speech.stt import Transcript

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


class SpeechToText(Protocol):
    """Words from 16 kHz mono float32 audio."""

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        fit_window: bool = True,
        should_stop: Callable[[], bool] | None = None,
    ) -> str:
        """The words in ``audio`` ("" for none, and for speech whisper could only loop on);
        ``should_stop`` is polled to give up early."""
        ...

    def hear(
        self,
        audio: np.ndarray,
        *,
        fit_window: bool = True,
        should_stop: Callable[[], bool] | None = None,
        prompt: str = "",
    ) -> Transcript:
        """The words in ``audio`` as a :class:`~appliance.speech.stt.Transcript`, never a
        degenerate one: ``unintelligible`` when speech gave only loops, even after a
        retry (the student should be asked to say it again)."""
        ...


class TextToSpeech(Protocol):
    """A voice: float32 mono audio at :attr:`sample_rate`, streamed as it is decoded."""

    @property
    def sample_rate(self) -> int: ...

    rate: float  # the speaking rate, 1.0 being the voice's own

    def stream(self, text: str, *, slower: float = 1.0) -> Generator[np.ndarray, None, None]:
        """Speak ``text``, piece by piece; ``slower`` (below 1) for a slow repeat."""
        ...

    def synthesize(self, text: str) -> np.ndarray:
        """All of :meth:`stream` in one array."""
        ...


class LanguageModel(Protocol):
    """What the engine needs of a language model: LocalLlm, RemoteLlm and FallbackLlm.

    ``all_threads`` and :meth:`use_threads`: how many threads may generate (every core
    until the first words reach the voice); ``context_tokens`` and :meth:`count_tokens`:
    the box's own context, so the history is fitted to it (0: the model fits its own).
    ``stop_reason`` says why the last reply ended ("stop", "length", "cancelled"...).
    """

    @property
    def stop_reason(self) -> str: ...

    @property
    def all_threads(self) -> int: ...

    @property
    def context_tokens(self) -> int: ...

    def use_threads(self, threads: int) -> None: ...

    def count_tokens(self, messages: list[Message]) -> int: ...

    def close(self) -> None: ...

    def prefill(self, messages: list[Message]) -> None:
        """Evaluate ``messages`` now, so the next reply that starts with them is quicker."""

    def stream(
        self,
        messages: list[Message],
        max_tokens: int,
        should_stop: Callable[[], bool] = ...,
        *,
        temperature: float = ...,
        max_seconds: float = ...,
    ) -> Generator[str, None, None]:
        """The reply to ``messages``, as text pieces as they are generated."""
        ...
