"""The list's filters, by application and by event type, with choices from index seeks.

Django's own field filters list their choices with ``SELECT DISTINCT`` over the
column: a full scan of a large table on every page. Here both filters take their
choices from `queries.application_topics` (a loose index scan), read once per
request.

The event type filter always filters with the application too, because the index
that serves it is (application_name, topic, id): ``WHERE application_name = %s AND
topic = %s ORDER BY id DESC LIMIT n`` reads just n index entries. Its choices carry
both parameters; a bare ``?topic=`` (a hand-made URL) is filtered by the
applications that have that topic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest

from retell.django.admin import queries

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices

    from retell.django.admin.options import RetellAdmin

APPLICATION = "application_name"
TOPIC = "topic"

_pairs: WeakKeyDictionary[HttpRequest, list[tuple[str, str]]] = WeakKeyDictionary()


def application_topics(request: HttpRequest, alias: str) -> list[tuple[str, str]]:
    """The (application, topic) pairs, queried at most once per request."""
    pairs = _pairs.get(request)
    if pairs is None:
        pairs = _pairs[request] = queries.application_topics(alias)
    return pairs


def applications(request: HttpRequest, alias: str) -> list[str]:
    """The names of the applications that have events, in order."""
    return sorted({application for application, _ in application_topics(request, alias)})


def short_topic(topic: str) -> str:
    """A topic without its module (``Dog.Registered``): what people call the event."""
    return topic.rpartition(":")[2] or topic


def _alias(model_admin: Any) -> str:
    admin_: RetellAdmin[Any] = model_admin
    return admin_.database_alias()


class ApplicationFilter(admin.SimpleListFilter):
    """Events of one application: ``application_name = %s``, served by every index."""

    title = "application"
    parameter_name = APPLICATION

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in applications(request, _alias(model_admin))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(application_name=value)

    def choices(self, changelist: ChangeList) -> Iterator[_ListFilterChoices]:
        """Django's choices, except that picking an application drops the event type."""
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[APPLICATION, TOPIC]),
            "display": "All",
        }
        for value, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(value),
                "query_string": changelist.get_query_string({APPLICATION: value}, [TOPIC]),
                "display": title,
            }


class TopicFilter(admin.SimpleListFilter):
    """Events of one type (topic), within the chosen application, or with its application."""

    title = "event type"
    parameter_name = TOPIC

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        pairs = application_topics(request, _alias(model_admin))
        chosen = request.GET.get(APPLICATION)
        if chosen is not None:
            pairs = [(a, t) for a, t in pairs if a == chosen]
        self.pairs = pairs
        names = Counter(short_topic(t) for t in {t for _, t in pairs})
        topics = Counter(t for _, t in pairs)
        lookups = []
        for application, topic in pairs:
            label = short_topic(topic) if names[short_topic(topic)] == 1 else topic
            if topics[topic] > 1:
                label = f"{label} ({application})"
            lookups.append((topic, label))
        return lookups

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        topic = self.value()
        if topic is None:
            return queryset
        if request.GET.get(APPLICATION) is None:
            owners = [a for a, t in self.pairs if t == topic]
            queryset = queryset.filter(application_name__in=owners)
        return queryset.filter(topic=topic)

    def choices(self, changelist: ChangeList) -> Iterator[_ListFilterChoices]:
        """Each choice names its application as well as its topic (see the module's doc)."""
        application = self.request.GET.get(APPLICATION)
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[TOPIC]),
            "display": "All",
        }
        for (owner, topic), (_, title) in zip(self.pairs, self.lookup_choices, strict=True):
            yield {
                "selected": self.value() == topic and application in (None, owner),
                "query_string": changelist.get_query_string({APPLICATION: owner, TOPIC: topic}),
                "display": title,
            }
