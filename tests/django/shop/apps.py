"""A Django app of the tests: ORM models beside retell's, and a runner to discover."""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "tests.django.shop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"
