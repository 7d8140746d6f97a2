"""System checks: retell's configuration, read as the applications will read it.

``manage.py check`` (and every ``runserver`` and ``migrate``) reports a bad key before
the first request fails on it. Keys come from ``settings.RETELL`` under os.environ
(`retell.config.process_environ`); each application prefix found among them
(``DOGSCHOOL_PERSISTENCE_MODULE``) is checked as that application will see it. The
checks build what the applications would build, the store's factory and the mapper,
so they apply every rule the stores apply, and open no connection.

- ``retell.E001``: ``PERSISTENCE_MODULE`` (or ``RETELL_DEFAULT_STORE``) names no store.
- ``retell.E002``: ``DJANGO_DB_ALIAS`` is not in ``DATABASES``.
- ``retell.E003``: ``CIPHER_KEY``, ``CIPHER_TOPIC`` or ``COMPRESSOR_TOPIC`` is unusable.
- ``retell.E004``: ``RETELL_RUNNER`` does not resolve.
- ``retell.E005``: ``RETELL`` is not a dict of text, numbers and booleans.
- ``retell.E006``: another of the store's settings is wrong (``SQLITE_DBNAME``...).
- ``retell.E007``: an entry of ``RETELL_PROJECTIONS`` does not resolve to a function.

An application made while Django loaded the apps (in an ``AppConfig.ready()``) keeps
its ``E002`` and ``E003`` errors for these checks rather than raise them there
(`retell.django.conf.defer`), so settings given only to its constructor are reported
too.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core import checks

from retell.config import Environment, default_store, process_environ
from retell.django import conf
from retell.errors import ConfigurationError
from retell.persistence.factory import InfrastructureFactory
from retell.persistence.transcoder import Transcoder

_KEYS = ("PERSISTENCE_MODULE", "DJANGO_DB_ALIAS", "CIPHER_KEY", "CIPHER_TOPIC", "COMPRESSOR_TOPIC")


def register() -> None:
    checks.register(check_retell, "retell")


def check_retell(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages = _check_setting_type()
    values = process_environ()
    for env in _environments(values):
        messages += _check_store(env)
    messages += _check_deferred(messages)
    messages += _check_default_store()
    messages += _check_runner_setting()
    messages += _check_projections_setting()
    return messages


def _check_deferred(found: list[checks.CheckMessage]) -> list[checks.CheckMessage]:
    """The errors applications kept while Django loaded the apps, unless reported already."""
    messages: list[checks.CheckMessage] = []
    for check_id, name, text in conf.deferred:
        if not any(m.id == check_id and m.msg.startswith(text) for m in found + messages):
            messages.append(_error(text, check_id, f"for the application {name}"))
    return messages


def _check_default_store() -> list[checks.CheckMessage]:
    value = getattr(settings, conf.DEFAULT_STORE_SETTING, None)
    if value is None or (isinstance(value, str) and _is_store(value.strip())):
        return []
    return [
        _error(
            f"settings.{conf.DEFAULT_STORE_SETTING}={value!r} names no store (a module with a "
            "Factory)",
            "retell.E001",
            hint="Name one: retell.django (the default), retell.memory, retell.sqlite...",
        )
    ]


def _environments(values: Mapping[str, str]) -> list[Environment]:
    """One environment per prefix used with a key this check knows, unprefixed first."""
    prefixes: dict[str, None] = {}
    for key in values:
        for name in _KEYS:
            if key == name:
                prefixes[""] = None
            elif key.endswith("_" + name):
                prefixes[key[: -len(name)]] = None
    return [
        Environment(prefix[:-1] if prefix else "(unprefixed)", values)
        for prefix in sorted(prefixes, key=len)
    ]


def _check_store(env: Environment) -> list[checks.CheckMessage]:
    where = f"for the application {env.name}" if env.name != "(unprefixed)" else ""
    try:
        factory = InfrastructureFactory.construct(env)
    except ConfigurationError as error:
        text = str(error)
        if not _is_store(env.get("PERSISTENCE_MODULE", "").strip() or default_store()):
            return [_error(text, "retell.E001", where)]
        if conf.ALIAS_KEY in text:
            return [_error(text, "retell.E002", where)]
        return [_error(text, "retell.E006", where)]
    try:
        factory.mapper(Transcoder())
    except ConfigurationError as error:
        return [_error(str(error), "retell.E003", where)]
    finally:
        factory.close()
    return []


def _is_store(name: str) -> bool:
    """Whether `name` imports and has a Factory (so a failure was in the store's settings)."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return False
    return hasattr(module, "Factory")


def _check_setting_type() -> list[checks.CheckMessage]:
    value = getattr(settings, conf.SETTINGS_NAME, None)
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [
            _error(
                f"settings.{conf.SETTINGS_NAME} is a {type(value).__name__}, not a dict",
                "retell.E005",
                hint='Make it a dict of keys to values: {"PERSISTENCE_MODULE": "retell.django"}.',
            )
        ]
    bad = [
        repr(key)
        for key, item in value.items()
        if not isinstance(key, str) or conf.setting_text(item) is None
    ]
    if not bad:
        return []
    return [
        _error(
            f"settings.{conf.SETTINGS_NAME} has keys that are not text, or values that are not "
            f"text, numbers or booleans: {', '.join(bad)}",
            "retell.E005",
            hint="Keys are env names (str); values are str, int, float or bool.",
        )
    ]


def _check_runner_setting() -> list[checks.CheckMessage]:
    if getattr(settings, conf.RUNNER_SETTING, None) is None:
        return []
    from retell.django.runner import resolve_runner_setting

    try:
        resolve_runner_setting(call=False)
    except ConfigurationError as error:
        return [_error(str(error), "retell.E004")]
    return []


def _check_projections_setting() -> list[checks.CheckMessage]:
    """Each entry imports and is a function; calling them is left to the workers."""
    from retell.django.workers import projection_factory, projection_paths

    try:
        paths = projection_paths()
    except ConfigurationError as error:
        return [_error(str(error), "retell.E007")]
    messages: list[checks.CheckMessage] = []
    for path in paths:
        try:
            projection_factory(path)
        except ConfigurationError as error:
            messages.append(_error(str(error), "retell.E007"))
    return messages


def _error(text: str, id: str, where: str = "", hint: str | None = None) -> checks.Error:
    message = f"{text} ({where})" if where else text
    return checks.Error(message, hint=hint, id=id)
