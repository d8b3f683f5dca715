"""Ed25519 signatures over a bundle's manifest, and the keys a device trusts.

The manifest lists every file of the bundle with its sha256, so a signature over its exact bytes covers the whole
bundle: a model swapped and the manifest re-hashed no longer matches the signature.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from edgedigits import EdgeDigitsError

SIGNATURE = "signature.json"  # beside manifest.json in a bundle
REVOKED = "revoked"  # in the trusted folder: ids of keys no longer trusted, one a line (their .pub may stay)
MAX_SIGNATURE_BYTES = 4096
MAX_KEY_BYTES = 4096
UNSIGNED = "unsigned"
KEY_ID = re.compile(r"[0-9a-f]{16}")
INSTALL = "signatures need cryptography: pip install cryptography (Raspberry Pi OS: apt install python3-cryptography)"


def _ed25519():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise EdgeDigitsError(INSTALL) from None
    return serialization, ed25519


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    key_id: str


@dataclass(frozen=True)
class Trust:
    """What a device accepts: the keys in `directory` (none: unsigned bundles pass unless `require_signed`)."""
    directory: Path | None = None
    require_signed: bool = False


def key_id(public_key) -> str:
    """A key's short name: the first 16 hex digits of the sha256 of its 32 raw bytes."""
    serialization, _ = _ed25519()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file that must not exist yet, whole or not at all, with `mode` from its first byte."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.link(temporary, path)  # unlike a rename, fails when a file of that name appeared meanwhile
    except FileExistsError:
        raise EdgeDigitsError(f"{path}: exists; not replaced") from None
    finally:
        temporary.unlink(missing_ok=True)


def new_keys(directory: Path, name: str = "edgedigits") -> KeyPair:
    """An Ed25519 key pair: `NAME.key` (private, mode 0600: it signs, and never leaves the workstation) and
    `NAME.pub` (for the devices); existing files are never replaced."""
    serialization, ed25519 = _ed25519()
    directory = Path(directory)
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    for path in (private, public):
        if path.exists():
            raise EdgeDigitsError(f"{path}: exists; not replaced (choose another folder or --name)")
    directory.mkdir(parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    _write_new(private, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()), 0o600)
    _write_new(public, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    return KeyPair(private, public, key_id(key.public_key()))


def _read_key(path: Path) -> bytes:
    path = Path(path)
    try:
        if not path.is_file():  # a FIFO would block the read
            raise EdgeDigitsError(f"{path}: not a regular file")
        if path.stat().st_size > MAX_KEY_BYTES:
            raise EdgeDigitsError(f"{path}: {path.stat().st_size} bytes: not a key")
        return path.read_bytes()
    except OSError as exc:
        raise EdgeDigitsError(f"{path}: cannot read the key ({exc.strerror})") from None


def load_private(path: Path):
    serialization, ed25519 = _ed25519()
    try:
        key = serialization.load_pem_private_key(_read_key(path), password=None)
    except (ValueError, TypeError):
        raise EdgeDigitsError(f"{path}: not an unencrypted PEM private key (make one with `edgedigits keys new`)") \
            from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise EdgeDigitsError(f"{path}: not an Ed25519 key")
    return key


def load_public(path: Path):
    serialization, ed25519 = _ed25519()
    data = _read_key(path)
    if b"PRIVATE KEY" in data:
        raise EdgeDigitsError(f"{path}: a private key; devices get the public one (.pub)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise EdgeDigitsError(f"{path}: not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise EdgeDigitsError(f"{path}: not an Ed25519 key")
    return key


def sign(manifest: bytes, private_key: Path) -> bytes:
    """The signature file of a manifest's exact bytes."""
    key = load_private(private_key)
    return json.dumps({"algorithm": "ed25519", "key_id": key_id(key.public_key()),
                       "signature": base64.b64encode(key.sign(manifest)).decode()}, indent=2).encode() + b"\n"


def trusted_keys(directory: Path) -> tuple[dict[str, object], set[str]]:
    """The device's trusted public keys by id, without the revoked ones; and the revoked ids."""
    directory = Path(directory)
    revoked_file = directory / REVOKED
    revoked = set()
    if revoked_file.is_file():
        revoked = {line.split("#")[0].strip() for line in revoked_file.read_text(errors="replace").splitlines()}
        revoked.discard("")
    keys = {}
    for path in sorted(directory.glob("*.pub")) if directory.is_dir() else []:
        key = load_public(path)
        keys[key_id(key)] = key
    return {k: v for k, v in keys.items() if k not in revoked}, revoked


def signer(manifest: bytes, signature: bytes | None, trust: Trust) -> str:
    """"signed by key <id>" (a trusted key), or UNSIGNED where the device trusts no key; anything else is
    refused in one line."""
    keys, revoked = trusted_keys(trust.directory) if trust.directory else ({}, set())
    if signature is None:
        if keys or trust.require_signed:
            raise EdgeDigitsError("refused: the bundle is unsigned and this device requires a signature"
                                  + (f" ({len(keys)} trusted keys in {trust.directory})" if keys else ""))
        return UNSIGNED
    try:
        fields = json.loads(signature)
        signed_by, value = fields["key_id"], base64.b64decode(fields["signature"], validate=True)
        if fields.get("algorithm") != "ed25519" or not isinstance(signed_by, str) or not KEY_ID.fullmatch(signed_by):
            raise ValueError("not an ed25519 signature with a 16-digit key id")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise EdgeDigitsError(f"refused: {SIGNATURE} is not a signature ({type(exc).__name__}: {exc})") from None
    if signed_by in revoked:
        raise EdgeDigitsError(f"refused: signed by key {signed_by}, which is revoked ({trust.directory / REVOKED})")
    if signed_by not in keys:
        if keys:
            raise EdgeDigitsError(f"refused: signed by key {signed_by}, which is not among the keys trusted in "
                                  f"{trust.directory}")
        if trust.require_signed:
            raise EdgeDigitsError(f"refused: signed by key {signed_by}, but signatures are required and no trusted "
                                  "key is there to check it")
        return f"{UNSIGNED} (signed by key {signed_by}, which this device cannot check: it trusts no key)"
    from cryptography.exceptions import InvalidSignature
    try:
        keys[signed_by].verify(value, manifest)
    except InvalidSignature:
        raise EdgeDigitsError(f"refused: bad signature: the manifest is not what key {signed_by} signed") from None
    return f"signed by key {signed_by}"
