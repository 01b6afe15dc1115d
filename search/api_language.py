"""The JSON API answers in English whatever language the browser asks the pages in.

LocaleMiddleware picks the pages' language from Accept-Language; the API's error sentences are part
of its contract (clients match on them), so under /api/ the default language is put back.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

API_PREFIX = "/api/"


class ApiInEnglishMiddleware:
    """Listed right after LocaleMiddleware: every message built later for an API request is English."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
