"""The crash scenario of `tests/faults/crash_scenario.py` on the Django store, run in a
process of its own with Django set up on the test's cluster.

    python -m tests.faults.django_crash PORT KIND

When the scenario needs the server crashed and started again, it prints ``crash``
and waits for a line on its standard input, which the test sends once the server is
back. It exits 0 when no event was skipped.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator

import django
from django.conf import settings


def setup(port: int) -> None:
    settings.configure(
        SECRET_KEY="retell-faults",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "retell.django"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "NAME": "test",
                "USER": "postgres",
            }
        },
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def crash_and_start() -> None:
    print("crash", flush=True)
    assert sys.stdin.readline().strip() == "up"


@contextlib.contextmanager
def held_save(app: object, dog: object) -> Iterator[None]:
    """A save in ``transaction.atomic()`` on a thread of its own (so a connection of its
    own), committed when the context ends."""
    from django.db import connection, transaction

    saved, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                app.save(dog)  # type: ignore[attr-defined]
                saved.set()
                release.wait(30)
        except BaseException as error:
            errors.append(error)
            saved.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    saved.wait(30)
    assert not errors, errors
    try:
        yield
    finally:
        release.set()
        thread.join(30)
    assert not errors, errors


def main() -> None:
    port, kind = int(sys.argv[1]), sys.argv[2]
    setup(port)
    from retell.django.recorders import DjangoTrackingRecorder
    from tests.faults import crash_scenario

    class View(DjangoTrackingRecorder):
        """A view with nothing but its tracking positions."""

    env = {"PERSISTENCE_MODULE": "retell.django"}
    consumers: dict[str, Callable[[], crash_scenario.Consumer]] = {
        "reader": lambda: crash_scenario.Reader(env),
        "subscription": lambda: crash_scenario.subscription(env),
        "follower": lambda: crash_scenario.Follower(env),
        "projection runner": lambda: crash_scenario.Projected(env, View),
    }
    consumer = consumers[kind]()
    try:
        crash_scenario.run(env, consumer, crash_and_start, held_save)
    finally:
        consumer.close()
    print("ok", flush=True)


if __name__ == "__main__":
    main()
