"""Turning one AIC artwork record (the API's ``data`` object) into Artwork fields."""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.utils.dateparse import parse_datetime
from django.utils.html import strip_tags

# The fields harvest asks the API for (``fields=``): what Artwork stores (credit_line only in raw, for
# the citation on the artwork page).
AIC_FIELDS = (
    "id,title,artist_display,artist_title,date_display,date_start,date_end,place_of_origin,medium_display,dimensions,"
    "description,short_description,thumbnail,department_title,artwork_type_title,classification_titles,"
    "style_titles,subject_titles,term_titles,is_public_domain,is_on_view,image_id,updated_at,credit_line"
)

# Keys that change on every response without the artwork changing.
_VOLATILE_KEYS = {"_score", "timestamp", "api_link", "api_model", "is_boosted", "suggest_autocomplete_all"}
_MAX_TEXT = 1_000_000
_MAX_ID = 2_147_483_647
_IMAGE_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


class RecordError(ValueError):
    """A record that cannot be stored; the message says why."""


@dataclass(frozen=True)
class ParsedRecord:
    aic_id: int
    fields: dict[str, Any]
    content_hash: str
    updated_at: datetime | None
    raw_json: str = ""  # fields["raw"] as JSON text, as the database stores it


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, paragraphs kept."""
    text = re.sub(r"(?i)<\s*(br|/p|/li|/div)\s*/?>", "\n", markup)
    text = html.unescape(strip_tags(text))
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def loads(data: bytes | str) -> Any:
    """Parse JSON text, or raise ValueError where it is not JSON.

    orjson parses about twice as fast as the standard library; the text it refuses goes through
    the standard library under the same rules. Integers beyond 64 bits become the nearest double,
    as in most JSON parsers (RFC 8259 calls them not interoperable). NaN, Infinity and numbers
    beyond a double, which PostgreSQL's jsonb cannot hold, become ``InvalidNumber``: the record
    holding one is refused (``RecordError``) and the rest of a page is stored. A lone surrogate
    escape (half an emoji) is accepted and made storable (``storable``).
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data, parse_constant=InvalidNumber, parse_float=_float, parse_int=_int64_or_double)


class InvalidNumber:
    """A number in JSON text that JSON data cannot hold (NaN, Infinity, 1e400), as written.

    Not a dataclass: orjson would serialise one, and it must refuse this.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _float(text: str) -> float | InvalidNumber:
    value = float(text)
    return value if math.isfinite(value) else InvalidNumber(text)


def _int64_or_double(text: str) -> int | float | InvalidNumber:
    value = int(text)
    return value if -(2**63) <= value < 2**64 else _float(text)


def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the record without its volatile keys, as canonical JSON (sorted keys, no spaces)."""
    stable = {key: value for key, value in record.items() if key not in _VOLATILE_KEYS}
    try:
        encoded = orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits, or a value that is not JSON data
        encoded = json.dumps(stable, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


def parse_record(record: Any) -> ParsedRecord:
    """Validate one record and map it to Artwork fields. Raises RecordError with the reason."""
    if not isinstance(record, dict):
        raise RecordError(f"record is a {type(record).__name__}, not an object")
    record, raw_json = storable_json(record)
    aic_id = record.get("id")
    if isinstance(aic_id, bool) or not isinstance(aic_id, int) or not 0 < aic_id <= _MAX_ID:
        raise RecordError(f"id {aic_id!r} is not a positive integer")
    updated_at = _datetime(record, "updated_at")
    thumbnail = record.get("thumbnail")
    description_html = _text(record, "description")
    image_id = _text(record, "image_id")
    if image_id and not _IMAGE_ID.match(image_id):
        raise RecordError(f"image_id {image_id[:80]!r} is not a IIIF identifier")
    fields: dict[str, Any] = {
        "title": _text(record, "title"),
        "artist_display": _text(record, "artist_display"),
        "artist_title": _text(record, "artist_title"),
        "date_display": _text(record, "date_display"),
        "date_start": _year(record, "date_start"),
        "date_end": _year(record, "date_end"),
        "place_of_origin": _text(record, "place_of_origin"),
        "medium_display": _text(record, "medium_display"),
        "dimensions": _text(record, "dimensions"),
        "description_html": description_html,
        "description": html_to_text(description_html) if description_html else "",
        "short_description": html_to_text(_text(record, "short_description")),
        "alt_text": _text(thumbnail, "alt_text") if isinstance(thumbnail, dict) else "",
        "department_title": _text(record, "department_title"),
        "artwork_type_title": _text(record, "artwork_type_title"),
        "classification_titles": _titles(record, "classification_titles"),
        "style_titles": _titles(record, "style_titles"),
        "subject_titles": _titles(record, "subject_titles"),
        "term_titles": _titles(record, "term_titles"),
        "is_public_domain": record.get("is_public_domain") is True,
        "is_on_view": record.get("is_on_view") is True,
        "image_id": image_id,
        "aic_updated_at": updated_at,
        "raw": record,
    }
    return ParsedRecord(
        aic_id=aic_id, fields=fields, content_hash=content_hash(record), updated_at=updated_at, raw_json=raw_json
    )


def storable_json(record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``storable(record)`` and its JSON text.

    Nearly every record is storable as it comes: one serialisation (orjson, in C) shows that, and
    its text is what the database stores, so the walk through every string is left for the rare
    record that needs it.
    """
    try:
        encoded = orjson.dumps(record)  # raises on a lone surrogate (not UTF-8)
        if b"\\u0000" not in encoded:  # a NUL is written as this escape (so is a literal "\\u0000": walked too)
            return record, encoded.decode()
    except TypeError:  # a lone surrogate, an InvalidNumber, or not plain JSON data: walk it
        pass
    cleaned = storable(record)
    return cleaned, json.dumps(cleaned, ensure_ascii=False)


def storable(value: Any) -> Any:
    """``value`` with every string made storable by PostgreSQL: NUL characters removed (text and jsonb
    cannot hold them) and lone UTF-16 surrogates (half an emoji, from a JSON ``\\ud83c`` escape)
    replaced by U+FFFD (UTF-8 cannot encode them). RecordError where it holds an InvalidNumber."""
    if isinstance(value, str):
        return _storable_text(value)
    if isinstance(value, InvalidNumber):
        raise RecordError(f"the record holds {value.text[:40]}, which is not a number JSON can store")
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable_text(str(key)): storable(item) for key, item in value.items()}
    return value


def _storable_text(text: str) -> str:
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def record_updated_at(record: Any) -> datetime | None:
    """The record's ``updated_at``, or None when it is missing or unreadable (for cursors)."""
    if not isinstance(record, dict):
        return None
    try:
        return _datetime(record, "updated_at")
    except RecordError:
        return None


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RecordError(f"{key} is a {type(value).__name__}, not text")
    if len(value) > _MAX_TEXT:
        raise RecordError(f"{key} is {len(value)} characters long (limit {_MAX_TEXT})")
    return value.strip()  # already storable (parse_record)


def _year(record: dict[str, Any], key: str) -> int | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -100_000 < value < 100_000:
        raise RecordError(f"{key} {value!r} is not a year")
    return int(value)


def _titles(record: dict[str, Any], key: str) -> list[str]:
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RecordError(f"{key} is not a list of strings")
    return list(value)


def _datetime(record: dict[str, Any], key: str) -> datetime | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key} {value!r} is not a date-time")
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise RecordError(f"{key} {value!r} is not an ISO 8601 date-time with a time zone")
    return parsed
