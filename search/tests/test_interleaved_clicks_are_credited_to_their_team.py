"""A click on an interleaved page is credited to the team that put the opened result there, found from
the rank when the click is stored (what the page sends about teams is not read); each impression is
won by the team with more results opened, a tie when level, and nothing is counted twice."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from search import log
from search.experiments import VISITOR_COOKIE
from search.interleaving import TEAM_A, TEAM_B
from search.models_interleaving import InterleavedSearch, InterleavingExperiment
from search.tests.interleaving import expected_page, running_experiment
from search.tests.search_log import buffered, csrf_token_of, empty_buffer, result_links, search_id_of

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = "a bedroom with yellow chairs"


def _counters(experiment: InterleavingExperiment) -> tuple[int, ...]:
    experiment.refresh_from_db()
    return (
        experiment.impressions,
        experiment.clicks_a,
        experiment.clicks_b,
        experiment.wins_a,
        experiment.wins_b,
        experiment.ties,
    )


def test_clicks_are_credited_to_the_team_of_the_rank_opened(indexed: list[Artwork], redis_client: Any) -> None:
    empty_buffer(redis_client)
    experiment = running_experiment(share=1.0)
    client = Client(enforce_csrf_checks=True)

    # Four impressions of the same query: the visitor's page is the same each time (a reload does not flip it).
    pages = [client.get("/", {"q": QUERY}).content.decode() for _ in range(4)]
    visitor = client.cookies[VISITOR_COOKIE].value
    expected = expected_page(experiment, visitor, QUERY)
    for html in pages:
        assert [aic_id for aic_id, _ in result_links(html)] == [hit.artwork.aic_id for hit in expected.items]
    teams = expected.teams
    assert [item["interleaving"] for item in buffered(redis_client)] == [
        {"experiment": experiment.pk, "teams": teams}
    ] * 4
    ranks_a = [index + 1 for index, team in enumerate(teams) if team == TEAM_A]
    ranks_b = [index + 1 for index, team in enumerate(teams) if team == TEAM_B]
    assert len(ranks_a) >= 2 and len(ranks_b) >= 2
    links = result_links(pages[0])
    token = csrf_token_of(pages[0])

    def click(html: str, rank: int, **extra: str) -> None:
        aic_id = links[rank - 1][0]
        fields = {"s": search_id_of(html), "a": str(aic_id), "r": str(rank), "csrfmiddlewaretoken": token, **extra}
        assert client.post("/search/click", fields).status_code == 204

    click(pages[0], ranks_a[0])  # one A click: A wins, for now
    click(pages[1], ranks_b[0], team="A")  # a team sent by the page is not read
    click(pages[1], ranks_b[1])
    click(pages[1], ranks_b[1])  # the same result opened again counts once
    click(pages[1], ranks_a[1])  # two B, one A: B wins
    click(pages[2], ranks_a[0])  # A wins
    # pages[3]: no click, no outcome
    batch = redis_client.lrange(log.BUFFER_KEY, 0, -1)
    counts = log.flush()
    assert (counts.searches, counts.clicks, counts.interleaved, counts.credited) == (4, 6, 4, 5)
    # impressions, clicks A, clicks B, wins A, wins B, ties
    assert _counters(experiment) == (4, 3, 2, 2, 1, 0)
    stored = {row.search_id.hex: (row.clicks_a, row.clicks_b) for row in InterleavedSearch.objects.all()}
    assert [stored[search_id_of(html)] for html in pages] == [(1, 0), (1, 2), (1, 0), (0, 0)]
    assert {row.teams for row in InterleavedSearch.objects.all()} == {teams}

    # A later B click on the first impression makes its A win a tie.
    click(pages[0], ranks_b[0])
    log.flush()
    assert _counters(experiment) == (4, 3, 3, 1, 1, 1)

    # The first batch stored again (a redelivered flush) counts nothing again.
    log.store(reversed(batch))
    assert _counters(experiment) == (4, 3, 3, 1, 1, 1)

    # The log's retention may delete the searches: the experiment keeps its counts.
    InterleavedSearch.objects.all().delete()
    assert _counters(experiment) == (4, 3, 3, 1, 1, 1)
