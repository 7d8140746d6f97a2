"""Fixtures of the fault-injection tests: a PostgreSQL cluster of their own.

The cluster is made once per module (``initdb`` takes under a second); each test
gets a schema of its own in it. Without PostgreSQL's binaries the tests are skipped,
unless RETELL_REQUIRE_SERVICES is set: then they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from .cluster import Cluster, binaries, own_cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    if binaries() is not None or os.environ.get("RETELL_REQUIRE_SERVICES"):
        return
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.skip(reason="PostgreSQL's initdb is not installed"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with own_cluster() as made:
        yield made


@pytest.fixture
def schema(cluster: Cluster) -> Iterator[str]:
    name = f"retell_fault_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        cluster.wait_until_up()
        cluster.admin(f'DROP SCHEMA IF EXISTS "{name}" CASCADE', dbname="test")
