"""An image download that meets what passes (503 with Retry-After, a reset, a timeout, a refused
connection, a failed DNS lookup) is tried again, honouring Retry-After, and reads as transient when retries run out; what a
retry cannot change (404, bytes that are not an image, an image over the size limit) fails at once,
permanent. Against the fake AIC server over real HTTP."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE_DIR
from embeddings.images.iiif_cache import ImageCache
from embeddings.images.types import ImageError

IMAGE_ID = sorted(SAMPLE_DIR.glob("images/*.jpg"))[0].stem
IIIF = "/iiif/2/"


def _cache(aic: Any, tmp_path: Path, **options: Any) -> ImageCache:
    return ImageCache(root=tmp_path / "images", iiif_base=aic.iiif_url, width=64, limiter=None, **options)


def test_a_503_with_retry_after_is_retried_after_that_long_and_the_image_arrives(aic: Any, tmp_path: Path) -> None:
    aic.inject("503", path_prefix=IIIF, retry_after=1)
    cache = _cache(aic, tmp_path, backoff=0.01)
    started = time.monotonic()
    path = cache.fetch(IMAGE_ID)
    waited = time.monotonic() - started
    assert path.exists() and path.stat().st_size > 0
    assert [r.status for r in aic.requests if r.path.startswith(IIIF)] == [503, 200]
    assert 1.0 <= waited < 2.0  # the server's second, not the 0.01 s backoff


def test_a_retry_after_longer_than_the_cap_waits_only_the_cap(aic: Any, tmp_path: Path) -> None:
    aic.inject("429", path_prefix=IIIF, retry_after=3600)
    started = time.monotonic()
    _cache(aic, tmp_path, max_retry_after=0.2).fetch(IMAGE_ID)
    assert time.monotonic() - started < 1.0


def test_a_404_is_permanent_at_once_after_one_request(aic: Any, tmp_path: Path) -> None:
    with pytest.raises(ImageError) as raised:
        _cache(aic, tmp_path).fetch("no-such-image")
    assert not raised.value.transient and "404" in raised.value.reason
    assert aic.count(IIIF) == 1


@pytest.mark.parametrize(
    ("served", "max_bytes", "reason"),
    [(b"<html>gone</html>", 20_000_000, "not an image"), (b"\xff" * 5000, 4096, "bytes")],
    ids=["undecodable", "too-large"],
)
def test_an_undecodable_or_too_large_image_is_permanent_at_once(
    aic: Any, tmp_path: Path, served: bytes, max_bytes: int, reason: str
) -> None:
    aic.set_image_bytes(IMAGE_ID, served)
    with pytest.raises(ImageError, match=reason) as raised:
        _cache(aic, tmp_path, max_bytes=max_bytes).fetch(IMAGE_ID)
    assert not raised.value.transient
    assert aic.count(IIIF) == 1
    assert not list((tmp_path / "images").rglob("*.jpg"))


@pytest.mark.parametrize("kind", ["reset", "timeout", "503"])
def test_a_fault_that_outlasts_the_retries_is_transient(aic: Any, tmp_path: Path, kind: str) -> None:
    aic.inject(kind, path_prefix=IIIF, times=3, seconds=2)  # "timeout" answers after 2 s, the client waits 0.3
    cache = _cache(aic, tmp_path, max_retries=2, backoff=0.01, timeout=0.3)
    with pytest.raises(ImageError) as raised:
        cache.fetch(IMAGE_ID)
    assert raised.value.transient and "after 3 attempts" in raised.value.reason
    assert aic.count(IIIF) == 3
    assert cache.fetch(IMAGE_ID).exists()  # the fault over, the same cache fetches it


def _refusing_url() -> str:
    with socket.socket() as closed:  # a port nothing listens on once it is closed
        closed.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{closed.getsockname()[1]}/iiif/2"


@pytest.mark.parametrize(
    "base",
    [_refusing_url(), "http://images.invalid/iiif/2"],  # .invalid never resolves (RFC 6761)
    ids=["refused", "dns-failure"],
)
def test_a_refused_connection_or_failed_dns_lookup_is_transient(tmp_path: Path, base: str) -> None:
    cache = ImageCache(root=tmp_path, iiif_base=base, width=64, limiter=None, max_retries=1, backoff=0.01)
    with pytest.raises(ImageError) as raised:
        cache.fetch(IMAGE_ID)
    assert raised.value.transient and "ConnectionError" in raised.value.reason
