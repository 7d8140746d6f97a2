"""Applications: configuration, saving, the repository with snapshots and cache, the log."""

from __future__ import annotations

import threading
from typing import Any
from uuid import uuid4

import pytest

from retell import AggregateNotFound, Application, ConcurrencyError, event
from retell.cipher import AESCipher
from retell.compressor import ZlibCompressor
from retell.domain import Aggregate
from retell.errors import (
    CipherError,
    ConfigurationError,
    RetellError,
    TranscodingError,
)
from tests.dogschool import Dog, TrainingSchool


class SnapshottingSchool(TrainingSchool):
    snapshotting_intervals = {Dog: 3}


def test_save_returns_recordings_with_notification_ids() -> None:
    app = TrainingSchool()
    dog = Dog("Fido")
    dog.add_trick("roll")
    recordings = app.save(dog)
    assert [r.notification_id for r in recordings] == [1, 2]
    assert [r.domain_event.originator_version for r in recordings] == [1, 2]
    assert dog.collect_events() == []


def test_get_replays_the_stored_events() -> None:
    app = TrainingSchool()
    app.register("Fido")
    app.add_trick("Fido", "roll")
    app.add_trick("Fido", "sit")
    dog = app.repository.get(Dog.create_id("Fido"))
    assert (dog.name, dog.tricks, dog.version) == ("Fido", ["roll", "sit"], 3)
    old = app.repository.get(dog.id, version=2)
    assert (old.tricks, old.version) == (["roll"], 2)
    assert dog.id in app.repository
    assert uuid4() not in app.repository
    assert "not an id" not in app.repository


def test_unknown_ids_raise_aggregate_not_found() -> None:
    app = TrainingSchool()
    missing = uuid4()
    with pytest.raises(AggregateNotFound, match=str(missing)):
        app.repository.get(missing)
    dog_id = app.register("Fido")
    # A version the aggregate has not reached gives its latest, as in the reference.
    assert app.repository.get(dog_id, version=5).version == 1
    with pytest.raises(LookupError):
        app.repository.get(missing)


def test_save_is_atomic_across_aggregates() -> None:
    app = TrainingSchool()
    app.register("Fido")
    stale = app.repository.get(Dog.create_id("Fido"))
    app.add_trick("Fido", "roll")
    new = Dog("Rex")
    stale.add_trick("sit")
    with pytest.raises(ConcurrencyError, match=str(stale.id)):
        app.save(new, stale)
    assert new.id not in app.repository
    assert app.repository.get(stale.id).tricks == ["roll"]
    assert app.recorder.max_notification_id() == 2
    assert len(new._pending_events) == 1, "a failed save keeps the pending events"


def test_save_refuses_what_is_not_an_aggregate() -> None:
    with pytest.raises(RetellError, match="takes aggregates"):
        TrainingSchool().save("Fido")  # type: ignore[arg-type]


def test_snapshots_are_taken_at_intervals_and_used() -> None:
    app = SnapshottingSchool()
    dog_id = app.register("Fido")
    for trick in ["a", "b", "c", "d", "e"]:
        app.add_trick("Fido", trick)
    assert app.snapshots is not None
    versions = [s.originator_version for s in app.snapshots.recorder.select_events(dog_id)]
    assert versions == [3, 6]
    assert app.repository.get(dog_id).tricks == ["a", "b", "c", "d", "e"]
    assert app.repository.get(dog_id, version=4).tricks == ["a", "b", "c"]
    assert app.repository.get(dog_id, version=2).tricks == ["a"]


def test_snapshots_alone_rebuild_the_aggregate() -> None:
    app = SnapshottingSchool()
    dog_id = app.register("Fido")
    app.add_trick("Fido", "a")
    app.add_trick("Fido", "b")
    assert app.snapshots is not None
    # Prove the snapshot is used: remove the events it covers from the event store.
    recorder: Any = app.events.recorder
    stream = recorder._streams[dog_id.int]
    stream.events, stream.versions = [], []
    dog = app.repository.get(dog_id)
    assert (dog.tricks, dog.version, dog.name) == (["a", "b"], 3, "Fido")
    assert dog.created_on.tzinfo is not None


