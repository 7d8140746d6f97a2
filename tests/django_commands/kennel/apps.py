"""The kennel app: models of a projection's view (it holds no runner: the tests name one)."""

from __future__ import annotations

from django.apps import AppConfig


class KennelConfig(AppConfig):
    name = "tests.django_commands.kennel"
    label = "kennel"
    default_auto_field = "django.db.models.BigAutoField"
