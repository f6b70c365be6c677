"""Sealing secret values with the cluster key (AES-256-GCM) before they reach JetStream.

A sealed value is ``version byte | 12-byte nonce | ciphertext+tag``. The KV key
the value is stored under is the associated data, so a sealed value copied to
another secret's key does not open. The bucket also holds a check value sealed
with the key; a host whose key does not open it refuses to start.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyfaas.errors import ConfigError

KEY_BYTES = 32
VERSION = b"\x01"
NONCE_BYTES = 12
CHECK_PLAINTEXT = b"pyfaas cluster key check"


class WrongKey(Exception):
    """A sealed value did not open with this key (another key, or altered)."""


def load_key(path: Path) -> bytes:
    """The 32-byte key in ``path``: raw bytes (``head -c 32 /dev/urandom``) or 64 hex digits."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cluster key file {path}: {exc.strerror or exc}") from None
    text = data.strip()
    if len(text) == 2 * KEY_BYTES and all(chr(c) in string.hexdigits for c in text):
        return bytes.fromhex(text.decode())
    if len(data) == KEY_BYTES:
        return data
    raise ConfigError(
        f"cluster key file {path} holds {len(data)} bytes: it needs {KEY_BYTES} bytes"
        f" (head -c {KEY_BYTES} /dev/urandom > {path}) or {2 * KEY_BYTES} hex digits"
    )


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the cluster key has {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, value: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, value, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != VERSION:
            raise WrongKey(f"{context}: not a sealed value")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context.encode())
        except InvalidTag:
            raise WrongKey(f"{context}: does not open with this key") from None
