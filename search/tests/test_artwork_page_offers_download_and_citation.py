"""An artwork's page links its IIIF manifest, offers a download of a public-domain image only, and a
citation: "Artist, Title, date. Medium. The Art Institute of Chicago, credit line. URL"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.harvest import import_dump
from catalog.models import Artwork
from conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db(transaction=True)

MONET = 16571  # Arrival of the Normandy Train, Gare Saint-Lazare: public domain, with a credit line


@pytest.fixture
def catalog(aic: Any) -> None:
    import_dump(SAMPLE_DIR / "records")


def test_the_citation_names_artist_title_date_medium_credit_and_link(client: Client, catalog: None) -> None:
    html = client.get(f"/artworks/{MONET}").content.decode()
    assert (
        '<p id="citation-text" class="citation-text">Claude Monet, Arrival of the Normandy Train, Gare Saint-Lazare, '
        "1887. Oil on canvas. The Art Institute of Chicago, Mr. and Mrs. Martin A. Ryerson Collection. "
        f"https://www.artic.edu/artworks/{MONET}</p>"
    ) in html
    # The copy button waits for the script that can copy.
    assert '<button type="button" class="copy-citation" data-copy="citation-text" hidden>' in html


def test_a_record_without_a_credit_line_or_medium_is_cited_without_them(client: Client, catalog: None) -> None:
    artwork = Artwork.objects.get(aic_id=MONET)
    Artwork.objects.filter(pk=artwork.pk).update(raw={}, medium_display="", artist_display="", date_display="")
    html = client.get(f"/artworks/{MONET}").content.decode()
    expected = f"Arrival of the Normandy Train, Gare Saint-Lazare. The Art Institute of Chicago. https://www.artic.edu/artworks/{MONET}"
    assert f'class="citation-text">{expected}</p>' in html


def test_only_a_public_domain_image_can_be_downloaded(client: Client, catalog: None, settings: Any) -> None:
    artwork = Artwork.objects.get(aic_id=MONET)
    html = client.get(f"/artworks/{MONET}").content.decode()
    download = f"{settings.AIC_IIIF_URL}/{artwork.image_id}/full/843,/0/default.jpg"
    assert f'<a class="download-link" href="{download}" download>' in html
    manifest = f"{settings.AIC_API_URL}/artworks/{MONET}/manifest.json"
    assert f'<a class="manifest-link" href="{manifest}"' in html
    assert f'data-iiif-info="{settings.AIC_IIIF_URL}/{artwork.image_id}/info.json"' in html

    Artwork.objects.filter(pk=artwork.pk).update(is_public_domain=False)
    html = client.get(f"/artworks/{MONET}").content.decode()
    assert "download-link" not in html
    assert "Download image" not in html
    assert f'<a class="manifest-link" href="{manifest}"' in html  # the rest stays