def test_a_save_crossing_an_interval_takes_a_snapshot() -> None:
    app = SnapshottingSchool()
    dog = Dog("Fido")
    for trick in "abcd":
        dog.add_trick(trick)
    app.save(dog)
    assert app.snapshots is not None
    assert [s.originator_version for s in app.snapshots.recorder.select_events(dog.id)] == [5]


def test_take_snapshot() -> None:
    app = TrainingSchool(env={"IS_SNAPSHOTTING_ENABLED": "y"})
    dog_id = app.register("Fido")
    app.add_trick("Fido", "roll")
    app.take_snapshot(dog_id)
    app.take_snapshot(dog_id)  # twice is harmless
    app.take_snapshot(dog_id, version=1)
    assert app.snapshots is not None
    assert [s.originator_version for s in app.snapshots.recorder.select_events(dog_id)] == [1, 2]
    with pytest.raises(RetellError, match="IS_SNAPSHOTTING_ENABLED"):
        TrainingSchool().take_snapshot(dog_id)


def test_snapshotting_can_be_switched_off_by_env() -> None:
    app = SnapshottingSchool(env={"IS_SNAPSHOTTING_ENABLED": "no"})
    assert app.snapshots is None
    for trick in "abc":
        app.register(trick)


def test_the_cache_never_returns_stale_state() -> None:
    writer = TrainingSchool(env={"AGGREGATE_CACHE_MAXSIZE": "10"})
    dog_id = writer.register("Fido")
    cached = writer.repository.get(dog_id)
    # Another writer (same store) changes the aggregate behind the cache's back.
    writer.events.put([_next_event(cached, "sit")])
    assert writer.repository.get(dog_id).tricks == ["sit"]
    assert writer.repository.get(dog_id).version == 2


def test_the_cache_is_not_corrupted_by_unsaved_changes() -> None:
    app = TrainingSchool(env={"AGGREGATE_CACHE_MAXSIZE": "10"})
    dog_id = app.register("Fido")
    dog = app.repository.get(dog_id)
    dog.add_trick("never saved")
    assert app.repository.get(dog_id).tricks == []
    assert app.repository.get(dog_id) is not app.repository.get(dog_id)


def test_a_stale_save_raises_even_with_the_cache() -> None:
    app = TrainingSchool(env={"AGGREGATE_CACHE_MAXSIZE": "10"})
    dog_id = app.register("Fido")
    first, second = app.repository.get(dog_id), app.repository.get(dog_id)
    first.add_trick("roll")
    second.add_trick("sit")
    app.save(first)
    with pytest.raises(ConcurrencyError):
        app.save(second)
    assert app.repository.get(dog_id).tricks == ["roll"]


def test_the_cache_evicts_least_recently_used() -> None:
    app = TrainingSchool(env={"AGGREGATE_CACHE_MAXSIZE": "2"})
    ids = [app.register(name) for name in ["a", "b", "c"]]
    assert app.repository.cache is not None
    assert app.repository.cache.get(ids[0]) is None
    assert app.repository.cache.get(ids[2]) is not None


def test_concurrent_commands_with_the_cache_lose_nothing() -> None:
    app = TrainingSchool(env={"AGGREGATE_CACHE_MAXSIZE": "100"})
    app.register("Fido")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        for i in range(50):
            while True:
                try:
                    app.add_trick("Fido", f"{n}-{i}")
                    break
                except ConcurrencyError:
                    continue
                except BaseException as error:
                    errors.append(error)
                    return

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    dog = app.repository.get(Dog.create_id("Fido"))
    assert dog.version == 201 and len(set(dog.tricks)) == 200


