"""Build the bundled AIC sample collection from the shared recorded sample.

Usage::

    python sample_data/build_sample.py \
        --source /work/shared/aic-sample --out sample_data/aic

Writes ``<out>/records/<id>.json`` (AIC ``data`` objects) and
``<out>/images/<image_id>.jpg`` (longest side at most 448 px). See
``sample_data/README.md`` for the merge rules.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

MAX_SIDE = 448
JPEG_QUALITY = 80
SIZE_BUDGET = 13 * 1024 * 1024
# ArtWall's source commit date: the best "last updated" we have for its records.
DEFAULT_UPDATED_AT = "2025-09-09T00:00:00-05:00"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ARTWALL_REPO = "klv4de/ArtWall"

Record = dict[str, Any]


@dataclass(frozen=True)
class Candidate:
    """A local image file that a source ties to one artwork id."""

    path: Path
    image_id: str | None  # None: tied to the record by id only (e.g. a visual match)
    from_artwall_list: bool


def load_json_dir(directory: Path) -> dict[int, Record]:
    """Load ``<id>.json`` files keyed by integer id."""
    out: dict[int, Record] = {}
    for path in sorted(directory.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        out[int(record.get("id", path.stem))] = record
    return out


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def merge(artwall: Record | None, full: Record | None) -> Record:
    """Start from the ArtWall record; overlay every non-null field of the API record."""
    merged: Record = dict(artwall or {})
    for key, value in (full or {}).items():
        if value is not None:
            merged[key] = value
    return merged


def pick_updated_at(record: Record) -> str:
    """The record's own change date, oldest API spellings as fallbacks."""
    for key in ("updated_at", "last_updated", "timestamp"):
        value = record.get(key)
        if isinstance(value, str) and value:
            datetime.fromisoformat(value)  # fail loudly on a non-ISO value
            return value
    return DEFAULT_UPDATED_AT


def pixel_area(path: Path) -> int:
    with Image.open(path) as img:
        return img.width * img.height


def choose_image(image_id: str, candidates: list[Candidate]) -> Path | None:
    """Best local file for ``image_id``: explicit matches first, then the largest."""
    usable = [c for c in candidates if c.image_id in (image_id, None)]
    if not usable:
        return None
    best = max(usable, key=lambda c: (c.image_id == image_id, pixel_area(c.path)))
    return best.path


def write_image(src: Path, dest: Path) -> None:
    with Image.open(src) as opened:
        img = ImageOps.exif_transpose(opened).convert("RGB")
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)  # never upscales
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
    dest.write_bytes(buf.getvalue())


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def collect_candidates(
    source: Path, artwall_records: dict[int, Record]
) -> tuple[dict[int, list[Candidate]], dict[int, list[dict[str, str]]]]:
    """Local image files per artwork id, and the SOURCES.tsv rows tied to an id."""
    candidates: dict[int, list[Candidate]] = {}
    for aid, rec in artwall_records.items():
        img = source / "artwall" / "images" / f"{aid}.jpg"
        if img.exists():
            candidates.setdefault(aid, []).append(Candidate(img, rec.get("image_id"), from_artwall_list=True))
    rows_by_id: dict[int, list[dict[str, str]]] = {}
    for row in read_tsv(source / "images" / "SOURCES.tsv"):
        if not row.get("aic_id"):
            continue
        aid = int(row["aic_id"])
        rows_by_id.setdefault(aid, []).append(row)
        found = UUID_RE.findall(row.get("match_basis", ""))
        candidates.setdefault(aid, []).append(
            Candidate(
                source / "images" / row["file"],
                found[0] if found else None,
                from_artwall_list=row.get("source_repo") == ARTWALL_REPO,
            )
        )
    return candidates, rows_by_id


def thin_record(aid: int, rows: list[dict[str, str]], candidates: list[Candidate]) -> Record | None:
    """A record from an image's source notes; None if they give no image_id."""
    explicit = [c for c in candidates if c.image_id]
    if not explicit:
        return None  # nothing to key the image by
    row = next(r for r in rows if UUID_RE.search(r.get("match_basis", "")))
    rec: Record = {
        "id": aid,
        "title": row["title"],
        "artist_display": row["artist"],
        "image_id": explicit[0].image_id,
    }
    if any(c.from_artwall_list for c in candidates):
        rec["is_public_domain"] = True  # listed by ArtWall's public-domain filter
    return rec


def build(source: Path, out: Path) -> int:
    full_records = load_json_dir(source / "artworks")
    artwall_records = load_json_dir(source / "artwall" / "records")
    candidates, rows_by_id = collect_candidates(source, artwall_records)

    records: dict[int, Record] = {}
    for aid in sorted(set(full_records) | set(artwall_records)):
        rec = merge(artwall_records.get(aid), full_records.get(aid))
        if aid in artwall_records and rec.get("is_public_domain") is None:
            # ArtWall built its lists with the API filter is_public_domain: true.
            rec["is_public_domain"] = True
        records[aid] = rec

    thin_created: list[int] = []
    for aid, rows in sorted(rows_by_id.items()):
        thin = None if aid in records else thin_record(aid, rows, candidates[aid])
        if thin is not None:
            records[aid] = thin
            thin_created.append(aid)

    derived_image_id: list[int] = []
    for aid, rec in records.items():
        explicit = [c for c in candidates.get(aid, []) if c.image_id]
        if rec.get("image_id") is None and explicit:
            rec["image_id"] = explicit[0].image_id
            derived_image_id.append(aid)
        rec["updated_at"] = pick_updated_at(rec)

    # Replace only what this script owns, so a wrong --out cannot wipe much.
    for sub in ("records", "images"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)

    with_image = without_image_id = excluded = 0
    for aid, rec in sorted(records.items()):
        image_id = rec.get("image_id")
        if image_id is None:
            without_image_id += 1
        else:
            src = choose_image(image_id, candidates.get(aid, []))
            if src is None:
                excluded += 1
                continue
            write_image(src, out / "images" / f"{image_id}.jpg")
            with_image += 1
        text = json.dumps(rec, ensure_ascii=False, indent=1, sort_keys=True)
        (out / "records" / f"{aid}.json").write_text(text + "\n", encoding="utf-8")

    total = dir_size(out)
    print(f"records written:          {with_image + without_image_id}")
    print(f"  with a local image:     {with_image}")
    print(f"  image_id null:          {without_image_id}")
    print(f"  thin from SOURCES.tsv:  {len(thin_created)}")
    print(f"  image_id from sources:  {len(derived_image_id)} {derived_image_id}")
    print(f"excluded (image_id, no local image): {excluded}")
    print(f"images written:           {with_image}")
    print(f"total size:               {total} bytes ({total / 1024 / 1024:.2f} MiB)")
    if total > SIZE_BUDGET:
        print(f"ERROR: over the {SIZE_BUDGET} byte budget", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the bundled AIC sample collection.")
    parser.add_argument("--source", type=Path, required=True, help="shared aic-sample dir")
    parser.add_argument("--out", type=Path, required=True, help="output dir (replaced)")
    args = parser.parse_args(argv)
    return build(args.source, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
