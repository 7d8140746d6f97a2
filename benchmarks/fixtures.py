"""Empty stores for every workload, shared by both sides: schemas, databases, files, Django.

Both workload scripts build their `harness.Store` entries from these helpers, so that
retell and the reference start every workload from the same kind of empty store, made
the same way. Only the standard library is imported at the top: psycopg and Django are
imported by the functions that need them (both environments have psycopg; the Django
helpers run only where Django is installed).

PostgreSQL is the server on 127.0.0.1:5432, user `postgres` without a password; the
benchmark works in schemas and databases of its own, named with its process id (so that
two benchmarks running at once on one server never drop each other's), and drops them
when it is done; `drop_leftovers` drops those of processes that died before doing so.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness

PG_HOST = "127.0.0.1"
PG_PORT = "5432"
PG_USER = "postgres"
PG_DATABASE = "test"
"""The database the benchmark connects to, to make and drop its own schemas and databases."""

POSTGRES_ENV = {
    "POSTGRES_DBNAME": PG_DATABASE,
    "POSTGRES_HOST": PG_HOST,
    "POSTGRES_PORT": PG_PORT,
    "POSTGRES_USER": PG_USER,
    "POSTGRES_PASSWORD": "",
}
"""The PostgreSQL keys both libraries read (POSTGRES_SCHEMA is added per side)."""

LEFTOVER_PREFIXES = ("retell_bench_", "eventsourcing_bench_", "bench_pgbench_")
"""How the benchmark's schemas, databases and tables begin: `<prefix>...<pid>`."""


def unique_name(name: str) -> str:
    """A schema, database or table name of this process's own: `name_<pid>`."""
    return f"{name}_{os.getpid()}"


DJANGO_SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
}
"""SQLite as docs/django.md recommends it, for both sides' Django settings alike."""


def _admin_execute(*statements: Any) -> None:
    """Run statements on the server's `test` database, each in its own transaction."""
    import psycopg

    with psycopg.connect(
        dbname=PG_DATABASE, host=PG_HOST, port=PG_PORT, user=PG_USER, autocommit=True
    ) as connection:
        for statement in statements:
            connection.execute(statement)


def checkpoint_postgres() -> None:
    """Run before every PostgreSQL workload and pgbench run.

    It writes out the pages that earlier work left dirty, such as W3's 100,000 events,
    and restarts the server's checkpoint timer. Otherwise the server writes them back
    while the next workload runs, and that workload's commits wait behind those writes.
    That cost used to fall on one side and not the other, at random.
    """
    _admin_execute("CHECKPOINT")


def reset_postgres_schema(schema: str, *, create: bool) -> None:
    """Drop a schema (and everything in it), then re-create it and checkpoint, if asked."""
    from psycopg import sql

    name = sql.Identifier(schema)
    drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name)
    _admin_execute(drop, *([sql.SQL("CREATE SCHEMA {}").format(name)] if create else []))
    if create:
        checkpoint_postgres()


def reset_postgres_database(database: str, *, create: bool) -> None:
    """Drop a database (closing whatever is still connected to it), then re-create it."""
    from psycopg import sql

    name = sql.Identifier(database)
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name)
    _admin_execute(drop, *([sql.SQL("CREATE DATABASE {}").format(name)] if create else []))


def postgres_store(schema: str, persistence_module: str) -> harness.Store:
    """A library's own PostgreSQL store, in a schema of its own, empty for every workload."""
    return harness.Store(
        env=lambda scratch: {
            "PERSISTENCE_MODULE": persistence_module,
            **POSTGRES_ENV,
            "POSTGRES_SCHEMA": schema,
        },
        setup=lambda: reset_postgres_schema(schema, create=True),
        teardown=lambda: reset_postgres_schema(schema, create=False),
    )


def remove_sqlite_files(path: Path) -> None:
    """Delete an SQLite database file and its WAL, shared-memory and journal files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------
# Django. Each side has a settings module of its own (django_settings_retell.py,
# django_settings_reference.py) naming its app, and both take DATABASES from
# `django_databases`: alias `default` is SQLite in a file of the process's own, alias
# `postgres` a database of the side's own on the server. Every workload starts from a
# new file or a new database, migrated. (The imports' `type: ignore`: the reference's
# environments have Django without its stubs, or no Django; retell's has the stubs.)
# ---------------------------------------------------------------------------------------


def django_databases(postgres_database: str, sqlite_name: str) -> dict[str, dict[str, Any]]:
    """The DATABASES setting of one side: SQLite (`default`) and PostgreSQL (`postgres`),
    each named with the process id."""
    sqlite_path = Path(tempfile.gettempdir()) / f"{unique_name(sqlite_name)}.sqlite3"
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_path),
            "OPTIONS": dict(DJANGO_SQLITE_OPTIONS),
        },
        "postgres": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unique_name(postgres_database),
            "USER": PG_USER,
            "HOST": PG_HOST,
            "PORT": PG_PORT,
        },
    }


def _django_setup(settings_module: str) -> None:
    """Set Django up with the side's settings, once per process."""
    import django  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from django.apps import apps  # type: ignore[import-untyped, import-not-found, unused-ignore]

    if not apps.ready:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
        django.setup()


def _close_django_connections() -> None:
    """Close this thread's Django connections (Django keeps one per thread and alias)."""
    from django.db import connections  # type: ignore[import-untyped, import-not-found, unused-ignore]

    connections.close_all()


