"""Side by side: vector search with the embedded server's shared_buffers at several sizes.

    python -m bench.shared_buffers [--n 1000000] [--sizes 1024,2048] [--rounds 2]

Runs on the collection ``bench.search --n N`` loaded (load it first) and on the embedded server
only: for each size, in turn (the order reversed every other round, so a drifting machine weighs on
all alike), the server is restarted with that ``EMBEDDED_PG_SHARED_BUFFERS_MB``, ``--warm-up`` text-like
queries fill its buffers as a site's traffic does, then ``--queries`` other ones are timed through
``search.vector.nearest`` (k = 10, the site's ef_search). Their index scans' buffer accesses are
counted with EXPLAIN (ANALYZE, BUFFERS): a page found in shared buffers is a hit, one copied in from
the OS cache (or disk) a read. Prints a table and, last, one JSON object: per size and round the
p50/p99 milliseconds and the median hits and reads per search, and the index's size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench import vectors
from bench.environment import BENCH_DIR, configure, machine, percentile, print_table
from bench.search import SEARCH_DATABASE

K = 10
EXPLAINED = 60  # of the timed queries, the first ones run again under EXPLAIN


def _restart(pgdata: Path, megabytes: int | None) -> None:
    """Restart the embedded server with ``megabytes`` of shared_buffers (None: the site's default)."""
    from django.db import connection

    from devtools.embedded_postgres import ensure_running, stop

    connection.close()
    stop(pgdata)
    if megabytes is None:
        os.environ.pop("EMBEDDED_PG_SHARED_BUFFERS_MB", None)
    else:
        os.environ["EMBEDDED_PG_SHARED_BUFFERS_MB"] = str(megabytes)
    ensure_running(pgdata)


def _buffers(plan: dict[str, Any]) -> tuple[int, int]:
    """Shared buffer hits and reads of the whole plan (a node's counts include its children's)."""
    return int(plan.get("Shared Hit Blocks", 0)), int(plan.get("Shared Read Blocks", 0))


def _measure(model: Any, warm_up: Any, timed: Any) -> dict[str, Any]:
    from search.filters import SearchFilters
    from search.vector import nearest, neighbour_rows

    for query in warm_up:
        nearest(model, query, K)
    times = []
    for query in timed:
        started = time.perf_counter()
        nearest(model, query, K)
        times.append((time.perf_counter() - started) * 1000)
    hits, reads = [], []
    for query in timed[:EXPLAINED]:
        rows = neighbour_rows(model, query, SearchFilters(), exact=False)[:K]
        explained = json.loads(rows.explain(format="json", analyze=True, buffers=True))
        hit, read = _buffers(explained[0]["Plan"])
        hits.append(hit)
        reads.append(read)
    return {
        "p50_ms": round(percentile(times, 0.5), 2),
        "p99_ms": round(percentile(times, 0.99), 2),
        "hits_per_search": statistics.median(hits),
        "reads_per_search": statistics.median(reads),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="the collection bench.search loaded")
    parser.add_argument("--sizes", default="1024,2048", help="shared_buffers sizes in MB, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warm-up", type=int, default=1000, help="queries run before the timed ones, each size")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if os.environ.get("DATABASE_URL"):
        raise SystemExit("bench.shared_buffers restarts the embedded server: unset DATABASE_URL")
    sizes = [int(size) for size in args.sizes.split(",")]
    pgdata = Path(os.environ.get("EMBEDDED_PGDATA", BENCH_DIR / "pgdata")).resolve()

    configure(database=SEARCH_DATABASE, migrate=False)
    from django.db import connection

    from embeddings.models import ArtworkEmbedding, EmbeddingModel

    model = EmbeddingModel.objects.get(is_active=True)
    loaded = ArtworkEmbedding.objects.filter(model=model).count()
    if loaded != args.n:
        raise SystemExit(
            f"the benchmark collection holds {loaded:,} vectors: run `python -m bench.search --n {args.n}`"
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s)", [model.hnsw_index_name])
        index_mb = round(cursor.fetchone()[0] / 2**20)
    queries = vectors.queries(args.n, args.warm_up + args.queries, args.seed)
    warm_up, timed = queries[: args.warm_up], queries[args.warm_up :]

    runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
    for round_number in range(args.rounds):
        for size in sizes if round_number % 2 == 0 else sizes[::-1]:
            _restart(pgdata, size)
            runs[size].append(_measure(model, warm_up, timed))
    # A running server keeps its size: the next benchmark would otherwise run with the last one measured.
    _restart(pgdata, None)

    rows = [("HNSW index", f"{index_mb:,} MB over {args.n:,} vectors")]
    for size, measured in runs.items():
        for number, figures in enumerate(measured, 1):
            rows.append(
                (
                    f"{size:,} MB, round {number}",
                    f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms; per search "
                    f"{figures['hits_per_search']:,.0f} hits, {figures['reads_per_search']:,.0f} reads",
                )
            )
    print_table(f"nearest (k = {K}) by shared_buffers, {args.n:,} artworks", rows)
    result = {
        "n": args.n,
        "index_mb": index_mb,
        "sizes_mb": {str(size): measured for size, measured in runs.items()},
        "machine": machine(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
