"""The judged query set: JSON Lines, one query a line, each with its relevant artworks graded 1 to 3.

``{"query": "...", "kind": "title", "relevant": {"<aic_id>": grade, ...}, "filters": {...}}``; ``filters``
(optional) are the API's filter parameters, ``kind`` groups the figures, other keys are notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from search.filters import SearchFilters

GRADES = (1, 2, 3)
_FILTER_NAMES = {f.name for f in fields(SearchFilters)}


class JudgmentError(ValueError):
    """A line of a query file that cannot be read: the message names the line."""


@dataclass(frozen=True)
class JudgedQuery:
    query: str
    kind: str
    relevant: dict[int, int]
    filters: SearchFilters = field(default_factory=SearchFilters)


def load_judged_queries(path: Path) -> list[JudgedQuery]:
    """Every query of the file, in its order; JudgmentError naming the first bad line."""
    queries = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                queries.append(parse_judged_query(json.loads(line)))
            except (json.JSONDecodeError, JudgmentError, TypeError, ValueError) as exc:
                raise JudgmentError(f"{path}:{number}: {exc}") from None
    if not queries:
        raise JudgmentError(f"{path} holds no query")
    return queries


def parse_judged_query(data: Any) -> JudgedQuery:
    if not isinstance(data, dict):
        raise JudgmentError("a line must be a JSON object")
    query, kind, relevant = data.get("query"), data.get("kind"), data.get("relevant")
    if not isinstance(query, str) or not query.strip():
        raise JudgmentError("'query' must be a non-empty string")
    if not isinstance(kind, str) or not kind:
        raise JudgmentError("'kind' must be a non-empty string")
    if not isinstance(relevant, dict) or not relevant:
        raise JudgmentError("'relevant' must map at least one AIC id to a grade")
    grades: dict[int, int] = {}
    for aic_id, grade in relevant.items():
        if not str(aic_id).isdigit() or isinstance(grade, bool) or grade not in GRADES:
            raise JudgmentError(f"'relevant': {aic_id!r}: {grade!r} is not an AIC id graded 1, 2 or 3")
        grades[int(aic_id)] = int(grade)
    raw_filters = data.get("filters") or {}
    if not isinstance(raw_filters, dict) or not set(raw_filters) <= _FILTER_NAMES:
        raise JudgmentError(f"'filters' may only name {', '.join(sorted(_FILTER_NAMES))}")
    return JudgedQuery(query=query, kind=kind, relevant=grades, filters=SearchFilters(**raw_filters))
