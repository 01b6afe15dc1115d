from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from catalog.harvest import import_dump, sync_from_api
from catalog.models import Artwork
from conftest import ROOT, SAMPLE_DIR
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from embeddings.pipeline import embed_artworks

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "screenshots"))


@pytest.fixture
def record_statements(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """Call it to list, from then on, the SQL each psycopg cursor runs (the search's statements bypass
    Django's cursor)."""

    def start() -> list[str]:
        run: list[str] = []
        execute: Callable[..., Any] = psycopg.Cursor.execute

        def counted(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
            run.append(str(query))
            return execute(cursor, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counted)
        return run

    return start


@pytest.fixture
def indexed(aic: Any, embedding_model: Any) -> list[Artwork]:
    """Thirty harvested artworks embedded under the active model (in this process)."""
    sync_from_api(limit=30)
    artworks = list(Artwork.objects.exclude(image_id="").order_by("pk"))
    result = embed_artworks([a.pk for a in artworks], embedding_model)
    assert len(result.embedded) == len(artworks)
    return artworks


@pytest.fixture(scope="session")
def shared_image_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One image cache for every test that loads the whole sample, so each image is fetched once."""
    return tmp_path_factory.mktemp("collection_images")


# Image vectors of the sample under the session's test model, by image id: the pipeline embeds the
# collection once per session, later tests store the same vectors again (as a re-run would write them).
_SAMPLE_VECTORS: dict[tuple[str, str], Any] = {}


@pytest.fixture
def collection(aic: Any, embedding_model: Any, settings: Any, shared_image_cache: Path) -> list[Artwork]:
    """The whole sample collection (315 records), every image embedded under the active model."""
    settings.IMAGE_CACHE_DIR = shared_image_cache
    # Load the catalog while no model is active, so nothing is queued for a Celery worker (one may be
    # running for other tests) that would write vectors while a test sets them.
    EmbeddingModel.objects.filter(pk=embedding_model.pk).update(is_active=False)
    import_dump(SAMPLE_DIR / "records")
    embedding_model.activate()
    artworks = list(Artwork.objects.order_by("pk"))
    with_image = [a for a in artworks if a.image_id]
    known = [a for a in with_image if (embedding_model.pretrained, a.image_id) in _SAMPLE_VECTORS]
    if len(known) < len(with_image):
        result = embed_artworks([a.pk for a in with_image], embedding_model)
        assert len(result.embedded) == len(with_image), result.failed
        for row in ArtworkEmbedding.objects.filter(model=embedding_model):
            _SAMPLE_VECTORS[(embedding_model.pretrained, row.image_id)] = row.vector
    else:
        ArtworkEmbedding.objects.bulk_create(
            ArtworkEmbedding(
                artwork=a,
                model=embedding_model,
                image_id=a.image_id,
                vector=_SAMPLE_VECTORS[(embedding_model.pretrained, a.image_id)],
            )
            for a in with_image
        )
    return artworks


# --- A real browser (headless Chromium driven by Playwright), for the tests that use the site as people do ---


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `make tools` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make are still sync.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    from django.core.cache import cache

    cache.clear()  # the filter menus are cached; another test's collection may be in there
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
