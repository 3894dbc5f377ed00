"""Run bench/judged_sessions.toml through the real engine and write the replies for judging.

    python bench/run_judged.py --out bench/results/judged-after.json

Each session is one conversation (typed lines, no STT; the real language model and
voice). The output lists every student line with the box's reply, for a teacher to
score by ../shared/judging.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=Path, default=HERE / "judged_sessions.toml")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", help="comma-separated session ids")
    args = parser.parse_args()

    from appliance.assistant import build_engine
    from appliance.audio.files import FileDevices
    from appliance.config import load_config

    sessions = tomllib.loads(args.sessions.read_text(encoding="utf-8"))["session"]
    if args.only:
        wanted = set(args.only.split(","))
        sessions = [s for s in sessions if s["id"] in wanted]
    base = load_config().with_changes({"reply.max_seconds": 60.0})
    engine = None
    results = []
    started = time.perf_counter()
    try:
        for session in sessions:
            changes = {"activity.name": session["activity"], "activity.level": session["level"]}
            if session.get("character"):
                changes["activity.character"] = session["character"]
            if session.get("setting"):
                changes["activity.setting"] = session["setting"]
            config = base.with_changes(changes)
            if engine is None:
                engine = build_engine(config, FileDevices(realtime=False))
            engine.apply_config(config)
            engine.reset()
            turns = []
            for line in session["lines"]:
                # Read on the engine's thread: a queued reset or config change has been made.
                secret = engine.run_exclusive(lambda: getattr(engine, "secret", None))
                result = engine.run_text_turn(line)
                turn = {"student": line, "reply": result.reply}
                if secret is not None:
                    turn["object"] = getattr(secret, "name", str(secret))
                plan = getattr(result, "plan", None)
                if plan:
                    turn["plan"] = plan
                turns.append(turn)
                print(f"{session['id']}: {line!r} -> {result.reply!r}", file=sys.stderr)
            results.append({k: session[k] for k in ("id", "activity", "level", "character",
                                                    "setting")} | {"turns": turns})
    finally:
        if engine is not None:
            engine.close()
    report = {"seconds": round(time.perf_counter() - started, 1), "sessions": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
