"""The admin login throttle: failed logins counted per username and per client address, in Redis.

Past LOGIN_FAILURES_PER_ACCOUNT failures for a username, or LOGIN_FAILURES_PER_ADDRESS from one client
(an IPv4 address or an IPv6 /64), within LOGIN_THROTTLE_WINDOW_SECONDS, a login is answered 429 with
Retry-After and the login page saying why, and its password is not checked: a guesser learns nothing
from a throttled attempt, and one spread over many addresses still meets the per-account count. A
successful login clears its username's count. With Redis away, logins are not throttled (the warning
is rate-limited as the request limiter's is).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from museum_site.rate_limit import budget_key, forget, request_client, spend

_THROTTLED = "museum_login_retry_after"  # set on a request whose login was refused unchecked


def _counters(request: HttpRequest, username: str) -> list[tuple[str, int]]:
    """(key, allowed failures) of each count this login is held to; a limit of 0 is no count."""
    counters = [
        (budget_key("login-account", username.casefold()), settings.LOGIN_FAILURES_PER_ACCOUNT),
        (budget_key("login-address", request_client(request)), settings.LOGIN_FAILURES_PER_ADDRESS),
    ]
    return [(key, limit) for key, limit in counters if limit > 0]


def retry_after(request: HttpRequest, username: str) -> int:
    """Seconds until this login may be tried again, or 0 when it may be now."""
    wait = 0
    for key, limit in _counters(request, username):
        seen = spend(key, 0, settings.LOGIN_THROTTLE_WINDOW_SECONDS)
        if seen is not None and seen[0] >= limit:
            wait = max(wait, seen[1])
    return wait


def record_failure(request: HttpRequest, username: str) -> None:
    for key, _ in _counters(request, username):
        spend(key, 1, settings.LOGIN_THROTTLE_WINDOW_SECONDS)


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, refusing a throttled login before it authenticates, and counting failures."""

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        request = self.request
        if request is None:  # not from a request (no address to count): as Django's form
            return super().clean()
        wait = retry_after(request, username)
        if wait:
            setattr(request, _THROTTLED, wait)
            raise ValidationError(
                f"Too many failed logins for this account or from this address: try again in {wait} s.",
                code="throttled",
            )
        try:
            cleaned: dict[str, Any] = super().clean()
        except ValidationError:
            record_failure(request, username)
            raise
        forget(budget_key("login-account", username.casefold()))
        return cleaned


def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """The admin's login view with its form throttled; a throttled attempt answers 429 with Retry-After."""
    response = admin.site.login(request, extra_context)
    wait = getattr(request, _THROTTLED, 0)
    if wait:
        response.status_code = 429
        response["Retry-After"] = str(wait)
    return response
