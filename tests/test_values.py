"""Values that JSON cannot hold, and records that cannot be read, on every store."""

from __future__ import annotations

import math
import re
from typing import Any
from uuid import UUID

import pytest

from retell import Aggregate, Application, event
from retell.errors import TranscodingError
from retell.persistence.records import StoredEvent
from retell.topics import get_topic

NON_FINITE = [math.nan, math.inf, -math.inf]


class LooseDog(Aggregate):
    """Unannotated, so its events' fields are loosely typed."""

    @event("Registered")
    def __init__(self, name):  # type: ignore[no-untyped-def]
        self.name = name
        self.tricks = []

    @event("TrickAdded")
    def add_trick(self, trick):  # type: ignore[no-untyped-def]
        self.tricks.append(trick)


class Scale(Aggregate):
    """Annotated, so its events are decoded by msgspec from the annotations."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.readings: list[float] = []

    @event("Weighed")
    def weigh(self, kg: float, also: list[float], tare: float | None = None) -> None:
        self.readings += [kg, *also]
        self.tare = tare


class School(Application):
    env = {"IS_SNAPSHOTTING_ENABLED": "y"}


def same(a: Any, b: Any) -> bool:
    """Equal, counting NaN as equal to NaN, and telling -inf from inf."""
    if isinstance(a, float) and isinstance(b, float):
        return repr(a) == repr(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_nan_and_infinities_round_trip_on_every_store(store_env: dict[str, str]) -> None:
    with School(env=store_env) as app:
        dog = LooseDog("Fido")
        for value in NON_FINITE:
            dog.add_trick(value)
        dog.add_trick([math.nan, {"height": math.inf, "depth": [-math.inf]}, (math.nan,)])
        dog.add_trick({"best": -math.inf})
        scale = Scale("kitchen")
        scale.weigh(math.nan, [math.inf, 1.5, -math.inf])
        scale.weigh(math.inf, [], tare=-math.inf)
        scale.weigh(2.0, [], tare=math.nan)
        none_scale = Scale("bathroom")
        none_scale.weigh(1.0, [2.5], tare=None)  # a null that is no NaN stays None
        app.save(dog, scale, none_scale)
        for version in (2, 6):
            again = app.repository.get(dog.id, version=version)
            assert same(again.tricks, dog.tricks[: version - 1])

        app.take_snapshot(dog.id)
        assert app.snapshots is not None
        (snapshot,) = app.snapshots.get(dog.id)
        assert same(snapshot.state["tricks"], dog.tricks)  # type: ignore[attr-defined]
        assert same(app.repository.get(dog.id).tricks, dog.tricks)
        again = app.repository.get(scale.id)
        assert same(again.readings, scale.readings) and same(again.tare, scale.tare)
        assert again.readings[1:4:2] == [math.inf, -math.inf] and math.isnan(again.readings[0])
        again = app.repository.get(none_scale.id)
        assert again.tare is None and again.readings == [1.0, 2.5]

        events = app.mapper.to_domain_events(app.notification_log.select(1, 100))
        tricks = [e.trick for e in events if isinstance(e, LooseDog.TrickAdded)]
        assert same(tricks, dog.tricks)


def unreadable_records(dog_id: UUID) -> list[tuple[str, bytes, str]]:
    """Records no writer of retell makes: a topic, a state, and what the error must say."""
    return [
        (get_topic(LooseDog.TrickAdded), b"[1,2]", "JSON array, not an object"),
        (get_topic(Scale.Weighed), b"[1,2]", "JSON array, not an object"),
        ("builtins:dict", b"{}", "names the class builtins.dict, which is not an event class"),
        (get_topic(LooseDog), b"{}", "aggregate class .*LooseDog, which is not an event class"),
    ]


@pytest.mark.parametrize("case", range(4))
def test_an_unreadable_record_is_a_clear_error(store_env: dict[str, str], case: int) -> None:
    with School(env=store_env) as app:
        dog = LooseDog("Fido")
        app.save(dog)
        topic, state, says = unreadable_records(dog.id)[case]
        app.recorder.insert_events([StoredEvent(dog.id, 2, topic, state)])
        for read in (
            lambda: app.repository.get(dog.id),
            lambda: app.mapper.to_domain_events(app.notification_log.select(1, 10)),
        ):
            with pytest.raises(TranscodingError) as error:
                read()
            message = str(error.value)
            assert f"version 2 of aggregate {dog.id} (topic {topic!r})" in message
            assert re.search(says, message)
            assert "Restore the record" in message or "correct the record's topic" in message
        assert app.repository.get(dog.id, version=1).name == "Fido"
