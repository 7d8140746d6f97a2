"""Configuration: the environment an application reads its settings from.

Settings come, lowest precedence first, from the application class's `env`,
``os.environ``, and the constructor's `env`. Any key may be prefixed with the
application's upper-cased name (``TRAININGSCHOOL_SQLITE_DBNAME``), and a prefixed key
wins over an unprefixed one, so that several applications in one process can be
configured apart through one ``os.environ``.

Frameworks may add settings that ``os.environ`` overrides, with
`add_process_defaults`: the Django app adds ``settings.RETELL`` this way, so a
Django project configures retell in its settings file like everything else, and
a deployment can still override any key from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping

from retell.errors import ConfigurationError

_process_defaults: list[Callable[[], Mapping[str, str]]] = []


def add_process_defaults(source: Callable[[], Mapping[str, str]]) -> None:
    """Add a source of settings below ``os.environ`` (called anew for each application)."""
    if source not in _process_defaults:
        _process_defaults.append(source)


def process_environ() -> Mapping[str, str]:
    """``os.environ`` over the sources given to `add_process_defaults`, if any."""
    if not _process_defaults:
        return os.environ
    merged: dict[str, str] = {}
    for source in _process_defaults:
        merged.update(source())
    merged.update(os.environ)
    return merged


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

    def __init__(self, name: str, *layers: Mapping[str, object] | None) -> None:
        self.name = name
        self.prefix = f"{name.upper()}_"
        self._values: dict[str, str] = {}
        for layer in layers:
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
