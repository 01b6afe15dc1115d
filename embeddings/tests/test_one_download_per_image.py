"""Fetchers that want the same image at once (a timed-out task's threads still running beside the task
that took its work over, two workers sharing a cache folder) download it once: the others wait for that
download and read the file. Against the fake AIC server over real HTTP, each fetcher with its own cache
object, as separate tasks have."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from conftest import SAMPLE_DIR
from embeddings.images.iiif_cache import ImageCache
from embeddings.images.types import ImageError

IMAGE_ID = sorted(SAMPLE_DIR.glob("images/*.jpg"))[0].stem
IIIF = "/iiif/2/"


def _fetch_together(aic: Any, root: Path, fetchers: int) -> list[Path | BaseException]:
    outcomes: list[Path | BaseException] = []
    start = threading.Barrier(fetchers)

    def fetch() -> None:
        cache = ImageCache(root=root, iiif_base=aic.iiif_url, width=64, limiter=None, backoff=0.01)
        start.wait()
        try:
            outcomes.append(cache.fetch(IMAGE_ID))
        except BaseException as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(fetchers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_fetchers_of_one_image_at_once_download_it_once(aic: Any, tmp_path: Path) -> None:
    aic.latency_s = 0.5  # every fetcher arrives while the first download is under way
    outcomes = _fetch_together(aic, tmp_path / "images", 4)

    assert [r.path for r in aic.requests if r.path.startswith(IIIF)] == [f"{IIIF}{IMAGE_ID}/full/64,/0/default.jpg"]
    assert len(outcomes) == 4 and len({str(outcome) for outcome in outcomes}) == 1
    path = outcomes[0]
    assert isinstance(path, Path) and path.stat().st_size > 0
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no lock file left behind


def test_a_failed_download_lets_the_next_fetcher_try_again(aic: Any, tmp_path: Path) -> None:
    aic.inject("corrupt_image", path_prefix=IIIF)
    first = _fetch_together(aic, tmp_path / "images", 1)
    second = _fetch_together(aic, tmp_path / "images", 1)

    assert isinstance(first[0], ImageError) and not first[0].transient
    assert isinstance(second[0], Path) and second[0].exists()
    assert [r.status for r in aic.requests if r.path.startswith(IIIF)] == [200, 200]
