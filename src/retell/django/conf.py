"""Where a Django project's retell settings come from, and the checks the factory needs.

Applications read their keys (``PERSISTENCE_MODULE``, ``CIPHER_KEY``...) from, lowest
precedence first: the class's ``env``, the settings dict ``RETELL``, ``os.environ``,
and the constructor's ``env``. ``RETELL`` is the Django way to set them (in settings,
per environment, like everything else); os.environ still wins, so a deployment can
override one key without editing settings. `retell.django.apps` registers
`retell_settings` as that layer, and `default_store` (this store, in a project that
installs the app) as soon as Django creates the app's config, whatever the order of
``INSTALLED_APPS``: an application built in another app's ``ready()`` reads them too.

While Django loads the apps (`loading`, in every ``ready()``), the factory records an
error that a system check reports (an unknown alias, an unusable key) with `defer`
instead of raising it: the application is still made, ``manage.py check`` reports
the error, and the application raises it on first use.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.apps import apps
from django.conf import settings

from retell.config import Environment
from retell.errors import ConfigurationError

SETTINGS_NAME = "RETELL"
RUNNER_SETTING = "RETELL_RUNNER"
DEFAULT_STORE_SETTING = "RETELL_DEFAULT_STORE"
ALIAS_KEY = "DJANGO_DB_ALIAS"
DEFAULT_ALIAS = "default"
APP_NAME = "retell.django"


def setting_text(value: object) -> str | None:
    """A ``RETELL`` value as the text an env key holds; None for a value of no such type."""
    if isinstance(value, bool):
        return "y" if value else "n"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def retell_settings() -> dict[str, str]:
    """``settings.RETELL`` as env keys (read at each call, so override_settings works).

    A malformed entry is left out here; the system check ``retell.E005`` reports it.
    """
    if not settings.configured:
        return {}
    value = getattr(settings, SETTINGS_NAME, None)
    if not isinstance(value, Mapping):
        return {}
    texts = {key: setting_text(item) for key, item in value.items() if isinstance(key, str)}
    return {key: text for key, text in texts.items() if text is not None}


def default_store() -> str | None:
    """This store, in a project that installs the app: events go to its database.

    ``RETELL_DEFAULT_STORE`` may name another (``retell.memory`` in test settings, for
    the unit tests of applications that name no store).
    """
    if settings.configured and apps.apps_ready and apps.is_installed(APP_NAME):
        chosen = getattr(settings, DEFAULT_STORE_SETTING, None)
        return chosen.strip() if isinstance(chosen, str) and chosen.strip() else APP_NAME
    return None


def loading() -> bool:
    """Whether Django is still loading the apps (running their ``ready()`` methods)."""
    return apps.apps_ready and not apps.ready


Deferred = tuple[str, str, str]
"""A deferred error: the check id, the application's name, the message."""

deferred: list[Deferred] = []
"""Errors of applications made while Django loaded the apps, for the system checks."""


def defer(check_id: str, application_name: str, error: ConfigurationError) -> None:
    """Keep `error` for ``manage.py check`` (once for each application and message)."""
    entry = (check_id, application_name, str(error))
    if entry not in deferred:
        deferred.append(entry)


def unknown_alias(alias: str, key: str = ALIAS_KEY) -> ConfigurationError:
    """The error for an alias that ``DATABASES`` lacks, naming those it has."""
    known = ", ".join(repr(name) for name in settings.DATABASES) or "none"
    return ConfigurationError(
        f"{key}={alias!r} is not a database alias of this project: "
        f"settings.DATABASES has {known}. Set {ALIAS_KEY} to one of them."
    )


def require_django() -> None:
    """Refuse to make a store before Django is set up, saying how to set it up."""
    if not settings.configured:
        raise ConfigurationError(
            "PERSISTENCE_MODULE=retell.django needs Django's settings: set "
            "DJANGO_SETTINGS_MODULE and call django.setup() before constructing the "
            "application (manage.py, wsgi.py and asgi.py do both)."
        )
    if not apps.apps_ready:
        raise ConfigurationError(
            "PERSISTENCE_MODULE=retell.django: Django is not set up yet. Call "
            "django.setup() first, or construct the application in an AppConfig.ready() "
            "method or later."
        )
    if not apps.is_installed(APP_NAME):
        raise ConfigurationError(
            f"PERSISTENCE_MODULE=retell.django needs {APP_NAME!r} in INSTALLED_APPS (its "
            "migrations make the tables): add it, then run manage.py migrate."
        )


def database_alias(env: Environment) -> str:
    """The ``DATABASES`` alias that ``DJANGO_DB_ALIAS`` names (default ``default``)."""
    alias = env.get(ALIAS_KEY, "").strip() or DEFAULT_ALIAS
    if alias not in settings.DATABASES:
        raise unknown_alias(alias, env.describe(ALIAS_KEY))
    return alias
