"""The loaded models: one warm instance of each, shared by every turn.

Which models are loaded follows the config's ``language``: whisper is pinned to
it (never auto-detection, which misfires on learners' accents), and the voice
is ``voice.name`` or else the set's first voice for the language (see
:meth:`~appliance.models.store.ModelSet.voice_for`). A set whose whisper or
LLM does not declare the language is refused with a sentence saying what to do.

:meth:`Models.reconfigure` follows config changes between turns: a new
language, a new voice or a new LLM backend. New models are loaded before old
ones are dropped, so a failure leaves the models in use working.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from appliance.audio.wav import Resampler, resample
from appliance.core.config import Config, LlmSettings
from appliance.speech.protocols import LanguageModel, TextToSpeech
from appliance.speech.remote_llm import FallbackLlm, language_model
from appliance.speech.stt import WhisperStt
from appliance.speech.tts import PiperTts
from appliance.speech.vad import SileroVad

if TYPE_CHECKING:  # only the type: the store, above this layer, is what calls load()
    from appliance.models.store import ModelSet

log = logging.getLogger(__name__)

# The llm settings read when a language model is built: a change to any means a new one.
LLM_BUILD_KEYS = ("backend", "base_url", "model", "timeout_seconds", "threads", "context_tokens")
# The settings of the box's own model: unless these change, it is kept (and stays warm).
LOCAL_LLM_KEYS = ("threads", "context_tokens")


class ReconfigureError(RuntimeError):
    """A config change could not be followed; the models in use are unchanged."""


@dataclass
class Models:
    """One loaded, warm instance of each model, and the set they came from.

    ``model_set`` (a :class:`~appliance.models.store.ModelSet`) is kept so a
    change of language or voice can load another voice from it; ``voice_name``
    is the voice :attr:`tts` speaks with.
    """

    vad: SileroVad
    stt: WhisperStt
    llm: LanguageModel
    tts: TextToSpeech  # a PiperTts, or a ResampledVoice after a switch to a voice at another rate
    model_set: ModelSet | None = None
    voice_name: str = ""

    @classmethod
    def load(cls, model_set: ModelSet, config: Config) -> Models:
        """Load the models of ``model_set`` for ``config.language`` (and ``voice.name``).

        Raises :class:`~appliance.models.store.ModelChoiceError` (a ConfigError
        naming ``language`` or ``voice.name``) before loading anything if the set
        cannot serve the config.
        """
        model_set.check_language(config.language, config.voice.name)
        voice = model_set.voice_for(config.language, config.voice.name)
        log.info("loading models for %r with the voice %s", config.language, voice.voice_name)
        return cls(
            vad=SileroVad(model_set.file("vad"), threshold=config.vad.threshold),
            stt=WhisperStt(model_set.file("stt"), config.language, config.stt.threads),
            llm=language_model(config, model_set.file("llm")),
            tts=PiperTts(model_set.model_path(voice), config.voice.threads, rate=config.voice.rate),
            model_set=model_set,
            voice_name=voice.voice_name,
        )

    def reconfigure(self, previous: Config, config: Config) -> None:
        """Follow a config change between turns (the engine calls this on its worker thread).

        Settings that live in the models are set at once; a new language pins
        whisper to it and loads its voice; a new ``voice.name`` loads that voice;
        a new LLM backend or server builds a new language model (keeping the box's
        own model warm when only the server changed). Everything new is loaded
        before anything is replaced, so on failure the models in use stay as they
        were and :class:`ReconfigureError` (or ModelChoiceError) says why.
        """
        if self.model_set is not None:  # only reads the manifest: cheap enough for every change
            self.model_set.check_language(config.language, config.voice.name)
        new_tts = self._new_voice(previous, config)
        new_llm = self._new_llm(previous, config)  # if this fails, the new voice is dropped
        if new_tts is not None:
            self.tts, self.voice_name = new_tts
        if new_llm is not None:
            old_llm, self.llm = self.llm, new_llm
            if _local_model(old_llm) is not _local_model(new_llm):
                _close(old_llm)  # unless the box's own model lives on inside the new one
        self.stt.language = config.language
        self.tts.rate = config.voice.rate
        self.vad.threshold = config.vad.threshold

    def _new_voice(self, previous: Config, config: Config) -> tuple[TextToSpeech, str] | None:
        """The voice ``config`` wants, loaded, with its name; None if it is the one in use."""
        if self.model_set is None:
            return None
        voice = self.model_set.voice_for(config.language, config.voice.name)
        if voice.voice_name == self.voice_name and previous.voice.threads == config.voice.threads:
            return None
        try:
            loaded = PiperTts(
                self.model_set.model_path(voice), config.voice.threads, rate=config.voice.rate
            )
        except Exception as error:
            raise ReconfigureError(
                f"the voice {voice.voice_name} could not be loaded, so the box keeps speaking "
                f"with {self.voice_name}: {error}"
            ) from error
        log.info("now speaking with the voice %s", voice.voice_name)
        if loaded.sample_rate != self.tts.sample_rate:
            # The speaker was opened for the first voice's rate.
            return ResampledVoice(loaded, self.tts.sample_rate), voice.voice_name
        return loaded, voice.voice_name

    def _new_llm(self, previous: Config, config: Config) -> LanguageModel | None:
        """The language model ``config`` wants, if its settings changed; None if not."""
        if _llm_settings(previous.llm, LLM_BUILD_KEYS) == _llm_settings(config.llm, LLM_BUILD_KEYS):
            return None
        same_local = _llm_settings(previous.llm, LOCAL_LLM_KEYS) == _llm_settings(
            config.llm, LOCAL_LLM_KEYS
        )
        keep = _local_model(self.llm) if same_local else None
        try:
            path = self.model_set.file("llm") if self.model_set is not None else None
            built = language_model(config, path, local=keep)
        except Exception as error:
            raise ReconfigureError(
                f"the language model could not be set up for the new llm settings "
                f"(backend {config.llm.backend!r}), so the box keeps the one in use: {error}"
            ) from error
        log.info("the language model is now %s", config.llm.backend)
        return built


class ResampledVoice:
    """A voice whose audio is resampled to the rate the speaker was opened with."""

    def __init__(self, voice: PiperTts, sample_rate: int) -> None:
        self.voice = voice
        self.sample_rate = sample_rate

    @property
    def rate(self) -> float:
        return self.voice.rate

    @rate.setter
    def rate(self, value: float) -> None:
        self.voice.rate = value

    def synthesize(self, text: str) -> np.ndarray:
        return resample(self.voice.synthesize(text), self.voice.sample_rate, self.sample_rate)

    def stream(self, text: str, *, slower: float = 1.0) -> Generator[np.ndarray, None, None]:
        resampler = Resampler(self.voice.sample_rate, self.sample_rate)
        with closing(self.voice.stream(text, slower=slower)) as pieces:  # closed when we are
            for piece in pieces:
                if (resampled := resampler.process(piece)).size:
                    yield resampled
        if (tail := resampler.flush()).size:
            yield tail


def _llm_settings(settings: LlmSettings, keys: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(getattr(settings, key) for key in keys)


def _local_model(llm: LanguageModel) -> LanguageModel:
    """The box's own model inside ``llm``: the fallback of a LAN model, or ``llm`` itself."""
    return llm.fallback if isinstance(llm, FallbackLlm) else llm


def _close(model: LanguageModel) -> None:
    try:
        model.close()
    except Exception:  # the new model is in place; an old one closing badly is only noted
        log.exception("closing the previous language model failed")
