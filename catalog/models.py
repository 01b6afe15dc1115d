"""Artworks harvested from the Art Institute of Chicago, their curation, and harvest runs."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, HashIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Left, Upper


class TextArrayToString(models.Func):
    """A text[] joined with spaces, through an IMMUTABLE SQL function (migration 0002).

    PostgreSQL's own array_to_string is only STABLE, which a generated column refuses.
    """

    function = "catalog_text_array_to_string"
    output_field = models.TextField()


class Unaccented(models.Func):
    """Text with its accents taken off ("Dürer" to "Durer"), through an IMMUTABLE SQL function
    (migration 0011), so that a generated column may hold it.

    The query goes through the same function (search/keyword.py), so "Durer" and "Dürer" meet.
    """

    function = "catalog_unaccent"
    output_field = models.TextField()


# How much of a classification, style or subject title the filters' indexes hold: more than any
# vocabulary title, and far under what one GIN index entry may be, so a hostile record still stores.
INDEXED_TITLE_LENGTH = 200


class IndexedTitles(models.Func):
    """An array of titles with each cut to INDEXED_TITLE_LENGTH characters, through an IMMUTABLE SQL
    function (migration 0012): what the GIN indexes of the value filters hold, and what the filters
    (search/filters.py) compare, so that the two meet and a huge title cannot break an insert."""

    function = "catalog_indexed_titles"
    output_field = ArrayField(models.TextField())


# The full-text document: title (weight A), artist (B), description, medium and subject terms (C),
# place, department and type (D), accents taken off (``Unaccented``). English stemming, so "lilies"
# finds "lily". Each part is clipped (about 170,000 characters in all): PostgreSQL refuses a tsvector
# over 1 MB, and a record may carry text fields of up to 1,000,000 characters each.
SEARCH_CONFIG = "english"
_SEARCH_DOCUMENT = (
    SearchVector(Unaccented(Left("title", 10_000)), weight="A", config=SEARCH_CONFIG)
    + SearchVector(Unaccented(Left("artist_display", 10_000)), weight="B", config=SEARCH_CONFIG)
    + SearchVector(
        Unaccented(Left("description_override", 50_000)),
        Unaccented(Left("description", 50_000)),
        Unaccented(Left("short_description", 10_000)),
        Unaccented(Left("alt_text", 10_000)),
        Unaccented(Left("medium_display", 5_000)),
        Unaccented(Left(TextArrayToString("subject_titles"), 5_000)),
        Unaccented(Left(TextArrayToString("term_titles"), 5_000)),
        Unaccented(Left(TextArrayToString("classification_titles"), 5_000)),
        Unaccented(Left(TextArrayToString("style_titles"), 5_000)),
        weight="C",
        config=SEARCH_CONFIG,
    )
    + SearchVector(
        Unaccented(Left("place_of_origin", 2_000)),
        Unaccented(Left("department_title", 2_000)),
        Unaccented(Left("artwork_type_title", 2_000)),
        weight="D",
        config=SEARCH_CONFIG,
    )
)


class Trigrams(models.Func):
    """The distinct trigrams of a text's words (lower-cased, without accents, each word padded as pg_trgm
    pads it), as a text[], through an IMMUTABLE SQL function (migrations 0010 and 0013).

    The suggestions match on them with a GIN index. pg_trgm would do the same, but it is a contrib
    module, and the embedded PostgreSQL of checkouts and CI ships none.
    """

    function = "catalog_trigrams"
    output_field = ArrayField(models.TextField())


class SplitPart(models.Func):
    """One field of a delimited text (PostgreSQL's split_part, IMMUTABLE)."""

    function = "split_part"
    output_field = models.TextField()


def artist_name_expression() -> SplitPart:
    """The artist's name in ``artist_display``: its first line, before any " (French, 1840-1926)"."""
    first_line = SplitPart("artist_display", models.Value("\n"), models.Value(1))
    return SplitPart(first_line, models.Value(" ("), models.Value(1))


class Artwork(models.Model):
    """One AIC artwork record, the fields search and training use, and the curators' edits."""

    aic_id = models.PositiveIntegerField("AIC id", unique=True)
    title = models.TextField(blank=True)
    artist_display = models.TextField(blank=True)
    # The main artist's name alone (AIC's artist_title), what the artist filter and facet name.
    artist_title = models.TextField(blank=True)
    date_display = models.TextField(blank=True)
    date_start = models.IntegerField(null=True, blank=True)
    date_end = models.IntegerField(null=True, blank=True)
    place_of_origin = models.TextField(blank=True)
    medium_display = models.TextField(blank=True)
    dimensions = models.TextField(blank=True)
    description_html = models.TextField("description (HTML, as AIC publishes it)", blank=True)
    description = models.TextField("description (plain text)", blank=True)
    short_description = models.TextField(blank=True)
    alt_text = models.TextField("thumbnail alt text", blank=True)
    department_title = models.TextField(blank=True)
    artwork_type_title = models.TextField(blank=True)
    classification_titles = ArrayField(models.TextField(), default=list, blank=True)
    style_titles = ArrayField(models.TextField(), default=list, blank=True)
    subject_titles = ArrayField(models.TextField(), default=list, blank=True)
    term_titles = ArrayField(models.TextField(), default=list, blank=True)
    is_public_domain = models.BooleanField(default=False)
    is_on_view = models.BooleanField(default=False)
    image_id = models.CharField("IIIF image id", max_length=64, blank=True)
    aic_updated_at = models.DateTimeField("updated at AIC", null=True, blank=True)
    raw = models.JSONField("raw AIC record", default=dict)
    content_hash = models.CharField(max_length=64)

    is_hidden = models.BooleanField(default=False, help_text="Hidden artworks never appear in search.")
    boost = models.FloatField(default=0.0, help_text="Added to the relevance score; 0 is neutral.")
    curator_note = models.TextField(blank=True)
    description_override = models.TextField(blank=True, help_text="Shown instead of AIC's description.")

    # Set when a complete walk of the source no longer lists the record (deaccessioned, taken down):
    # it leaves every search, and comes back if the source lists it again.
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # The last complete-walk harvest (SyncRun id) that listed this record; only full walks write it.
    last_seen_walk = models.BigIntegerField(null=True, blank=True, editable=False)

    # Computed by PostgreSQL on every insert and update, so writers never maintain it.
    search_document = models.GeneratedField(
        expression=_SEARCH_DOCUMENT, output_field=SearchVectorField(), db_persist=True
    )

    # The trigrams of the title and of the artist's name, for suggestions as a visitor types
    # (search/suggestions.py), computed by PostgreSQL like the search document.
    title_trigrams = models.GeneratedField(
        expression=Trigrams("title"), output_field=ArrayField(models.TextField()), db_persist=True
    )
    artist_trigrams = models.GeneratedField(
        expression=Trigrams(artist_name_expression()), output_field=ArrayField(models.TextField()), db_persist=True
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["aic_id"]
        indexes = [
            models.Index(fields=["department_title"]),
            # The search filters compare these case-insensitively (upper(…) = upper(…)). Hash indexes
            # hold 4-byte codes, so a title of any length is indexed (a B-tree row must fit in 8 kB).
            HashIndex(Upper("department_title"), name="artwork_department_upper"),
            HashIndex(Upper("artwork_type_title"), name="artwork_type_upper"),
            HashIndex(Upper("artist_title"), name="artwork_artist_upper"),
            HashIndex(Upper("place_of_origin"), name="artwork_place_upper"),
            # The classification, style and subject filters ask for any of some titles (&&).
            GinIndex(IndexedTitles("classification_titles"), name="artwork_classifications_gin"),
            GinIndex(IndexedTitles("style_titles"), name="artwork_styles_gin"),
            GinIndex(IndexedTitles("subject_titles"), name="artwork_subjects_gin"),
            models.Index(fields=["aic_updated_at"]),
            GinIndex(fields=["search_document"], name="artwork_search_document_gin"),
            # Without a pending list (fastupdate): every suggestion would read through the entries of a
            # harvest's new rows until the next vacuum merged them.
            GinIndex(fields=["title_trigrams"], name="artwork_title_trigrams_gin", fastupdate=False),
            GinIndex(fields=["artist_trigrams"], name="artwork_artist_trigrams_gin", fastupdate=False),
            # The few withdrawn artworks (a reconcile restoring them, the admin's filter). Partial, so the
            # planner never takes it for search's "withdrawn_at IS NULL", true of nearly every row: without
            # statistics (after a bulk load) it would walk this index instead of the HNSW or full-text one.
            models.Index(
                fields=["withdrawn_at"], name="artwork_withdrawn", condition=models.Q(withdrawn_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title or 'Untitled'} ({self.aic_id})"

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    @property
    def has_image(self) -> bool:
        return bool(self.image_id)

    @property
    def display_description(self) -> str:
        return self.description_override or self.description or self.short_description

    def iiif_image_url(self, iiif_base: str, size: str = "843,") -> str:
        """IIIF Image API URL for this artwork's image; '' when it has none."""
        if not self.image_id:
            return ""
        return f"{iiif_base}/{self.image_id}/full/{size}/0/default.jpg"

    def caption(self) -> str:
        """Text that describes the artwork: title, artist, date, medium and description."""
        parts = [self.title, self.artist_display.replace("\n", ", "), self.date_display, self.medium_display]
        head = ". ".join(part.strip() for part in parts if part and part.strip())
        body = self.display_description.strip()
        return f"{head}. {body}" if body else head


def visible_q(prefix: str = "") -> models.Q:
    """Artworks that search may show: neither hidden by a curator nor withdrawn by the source.

    ``prefix`` reaches the artwork through a relation (``"artwork__"``).
    """
    return models.Q(**{f"{prefix}is_hidden": False, f"{prefix}withdrawn_at": None})


def normalised_query(text: str) -> str:
    """A search's text as pins match it: lower-cased, whitespace collapsed (as the result cache keys it)."""
    return " ".join(text.split()).lower()


# The letters with no canonical decomposition, spelled as catalog_unaccent (migration 0010) spells them.
_UNDECOMPOSED = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "\u0131": "i", "ŧ": "t", "æ": "ae", "œ": "oe", "ß": "ss"}
)


def without_accents(text: str) -> str:
    """Lower-case ``text`` with its accents taken off, as the full-text document holds its words."""
    # Only the combining diacritical marks (U+0300 to U+036F) go, as in catalog_unaccent: other scripts'
    # marks are letters of their words there.
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(char for char in decomposed if not "\u0300" <= char <= "\u036f").translate(_UNDECOMPOSED)


def query_words(text: str) -> list[str]:
    """The words of ``text`` as synonyms match them: lower-cased runs of letters and digits, without
    accents ("Dürer" and "durer" are one word)."""
    return re.findall(r"\w+", without_accents(text) if not text.isascii() else text.lower())


class QueryPin(models.Model):
    """An artwork a curator puts first for one query: pins of a query come first, by position.

    The query is matched normalised (``normalised_query``); a pinned artwork that is hidden,
    withdrawn or outside a search's filters is left out like any other.
    """

    query = models.CharField(
        max_length=500,
        help_text="The search text this pin answers. Case and spacing do not matter: it is stored lower-cased, "
        "with whitespace collapsed.",
    )
    artwork = models.ForeignKey(
        Artwork,
        on_delete=models.CASCADE,
        related_name="query_pins",
        help_text="Shown first for the query, unless it is hidden, withdrawn or filtered out.",
    )
    position = models.PositiveSmallIntegerField(
        default=1, help_text="Order among this query's pins: 1 comes first, ties by the order they were added."
    )
    note = models.TextField(blank=True, help_text="Why this artwork is pinned (for curators; never shown).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["query", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["query", "artwork"], name="query_pin_unique_artwork")]
        # Search reads a query's pins in order: one index scan.
        indexes = [models.Index(fields=["query", "position"], name="query_pin_lookup")]

    def __str__(self) -> str:
        return f"{self.query!r} #{self.position}: {self.artwork_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.query = normalised_query(self.query)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self.query = normalised_query(self.query)
        if not self.query:
            raise ValidationError({"query": "A pin needs the text of a search."})


class Synonym(models.Model):
    """Terms or phrases keyword search treats as one: a query holding any of them matches them all.

    Two-way: every term of a row stands for every other ("monet, claude monet" makes "monet" find
    "claude monet" and the reverse); there are no one-way rows. A term named by two rows stands
    for the terms of both.
    """

    terms = models.TextField(
        help_text="Equivalent words or phrases, separated by commas: 'sea, ocean' or 'monet, claude monet'. "
        "Each is matched as a phrase, word for word, case and punctuation aside."
    )
    note = models.TextField(blank=True, help_text="Why these terms are equivalent (for curators; never shown).")
    # The terms as query_words reads them, each joined by single spaces: search looks them up here.
    normalised_terms = ArrayField(models.TextField(), default=list, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["terms"]
        # Search asks which rows hold any phrase of the query (&&): one index scan.
        indexes = [GinIndex(fields=["normalised_terms"], name="synonym_terms_gin")]

    def __str__(self) -> str:
        return self.terms

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.normalised_terms = self.split_terms(self.terms)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if len(self.split_terms(self.terms)) < 2:
            raise ValidationError({"terms": "Name at least two different terms, separated by commas."})

    @staticmethod
    def split_terms(terms: str) -> list[str]:
        """The distinct normalised terms of a comma-separated list, in their order."""
        found = [" ".join(query_words(term)) for term in terms.split(",")]
        return list(dict.fromkeys(term for term in found if term))


class FrequentWord(models.Model):
    """A word (a lexeme of the full-text document) held by more artworks than one list of leaders.

    Its ``WordLeader`` rows are every artwork holding it that ranks at or above the floor: a
    higher impact, or the floor's impact and an AIC id no higher than ``floor_aic_id``.
    """

    lexeme = models.TextField(primary_key=True)
    floor_impact = models.FloatField()
    floor_aic_id = models.IntegerField()

    def __str__(self) -> str:
        return self.lexeme


class WordLeader(models.Model):
    """One of the artworks ranked best for a frequent word alone, by ``impact`` then AIC id.

    ``impact`` is ts_rank(search_document, the word, 0): how much the word adds to an artwork's
    full-text rank. Rows are written by ``catalog.word_leaders`` and by triggers on the artwork
    table (migration 0004), like an index: the ORM only reads them.
    """

    pk = models.CompositePrimaryKey("lexeme", "artwork")
    lexeme = models.TextField()
    artwork = models.ForeignKey(Artwork, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    aic_id = models.IntegerField()
    impact = models.FloatField()

    class Meta:
        indexes = [
            # A word's leaders best first, read in order and stopped after a page.
            models.Index(fields=["lexeme", "-impact", "aic_id"], name="word_leader_rank"),
            models.Index(fields=["artwork"], name="word_leader_artwork"),
        ]

    def __str__(self) -> str:
        return f"{self.lexeme}: {self.aic_id}"


class SyncRun(models.Model):
    """One harvest: where it started, what it saw, and every record it could not store."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial", "succeeded with quarantined records"
        FAILED = "failed"
        SKIPPED = "skipped", "skipped (another run was in progress)"

    # A walk that is RUNNING and whose process is gone (a time limit, a lost worker, a deploy) is
    # continued by the next harvest task from ``page``: the checkpoint is written after every page.

    source = models.CharField(max_length=500, help_text="'api' or the dump folder imported")
    full = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    cursor_start = models.DateTimeField(null=True, blank=True, help_text="Stop at records older than this.")
    cursor = models.DateTimeField(null=True, blank=True, help_text="Where the next incremental run stops.")
    requests = models.PositiveIntegerField(default=0)
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors: models.JSONField[list[dict[str, Any]]] = models.JSONField(default=list, blank=True)

    # Checkpoint of an API walk, saved after every page.
    page = models.PositiveIntegerField(default=0, help_text="Pages stored so far (the walk resumes after it).")
    total_pages = models.PositiveIntegerField(null=True, blank=True, help_text="Pages the source reported.")
    newest_seen = models.DateTimeField(null=True, blank=True, help_text="Newest updated_at stored by this walk.")
    source_newest = models.DateTimeField(
        null=True, blank=True, help_text="Newest updated_at the source listed when the walk began."
    )
    checkpoint_at = models.DateTimeField(null=True, blank=True)
    oldest_failed = models.DateTimeField(
        null=True, blank=True, help_text="Oldest updated_at of a quarantined record: the cursor stops there."
    )
    tasks = models.PositiveIntegerField(default=0, help_text="Tasks (or commands) that worked on this walk.")
    # Reconciliation after a complete walk (full harvests and full dump imports).
    withdrawn = models.PositiveIntegerField(default=0)
    restored = models.PositiveIntegerField(default=0)
    withdrawal_held = models.TextField(
        blank=True, help_text="Why withdrawals were not made: they wait for a curator to approve them."
    )

    class Meta:
        ordering = ["-started_at"]
        permissions = [
            ("approve_withdrawal", "Can approve a mass withdrawal held by a reconcile"),
            ("run_harvest", "Can start a harvest from the jobs dashboard"),
        ]

    def __str__(self) -> str:
        return f"SyncRun {self.pk} {self.source} {self.status}"

    def summary(self) -> str:
        """One line for a command's output: the run's status and its counts."""
        return (
            f"SyncRun {self.pk} {self.status}: seen {self.seen}, created {self.created}, updated {self.updated}, "
            f"unchanged {self.unchanged}, failed {self.failed}, requests {self.requests}, "
            f"withdrawn {self.withdrawn}, restored {self.restored}"
        )

    @property
    def is_api(self) -> bool:
        return self.source == "api"

    @classmethod
    def last_cursor(cls) -> Any:
        """The cursor of the newest finished run that set one (an API walk, or a dump import, which
        sets it to the dump's newest record), or None (harvest everything)."""
        run = (
            cls.objects.filter(status__in=[cls.Status.SUCCEEDED, cls.Status.PARTIAL])
            .exclude(cursor=None)
            .order_by("-started_at")
            .first()
        )
        return run.cursor if run else None
