"""The app's configuration: label ``retell``, so its tables are named ``retell_...``."""

from __future__ import annotations

from types import ModuleType

from django.apps import AppConfig

from retell import config


class RetellConfig(AppConfig):
    """Registers ``settings.RETELL`` (defaults under os.environ), this store as the default
    one, and the system checks."""

    name = "retell.django"
    label = "retell"
    verbose_name = "retell event store"
    default_auto_field = "django.db.models.BigAutoField"

    def __init__(self, app_name: str, app_module: ModuleType | None) -> None:
        # Here, not in ready(): Django creates every app's config before it calls any
        # ready(), so an application built in the ready() of an app listed before this
        # one reads the settings too.
        super().__init__(app_name, app_module)
        from retell.django import conf

        config.add_process_defaults(conf.retell_settings)
        config.add_default_store(conf.default_store)
        config.add_setup_check(conf.loading)

    def ready(self) -> None:
        from retell.django import testdb  # noqa: F401 (threads on Django's test databases)
        from retell.django.checks import register

        register()
