"""The ``parlo`` command.

Each area of the appliance contributes its own subcommands through a
``register(subparsers)`` function, so this file only lists them.
Every command returns an exit code; errors a user can fix are printed as one
clear line (never a traceback) and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from appliance.core.config import ConfigError
from appliance.core.errors import UserError
from appliance.core.memory import limit_malloc_arenas

COMMAND_MODULES = (
    "appliance.commands",  # converse, run, bench
    "appliance.models.commands",  # models fetch|list|verify|pack|import|rollback|keygen
    "appliance.web.commands",  # web, passwd
    "appliance.system.commands",  # daemon, doctor
    "appliance.tools.eval",  # eval
    "appliance.lessons.commands",  # lessons
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parlo", description="Parlo: an offline voice conversation partner for classrooms."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue  # an area not built yet
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("pywhispercpp").setLevel(logging.WARNING)
    try:
        return int(args.handler(args) or 0)
    except (UserError, ConfigError) as error:
        print(f"parlo {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
