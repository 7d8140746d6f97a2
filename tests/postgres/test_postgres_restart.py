"""A server restart under a running application: calls fail clearly or succeed, and
nothing that was committed is lost. It restarts the test server (as root, with
``pg_ctlcluster``), and makes sure it is up again at the end, whatever happens."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest

from retell.errors import OperationalError

from .helpers import HOST, PORT, Dog, Kennel, postgres_env, server_accepts

CLUSTER = ["15", "main"]
CTL = ["pg_ctlcluster", "--skip-systemctl-redirect"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("pg_ctlcluster") is None or os.geteuid() != 0,
        reason="restarting the server needs pg_ctlcluster, run as root",
    ),
]


def _ensure_server_up() -> None:
    """Start the cluster if it is down, and wait until it accepts connections."""
    deadline = time.monotonic() + 60
    if not server_accepts():
        subprocess.run([*CTL, *CLUSTER, "start"], check=False, capture_output=True)
    while not server_accepts():
        assert time.monotonic() < deadline, "PostgreSQL did not come back"
        time.sleep(0.2)


def test_a_restart_loses_nothing_committed(schema: str) -> None:
    saved: list[Dog] = []
    failures: list[OperationalError] = []
    restarted = threading.Event()

    def restart() -> None:
        try:
            subprocess.run([*CTL, *CLUSTER, "restart"], check=True, capture_output=True)
        finally:
            restarted.set()

    env = postgres_env(schema, POSTGRES_CONNECT_TIMEOUT="2")
    try:
        with Kennel(env=env) as kennel:
            for i in range(5):
                dog = Dog(f"before-{i}")
                kennel.save(dog)
                saved.append(dog)
            with kennel.recorder.subscribe() as subscription:
                assert next(subscription).id == 1
                thread = threading.Thread(target=restart)
                thread.start()
                after = 0
                deadline = time.monotonic() + 60
                while after < 5:
                    assert time.monotonic() < deadline, "the application never recovered"
                    dog = Dog(f"during-{len(saved)}")
                    try:
                        kennel.save(dog)
                    except OperationalError as error:
                        failures.append(error)
                        time.sleep(0.05)
                        continue
                    saved.append(dog)
                    after += restarted.is_set()
                    time.sleep(0.01)
                thread.join()
                in_doubt = [f for f in failures if "may or may not" in str(f)]
                assert in_doubt == [f for f in failures if f.outcome_unknown]
                for failure in failures:
                    assert f"{HOST}:{PORT}" in str(failure), failure
                log = kennel.recorder.select_notifications(None, 100_000)
                logged = {n.originator_id for n in log}
                assert {d.id for d in saved} <= logged, "a committed save was lost"
                assert len(logged) <= len(saved) + len(in_doubt)
                for dog in saved:
                    assert kennel.repository.get(dog.id).name == dog.name
                # The subscription carries on from where it was, through the restart.
                ids = [next(subscription).id for _ in range(len(logged) - 1)]
                assert ids == sorted(ids) and len(set(ids)) == len(ids)
    finally:
        _ensure_server_up()
