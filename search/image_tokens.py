"""An uploaded image's vector kept in Redis under a short-lived, unguessable token, so its search can be paged.

The token's key holds the vector (raw float32 bytes) and which model made it, nothing else: the
upload itself is dropped once embedded (search/image_query.py). The key lives
IMAGE_SEARCH_TOKEN_SECONDS in the search caches' Redis (SEARCH_QUERY_CACHE_URL). A token made
under another model than the active one is refused: its vector means nothing to the new index.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets

import numpy as np
import redis
from django.conf import settings

from core.logging_limits import warn_limited
from embeddings.models import EmbeddingModel
from search.query_cache import cache_client
from search.types import SearchError

logger = logging.getLogger(__name__)

_KEY_PREFIX = "museum:image-token:v1"
# 24 URL-safe characters: 144 random bits, and nothing else a client can send matches the pattern.
_TOKEN_BYTES = 18
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{24}")


def token_key(token: str) -> str:
    return f"{_KEY_PREFIX}:{token}"


def model_fingerprint(model: EmbeddingModel) -> str:
    """The model's weights, not just its row: a model re-registered with new weights keeps its pk."""
    return hashlib.sha256(f"{model.architecture}\0{model.pretrained}\0{model.dimension}".encode()).hexdigest()[:16]


def keep_vector(model: EmbeddingModel, vector: np.ndarray) -> str | None:
    """Store ``vector`` under a new token for IMAGE_SEARCH_TOKEN_SECONDS; the token, or None when Redis
    is away (the first page is still answered, it just cannot be paged)."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    fields = {
        "vector": np.asarray(vector, dtype=np.float32).tobytes(),
        "model": str(model.pk),
        "weights": model_fingerprint(model),
    }
    try:
        with cache_client().pipeline(transaction=True) as pipeline:
            pipeline.hset(token_key(token), mapping=fields)  # type: ignore[arg-type]
            pipeline.expire(token_key(token), settings.IMAGE_SEARCH_TOKEN_SECONDS)
            pipeline.execute()
    except redis.RedisError as exc:
        warn_limited(logger, "redis", "image search token not kept, Redis unavailable: %s", exc)
        return None
    return token


def expired_message() -> str:
    return (
        f"this image search has expired (an upload is kept {settings.IMAGE_SEARCH_TOKEN_SECONDS} s) "
        "or its token is unknown: upload the image again"
    )


def vector_for_token(model: EmbeddingModel, token: str) -> np.ndarray:
    """The vector kept under ``token`` for ``model`` (the active one).

    SearchError 400 for a token that is not one this site makes; 410 for one that expired, is unknown,
    or was made under another model (then the image must be uploaded again).
    """
    if not _TOKEN_PATTERN.fullmatch(token):
        raise SearchError("token is not an image search token: upload the image again")
    fields = cache_client().hgetall(token_key(token))
    vector = fields.get(b"vector") if isinstance(fields, dict) else None
    if not isinstance(vector, bytes):
        raise SearchError(expired_message(), status=410)
    same_model = fields.get(b"model") == str(model.pk).encode() and fields.get(b"weights") == (
        model_fingerprint(model).encode()
    )
    if not same_model or len(vector) != model.dimension * 4:
        raise SearchError(
            f"this image search was made under another model; the active model is now {model.name}: "
            "upload the image again",
            status=410,
        )
    return np.frombuffer(vector, dtype=np.float32).copy()
