"""AES-GCM encryption and zlib compression of stored state."""

from __future__ import annotations

import base64

import pytest

from retell.cipher import AESCipher
from retell.compressor import ZlibCompressor
from retell.errors import CipherError, ConfigurationError, TranscodingError


@pytest.mark.parametrize("size", [16, 24, 32])
def test_encrypt_decrypt_round_trip(size: int) -> None:
    key = AESCipher.create_key(size)
    assert len(base64.b64decode(key)) == size
    cipher = AESCipher(key)
    secret = b'{"name": "Fido"}'
    encrypted = cipher.encrypt(secret)
    assert secret not in encrypted
    assert encrypted != cipher.encrypt(secret), "each record gets its own nonce"
    assert cipher.decrypt(encrypted) == secret


def test_a_wrong_key_or_a_tampered_record_is_detected() -> None:
    cipher = AESCipher(AESCipher.create_key())
    encrypted = cipher.encrypt(b"state")
    with pytest.raises(CipherError, match="not the key"):
        AESCipher(AESCipher.create_key()).decrypt(encrypted)
    tampered = encrypted[:-1] + bytes([encrypted[-1] ^ 1])
    with pytest.raises(CipherError, match="altered"):
        cipher.decrypt(tampered)
    with pytest.raises(CipherError, match="too short"):
        cipher.decrypt(b"{}")


def test_bad_keys_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="16, 24 or 32 bytes, not 20"):
        AESCipher.create_key(20)
    with pytest.raises(ConfigurationError, match="not base64"):
        AESCipher("???")
    with pytest.raises(ConfigurationError, match="7 bytes"):
        AESCipher(base64.b64encode(b"1234567").decode())


def test_compression_round_trip_and_bad_data() -> None:
    compressor = ZlibCompressor()
    data = b"trick " * 100
    compressed = compressor.compress(data)
    assert len(compressed) < len(data)
    assert compressor.decompress(compressed) == data
    with pytest.raises(TranscodingError, match="COMPRESSOR_TOPIC"):
        compressor.decompress(b"not zlib")
