"""Where a Django project's retell settings come from, and the checks the factory needs.

Applications read their keys (``PERSISTENCE_MODULE``, ``CIPHER_KEY``...) from, lowest
precedence first: the class's ``env``, the settings dict ``RETELL``, ``os.environ``,
and the constructor's ``env``. ``RETELL`` is the Django way to set them (in settings,
per environment, like everything else); os.environ still wins, so a deployment can
override one key without editing settings. `retell.django.apps` registers
`retell_settings` as that layer.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.apps import apps
from django.conf import settings

from retell.config import Environment
from retell.errors import ConfigurationError

SETTINGS_NAME = "RETELL"
RUNNER_SETTING = "RETELL_RUNNER"
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
        known = ", ".join(repr(name) for name in settings.DATABASES) or "none"
        raise ConfigurationError(
            f"{env.describe(ALIAS_KEY)}={alias!r} is not a database alias of this project: "
            f"settings.DATABASES has {known}. Set {ALIAS_KEY} to one of them."
        )
    return alias
