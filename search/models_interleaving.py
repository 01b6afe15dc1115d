"""Interleaving experiments: a candidate ranker against production on live searches, and their score.

An experiment names the candidate (another embedding model, other fusion weights, or both) and the
share of visitors' first pages shown interleaved (search/experiments.py). Each interleaved search is
kept as an ``InterleavedSearch`` beside its search log entry, with the team of each position; when
the log's flush stores a click, the rank clicked names the team credited (``credit_clicks``), never
anything the page sends. An impression's outcome: the team with more distinct results opened wins,
equal counts are a tie, no click is no outcome.

The counters live on the experiment and move by ``F()`` updates, so they outlive the log's retention
and stay right whatever process writes them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from embeddings.models import EmbeddingModel
from search.interleaving import TEAM_A, TEAM_B
from search.models_log import SearchClick, SearchLogEntry
from search.types import Mode

# Clicked impressions below which the normal interval is not trusted to say which ranker is preferred.
MIN_CLICKED_FOR_VERDICT = 30
# Two-sided 95 % quantile of the standard normal distribution.
Z_95 = 1.959963984540054


def default_modes() -> list[str]:
    return [Mode.HYBRID.value]


@dataclass(frozen=True)
class Preference:
    """How much the candidate is preferred: ``delta`` = (wins_B - wins_A) / clicked impressions, in
    [-1, 1], with its 95 % interval (None below two clicked impressions) and a one-line verdict.

    The interval is the normal (Wald) interval of a mean: each clicked impression scores +1 (B won),
    -1 (A won) or 0 (tie); ``delta`` is their mean, s² their sample variance (n - 1 denominator),
    and the interval delta ± 1.96·s/√n.
    """

    clicked: int
    delta: float
    low: float | None
    high: float | None
    verdict: str


def preference(wins_a: int, wins_b: int, ties: int) -> Preference:
    clicked = wins_a + wins_b + ties
    if clicked == 0:
        return Preference(0, 0.0, None, None, "no clicks yet")
    delta = (wins_b - wins_a) / clicked
    if clicked < 2:
        return Preference(clicked, delta, None, None, "too few clicks yet")
    # Mean of the squared scores is (wins_a + wins_b) / n; the sample variance follows from it.
    variance = max(0.0, ((wins_a + wins_b) / clicked - delta * delta) * clicked / (clicked - 1))
    half_width = Z_95 * math.sqrt(variance / clicked)
    low, high = max(-1.0, delta - half_width), min(1.0, delta + half_width)
    if clicked < MIN_CLICKED_FOR_VERDICT:
        verdict = "too few clicks yet"
    elif low > 0:
        verdict = "candidate preferred"
    elif high < 0:
        verdict = "production preferred"
    else:
        verdict = "no difference yet"
    return Preference(clicked, delta, low, high, verdict)


class InterleavingExperiment(models.Model):
    """Production (team A) against a candidate ranker (team B), on a share of visitors' searches."""

    name = models.CharField(max_length=200, unique=True)
    candidate_model = models.ForeignKey(
        EmbeddingModel,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="interleaving_experiments",
        help_text="the model team B ranks with; empty: the active model",
    )
    candidate_rrf_k = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="team B's SEARCH_RRF_K; empty: the setting"
    )
    candidate_keyword_weight = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0)], help_text="empty: SEARCH_KEYWORD_WEIGHT"
    )
    candidate_semantic_weight = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0)], help_text="empty: SEARCH_SEMANTIC_WEIGHT"
    )
    share = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="share of visitors' (visitor, query) pairs shown interleaved first pages, 0 to 1",
    )
    modes = models.JSONField(default=default_modes, help_text='the search modes interleaved: ["hybrid"], "semantic"')
    is_running = models.BooleanField(default=False, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    stopped_at = models.DateTimeField(null=True, blank=True, editable=False)
    impressions = models.PositiveBigIntegerField(default=0, editable=False)
    clicks_a = models.PositiveBigIntegerField(default=0, editable=False, help_text="results opened of production's")
    clicks_b = models.PositiveBigIntegerField(default=0, editable=False, help_text="results opened of the candidate's")
    wins_a = models.PositiveBigIntegerField(default=0, editable=False)
    wins_b = models.PositiveBigIntegerField(default=0, editable=False)
    ties = models.PositiveBigIntegerField(default=0, editable=False, help_text="impressions with equal clicks, not 0")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_running"], condition=Q(is_running=True), name="one_running_interleaving_experiment"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def running(cls) -> InterleavingExperiment | None:
        return cls.objects.filter(is_running=True).select_related("candidate_model").first()

    def clean(self) -> None:
        modes = self.modes if isinstance(self.modes, list) else None
        allowed = {Mode.HYBRID.value, Mode.SEMANTIC.value}
        if not modes or any(mode not in allowed for mode in modes):
            raise ValidationError({"modes": 'a list of "hybrid" and/or "semantic" (keyword ranks without a model)'})
        weighted = any(
            value is not None
            for value in (self.candidate_rrf_k, self.candidate_keyword_weight, self.candidate_semantic_weight)
        )
        if self.candidate_model_id is None and not weighted:
            raise ValidationError("name a candidate model or candidate weights: else team B is production")
        if self.candidate_model_id is None and Mode.SEMANTIC.value in modes:
            raise ValidationError({"modes": "semantic search uses no fusion weights: name a candidate model"})

    def start(self) -> None:
        """Run from now (IntegrityError when another experiment runs). Counters carry on from a stop."""
        self.is_running, self.started_at, self.stopped_at = True, timezone.now(), None
        self.save(update_fields=["is_running", "started_at", "stopped_at"])

    def stop(self) -> None:
        self.is_running, self.stopped_at = False, timezone.now()
        self.save(update_fields=["is_running", "stopped_at"])

    def preference(self) -> Preference:
        return preference(self.wins_a, self.wins_b, self.ties)


class InterleavedSearch(models.Model):
    """A search whose first page was interleaved: which experiment, each position's team, the clicks so far."""

    search = models.OneToOneField(
        SearchLogEntry,
        on_delete=models.CASCADE,
        to_field="search_id",
        related_name="interleaved",
        db_column="search_id",
    )
    experiment = models.ForeignKey(InterleavingExperiment, on_delete=models.CASCADE, related_name="searches")
    teams = models.CharField(max_length=200, help_text='the team of rank 1, 2, ...: "ABBA..."')
    clicks_a = models.PositiveIntegerField(default=0)
    clicks_b = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.teams} (A {self.clicks_a}, B {self.clicks_b})"


