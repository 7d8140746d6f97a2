"""The `eventsourcing` library's built-in transcodings, which retell does not need.

That library's applications register `UUIDAsHex`, `DecimalAsStr` and
`DatetimeAsISO` in ``register_transcodings``. retell codes UUIDs, decimals and
datetimes itself, so that registering these changes nothing: code written for that
library runs unchanged, and what is stored stays retell's own coding. Their
`encode` and `decode` work, for code that calls them directly.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from retell.persistence.transcoder import Transcoding


class _CodedWithoutIt(Transcoding):
    """A transcoding that `Transcoder.register` skips: the type is coded anyway."""

    coded_without_it: ClassVar[bool] = True


class UUIDAsHex(_CodedWithoutIt):
    type = UUID
    name = "uuid_hex"

    def encode(self, obj: UUID) -> str:
        return obj.hex

    def decode(self, data: str) -> UUID:
        return UUID(data)


class DecimalAsStr(_CodedWithoutIt):
    type = Decimal
    name = "decimal_str"

    def encode(self, obj: Decimal) -> str:
        return str(obj)

    def decode(self, data: str) -> Decimal:
        return Decimal(data)


class DatetimeAsISO(_CodedWithoutIt):
    type = datetime
    name = "datetime_iso"

    def encode(self, obj: datetime) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> datetime:
        return datetime.fromisoformat(data)
