"""Helpers of the Django store's tests."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connections

from retell.django import tables


def env(alias: str = "default", **more: str) -> dict[str, str]:
    """The env of an application on the Django store's alias `alias`."""
    return {"PERSISTENCE_MODULE": "retell.django", "DJANGO_DB_ALIAS": alias, **more}


def forget(alias: str, names: Iterable[str]) -> None:
    """Delete every record of the applications `names`: a clean slate for fixed names."""
    names = list(names)
    marks = ", ".join(["%s"] * len(names))
    with connections[alias].cursor() as cursor:
        for table in (tables.EVENTS, tables.SNAPSHOTS, tables.TRACKING):
            cursor.execute(f"DELETE FROM {table} WHERE application_name IN ({marks})", names)
