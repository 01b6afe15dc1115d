"""evaluate_search: the judged set run through each mode on the sample collection, figures per mode and
kind printed and stored, the last line one JSON object; the admin shows the stored report, read-only."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from catalog.models import Artwork
from museum_site.tests.processes import ROOT, worker_env
from search.models import SearchEvaluation

pytestmark = pytest.mark.django_db(transaction=True)

METRICS = {"ndcg@10", "recall@24", "mrr"}


def _run(*args: str) -> tuple[list[str], dict[str, Any]]:
    output = io.StringIO()
    call_command("evaluate_search", *args, stdout=output, stderr=io.StringIO())
    lines = output.getvalue().splitlines()
    return lines, json.loads(lines[-1])


def test_it_scores_every_mode_and_stores_the_report(collection: list[Artwork], embedding_model: Any) -> None:
    lines, summary = _run("--mode", "all")

    assert summary["queries"] >= 150 and summary["model"] == embedding_model.name
    assert set(summary["modes"]) == {"hybrid", "semantic", "keyword"}
    for figures in summary["modes"].values():
        assert set(figures) == METRICS and all(0.0 <= value <= 1.0 for value in figures.values())
    report = SearchEvaluation.objects.get()
    assert report.summary() == summary and report.model == embedding_model
    assert set(report.kinds["hybrid"]) >= {"title", "artist", "subject", "visual", "language", "misspelling"}
    assert sum(kind["queries"] for kind in report.kinds["keyword"].values()) == summary["queries"]
    # A unique title typed exactly is found by its words: first in keyword mode, and in hybrid.
    assert report.kinds["keyword"]["title"]["mrr"] > 0.9
    assert report.kinds["hybrid"]["title"]["mrr"] >= report.kinds["keyword"]["title"]["mrr"]
    assert [len(entries) for entries in report.worst.values()] == [10, 10, 10]
    assert all(entry["ndcg@10"] <= summary["modes"][mode]["ndcg@10"] for mode, e in report.worst.items() for entry in e)
    assert bytes(report.plot or b"").startswith(b"\x89PNG")
    worst_line = lines.index("worst in keyword:")
    assert report.worst["keyword"][0]["query"] in lines[worst_line + 1]


def test_one_mode_of_a_small_file_needs_no_model(collection: list[Artwork], tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"query": "The Bedroom", "kind": "title", "relevant": {"28560": 3}})
        + "\n"
        + json.dumps({"query": "Monet", "kind": "artist", "relevant": {"14598": 3, "99999999": 1}})
        + "\n"
    )

    _, summary = _run("--queries", str(queries), "--mode", "keyword", "--model", "no-such-model")

    keyword = summary["modes"]["keyword"]
    assert summary == {"queries": 2, "model": None, "modes": {"keyword": keyword}}
    assert keyword["mrr"] > 0.5 and keyword["recall@24"] == pytest.approx((1.0 + 0.5) / 2)


def test_a_bad_line_is_named(db: None, tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query": "sea", "kind": "subject", "relevant": {"1": 3}}\n{"query": "sea", "relevant": {}}\n')

    with pytest.raises(CommandError, match=r"queries.jsonl:2: 'kind'"):
        _run("--queries", str(queries))
    assert not SearchEvaluation.objects.exists()


def test_the_admin_shows_the_report_read_only(collection: list[Artwork], admin_client: Client) -> None:
    _run("--mode", "keyword")
    report = SearchEvaluation.objects.get()

    listing = admin_client.get("/admin/search/searchevaluation/").content.decode()
    page = admin_client.get(f"/admin/search/searchevaluation/{report.pk}/change/")

    assert f"{report.modes['keyword']['ndcg@10']:.3f}" in listing
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('src="data:image/png;base64,') == 1
    assert report.worst["keyword"][0]["query"] in html and "misspelling" in html
    assert 'name="_save"' not in html  # nothing to change
    assert admin_client.get("/admin/search/searchevaluation/add/").status_code == 403


def test_the_admin_module_loads_where_matplotlib_is_not_installed() -> None:
    refuse_matplotlib = (
        "import importlib.abc, sys\n"
        "class Refuse(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'matplotlib':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "import django; django.setup()\n"
        "import search.admin, search.evaluation.reports\n"
        "assert 'matplotlib' not in sys.modules\n"
        "print('loaded')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", refuse_matplotlib], cwd=ROOT, env=worker_env(), capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded"