def outcome(clicks_a: int, clicks_b: int) -> str | None:
    """The experiment counter an impression with these clicks adds to; None without clicks."""
    if clicks_a == clicks_b:
        return "ties" if clicks_a else None
    return "wins_a" if clicks_a > clicks_b else "wins_b"


def _add(deltas: dict[int, Counter[str]]) -> None:
    for experiment_id, delta in deltas.items():
        changes: dict[str, Any] = {name: F(name) + change for name, change in delta.items() if change}
        if changes:
            InterleavingExperiment.objects.filter(pk=experiment_id).update(**changes)


def record_impressions(shown: dict[Any, tuple[int, str]]) -> int:
    """Keep the interleaved searches just stored (search id → (experiment id, teams)) and count them as
    impressions; those of a deleted experiment are passed over. The number kept."""
    known = set(
        InterleavingExperiment.objects.filter(pk__in={exp for exp, _ in shown.values()}).values_list("pk", flat=True)
    )
    rows = [
        InterleavedSearch(search_id=search_id, experiment_id=experiment_id, teams=teams)
        for search_id, (experiment_id, teams) in shown.items()
        if experiment_id in known
    ]
    InterleavedSearch.objects.bulk_create(rows)
    _add({exp: Counter(impressions=count) for exp, count in Counter(row.experiment_id for row in rows).items()})
    return len(rows)


def credit_clicks(clicks: Iterable[SearchClick]) -> int:
    """Credit clicks just stored (none seen before) to the team of the rank opened, and move each
    impression's outcome; a result opened again, or a rank past the interleaved page, credits nothing.
    Called inside the flush's transaction. The number of clicks credited."""
    clicks = sorted(clicks, key=lambda click: click.created_at)
    new_ids = {click.click_id for click in clicks}
    searches: dict[Any, InterleavedSearch] = {
        row.search_id: row
        for row in InterleavedSearch.objects.select_for_update().filter(search_id__in={c.search_id for c in clicks})
    }
    if not searches:
        return 0
    search_ids: list[Any] = list(searches)
    opened: set[tuple[Any, int]] = set(
        SearchClick.objects.filter(search_id__in=search_ids)
        .exclude(click_id__in=new_ids)
        .values_list("search_id", "rank")
    )
    deltas: dict[int, Counter[str]] = defaultdict(Counter)
    changed: dict[Any, InterleavedSearch] = {}
    credited = 0
    for click in clicks:
        row = searches.get(click.search_id)
        if row is None or (click.search_id, click.rank) in opened or not 0 < click.rank <= len(row.teams):
            continue
        opened.add((click.search_id, click.rank))
        before = outcome(row.clicks_a, row.clicks_b)
        if row.teams[click.rank - 1] == TEAM_A:
            row.clicks_a += 1
            deltas[row.experiment_id]["clicks_a"] += 1
        elif row.teams[click.rank - 1] == TEAM_B:
            row.clicks_b += 1
            deltas[row.experiment_id]["clicks_b"] += 1
        else:
            continue
        after = outcome(row.clicks_a, row.clicks_b)
        if before is not None:
            deltas[row.experiment_id][before] -= 1
        if after is not None:
            deltas[row.experiment_id][after] += 1
        changed[row.search_id] = row
        credited += 1
    InterleavedSearch.objects.bulk_update(changed.values(), ["clicks_a", "clicks_b"])
    _add(deltas)
    return credited
