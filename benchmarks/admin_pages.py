"""How fast the event admin's pages are on a table of a million events (PostgreSQL).

    .venv/bin/python benchmarks/admin_pages.py                 # 1,000,000 events, 7 runs
    .venv/bin/python benchmarks/admin_pages.py --events 100000 --runs 3   # quicker
    .venv/bin/python benchmarks/admin_pages.py --keep          # keep the database for a rerun

It makes a database of its own on 127.0.0.1:5432 (user postgres, no password),
``retell_admin_bench``, migrates it, fills it with ``INSERT ... SELECT`` over
``generate_series`` (events of three applications, ten per aggregate, interleaved
as a live log would be, with state that decodes as the classes below), runs
``VACUUM ANALYZE`` as autovacuum would, and drops it at the end (unless ``--keep``;
a kept database of the same size is reused). Then it times each page through
Django's test client, logged in as a superuser, and prints the median of the runs
in milliseconds with the number of SQL statements the page ran, next to what a
plain ``COUNT(*)`` of the table costs: the query Django's stock admin would run on
every list page.

Why in-process, through the test client: it measures the admin's own work (queries,
decoding, templates) without a web server's, which is the part this code controls.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psycopg

from retell import Aggregate, event
from retell.topics import register_topic

DATABASE = "retell_admin_bench"
SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
EVENTS_PER_AGGREGATE = 10
TARGET_MS = 300.0


class Dog(Aggregate):
    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)

    @event("TrickForgotten")
    def forget_trick(self, trick: str) -> None:
        if trick in self.tricks:
            self.tricks.remove(trick)


class Account(Aggregate):
    @event("Opened")
    def __init__(self, name: str) -> None:
        self.name = name
        self.balance = Decimal(0)

    @event("Credited")
    def credit(self, amount: Decimal) -> None:
        self.balance += amount

    @event("Debited")
    def debit(self, amount: Decimal) -> None:
        self.balance -= amount


class Parcel(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.stops: list[str] = []

    @event("Dispatched")
    def dispatch(self, place: str) -> None:
        self.stops.append(place)

    @event("Delivered")
    def deliver(self, place: str) -> None:
        self.stops.append(place)


def get_topic(cls: type) -> str:
    """The stored topic of a class here: the same whether this file runs as a script or not."""
    return f"benchmarks.admin_pages:{cls.__qualname__}"


# application -> (aggregate class, created event, two later events, the later events' field)
APPLICATIONS: list[tuple[str, type[Aggregate], list[type], str]] = [
    ("DogSchool", Dog, [Dog.Registered, Dog.TrickAdded, Dog.TrickForgotten], "trick"),  # type: ignore[attr-defined]
    ("Payments", Account, [Account.Opened, Account.Credited, Account.Debited], "amount"),  # type: ignore[attr-defined]
    ("Shipping", Parcel, [Parcel.Created, Parcel.Dispatched, Parcel.Delivered], "place"),  # type: ignore[attr-defined]
]


for _, _aggregate, _events, _ in APPLICATIONS:
    for _cls in (_aggregate, *_events):
        register_topic(get_topic(_cls), _cls)


def fill_sql() -> str:
    """One INSERT ... SELECT making every event: row i is version i / A + 1 of aggregate i % A.

    Interleaved like a live log (every aggregate's first event, then every second...),
    so an aggregate's events are spread over the table, as they are in production.
    The state is the JSON the transcoder writes, so detail and state pages decode it.
    """
    apps = len(APPLICATIONS)

    def case(items: list[str]) -> str:
        whens = " ".join(f"WHEN {n} THEN {item}" for n, item in enumerate(items))
        return f"CASE mod(a, {apps}) {whens} END"

    def topic(k: int) -> str:
        return case([f"'{get_topic(classes[k])}'" for _, _, classes, _ in APPLICATIONS])

    later_field = case(
        [
            "'\"amount\":\"' || mod(a * 7 + v * 13, 5000)::text || '.50\"'"
            if field == "amount"
            else f"'\"{field}\":\"{field} ' || v::text || '\"'"
            for _, _, _, field in APPLICATIONS
        ]
    )
    created_field = case(
        [f'\'"originator_topic":"{get_topic(cls)}"\'' for _, cls, _, _ in APPLICATIONS]
    )
    names = case([f"'{name}'" for name, _, _, _ in APPLICATIONS])
    return f"""
    INSERT INTO retell_events (application_name, originator_id, originator_version, topic, state)
    SELECT {names}, id, v,
        CASE WHEN v = 1 THEN {topic(0)} WHEN mod(v, 2) = 0 THEN {topic(1)} ELSE {topic(2)} END,
        convert_to('{{"originator_id":"' || id::text || '","originator_version":' || v::text
            || ',"timestamp":"' || to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '",'
            || CASE WHEN v = 1 THEN {created_field} || ',"name":"name ' || a::text || '"'
                    ELSE {later_field} END
            || '}}', 'UTF8')
    FROM (
        SELECT i, mod(i - 1, %(aggregates)s) AS a, (i - 1) / %(aggregates)s + 1 AS v,
               md5(mod(i - 1, %(aggregates)s)::text)::uuid AS id,
               timestamp '2026-01-01' + i * interval '1 second' AS t
        FROM generate_series(1, %(events)s) AS i
    ) AS rows
    ORDER BY i
    """


def setup_django(database: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark",
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "retell.django",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        ROOT_URLCONF=__name__,
        STATIC_URL="/static/",
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": database,
                "USER": SERVER["user"],
                "HOST": SERVER["host"],
                "PORT": str(SERVER["port"]),
            }
        },
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    django.setup()


def _urls() -> list[Any]:
    from django.contrib import admin
    from django.urls import path

    return [path("admin/", admin.site.urls)]


def __getattr__(name: str) -> Any:  # the URLconf, once Django is set up
    if name == "urlpatterns":
        return _urls()
    raise AttributeError(name)


def server_connection() -> psycopg.Connection[Any]:
    return psycopg.connect(dbname="test", autocommit=True, **SERVER)  # type: ignore[arg-type]


def prepare_database(events: int) -> bool:
    """Make the database, or reuse a kept one of the same size; True if it was filled now."""
    with server_connection() as server:
        exists = server.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
        ).fetchone()
        if exists:
            with psycopg.connect(dbname=DATABASE, **SERVER) as db:  # type: ignore[arg-type]
                try:
                    found = db.execute("SELECT max(id) FROM retell_events").fetchone()
                except psycopg.Error:
                    found = None
            if found and found[0] == events:
                print(f"reusing the kept database {DATABASE} ({events:,} events)")
                return False
            server.execute(f"DROP DATABASE {DATABASE} WITH (FORCE)")
        server.execute(f"CREATE DATABASE {DATABASE}")
    return True


def fill(events: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    aggregates = max(1, events // EVENTS_PER_AGGREGATE)
    with connection.cursor() as cursor:
        cursor.execute(fill_sql(), {"aggregates": aggregates, "events": events})
    filled = time.perf_counter() - started
    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit = True
    raw.execute("VACUUM ANALYZE retell_events")
    print(
        f"filled {events:,} events in {filled:.1f} s, vacuumed in "
        f"{time.perf_counter() - started - filled:.1f} s"
    )


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    with server_connection() as server:
        server.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def pages(events: int) -> list[tuple[str, str]]:
    """The pages timed: (label, URL)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM retell_events")
        (last,) = cursor.fetchone()
        middle = last // 2
        cursor.execute(
            "SELECT id, application_name, originator_id FROM retell_events WHERE id = %s",
            [middle],
        )
        middle_id, application, aggregate = cursor.fetchone()
    credited = get_topic(Account.Credited)  # type: ignore[attr-defined]
    base = "/admin/retell/eventrecord/"
    history = f"{base}aggregate/{application}/{aggregate}/"
    page = max(1, (last - middle) // 50)
    return [
        ("list, first page", base),
        (f"list, page {page:,} (offset {(page - 1) * 50:,})", f"{base}?p={page}"),
        ("list, go to a position (id <= n)", f"{base}?id__lte={middle}"),
        ("list, by application", f"{base}?application_name=Payments"),
        ("list, by application and type", f"{base}?application_name=Payments&topic={credited}"),
        ("list, by type only (URL)", f"{base}?topic={credited}"),
        ("list, search by aggregate id", f"{base}?q={aggregate}"),
        ("list, search for a non-UUID", f"{base}?q=fido"),
        ("event detail", f"{base}{middle_id}/change/"),
        ("aggregate history", history),
        ("aggregate state at version 5", f"{history}state/?version=5"),
    ]


def measure(runs: int, events: int) -> list[tuple[str, float, int, int]]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user, _ = User.objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    results = []
    for label, url in pages(events):
        response = client.get(url)  # warm-up: caches, plans, templates
        if response.status_code != 200:
            raise SystemExit(f"{label}: {url} answered {response.status_code}")
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        statements = len(queries)  # now: the next request clears the log
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        results.append((label, statistics.median(times), statements, response.status_code))
        print(f"  {label:<42} {statistics.median(times):8.1f} ms  ({statements} queries)")
    return results


def count_ms() -> float:
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _ in range(3):
            started = time.perf_counter()
            cursor.execute("SELECT count(*) FROM retell_events")
            cursor.fetchone()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database for a rerun")
    args = parser.parse_args(argv)

    filling = prepare_database(args.events)
    setup_django(DATABASE)
    try:
        if filling:
            fill(args.events)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            (version,) = cursor.fetchone()
        print(f"{datetime.now(UTC):%Y-%m-%d}, {machine()}, PostgreSQL {version}")
        print(f"median of {args.runs} runs per page, {args.events:,} events:")
        results = measure(args.runs, args.events)
        print(
            f"  {'(for scale: SELECT count(*), what the stock admin runs)':<42} "
            f"{count_ms():8.1f} ms"
        )
        slow = [label for label, ms, _, _ in results if label.startswith("list") and ms > TARGET_MS]
        if slow:
            print(f"over the {TARGET_MS:.0f} ms target: {', '.join(slow)}")
            return 1
        return 0
    finally:
        if not args.keep:
            drop_database()


if __name__ == "__main__":
    sys.exit(main())
