"""The pages: search (updated in place by htmx as you type), search by image (paged by a token), an
artwork's page, and "more like these".

The JSON API and /healthz live in search/api.py. A request from htmx (HX-Request header) gets
only the results fragment; any other request gets the whole page, so every state has a URL
and the site works without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.models import Artwork, visible_q
from search import artwork_page
from search import log as search_log
from search.experiments import Visitor, interleaved_search
from search.facets import FacetValue, facet_counts
from search.filters import REPEATABLE_FILTERS, SearchFilters
from search.image_query import ImageSearchParams, upload_max_pixels
from search.params import FilterParams, SearchParams, parse, request_values
from search.query_cache import vectors_kept_for_the_request
from search.request_cost import note_fresh_search
from search.services import (
    MAX_SIMILAR_IDS,
    neighbour_page,
    parse_ids,
    run_image_search,
    run_text_search,
    visible_artwork,
    visible_artworks,
)
from search.services import similar_to_several as similar_to_several_artworks
from search.types import ArtworkWithdrawn, Hit, ImageSearchBusy, Mode, SearchError, SearchPage
from search.uploads import upload_problem
from search.vector import similar_artworks

_FILTER_LABELS = {
    "department": gettext_lazy("Department"),
    "artwork_type": gettext_lazy("Type"),
    "date_from": gettext_lazy("From"),
    "date_to": gettext_lazy("To"),
    "is_public_domain": gettext_lazy("Public domain"),
    "is_on_view": gettext_lazy("On view"),
    "has_image": gettext_lazy("Has image"),
    "artist": gettext_lazy("Artist"),
    "classification": gettext_lazy("Classification"),
    "style": gettext_lazy("Style"),
    "subject": gettext_lazy("Subject"),
    "place": gettext_lazy("Place"),
}
_MODE_LABELS = {
    Mode.HYBRID: gettext_lazy("Hybrid"),
    Mode.SEMANTIC: gettext_lazy("Semantic"),
    Mode.KEYWORD: gettext_lazy("Keyword"),
}
# The facet panel's headings, in the order it shows them.
_FACET_LABELS = {
    "department": gettext_lazy("Department"),
    "artwork_type": gettext_lazy("Type"),
    "classification": gettext_lazy("Classification"),
    "artist": gettext_lazy("Artist"),
    "style": gettext_lazy("Style"),
    "subject": gettext_lazy("Subject"),
    "place": gettext_lazy("Place of origin"),
    "century": gettext_lazy("Century"),
    "is_public_domain": gettext_lazy("Public domain"),
    "is_on_view": gettext_lazy("On view"),
    "has_image": gettext_lazy("With image"),
}
_MENU_SECONDS = 60


@dataclass(frozen=True)
class FacetLink:
    """One value of a facet in the panel: its count, and the link that picks it (or, picked, drops it)."""

    label: str
    count: int
    url: str
    picked: bool


@dataclass(frozen=True)
class FacetGroup:
    label: str
    links: list[FacetLink]


@dataclass(frozen=True)
class Chip:
    """An active filter, shown as a chip whose link drops it."""

    label: str
    remove_url: str


def filter_menus() -> dict[str, list[str]]:
    """Every department and artwork type of the visible artworks, whatever the query (the filter menus),
    cached briefly; the query's own values and counts are its facets (search/facets.py)."""
    values = cache.get("search:filter-menus")
    if values is None:
        visible = Artwork.objects.filter(visible_q()).order_by()
        values = {
            name: sorted(set(visible.exclude(**{field: ""}).values_list(field, flat=True).distinct()))
            for name, field in (("departments", "department_title"), ("artwork_types", "artwork_type_title"))
        }
        cache.set("search:filter-menus", values, _MENU_SECONDS)
    return values


def _url_without(request: HttpRequest, *names: str) -> str:
    params = request.GET.copy()
    for name in (*names, "page"):
        params.pop(name, None)
    return f"{request.path}?{params.urlencode()}"


def _page_url(request: HttpRequest, page: int) -> str:
    params = request.GET.copy()
    params["page"] = str(page)
    return f"{request.path}?{params.urlencode()}"


def _chips(request: HttpRequest, filters: SearchFilters) -> list[Chip]:
    chips = []
    for name, value in filters.active().items():
        if isinstance(value, list):
            chips += [Chip(f"{_FILTER_LABELS[name]}: {item}", _url_toggling(request, name, item)) for item in value]
            continue
        shown = (_("yes") if value else _("no")) if isinstance(value, bool) else str(value)
        chips.append(Chip(f"{_FILTER_LABELS[name]}: {shown}", _url_without(request, name)))
    return chips


