"""Compressors shrink stored event state; set ``COMPRESSOR_TOPIC`` to use one.

Compression runs after encoding and before encryption (encrypted bytes do not
compress). It pays for large events and snapshots; small events barely shrink.
"""

from __future__ import annotations

import zlib
from typing import Protocol

from retell.errors import TranscodingError


class Compressor(Protocol):
    """What the mapper needs of a compressor."""

    def compress(self, data: bytes) -> bytes: ...

    def decompress(self, data: bytes) -> bytes: ...


class ZlibCompressor:
    """zlib from the standard library: available everywhere, a good size/speed balance."""

    def __init__(self, level: int = 6) -> None:
        self.level = level

    def compress(self, data: bytes) -> bytes:
        return zlib.compress(data, self.level)

    def decompress(self, data: bytes) -> bytes:
        try:
            return zlib.decompress(data)
        except zlib.error as error:
            raise TranscodingError(
                f"stored event state is not zlib data ({error}): was it written without "
                "COMPRESSOR_TOPIC, or by another compressor?"
            ) from error
