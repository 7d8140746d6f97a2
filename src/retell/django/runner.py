"""Finding the project's runner, for ``manage.py sync_followers``.

The setting ``RETELL_RUNNER`` names it, either as ``"app_label.attribute"`` (an
attribute of an installed app's AppConfig, typically set in its ``ready()``) or as a
dotted path to a function that returns one (``"myproject.runners.get_runner"``;
``"module:function"`` works too). Without the setting, the one public attribute of
an installed AppConfig that is a `retell.system.Runner` is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.apps import apps
from django.conf import settings

from retell.django.conf import RUNNER_SETTING
from retell.errors import ConfigurationError
from retell.system import Runner

_FORMS = (
    f"Set {RUNNER_SETTING} to 'app_label.attribute' (an attribute of an installed app's "
    "AppConfig) or to the dotted path of a function that returns a retell.system.Runner."
)


def find_runner() -> Runner:
    """The runner that ``RETELL_RUNNER`` names, or else the one an AppConfig holds."""
    return locate_runner()[0]


def locate_runner() -> tuple[Runner, bool]:
    """The runner, and whether a function made it for this call: a runner constructs
    its applications, so one made only to read its system and env is the caller's to
    stop."""
    if getattr(settings, RUNNER_SETTING, None) is not None:
        target = resolve_runner_setting(call=False)
        runner = target if isinstance(target, Runner) else _call(target)
        return runner, runner is not target
    return discover_runner(), False


def resolve_runner_setting(*, call: bool) -> Any:
    """What ``RETELL_RUNNER`` names: the runner; with `call` false, a function is not called
    (a system check must not build the applications)."""
    path = getattr(settings, RUNNER_SETTING)
    shown = f"{RUNNER_SETTING}={path!r}"
    if not isinstance(path, str) or not path.strip():
        raise ConfigurationError(f"{shown} is not a name. {_FORMS}")
    owner, sep, attribute = path.replace(":", ".").rpartition(".")
    if not sep or not owner or not attribute:
        raise ConfigurationError(f"{shown} names no attribute. {_FORMS}")
    target = _target(shown, owner, attribute)
    if isinstance(target, Runner):
        return target
    if not callable(target):
        raise ConfigurationError(
            f"{shown} is a {type(target).__name__}, neither a retell.system.Runner nor a "
            f"function that returns one. {_FORMS}"
        )
    if not call:
        return target
    return _call(target)


def _call(function: Any) -> Runner:
    """What the function that ``RETELL_RUNNER`` names returns, if it is a runner."""
    runner = function()
    if not isinstance(runner, Runner):
        shown = f"{RUNNER_SETTING}={getattr(settings, RUNNER_SETTING)!r}"
        raise ConfigurationError(
            f"{shown} returned a {type(runner).__name__}, not a retell.system.Runner."
        )
    return runner


def _target(shown: str, owner: str, attribute: str) -> Any:
    """An installed app's AppConfig attribute, or else a module's."""
    config = next((c for c in apps.get_app_configs() if owner in (c.label, c.name)), None)
    if config is not None and hasattr(config, attribute):
        return getattr(config, attribute)
    try:
        module = importlib.import_module(owner)
    except ImportError as error:
        if config is not None:
            raise ConfigurationError(
                f"{shown}: the app {config.label!r} ({type(config).__qualname__}) has no "
                f"attribute {attribute!r}. Set it in the AppConfig (in ready(), say), or fix "
                "the setting."
            ) from None
        raise ConfigurationError(
            f"{shown}: {owner!r} is neither the label of an installed app nor a module that "
            f"imports ({error}). {_FORMS}"
        ) from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        where = f"the app {config.label!r} nor " if config is not None else ""
        raise ConfigurationError(
            f"{shown}: neither {where}the module {owner!r} has an attribute {attribute!r}."
        ) from None


def discover_runner() -> Runner:
    """The one public Runner attribute among the installed AppConfigs."""
    found: list[tuple[str, Runner]] = []
    for config in apps.get_app_configs():
        for name in dir(config):
            if name.startswith("_"):
                continue
            value = getattr(config, name, None)
            if isinstance(value, Runner):
                found.append((f"{config.label}.{name}", value))
    if len(found) == 1:
        return found[0][1]
    if not found:
        raise ConfigurationError(
            "no installed app's AppConfig has a public attribute that is a "
            f"retell.system.Runner, and {RUNNER_SETTING} is not set. Make one in an "
            f"AppConfig.ready() (self.runner = SingleThreadedRunner(system)), or: {_FORMS}"
        )
    names = ", ".join(name for name, _ in found)
    raise ConfigurationError(
        f"several installed apps hold a retell.system.Runner ({names}): set "
        f"{RUNNER_SETTING} to the one sync_followers should use, e.g. "
        f"{RUNNER_SETTING} = {found[0][0]!r}."
    )