def test_notification_log_sections() -> None:
    app = TrainingSchool(env={"AGGREGATE_CACHE_MAXSIZE": "0"})
    for name in "abcdefghijkl":
        app.register(name)
    section = app.notification_log["1,10"]
    assert section.id == "1,10" and len(section.items) == 10
    assert section.next_id == "11,20"
    last = app.notification_log[section.next_id]
    assert last.id == "11,12" and last.next_id is None
    assert app.notification_log["1,3"].next_id == "4,6"
    assert app.notification_log["20,30"] == (None, [], None)
    assert [n.id for n in app.notification_log.select(5, 3)] == [5, 6, 7]
    for bad in ["", "1", "a,b", "0,5", "5,1"]:
        with pytest.raises(RetellError, match="section"):
            app.notification_log[bad]


def test_notification_log_select_by_topic() -> None:
    app = TrainingSchool()
    app.register("Fido")
    app.add_trick("Fido", "roll")
    from retell.topics import get_topic

    selected = app.notification_log.select(1, 10, topics=[get_topic(Dog.TrickAdded)])
    assert [n.id for n in selected] == [2]


def test_configuration_precedence_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    class School(TrainingSchool):
        env = {"AGGREGATE_CACHE_MAXSIZE": "1", "IS_SNAPSHOTTING_ENABLED": "y"}

    monkeypatch.setenv("AGGREGATE_CACHE_MAXSIZE", "2")
    assert School().env["AGGREGATE_CACHE_MAXSIZE"] == "2"
    assert School(env={"AGGREGATE_CACHE_MAXSIZE": "3"}).env["AGGREGATE_CACHE_MAXSIZE"] == "3"
    monkeypatch.setenv("SCHOOL_AGGREGATE_CACHE_MAXSIZE", "4")
    app = School(env={"AGGREGATE_CACHE_MAXSIZE": "3"})
    assert app.env["AGGREGATE_CACHE_MAXSIZE"] == "4"
    assert app.repository.cache is not None and app.repository.cache.maxsize == 4
    assert app.snapshots is not None
    assert School.name == "School"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IS_SNAPSHOTTING_ENABLED": "maybe"}, "IS_SNAPSHOTTING_ENABLED='maybe' is not a yes/no"),
        ({"AGGREGATE_CACHE_MAXSIZE": "lots"}, "AGGREGATE_CACHE_MAXSIZE='lots' is not a whole"),
        ({"AGGREGATE_CACHE_MAXSIZE": "-1"}, "at least 0"),
        ({"PERSISTENCE_MODULE": "retell.nosuch"}, "retell.memory, retell.sqlite"),
        ({"PERSISTENCE_MODULE": "json"}, "has no Factory"),
        ({"CIPHER_KEY": "not base64!"}, "CIPHER_KEY is not base64"),
        ({"CIPHER_KEY": "YWJj"}, "3 bytes"),
        ({"CIPHER_TOPIC": "retell.cipher:AESCipher"}, "CIPHER_KEY is not"),
        ({"COMPRESSOR_TOPIC": "retell.compressor:Nothing"}, "COMPRESSOR_TOPIC"),
        ({"TRAININGSCHOOL_IS_SNAPSHOTTING_ENABLED": "perhaps"}, "TRAININGSCHOOL_IS_SNAPSHOTTING"),
    ],
)
def test_bad_configuration_is_a_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        TrainingSchool(env=env)


def test_encryption_and_compression_round_trip() -> None:
    key = AESCipher.create_key(32)
    env = {"CIPHER_KEY": key, "COMPRESSOR_TOPIC": "retell.compressor:ZlibCompressor"}
    app = TrainingSchool(env=env)
    app.register("Fido")
    app.add_trick("Fido", "roll")
    assert isinstance(app.mapper.compressor, ZlibCompressor)
    (stored, *_) = app.recorder.select_notifications(1, 1)
    assert b"Fido" not in stored.state
    assert app.repository.get(Dog.create_id("Fido")).tricks == ["roll"]


