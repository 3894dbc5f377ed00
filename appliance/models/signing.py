"""Signed model packs: Ed25519 signatures over ``manifest.toml``.

The manifest pins every file's SHA-256, so signing the manifest signs the whole
pack. Whoever prepares packs for a school makes a key pair once::

    parlo models keygen --out school      # writes school.key (secret) and school.pub

and signs each pack (``parlo models pack ... --sign school.key``), which writes
``manifest.toml.sig`` beside the manifest::

    key = "3f2a9c1b0e4d5a6b"              # which key signed (see key_id)
    signature = "base64 of 64 bytes"

A box trusts the public keys (``*.pub``, PEM) in ``$PARLO_KEYS_DIR``
(``/etc/parlo-keys`` on an appliance, root's), or else in ``$PARLO_HOME/keys/`` and next
to its config file. Whether it also takes *unsigned* packs is the config's
``models.allow_unsigned``:

=======================  =====================================================
``until-key-installed``  (default) only once someone at the box confirms it
                         with a button hold (:class:`NeedsPresence`), and
                         never once the first key is installed
``always``               yes, without asking (development boxes only)
``never``                no: every pack must be signed by a trusted key
=======================  =====================================================

An unsigned pack can hold any language model, so it decides what the box says:
out of the box nobody can install one from a stick without being at the box.

A signature that does not match its manifest is refused whatever the setting:
that pack was changed after it was signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.models.manifest import SIGNATURE_NAME

UNSIGNED_POLICIES = ("until-key-installed", "always", "never")
MAX_SIGNATURE_BYTES = 4096


class SignatureError(ValueError):
    """A pack's signature is missing, malformed or wrong, or a key file is unusable."""


