"""Environment parsing, the cache settings, and topics: old names and declared TOPICs."""

from __future__ import annotations

import importlib
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

import retell
import retell.domain
from retell import Aggregate, Application, compressor, topics
from retell.application import EventStore, Repository
from retell.cipher import AESCipher
from retell.compressor import ZlibCompressor
from retell.config import Environment
from retell.domain import Snapshot
from retell.errors import ConfigurationError, TopicError
from retell.persistence.mapper import Mapper
from retell.persistence.transcoder import Transcoder
from retell.topics import get_topic, register_topic, resolve_topic
from tests.dogschool import Dog, TrainingSchool


def test_layers_and_prefix() -> None:
    env = Environment("Shop", {"A": "1", "B": "1"}, {"B": "2", "SHOP_C": "3"}, None, {"C": "4"})
    assert (env["A"], env["B"], env["C"]) == ("1", "2", "3")
    assert "C" in env and "D" not in env and 5 not in env
    assert env.describe("C") == "SHOP_C" and env.describe("A") == "A"
    assert env.get("D", "x") == "x"


@pytest.mark.parametrize(
    ("text", "value"),
    [("y", True), ("YES", True), ("1", True), ("n", False), ("off", False), ("", False)],
)
def test_get_bool(text: str, value: bool) -> None:
    assert Environment("a", {"K": text}).get_bool("K") is value


def test_get_bool_default_and_error() -> None:
    assert Environment("a").get_bool("K", True) is True
    with pytest.raises(ConfigurationError, match="K='perhaps' is not a yes/no value"):
        Environment("a", {"K": "perhaps"}).get_bool("K")


def test_get_int_and_float() -> None:
    env = Environment("a", {"I": "5", "F": "0.5", "BAD": "x", "NEG": "-2", "EMPTY": " "})
    assert env.get_int("I", 0) == 5 and env.get_int("EMPTY", 7) == 7
    assert env.get_float("F", 1.0) == 0.5 and env.get_float("MISSING", 1.5) == 1.5
    with pytest.raises(ConfigurationError, match="not a whole number"):
        env.get_int("BAD", 0)
    with pytest.raises(ConfigurationError, match="at least 0"):
        env.get_int("NEG", 0)
    with pytest.raises(ConfigurationError, match="not a number"):
        env.get_float("BAD", 0.0)
    with pytest.raises(ConfigurationError, match="at least 0"):
        env.get_float("NEG", 0.0)


def test_topics_resolve_and_errors_name_the_topic() -> None:
    assert resolve_topic(get_topic(Environment)) is Environment
    assert resolve_topic("retell.config:Environment.get_int") is Environment.get_int
    with pytest.raises(TopicError, match=r"'nomodule_xyz:Thing'.*cannot be imported"):
        resolve_topic("nomodule_xyz:Thing")
    with pytest.raises(TopicError, match="has no 'Nothing'"):
        resolve_topic("retell.config:Nothing")
    for bad in ["retell.config:", ":Environment", ""]:
        with pytest.raises(TopicError, match="is not a topic"):
            resolve_topic(bad)


# --- Settings of the aggregate cache -------------------------------------------------


def test_cache_settings_default_as_in_the_reference() -> None:
    repository = Application().repository
    assert repository.cache is None
    assert repository.fastforward is True
    assert repository.fastforward_skipping is False
    assert repository.deepcopy_from_cache is True


def test_cache_settings_are_read_with_prefixes_and_the_reference_names() -> None:
    class Kennel(Application):
        env = {"AGGREGATE_CACHE_FASTFORWARD": "n"}

    kennel = Kennel(
        env={
            Application.AGGREGATE_CACHE_MAXSIZE: "7",
            "KENNEL_AGGREGATE_CACHE_FASTFORWARD_SKIPPING": "yes",
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "off",
        }
    )
    repository = kennel.repository
    assert repository.cache is not None and repository.cache.maxsize == 7
    assert repository.fastforward is False
    assert repository.fastforward_skipping is True
    assert repository.deepcopy_from_cache is False


@pytest.mark.parametrize(
    "key",
    [
        "AGGREGATE_CACHE_FASTFORWARD",
        "AGGREGATE_CACHE_FASTFORWARD_SKIPPING",
        "DEEPCOPY_FROM_AGGREGATE_CACHE",
    ],
)
def test_invalid_cache_settings_are_errors_that_name_the_key(key: str) -> None:
    # Even without a cache: a typo is found when the application starts, not later.
    with pytest.raises(ConfigurationError, match=f"^{key}='sometimes' is not a yes/no value"):
        Application(env={key: "sometimes"})
    with pytest.raises(ConfigurationError, match=f"^SHOP_{key}='2' is not a yes/no value"):
        Shop(env={f"SHOP_{key}": "2", key: "y"})


class Shop(Application):
    pass


# --- Topics: old names of classes, modules and packages --------------------------------


