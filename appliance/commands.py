"""``parlo converse``, ``parlo run`` and ``parlo bench``: the speech loop from a shell."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from appliance.app.wiring import NoModelsError, build_engine, sound_backend
from appliance.audio.devices import SoundBackend
from appliance.audio.files import FileDevices
from appliance.audio.wav import AudioFileError, read_wav, write_wav
from appliance.core.config import CEFR_LEVELS, Config, load_config
from appliance.core.errors import UserError
from appliance.core.paths import config_path
from appliance.engine.conversation import Engine, TurnResult

log = logging.getLogger(__name__)

TIMING_KEYS = ("vad", "stt", "llm_first_token", "first_audio", "total")
SAMPLE_QUESTION = "Hello! What is your favourite animal, and why?"


def register(subparsers: argparse._SubParsersAction) -> None:
    converse = subparsers.add_parser(
        "converse", help="run one full turn from a WAV file (or typed text)"
    )
    source = converse.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, metavar="Q.wav", help="the student's question")
    source.add_argument("--text", help="typed question: skips VAD and STT")
    converse.add_argument("--output", type=Path, metavar="A.wav", help="write the reply here")
    converse.add_argument("--json", action="store_true", help="print one JSON object")
    _add_turn_overrides(converse)
    converse.set_defaults(handler=converse_command)

    run = subparsers.add_parser("run", help="the interactive assistant (keyboard push-to-talk)")
    run.add_argument("--input-wav", type=Path, help="use this file as the microphone (once)")
    run.add_argument("--output-wav", type=Path, help="append what is spoken to this file")
    _add_turn_overrides(run)
    run.set_defaults(handler=run_command)

    bench = subparsers.add_parser("bench", help="measure latency and memory on real models")
    bench.add_argument("--runs", type=int, default=12, help="turns per measurement")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--chart", type=Path, help="draw the results as a PNG")
    bench.add_argument("--scaling", action="store_true", help="also time 1-20 s utterances")
    bench.set_defaults(handler=bench_command)


def _add_turn_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--activity", help="override the configured activity")
    parser.add_argument("--level", choices=CEFR_LEVELS, help="override the class's CEFR level")


def configured(args: argparse.Namespace) -> Config:
    """The config file, with this command's overrides applied and validated."""
    config = load_config()
    changes: dict[str, Any] = {}
    if getattr(args, "activity", None):
        changes["activity.name"] = args.activity
    if getattr(args, "level", None):
        changes["activity.level"] = args.level
    return config.with_changes(changes) if changes else config


def open_engine(config: Config, backend: SoundBackend, **kwargs: Any) -> Engine:
    try:
        return build_engine(config, backend, **kwargs)
    except NoModelsError as error:
        raise UserError(str(error)) from None


def converse_command(args: argparse.Namespace) -> int:
    config = configured(args)
    audio = None
    if args.input is not None:
        try:
            audio = read_wav(args.input)
        except AudioFileError as error:
            raise UserError(str(error)) from None
    if args.output is not None:
        args.output.unlink(missing_ok=True)
        backend: SoundBackend = FileDevices(output_path=args.output, realtime=False)
    else:
        backend = sound_backend() or FileDevices(realtime=False)
        if isinstance(backend, FileDevices):
            print("(no sound device: the reply is not played; use --output A.wav)", file=sys.stderr)
    engine = open_engine(config, backend)
    try:
        result = engine.run_turn(*audio) if audio is not None else engine.run_text_turn(args.text)
    finally:
        engine.close()
    print_turn(result, as_json=args.json)
    return 0 if result.heard_speech else 1


def print_turn(result: TurnResult, as_json: bool) -> None:
    timings = {key: round(result.timings_ms[key], 1) for key in result.timings_ms}
    if as_json:
        padded: dict[str, float | None] = {**timings}
        for key in TIMING_KEYS:
            padded.setdefault(key, None)
        print(json.dumps({"transcript": result.transcript, "reply": result.reply,
                          "timings_ms": padded}, ensure_ascii=False))  # fmt: skip
        return
    if not result.heard_speech:
        print("(no speech heard)")
        return
    print(f"student: {result.transcript}")
    print(f"parlo:   {result.reply}")
    print("timings: " + ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items()))


def run_command(args: argparse.Namespace) -> int:
    config = configured(args)
    files = args.input_wav is not None or args.output_wav is not None
    backend = sound_backend()
    if files:
        backend = FileDevices(args.input_wav, args.output_wav, realtime=True)
    elif backend is None:
        return demo_without_sound(config)
    from appliance.app.wiring import run_assistant

    print(
        "Parlo is starting. Press the space bar (or Enter) and speak; it answers when you "
        "pause or press again. Press it while Parlo speaks to interrupt. q quits.",
        file=sys.stderr,
    )
    return run_assistant(config, backend, interactive=True)


def demo_without_sound(config: Config) -> int:
    """No sound device: still do something real, and say what happened."""
    print("No sound device was found (no microphone or speaker), so Parlo cannot listen live.")
    print("Instead, it will answer a sample question spoken by its own voice.\n")
    question_path, reply_path = Path("question.wav").resolve(), Path("reply.wav").resolve()
    reply_path.unlink(missing_ok=True)
    engine = open_engine(config, FileDevices(output_path=reply_path, realtime=False))
    try:
        voice = engine.models.tts
        write_wav(question_path, voice.synthesize(SAMPLE_QUESTION), voice.sample_rate)
        print(f"Question (spoken by piper): {question_path}")
        result = engine.run_turn(*read_wav(question_path))
    finally:
        engine.close()
    print_turn(result, as_json=False)
    print(f"\nThe spoken reply is in {reply_path}.")
    print(f"Try your own: parlo converse --input {question_path.name} --output answer.wav --json")
    print(f"Settings: {config_path()}")
    return 0


def bench_command(args: argparse.Namespace) -> int:
    from appliance.tools.bench import run_bench

    if args.runs < 1:
        raise UserError("--runs must be at least 1")
    return run_bench(args.runs, as_json=args.json, chart=args.chart, scaling=args.scaling)
