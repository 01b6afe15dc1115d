"""Tables an app adds to the jobs dashboard without the dashboard importing it.

An app registers a function that returns its tables (from its AppConfig.ready); the operations
dashboard shows whatever is registered. So a report about searches lives with the search app, and
operations, on the same floor, never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DashboardTable:
    """A short table: a title, column names, rows, and what to say when there are none."""

    key: str  # the HTML id of its box
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]
    empty: str
    note: str = ""
    section: str = ""  # tables of one section are shown under one heading


@dataclass
class _Registry:
    providers: list[Callable[[], list[DashboardTable]]] = field(default_factory=list)


_registry = _Registry()


def register(provider: Callable[[], list[DashboardTable]]) -> None:
    """Show ``provider()``'s tables on the dashboard (registering the same function twice shows them once)."""
    if provider not in _registry.providers:
        _registry.providers.append(provider)


def tables() -> list[DashboardTable]:
    """Every registered provider's tables, in the order the providers were registered."""
    return [table for provider in _registry.providers for table in provider()]
