"""``parlo daemon`` and ``parlo doctor``."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    daemon = subparsers.add_parser(
        "daemon",
        help="run the appliance: button, LED, engine and web page (what systemd starts)",
        description="Run the appliance until stopped. Under systemd it reports readiness, "
        "status and watchdog pings, and logs to the journal.",
    )
    daemon.add_argument(
        "--keyboard",
        action="store_true",
        help="also use this terminal as the button: space or Enter to talk, q to quit",
    )
    daemon.add_argument(
        "--fake-engine",
        action="store_true",
        help="no models: a pretend engine, to check the button, LED and service on a new box",
    )
    daemon.set_defaults(handler=_daemon)

    doctor = subparsers.add_parser(
        "doctor",
        help="check sound devices, GPIO, button, LED, models, machine and service",
        description="Check that this box is ready for a classroom. Exit status 1 if broken.",
    )
    doctor.add_argument("--beep", action="store_true", help="play a short beep to test the speaker")
    doctor.add_argument(
        "--no-sound-test", action="store_true", help="find sound devices but do not open them"
    )
    doctor.add_argument(
        "--quick", action="store_true", help="check model files' sizes, not their checksums"
    )
    doctor.set_defaults(handler=_doctor)


def _daemon(args: argparse.Namespace) -> int:
    from appliance.app.wiring import run_daemon

    return run_daemon(interactive=args.keyboard, fake_engine=args.fake_engine, verbose=args.verbose)


def _doctor(args: argparse.Namespace) -> int:
    import logging

    from appliance.system.doctor import Doctor

    if not args.verbose:  # the report says it all; the parts' own log lines would repeat it
        logging.getLogger("appliance").setLevel(logging.ERROR)
    doctor = Doctor(test_sound=not args.no_sound_test, beep=args.beep, rehash=not args.quick)
    return doctor.report()
