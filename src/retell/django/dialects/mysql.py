"""MySQL and MariaDB: writers of one log take its lock row, so ids follow commit order.

InnoDB allocates an auto-increment id when a row is inserted, and transactions
commit in any order: with two writers, ids 7 and 8 may commit as 8 then 7, and a
reader that read 8 in between never sees 7. So a writer first locks its log's row in
``retell_log_locks`` (``SELECT ... FOR UPDATE``; an upsert makes the row on a log's
first write). The lock is held to the end of the writer's transaction, the caller's
``atomic()`` included: the next writer of that log allocates its ids only after the
previous one committed, and InnoDB makes a commit visible before it releases the
transaction's locks. Writers of different applications do not wait for each other.
The cost: writers of one application run one at a time on MySQL and MariaDB.
"""

from __future__ import annotations

from typing import Any

from retell.django import tables
from retell.django.dialects.base import Dialect


class MySQLDialect(Dialect):
    def before_log_write(self, cursor: Any, application_name: str) -> None:
        cursor.execute(
            f"SELECT 1 FROM {tables.LOG_LOCKS} WHERE application_name = %s FOR UPDATE",
            (application_name,),
        )
        if cursor.fetchone() is None:
            # ON DUPLICATE KEY UPDATE takes an exclusive lock on the row even when
            # another writer made it first (INSERT IGNORE would take a shared one, and
            # two of those upgrading would deadlock).
            cursor.execute(
                f"INSERT INTO {tables.LOG_LOCKS} (application_name) VALUES (%s) "
                "ON DUPLICATE KEY UPDATE application_name = application_name",
                (application_name,),
            )

    def ids_from_lastrowid(self, lastrowid: int, count: int) -> list[int]:
        # MySQL reports the first row's id; a multi-row INSERT gets consecutive ones.
        return list(range(lastrowid, lastrowid + count))

    def record_tracking(
        self, cursor: Any, owner: str, leader: str, position: int, first: int
    ) -> bool:
        """An update that only moves forward, else an insert that fails if the row exists.

        Not ON DUPLICATE KEY UPDATE: Django connects with CLIENT_FOUND_ROWS, under
        which an unchanged row and an inserted one both count 1.
        """
        cursor.execute(
            f"UPDATE {tables.TRACKING} SET notification_id = %s "
            "WHERE application_name = %s AND upstream_application_name = %s "
            "AND notification_id < %s",
            (position, owner, leader, first),
        )
        if cursor.rowcount:
            return True
        cursor.execute(
            f"SELECT 1 FROM {tables.TRACKING} "
            "WHERE application_name = %s AND upstream_application_name = %s",
            (owner, leader),
        )
        if cursor.fetchone() is not None:
            return False
        cursor.execute(
            f"INSERT INTO {tables.TRACKING} "
            "(application_name, upstream_application_name, notification_id) "
            "VALUES (%s, %s, %s)",
            (owner, leader, position),
        )
        return True
