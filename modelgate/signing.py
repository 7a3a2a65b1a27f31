"""Detached ed25519 signatures of the baseline and calibration records (`RECORD.sig`).

The team keeps the private key as a CI secret (or on the machine that blesses); `check` needs
only the public key, named in the config. A signature covers the record's sha256 and its kind,
so a signed calibration record cannot stand in for a baseline. `cryptography` is an optional
extra (`modelgate[sign]`), imported only here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelgate.atomic import refuse_special, write_bytes_atomic, write_text_atomic
from modelgate.errors import TrustError, UsageError
from modelgate.jsonfile import loads
from modelgate.regularfile import read_regular

SIGNATURE_FORMAT = "modelgate-signature"
SIGNATURE_VERSION = 1
SUFFIX = ".sig"
KINDS = ("baseline", "calibration")
_INSTALL = 'pip install "modelgate[sign]" (the cryptography package)'


def signature_path(record: Path) -> Path:
    return record.with_name(record.name + SUFFIX)


def signed_message(kind: str, sha256: str) -> bytes:
    """What a signature covers: a domain tag, the record's kind and its digest."""
    return f"modelgate-signature-v{SIGNATURE_VERSION}\nkind={kind}\nsha256={sha256}\n".encode()


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise TrustError("signatures need the cryptography package", hint=_INSTALL) from None
    return serialization, ed25519


def key_id(public_key: Any) -> str:
    """A short fingerprint of a public key: the first 16 hex digits of its raw bytes' sha256."""
    serialization, _ = _crypto()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keys(prefix: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Write `PREFIX.key` (private, PKCS#8 PEM, mode 0600) and `PREFIX.pub` (public PEM)."""
    serialization, ed25519 = _crypto()
    private_path, public_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for path in (private_path, public_path):
        if path.exists() and not force:
            raise UsageError("exists; not overwritten", file=path, hint="use --force")
        refuse_special(path)  # both checked before either is written
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Created 0600 from the start: the key is never readable by others, not even for a moment;
    # atomic, so --force never writes into a FIFO or a device found at the path.
    write_bytes_atomic(private_path, private, mode=0o600)
    write_bytes_atomic(public_path, public)
    return private_path, public_path


def load_private_key(pem: bytes, source: str) -> Any:
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"not an unencrypted PEM private key ({exc})", file=source) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise UsageError("not an ed25519 key", file=source, hint="make one with modelgate keygen")
    return key


_SMALL_FILE_BYTES = 64 * 1024  # a PEM key or a signature document is a few hundred bytes


def _read_small(path: Path) -> bytes:
    """A key or signature file's bytes: only a regular file (a FIFO would never end) of at
    most 64 KiB (a huge one is not a key, and reading it would cost memory)."""
    return read_regular(path, _SMALL_FILE_BYTES)


def load_public_key(path: Path, *, key: str) -> Any:
    serialization, ed25519 = _crypto()
    try:
        pem = _read_small(path)
    except OSError as exc:
        message = f"cannot read the public key: {exc.strerror or exc}"
        raise TrustError(message, file=path, key=key) from None
    try:
        public = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise TrustError(f"not a PEM public key ({exc})", file=path, key=key) from None
    if not isinstance(public, ed25519.Ed25519PublicKey):
        raise TrustError("not an ed25519 public key", file=path, key=key)
    return public


def record_kind(raw: bytes, path: Path) -> str:
    """Which record `raw` is: `baseline` or `calibration` (anything else is refused)."""
    try:
        data = loads(raw.decode("utf-8"))
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("format") == "modelgate-baseline":
        return "baseline"
    if isinstance(data, dict) and "calibration" in data and "baseline_sha256" in data:
        return "calibration"
    raise UsageError("not a modelgate baseline or calibration record", file=path)


def sign_record(path: Path, private_key: Any) -> Path:
    """Sign the record at `path`; writes and returns `PATH.sig`."""
    try:
        raw = read_regular(path, None)  # a FIFO would never end
    except OSError as exc:
        raise UsageError(f"cannot read the record: {exc.strerror or exc}", file=path) from None
    kind = record_kind(raw, path)
    digest = hashlib.sha256(raw).hexdigest()
    signature = private_key.sign(signed_message(kind, digest))
    document = {
        "format": SIGNATURE_FORMAT,
        "version": SIGNATURE_VERSION,
        "algorithm": "ed25519",
        "kind": kind,
        "key_id": key_id(private_key.public_key()),
        "sha256": digest,
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    out = signature_path(path)
    write_text_atomic(out, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return out


@dataclass(frozen=True)
class Verified:
    key_id: str


def verify_record(path: Path, raw: bytes, kind: str, public_key: Any) -> Verified:
    """Refuse the record unless `PATH.sig` is a valid signature of exactly these bytes."""
    from cryptography.exceptions import InvalidSignature

    sig_path = signature_path(path)
    again = f"restore the signed {kind} record, or bless the production model again and sign "
    again += "the new record where the team's key is kept"
    if not sig_path.is_file():
        raise TrustError(
            f"unsigned {kind} record: trust.public_key asks for a signature and there is no "
            f"{sig_path.name}",
            file=path,
            key="trust.public_key",
            hint="only a record `modelgate bless` or `calibrate` wrote is signed; " + again,
        )
    try:
        document = loads(_read_small(sig_path).decode("utf-8"))
        signature = base64.b64decode(document["signature"], validate=True)
    except (OSError, ValueError, KeyError, TypeError):
        raise TrustError(f"malformed signature file {sig_path.name}", file=path) from None
    digest = hashlib.sha256(raw).hexdigest()
    try:
        public_key.verify(signature, signed_message(kind, digest))
    except InvalidSignature:
        raise TrustError(
            f"the {kind} record does not match its signature {sig_path.name}: it changed after "
            "it was signed, or another key signed it",
            file=path,
            key="trust.public_key",
            hint=again,
        ) from None
    return Verified(key_id=key_id(public_key))
