"""A collection of distinct cached images and their artworks, grown from the bundled sample.

The sample holds 279 real AIC images as IIIF serves them (JPEG, 448 px on the long side).
Benchmarks need more: each further copy is cropped, mirrored and toned a little differently
and saved again as JPEG, so every file is a different image of the same size and kind.
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageEnhance

from bench.environment import ROOT

SAMPLE_IMAGES = ROOT / "sample_data" / "aic" / "images"
BENCH_AIC_ID_BASE = 900_000_000  # far above real AIC ids


def _variant(source: bytes, variant: int) -> bytes:
    if variant == 0:
        return source
    image = Image.open(io.BytesIO(source)).convert("RGB")
    width, height = image.size
    margin = 0.02 * (1 + variant % 5)
    image = image.crop((int(width * margin), int(height * margin), int(width * (1 - margin)), int(height * 0.99)))
    if variant % 2:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Color(image).enhance(0.8 + 0.1 * (variant % 5))
    image = image.resize((width, height), Image.Resampling.BICUBIC)  # back to the size IIIF served
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def image_ids(count: int) -> list[str]:
    """IIIF-style identifiers of the first ``count`` benchmark images (stable from run to run)."""
    return [f"bench-{index:06d}-{hashlib.sha256(str(index).encode()).hexdigest()[:12]}" for index in range(count)]


def ensure_cached_images(count: int) -> list[str]:
    """Write ``count`` distinct images into the image cache (once); returns their image ids."""
    from embeddings.images.iiif_cache import ImageCache

    cache = ImageCache.from_settings()
    sources = sorted(SAMPLE_IMAGES.glob("*.jpg"))
    ids = image_ids(count)

    def write(index: int) -> None:
        path: Path = cache.path_for(ids[index])
        if path.exists():
            return
        data = _variant(sources[index % len(sources)].read_bytes(), index // len(sources))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)

    # Decoding, resizing and encoding release the GIL: threads use every core.
    with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        list(pool.map(write, range(count)))
    return ids


def ensure_artworks(count: int) -> list[int]:
    """``count`` artworks whose images are the cached benchmark images; returns their primary keys."""
    from catalog.models import Artwork

    ids = ensure_cached_images(count)
    wanted = {BENCH_AIC_ID_BASE + index: image_id for index, image_id in enumerate(ids)}
    present = set(Artwork.objects.filter(aic_id__in=wanted).values_list("aic_id", flat=True))
    Artwork.objects.bulk_create(
        [
            Artwork(aic_id=aic_id, title=f"Benchmark artwork {aic_id}", image_id=image_id, content_hash="bench")
            for aic_id, image_id in wanted.items()
            if aic_id not in present
        ],
        batch_size=1000,
    )
    return list(Artwork.objects.filter(aic_id__in=wanted).order_by("aic_id").values_list("pk", flat=True))
