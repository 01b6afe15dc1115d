"""The request limiter: every route that searches or encodes spends its cost from its client's budget.

A client (an IPv4 address, or an IPv6 /64; museum_site/rate_limit.py) has RATE_LIMIT_BUDGET units
every RATE_LIMIT_WINDOW_SECONDS, shared by pages, htmx fragments and the API. Each route's cost class
is declared in ``rate_limit.ROUTE_COSTS``. A text search spends RATE_LIMIT_COST_CACHED before its view
runs and, when the view ranked afresh rather than answering from the result cache, the rest of
RATE_LIMIT_COST_SEARCH after: the request that overdraws the budget is served, the next is refused.
A client over its budget gets 429 with Retry-After: JSON from the API, the results fragment for htmx,
a page for people.

Also here: a page that meets a database or Redis outage answers a 503 page instead of a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from kombu.exceptions import OperationalError as BrokerOperationalError

from core.logging_limits import warn_limited
from museum_site.rate_limit import Cost, budget_key, cost_units, request_client, route_cost, spend
from search.request_cost import ran_fresh_search

logger = logging.getLogger(__name__)

_STATE = "museum_rate_limit"  # (key, units left) of a charged request, for the headers and the second charge


class RateLimitMiddleware:
    """Charge each routed request its cost (in ``process_view``, once the route is known) and refuse
    a client over its budget. With Redis away, requests are served (``rate_limit.spend``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        state: tuple[str, int, Cost] | None = getattr(request, _STATE, None)
        if state is None:
            return response
        key, remaining, cost = state
        if cost is Cost.SEARCH and ran_fresh_search(request):
            extra = settings.RATE_LIMIT_COST_SEARCH - settings.RATE_LIMIT_COST_CACHED
            if extra > 0 and (spent := spend(key, extra, settings.RATE_LIMIT_WINDOW_SECONDS)) is not None:
                remaining = settings.RATE_LIMIT_BUDGET - spent[0]
        response["X-RateLimit-Limit"] = str(settings.RATE_LIMIT_BUDGET)
        response["X-RateLimit-Remaining"] = str(max(remaining, 0))
        return response

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        budget = settings.RATE_LIMIT_BUDGET
        match = request.resolver_match
        if budget <= 0 or match is None:
            return None
        cost = route_cost(match.view_name)
        if cost is Cost.FREE:
            return None
        key = budget_key("requests", request_client(request))
        spent = spend(key, cost_units(cost), settings.RATE_LIMIT_WINDOW_SECONDS)
        if spent is None:
            return None
        total, retry_after = spent
        setattr(request, _STATE, (key, budget - total, cost))
        if total <= budget:
            return None
        return too_many(request, match.namespace == "api", retry_after)


def too_many(request: HttpRequest, api: bool, retry_after: int) -> HttpResponse:
    """429 with Retry-After, in the form the asker reads: JSON for the API, the results fragment for
    htmx swapping them, a page for anyone else."""
    window = settings.RATE_LIMIT_WINDOW_SECONDS
    if api:
        message = (
            f"too many requests: try again in {retry_after} s (budget {settings.RATE_LIMIT_BUDGET} every {window} s)"
        )
        response: HttpResponse = JsonResponse({"error": message}, status=429)
    else:
        # As the search views choose (search/views.py _render): htmx aiming at the results gets them alone.
        fragment = request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results"
        template = "search/_too_many.html" if fragment else "search/too_many.html"
        response = render(request, template, {"retry_after": retry_after, "window": window}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


# What an outage of the database, Redis or the broker raises (a bug, like ProgrammingError, stays a 500).
OUTAGES: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
    BrokerOperationalError,  # queuing a task (the admin's actions) while the broker is away
)
RETRY_AFTER_SECONDS = 30


class ServiceUnavailableMiddleware:
    """A page whose view meets a database or Redis outage answers a short 503 page with Retry-After,
    not a 500: the visitor learns to come back, and the log gets one line a minute, not a traceback
    per request. (The JSON API answers its own 503, search/api.py.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OUTAGES):
            return None
        warn_limited(logger, type(exception).__name__, "%s answered 503: %s", request.path, exception)
        # Rendered without the request: its context processors would read the session, in the database.
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
