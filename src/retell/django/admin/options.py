"""The model admins: read-only views of events, snapshots and tracking positions.

Events are facts: an admin that could edit one would let a person rewrite history
behind every reader's back (projections, followers and caches would not notice).
So nobody, superusers included, can add, change or delete here, and there are no
actions; a POST to any of these pages is refused with 403.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from retell.config import Environment, process_environ
from retell.django import conf
from retell.django.admin import views
from retell.django.admin.changelist import NextPagePaginator, UncountedChangeList, page_number
from retell.django.admin.decoding import Decoded, Decoders, current_decoders, page_decoders
from retell.django.admin.filters import (
    APPLICATION,
    TOPIC,
    ApplicationFilter,
    TopicFilter,
    applications,
    short_topic,
)
from retell.django.models import EventRecord, SnapshotRecord, StoredRecord, TrackingRecord

M = TypeVar("M", bound=Model)
S = TypeVar("S", bound=StoredRecord)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin
else:

    class _ModelAdmin(admin.ModelAdmin):
        """ModelAdmin, generic at run time as django-stubs makes it for type checkers."""

        def __class_getitem__(cls, item):
            return cls


class RetellAdmin(_ModelAdmin[M]):
    """View-only: no add, change, delete or actions, for anyone; POSTs get 403.

    `database` is the ``DATABASES`` alias to read; None (the default) reads the one
    retell's settings name (``DJANGO_DB_ALIAS`` in ``settings.RETELL``, or ``default``).
    """

    database: str | None = None
    actions = None
    show_facets = admin.ShowFacets.NEVER

    def database_alias(self) -> str:
        if self.database is not None:
            return self.database
        return conf.database_alias(Environment("", process_environ()))

    def get_queryset(self, request: HttpRequest) -> QuerySet[M]:
        return super().get_queryset(request).using(self.database_alias())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: M | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: M | None = None) -> bool:
        return False

    def decoders(self) -> Decoders:
        """The decoders of the page being made (see `decoding.page_decoders`), or new ones."""
        return current_decoders() or Decoders(self.database_alias())

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        refuse_writes(request)
        with page_decoders(self.database_alias()):
            return rendered(super().changelist_view(request, extra_context))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        refuse_writes(request)
        with page_decoders(self.database_alias()):
            return rendered(super().change_view(request, object_id, form_url, extra_context))


def refuse_writes(request: HttpRequest) -> None:
    """403 for a POST (or any unsafe method): these pages only show."""
    if request.method not in SAFE_METHODS:
        raise PermissionDenied("the retell admin is view-only")


def rendered(response: HttpResponse) -> HttpResponse:
    """The response rendered now, while the page's decoders are current (the list's
    columns decode as the template renders, after the view has returned)."""
    if isinstance(response, SimpleTemplateResponse):
        response.render()
    return response


class UncountedAdmin(RetellAdmin[S]):
    """A list for tables of millions of rows: no counts, id order, search by aggregate id.

    See `retell.django.admin.changelist` and `retell.django.admin.queries` for the
    queries it runs. Only the filters' own parameters (and ``id__lte``, to jump to
    a position) are accepted in the URL: any other lookup might scan the table.
    """

    allowed_lookups: frozenset[str] = frozenset(
        {APPLICATION, TOPIC, "originator_id", "id__lte", "id__lt"}
    )
    list_per_page = 50
    list_max_show_all = 0
    show_full_result_count = False
    sortable_by = ()
    search_fields = ("originator_id",)  # shows the search box; see get_search_results
    search_help_text = "Search by aggregate id: a whole UUID or str id, found exactly."
    change_list_template = "retell/admin/change_list.html"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return UncountedChangeList

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> Paginator[Any]:
        return NextPagePaginator(queryset, per_page, page_number(request))

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return lookup in self.allowed_lookups

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[S], bool]:
        """Rows of the aggregate whose id is the search term: a str id as it is, a UUID
        in any form Python reads (upper case, without hyphens) as its canonical text.

        ``application_name IN (...)`` lets the unique index (application_name,
        originator_id, originator_version) find them: see `queries`.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        terms = {term}
        with contextlib.suppress(ValueError):
            terms.add(str(UUID(term)))
        names = applications(request, self.database_alias())
        return queryset.filter(application_name__in=names, originator_id__in=terms), False

    # Columns and fields shared by events and snapshots

    @admin.display(description="application")
    def application(self, obj: S) -> str:
        return obj.application_name

    @admin.display(description="aggregate")
    def aggregate(self, obj: S) -> SafeString:
        """The aggregate id, linked to its history."""
        url = reverse(
            f"{self.admin_site.name}:retell_eventrecord_aggregate",
            args=[obj.application_name, quote(obj.originator_id)],
        )
        return format_html('<a href="{}">{}</a>', url, obj.originator_id)

    @admin.display(description="version")
    def version(self, obj: S) -> int:
        return obj.originator_version

    @admin.display(description="type")
    def event_type(self, obj: S) -> SafeString:
        return format_html('<span title="{}">{}</span>', obj.topic, short_topic(obj.topic))

    @admin.display(description="topic")
    def full_topic(self, obj: S) -> str:
        return obj.topic

    @admin.display(description="time")
    def recorded(self, obj: S) -> str:
        """The event's timestamp, read from its state (it is not a column)."""
        return self.decode(obj).timestamp or "-"

    def decode(self, obj: S) -> Decoded:
        decoder = self.decoders()(obj.application_name)
        return decoder.decode(obj.topic, bytes(obj.state), obj.originator_id)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: S | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context["decoded"] = self.decode(obj)
            context.update(views.aggregate_links(self, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)


class EventRecordAdmin(UncountedAdmin[EventRecord]):
    """Events: the list, each event decoded, and each aggregate's history and state."""

    list_display = ("position", "application", "event_type", "aggregate", "version", "recorded")
    list_filter = (ApplicationFilter, TopicFilter)
    fields = ("position", "application", "full_topic", "aggregate", "version", "recorded")
    readonly_fields = fields
    change_form_template = "retell/admin/event_detail.html"

    @admin.display(description="position")
    def position(self, obj: EventRecord) -> int:
        """The event's notification id: its place in its application's log."""
        return obj.id

    def refuse_unless_viewer(self, request: HttpRequest) -> None:
        """403 before any query, for a write or for a user who may not view events."""
        refuse_writes(request)
        if not self.has_view_permission(request):
            raise PermissionDenied

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            # Ids in URLs are quoted as the admin quotes keys (a "/" is "_2F").
            path(
                "aggregate/<str:application>/<str:originator_id>/",
                wrap(self.aggregate_view),
                name=f"{info}_aggregate",
            ),
            path(
                "aggregate/<str:application>/<str:originator_id>/state/",
                wrap(self.state_view),
                name=f"{info}_state",
            ),
            *super().get_urls(),
        ]

    def aggregate_view(
        self, request: HttpRequest, application: str, originator_id: str
    ) -> HttpResponse:
        self.refuse_unless_viewer(request)
        return views.aggregate_history(self, request, application, unquote(originator_id))

    def state_view(
        self, request: HttpRequest, application: str, originator_id: str
    ) -> HttpResponse:
        self.refuse_unless_viewer(request)
        return views.aggregate_state(self, request, application, unquote(originator_id))


class SnapshotRecordAdmin(UncountedAdmin[SnapshotRecord]):
    """Snapshots: the list and each snapshot decoded (filtered by application only:
    the snapshots table has no index on topic)."""

    list_display = ("originator_id", "application", "version", "event_type", "recorded")
    list_filter = (ApplicationFilter,)
    fields = ("application", "full_topic", "aggregate", "version", "recorded")
    readonly_fields = fields
    allowed_lookups = frozenset({APPLICATION, "originator_id", "id__lte", "id__lt"})
    change_form_template = "retell/admin/event_detail.html"


class TrackingRecordAdmin(RetellAdmin[TrackingRecord]):
    """Tracking positions: one row per follower and leader, so a small table."""

    list_display = ("application_name", "upstream_application_name", "notification_id")
    list_filter = ("application_name", "upstream_application_name")
    ordering = ("application_name", "upstream_application_name")
    fields = list_display
    readonly_fields = list_display