@pytest.fixture
def forget_topics() -> Iterator[Callable[[str], None]]:
    """Forget topics under a prefix, as a new process would not know them; forgotten for good
    at the end of the test, so that old names registered by one test do not leak."""
    prefixes: list[str] = []

    def drop(prefix: str) -> None:
        with topics._lock:
            for key in [k for k in topics._registry if k.startswith(prefix)]:
                del topics._registry[key]

    def forget(prefix: str) -> None:
        prefixes.append(prefix)
        drop(prefix)

    yield forget
    for prefix in prefixes:
        drop(prefix)


def test_an_old_class_name_also_resolves_the_classes_nested_in_it(
    forget_topics: Callable[[str], None],
) -> None:
    forget_topics("tests.kennel_before:")
    register_topic("tests.kennel_before:Puppy", Dog)
    assert resolve_topic("tests.kennel_before:Puppy") is Dog
    assert resolve_topic("tests.kennel_before:Puppy.Registered") is Dog.Registered
    assert resolve_topic("tests.kennel_before:Puppy.TrickAdded") is Dog.TrickAdded
    # A nested class renamed as well: its own old name wins over the enclosing one's.
    register_topic("tests.kennel_before:Puppy.Born", Dog.Registered)
    assert resolve_topic("tests.kennel_before:Puppy.Born") is Dog.Registered
    with pytest.raises(TopicError, match=r"tests\.dogschool\.Dog has no 'Nothing'"):
        resolve_topic("tests.kennel_before:Puppy.Nothing")
    assert resolve_topic(get_topic(Dog.Registered)) is Dog.Registered  # still


def test_an_old_module_name_resolves_everything_in_the_module(
    forget_topics: Callable[[str], None],
) -> None:
    forget_topics("retell_old_compression")
    register_topic("retell_old_compression", compressor)
    assert resolve_topic("retell_old_compression:ZlibCompressor") is ZlibCompressor
    assert resolve_topic("retell_old_compression:ZlibCompressor.compress") is (
        ZlibCompressor.compress
    )
    assert resolve_topic("retell_old_compression") is compressor
    with pytest.raises(TopicError, match=r"module 'retell\.compressor' has no 'Gzip'"):
        resolve_topic("retell_old_compression:Gzip")
    assert resolve_topic("retell.compressor:ZlibCompressor") is ZlibCompressor


def test_an_old_package_name_resolves_every_module_under_it(
    forget_topics: Callable[[str], None],
) -> None:
    forget_topics("retell_before_rename")
    register_topic("retell_before_rename", retell)
    assert resolve_topic("retell_before_rename.compressor:ZlibCompressor") is ZlibCompressor
    assert resolve_topic("retell_before_rename.domain.events:Snapshot") is Snapshot
    assert resolve_topic("retell_before_rename.domain") is retell.domain
    with pytest.raises(TopicError, match=r"module 'retell\.nosuch' cannot be imported"):
        resolve_topic("retell_before_rename.nosuch:Thing")
    # A class registered under the old package's name is not taken for a package.
    register_topic("retell_before_rename_too", ZlibCompressor)
    with pytest.raises(TopicError, match="cannot be imported"):
        resolve_topic("retell_before_rename_too.compressor:ZlibCompressor")


def _write_package(root: Path, name: str) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    (root / name / "kennel.py").write_text(
        "from retell import Aggregate, event\n\n\n"
        "class Dog(Aggregate):\n"
        '    @event("Registered")\n'
        "    def __init__(self, name: str) -> None:\n"
        "        self.name = name\n"
        "        self.tricks: list[str] = []\n\n"
        '    @event("TrickAdded")\n'
        "    def add_trick(self, trick: str) -> None:\n"
        "        self.tricks.append(trick)\n"
    )


def test_events_stored_under_a_renamed_package_are_read_back(
    store_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    forget_topics: Callable[[str], None],
) -> None:
    old, new = f"kennel_{uuid4().hex[:8]}", f"dogs_{uuid4().hex[:8]}"
    _write_package(tmp_path, old)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(f"{old}.kennel")
    with Application(env=store_env) as app:
        dog = module.Dog("Fido")
        dog.add_trick("sit")
        app.save(dog)
        assert {n.topic for n in app.notification_log.select(1, 10)} == {
            f"{old}.kennel:Dog.Registered",
            f"{old}.kennel:Dog.TrickAdded",
        }
        # The package is renamed, and a new process (with no old names) reads the events.
        (tmp_path / old).rename(tmp_path / new)
        for name in [old, f"{old}.kennel"]:
            monkeypatch.delitem(sys.modules, name)
        forget_topics(old)
        forget_topics(new)
        reader = Repository(EventStore(Mapper(Transcoder()), app.recorder))
        with pytest.raises(TopicError, match=f"module '{old}.kennel' cannot be imported"):
            reader.get(dog.id)
        register_topic(old, importlib.import_module(new))
        again = Repository(EventStore(Mapper(Transcoder()), app.recorder)).get(dog.id)
        assert type(again).__module__ == f"{new}.kennel"
        assert (again.name, again.tricks, again.version) == ("Fido", ["sit"], 2)


