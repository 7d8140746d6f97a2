"""The Django app and the store ``PERSISTENCE_MODULE=retell.django``.

Events, snapshots and tracking positions live in three tables of a Django database
(``retell_events``, ``retell_snapshots``, ``retell_tracking``), one for every
application, told apart by an ``application_name`` column; ``manage.py migrate``
makes them. Writes go through Django's own connection for the alias
``DJANGO_DB_ALIAS`` (default ``default``), so a save inside the caller's
``transaction.atomic()`` commits or rolls back with the caller's ORM writes.

This module stays light on purpose: importing it needs neither configured settings
nor loaded models (``PERSISTENCE_MODULE`` imports it before anything else); the
recorders are imported when the factory first makes one. docs/django.md tells the
whole story, and how each database keeps the notification log trustworthy.
"""

from __future__ import annotations

import django  # noqa: F401 (fail here, so the factory can say "pip install 'retell[django]'")

from retell.django.factory import Factory

__all__ = ["Factory"]
