"""A change list that never counts: a page is one more row than it shows, and that's all.

Django's change list asks the paginator for the number of matching rows, a
``COUNT(*)`` that reads the whole table (or the whole filtered range) on PostgreSQL
and InnoDB: seconds, on millions of events. Here a page fetches ``per_page + 1``
ids: if the extra one exists, there is a next page. There are no page numbers to
jump to, no "N events" and no "show all"; there are "previous" and "next".

A page first reads just the ids (``ORDER BY id DESC LIMIT ... OFFSET ...``, an
index-only range on the primary key or on an (application, ...) index), then the
rows of those ids: a deep page skips index entries, not whole rows with their state.
The list is always ordered by id, newest first: sorting by another column would
sort the table.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.paginator import InvalidPage, Page, Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest

if TYPE_CHECKING:
    _Paginator = Paginator[Model]
    _Page = Page[Model]
else:
    _Paginator, _Page = Paginator, Page


def page_number(request: HttpRequest) -> int:
    """The page asked for, as Django's change list reads it (1 when not a number)."""
    try:
        return int(request.GET.get(PAGE_VAR, 1))
    except ValueError:
        return 1


class NextPagePaginator(_Paginator):
    """Pages of a queryset without counting it; `count` is a lower bound, exact on the last page.

    It only serves the page `number` given up front (the change list asks for no
    other), with two queries: the page's ids, one more than a page, then their rows.
    """

    def __init__(self, object_list: QuerySet[Any], per_page: int, number: int) -> None:
        super().__init__(object_list, per_page)
        self.queryset = object_list
        self.number = number

    @cached_property
    def _ids(self) -> list[Any]:
        if self.number < 1:
            return []
        offset = (self.number - 1) * self.per_page
        queryset = self.queryset
        return list(queryset.values_list("pk", flat=True)[offset : offset + self.per_page + 1])

    @cached_property
    def count(self) -> int:
        """Rows before this page plus the rows found for it (with one of the next, if any)."""
        found = len(self._ids)
        if self.number < 1 or (found == 0 and self.number > 1):
            return 0  # page() then says there is no such page
        return (self.number - 1) * self.per_page + found

    @cached_property
    def rows(self) -> list[Model]:
        ids = self._ids[: self.per_page]
        if not ids:
            return []
        queryset = self.queryset
        ordering = queryset.query.order_by or queryset.model._meta.ordering
        rows = queryset.model._default_manager.using(queryset.db).filter(pk__in=ids)
        return list(rows.order_by(*ordering))

    def page(self, number: Any) -> _Page:
        """The page `number` (which must be the one given to the constructor)."""
        number = self.validate_number(number)
        if number != self.number:
            raise InvalidPage(f"this paginator serves page {self.number} only")
        return _Page(self.rows, number, self)


class UncountedChangeList(ChangeList):
    """Django's change list with `NextPagePaginator`, id order only, and no count anywhere."""

    def get_ordering(self, request: HttpRequest, queryset: QuerySet[Any]) -> list[Any]:
        """Always newest first, by the primary key's index: other orders would sort the table."""
        return ["-pk"]

    def get_results(self, request: HttpRequest) -> None:
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        try:
            page = paginator.page(self.page_num)
        except InvalidPage:
            raise IncorrectLookupParameters from None
        has_next = page.has_next()
        self.paginator = paginator
        self.result_list = page.object_list
        self.result_count = paginator.count
        self.full_result_count = None
        self.show_full_result_count = False
        self.show_admin_actions = False
        self.can_show_all = False
        self.multi_page = has_next or self.page_num > 1
        following = self.page_num + 1
        self.next_page_url = self.get_query_string({PAGE_VAR: following}) if has_next else ""
        self.previous_page_url = (
            self.get_query_string({PAGE_VAR: self.page_num - 1}) if self.page_num > 1 else ""
        )
        self.first_page_url = self.get_query_string(remove=[PAGE_VAR]) if self.page_num > 2 else ""
