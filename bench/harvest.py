"""Harvest throughput: importing a data dump of AIC records into PostgreSQL.

    python -m bench.harvest [--records 130000] [--profile]

The dump is generated from the bundled sample records: full records (80+ fields, HTML
descriptions, 5-14 KB) for four in five, thin list records for the rest, as AIC's public
dump mixes them. Every record gets its own id, image id, dates and ``updated_at``, and a
title and dates that vary, so no two hash alike. Then ``catalog.harvest.import_dump`` (the
code behind ``manage.py import_aic_dump``) reads it into an empty range of the catalog, with
an active model, so the embedding tasks it queues are part of the cost; and once more, when
nothing has changed. Target: ≥ 2,000 records/s.

Then the keyword lists are rebuilt (``catalog.word_leaders``, timed). ``--trigger-cost N`` then
imports N changed records and N new ones with the triggers that keep the lists off and on in turn.
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


def generate_dump(folder: Path, count: int, seed: int = 0, edition: int = 0, start: int = 0) -> int:
    """Write ``count`` records as ``<id>.json`` into ``folder``; returns the bytes written.

    Another ``edition`` changes every record's title (the same ids, so a harvest updates them all);
    ``start`` is the first record's place in the id range.
    """
    full, thin = _templates()
    rng = random.Random(seed)
    written = 0
    for index in range(start, start + count):
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


def _delete_dump_range(connection: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM catalog_artwork WHERE aic_id >= %s AND aic_id < %s",
            [DUMP_AIC_ID_BASE, DUMP_AIC_ID_BASE + 100_000_000],
        )


def _raw_record_bytes(connection: Any) -> float:
    """Mean bytes the imported records' ``raw`` takes on disk (compressed or not, as stored)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT avg(pg_column_size(raw)) FROM catalog_artwork WHERE aic_id >= %s AND aic_id < %s",
            [DUMP_AIC_ID_BASE, DUMP_AIC_ID_BASE + 100_000_000],
        )
        return float(cursor.fetchone()[0] or 0)


def _trigger_cost(connection: Any, stored: int, count: int) -> dict[str, Any]:
    """What keeping the keyword lists costs a harvest, with lists in place: records/s importing
    ``count`` changed records, then ``count`` new ones, with the lists' triggers off and on in turn,
    twice over. (A first import, with no lists, runs with the triggers off.)
    """
    from catalog.harvest import import_dump

    figures: dict[str, Any] = {"records": count}
    for case in ("changed", "new"):
        rates: dict[str, list[float]] = {"off": [], "on": []}
        for round_index, switch in enumerate(("off", "on") * 2, 1):
            folder = Path(tempfile.mkdtemp(prefix="museum-bench-dump-"))
            try:
                if case == "changed":
                    generate_dump(folder, count, edition=round_index)
                else:
                    generate_dump(folder, count, seed=round_index, start=stored)
                    with connection.cursor() as cursor:  # the triggers on, so the lists lose them too
                        cursor.execute(
                            "DELETE FROM catalog_artwork WHERE aic_id >= %s AND aic_id < %s",
                            [DUMP_AIC_ID_BASE + stored, DUMP_AIC_ID_BASE + 100_000_000],  # the dump's range only
                        )
                os.sync()
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"ALTER TABLE catalog_artwork {'ENABLE' if switch == 'on' else 'DISABLE'} TRIGGER USER"
                    )
                started = time.perf_counter()
                run = import_dump(folder)
                seconds = time.perf_counter() - started
            finally:
                with connection.cursor() as cursor:  # there are lists: they are kept again
                    cursor.execute("ALTER TABLE catalog_artwork ENABLE TRIGGER USER")
                shutil.rmtree(folder, ignore_errors=True)
            if (run.updated if case == "changed" else run.created) != count:
                raise SystemExit(f"the {case} records' import went wrong: {run}")
            rates[switch].append(round(count / seconds, 1))
        figures[case] = {
            "records_per_s_triggers_off": rates["off"],
            "records_per_s_triggers_on": rates["on"],
            "ratio_on_to_off": round(sum(rates["on"]) / sum(rates["off"]), 3),
        }
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=130_000)
    parser.add_argument("--profile", action="store_true", help="profile the import with pyinstrument")
    parser.add_argument(
        "--trigger-cost",
        type=int,
        default=0,
        metavar="N",
        help="also import N new records with the keyword lists' triggers off and on, alternating twice",
    )
    args = parser.parse_args(argv)

    from bench.environment import configure, cpu_seconds, database_backend_pid, machine, print_table

    configure()
    from django.conf import settings
    from django.db import connection

    from bench.models import register_random_model
    from catalog.harvest import import_dump
    from catalog.models import Artwork
    from catalog.word_leaders import rebuild_word_leaders
    from core.redis_clients import WORKER_TIMEOUT_SECONDS, redis_client

    model: Any = register_random_model("bench-vit-b-32", "ViT-B-32", activate=True)
    folder = Path(tempfile.mkdtemp(prefix="museum-bench-dump-"))
    try:
        started = time.perf_counter()
        size = generate_dump(folder, args.records)
        os.sync()  # the import reads a dump at rest, not one the kernel is still writing out
        generate_seconds = time.perf_counter() - started
        _delete_dump_range(connection)
        rebuild_word_leaders(0)  # a first import, as on a new site: no keyword lists yet
        embed_queue_before = redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS).llen("embed")

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
        queued_tasks = (
            redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS).llen("embed") - embed_queue_before
        )

        started = time.perf_counter()
        second = import_dump(folder)
        second_seconds = time.perf_counter() - started
        stored = Artwork.objects.filter(aic_id__gte=DUMP_AIC_ID_BASE, aic_id__lt=DUMP_AIC_ID_BASE + 100_000_000).count()
        raw_bytes = _raw_record_bytes(connection)

        leaders = rebuild_word_leaders()
        trigger_cost = _trigger_cost(connection, args.records, args.trigger_cost) if args.trigger_cost else {}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS).delete(
            "embed"
        )  # nothing consumes the benchmark's queue
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
        "raw_bytes_per_record": round(raw_bytes),
        "word_leaders": {"words": leaders.words, "leaders": leaders.leaders, "rebuild_s": round(leaders.seconds, 2)},
        **({"lists_kept": trigger_cost} if trigger_cost else {}),
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
            ("raw record on disk", f"{raw_bytes:10,.0f} bytes per record (mean)"),
            (
                "keyword lists rebuilt",
                f"{leaders.seconds:10.1f} s  ({leaders.words:,} frequent words, {leaders.leaders:,} rows)",
            ),
            *(
                (
                    f"{trigger_cost['records']:,} {case} records: lists kept / not",
                    f"{trigger_cost[case]['records_per_s_triggers_on']} / "
                    f"{trigger_cost[case]['records_per_s_triggers_off']} records/s  "
                    f"(ratio {trigger_cost[case]['ratio_on_to_off']})",
                )
                for case in (("changed", "new") if trigger_cost else ())
            ),
        ],
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
