"""Which search pages are interleaved, and the interleaved first page itself.

Only the HTML search page interleaves: it is where clicks come from (the JSON API offers nothing to
click, and its answers are shared through the result cache). A first page in relevance order, in a
mode the running experiment names, is interleaved for a share of (visitor, query) pairs. The visitor
is a random id in a browser-session cookie, set only while an experiment runs and never logged; the
draw and the coin of team-draft are both hashed from (visitor, experiment, normalised query), so a
reload shows the same page and a later page or another sort shows production's ranking. With
SEARCH_INTERLEAVING or SEARCH_LOG off nothing is interleaved (without the log no click is seen).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from core.logging_limits import warn_limited
from search.fusion import FusionWeights
from search.interleaving import team_draft
from search.log import normalise_query
from search.models_interleaving import InterleavingExperiment
from search.params import SearchParams
from search.ranking import search
from search.types import SearchError, SearchPage, Sort

logger = logging.getLogger(__name__)

VISITOR_COOKIE = "search_visitor"
_VISITOR = re.compile(r"[0-9a-f]{32}")


class Visitor:
    """The visitor's random id: the cookie's, or a new one (minted only when asked for)."""

    def __init__(self, request: HttpRequest) -> None:
        sent = request.COOKIES.get(VISITOR_COOKIE, "")
        self._key = sent if _VISITOR.fullmatch(sent) else ""
        self.minted = False

    @property
    def key(self) -> str:
        if not self._key:
            self._key, self.minted = secrets.token_hex(16), True
        return self._key

    def keep(self, response: HttpResponse) -> None:
        """Set the cookie when a new id was minted: for the browser session only, unreadable by scripts."""
        if self.minted:
            response.set_cookie(
                VISITOR_COOKIE, self._key, secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Lax"
            )
            patch_vary_headers(response, ("Cookie",))


def draw(visitor: str, experiment_id: int, query: str) -> tuple[float, int]:
    """The (visitor, experiment, query)'s place in [0, 1) (interleaved when below the share) and the
    seed of its team-draft coin; the same inputs always give the same pair."""
    digest = hashlib.sha256(f"{visitor}\0{experiment_id}\0{normalise_query(query)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big")


def candidate_weights(experiment: InterleavingExperiment) -> FusionWeights:
    """The fusion constants team B ranks with: the settings', each replaced where the experiment names one."""
    production = FusionWeights.from_settings()
    return FusionWeights(
        rrf_k=production.rrf_k if experiment.candidate_rrf_k is None else experiment.candidate_rrf_k,
        keyword=production.keyword
        if experiment.candidate_keyword_weight is None
        else experiment.candidate_keyword_weight,
        semantic=(
            production.semantic
            if experiment.candidate_semantic_weight is None
            else experiment.candidate_semantic_weight
        ),
        boost=production.boost,
    )


@dataclasses.dataclass(frozen=True)
class InterleavedPage:
    """A first page as team-draft merged it: ``teams[i]`` picked ``page.hits[i]``."""

    page: SearchPage
    experiment: InterleavingExperiment
    teams: str

    def log_fields(self) -> dict[str, int | str]:
        return {"experiment": self.experiment.pk, "teams": self.teams}


def interleaved_search(query: str, params: SearchParams, visitor: Visitor) -> InterleavedPage | None:
    """The interleaved first page for this search, or None when production's ranking is to be shown.
    A candidate that cannot rank (its model unloadable, say) gives None: the visitor still gets a page."""
    if not (settings.SEARCH_INTERLEAVING and settings.SEARCH_LOG) or params.page != 1 or params.sort != Sort.RELEVANCE:
        return None
    experiment = InterleavingExperiment.running()
    if experiment is None or params.mode.value not in experiment.modes:
        return None
    place, seed = draw(visitor.key, experiment.pk, query)
    if place >= experiment.share:
        return None
    filters, size = params.filters(), params.size()
    production = search(query, mode=params.mode, filters=filters, page_size=size)
    try:
        candidate = search(
            query,
            mode=params.mode,
            filters=filters,
            page_size=size,
            model=experiment.candidate_model,
            weights=candidate_weights(experiment),
        )
    except SearchError as exc:
        warn_limited(logger, "interleaving", "interleaving %r: the candidate cannot rank: %s", experiment.name, exc)
        return None
    merged = team_draft(production.hits, candidate.hits, size, seed, key=lambda hit: hit.artwork.pk)
    return InterleavedPage(dataclasses.replace(production, hits=merged.items), experiment, merged.teams)