def _url_with(request: HttpRequest, changes: dict[str, list[str]]) -> str:
    """This page's URL with each named parameter's values replaced (none: dropped), from page 1."""
    params = request.GET.copy()
    params.pop("page", None)
    for name, values in changes.items():
        params.setlist(name, values)
    return f"{request.path}?{params.urlencode()}"


def _url_toggling(request: HttpRequest, name: str, value: str) -> str:
    """The URL with ``value`` added to the repeatable filter ``name``, or dropped when it is there."""
    values = [item for item in request.GET.getlist(name) if item.strip()]
    kept = [item for item in values if item.strip().casefold() != value.casefold()]
    return _url_with(request, {name: kept if len(kept) < len(values) else [*values, value]})


def _facet_panel(request: HttpRequest, filters: SearchFilters, counts: dict[str, list[FacetValue]]) -> list[FacetGroup]:
    """The facets as groups of links: each value with its count, a picked one marked, linking to drop it."""
    groups = []
    for name, label in _FACET_LABELS.items():
        links = []
        for item in counts.get(name, []):
            value, count = item["value"], int(item["count"])
            if name in REPEATABLE_FILTERS:
                picked = str(value).casefold() in {v.casefold() for v in getattr(filters, name)}
                links.append(FacetLink(str(value), count, _url_toggling(request, name, str(value)), picked))
            elif name == "century":
                start = int(value)
                picked = (filters.date_from, filters.date_to) == (start, start + 99)
                span = {} if picked else {"date_from": [str(start)], "date_to": [str(start + 99)]}
                url = _url_with(request, {"date_from": [], "date_to": [], **span})
                label_text = _("%(year)ss") % {"year": start} if start >= 0 else _("%(year)s BCE") % {"year": -start}
                links.append(FacetLink(label_text, count, url, picked))
            elif isinstance(value, bool):
                picked = getattr(filters, name) is value
                url = _url_with(request, {name: [] if picked else ["true" if value else "false"]})
                links.append(FacetLink(_("yes") if value else _("no"), count, url, picked))
            else:
                picked = str(getattr(filters, name) or "").casefold() == str(value).casefold()
                links.append(
                    FacetLink(str(value), count, _url_with(request, {name: [] if picked else [str(value)]}), picked)
                )
        if links:
            groups.append(FacetGroup(str(label), links))
    return groups


