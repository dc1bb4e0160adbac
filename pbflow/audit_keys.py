"""The audit key: an Ed25519 key kept outside the database that signs checkpoints and seals events.

The private key lives in a file (``PBFLOW_AUDIT_KEY_FILE``, default ``instance/audit_key.pem``),
created on first need with mode 600. From it come:

- signatures over checkpoints (:func:`checkpoint_message`), checked by anyone holding the
  public key, online or offline (``pbflow audit verify --public-key``);
- the seal key, an HMAC key derived from the private key, that seals every new event's hash as
  it is written. Only a holder of the key file can make a seal, so an event written with SQL
  by someone who holds the database alone is named by ``pbflow audit verify`` on the server.

The public key is printed by ``pbflow audit key`` as ``ed25519:<base64>``, to be written into a
meeting's minutes: a verifier who takes the key from the minutes rather than from the server
also catches a key file swapped together with re-signed checkpoints.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app

PREFIX = "ed25519:"
_EXTENSION = "pbflow_audit_key"


class KeyProblem(ValueError):
    """A key file or public key that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class AuditKey:
    """The private key and what is derived from it (loaded once per process)."""

    private: Ed25519PrivateKey
    public_raw: bytes
    seal_key: bytes
    pads: tuple[Any, Any]  # HMAC's keyed inner and outer SHA-256 states, copied per seal

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    @property
    def public_text(self) -> str:
        return public_text(self.public_raw)

    def sign(self, message: bytes) -> str:
        return self.private.sign(message).hex()

    def seal(self, event_hash: str) -> str:
        """HMAC-SHA256, from precomputed pads: the one-shot HMAC of OpenSSL 3 costs several
        times more than the hashing itself, and this runs for every event written."""
        inner, outer = self.pads[0].copy(), self.pads[1].copy()
        inner.update(event_hash.encode())
        outer.update(inner.digest())
        return outer.digest()[:16].hex()


def seal(seal_key: bytes, event_hash: str) -> str:
    """128 bits of HMAC-SHA256 over an event's hash: enough that nobody guesses one."""
    return hmac.digest(seal_key, event_hash.encode(), "sha256")[:16].hex()


def _pads(seal_key: bytes) -> tuple[Any, Any]:
    block = seal_key.ljust(64, b"\0")  # a 32-byte key fits SHA-256's 64-byte block
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in block)),
        hashlib.sha256(bytes(b ^ 0x5C for b in block)),
    )


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_text(public_raw: bytes) -> str:
    return PREFIX + base64.b64encode(public_raw).decode()


def key_path() -> Path:
    configured = current_app.config.get("PBFLOW_AUDIT_KEY_FILE")
    return Path(configured) if configured else Path(current_app.instance_path) / "audit_key.pem"


def _from_private(private: Ed25519PrivateKey) -> AuditKey:
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public_raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    seal_key = hashlib.sha256(b"pbflow audit seal\0" + raw).digest()
    return AuditKey(private, public_raw, seal_key, _pads(seal_key))


def _create(path: Path) -> None:
    """Write a new key, never over an existing one: two processes starting at once agree."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        # Atomic, and refused when another process made the key first: then that one is used.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _read(path: Path) -> AuditKey:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise KeyProblem(f"cannot read the audit key {path}: {exc.strerror}") from None
    except ValueError:
        raise KeyProblem(f"{path} is not a PEM private key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyProblem(f"{path} is not an Ed25519 key")
    return _from_private(private)


def current(create: bool = True) -> AuditKey | None:
    """This server's audit key (created on first need), or None when absent and not created."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    where = (app.config.get("PBFLOW_AUDIT_KEY_FILE"), app.instance_path)
    cached = app.extensions.get(_EXTENSION)
    if cached is not None and cached[0] == where:  # every commit comes here: keep it cheap
        return cached[1]
    path = key_path()
    if not path.exists():
        if not create:
            return None
        _create(path)
    key = _read(path)
    app.extensions[_EXTENSION] = (where, key)
    return key


def parse_public_key(text: str) -> bytes:
    """A public key as printed by ``pbflow audit key``, or a file holding that text or a PEM key."""
    value = text.strip()
    if not value.startswith(PREFIX) and not value.startswith("-----") and Path(value).is_file():
        try:
            value = Path(value).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise KeyProblem(f"cannot read the public key file {text}") from None
    if value.startswith("-----"):
        try:
            key = serialization.load_pem_public_key(value.encode())
        except ValueError:
            raise KeyProblem("not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyProblem("not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if value.startswith(PREFIX):
        value = value[len(PREFIX) :]
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise KeyProblem(
            f"'{text.strip()[:80]}' is not a public key (expected {PREFIX}<base64 of 32 bytes>)"
        )
    return raw


def checkpoint_message(chain: str, seq: int, event_hash: str, at: str) -> bytes:
    """What a checkpoint signs: which chain, up to which event, that event's hash, and when."""
    text = f"pbflow audit checkpoint 1\nchain {chain}\nseq {seq}\nhash {event_hash}\nat {at}\n"
    return text.encode()


def signature_valid(public_raw: bytes, message: bytes, signature_hex: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True
