"""Vectors as binary statement parameters, on the psycopg connection beneath Django's.

The ORM sends a vector as text: 512 decimals printed in Python (about half a millisecond) and
parsed back by PostgreSQL. pgvector's binary format is the float32 values themselves. Statements
run this way bypass Django's cursor wrappers, so callers wrap them in
``connection.wrap_database_errors`` where Django must learn that the connection failed.
"""

from __future__ import annotations

import weakref
from typing import Any

import psycopg
from django.db import connection
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo

_vector_types: weakref.WeakKeyDictionary[psycopg.Connection[Any], TypeInfo] = weakref.WeakKeyDictionary()


def raw_connection() -> psycopg.Connection[Any]:
    """This thread's database connection as psycopg's own object (connecting first if needed)."""
    connection.ensure_connection()
    raw: psycopg.Connection[Any] = connection.connection
    return raw


def vector_cursor(raw: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    """A server-binding cursor on ``raw`` that sends numpy arrays as pgvector's binary ``vector``.

    The adapters stay local to the cursor; the type is looked up once per connection.
    """
    vector_type = _vector_types.get(raw)
    if vector_type is None:
        found = TypeInfo.fetch(raw, "vector")
        if found is None:
            raise RuntimeError("the database has no vector type: CREATE EXTENSION vector (the migrations do)")
        vector_type = _vector_types[raw] = found
    cursor = psycopg.Cursor(raw)
    register_vector_info(cursor, vector_type)  # type: ignore[arg-type]  # any adapt context works
    return cursor
