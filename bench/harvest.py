"""Harvest throughput: importing a data dump of AIC records into PostgreSQL.

    python -m bench.harvest [--records 130000] [--profile]

The dump is generated from the bundled sample records: full records (80+ fields, HTML
descriptions, 5-14 KB) for four in five, thin list records for the rest, as AIC's public
dump mixes them. Every record gets its own id, image id, dates and ``updated_at``, and a
title and dates that vary, so no two hash alike. Then ``catalog.harvest.import_dump`` (the
code behind ``manage.py import_aic_dump``) reads it into an empty range of the catalog, with
an active model, so the embedding tasks it queues are part of the cost; and once more, when
nothing has changed. Target: ≥ 2,000 records/s.

Then the keyword lists are rebuilt (``catalog.word_leaders``, timed), and the dump is imported
twice more with every record changed: once with the trigger that keeps the lists off, once with it
on, for the trigger's cost on a harvest that changes every record.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.environment import sample_records

DUMP_AIC_ID_BASE = 500_000_000  # its own range: other benchmarks' artworks stay


def _templates() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records = sample_records()
    full = [record for record in records if len(record) >= 60]
    thin = [record for record in records if len(record) < 60]
    return full, thin


def generate_dump(folder: Path, count: int, seed: int = 0, edition: int = 0) -> int:
    """Write ``count`` records as ``<id>.json`` into ``folder``; returns the bytes written.

    Another ``edition`` changes every record's title (the same ids, so a harvest updates them all).
    """
    full, thin = _templates()
    rng = random.Random(seed)
    written = 0
    for index in range(count):
        template = rng.choice(full) if rng.random() < 0.8 else rng.choice(thin)
        record = dict(template)
        aic_id = DUMP_AIC_ID_BASE + index
        record["id"] = aic_id
        record["api_link"] = f"https://api.artic.edu/api/v1/artworks/{aic_id}"
        record["title"] = f"{template.get('title') or 'Untitled'} ({index % 97 + 1})"
        if edition:
            record["title"] += f", state {edition}"
        start = rng.randint(1400, 2020)
        record["date_start"] = start
        record["date_end"] = start + rng.randint(0, 10)
        record["date_display"] = f"c. {start}"
        if template.get("image_id"):
            record["image_id"] = str(uuid.UUID(int=rng.getrandbits(128)))
        day = rng.randint(0, 11 * 365)
        record["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S-05:00", time.gmtime(1_420_070_400 + day * 86_400))
        data = json.dumps(record, ensure_ascii=False).encode()
        (folder / f"{aic_id}.json").write_bytes(data)
        written += len(data)
    return written


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=130_000)
    parser.add_argument("--profile", action="store_true", help="profile the import with pyinstrument")
    args = parser.parse_args(argv)

    from bench.environment import configure, cpu_seconds, database_backend_pid, machine, print_table

    configure()
    from django.db import connection

    from bench.models import register_random_model
    from catalog.harvest import import_dump
    from catalog.models import Artwork
    from catalog.word_leaders import rebuild_word_leaders
    from embeddings.rate_limit import redis_client

    model: Any = register_random_model("bench-vit-b-32", "ViT-B-32", activate=True)
    folder = Path(tempfile.mkdtemp(prefix="museum-bench-dump-"))
    try:
        started = time.perf_counter()
        size = generate_dump(folder, args.records)
        os.sync()  # the import reads a dump at rest, not one the kernel is still writing out
        generate_seconds = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM catalog_artwork WHERE aic_id >= %s AND aic_id < %s",
                [DUMP_AIC_ID_BASE, DUMP_AIC_ID_BASE + 100_000_000],
            )
        embed_queue_before = redis_client().llen("embed")

        profiler: Any = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler()
            profiler.start()
        backend = database_backend_pid()
        cpu_before = (cpu_seconds(), cpu_seconds(backend))
        started = time.perf_counter()
        first = import_dump(folder)
        first_seconds = time.perf_counter() - started
        python_cpu = cpu_seconds() - cpu_before[0]
        database_cpu = cpu_seconds(backend) - cpu_before[1]
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        queued_tasks = redis_client().llen("embed") - embed_queue_before

        started = time.perf_counter()
        second = import_dump(folder)
        second_seconds = time.perf_counter() - started
        stored = Artwork.objects.filter(aic_id__gte=DUMP_AIC_ID_BASE, aic_id__lt=DUMP_AIC_ID_BASE + 100_000_000).count()

        leaders = rebuild_word_leaders()
        changed_seconds: dict[str, float] = {}
        for edition, trigger in enumerate(("DISABLE", "ENABLE"), 1):
            generate_dump(folder, args.records, edition=edition)
            os.sync()
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE catalog_artwork {trigger} TRIGGER catalog_artwork_word_leaders_update")
            started = time.perf_counter()
            changed = import_dump(folder)
            changed_seconds[trigger] = time.perf_counter() - started
            if changed.updated != args.records:
                raise SystemExit(f"the changed dump went wrong: {changed}")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE catalog_artwork ENABLE TRIGGER catalog_artwork_word_leaders_update")
        shutil.rmtree(folder, ignore_errors=True)
        redis_client().delete("embed")  # nothing consumes the benchmark's queue
    if first.created != args.records or stored != args.records or second.unchanged != args.records:
        raise SystemExit(f"import went wrong: first {first}, second {second}, stored {stored}")

    figures: dict[str, Any] = {
        "records": args.records,
        "records_per_s": round(args.records / first_seconds, 1),
        "seconds": round(first_seconds, 2),
        "unchanged_records_per_s": round(args.records / second_seconds, 1),
        "dump_mb": round(size / 1e6, 1),
        # CPU per record on each side; the two overlap, so an idle 2-core machine runs at about
        # 1 / max(python, database) records per second.
        "python_cpu_ms_per_record": round(python_cpu / args.records * 1000, 3),
        "database_cpu_ms_per_record": round(database_cpu / args.records * 1000, 3),
        "idle_estimate_records_per_s": round(args.records / max(python_cpu, database_cpu, 1e-9), 1),
        "embedding_tasks_queued": queued_tasks,
        "word_leaders": {"words": leaders.words, "leaders": leaders.leaders, "rebuild_s": round(leaders.seconds, 2)},
        "changed_records_per_s": round(args.records / changed_seconds["ENABLE"], 1),
        "changed_records_per_s_lists_not_kept": round(args.records / changed_seconds["DISABLE"], 1),
        "ratio_changed_lists_kept_to_not": round(changed_seconds["DISABLE"] / changed_seconds["ENABLE"], 3),
        "active_model": model.name,
        "machine": machine(),
    }
    print_table(
        f"Importing a dump of {args.records:,} AIC records ({size / 1e6:.0f} MB, generated in {generate_seconds:.0f} s)",
        [
            (
                "first import (all new)",
                f"{figures['records_per_s']:10,.0f} records/s  ({first_seconds:.1f} s; target ≥ 2,000/s)",
            ),
            (
                "again, nothing changed",
                f"{figures['unchanged_records_per_s']:10,.0f} records/s  ({second_seconds:.1f} s)",
            ),
            (
                "CPU per record: Python / PostgreSQL",
                f"{figures['python_cpu_ms_per_record']:10.3f} / {figures['database_cpu_ms_per_record']:.3f} ms "
                f"(alone on 2 cores: ≈ {figures['idle_estimate_records_per_s']:,.0f} records/s)",
            ),
            ("embedding tasks queued", f"{queued_tasks:10,d}  (model {model.name} active)"),
            (
                "keyword lists rebuilt",
                f"{leaders.seconds:10.1f} s  ({leaders.words:,} frequent words, {leaders.leaders:,} rows)",
            ),
            (
                "every record changed: lists kept / not",
                f"{figures['changed_records_per_s']:10,.0f} / {figures['changed_records_per_s_lists_not_kept']:,.0f} "
                f"records/s  (ratio {figures['ratio_changed_lists_kept_to_not']})",
            ),
        ],
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
