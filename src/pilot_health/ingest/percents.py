"""Values written with a percent sign, on the scale their metric is kept in.

`92%`, `92,5 %` and `92.5 %` write a percentage. A metric is kept on one scale, so a value with a
percent sign is stored as a share (0.92, 0.925) — the scale of `0.925` written plainly — unless
the metric dictionary says the metric's unit is percent (unit `%`: `on_shelf_availability`,
`churn_rate` …, or the pilot register's `kpi_unit` for a pilot's KPI), in which case it keeps the
number as written (92, 92.5), the scale of `92.5` written plainly. A plain number is always stored
as written. What is known of a metric comes from the same places as its kind: an answer given
with this upload, an answer stored earlier, the built-in dictionary, then the register's KPI.
"""
from __future__ import annotations

from typing import Mapping

import duckdb

from ..metric_dictionary import MetricAnswer, dictionary_with_answers, metric_key

# Units that mean "a number from 0 to 100" (percentage points), as the dictionary and the register write them.
PERCENT_UNITS = frozenset({"%", "percent", "per cent", "percentage", "percentage points", "pct", "pp"})
TABLE = "ingest_percent_points"


def is_percent_unit(unit: object) -> bool:
    return isinstance(unit, str) and unit.strip().lower() in PERCENT_UNITS


def percent_points_names(con: duckdb.DuckDBPyConnection, names: list[str], answers: Mapping[str, MetricAnswer]) -> list[str]:
    """The metric names (as written) among `names` that are kept in percent (0–100)."""
    if not names:
        return []
    dictionary = dictionary_with_answers(con)
    given = {dictionary.canonical(name): answer for name, answer in answers.items()}
    kpi_units = {}
    for name, unit in con.execute("SELECT kpi_name, kpi_unit FROM pilots WHERE kpi_name IS NOT NULL").fetchall():
        kpi_units.setdefault(metric_key(name), unit)
    points = []
    for name in names:
        key = dictionary.canonical(name)
        if key in given:
            unit = given[key].unit
        else:
            known = dictionary.lookup(name)
            unit = known.unit if known is not None and known.unit else kpi_units.get(metric_key(name))
        if is_percent_unit(unit):
            points.append(name)
    return points


def share_condition(con: duckdb.DuckDBPyConnection, table: str, metric_column: str, value_column: str,
                    answers: Mapping[str, MetricAnswer]) -> str:
    """SQL: true on the rows of `table` whose percent-signed value becomes a share (divided by 100).

    The names kept in percent are written to a temporary table (names from the file are values,
    never SQL text); the condition reads it."""
    names = [r[0] for r in con.execute(
        f"SELECT DISTINCT {metric_column} FROM {table} WHERE contains({value_column}, '%') AND {metric_column} IS NOT NULL"
    ).fetchall()]
    points = percent_points_names(con, names, answers)
    if not points:
        return "true"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT unnest(?::VARCHAR[]) AS metric", [points])
    return f"({metric_column} IS NULL OR {metric_column} NOT IN (SELECT metric FROM {TABLE}))"