def test_a_module_topic_serves_as_compressor(store_env: dict[str, str]) -> None:
    env = {**store_env, "COMPRESSOR_TOPIC": "zlib"}
    with TrainingSchool(env=env) as school:
        assert school.mapper.compressor is zlib
        school.register("Fido")
        school.add_trick("Fido", "sit" * 100)
        stored = school.recorder.select_events(Dog.create_id("Fido"))
        assert zlib.decompress(stored[1].state).count(b"sit") == 100
        assert school.repository.get(Dog.create_id("Fido")).tricks == ["sit" * 100]
    with pytest.raises(ConfigurationError, match="names a module, not a class"):
        Application(env={"COMPRESSOR_TOPIC": "json"})
    with pytest.raises(ConfigurationError, match="names a module, not a class"):
        Application(env={"CIPHER_KEY": AESCipher.create_key(16), "CIPHER_TOPIC": "zlib"})


# --- Topics: classes that declare TOPIC ------------------------------------------------


def test_a_declared_topic_is_the_class_topic_and_resolves() -> None:
    class Collar:
        TOPIC = "test-collar-v1"

    assert get_topic(Collar) == "test-collar-v1"
    assert resolve_topic("test-collar-v1") is Collar

    class LeatherCollar(Collar):  # declares none: its own topic, not its parent's
        pass

    assert get_topic(LeatherCollar).endswith(
        ":test_a_declared_topic_is_the_class_topic_and_resolves.<locals>.LeatherCollar"
    )
    assert resolve_topic("test-collar-v1") is Collar


def test_two_classes_cannot_declare_one_topic_but_a_class_defined_again_can() -> None:
    def define() -> type:
        class Lead:
            TOPIC = "test-lead-v1"

        return Lead

    first, second = define(), define()  # the same class defined twice (a reload, say)
    assert get_topic(first) == get_topic(second) == "test-lead-v1"
    assert resolve_topic("test-lead-v1") is second

    class Leash:
        TOPIC = "test-lead-v1"

    with pytest.raises(TopicError, match=r"'test-lead-v1' is declared by .*Lead, so it cannot"):
        get_topic(Leash)
    with pytest.raises(TopicError, match="is declared by"):

        class Walker(Aggregate):
            TOPIC = "test-lead-v1"


@pytest.mark.parametrize("value", ["", "  ", 42])
def test_a_declared_topic_must_be_a_non_empty_string(value: object) -> None:
    class Bowl:
        TOPIC = value

    with pytest.raises(TopicError, match=r"Bowl\.TOPIC is .*: a declared topic must be"):
        get_topic(Bowl)


@dataclass(frozen=True)
class Tag:
    TOPIC = "test-tag-v1"
    text: str


def _define_hen() -> Any:
    """An aggregate whose classes declare their topics: each call defines it anew, as a
    process that imports it from wherever it has moved to would."""

    class Hen(Aggregate):
        TOPIC = "test-hen-v1"

        class Hatched(Aggregate.Created):
            TOPIC = "test-hen-hatched-v1"
            name: str

        class Laid(Aggregate.Event):
            TOPIC = "test-hen-laid-v1"
            eggs: int
            tag: Any

            def apply(self, hen: Any) -> None:
                hen.eggs += self.eggs
                hen.tags.append(self.tag)

        def __init__(self, name: str) -> None:
            self.name = name
            self.eggs = 0
            self.tags: list[Any] = []

        def lay(self, eggs: int, tag: Any) -> None:
            self.trigger_event(self.Laid, eggs=eggs, tag=tag)

    return Hen


def test_declared_topics_are_stored_and_survive_a_move(
    store_env: dict[str, str], forget_topics: Callable[[str], None]
) -> None:
    forget_topics("test-hen")
    hen_class = _define_hen()
    env = {**store_env, "IS_SNAPSHOTTING_ENABLED": "y"}
    with Application(env=env) as app:
        hen = hen_class._create(hen_class.Hatched, name="Henny")
        hen.lay(2, Tag("brown"))
        app.save(hen)
        assert [n.topic for n in app.notification_log.select(1, 10)] == [
            "test-hen-hatched-v1",
            "test-hen-laid-v1",
        ]
        app.take_snapshot(hen.id)
        assert app.snapshots is not None
        assert app.snapshots.get(hen.id)[0].topic == "test-hen-v1"  # type: ignore[attr-defined]
        stored = app.recorder.select_events(hen.id)[1].state
        assert b"test-tag-v1" in stored and b"Tag" not in stored

        # Stored topics say nothing of where the classes were defined...
        assert not any(b"test_config_topics" in e.state for e in app.recorder.select_events(hen.id))
        # ...so wherever they are now, a new process that defines them reads the events.
        forget_topics("test-hen")
        forget_topics("test-tag")
        moved = _define_hen()
        assert moved is not hen_class
        with pytest.raises(TopicError, match="other classes once get_topic"):
            Repository(EventStore(Mapper(Transcoder()), app.recorder)).get(hen.id)
        register_topic(Tag.TOPIC, Tag)  # a value class is known once used or registered
        again = Repository(EventStore(Mapper(Transcoder()), app.recorder)).get(hen.id)
        assert type(again) is moved
        assert (again.name, again.eggs, again.tags) == ("Henny", 2, [Tag("brown")])
        assert app.repository.get(hen.id).eggs == 2  # from the snapshot
