"""Topics: the stable names (``package.module:QualifiedName``) under which classes are stored.

A stored event names its class by topic, so the class can be found again in another
process. Classes defined inside functions cannot be imported by name; every event and
aggregate class registers itself when it is created, so those still resolve within
the process that defined them. The registry also makes the common lookup a dict hit.

Two things keep stored topics readable when code moves:

- ``register_topic(old, obj)`` registers an old name. The old name of a class also
  serves the classes nested in it (``old:Dog`` makes ``old:Dog.Created`` resolve),
  and the old name of a module or package serves everything under it
  (``register_topic("shop", kennel)`` makes ``shop.dogs:Dog`` resolve to
  ``kennel.dogs:Dog``).
- A class that declares ``TOPIC = "..."`` is stored under that name instead of its
  module path, so it can move freely. The name belongs to the class that declares
  it: subclasses get their own topic, and two classes declaring one name is an error.

A topic without a colon names a module (``"retell.compressor"``).
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

from retell.errors import TopicError

_registry: dict[str, Any] = {}
_lock = threading.Lock()
_generation = 0  # counts topics that came to name another class (redefinitions)


def get_topic(obj: type | Any) -> str:
    """The topic of a class (or of a module, or of a module-level object with a qualified name).

    A class's own ``TOPIC`` attribute, if it declares one, is its topic; it is registered
    here, so that the name resolves as soon as it has been used.
    """
    if isinstance(obj, type):
        topic = obj.__dict__.get("TOPIC")
        if topic is not None:
            if not isinstance(topic, str) or not topic.strip():
                raise TopicError(
                    f"{_name(obj)}.TOPIC is {topic!r}: a declared topic must be a non-empty "
                    "string, such as 'dog-registered'"
                )
            if _registry.get(topic) is not obj:
                register_topic(topic, obj)
            return topic
    elif isinstance(obj, ModuleType):
        return obj.__name__
    return f"{obj.__module__}:{obj.__qualname__}"


def register_topic(topic: str, obj: Any) -> None:
    """Make `topic` resolve to `obj` in this process, even if it cannot be imported.

    Registering an old name of a class, module or package also resolves the topics of
    everything under it (see the module's docstring). A topic that another class
    declares as its ``TOPIC`` cannot be given to a different class: stored events of the
    two could no longer be told apart.
    """
    global _generation  # noqa: PLW0603 (one counter for the process, read by caches)
    with _lock:
        previous = _registry.get(topic)
        if previous is not None and previous is not obj:
            if _declares(previous, topic) and not _same_name(previous, obj):
                raise TopicError(
                    f"topic {topic!r} is declared by {_name(previous)}, so it cannot also name "
                    f"{_name(obj)}: give each class a TOPIC of its own"
                )
            _generation += 1
        _registry[topic] = obj


def clear_topic_cache() -> None:
    """Forget the topics registered with `register_topic` and the topics resolved so far.

    As the `eventsourcing` library's function of that name does, so that old names
    registered by one test do not leak into the next. Each class keeps its own topic
    (its module path, or the ``TOPIC`` it declares): classes defined in functions still
    resolve, as they did before any topic was resolved.
    """
    global _generation  # noqa: PLW0603 (one counter for the process, read by caches)
    with _lock:
        own = {
            topic: obj
            for topic, obj in _registry.items()
            if isinstance(obj, type)
            and topic in (obj.__dict__.get("TOPIC"), f"{obj.__module__}:{obj.__qualname__}")
        }
        _registry.clear()
        _registry.update(own)
        _generation += 1


def _declares(obj: Any, topic: str) -> bool:
    return isinstance(obj, type) and obj.__dict__.get("TOPIC") == topic


def _same_name(a: Any, b: Any) -> bool:
    """A class defined again (a reloaded module, a notebook cell run twice) may take over."""
    return isinstance(b, type) and (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def _name(obj: Any) -> str:
    if isinstance(obj, type):
        return f"{obj.__module__}.{obj.__qualname__}"
    return repr(obj)


def generation() -> int:
    """Changes whenever a topic comes to name another class: caches keyed by topic reset."""
    return _generation


def resolve_topic(topic: str) -> Any:
    """The object a topic names; a `TopicError` that names the topic if there is none."""
    try:
        return _registry[topic]
    except KeyError:
        pass
    module_name, sep, qualname = topic.partition(":")
    if not module_name or (sep and not qualname):
        raise TopicError(
            f"{topic!r} is not a topic: a topic has the form 'package.module:QualifiedName' "
            "(or 'package.module', for a module)"
        )
    parts = qualname.split(".") if qualname else []
    # An old name registered for a class that encloses this one.
    for end in range(len(parts) - 1, 0, -1):
        outer = _registry.get(f"{module_name}:{'.'.join(parts[:end])}")
        if outer is not None:
            obj = _attributes(topic, outer, parts[end:])
            break
    else:
        obj = _attributes(topic, _module(topic, module_name), parts)
    register_topic(topic, obj)
    return obj


def _module(topic: str, name: str) -> Any:
    """The module `name`, or the module it was renamed to (itself or a package above it)."""
    registered = _registry.get(name)
    if isinstance(registered, ModuleType):
        return registered
    parts = name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        package = _registry.get(".".join(parts[:end]))
        if isinstance(package, ModuleType):
            name = ".".join([package.__name__, *parts[end:]])
            break
    try:
        return importlib.import_module(name)
    except ImportError as error:
        hint = (
            "If it was renamed, register the old topic with retell.topics.register_topic()."
            if ":" in topic
            else "If it is the TOPIC a class declares: aggregate and event classes are known "
            "once their module is imported, other classes once get_topic(cls) or "
            "register_topic(topic, cls) has been called."
        )
        raise TopicError(
            f"topic {topic!r}: module {name!r} cannot be imported ({error}). "
            f"Is the package that defines it installed, or was the class moved? {hint}"
        ) from error


def _attributes(topic: str, obj: Any, names: list[str]) -> Any:
    for part in names:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            where = f"module {obj.__name__!r}" if isinstance(obj, ModuleType) else _name(obj)
            raise TopicError(
                f"topic {topic!r}: {where} has no {part!r}. "
                "If the class was renamed or moved, register the old topic with "
                "retell.topics.register_topic(old_topic, NewClass)."
            ) from None
    return obj
