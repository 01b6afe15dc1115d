"""Image-caption pairs for fine-tuning, from an open_clip style CSV or the catalog, and their split.

Images are decoded once and kept in memory, shrunk so their short side is ``image_side``:
enough for the sample's few hundred images, and it spares re-decoding full JPEGs every epoch.
"""

from __future__ import annotations

import csv
import hashlib
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from catalog.models import Artwork, visible_q
from embeddings.images.decoding import decode_image
from embeddings.images.iiif_cache import ImageCache
from embeddings.images.types import ImageError
from training.options import Example

CSV_IMAGE_COLUMN = "filepath"
CSV_CAPTION_COLUMN = "title"
MIN_EXAMPLES = 3
_MAX_IMAGE_BYTES = 50 * 1024 * 1024
_MAX_IMAGE_PIXELS = 40_000_000


class DatasetError(ValueError):
    """The source cannot give a usable dataset (missing file, missing columns, too few pairs)."""


@dataclass
class Skipped:
    key: str
    reason: str


@dataclass
class Dataset:
    """The examples a source gave, and the items it had to leave out."""

    examples: list[Example]
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class Split:
    train: list[Example]
    val: list[Example]
    test: list[Example]


def examples_from_csv(csv_path: Path, *, image_side: int | None = None, images_under: Path | None = None) -> Dataset:
    """Read ``filepath,title`` rows (paths relative to the CSV's folder); unreadable images are skipped.

    With ``images_under`` (a resolved folder), an image whose path leads outside it is skipped too.
    Errors name the file, the line and what is wrong, never the line itself: the file may not be a CSV.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"CSV file {csv_path} does not exist")
    rows = _read_csv_rows(csv_path)

    dataset = Dataset(examples=[])
    for relative_path, caption in rows:
        key = relative_path.strip()
        if not key or not caption.strip():
            dataset.skipped.append(Skipped(key, "empty file path or caption"))
            continue
        image_path = csv_path.parent / key
        if images_under is not None and not image_path.resolve().is_relative_to(images_under):
            dataset.skipped.append(Skipped(key, "outside TRAINING_DIR"))
            continue
        try:
            image = _read_image_file(image_path)
        except (OSError, ImageError) as exc:
            dataset.skipped.append(Skipped(key, str(exc)))
            continue
        dataset.examples.append(Example(key, caption.strip(), shrink(image, image_side)))
    return dataset


def _read_csv_rows(csv_path: Path) -> list[tuple[str, str]]:
    """(file path, caption) of each row after the header."""
    line = 1
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            header = handle.readline()
            handle.seek(0)
            # open_clip's own CSV loader defaults to tabs; accept either so its files work unchanged.
            delimiter = "\t" if "\t" in header and "," not in header else ","
            reader = csv.DictReader(handle, delimiter=delimiter)
            columns = reader.fieldnames or []
            missing = [name for name in (CSV_IMAGE_COLUMN, CSV_CAPTION_COLUMN) if name not in columns]
            if missing:
                # Not the columns it has: a file that is no CSV would show its first line here.
                raise DatasetError(
                    f"CSV {csv_path.name}: line 1 (the header) lacks column(s) {', '.join(missing)}; "
                    f"it needs {CSV_IMAGE_COLUMN} and {CSV_CAPTION_COLUMN}, comma- or tab-separated"
                )
            rows = []
            for row in reader:
                line = reader.line_num
                rows.append((row[CSV_IMAGE_COLUMN] or "", row[CSV_CAPTION_COLUMN] or ""))
    except UnicodeDecodeError:
        raise DatasetError(f"CSV {csv_path.name}: near line {line}, bytes that are not UTF-8 text") from None
    except csv.Error:
        raise DatasetError(f"CSV {csv_path.name}: near line {line}, a row that is not valid CSV") from None
    return rows


def examples_from_catalog(
    caption_template: str | None = None,
    *,
    image_side: int | None = None,
    image_cache: ImageCache | None = None,
) -> Dataset:
    """Visible artworks with an image; an image that cannot be had is skipped, not fatal."""
    if caption_template is not None:
        check_caption_template(caption_template)
    cache = image_cache or ImageCache.from_settings()
    dataset = Dataset(examples=[])
    artworks = Artwork.objects.filter(visible_q()).exclude(image_id="").order_by("aic_id")
    for artwork in artworks.iterator(chunk_size=500):
        key = str(artwork.aic_id)
        caption = artwork.caption() if caption_template is None else render_caption(caption_template, artwork)
        if not caption.strip():
            dataset.skipped.append(Skipped(key, "empty caption"))
            continue
        try:
            image = cache.open(artwork.image_id)
        except ImageError as exc:
            dataset.skipped.append(Skipped(key, exc.reason))
            continue
        dataset.examples.append(Example(key, caption.strip(), shrink(image, image_side)))
    return dataset


def caption_fields(artwork: Artwork) -> dict[str, Any]:
    """What a caption template may name: every Artwork field, plus ``caption`` (Artwork.caption())."""
    values: dict[str, Any] = {f.attname: getattr(artwork, f.attname) for f in Artwork._meta.concrete_fields}
    values["artist_display"] = artwork.artist_display.replace("\n", ", ")
    values["caption"] = artwork.caption()
    return values


def check_caption_template(template: str) -> None:
    """Refuse a template that names something an artwork does not have, before any image is fetched."""
    known = {f.attname for f in Artwork._meta.concrete_fields} | {"caption"}
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise DatasetError(f"caption template {template!r} is malformed: {exc}") from None
    unknown = sorted(name for name in names if name.split(".")[0].split("[")[0] not in known)
    if unknown or "" in names:
        raise DatasetError(
            f"caption template names unknown field(s) {', '.join(unknown) or '{}'}; known: {', '.join(sorted(known))}"
        )


def render_caption(template: str, artwork: Artwork) -> str:
    return template.format_map(caption_fields(artwork))


def split_examples(examples: Sequence[Example], *, val_fraction: float, test_fraction: float) -> Split:
    """Split by a hash of each key, so an item's split depends neither on order nor on the other items.

    With at least MIN_EXAMPLES items no split is left empty: an empty split takes the item whose
    hash lies nearest its range.
    """
    check_fractions(val_fraction, test_fraction)
    train: list[Example] = []
    val: list[Example] = []
    test: list[Example] = []
    for example in sorted(examples, key=lambda item: (split_position(item.key), item.key)):
        position = split_position(example.key)
        if position < test_fraction:
            test.append(example)
        elif position < test_fraction + val_fraction:
            val.append(example)
        else:
            train.append(example)
    if len(examples) >= MIN_EXAMPLES:
        # Each list is sorted by position, so index 0 is the lowest hash and -1 the highest.
        if not test:
            test.append((val if len(val) > 1 else train).pop(0))
        if not val:
            val.append(train.pop(0) if len(train) > 1 else test.pop())
        if not train:
            train.append((val if len(val) > 1 else test).pop())
    return Split(train=train, val=val, test=test)


def split_position(key: str) -> float:
    """Where ``key`` falls in [0, 1): the first 8 bytes of its SHA-256, as a fraction."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DatasetError(
            f"val and test fractions must be in [0, 1) and leave some for training; "
            f"got val {val_fraction}, test {test_fraction}"
        )


def shrink(image: Image.Image, short_side: int | None) -> Image.Image:
    """A copy whose short side is ``short_side`` (never enlarged); the image itself when None."""
    if short_side is None or min(image.size) <= short_side:
        return image
    scale = short_side / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def skipped_summary(skipped: Iterable[Skipped], limit: int = 50) -> list[dict[str, str]]:
    return [{"key": item.key, "reason": item.reason} for item in list(skipped)[:limit]]


def _read_image_file(path: Path) -> Image.Image:
    with path.open("rb") as handle:
        data = handle.read(_MAX_IMAGE_BYTES + 1)
    if len(data) > _MAX_IMAGE_BYTES:
        raise ImageError(f"{path} is over {_MAX_IMAGE_BYTES} bytes")
    return decode_image(data, _MAX_IMAGE_PIXELS)
