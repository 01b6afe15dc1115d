"""The search app's models."""

from __future__ import annotations

from search.models_log import SearchClick, SearchLogEntry

__all__ = ["SearchClick", "SearchLogEntry"]