class NeedsPresence(SignatureError):
    """The pack is not signed by a trusted key: it may go ahead only if someone at the
    box confirms it (``until-key-installed`` before any key is installed)."""


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys a box accepts signatures from, by :func:`key_id`."""

    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    searched: tuple[Path, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.keys)

    def describe_places(self) -> str:
        return " or ".join(str(place) for place in self.searched) or "no key directory"


KEYS_ENV = "PARLO_KEYS_DIR"


def key_dirs() -> tuple[Path, ...]:
    """Where trusted public keys live.

    ``$PARLO_KEYS_DIR`` alone when it is set: the appliance's units set it to
    ``/etc/parlo-keys``, owned by root and only readable by ``parlo``, so nothing
    running as ``parlo`` (the page, a model parser gone wrong) can add a key.
    Otherwise (a development machine) ``$PARLO_HOME/keys`` and the config file's directory.
    """
    from appliance.core.paths import config_path, parlo_home

    if explicit := os.environ.get(KEYS_ENV):
        return (Path(explicit),)
    places = [parlo_home() / "keys", config_path().parent]
    unique: list[Path] = []
    for place in places:
        if place.resolve() not in [known.resolve() for known in unique]:
            unique.append(place)
    return tuple(unique)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short name for a key: the first 16 hex digits of the SHA-256 of its 32 raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_trusted_keys(directories: tuple[Path, ...] | None = None) -> TrustedKeys:
    """Every ``*.pub`` in ``directories`` (default :func:`key_dirs`).

    An unreadable key file is an error rather than skipped: it means someone meant
    to install a key, and quietly accepting unsigned packs then would be wrong.
    """
    directories = key_dirs() if directories is None else directories
    keys: dict[str, Ed25519PublicKey] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.pub")) if directory.is_dir() else ():
            public_key = load_public_key(path)
            keys[key_id(public_key)] = public_key
    return TrustedKeys(keys, tuple(directories))


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as error:
        raise SignatureError(f"cannot read the public key {path}: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{path} is not an Ed25519 public key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise SignatureError(f"cannot read the signing key {path}: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} is not an Ed25519 private key")
    return key


def generate_key_pair(prefix: Path) -> tuple[Path, Path, str]:
    """Write ``PREFIX.key`` (secret, mode 600) and ``PREFIX.pub``; return both and the key id.

    Refuses to overwrite an existing key: a lost private key cannot be replaced.
    """
    private_path, public_path = (
        prefix.with_name(prefix.name + ".key"),
        prefix.with_name(prefix.name + ".pub"),
    )
    for path in (private_path, public_path):
        if path.exists():
            raise SignatureError(f"{path} already exists; choose another --out or move it away")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(private_pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path, key_id(private_key.public_key())


def sign_manifest(manifest_bytes: bytes, private_key: Ed25519PrivateKey) -> bytes:
    """The contents of ``manifest.toml.sig`` for these exact manifest bytes."""
    signature = base64.b64encode(private_key.sign(manifest_bytes)).decode()
    signer = key_id(private_key.public_key())
    return (
        f'# Ed25519 signature of manifest.toml\nkey = "{signer}"\nsignature = "{signature}"\n'
    ).encode()


def check_signature(
    manifest_bytes: bytes,
    signature_file: bytes | None,
    trusted: TrustedKeys,
    allow_unsigned: str,
) -> str:
    """Decide whether a pack may be installed; return a sentence saying on what grounds.

    Raises :class:`SignatureError` with the reason when it may not.
    """
    if allow_unsigned not in UNSIGNED_POLICIES:
        raise SignatureError(f"models.allow_unsigned: unknown setting {allow_unsigned!r}")
    unverified_ok = allow_unsigned == "always"
    ask_at_box = allow_unsigned == "until-key-installed" and not trusted
    if signature_file is None:
        if unverified_ok:
            return "unsigned pack, accepted: " + _why_unverified_ok(allow_unsigned)
        if ask_at_box:
            raise NeedsPresence(
                f"the pack is not signed ({SIGNATURE_NAME} is missing) and no signing key is "
                "installed on this box: it needs a button hold at the box to be installed"
            )
        if allow_unsigned == "never":
            raise SignatureError(
                f"the pack is not signed ({SIGNATURE_NAME} is missing) and "
                "models.allow_unsigned is 'never'"
            )
        raise SignatureError(
            f"the pack is not signed ({SIGNATURE_NAME} is missing); this box only takes "
            f"signed packs since a key was installed in {trusted.describe_places()}"
        )
    signer, signature = _parse_signature_file(signature_file)
    public_key = trusted.keys.get(signer)
    if public_key is None:
        if unverified_ok:
            return f"signed by key {signer}, which is not installed here; accepted: " + (
                _why_unverified_ok(allow_unsigned)
            )
        if ask_at_box:
            raise NeedsPresence(
                f"the pack is signed by key {signer}, but no signing key is installed on this "
                "box: it needs a button hold at the box to be installed"
            )
        known = ", ".join(sorted(trusted.keys)) or "none"
        raise SignatureError(
            f"the pack is signed by key {signer}, which this box does not trust "
            f"(trusted keys: {known}; install its .pub in {trusted.describe_places()})"
        )
    try:
        public_key.verify(signature, manifest_bytes)
    except InvalidSignature:
        raise SignatureError(
            f"{SIGNATURE_NAME} does not match manifest.toml: the manifest was changed after "
            f"key {signer} signed it"
        ) from None
    return f"signed by trusted key {signer}"


def _why_unverified_ok(allow_unsigned: str) -> str:
    return "models.allow_unsigned is 'always'"


def _parse_signature_file(data: bytes) -> tuple[str, bytes]:
    if len(data) > MAX_SIGNATURE_BYTES:
        raise SignatureError(f"{SIGNATURE_NAME} is {len(data)} bytes, too big for a signature")
    try:
        table = tomllib.loads(data.decode("utf-8"))
        signer, encoded = table["key"], table["signature"]
        signature = base64.b64decode(encoded, validate=True)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, binascii.Error):
        raise SignatureError(
            f'{SIGNATURE_NAME} is malformed: expected key = "..." and signature = "..."'
        ) from None
    if not isinstance(signer, str) or len(signature) != 64:
        raise SignatureError(f"{SIGNATURE_NAME} is malformed: not an Ed25519 signature")
    return signer, signature
