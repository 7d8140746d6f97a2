"""Aggregate ids: `UUID`s, or `str`s such as ``"dog-fido"``, and which of the two a store keeps.

The SQL stores keep one type per application, chosen by ``ORIGINATOR_ID_TYPE``:
``uuid`` (the default: 16 bytes a row, compared as bytes) or ``text``. An id column
of one type can hold only that type unambiguously: a text column cannot tell the
UUID ``5f0c...`` from the str ``"5f0c..."``, so reads could not give back what was
saved. So a store refuses an id of the other type, before it writes anything, and
refuses tables made for the other type. The memory store keeps ids as they are,
so it takes both.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from retell.config import Environment
from retell.errors import ConfigurationError, DataError, ProgrammingError

IdType = Literal["uuid", "text"]

KEY = "ORIGINATOR_ID_TYPE"
ID_TYPES: tuple[IdType, ...] = ("uuid", "text")


def originator_id_type(env: Environment) -> IdType:
    """The store's id type from ``ORIGINATOR_ID_TYPE`` (default ``uuid``); else an error."""
    value = env.get(KEY, "").strip().lower() or "uuid"
    if value == "uuid":
        return "uuid"
    if value == "text":
        return "text"
    raise ConfigurationError(
        f"{env.describe(KEY)}={env[KEY]!r} is not an id type: use uuid (the default: "
        "aggregate ids are UUIDs) or text (aggregate ids are strs, such as 'dog-fido')."
    )


def is_id(value: object) -> bool:
    """Whether `value` can be an aggregate id: a UUID or a str."""
    return isinstance(value, UUID | str)


def wrong_id_type(originator_id: Any, id_type: IdType, key: str = KEY) -> DataError:
    """The error for an id the store cannot keep; `key` is ``ORIGINATOR_ID_TYPE`` as set."""
    if id_type == "uuid" and isinstance(originator_id, str):
        return DataError(
            f"the aggregate id {originator_id!r} is a str, but this store keeps UUID ids "
            f"({key}=uuid, the default). For an application whose ids are strs, set "
            f"{key}=text (new tables are made with a text id column; tables made for "
            "UUIDs must be renamed or dropped first), or give the aggregate a UUID id."
        )
    if id_type == "text" and isinstance(originator_id, UUID):
        return DataError(
            f"the aggregate id {originator_id!r} is a UUID, but this store keeps str ids "
            f"({key}=text). Give the aggregate a str id (a create_id() that returns "
            f"str(uuid4()), say), or set {key}=uuid for an application whose ids are UUIDs."
        )
    return DataError(
        f"aggregate ids are UUIDs or strs, not {type(originator_id).__qualname__}: "
        f"{originator_id!r}"
    )


def table_of_other_type(
    table: str, found: str, id_type: IdType, key: str = KEY
) -> ProgrammingError:
    """The error for a table whose id column was made for the other type of id."""
    other: IdType = "text" if id_type == "uuid" else "uuid"
    return ProgrammingError(
        f"the table {table} was made for {other} ids (its originator_id column is "
        f"{found}), but {key}={id_type}. Set {key}={other} to use it, or use other "
        f"tables for {id_type} ids (another application name, database or schema): a "
        "table's id type is chosen when it is made."
    )
