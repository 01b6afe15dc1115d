"""A strict Content-Security-Policy on every response: the site's own scripts, styles and fetches only.

Every script and stylesheet is served from this site (htmx and the Swagger UI included), so no
inline script or style is allowed anywhere. Images may also come from the IIIF server
(AIC_IIIF_URL), and ``data:`` images are allowed for the icons stylesheets embed. Scripts may fetch
from the IIIF server too: the artwork page's deep-zoom viewer reads an image's info.json. CSP_REPORT_ONLY=1
sends the policy as Content-Security-Policy-Report-Only (to try a change without breaking pages).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def origin(url: str) -> str:
    """The scheme and host (with port) of ``url``: what a CSP source list names."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


@lru_cache(maxsize=8)
def content_security_policy(iiif_url: str) -> str:
    """The policy of every page, allowing images and fetches from ``iiif_url``'s origin."""
    images = " ".join(source for source in ("'self'", origin(iiif_url), "data:") if source)
    fetches = " ".join(source for source in ("'self'", origin(iiif_url)) if source)
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": images,
        "font-src": "'self'",
        "connect-src": fetches,
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class SecurityHeadersMiddleware:
    """Adds the Content-Security-Policy to each response that does not carry one already."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        header = "Content-Security-Policy-Report-Only" if settings.CSP_REPORT_ONLY else "Content-Security-Policy"
        # Read at each response (a string built once per IIIF URL), so a changed setting takes effect.
        response.headers.setdefault(header, content_security_policy(settings.AIC_IIIF_URL))
        return response
