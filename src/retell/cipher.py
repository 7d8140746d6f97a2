"""Ciphers encrypt stored event state; set ``CIPHER_KEY`` (and optionally ``CIPHER_TOPIC``).

`AESCipher` uses AES in GCM mode from the ``cryptography`` package: authenticated
encryption, so a wrong key or a record altered in the database is detected and
reported, never decoded into garbage.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from retell.errors import CipherError, ConfigurationError

_NONCE_SIZE = 12
_KEY_SIZES = (16, 24, 32)


class Cipher(Protocol):
    """What the mapper needs of a cipher."""

    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


class AESCipher:
    """AES-GCM with a random 96-bit nonce per record, stored in front of the ciphertext."""

    CIPHER_KEY = "CIPHER_KEY"
    """The key that holds the key (as in the eventsourcing library)."""

    def __init__(self, key: str) -> None:
        try:
            raw = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(
                "CIPHER_KEY is not base64: make a key with AESCipher.create_key(32)"
            ) from None
        if len(raw) not in _KEY_SIZES:
            raise ConfigurationError(
                f"CIPHER_KEY decodes to {len(raw)} bytes, but AES keys are 16, 24 or 32 bytes: "
                "make a key with AESCipher.create_key(32)"
            )
        self._aead = AESGCM(raw)

    @staticmethod
    def create_key(num_bytes: int = 32) -> str:
        """A new random key, base64-encoded, for ``CIPHER_KEY``."""
        if num_bytes not in _KEY_SIZES:
            raise ConfigurationError(f"AES keys are 16, 24 or 32 bytes, not {num_bytes}")
        return base64.b64encode(os.urandom(num_bytes)).decode()

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plaintext, None)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) < _NONCE_SIZE + 16:
            raise CipherError(
                "stored event state is too short to be encrypted: was it written without "
                "CIPHER_KEY?"
            )
        try:
            return self._aead.decrypt(ciphertext[:_NONCE_SIZE], ciphertext[_NONCE_SIZE:], None)
        except InvalidTag:
            raise CipherError(
                "stored event state cannot be decrypted: CIPHER_KEY is not the key it was "
                "written with, the record was altered, or it was written without encryption."
            ) from None
