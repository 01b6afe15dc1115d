"""Refuse a request whose declared body is too large before any of it is read (413)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from search.uploads import body_limit, too_large_message
from search.views import refused_upload


class UploadLimitMiddleware:
    """413 for a request whose declared Content-Length is over ``body_limit``, without reading it.

    Listed after CsrfViewMiddleware: middleware calls all run before any ``process_view``, so this
    still answers before the CSRF check reads the body, and the page it renders gets the visitor's
    CSRF cookie (its form stays usable). A body sent without a length (chunked) is read by Django as
    empty under WSGI; the upload handler's cap holds for any body that is read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0  # Django reads such a body as empty
        limit = body_limit(request.content_type)
        if declared <= limit:
            return self.get_response(request)
        if request.content_type == "multipart/form-data":
            return self.refuse(request, too_large_message(settings.IMAGE_MAX_BYTES))
        return self.refuse(request, _("request body is over %(limit)s bytes") % {"limit": limit})

    def refuse(self, request: HttpRequest, message: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse({"error": message}, status=413)
        return refused_upload(request, message, status=413)
