"""The search log: what visitors searched for and which result they opened, and nothing about who they are.

An entry holds the query as normalised text, the mode, the filters, how many results the page showed and
which page it was, under a random id minted for that one search; a click holds that id and the rank and
artwork opened. No address, user agent, user or cookie is kept (docs/security.md, Search log). Entries
reach these tables from a Redis buffer in bulk (search/log.py) and leave them after SEARCH_LOG_DAYS.
"""

from __future__ import annotations

from django.db import models


class SearchLogEntry(models.Model):
    """One search as a visitor or an API client made it."""

    class Source(models.TextChoices):
        PAGE = "page", "search page"
        API = "api", "JSON API"

    # Minted for this search: the page's result links carry it, so a click names its search and no visitor.
    search_id = models.UUIDField(unique=True)
    query = models.CharField(max_length=1000, help_text="lower-cased, whitespace collapsed, accents kept")
    mode = models.CharField(max_length=16)
    filters = models.JSONField(default=dict, blank=True)
    result_count = models.PositiveIntegerField(help_text="results on the page shown")
    page = models.PositiveIntegerField(default=1)
    source = models.CharField(max_length=8, choices=Source.choices)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "search log entry"
        verbose_name_plural = "search log entries"
        indexes = [models.Index(fields=["query", "created_at"], name="search_log_query_time")]

    def __str__(self) -> str:
        return f"{self.query!r} ({self.source}, {self.result_count} results)"


class SearchClick(models.Model):
    """A result a visitor opened from a search page."""

    # Minted when the click is buffered: a flush that runs twice stores it once.
    click_id = models.UUIDField(unique=True)
    search = models.ForeignKey(
        SearchLogEntry, on_delete=models.CASCADE, to_field="search_id", related_name="clicks", db_column="search_id"
    )
    aic_id = models.PositiveIntegerField()
    rank = models.PositiveIntegerField(help_text="1 is the first result of the first page")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "search click"

    def __str__(self) -> str:
        return f"rank {self.rank} (artwork {self.aic_id})"
