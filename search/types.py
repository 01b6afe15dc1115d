"""What a search answers and how it fails: the result types, the errors, and the mode and sort choices.

The ranking modules (search/keyword.py, search/vector.py, search/fusion.py, search/ranking.py)
build these; the API, the pages and the parameters read them without importing any ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from django.utils import timezone

from catalog.models import Artwork
from embeddings.models import EmbeddingModel
from search.filters import SearchFilters

# What a refused image search tells the client to wait: a slot frees as soon as one search ends.
BUSY_RETRY_AFTER_SECONDS = 2


class SearchError(Exception):
    """A search that cannot be answered; ``status`` is the HTTP status to send."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ArtworkWithdrawn(SearchError):
    """An artwork the source no longer lists: it answers 410 Gone, saying when it left."""

    def __init__(self, artwork: Artwork) -> None:
        assert artwork.withdrawn_at is not None
        self.artwork = artwork
        self.withdrawn_on = timezone.localdate(artwork.withdrawn_at)
        message = f"artwork {artwork.aic_id} was withdrawn from the collection on {self.withdrawn_on.isoformat()}"
        super().__init__(message, status=410)


class ImageSearchBusy(SearchError):
    """Every image-tower slot of this process is taken: 503, to try again after ``retry_after`` seconds."""

    def __init__(self) -> None:
        super().__init__("the image search is busy, try again in a moment", status=503)
        self.retry_after = BUSY_RETRY_AFTER_SECONDS


class Mode(StrEnum):
    HYBRID = "hybrid"
    SEMANTIC = "semantic"
    KEYWORD = "keyword"


class Sort(StrEnum):
    RELEVANCE = "relevance"
    DATE = "date"  # oldest first
    DATE_DESC = "-date"  # newest first


@dataclass(frozen=True)
class Hit:
    artwork: Artwork
    score: float
    keyword_rank: int | None = None  # 1-based place in the full-text list, None when not in it
    semantic_rank: int | None = None  # 1-based place in the vector list, None when not in it
    pinned: bool = False  # put first by a curator's pin for this query (catalog.models.QueryPin)
    # Cosine similarity of the query's vector and the artwork's image vector, None when the vector
    # list did not hold it.
    similarity: float | None = None
    # A semantic-only match below the model's calibrated threshold (EmbeddingModel.match_threshold).
    weak: bool = False
    # At or above the model's threshold: the image itself matches the query.
    visual_match: bool = False
    # AIC ids of the near-duplicates (the same image, prints of one plate) folded into this hit.
    similar: tuple[int, ...] = ()
    # Why it matched, filled for the hits of a page only (search/keyword.py page_reasons): the query's
    # words its full-text document holds, and its text with them highlighted (escaped HTML, <mark>).
    matched_terms: tuple[str, ...] = ()
    snippet: str = ""


def by_score(hits: list[Hit]) -> list[Hit]:
    """``hits`` best score first; equal scores keep their order."""
    return sorted(hits, key=lambda hit: hit.score, reverse=True)


@dataclass(frozen=True)
class SearchPage:
    """One page of results; ``has_next`` says whether another page follows."""

    model: EmbeddingModel | None
    hits: list[Hit]
    page: int
    page_size: int
    has_next: bool
    mode: Mode = Mode.HYBRID
    filters: SearchFilters = field(default_factory=SearchFilters)
    # The SEARCH_HYBRID_CANDIDATES artworks nearest to the query under ``filters``, nearest first, where
    # the ranking read them (hybrid): the facet counts' vector candidates, without a second walk.
    nearest: tuple[int, ...] | None = None

    @property
    def strong(self) -> int:
        """How many hits of this page are not weak (they come before the weak ones)."""
        return sum(1 for hit in self.hits if not hit.weak)

    @property
    def match_threshold(self) -> float | None:
        """The model's calibrated threshold below which a semantic-only match is weak; None: not calibrated
        (then no hit is weak), or a keyword search."""
        return None if self.model is None or self.mode == Mode.KEYWORD else self.model.match_threshold
