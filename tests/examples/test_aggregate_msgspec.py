"""The msgspec aggregate example on every store."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import uuid4

import msgspec
import pytest

from retell import AggregateNotFound
from retell.domain import Snapshot
from tests.examples.aggregate_msgspec import Dog, DogSchool, TrickAdded, project_dog


def test_an_immutable_msgspec_aggregate_saved_and_read_back(example_env: dict[str, str]) -> None:
    with DogSchool(env=example_env) as school:
        dog_id = school.register_dog("Fido")
        school.add_tricks(dog_id, "roll over", "play dead")  # two events, one save
        school.add_tricks(dog_id, "fetch")
        assert school.get_dog(dog_id) == {
            "name": "Fido",
            "tricks": ("roll over", "play dead", "fetch"),
        }
        dog = school.get(dog_id)
        assert isinstance(dog, Dog) and dog.version == 4
        with pytest.raises(AttributeError):
            dog.name = "Rex"  # type: ignore[misc]  # frozen
        assert school.get(dog_id, version=2).tricks == ("roll over",)
        tricks = school.notification_log.select(1, 10)
        assert [school.mapper.to_domain_event(n).originator_version for n in tricks] == [1, 2, 3, 4]
        assert all(isinstance(school.mapper.to_domain_event(n), TrickAdded) for n in tricks[1:])

        # A snapshot holds the Struct's fields; the projector starts from it.
        school.take_snapshot(dog_id, version=3, projector_func=project_dog)
        assert school.snapshots is not None
        [snapshot] = school.snapshots.get(dog_id)
        assert snapshot.originator_version == 3
        assert msgspec.convert(snapshot.state, Dog) == school.get(dog_id, version=3)
        school.add_tricks(dog_id, "beg")
        seen: list[type] = []

        def watching(dog: Dog | None, events: Iterable[Any]) -> Dog | None:
            events = list(events)
            seen.append(type(events[0]))
            return project_dog(dog, events)

        assert school.repository.get(dog_id, projector_func=watching).version == 5
        assert seen == [Snapshot]  # then the two events after it
        assert school.get(dog_id).tricks == ("roll over", "play dead", "fetch", "beg")
        assert school.get(dog_id).created_on == dog.created_on

        with pytest.raises(AggregateNotFound):
            school.get(uuid4())
