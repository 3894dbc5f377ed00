"""Smoke tests: does a new model actually load and run?

A file can match its manifest and still be useless: the wrong format, a model
the installed engine is too old for, or a damaged file someone hashed anyway.
Before a new set becomes current, each model that changed is loaded and run
once, briefly:

====  ==========================================
vad   one 32 ms frame of silence
stt   a transcription of a moment of silence
llm   a few tokens
tts   a short phrase
====  ==========================================

Native engines do not always fail politely (whisper.cpp can crash on a damaged
ggml file), so each test runs in a child process with a time limit::

    python -m appliance.models.smoke llm /path/to/model.gguf

and :func:`smoke_test_in_child` turns a crash, a hang or an error into a
:class:`SmokeTestFailed` that names the model and what happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

from appliance.models.manifest import ROLES

if TYPE_CHECKING:
    from llama_cpp.llama_types import CreateCompletionResponse

DEFAULT_TIMEOUT_SECONDS = 180.0
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class SmokeTestFailed(RuntimeError):
    """A model did not load or run; the message says which and how."""


def smoke_test_in_child(
    role: str,
    path: Path,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    python: str = sys.executable,
) -> None:
    """Load and run the ``role`` model at ``path`` in a child process, or raise.

    ``python`` is the interpreter the child runs (tests substitute one that crashes).
    """
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        part for part in (_PACKAGE_PARENT, environment.get("PYTHONPATH", "")) if part
    )
    command = [python, "-m", "appliance.models.smoke", role, str(path)]
    what = f"the new {role} model {path.name}"
    try:
        child = subprocess.run(
            command,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=environment,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise SmokeTestFailed(f"{what} did not load and run within {timeout:.0f} s") from None
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        raise SmokeTestFailed(f"{what} crashed the engine loading it ({name})")
    if child.returncode != 0:
        lines = [line for line in child.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {child.returncode}"
        raise SmokeTestFailed(f"{what} failed to load or run: {detail}")


# --- what runs in the child ---


def run_vad(path: Path) -> str:
    import numpy as np

    try:
        from appliance.speech.vad import SileroVad
    except ImportError:
        return _run_vad_directly(path)
    probabilities = SileroVad(path).speech_probabilities(np.zeros(1024, dtype=np.float32))
    _check(bool(len(probabilities) == 2 and np.all(np.isfinite(probabilities))), "no probabilities")
    return f"speech probability of silence {float(probabilities[-1]):.3f}"


def _run_vad_directly(path: Path) -> str:
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probability, _ = session.run(
        None,
        {
            "input": np.zeros((1, 576), dtype=np.float32),
            "state": np.zeros((2, 1, 128), dtype=np.float32),
            "sr": np.array(16000, dtype=np.int64),
        },
    )
    return f"speech probability of silence {float(probability.ravel()[0]):.3f}"


def run_stt(path: Path) -> str:
    import numpy as np

    from appliance.speech.whisper_ggml import validate_ggml

    validate_ggml(path)  # a cheap, polite refusal before whisper.cpp sees the file
    silence = np.zeros(4000, dtype=np.float32)
    try:
        from appliance.speech.stt import WhisperStt
    except ImportError:
        from pywhispercpp.model import Model

        model = Model(str(path), n_threads=2, redirect_whispercpp_logs_to=None)
        text = " ".join(segment.text for segment in model.transcribe(silence))
    else:
        text = WhisperStt(path, language="en", threads=2).transcribe(silence)
    return f"transcribed silence as {text.strip()!r}"


def run_llm(path: Path) -> str:
    try:
        from appliance.speech.llm import LocalLlm
    except ImportError:
        from llama_cpp import Llama

        llama = Llama(model_path=str(path), n_ctx=256, n_threads=2, verbose=False)
        # Not streamed, so one whole completion.
        completion = cast("CreateCompletionResponse", llama("Hello,", max_tokens=4))
        text = completion["choices"][0]["text"]
    else:
        llm = LocalLlm(path, threads=2, context_tokens=256)
        messages = [{"role": "user", "content": "Say hello."}]
        text = "".join(llm.stream(messages, max_tokens=4, should_stop=lambda: False))
    return f"generated {text!r}"


def run_tts(path: Path) -> str:
    import numpy as np

    try:
        from appliance.speech.tts import PiperTts
    except ImportError:
        from piper import PiperVoice

        voice = PiperVoice.load(str(path))
        audio = np.concatenate([chunk.audio_float_array for chunk in voice.synthesize("Hello.")])
    else:
        audio = PiperTts(path).synthesize("Hello.")
    _check(bool(len(audio) > 0 and np.all(np.isfinite(audio))), "no audio")
    return f"spoke {len(audio)} samples"


RUNNERS = {"vad": run_vad, "stt": run_stt, "llm": run_llm, "tts": run_tts}


def _check(condition: bool, problem: str) -> None:
    if not condition:
        raise RuntimeError(problem)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ROLES:
        print(
            f"usage: python -m appliance.models.smoke {{{','.join(ROLES)}}} PATH", file=sys.stderr
        )
        return 2
    role, path = args[0], Path(args[1])
    with contextlib.suppress(OSError):
        os.nice(10)  # the box may be holding a conversation meanwhile
    try:
        outcome = RUNNERS[role](path)
    except Exception as error:  # any failure at all means "this model is not usable"
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"{role} ok: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
