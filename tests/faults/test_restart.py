"""A server restart (or a crash and a start) under a running application: calls fail
clearly or succeed, and nothing that was committed is lost."""

from __future__ import annotations

import threading
import time

import pytest

from retell.errors import OperationalError
from tests.postgres.helpers import Dog, Kennel

from .cluster import Cluster


@pytest.mark.parametrize("how", ["restart", "restart_after_crash"])
def test_a_restart_loses_nothing_committed(cluster: Cluster, schema: str, how: str) -> None:
    saved: list[Dog] = []
    failures: list[OperationalError] = []
    restarted = threading.Event()

    def restart() -> None:
        try:
            getattr(cluster, how)()
        finally:
            restarted.set()

    with Kennel(env=cluster.env(schema, POSTGRES_CONNECT_TIMEOUT="2")) as kennel:
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
                assert f"{cluster.host}:{cluster.port}" in str(failure), failure
            log = kennel.recorder.select_notifications(None, 100_000)
            logged = {n.originator_id for n in log}
            assert {d.id for d in saved} <= logged, "a committed save was lost"
            assert len(logged) <= len(saved) + len(in_doubt)
            for dog in saved:
                assert kennel.repository.get(dog.id).name == dog.name
            # The subscription carries on from where it was, through the restart.
            ids = [next(subscription).id for _ in range(len(logged) - 1)]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
