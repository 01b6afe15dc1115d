"""Side by side through gunicorn: fresh ``/api/search`` queries served by another checkout and by this one.

    git worktree add /tmp/before HEAD~1
    python -m bench.api_ab /tmp/before [--n 100000] [--queries 200] [--mode hybrid]

Two servers as production runs them, on the collection ``bench.search`` loaded, both with the query
vector and answer caches off, so every request runs the text tower and the ranking; each query goes to
both, alternating which goes first, so a busy neighbour slows both alike. Prints a table and, last,
one JSON object of the medians (ms) and their ratio (this / other).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.environment import configure, machine, percentile, print_table
from bench.search import SEARCH_DATABASE, Gunicorn, text_queries

WARM_UP = 20


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkout", type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--n", type=int, default=100_000, help="the collection bench.search loaded")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--mode", choices=("hybrid", "semantic", "keyword"), default="hybrid")
    args = parser.parse_args(argv)

    configure(database=SEARCH_DATABASE, migrate=False)
    paths = [f"/api/search?q={quote(query)}&mode={args.mode}" for query in text_queries(args.queries + WARM_UP, 7)]
    caches_off = {"SEARCH_QUERY_CACHE_SECONDS": "0", "SEARCH_RESULT_CACHE_SECONDS": "0"}
    times: dict[str, list[float]] = {"other": [], "this": []}
    with (
        tempfile.TemporaryDirectory() as logs,
        Gunicorn(Path(logs) / "other.log", root=args.checkout.resolve(), **caches_off) as other,
        Gunicorn(Path(logs) / "this.log", **caches_off) as this,
    ):
        for path in paths[:WARM_UP]:  # text towers loaded, pages in shared buffers
            other.get(path)
            this.get(path)
        for index, path in enumerate(paths[WARM_UP:]):
            servers = [("other", other), ("this", this)]
            for name, server in servers if index % 2 else servers[::-1]:
                started = time.perf_counter()
                status, body = server.get(path)
                times[name].append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise SystemExit(f"{name}: GET {path}: HTTP {status}: {body[:300]!r}")
    other_ms, this_ms = percentile(times["other"], 0.5), percentile(times["this"], 0.5)
    figures = {
        "n": args.n,
        "other": str(args.checkout),
        "mode": args.mode,
        "other_p50_ms": round(other_ms, 2),
        "this_p50_ms": round(this_ms, 2),
        "ratio": round(this_ms / other_ms, 3),
        "other_p90_ms": round(percentile(times["other"], 0.9), 2),
        "this_p90_ms": round(percentile(times["this"], 0.9), 2),
        "machine": machine(),
    }
    print_table(
        f"fresh /api/search ({args.mode}): {args.checkout} → this checkout, {args.n:,} artworks",
        [("p50", f"{other_ms:.2f} → {this_ms:.2f} ms  (ratio {this_ms / other_ms:.3f})")],
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
