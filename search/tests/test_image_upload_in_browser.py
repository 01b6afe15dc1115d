"""Search by image from the page, in Chromium, against a live server that enforces CSRF.

A visitor chooses a sample JPEG and sees similar artworks; a 30 MB file, a file that is not an
image and a picture of too many pixels are each refused with the reason on the page, with and
without JavaScript; and no upload leaves a file in any temporary directory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile

from catalog.models import Artwork
from conftest import SAMPLE_DIR
from museum_site.tests.hostile_images import decompression_bomb_png
from search.tests.conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)

THIRTY_MB = 30 * 1024 * 1024


def _entries(folder: Path) -> set[Path]:
    return set(folder.rglob("*")) if folder.exists() else set()


@pytest.fixture
def temporary_files(tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Where a temporary upload file would go, watched: the names of any made (there must be none).

    The process's temporary directory and FILE_UPLOAD_TEMP_DIR point into a folder of this test's own
    (other work on the machine writes to the shared one); Django's temporary uploads, named
    ``*.upload*``, are looked for in the shared one as well.
    """
    shared = Path(tempfile.gettempdir())
    uploads_before = set(shared.glob("*.upload*"))
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    settings.FILE_UPLOAD_TEMP_DIR = str(private)
    made: list[str] = []
    original = TemporaryUploadedFile.__init__

    def watched(self: TemporaryUploadedFile, *args: Any, **kwargs: Any) -> None:
        made.append(str(args[:1] or kwargs.get("name")))
        original(self, *args, **kwargs)

    monkeypatch.setattr(TemporaryUploadedFile, "__init__", watched)
    yield made
    assert made == []
    assert _entries(private) == set()
    assert set(shared.glob("*.upload*")) - uploads_before == set()


@pytest.fixture
def hostile_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "big": tmp_path / "holiday.jpg",
        "text": tmp_path / "notes.jpg",
        "pixels": tmp_path / "poster.png",
    }
    with files["big"].open("wb") as out:  # 30 MB: over IMAGE_MAX_BYTES (20 MB)
        out.write(b"\xff\xd8\xff\xe0")
        out.truncate(THIRTY_MB)
    files["text"].write_bytes(b"not a picture at all\n" * 50)
    files["pixels"].write_bytes(decompression_bomb_png(6300, rgb=True))  # 40 MP, 116 KB
    return files


def _search_with(page: Any, path: Path) -> Any:
    page.set_input_files("input[name=image]", str(path))
    with page.expect_response(lambda response: response.url.endswith("/search/image")) as answer:
        page.click("button:has-text('Find similar artworks')")
    return answer.value


def test_a_visitor_searches_by_image_and_sees_why_an_upload_is_refused(
    page: Any,
    live_server: Any,
    indexed: list[Artwork],
    hostile_files: dict[str, Path],
    temporary_files: list[str],
) -> None:
    artwork = indexed[3]
    sample = SAMPLE_DIR / "images" / f"{artwork.image_id}.jpg"
    page.goto(f"{live_server.url}/")
    page.click("summary:has-text('Search by image')")

    found = _search_with(page, sample)
    assert found.status == 200
    page.wait_for_selector("#results .card")
    assert "Artworks that look like your image" in page.locator("#results .summary").inner_text()
    first = page.locator("#results .card a.result-link").first.get_attribute("href")
    assert first == f"/artworks/{artwork.aic_id}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "07-search-by-image.png"), full_page=True)

    refusals = [
        ("big", 413, "image is over 20971520 bytes (20 MB)"),
        ("text", 400, "image type unknown is not accepted"),
        ("pixels", 400, "image is 6300x6300 pixels (limit 24000000)"),
    ]
    for name, status, message in refusals:
        refused = _search_with(page, hostile_files[name])
        assert refused.status == status, name
        page.wait_for_selector(f"#results .error:has-text('{message}')")
        assert page.locator("#results .card").count() == 0
        page.screenshot(path=str(SCREENSHOTS / f"08-upload-refused-{name}.png"), full_page=True)

    # The form is still good after the refusals: its CSRF token was not spent.
    assert _search_with(page, sample).status == 200
    page.wait_for_selector("#results .card")


def test_without_javascript_a_refused_upload_is_a_page_saying_why(
    browser: Any, live_server: Any, db: None, hostile_files: dict[str, Path], temporary_files: list[str]
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/")
        page.click("summary:has-text('Search by image')")
        page.set_input_files("input[name=image]", str(hostile_files["big"]))
        with page.expect_navigation() as navigation:
            page.click("button:has-text('Find similar artworks')")
        assert navigation.value.status == 413
        assert "image is over 20971520 bytes" in page.locator("#results .error").inner_text()
        assert page.locator("input[name=image]").count() == 1  # the whole page, to try again
    finally:
        context.close()
