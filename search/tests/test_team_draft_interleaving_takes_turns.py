"""Team-draft interleaving: each team adds its own ranking's best result not shown yet, in turns a
coin orders each round; nothing is shown twice, the teams stay level within one, and a seed gives
the same list every time."""

from __future__ import annotations

import random

from search.interleaving import TEAM_A, TEAM_B, team_draft


def _check(ranking_a: list[int], ranking_b: list[int], length: int, seed: int) -> None:
    merged = team_draft(ranking_a, ranking_b, length, seed)
    assert len(merged.items) == len(merged.teams)
    assert len(set(merged.items)) == len(merged.items), "an item was shown twice"
    assert set(merged.teams) <= {TEAM_A, TEAM_B}
    rankings = {TEAM_A: ranking_a, TEAM_B: ranking_b}
    for index, (item, team) in enumerate(zip(merged.items, merged.teams, strict=True)):
        shown_before = set(merged.items[:index])
        # The team's pick is its own ranking's best item not shown before it.
        best = next(candidate for candidate in rankings[team] if candidate not in shown_before)
        assert item == best, f"position {index + 1}: team {team} picked {item}, its best left was {best}"
        # While both teams can pick, they stay level within one, and a team ahead waits its turn.
        a_before, b_before = merged.teams[:index].count(TEAM_A), merged.teams[:index].count(TEAM_B)
        both_left = any(x not in shown_before for x in ranking_a) and any(x not in shown_before for x in ranking_b)
        if both_left:
            assert abs(a_before - b_before) <= 1
            if a_before != b_before:
                assert team == (TEAM_A if a_before < b_before else TEAM_B)


def test_a_hand_worked_draft() -> None:
    ranking_a = [1, 2, 3, 4, 5]
    ranking_b = [2, 6, 1, 7, 8]
    merged = team_draft(ranking_a, ranking_b, 6, seed=3)
    _check(ranking_a, ranking_b, 6, 3)
    # Whoever goes first, the first round shows 1 (A's best) and 2 (B's best); the second round A's
    # next unseen is 3 and B's is 6.
    assert set(merged.items[:2]) == {1, 2} and set(merged.items[2:4]) == {3, 6}
    assert dict(zip(merged.items, merged.teams, strict=True))[1] == TEAM_A
    assert dict(zip(merged.items, merged.teams, strict=True))[6] == TEAM_B


def test_random_rankings_keep_every_rule() -> None:
    rng = random.Random(11)
    for _ in range(300):
        pool = list(range(40))
        ranking_a = rng.sample(pool, rng.randint(0, 25))
        ranking_b = rng.sample(pool, rng.randint(0, 25))
        _check(ranking_a, ranking_b, rng.randint(1, 30), rng.randrange(2**32))


def test_identical_rankings_are_split_between_the_teams() -> None:
    ranking = list(range(10))
    merged = team_draft(ranking, ranking, 10, seed=5)
    assert merged.items == ranking
    assert merged.teams.count(TEAM_A) == merged.teams.count(TEAM_B) == 5


def test_the_same_seed_gives_the_same_list_and_seeds_differ() -> None:
    ranking_a, ranking_b = list(range(0, 40, 2)), list(range(0, 40, 3))
    first = team_draft(ranking_a, ranking_b, 20, seed=42)
    assert team_draft(ranking_a, ranking_b, 20, seed=42) == first
    assert len({team_draft(ranking_a, ranking_b, 20, seed=seed).teams for seed in range(20)}) > 1


def test_a_team_with_nothing_left_lets_the_other_fill_the_page() -> None:
    merged = team_draft([1], [2, 3, 4], 4, seed=0)
    assert sorted(merged.items) == [1, 2, 3, 4]
    assert merged.teams.count(TEAM_A) == 1 and merged.teams[-2:] == "BB"


def test_items_are_matched_by_key() -> None:
    ranking_a = [("x", 1.0), ("y", 0.5)]
    ranking_b = [("y", 9.0), ("x", 8.0)]
    merged = team_draft(ranking_a, ranking_b, 4, seed=1, key=lambda item: item[0])
    assert sorted(name for name, _ in merged.items) == ["x", "y"]
    assert len(merged.items) == 2
