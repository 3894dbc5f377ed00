"""The loaded models: one warm instance of each, shared by every turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.config import Config
from appliance.engine.remote_llm import LanguageModel, language_model
from appliance.engine.stt import WhisperStt
from appliance.engine.tts import PiperTts
from appliance.engine.vad import SileroVad


@dataclass
class Models:
    """One loaded, warm instance of each model."""

    vad: SileroVad
    stt: WhisperStt
    llm: LanguageModel
    tts: PiperTts

    @classmethod
    def load(cls, model_set: Any, config: Config) -> Models:
        """Load the models of a :class:`~appliance.models.store.ModelSet`."""
        return cls(
            vad=SileroVad(model_set.file("vad"), threshold=config.vad.threshold),
            stt=WhisperStt(model_set.file("stt"), config.language, config.stt.threads),
            llm=language_model(config, model_set.file("llm")),
            tts=PiperTts(model_set.file("tts"), config.voice.threads, rate=config.voice.rate),
        )

    def reconfigure(self, previous: Config, config: Config) -> None:
        """Follow a config change between turns: settings that live in the models themselves."""
        self.tts.rate = config.voice.rate
        self.vad.threshold = config.vad.threshold
