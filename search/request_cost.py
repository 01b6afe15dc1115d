"""What a search request made this process do, so the rate limiter can charge it after the view ran.

A text search is charged as a cached answer before the view runs; the view says here when it ranked
afresh instead (the text tower and the database), and the limiter charges the difference.
"""

from __future__ import annotations

from django.http import HttpRequest

_ATTRIBUTE = "museum_ran_fresh_search"


def note_fresh_search(request: HttpRequest) -> None:
    setattr(request, _ATTRIBUTE, True)


def ran_fresh_search(request: HttpRequest) -> bool:
    return bool(getattr(request, _ATTRIBUTE, False))
