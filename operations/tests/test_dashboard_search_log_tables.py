"""The jobs dashboard shows what the search log says: top queries, queries with no result, and queries
whose results nobody opens (search-page searches only), each counted over the last seven days; like the
rest of the dashboard, for staff only."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from search.models_log import SearchClick, SearchLogEntry

pytestmark = pytest.mark.django_db

PAGE, API = SearchLogEntry.Source.PAGE, SearchLogEntry.Source.API


def _searches(
    query: str,
    times: int,
    *,
    results: int = 5,
    source: str = PAGE,
    page: int = 1,
    clicked: int = 0,
    days_ago: float = 1,
) -> None:
    for number in range(times):
        entry = SearchLogEntry.objects.create(
            search_id=uuid.uuid4(),
            query=query,
            mode="hybrid",
            result_count=results,
            page=page,
            source=source,
            created_at=timezone.now() - timedelta(days=days_ago),
        )
        if number < clicked:
            SearchClick.objects.create(
                click_id=uuid.uuid4(), search=entry, aic_id=27992, rank=1, created_at=entry.created_at
            )


def _rows(html: str, box: str) -> list[tuple[str, ...]]:
    found = re.search(rf'<div class="module" id="{box}">(.*?)</table>', html, re.S)
    assert found, f"the dashboard has no {box} table"
    body = found[1].split("<tbody>", 1)[1]
    return [tuple(re.findall(r"<td>(.*?)</td>", row)) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_dashboard_shows_the_three_search_log_tables(admin_client: Client) -> None:
    _searches("water lilies", 5, clicked=2)
    _searches("monet", 3, source=API)
    _searches("monet", 1)
    _searches("monet", 2, page=2)  # later pages are not searches of their own
    _searches("zzyzx", 2, results=0)
    _searches("stormy sea", 4)  # shown, never opened
    _searches("bridge", 3, source=API)  # API clients cannot click: not "unopened"
    _searches("night", 2)  # too few to say
    _searches("last month", 10, results=0, days_ago=8)

    html = admin_client.get("/admin/jobs/").content.decode()
    assert _rows(html, "search-top-queries") == [
        ("water lilies", "5"),
        ("monet", "4"),
        ("stormy sea", "4"),
        ("bridge", "3"),
        ("night", "2"),
        ("zzyzx", "2"),
    ]
    assert _rows(html, "search-zero-results") == [("zzyzx", "2")]
    # Every page a search showed counts: monet's two second pages as well as its first.
    assert _rows(html, "search-unopened") == [("stormy sea", "4"), ("monet", "3")]


def test_empty_tables_say_so(admin_client: Client) -> None:
    html = admin_client.get("/admin/jobs/").content.decode()
    found = re.search(r'id="search-top-queries">(.*?)</table>', html, re.S)
    assert found and '<td colspan="2">No searches.</td>' in found[1]


def test_the_search_log_is_for_staff_only(client: Client) -> None:
    _searches("a private query", 3)
    User.objects.create_user("visitor", password="a-long-pass-phrase", is_staff=False)
    client.login(username="visitor", password="a-long-pass-phrase")
    response = client.get("/admin/jobs/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert "a private query" not in response.content.decode()
