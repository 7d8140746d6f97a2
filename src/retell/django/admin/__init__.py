"""A view-only Django admin for retell's events, snapshots and tracking positions.

With both ``django.contrib.admin`` and ``retell.django`` in ``INSTALLED_APPS``, the
admin's autodiscovery imports this module, which registers the three models on the
default admin site. Without ``django.contrib.admin`` it registers nothing, so
importing it is always harmless. To put them on another site::

    from retell.django.admin import register
    register(my_site)

Nothing can be added, changed or deleted, and the pages stay fast on a table of
millions of events: no page counts rows or scans the table (see
`retell.django.admin.queries` and `retell.django.admin.changelist`).
docs/admin.md tells what each page shows and which queries it runs.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin

from retell.django.admin.options import (
    EventRecordAdmin,
    RetellAdmin,
    SnapshotRecordAdmin,
    TrackingRecordAdmin,
    UncountedAdmin,
)
from retell.django.models import EventRecord, SnapshotRecord, TrackingRecord

__all__ = [
    "EventRecordAdmin",
    "RetellAdmin",
    "SnapshotRecordAdmin",
    "TrackingRecordAdmin",
    "UncountedAdmin",
    "register",
]


def register(site: admin.AdminSite) -> None:
    """Register the events, snapshots and tracking positions on `site`."""
    site.register(EventRecord, EventRecordAdmin)
    site.register(SnapshotRecord, SnapshotRecordAdmin)
    site.register(TrackingRecord, TrackingRecordAdmin)


if apps.is_installed("django.contrib.admin") and not admin.site.is_registered(EventRecord):
    register(admin.site)
