"""Topics: the stable names (``package.module:QualifiedName``) under which classes are stored.

A stored event names its class by topic, so the class can be found again in another
process. Classes defined inside functions cannot be imported by name; every event and
aggregate class registers itself when it is created, so those still resolve within
the process that defined them. The registry also makes the common lookup a dict hit.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from retell.errors import TopicError

_registry: dict[str, Any] = {}
_lock = threading.Lock()
_generation = 0  # counts topics that came to name another class (redefinitions)


def get_topic(obj: type | Any) -> str:
    """The topic of a class (or of a module-level object with a qualified name)."""
    return f"{obj.__module__}:{obj.__qualname__}"


def register_topic(topic: str, obj: Any) -> None:
    """Make `topic` resolve to `obj` in this process, even if it cannot be imported."""
    global _generation  # noqa: PLW0603 (one counter for the process, read by caches)
    with _lock:
        previous = _registry.get(topic)
        if previous is not None and previous is not obj:
            _generation += 1
        _registry[topic] = obj


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
    if not sep or not module_name or not qualname:
        raise TopicError(
            f"{topic!r} is not a topic: a topic has the form 'package.module:QualifiedName'"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise TopicError(
            f"topic {topic!r}: module {module_name!r} cannot be imported ({error}). "
            "Is the package that defines it installed, or was the class moved? "
            "If it was renamed, register the old topic with retell.topics.register_topic()."
        ) from error
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TopicError(
                f"topic {topic!r}: module {module_name!r} has no {qualname!r}. "
                "If the class was renamed or moved, register the old topic with "
                "retell.topics.register_topic(old_topic, NewClass)."
            ) from None
    register_topic(topic, obj)
    return obj
