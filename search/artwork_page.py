"""What an artwork's page offers besides the record: its image links (deep zoom, IIIF manifest, a
download of a public-domain image) and a citation to copy."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from catalog.models import Artwork

# The width of a downloaded image: AIC serves public-domain images this wide (the larger sizes are
# not open to every image).
DOWNLOAD_WIDTH = 843
AIC_NAME = "The Art Institute of Chicago"


def artist_name(artwork: Artwork) -> str:
    """The artist as a citation names them: the first line of ``artist_display``, without the
    "(French, 1840-1926)" some records add to it."""
    return artwork.artist_display.split("\n", 1)[0].split(" (", 1)[0].strip()


def aic_page_url(artwork: Artwork) -> str:
    return f"https://www.artic.edu/artworks/{artwork.aic_id}"


def credit_line(artwork: Artwork) -> str:
    """How the museum acquired the artwork, as AIC credits it ("" for a record harvested without it)."""
    value = artwork.raw.get("credit_line") if isinstance(artwork.raw, dict) else None
    return " ".join(value.split()) if isinstance(value, str) else ""


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


def citation(artwork: Artwork) -> str:
    """ "Artist, Title, date. Medium. The Art Institute of Chicago, credit line. URL", leaving out
    what the record lacks."""
    head = ", ".join(
        part
        for part in (artist_name(artwork), artwork.title.strip() or _("Untitled"), artwork.date_display.strip())
        if part
    )
    parts = [_sentence(head)]
    if artwork.medium_display.strip():
        parts.append(_sentence(artwork.medium_display))
    credit = credit_line(artwork)
    parts.append(_sentence(f"{AIC_NAME}, {credit}" if credit else AIC_NAME))
    parts.append(aic_page_url(artwork))
    return " ".join(parts)


def image_links(artwork: Artwork) -> dict[str, str]:
    """The image, its deep-zoom description (info.json), the IIIF manifest, and the download link,
    which only a public-domain image has ("" where the artwork has no image)."""
    iiif = settings.AIC_IIIF_URL
    has_image = bool(artwork.image_id)
    return {
        "image_url": artwork.iiif_image_url(iiif, "843,"),
        "zoom_url": artwork.iiif_image_url(iiif, "1686,"),
        "iiif_info_url": f"{iiif}/{artwork.image_id}/info.json" if has_image else "",
        "manifest_url": f"{settings.AIC_API_URL}/artworks/{artwork.aic_id}/manifest.json",
        "download_url": (
            artwork.iiif_image_url(iiif, f"{DOWNLOAD_WIDTH},") if has_image and artwork.is_public_domain else ""
        ),
    }
