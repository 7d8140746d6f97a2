"""An aggregate's pages: its history (every event, in order), and its state at a version.

The caller (`EventRecordAdmin`) has checked the user's view permission.

Both read one aggregate's rows through the unique index (application_name,
originator_id, originator_version), a page at a time, never the table. The state
is rebuilt as the application's repository rebuilds it: from the latest snapshot at
or below the version, if there is one, then each later event's ``mutate()``.
Whatever cannot be decoded or applied is reported on the page with the version
where it stopped, not raised.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from django.contrib.admin.utils import quote
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from retell.django.admin.decoding import Decoders, EventDecoder, jsonable
from retell.django.admin.filters import short_topic
from retell.django.models import EventRecord, SnapshotRecord, StoredRecord
from retell.domain.aggregate import Aggregate
from retell.topics import get_topic

if TYPE_CHECKING:
    from retell.django.admin.options import EventRecordAdmin, UncountedAdmin

HISTORY_PAGE = 200
"""Events per page of an aggregate's history."""

_SUMMARY_LENGTH = 160
_COORDINATES = ("originator_id", "originator_version", "timestamp")
_INTERNAL = frozenset({"_id", "_version", "_created_on", "_modified_on", "_pending_events"})


def aggregate_links(model_admin: UncountedAdmin[Any], obj: StoredRecord) -> dict[str, str]:
    """The URLs of the aggregate pages of a record, for the detail page's buttons."""
    name = model_admin.admin_site.name
    args = [obj.application_name, quote(obj.originator_id)]
    state = reverse(f"{name}:retell_eventrecord_state", args=args)
    return {
        "history_url": reverse(f"{name}:retell_eventrecord_aggregate", args=args),
        "state_url": f"{state}?version={obj.originator_version}",
    }


def _context(
    model_admin: EventRecordAdmin, request: HttpRequest, title: str, **more: Any
) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        **more,
    }


def _events(model_admin: EventRecordAdmin, application: str, originator_id: str) -> Any:
    return EventRecord.objects.using(model_admin.database_alias()).filter(
        application_name=application, originator_id=originator_id
    )


def _after(request: HttpRequest, name: str) -> int:
    try:
        return max(0, int(request.GET.get(name, 0)))
    except ValueError:
        return 0


def aggregate_history(
    model_admin: EventRecordAdmin, request: HttpRequest, application: str, originator_id: str
) -> HttpResponse:
    """All the aggregate's events in version order, `HISTORY_PAGE` at a time (``?after=v``)."""
    after = _after(request, "after")
    records = list(
        _events(model_admin, application, originator_id)
        .filter(originator_version__gt=after)
        .order_by("originator_version")[: HISTORY_PAGE + 1]
    )
    if not records and not after:
        raise Http404(f"{application} has no events of aggregate {originator_id}")
    decoder = Decoders(model_admin.database_alias())(application)
    rows = [_history_row(model_admin, decoder, record) for record in records[:HISTORY_PAGE]]
    created = rows[0]["decoded"].event if rows and after == 0 else None
    context = _context(
        model_admin,
        request,
        f"Aggregate {originator_id}",
        application=application,
        originator_id=originator_id,
        aggregate_class=getattr(created, "originator_topic", ""),
        rows=rows,
        next_url=f"?after={records[HISTORY_PAGE - 1].originator_version}"
        if len(records) > HISTORY_PAGE
        else "",
        first_url="?" if after else "",
        changelist_url=_changelist_url(model_admin, application, originator_id),
        state_url=reverse(
            f"{model_admin.admin_site.name}:retell_eventrecord_state",
            args=[application, quote(originator_id)],
        ),
    )
    return TemplateResponse(request, "retell/admin/aggregate_history.html", context)


def _history_row(
    model_admin: EventRecordAdmin, decoder: EventDecoder, record: EventRecord
) -> dict[str, Any]:
    decoded = decoder.decode(record.topic, bytes(record.state), record.originator_id)
    summary = ""
    if isinstance(decoded.data, dict):
        own = {k: v for k, v in decoded.data.items() if k not in _COORDINATES}
        summary = json.dumps(own, ensure_ascii=False)
        if len(summary) > _SUMMARY_LENGTH:
            summary = summary[: _SUMMARY_LENGTH - 1] + "…"
    name = model_admin.admin_site.name
    return {
        "record": record,
        "decoded": decoded,
        "type": short_topic(record.topic),
        "summary": summary,
        "url": reverse(f"{name}:retell_eventrecord_change", args=[record.pk]),
    }