def test_a_wrong_key_is_a_clear_error_not_garbage() -> None:
    app = TrainingSchool(env={"CIPHER_KEY": AESCipher.create_key(16)})
    dog_id = app.register("Fido")
    other = TrainingSchool(env={"CIPHER_KEY": AESCipher.create_key(16)})
    other.recorder = app.recorder
    other.events.recorder = app.recorder
    with pytest.raises(CipherError, match="CIPHER_KEY"):
        other.repository.get(dog_id)


def test_wrong_types_in_events_are_refused_before_anything_is_written_when_strict() -> None:
    app = TrainingSchool(env={"TRANSCODER_STRICT": "y"})
    dog = Dog(123)  # type: ignore[arg-type]
    with pytest.raises(TranscodingError, match=r"Dog\.Registered.*Expected `str`"):
        app.save(dog)
    assert app.recorder.max_notification_id() is None


def test_context_manager_closes() -> None:
    with TrainingSchool() as app:
        app.register("Fido")
    assert app.recorder.max_notification_id() == 1


def _next_event(dog: Dog, trick: str) -> Any:
    dog.add_trick(trick)
    return dog.collect_events()[-1]


def test_a_redefined_event_class_is_used_after_reads_with_the_old_one() -> None:
    class Pet(Aggregate):
        @event("Adopted")
        def __init__(self, name: str) -> None:
            self.name = name

    app = TrainingSchool()
    pet = Pet("Tom")
    app.save(pet)
    assert app.repository.get(pet.id).name == "Tom"

    class Pet(Aggregate):  # type: ignore[no-redef]
        @event("Adopted")
        def __init__(self, name: str) -> None:
            self.name = name.upper()

    assert app.repository.get(pet.id).name == "TOM"


def test_a_failed_snapshot_does_not_fail_the_save(caplog: pytest.LogCaptureFixture) -> None:
    from fractions import Fraction

    class Share(Aggregate):
        @event("Made")
        def __init__(self, num: int, den: int) -> None:
            self.value = Fraction(num, den)

    class Shares(Application):
        snapshotting_intervals = {Share: 1}

    app = Shares()
    a, b = Share(1, 2), Share(2, 3)
    recordings = app.save(a, b)
    assert len(recordings) == 2
    assert a._pending_events == [] and b._pending_events == []
    assert "could not snapshot" in caplog.text
    assert app.repository.get(b.id).value == Fraction(2, 3)


def test_settings_may_be_numbers_and_booleans() -> None:
    app = TrainingSchool(env={"AGGREGATE_CACHE_MAXSIZE": 5, "IS_SNAPSHOTTING_ENABLED": True})  # type: ignore[dict-item]
    assert app.repository.cache is not None and app.repository.cache.maxsize == 5
    assert app.snapshots is not None
    with pytest.raises(ConfigurationError, match="settings are strings"):
        TrainingSchool(env={"AGGREGATE_CACHE_MAXSIZE": [5]})  # type: ignore[dict-item]


def test_ids_must_be_uuids_or_strs_and_versions_start_at_one() -> None:
    app = TrainingSchool()
    dog_id = app.register("Fido")
    with pytest.raises(RetellError, match=r"ids are UUIDs or strs, not int: 42"):
        app.repository.get(42)  # type: ignore[arg-type]
    with pytest.raises(AggregateNotFound):
        app.repository.get(str(dog_id))  # a str id: another aggregate than the UUID's
    with pytest.raises(AggregateNotFound, match="versions start at 1"):
        app.repository.get(dog_id, version=0)


def test_reading_encrypted_events_without_the_key_says_so() -> None:
    app = TrainingSchool(env={"CIPHER_KEY": AESCipher.create_key()})
    dog_id = app.register("Fido")
    plain = TrainingSchool()
    plain.events.recorder = app.recorder
    with pytest.raises(TranscodingError, match="CIPHER_KEY"):
        plain.repository.get(dog_id)
    assert repr(Aggregate()).startswith("Aggregate(id=")
