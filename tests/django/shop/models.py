"""An ordinary Django model, written in the same transactions as retell's events."""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    reference = models.CharField(max_length=50)

    class Meta:
        app_label = "shop"
