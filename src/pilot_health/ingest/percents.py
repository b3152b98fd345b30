"""Values written with a percent sign, on the scale their metric is kept in.

`92%`, `92,5 %` and `92.5 %` write a percentage. A metric is kept on one scale, so a value with a
percent sign is stored as a share (0.92, 0.925) — the scale of `0.925` written plainly — unless
the metric dictionary says the metric's unit is percent (unit `%`: `on_shelf_availability`,
`churn_rate` …, or the pilot register's `kpi_unit` for a pilot's KPI), in which case it keeps the
number as written (92, 92.5), the scale of `92.5` written plainly. A plain number is always stored
as written. What is known of a metric comes from the same places as its kind: an answer given
with this upload, an answer stored earlier, the built-in dictionary, then the register's KPI.
The SQL that applies it is `values.percent_share`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pilot_health.rules.metric_dictionary import MetricAnswer, MetricDictionary, metric_key

# Units that mean "a number from 0 to 100" (percentage points), as the dictionary and the register write them.
PERCENT_UNITS = frozenset({"%", "percent", "per cent", "percentage", "percentage points", "pct", "pp"})


def is_percent_unit(unit: object) -> bool:
    return isinstance(unit, str) and unit.strip().lower() in PERCENT_UNITS


def kept_in_percent(
    names: list[str], dictionary: MetricDictionary, answers: Mapping[str, MetricAnswer], kpi_units: Mapping[str, object]
) -> list[str]:
    """The metric names (as written) among `names` that are kept in percent (0–100): by an answer
    given with this upload, else what the dictionary knows (stored answers, then built-in entries),
    else the unit of a pilot KPI of that name in the register (`kpi_units`: metric key → unit)."""
    given = {dictionary.canonical(name): answer for name, answer in answers.items()}
    points = []
    for name in names:
        key = dictionary.canonical(name)
        unit: object  # an answer's or the dictionary's text, or whatever the register holds
        if key in given:
            unit = given[key].unit
        else:
            known = dictionary.lookup(name)
            unit = known.unit if known is not None and known.unit else kpi_units.get(metric_key(name))
        if is_percent_unit(unit):
            points.append(name)
    return points