def _reset_django_database(settings_module: str, alias: str, *, create: bool) -> None:
    """Give the alias an empty, migrated database (`create`), or clean up after a workload.

    SQLite: a new file for every workload, deleted afterwards. PostgreSQL: the side's
    database is made and migrated for the first workload, emptied by `flush` (TRUNCATE
    ... RESTART IDENTITY) before each later one, then checkpointed (`CHECKPOINT`), and
    dropped by `finish`. It is not dropped between workloads: retell's Django store
    keeps a LISTEN connection per alias for the life of the process, which a dropped
    database would cut off.
    """
    from django.conf import settings  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from django.core.management import call_command  # type: ignore[import-untyped, import-not-found, unused-ignore]

    _django_setup(settings_module)
    _close_django_connections()
    database = settings.DATABASES[alias]
    if "sqlite" in database["ENGINE"]:
        remove_sqlite_files(Path(database["NAME"]))
        if create:
            call_command("migrate", database=alias, verbosity=0)
    elif create:
        if alias in _MIGRATED:
            call_command("flush", database=alias, interactive=False, verbosity=0)
        else:
            reset_postgres_database(database["NAME"], create=True)
            call_command("migrate", database=alias, verbosity=0)
            _MIGRATED.add(alias)
        checkpoint_postgres()
    _close_django_connections()


_MIGRATED: set[str] = set()
"""The PostgreSQL aliases whose database this process has made and migrated."""


def _stop_retell_listeners() -> None:
    """On retell's side, end its LISTEN connections, which would otherwise keep trying
    to reconnect to the dropped database (and say so on stderr); the reference has none."""
    try:
        from retell.django.wakeups import stop_listeners
    except ImportError:
        return
    stop_listeners()


def _drop_django_database(alias: str) -> None:
    """Drop the alias's PostgreSQL database, if this process made it."""
    from django.conf import settings  # type: ignore[import-untyped, import-not-found, unused-ignore]

    if alias in _MIGRATED:
        _close_django_connections()
        _stop_retell_listeners()
        reset_postgres_database(settings.DATABASES[alias]["NAME"], create=False)
        _MIGRATED.discard(alias)


def django_store(settings_module: str, alias: str, persistence_module: str) -> harness.Store:
    """A library's Django store on one alias: an empty, migrated database for every workload."""

    def reset(create: bool) -> Callable[[], None]:
        return lambda: _reset_django_database(settings_module, alias, create=create)

    return harness.Store(
        env=lambda scratch: {"PERSISTENCE_MODULE": persistence_module, "DJANGO_DB_ALIAS": alias},
        setup=reset(True),
        teardown=reset(False),
        thread_done=_close_django_connections,
        finish=lambda: _drop_django_database(alias),
    )


def django_version() -> str:
    """Django's version, for the JSON ("" where Django is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("django")
    except PackageNotFoundError:
        return ""


def reset_postgres_table(table: str, *, create: bool) -> None:
    """pgbench's scratch table in the `test` database: dropped, then re-created if asked."""
    from psycopg import sql

    name = sql.Identifier(table)
    statements: list[Any] = [sql.SQL("DROP TABLE IF EXISTS {}").format(name)]
    if create:
        statements.append(
            sql.SQL(
                "CREATE TABLE {} (id bigserial PRIMARY KEY, originator_id uuid NOT NULL, "
                "originator_version integer NOT NULL, topic text NOT NULL, "
                "state bytea NOT NULL, UNIQUE (originator_id, originator_version))"
            ).format(name)
        )
    _admin_execute(*statements)


def fill_postgres_table(table: str, aggregates: int, versions: int) -> None:
    """Give pgbench's scratch table `aggregates` aggregates of `versions` events each, the
    n-th with the id ``md5(n::text)::uuid``, so that a script can read one by its number."""
    from psycopg import sql

    _admin_execute(
        sql.SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state) "
            "SELECT md5(n::text)::uuid, v, 'bench.Dog.TrickAdded', {} "
            "FROM generate_series(1, {}) AS n, generate_series(1, {}) AS v"
        ).format(
            sql.Identifier(table),
            sql.Literal(b'{"trick": "roll over", "timestamp": "2026-12-01T21:00:00+00:00"}'),
            sql.Literal(aggregates),
            sql.Literal(versions),
        )
    )


def drop_leftovers() -> list[str]:
    """Drop the schemas, databases and tables of benchmark processes that are gone.

    Named `<prefix>..._<pid>`; those of a process still running are left alone.
    """
    import psycopg
    from psycopg import sql

    def gone(name: str) -> bool:
        found = re.search(r"_(\d+)$", name)
        if not name.startswith(LEFTOVER_PREFIXES) or found is None:
            return False
        try:
            os.kill(int(found.group(1)), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    with psycopg.connect(
        dbname=PG_DATABASE, host=PG_HOST, port=PG_PORT, user=PG_USER, autocommit=True
    ) as connection:
        schemas = [row[0] for row in connection.execute("SELECT nspname FROM pg_namespace")]
        databases = [row[0] for row in connection.execute("SELECT datname FROM pg_database")]
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
    dropped = [name for name in schemas + databases + tables if gone(name)]
    statements = [
        *(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(n)) for n in schemas if gone(n)),
        *(
            sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(n))
            for n in databases
            if gone(n)
        ),
        *(sql.SQL("DROP TABLE {}").format(sql.Identifier(n)) for n in tables if gone(n)),
    ]
    if statements:
        _admin_execute(*statements)
    return dropped
