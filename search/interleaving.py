"""Team-draft interleaving (Radlinski, Kurup and Joachims, 2008): two rankings merged into one list
whose every position is credited to the ranking, team A or team B, that put it there.

Each round a coin decides which team picks first; each team, in its turn, adds its highest-ranked
result not shown yet. When one team has nothing left to add, the other fills the rest of the list, so
a page stays full; while both can pick, the two teams' counts differ by at most one. The coin is a
``random.Random`` seeded by the caller: the same seed gives the same list, so a visitor who reloads
sees the same page (search/experiments.py derives the seed from the visitor and the query).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

TEAM_A = "A"  # production: the ranking every other visitor sees
TEAM_B = "B"  # the candidate


@dataclass(frozen=True)
class Interleaved(Generic[T]):
    """The merged list and, at the same index of ``teams``, the team that picked each item ("ABBA...")."""

    items: list[T]
    teams: str


def team_draft(
    ranking_a: Sequence[T],
    ranking_b: Sequence[T],
    length: int,
    seed: int,
    key: Callable[[T], Hashable] = lambda item: item,
) -> Interleaved[T]:
    """At most ``length`` items of the two rankings, team-draft interleaved; ``key`` says when an item of
    one ranking is the same as an item of the other (it is then shown once, credited to the team
    that picked it first)."""
    coin = random.Random(seed)
    shown: set[Hashable] = set()
    items: list[T] = []
    teams: list[str] = []
    picked = {TEAM_A: 0, TEAM_B: 0}
    next_index = {TEAM_A: 0, TEAM_B: 0}
    rankings = {TEAM_A: ranking_a, TEAM_B: ranking_b}

    def has_left(team: str) -> bool:
        ranking = rankings[team]
        while next_index[team] < len(ranking) and key(ranking[next_index[team]]) in shown:
            next_index[team] += 1
        return next_index[team] < len(ranking)

    while len(items) < length:
        a_left, b_left = has_left(TEAM_A), has_left(TEAM_B)
        if not (a_left or b_left):
            break
        if a_left and b_left:
            # A round starts when the teams are level: the coin says who picks first.
            if picked[TEAM_A] == picked[TEAM_B]:
                team = TEAM_A if coin.random() < 0.5 else TEAM_B
            else:
                team = TEAM_A if picked[TEAM_A] < picked[TEAM_B] else TEAM_B
        else:
            team = TEAM_A if a_left else TEAM_B
        item = rankings[team][next_index[team]]
        shown.add(key(item))
        items.append(item)
        teams.append(team)
        picked[team] += 1
    return Interleaved(items, "".join(teams))