def _changelist_url(model_admin: EventRecordAdmin, application: str, originator_id: str) -> str:
    url = reverse(f"{model_admin.admin_site.name}:retell_eventrecord_changelist")
    return f"{url}?{urlencode({'application_name': application, 'q': str(originator_id)})}"


@dataclasses.dataclass
class Replay:
    """An aggregate rebuilt up to a version, or as far as it could be, and why not further."""

    aggregate: Aggregate | None = None
    snapshot_version: int | None = None
    applied: int = 0
    error: str = ""
    notes: list[str] = dataclasses.field(default_factory=list)


def replay(
    model_admin: EventRecordAdmin, application: str, originator_id: str, version: int
) -> Replay:
    """The aggregate at `version`: from the latest usable snapshot, then event by event."""
    alias = model_admin.database_alias()
    decoder = Decoders(alias)(application)
    result = Replay()
    snapshot = (
        SnapshotRecord.objects.using(alias)
        .filter(
            application_name=application,
            originator_id=originator_id,
            originator_version__lte=version,
        )
        .order_by("-originator_version")
        .first()
    )
    if snapshot is not None:
        try:
            taken = decoder.decode_event(
                snapshot.topic, bytes(snapshot.state), snapshot.originator_id
            )
            result.aggregate = taken.mutate(None)  # type: ignore[attr-defined]
            result.snapshot_version = snapshot.originator_version
        except Exception as error:  # user code runs here: report, don't fail
            result.notes.append(
                f"The snapshot at version {snapshot.originator_version} cannot be used "
                f"({type(error).__name__}: {error}): replaying from the first event."
            )
    start = result.aggregate.version if result.aggregate is not None else 0
    records = (
        _events(model_admin, application, originator_id)
        .filter(originator_version__gt=start, originator_version__lte=version)
        .order_by("originator_version")
    )
    for record in records.iterator(chunk_size=500):
        try:
            event = decoder.decode_event(record.topic, bytes(record.state), record.originator_id)
            result.aggregate = event.mutate(result.aggregate)  # type: ignore[attr-defined]
        except Exception as error:  # user code runs here: report, don't fail
            result.error = (
                f"Version {record.originator_version} ({short_topic(record.topic)}) cannot be "
                f"applied: {type(error).__name__}: {error}"
            )
            break
        result.applied += 1
    return result


def aggregate_fields(aggregate: Aggregate) -> dict[str, Any]:
    """The aggregate's id, version, times and attributes, as JSON-able data."""
    fields: dict[str, Any] = {
        "class": get_topic(type(aggregate)),
        "id": aggregate.id,
        "version": aggregate.version,
        "created_on": getattr(aggregate, "_created_on", None),
        "modified_on": getattr(aggregate, "_modified_on", None),
    }
    for name, value in vars(aggregate).items():
        if name not in _INTERNAL:
            fields[name] = value
    result: dict[str, Any] = jsonable(fields)
    return result


def aggregate_state(
    model_admin: EventRecordAdmin, request: HttpRequest, application: str, originator_id: str
) -> HttpResponse:
    """The aggregate as it was at ``?version=n`` (default: its latest version)."""
    latest = _events(model_admin, application, originator_id).aggregate(
        latest=Max("originator_version")
    )["latest"]
    if latest is None:
        raise Http404(f"{application} has no events of aggregate {originator_id}")
    version = _after(request, "version") or latest
    version = min(version, latest)
    result = replay(model_admin, application, originator_id, version)
    state = ""
    if result.aggregate is not None:
        state = json.dumps(aggregate_fields(result.aggregate), indent=2, ensure_ascii=False)
    context = _context(
        model_admin,
        request,
        f"Aggregate {originator_id} at version {version}",
        application=application,
        originator_id=originator_id,
        version=version,
        latest=latest,
        previous_version=version - 1 if version > 1 else None,
        next_version=version + 1 if version < latest else None,
        replay=result,
        state=state,
        history_url=reverse(
            f"{model_admin.admin_site.name}:retell_eventrecord_aggregate",
            args=[application, quote(originator_id)],
        ),
    )
    return TemplateResponse(request, "retell/admin/aggregate_state.html", context)
