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
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.environment import configure, machine, paired_figures, paired_times, print_table
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
    paths = [f"/api/search?q={quote(query)}&mode={args.mode}" for query in text_queries(args.queries, 7)]
    caches_off = {"SEARCH_QUERY_CACHE_SECONDS": "0", "SEARCH_RESULT_CACHE_SECONDS": "0"}

    def fetch(server: Gunicorn, path: str) -> None:
        status, body = server.get(path)
        if status != 200:
            raise SystemExit(f"GET {path}: HTTP {status}: {body[:300]!r}")

    with (
        tempfile.TemporaryDirectory() as logs,
        Gunicorn(Path(logs) / "other.log", root=args.checkout.resolve(), **caches_off) as other,
        Gunicorn(Path(logs) / "this.log", **caches_off) as this,
    ):
        # The warm-up loads the text towers and brings pages into shared buffers.
        paired = paired_figures(*paired_times(paths, fetch, other, this, warm_up=WARM_UP))
    figures = {"n": args.n, "other": str(args.checkout), "mode": args.mode, **paired, "machine": machine()}
    print_table(
        f"fresh /api/search ({args.mode}): {args.checkout} → this checkout, {args.n:,} artworks",
        [("p50", f"{paired['other_p50_ms']:.2f} → {paired['this_p50_ms']:.2f} ms  (ratio {paired['ratio']:.3f})")],
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
