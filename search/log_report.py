"""What the search log says, as the jobs dashboard shows it: top queries, queries that find nothing,
and queries whose results nobody opens (registered with core/dashboard_sections.py by search/apps.py)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from core.dashboard_sections import DashboardTable
from search.models_log import SearchClick, SearchLogEntry

REPORT_DAYS = 7
ROWS = 20
# A query is listed as unopened once this many of its searches showed results and none was opened:
# one visitor's unopened search says little.
UNOPENED_MIN_SEARCHES = 3
SECTION = f"Search log (last {REPORT_DAYS} days)"


def recent_searches() -> QuerySet[SearchLogEntry]:
    return SearchLogEntry.objects.filter(created_at__gte=timezone.now() - timedelta(days=REPORT_DAYS))


def top_queries() -> list[tuple[object, ...]]:
    """(query, searches) of the most searched queries; a search's later pages are not counted again."""
    rows = (
        recent_searches()
        .filter(page=1)
        .values("query")
        .annotate(searches=Count("id"))
        .order_by("-searches", "query")[:ROWS]
    )
    return [(row["query"], row["searches"]) for row in rows]


def zero_result_queries() -> list[tuple[object, ...]]:
    """(query, searches) of the queries whose first page showed no result."""
    rows = (
        recent_searches()
        .filter(page=1, result_count=0)
        .values("query")
        .annotate(searches=Count("id"))
        .order_by("-searches", "query")[:ROWS]
    )
    return [(row["query"], row["searches"]) for row in rows]


def unopened_queries() -> list[tuple[object, ...]]:
    """(query, searches) of search-page queries with at least UNOPENED_MIN_SEARCHES searches that showed
    results, none of which led to a click. API searches are left out: an API client has no result to click."""
    opened = Exists(SearchClick.objects.filter(search_id=OuterRef("search_id")))
    rows = (
        recent_searches()
        .filter(source=SearchLogEntry.Source.PAGE, result_count__gt=0)
        .annotate(opened=opened)
        .values("query")
        .annotate(unopened=Count("id", filter=Q(opened=False)), opened_count=Count("id", filter=Q(opened=True)))
        .filter(unopened__gte=UNOPENED_MIN_SEARCHES, opened_count=0)
        .order_by("-unopened", "query")[:ROWS]
    )
    return [(row["query"], row["unopened"]) for row in rows]


def search_log_tables() -> list[DashboardTable]:
    return [
        DashboardTable(
            "search-top-queries", "Top queries", ("Query", "Searches"), top_queries(), "No searches.", section=SECTION
        ),
        DashboardTable(
            "search-zero-results",
            "Queries with no result",
            ("Query", "Searches"),
            zero_result_queries(),
            "Every query found something.",
            section=SECTION,
        ),
        DashboardTable(
            "search-unopened",
            "Queries whose results nobody opens",
            ("Query", "Searches"),
            unopened_queries(),
            "None.",
            note=f"Search-page searches that showed results; a query is listed from {UNOPENED_MIN_SEARCHES} searches.",
            section=SECTION,
        ),
    ]
