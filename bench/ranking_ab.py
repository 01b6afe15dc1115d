"""Side by side: the ranking modules of another checkout against this one's, query by query.

    git worktree add /tmp/before HEAD~1
    python -m bench.ranking_ab /tmp/before [--n 100000]

Both rankings run in one process on the collection ``bench.search`` loaded, alternating which goes
first for each query, so a busy neighbour slows both alike: the ratio is what one change bought on
a noisy machine. The ranking modules are search/keyword.py, vector.py, fusion.py and ranking.py
(an older checkout holds them all in search/ranking.py); the other checkout's import one another,
and otherwise import against this checkout's apps.
Prints a table and, last, one JSON object of the medians (ms) and the ratios (this / other).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.environment import configure, machine, paired_figures, paired_times, print_table, sample_records
from bench.search import SEARCH_DATABASE, text_queries

# The modules that rank, in the order they import one another (an older checkout: ranking.py alone).
RANKING_MODULES = ("keyword", "vector", "fusion", "ranking")
# What the cases call.
RANKED = ("nearest", "text_matches", "vector_neighbours", "hybrid_hits")

# What is compared (the full-text list alone needs no HNSW index: a collection of artworks will do).
CASES = (
    "nearest, k = 10",
    "full-text list, k = 100",
    "full-text list, k = 100, words of one title",
    "vector list, k = 100",
    "hybrid, 25 results",
    "hybrid, 25 results, fresh query",
)


def title_queries(count: int, seed: int) -> list[str]:
    """Queries whose words occur together: three words of a sample record's title (the collection's
    titles are the sample's, numbered), as someone looking for a known work types them."""
    titles = set()
    for record in sample_records():
        words = str(record.get("title") or "").split()
        if len(words) >= 3:
            titles.add(" ".join(words[:3]))
    ordered = sorted(titles)
    random.Random(seed).shuffle(ordered)
    return ordered[:count]


def _ranking(modules: list[Any]) -> SimpleNamespace:
    """The functions the cases call, each from the first of ``modules`` that defines it."""
    return SimpleNamespace(
        **{name: next(getattr(module, name) for module in modules if hasattr(module, name)) for name in RANKED}
    )


def _load_ranking(checkout: Path) -> SimpleNamespace:
    """The other checkout's ranking functions.

    Each of its ranking modules stands in sys.modules under its own name while the next ones load (so
    its hybrid list fuses its own keyword and vector lists); this checkout's are put back afterwards.
    """
    loaded: list[Any] = []
    replaced: dict[str, Any] = {}
    try:
        for name in RANKING_MODULES:
            path = checkout / "search" / f"{name}.py"
            if not path.exists():
                continue
            spec = importlib.util.spec_from_file_location(f"search.{name}", path)
            if spec is None or spec.loader is None:
                raise SystemExit(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            replaced.setdefault(spec.name, sys.modules.get(spec.name))
            sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
            spec.loader.exec_module(module)
            loaded.append(module)
    finally:
        for name, mine in replaced.items():
            if mine is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mine
    if not loaded:
        raise SystemExit(f"no ranking module under {checkout / 'search'}")
    return _ranking(loaded)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkout", type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--n", type=int, default=100_000, help="the collection bench.search loaded")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--case", action="append", choices=CASES, help="compare only this case (again for more; default: all)"
    )
    args = parser.parse_args(argv)

    configure(database=SEARCH_DATABASE, migrate=False)
    from django.test import override_settings

    from bench import vectors
    from bench.models import register_random_model
    from embeddings.encoders.onnx_export import export_text_tower
    from search import fusion, keyword, ranking, vector
    from search.query_cache import embed_query

    this = _ranking([keyword, vector, fusion, ranking])  # imported first: the other checkout's stand in meanwhile
    other = _load_ranking(args.checkout.resolve())
    model: Any = register_random_model("bench-search", "ViT-B-32", activate=True)
    export_text_tower(model)  # the text tower a web process runs (registration makes it; older models lack it)
    query_vectors = list(vectors.queries(args.n, args.queries, 0))
    texts = text_queries(args.queries, 0)
    text_vectors = {text: embed_query(model, text) for text in texts}  # cached: only the fresh case runs the text tower

    def fresh_hybrid(module: Any, text: str) -> object:
        with override_settings(SEARCH_QUERY_CACHE_SECONDS=0):  # the text tower runs for every query
            return module.hybrid_hits(model, text, 25)

    cases: dict[str, tuple[list[Any], Callable[[Any, Any], object]]] = {
        "nearest, k = 10": (query_vectors, lambda module, vector: module.nearest(model, vector, 10)),
        "full-text list, k = 100": (texts, lambda module, text: module.text_matches(text, 100)),
        "full-text list, k = 100, words of one title": (
            title_queries(args.queries, 0),
            lambda module, text: module.text_matches(text, 100),
        ),
        "vector list, k = 100": (
            texts,
            lambda module, text: module.vector_neighbours(model, text_vectors[text], 100),
        ),
        "hybrid, 25 results": (texts, lambda module, text: module.hybrid_hits(model, text, 25)),
        "hybrid, 25 results, fresh query": (texts, lambda module, text: fresh_hybrid(module, text)),
    }
    assert list(cases) == list(CASES)
    figures: dict[str, Any] = {"n": args.n, "other": str(args.checkout)}
    rows = []
    for name in args.case or CASES:
        items, run = cases[name]
        paired = figures[name] = paired_figures(*paired_times(items, run, other, this))
        rows.append(
            (name, f"{paired['other_p50_ms']:.2f} → {paired['this_p50_ms']:.2f} ms p50  (ratio {paired['ratio']:.3f})")
        )
    figures["machine"] = machine()
    print_table(f"search ranking: {args.checkout} → this checkout, {args.n:,} artworks", rows)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
