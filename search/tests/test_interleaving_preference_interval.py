"""The preference for the candidate, (wins B - wins A) / clicked impressions, with its 95 % normal
interval worked by hand; the verdict it gives; the admin showing it; one experiment running at a time."""

from __future__ import annotations

import math

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from search.models_interleaving import MIN_CLICKED_FOR_VERDICT, InterleavingExperiment, preference

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_interval_worked_by_hand() -> None:
    # 10 A wins, 30 B wins, 10 ties: delta = 20 / 50 = 0.4; mean square = 40 / 50 = 0.8;
    # sample variance = (0.8 - 0.16) * 50 / 49 = 0.653061; se = sqrt(0.653061 / 50) = 0.114286;
    # half width = 1.959964 * 0.114286 = 0.223996.
    found = preference(wins_a=10, wins_b=30, ties=10)
    assert found.clicked == 50
    assert found.delta == pytest.approx(0.4)
    assert found.low == pytest.approx(0.4 - 0.223996, abs=1e-6)
    assert found.high == pytest.approx(0.4 + 0.223996, abs=1e-6)
    assert found.verdict == "candidate preferred"


def test_verdicts() -> None:
    assert preference(0, 0, 0).verdict == "no clicks yet"
    assert preference(0, 1, 0).low is None
    # Level: delta 0, the interval straddles it.
    level = preference(20, 20, 10)
    assert level.delta == 0 and level.low is not None and level.high is not None and level.low < 0 < level.high
    assert level.verdict == "no difference yet"
    assert preference(40, 10, 10).verdict == "production preferred"
    # Every clicked impression won by B, but too few of them to trust the interval.
    few = preference(0, MIN_CLICKED_FOR_VERDICT - 1, 0)
    assert few.delta == 1 and few.verdict == "too few clicks yet"
    # A symmetric case by hand: 30 A, 40 B, 30 ties: delta 0.1, variance (0.7 - 0.01) * 100 / 99.
    half = 1.959964 * math.sqrt((0.7 - 0.01) * 100 / 99 / 100)
    found = preference(30, 40, 30)
    assert found.low == pytest.approx(0.1 - half, abs=1e-6) and found.high == pytest.approx(0.1 + half, abs=1e-6)


def test_the_admin_shows_the_preference_and_runs_one_experiment(admin_client: Client) -> None:
    first = InterleavingExperiment.objects.create(
        name="keywords only", candidate_semantic_weight=0.0, impressions=80, wins_a=10, wins_b=30, ties=10
    )
    second = InterleavingExperiment.objects.create(name="flatter", candidate_rrf_k=200)
    listing = admin_client.get("/admin/search/interleavingexperiment/").content.decode()
    assert "+0.400 [+0.176, +0.624]" in listing and "candidate preferred" in listing
    change = admin_client.get(f"/admin/search/interleavingexperiment/{first.pk}/change/").content.decode()
    assert "+0.400 [+0.176, +0.624]" in change

    def act(action: str, experiment: InterleavingExperiment) -> None:
        response = admin_client.post(
            "/admin/search/interleavingexperiment/", {"action": action, "_selected_action": [experiment.pk]}
        )
        assert response.status_code == 302

    act("start_experiment", first)
    act("start_experiment", second)  # refused: the first runs
    assert list(InterleavingExperiment.objects.filter(is_running=True)) == [first]
    first.refresh_from_db()
    assert first.started_at is not None
    # The database holds the rule too.
    second.is_running = True
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save()
    act("stop_experiment", first)
    act("start_experiment", second)
    assert list(InterleavingExperiment.objects.filter(is_running=True)) == [second]
    first.refresh_from_db()
    assert not first.is_running and first.stopped_at is not None
