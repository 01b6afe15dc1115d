"""Side by side: an HNSW index over float32 vectors against one over half-precision vectors (halfvec).

    python -m bench.index_precision [--n 1000000] [--queries 300] [--rounds 3] [--inserts 5000]

One table of ``n`` benchmark vectors (bench.vectors) holds both indexes (``HNSW_M`` and
``HNSW_EF_CONSTRUCTION``, as the site builds them); each is queried alone, as a site has one, for
``--queries`` text-like queries at the site's ef_search after 50 warm-up queries, for ``--rounds``
rounds alternating which goes first. The statement is the site's: float32 distance selected, the index's expression ordered by.
With ``--inserts``, each index is also built alone over a copy of the collection and timed while
that many new vectors go in (one backend, as a worker writes under a live model). Prints a table and,
last, one JSON object: build seconds, index sizes, per round p50/p99 ms and recall@10 against exact
search, and the insert rates.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from bench import vectors
from bench.environment import configure, machine, percentile, print_table

DATABASE = "museum_bench_index"
K = 10
WARM_UP = 50
INDEXES = {
    "float32": "(v::vector(512)) vector_cosine_ops",
    "halfvec": "(v::halfvec(512)) halfvec_cosine_ops",
}
ORDER = {
    "float32": "v::vector(512) <=> %(query)s::vector(512)",
    "halfvec": "v::halfvec(512) <=> %(query)s::halfvec(512)",
}


def _graph() -> str:
    from django.conf import settings

    return f"WITH (m = {int(settings.HNSW_M)}, ef_construction = {int(settings.HNSW_EF_CONSTRUCTION)})"


def _load(connection: Any, n: int, collection: np.ndarray) -> dict[str, Any]:
    connection.execute("DROP TABLE IF EXISTS bench_vectors")
    connection.execute("CREATE TABLE bench_vectors (id integer PRIMARY KEY, v vector)")
    connection.execute("ALTER TABLE bench_vectors ALTER COLUMN v SET STORAGE MAIN")  # as the site stores them
    with connection.cursor().copy("COPY bench_vectors (id, v) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "vector"])
        for row, vector in enumerate(collection):
            copy.write_row((row, vector))
    connection.execute(f"SET maintenance_work_mem = '{max(256, n * 4 // 1000)}MB'")
    built: dict[str, Any] = {}
    for name, expression in INDEXES.items():
        started = time.perf_counter()
        connection.execute(f"CREATE INDEX bench_vectors_{name} ON bench_vectors USING hnsw ({expression}) {_graph()}")
        size = connection.execute(f"SELECT pg_relation_size('bench_vectors_{name}')").fetchone()
        built[name] = {"build_s": round(time.perf_counter() - started, 1), "index_mb": round(size[0] / 1e6, 1)}
    connection.execute("VACUUM ANALYZE bench_vectors")
    return built


def _insert_rates(connection: Any, name: str, inserts: int) -> dict[str, Any]:
    """Vectors per second added to a copy of the collection with only the ``name`` index, in one
    backend: what an embedding worker's writes cost while its model is live."""
    table = f"bench_inserts_{name}"
    connection.execute(f"DROP TABLE IF EXISTS {table}")
    connection.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, v vector)")
    connection.execute(f"ALTER TABLE {table} ALTER COLUMN v SET STORAGE MAIN")
    connection.execute(f"INSERT INTO {table} SELECT id, v FROM bench_vectors")
    connection.execute(f"CREATE INDEX ON {table} USING hnsw ({INDEXES[name]}) {_graph()}")
    added, _ = vectors.collection(inserts, 1)  # new vectors of the same kind
    first = connection.execute(f"SELECT max(id) + 1 FROM {table}").fetchone()
    started = time.perf_counter()
    with connection.cursor().copy(f"COPY {table} (id, v) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "vector"])
        for row, vector in enumerate(added, first[0] if first else 0):
            copy.write_row((row, vector))
    seconds = time.perf_counter() - started
    connection.execute(f"DROP TABLE {table}")
    return {"inserted": inserts, "seconds": round(seconds, 2), "per_s": round(inserts / seconds, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--inserts", type=int, default=0, help="also time this many vectors added under each index alone"
    )
    args = parser.parse_args(argv)

    url = configure(database=DATABASE, migrate=False)
    import psycopg
    from django.conf import settings
    from pgvector.psycopg import register_vector

    collection, _ = vectors.collection(args.n, 0)
    queries = vectors.queries(args.n, args.queries, 0)
    truth = [set(vectors.exact_top_k(collection, query, K).tolist()) for query in queries]
    figures: dict[str, Any] = {"n": args.n, "ef_search": settings.HNSW_EF_SEARCH, "rounds": []}
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(connection)
        figures["indexes"] = _load(connection, args.n, collection)
        shown = connection.execute("SHOW shared_buffers").fetchone()
        figures["shared_buffers"] = shown[0] if shown else "?"
        connection.execute(f"SET hnsw.ef_search = {int(settings.HNSW_EF_SEARCH)}")
        connection.execute("SET hnsw.iterative_scan = relaxed_order")
        connection.execute("SET enable_seqscan = off")  # a small table would be sorted: compare the indexes
        for round_number in range(args.rounds):
            names = list(INDEXES) if round_number % 2 else list(INDEXES)[::-1]
            measured: dict[str, Any] = {}
            for name in names:
                sql = (
                    "SELECT id, v::vector(512) <=> %(query)s::vector(512) FROM bench_vectors "
                    f"ORDER BY {ORDER[name]} LIMIT {K}"
                )
                plan = "\n".join(row[0] for row in connection.execute("EXPLAIN " + sql, {"query": queries[0]}))
                if f"bench_vectors_{name}" not in plan:
                    raise SystemExit(f"the {name} statement does not use its index:\n{plan}")
                for query in queries[:WARM_UP]:
                    connection.execute(sql, {"query": query}, prepare=True).fetchall()
                times, recalls = [], []
                for query, expected in zip(queries, truth, strict=True):
                    started = time.perf_counter()
                    rows = connection.execute(sql, {"query": query}, prepare=True).fetchall()
                    times.append((time.perf_counter() - started) * 1000)
                    recalls.append(len({row[0] for row in rows} & expected) / K)
                measured[name] = {
                    "p50_ms": round(percentile(times, 0.5), 2),
                    "p99_ms": round(percentile(times, 0.99), 2),
                    "recall_at_10": round(float(np.mean(recalls)), 4),
                }
            figures["rounds"].append(measured)
        if args.inserts:
            figures["inserts"] = {name: _insert_rates(connection, name, args.inserts) for name in INDEXES}
    figures["machine"] = machine()
    rows = [
        (f"build, size: {name}", f"{built['build_s']} s, {built['index_mb']:,} MB")
        for name, built in figures["indexes"].items()
    ]
    for number, measured in enumerate(figures["rounds"], 1):
        rows += [
            (f"round {number}: {name}", f"p50 {m['p50_ms']} / p99 {m['p99_ms']} ms, recall {m['recall_at_10']}")
            for name, m in measured.items()
        ]
    rows += [
        (f"inserts: {name}", f"{rate['per_s']:,} vectors/s ({rate['inserted']:,} in {rate['seconds']} s)")
        for name, rate in figures.get("inserts", {}).items()
    ]
    print_table(f"HNSW over float32 and halfvec, {args.n:,} vectors, shared_buffers {figures['shared_buffers']}", rows)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    main()