def _render(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context.setdefault("iiif", settings.AIC_IIIF_URL)
    context.setdefault("menus", filter_menus())
    context.setdefault("modes", [(mode.value, _MODE_LABELS[mode]) for mode in Mode])
    context.setdefault(
        "sorts", [("relevance", _("Relevance")), ("date", _("Oldest first")), ("-date", _("Newest first"))]
    )
    context.setdefault("max_chosen", MAX_SIMILAR_IDS)
    context.setdefault("upload_max_mb", round(settings.IMAGE_MAX_BYTES / (1024 * 1024)))
    context.setdefault("upload_max_megapixels", round(upload_max_pixels() / 1_000_000))
    # htmx swaps just the results when it targets them; any other request gets the whole page.
    partial = request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results"
    template = "search/_results.html" if partial else "search/index.html"
    response = render(request, template, context, status=status)
    # A cache (the browser's too) must not answer a whole-page request with a fragment, or the reverse.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


@require_GET
@vectors_kept_for_the_request()  # the page's search and its facets embed the query once
def index(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"query": request.GET.get("q", ""), "hits": [], "error": "", "chips": []}
    raw = request_values(request.GET)
    try:
        params: SearchParams = parse(SearchParams, raw)
        filters = params.filters()  # refuses a date range that ends before it starts
    except SearchError as exc:
        context["error"] = exc.message
        context["form"] = raw
        context["kept_filters"] = [(name, value) for name in REPEATABLE_FILTERS for value in raw.get(name, [])]
        return _render(request, context, status=400)
    context["form"] = params.model_dump()
    # The form keeps the value filters picked in the panel (it has no control of its own for them).
    context["kept_filters"] = [(name, value) for name in REPEATABLE_FILTERS for value in getattr(params, name)]
    context["chips"] = _chips(request, filters)
    visitor = Visitor(request)
    if params.q.strip():
        note_fresh_search(request)  # a page ranks every time: it keeps no answer cache
        try:
            query = params.query()
            interleaved = interleaved_search(query, params, visitor)
            result = interleaved.page if interleaved else run_text_search(params)[1]
        except SearchError as exc:
            context["error"] = exc.message
            return _render(request, context, status=_page_status(exc))
        context.update(_result_context(request, result))
        context["query"] = query
        counts = facet_counts(query, result.mode, result.filters, result.model, result.nearest)
        context["facet_panel"] = _facet_panel(request, result.filters, counts)
        context["facets_complete"] = counts.complete
        context["facet_text_matches"] = settings.SEARCH_FACET_TEXT_MATCHES
        context["search_id"] = search_log.record_search(
            query,
            params.mode,
            result.filters.active(),
            len(result.hits),
            result.page,
            search_log.PAGE,
            interleaving=interleaved.log_fields() if interleaved else None,
        )
    response = _render(request, context)
    visitor.keep(response)
    return response


@require_POST
def search_click(request: HttpRequest) -> HttpResponse:
    """Record that a visitor opened a result: the search's id, the artwork and its rank, which site.js
    sends (navigator.sendBeacon, with the page's CSRF token) as the result link is followed. 204 when
    taken or when the log is off, 400 for malformed fields. Nothing else sent is read: an interleaved
    page's team is found from the rank when the click is stored (search/models_interleaving.py)."""
    click = search_log.parse_click(request.POST.get("s", ""), request.POST.get("a", ""), request.POST.get("r", ""))
    if click is None:
        return HttpResponseBadRequest("s (a search id), a (an artwork id) and r (a rank) are needed")
    search_log.record_click(*click)
    return HttpResponse(status=204)


def _page_status(exc: SearchError) -> int:
    """The status of a page that shows a refused search: 400 for any fault of the request (the page
    says which), the error's own for an outage (5xx)."""
    return 400 if exc.status < 500 else exc.status


def _result_context(request: HttpRequest, result: SearchPage) -> dict[str, Any]:
    strong = result.strong
    return {
        "hits": result.hits,
        # Strong hits come first; the weak ones are folded under "weaker matches".
        "strong_hits": result.hits[:strong],
        "weak_hits": result.hits[strong:],
        "weak_first_rank": (result.page - 1) * result.page_size + strong + 1,
        "model": result.model,
        "page": result.page,
        "first_rank": (result.page - 1) * result.page_size + 1,
        "last_rank": (result.page - 1) * result.page_size + len(result.hits),
        "next_url": _page_url(request, result.page + 1) if result.has_next else "",
        "previous_url": _page_url(request, result.page - 1) if result.page > 1 else "",
        "searched": True,
    }


def _image_search_context() -> dict[str, Any]:
    return {
        "query": "",
        "hits": [],
        "error": "",
        "chips": [],
        "image_search": True,
        "form": {},
        "image_form": {},
        "image_token": "",
    }


def refused_upload(request: HttpRequest, message: str, status: int) -> HttpResponse:
    """The search page (or, for htmx, its results) saying why an upload was refused."""
    context = _image_search_context()
    context["error"] = message
    return _render(request, context, status=status)


# What an image search's page links carry besides the token and the page: the words and the filters.
_IMAGE_LINK_FIELDS = ("q", "text_weight", *_FILTER_LABELS, "page_size", "k")


def _image_page_url(fields: dict[str, str], token: str, page: int) -> str:
    """The page ``page`` of an image search, by its token: a GET, so it needs no upload and no CSRF token."""
    params = QueryDict(mutable=True)
    params.update({name: fields[name] for name in _IMAGE_LINK_FIELDS if fields.get(name)})
    params["token"] = token
    params["page"] = str(page)
    return f"{reverse('image-search')}?{params.urlencode()}"


@require_http_methods(["GET", "POST"])
def image_search(request: HttpRequest) -> HttpResponse:
    """Artworks that look like an uploaded image (POST), with words and filters if given; the image is
    not kept. Its vector is, for IMAGE_SEARCH_TOKEN_SECONDS, and the page's links (GET, with the token)
    page through the same search or change its words and filters.

    The upload was read by the site's memory-only, capped handler (search/uploads.py) when the CSRF
    check read the form; ``upload_problem`` says if it was cut short.
    """
    context = _image_search_context()
    source = request.POST if request.method == "POST" else request.GET
    # A form sends its empty fields as "": they mean absent.
    fields = {key: value for key, value in request_values(source).items() if key != "csrfmiddlewaretoken" and value}
    context["image_form"] = fields
    if request.method == "GET" and not fields.get("token"):
        return _render(request, context)  # the page, ready for an upload
    try:
        data: bytes | None = None
        if request.method == "POST":
            fields.pop("token", None)  # a new upload starts a new search
            problem = upload_problem(request)
            if problem:
                raise SearchError(problem)
            upload = request.FILES.get("image")
            if upload is None:
                raise SearchError(_("choose an image file to search with"))
            data = upload.read()
        params: ImageSearchParams = parse(ImageSearchParams, fields)
        found = run_image_search(params, data)
    except ImageSearchBusy as busy:
        context["error"] = _("The image search is busy, try again in %(seconds)s s.") % {"seconds": busy.retry_after}
        response = _render(request, context, status=busy.status)
        response["Retry-After"] = str(busy.retry_after)
        return response
    except SearchError as exc:
        context["error"] = exc.message
        # 410: the token expired or the model changed; the page says to upload again.
        return _render(request, context, status=410 if exc.status == 410 else _page_status(exc))
    page = found.found
    token = found.token or ""
    first = (page.page - 1) * page.page_size + 1
    context.update(
        {
            "hits": page.hits,
            "model": page.model,
            "searched": True,
            "page": page.page,
            "first_rank": first,
            "last_rank": first + len(page.hits) - 1,
            "image_words": found.words,
            "image_token": token,
            "next_url": _image_page_url(fields, token, page.page + 1) if token and page.has_next else "",
            "previous_url": _image_page_url(fields, token, page.page - 1) if token and page.page > 1 else "",
        }
    )
    return _render(request, context)


@require_GET
def similar_to_several(request: HttpRequest) -> HttpResponse:
    """More like these: artworks nearest to the mean image of those named by ``ids``, paged by links.

    ``ids`` is a list (``ids=1,2,3``) or repeated (``ids=1&ids=2``, what the results' "Choose" boxes send).
    """
    context: dict[str, Any] = {"query": "", "hits": [], "error": "", "chips": [], "form": {}}
    status = 200
    try:
        fields = {key: request.GET.get(key, "") for key in request.GET if key != "ids" and request.GET.get(key, "")}
        params: FilterParams = parse(FilterParams, fields)
        ids = ",".join(request.GET.getlist("ids"))
        if not ids.strip(", "):
            raise SearchError(_("Choose one or more artworks first."))
        artworks = visible_artworks(parse_ids(ids))
        page = neighbour_page(params, lambda k, filters: similar_to_several_artworks(artworks, k, filters))
    except Http404 as missing:
        context["error"] = str(missing)
        status = 404
    except SearchError as exc:
        context["error"] = exc.message
        status = exc.status if exc.status >= 500 or exc.status in (404, 410) else 400
    else:
        first = (page.page - 1) * page.page_size + 1
        context.update(
            {
                "similar_to": artworks,
                "hits": page.hits,
                "model": page.model,
                "searched": True,
                "page": page.page,
                "first_rank": first,
                "last_rank": first + len(page.hits) - 1,
                "next_url": _page_url(request, page.page + 1) if page.has_next else "",
                "previous_url": _page_url(request, page.page - 1) if page.page > 1 else "",
            }
        )
    return _render(request, context, status=status)


@require_GET
def artwork_detail(request: HttpRequest, aic_id: int) -> HttpResponse:
    """An artwork's record and similar artworks; 404 for a hidden one, 410 for a withdrawn one."""
    try:
        artwork = visible_artwork(aic_id)
    except ArtworkWithdrawn as gone:
        context = {"aic_id": aic_id, "withdrawn_on": gone.withdrawn_on}
        return render(request, "search/withdrawn.html", context, status=410)
    similar: list[Hit] = []
    note = ""
    try:
        _, similar = similar_artworks(artwork, 12)
    except SearchError as exc:
        note = exc.message
    return render(
        request,
        "search/artwork.html",
        {
            "artwork": artwork,
            "similar": similar,
            "note": note,
            **artwork_page.image_links(artwork),
            "citation": artwork_page.citation(artwork),
            "iiif": settings.AIC_IIIF_URL,
        },
    )
