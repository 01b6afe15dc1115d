"""A tighter bound on a word's impact, so the triggers that keep the keyword lists rank fewer words.

PostgreSQL's ts_rank of one word (calc_rank_or in tsrank.c) over its n positions, weights w_j in
document order, is (w_max + sum_j w_j / (j + 1)^2 - w_max / (j_max + 1)^2) / 1.64493406685: the
term of the heaviest position cancels, so it is at most w_max * (1 + sum_{i=1}^{n-1} 1 / i^2) /
1.64493406685. That is 0.608 * w_max for a word written once (most words of a record), 1.216 for
twice, 1.368 and 1.435 for three and four times, and below 1.608 for any number; 0004 used 1.61
for all. The bounds are rounded up by about 1e-4, above ts_rank's single-precision arithmetic.
"""

import importlib

from django.db import migrations

IMPACT_BOUND = """
CREATE FUNCTION catalog_word_impact_bound(positions smallint[], weights text[]) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE cardinality(positions) WHEN 1 THEN 0.6080 WHEN 2 THEN 1.2159 WHEN 3 THEN 1.3679
                                       WHEN 4 THEN 1.4354 ELSE 1.6080 END
         * CASE WHEN 'A' = ANY (weights) THEN 1.0 WHEN 'B' = ANY (weights) THEN 0.4
                WHEN 'C' = ANY (weights) THEN 0.2 ELSE 0.1 END
$$
"""

LEADER_ROWS = """
CREATE OR REPLACE FUNCTION catalog_word_leader_rows(candidate_id bigint, candidate_aic_id integer, document tsvector)
RETURNS TABLE (lexeme text, artwork_id bigint, aic_id integer, impact double precision)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT ranked.lexeme, candidate_id, candidate_aic_id, ranked.impact
    FROM (
        SELECT word.lexeme, word.floor_impact, word.floor_aic_id,
               catalog_word_impact(document, word.lexeme) AS impact
        FROM unnest(document) AS held(lexeme, positions, weights)
        JOIN catalog_frequentword AS word ON word.lexeme = held.lexeme
        -- A word whose impact cannot reach the floor is not ranked.
        WHERE catalog_word_impact_bound(held.positions, held.weights) >= word.floor_impact
    ) AS ranked
    WHERE ranked.impact > ranked.floor_impact
       OR (ranked.impact = ranked.floor_impact AND candidate_aic_id <= ranked.floor_aic_id)
$$
"""


def _previous_leader_rows() -> str:
    return str(importlib.import_module("catalog.migrations.0004_word_leaders").LEADER_ROWS)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_raw_record_storage"),
    ]

    operations = [
        migrations.RunSQL(
            IMPACT_BOUND, reverse_sql='DROP FUNCTION IF EXISTS catalog_word_impact_bound(smallint[], text[])'
        ),
        migrations.RunSQL(LEADER_ROWS, reverse_sql=_previous_leader_rows()),
    ]
