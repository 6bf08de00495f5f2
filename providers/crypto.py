"""Envelope encryption of stored secrets; the only importer of ``cryptography``.

Each value gets a fresh 256-bit data key and is sealed with AES-256-GCM. The data
key is wrapped by a key-encryption key (KEK): the first of ``CREDENTIALS_KEYS``
(every listed key can unwrap), or AWS KMS when ``CREDENTIALS_KMS_KEY_ID`` is set.
Both layers are bound to *associated data* naming the table, field and row, so a
ciphertext copied into another row or field does not decrypt.

Stored form (a JSON object, compact)::

    {"v": 1, "kid": "<kek id>", "wk": "<b64 wrapped data key>",
     "n": "<b64 nonce>", "ct": "<b64 ciphertext+tag>"}

The kid is ``kms:<key id>`` for KMS-wrapped values. Rotation (``rewrap``) only
re-wraps the data key; the ciphertext itself is unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

if TYPE_CHECKING:
    # boto3-stubs (the test extra) types the KMS client; boto3 itself has no types.
    from mypy_boto3_kms import KMSClient

FORMAT_VERSION = 1
KMS_PREFIX = "kms:"


class CryptoError(Exception):
    """A secret could not be sealed or opened; the message never holds a secret."""


class KeyConfigError(CryptoError):
    """The key configuration is missing or malformed."""


class DecryptionError(CryptoError):
    """A stored value does not open: wrong key, tampered, or moved to another row."""


@dataclass(frozen=True)
class LocalKey:
    kid: str
    key: bytes


def _b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def generate_key() -> str:
    """A new ``kid:base64`` entry for CREDENTIALS_KEYS."""
    raw = secrets.token_bytes(32)
    return f"{key_id_for(raw)}:{_b64e(raw)}"


def key_id_for(raw: bytes) -> str:
    """A stable, non-secret id derived from the key (first 12 hex of its SHA-256)."""
    return "k" + hashlib.sha256(b"modelgate-kek-id:" + raw).hexdigest()[:12]


def parse_keys(entries: list[str] | tuple[str, ...]) -> tuple[LocalKey, ...]:
    """Parse CREDENTIALS_KEYS entries: ``kid:base64`` or a bare base64 key."""
    keys: list[LocalKey] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        entry = entry.strip()
        if not entry:
            continue
        kid, sep, encoded = entry.rpartition(":")
        if not sep:
            kid, encoded = "", entry
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise KeyConfigError(
                f"CREDENTIALS_KEYS entry {position} is not a base64-encoded 32-byte "
                "key (expected 'key-id:base64'; generate one with "
                "'manage.py generate_credentials_key')."
            )
        kid = kid or key_id_for(raw)
        if (
            kid.startswith(KMS_PREFIX)
            or not kid.replace("-", "").replace("_", "").replace(".", "").isalnum()
        ):
            raise KeyConfigError(
                f"CREDENTIALS_KEYS entry {position} has an invalid key id {kid!r} "
                "(letters, digits, '-', '_' and '.' only)."
            )
        if kid in seen:
            raise KeyConfigError(f"CREDENTIALS_KEYS lists key id {kid!r} twice.")
        seen.add(kid)
        keys.append(LocalKey(kid, raw))
    return tuple(keys)


@lru_cache(maxsize=8)
def _parsed(entries: tuple[str, ...]) -> tuple[LocalKey, ...]:
    return parse_keys(entries)


def local_keys() -> tuple[LocalKey, ...]:
    return _parsed(tuple(settings.CREDENTIALS_KEYS))


def current_kid() -> str:
    """The id of the key that wraps new values."""
    kms_key: str = settings.CREDENTIALS_KMS_KEY_ID
    if kms_key:
        return KMS_PREFIX + kms_key
    keys = local_keys()
    if not keys:
        raise KeyConfigError(
            "No credentials encryption key is configured: set CREDENTIALS_KEYS "
            "or CREDENTIALS_KMS_KEY_ID."
        )
    return keys[0].kid


def _find_local(kid: str) -> LocalKey:
    for key in local_keys():
        if key.kid == kid:
            return key
    known = ", ".join(k.kid for k in local_keys()) or "none"
    raise DecryptionError(
        f"The value was sealed with key {kid!r}, which is not in CREDENTIALS_KEYS "
        f"(configured: {known}). Add the old key back to decrypt it."
    )


def reset_kms_client() -> None:
    """Drop the cached KMS client, so the next use reads the AWS settings again."""
    _kms_client.cache_clear()


@lru_cache(maxsize=1)
def _kms_client(region: str, endpoint_url: str) -> KMSClient:
    import boto3

    kwargs: dict[str, Any] = {}
    if region:
        kwargs["region_name"] = region
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return boto3.client("kms", **kwargs)


def kms_client() -> KMSClient:
    return _kms_client(
        settings.CREDENTIALS_KMS_REGION, settings.CREDENTIALS_KMS_ENDPOINT_URL
    )


def _context(aad: str) -> dict[str, str]:
    return {"modelgate": aad}


def _wrap(data_key: bytes, kid: str, aad: str) -> str:
    if kid.startswith(KMS_PREFIX):
        answer = kms_client().encrypt(
            KeyId=kid[len(KMS_PREFIX) :],
            Plaintext=data_key,
            EncryptionContext=_context(aad),
        )
        return _b64e(answer["CiphertextBlob"])
    kek = _find_local(kid)
    nonce = os.urandom(12)
    return _b64e(nonce + AESGCM(kek.key).encrypt(nonce, data_key, aad.encode()))


def _unwrap(wrapped_b64: str, kid: str, aad: str) -> bytes:
    wrapped = _b64d(wrapped_b64)
    if kid.startswith(KMS_PREFIX):
        try:
            answer = kms_client().decrypt(
                CiphertextBlob=wrapped,
                KeyId=kid[len(KMS_PREFIX) :],
                EncryptionContext=_context(aad),
            )
        except Exception as exc:  # botocore raises per-service error classes
            raise DecryptionError(
                f"AWS KMS refused to unwrap the data key ({type(exc).__name__})."
            ) from None
        return bytes(answer["Plaintext"])
    kek = _find_local(kid)
    try:
        return AESGCM(kek.key).decrypt(wrapped[:12], wrapped[12:], aad.encode())
    except InvalidTag:
        raise DecryptionError(
            f"The data key does not unwrap with key {kid!r}: the value was "
            "tampered with, or copied from another row or field."
        ) from None


def encrypt(plaintext: str, aad: str) -> str:
    """Seal ``plaintext`` bound to ``aad``; returns the stored form."""
    kid = current_kid()
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(
        nonce, plaintext.encode("utf-8"), aad.encode()
    )
    envelope = {
        "v": FORMAT_VERSION,
        "kid": kid,
        "wk": _wrap(data_key, kid, aad),
        "n": _b64e(nonce),
        "ct": _b64e(ciphertext),
    }
    return json.dumps(envelope, separators=(",", ":"))


def _parse(stored: str) -> dict[str, Any]:
    try:
        envelope = json.loads(stored)
    except (TypeError, ValueError):
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("v") != FORMAT_VERSION:
        raise DecryptionError("The stored value is not a Modelgate encrypted envelope.")
    for part in ("kid", "wk", "n", "ct"):
        if not isinstance(envelope.get(part), str):
            raise DecryptionError(f"The encrypted envelope lacks its {part!r} part.")
    return envelope


def decrypt(stored: str, aad: str) -> str:
    """Open a stored value sealed for ``aad``; raises DecryptionError otherwise."""
    envelope = _parse(stored)
    try:
        data_key = _unwrap(envelope["wk"], envelope["kid"], aad)
        nonce, ciphertext = _b64d(envelope["n"]), _b64d(envelope["ct"])
    except (binascii.Error, ValueError):
        raise DecryptionError("The encrypted envelope is not valid base64.") from None
    try:
        plaintext = AESGCM(data_key).decrypt(nonce, ciphertext, aad.encode())
    except (InvalidTag, ValueError):
        raise DecryptionError(
            "The ciphertext does not authenticate: the value was tampered with, "
            "or copied from another row or field."
        ) from None
    return plaintext.decode("utf-8")


def key_id_of(stored: str) -> str:
    """The id of the key that wraps a stored value."""
    return str(_parse(stored)["kid"])


def rewrap(stored: str, aad: str) -> str | None:
    """Re-wrap a value's data key under the current key; None if already current."""
    envelope = _parse(stored)
    target = current_kid()
    if envelope["kid"] == target:
        return None
    data_key = _unwrap(envelope["wk"], envelope["kid"], aad)
    envelope["wk"] = _wrap(data_key, target, aad)
    envelope["kid"] = target
    return json.dumps(envelope, separators=(",", ":"))
