"""Configuration: the environment an application reads its settings from.

Settings come, lowest precedence first, from the application class's `env`,
``os.environ``, and the constructor's `env`. Any key may be prefixed with the
application's upper-cased name (``TRAININGSCHOOL_SQLITE_DBNAME``), and a prefixed key
wins over an unprefixed one, so that several applications in one process can be
configured apart through one ``os.environ``.

Frameworks may add settings that ``os.environ`` overrides, with
`add_process_defaults`: the Django app adds ``settings.RETELL`` this way, so a
Django project configures retell in its settings file like everything else, and
a deployment can still override any key from the environment. They may also name
the store used when no key names one (`add_default_store`: the Django app's own, so
a Django project never keeps its events in memory by accident), and say that they
are still starting up (`add_setup_check`), when work that needs the database waits.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TypeAlias

from retell.errors import ConfigurationError

EnvType: TypeAlias = Mapping[str, str]
"""The type of an ``env`` argument (the `eventsourcing` library's name for it)."""

_process_defaults: list[Callable[[], Mapping[str, str]]] = []
_default_stores: list[Callable[[], str | None]] = []
_setup_checks: list[Callable[[], bool]] = []

MEMORY_STORE = "retell.memory"


def add_process_defaults(source: Callable[[], Mapping[str, str]]) -> None:
    """Add a source of settings below ``os.environ`` (called anew for each application)."""
    if source not in _process_defaults:
        _process_defaults.append(source)


def add_default_store(source: Callable[[], str | None]) -> None:
    """Add a source of the store to use when no key names one (None: no opinion)."""
    if source not in _default_stores:
        _default_stores.append(source)


def default_store() -> str:
    """The store for an application whose settings name none: the last source's that
    names one, else ``retell.memory``."""
    for source in reversed(_default_stores):
        name = source()
        if name:
            return name
    settings = _django_settings()
    if settings is not None and "retell.django" in getattr(settings, "INSTALLED_APPS", ()):
        raise ConfigurationError(_NOT_SET_UP)  # its store would be the default: not memory
    return MEMORY_STORE


def add_setup_check(source: Callable[[], bool]) -> None:
    """Add a test of whether a framework is still starting up (Django: apps loading)."""
    if source not in _setup_checks:
        _setup_checks.append(source)


def setting_up() -> bool:
    """Whether a framework is still starting up: then runners defer their first read,
    so that starting one in Django's ``AppConfig.ready()`` works before ``migrate``."""
    return any(source() for source in _setup_checks)


def process_environ() -> Mapping[str, str]:
    """``os.environ`` over the sources given to `add_process_defaults`, if any."""
    if not _process_defaults:
        _refuse_unread_django_settings()
        return os.environ
    merged: dict[str, str] = {}
    for source in _process_defaults:
        merged.update(source())
    merged.update(os.environ)
    return merged


def _refuse_unread_django_settings() -> None:
    """Refuse a Django project's ``settings.RETELL`` that nothing reads.

    Here, not in `retell.django`: when that app is not installed none of its code runs,
    and the application would quietly keep its events in memory. Django is not
    imported, only looked for.
    """
    settings = _django_settings()
    if settings is None or getattr(settings, "RETELL", None) is None:
        return
    if "retell.django" in getattr(settings, "INSTALLED_APPS", ()):
        raise ConfigurationError(_NOT_SET_UP)
    raise ConfigurationError(
        "settings.RETELL is set, but 'retell.django' is not in INSTALLED_APPS, so nothing "
        "reads it (and the application would keep its events in memory): add "
        "'retell.django' to INSTALLED_APPS, then run manage.py migrate."
    )


_NOT_SET_UP = (
    "Django is not set up yet, so retell.django's settings and store are not in use: call "
    "django.setup() first, or construct the application in an AppConfig.ready() method "
    "or later."
)


def _django_settings() -> object | None:
    """Django's settings if Django is imported and they are configured (never imports it)."""
    settings = getattr(sys.modules.get("django.conf"), "settings", None)
    return settings if settings is not None and settings.configured else None


def check_class_sizes(cls: type, *attributes: str) -> None:
    """Refuse, when a class is defined, size attributes that are not whole numbers >= 1."""
    for attribute in attributes:
        value = getattr(cls, attribute)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigurationError(
                f"{cls.__qualname__}.{attribute} must be a whole number of at least 1, "
                f"not {value!r}"
            )


def _text(key: str, value: object) -> str:
    """Settings are text, as in os.environ; Python settings may give numbers and yes/no."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "y" if value else "n"
    if isinstance(value, int | float):
        return str(value)
    raise ConfigurationError(
        f"{key}={value!r}: settings are strings (or numbers, or True/False), "
        f"not {type(value).__name__}"
    )


_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE = frozenset({"n", "no", "f", "false", "off", "0", ""})


class Environment(Mapping[str, str]):
    """Merged settings for the application `name`, read with its prefix first."""

    def __init__(
        self,
        name: str = "",
        *layers: Mapping[str, object] | None,
        env: Mapping[str, object] | None = None,
    ) -> None:
        """Later layers win; `env`, the `eventsourcing` library's keyword, comes last.

        Without a name (``Environment()``, ``Environment(env={...})``), keys have no prefix.
        """
        self.name = name
        self.prefix = f"{name.upper()}_" if name else ""
        self._values: dict[str, str] = {}
        for layer in (*layers, env):
            for key, value in (layer or {}).items():
                self._values[key] = _text(key, value)

    def __getitem__(self, key: str) -> str:
        try:
            return self._values[self.prefix + key]
        except KeyError:
            return self._values[key]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (self.prefix + key in self._values or key in self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def describe(self, key: str) -> str:
        """The key as the user set it, for error messages."""
        return self.prefix + key if self.prefix + key in self._values else key

    def get_bool(self, key: str, default: bool = False) -> bool:
        """A yes/no setting; anything else is an error, not a silent `False`."""
        if key not in self:
            return default
        value = self[key].strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigurationError(
            f"{self.describe(key)}={self[key]!r} is not a yes/no value: "
            "use y, yes, true or 1 to enable, n, no, false or 0 to disable."
        )

    def get_int(self, key: str, default: int, minimum: int = 0) -> int:
        """A whole-number setting of at least `minimum`; anything else is an error."""
        if key not in self or self[key].strip() == "":
            return default
        try:
            value = int(self[key])
        except ValueError:
            raise ConfigurationError(
                f"{self.describe(key)}={self[key]!r} is not a whole number: "
                f"set it to an integer of at least {minimum}."
            ) from None
        if value < minimum:
            raise ConfigurationError(
                f"{self.describe(key)}={value} is too small: it must be at least {minimum}."
            )
        return value

    def get_float(self, key: str, default: float, minimum: float = 0.0) -> float:
        """A number setting (seconds, say) of at least `minimum`; anything else is an error."""
        if key not in self or self[key].strip() == "":
            return default
        try:
            value = float(self[key])
        except ValueError:
            raise ConfigurationError(
                f"{self.describe(key)}={self[key]!r} is not a number: set it to a number "
                f"of at least {minimum}."
            ) from None
        if value < minimum:
            raise ConfigurationError(
                f"{self.describe(key)}={value} is too small: it must be at least {minimum}."
            )
        return value
