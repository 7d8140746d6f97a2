"""The app's configuration: label ``retell``, so its tables are named ``retell_...``."""

from __future__ import annotations

from django.apps import AppConfig

from retell import config


class RetellConfig(AppConfig):
    """Registers the system checks, and ``settings.RETELL`` as defaults under os.environ."""

    name = "retell.django"
    label = "retell"
    verbose_name = "retell event store"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from retell.django.checks import register
        from retell.django.conf import retell_settings

        register()
        config.add_process_defaults(retell_settings)
