"""The pydantic aggregate example on every store."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from pydantic import ValidationError

from retell import ConcurrencyError
from retell.domain import Snapshot
from tests.examples.aggregate_pydantic import (
    Dog,
    DogRegistered,
    DogSchool,
    TrickAdded,
    add_trick,
    project_dog,
)


def test_an_immutable_pydantic_aggregate_saved_and_read_back(example_env: dict[str, str]) -> None:
    with DogSchool(env=example_env) as school:
        dog_id = school.register_dog("Fido")
        school.add_trick(dog_id, "roll over")
        school.add_trick(dog_id, "play dead")
        assert school.get_dog(dog_id) == {"name": "Fido", "tricks": ("roll over", "play dead")}
        with pytest.raises(ValueError, match="already knows"):
            school.add_trick(dog_id, "roll over")

        dog = school._get_dog(dog_id)
        assert isinstance(dog, Dog) and dog.version == 3
        assert dog.created_on < dog.modified_on
        with pytest.raises(ValidationError):
            dog.name = "Rex"  # type: ignore[misc]  # frozen
        assert school._get_dog(dog_id, version=2).tricks == ("roll over",)
        assert [type(e) for e in school.events.get(dog_id)] == [
            DogRegistered,
            TrickAdded,
            TrickAdded,
        ]

        # A snapshot holds the model's fields, and the projector starts from it.
        school.take_snapshot(dog_id, projector_func=project_dog)
        assert school.snapshots is not None
        [snapshot] = school.snapshots.get(dog_id)
        assert snapshot.originator_version == 3
        assert snapshot.state["tricks"] == ("roll over", "play dead")
        school.add_trick(dog_id, "fetch")
        seen: list[type] = []

        def watching(dog: Dog | None, events: Iterable[Any]) -> Dog | None:
            events = list(events)
            seen.append(type(events[0]))
            return project_dog(dog, events)

        fetched = school.repository.get(dog_id, projector_func=watching)
        assert seen == [Snapshot]  # then the one event after it
        assert (fetched.id, fetched.version, fetched.created_on) == (dog_id, 4, dog.created_on)
        assert fetched.tricks == ("roll over", "play dead", "fetch")
        assert fetched.modified_on > dog.modified_on

        # Events decided from a dog that is out of date are refused.
        first, second = add_trick(dog, "sit"), add_trick(dog, "beg")
        with pytest.raises(ConcurrencyError):
            school.save(first)  # version 4 is taken by "fetch"
        with pytest.raises(ConcurrencyError):
            school.save(second)
        assert school.get_dog(dog_id)["tricks"] == ("roll over", "play dead", "fetch")
