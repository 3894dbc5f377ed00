"""``parlo web`` and ``parlo passwd``.

``parlo web`` serves the page on its own, for development or for changing
settings while the daemon is stopped: the engine's tools (speaker test, reset,
device list) are absent and the page says so.

``parlo passwd`` sets the page's password or PIN, read from standard input
(typed twice, unseen, at a terminal; the first line otherwise)::

    echo 48151623 | sudo -u parlo parlo passwd
"""

from __future__ import annotations

import argparse
import getpass
import sys

from appliance.core.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    web = subparsers.add_parser("web", help="serve the teacher's page on its own (development)")
    web.add_argument("--port", type=int, help="port to listen on (default: web.port, 8080)")
    web.add_argument(
        "--bind",
        action="append",
        metavar="ADDRESS",
        help="address to listen on, may be repeated (default: web.bind)",
    )
    web.set_defaults(handler=run_web)

    passwd = subparsers.add_parser("passwd", help="set the web page's password, from stdin")
    passwd.add_argument(
        "--generate", action="store_true", help="make a random PIN, set it and print it"
    )
    passwd.add_argument(
        "--first-boot",
        action="store_true",
        help="only if no secret is set: make this box's own PIN, kept for the daemon to say "
        "on the first long hold (what parlo-first-boot.service runs)",
    )
    passwd.set_defaults(handler=run_passwd)


def run_web(args: argparse.Namespace) -> int:
    from appliance.core.events import EventStream
    from appliance.core.paths import config_path
    from appliance.web.auth import has_secret
    from appliance.web.context import WebContext
    from appliance.web.server import WebServer

    if args.port is not None and not 0 <= args.port <= 65535:
        raise UserError(f"--port must be from 0 to 65535, got {args.port}")
    if not has_secret():
        print("No password is set yet: run `parlo passwd` first.", file=sys.stderr)
    server = WebServer(
        WebContext(events=EventStream(), config_path=config_path(), standalone=True),
        hosts=args.bind,
        port=args.port,
    )
    try:
        server.serve_forever()
    except OSError as error:
        raise UserError(str(error)) from None
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    from appliance.web.auth import (
        SecretError,
        generate_pin,
        make_first_boot_pin,
        secret_path,
        set_secret,
    )

    if args.first_boot:
        if args.generate:
            raise UserError("--first-boot makes its own PIN; leave out --generate")
        made = make_first_boot_pin()
        print("This box's PIN was made; hold the button to hear it." if made
              else f"A secret is set already ({secret_path()}); nothing was changed.",
              file=sys.stderr)  # fmt: skip
        return 0
    if args.generate:
        secret = generate_pin()
    elif sys.stdin.isatty():
        secret = getpass.getpass("New password or PIN: ")
        if getpass.getpass("Again: ") != secret:
            raise UserError("the two entries differ; nothing was changed")
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    try:
        set_secret(secret)
    except SecretError as error:
        raise UserError(f"{error}; nothing was changed") from None
    if args.generate:
        print(secret)
    print(f"Password set ({secret_path()}). Anyone logged in to the page was logged out.",
          file=sys.stderr)  # fmt: skip
    return 0
