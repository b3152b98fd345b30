"""The fast path: plain long metric files (the big nightly exports) read, parsed and checked in one
pass, straight from the file, without the careful path's table of text. At the first thing the
careful path would have to explain it gives up, so what is stored never depends on the path."""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from pilot_health.ingest import metrics, shaping
from pilot_health.ingest import values as v
from pilot_health.ingest.conflicts import has_conflicts
from pilot_health.ingest.pilot_codes import refuse_unknown_pilots
from pilot_health.ingest.run import OBSERVATION_KEY, RetryCarefully, Run
from pilot_health.ingest.stored_facts import StoredFacts, stored_facts

PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")


@dataclass(frozen=True)
class FastRead:
    """What the fast path read: every row with no problem. `stored_as`: the upload id it stored
    the rows under as it parsed them (None: they are in ingest_parsed); `facts`: those stored rows,
    grouped (see stored_facts); `counted`: (rows, distinct rows) when the conflict check knows them."""

    rows: int
    stored_as: int | None = None
    facts: StoredFacts | None = None
    counted: tuple[int, int] | None = None


def try_fast_path(run: Run, known_pilots: list[str]) -> FastRead | None:
    """Plain long metric files skip the text table: DuckDB reads the value as a number while
    splitting the rows, the dates are ISO (checked on a sample and then on every row), and
    everything is parsed and checked in one pass. Returns what was read, or None when the file is
    not plain enough or has anything to explain (a row DuckDB cannot split or type, any rejected
    row): the careful path then runs. Raises RetryCarefully when the rows were stored already
    (the transaction is rolled back) or the database failed."""
    if not (run.route.fast and _plain_enough(run)):
        return None
    warnings_before = len(run.result.warnings)
    direct = run.route.store_as is not None  # the rows are stored as they are parsed (see metrics.parse_metrics)
    try:
        shaping.shape_metrics(run, fast=True)
        facts = metrics.parse_metrics(run, known_pilots, fast=True, time_format=v.ISO)
        rejected = run.value("SELECT count(*) FROM ingest_fast_reject_errors")
        if direct and not rejected:  # every stored row passed the checks: the grouping says the rest
            facts = facts or stored_facts(run)
            checked = _checked_from_facts(run, facts)
        else:
            facts = None
            checked = _checked_from_parsed(run)
        rows, problems, keys, valid = checked
        counted = None
        if direct and not (rejected or problems or not rows) and keys != valid:
            raise RetryCarefully(fast_again=True)  # a key repeats: the temporary table's path explains it
        if not (rejected or problems or not rows):  # a file that goes the careful way is not grouped twice
            conflicts, counted = has_conflicts(run, counted=(keys, valid))
            problems += conflicts
    except duckdb.Error:  # the transaction is spoilt (or a stored row had a problem): start again carefully
        raise RetryCarefully() from None
    if not (rejected or problems or not rows):
        refuse_unknown_pilots(run, known_pilots, facts.pilots if facts is not None else None)
    if rejected or problems or not rows:
        if direct:  # rows are stored already: roll them back and start again on the careful path
            raise RetryCarefully()
        del run.result.warnings[warnings_before:]
        run.exec("DROP VIEW IF EXISTS ingest_rows")
        return None
    run.result.rows_read = rows
    return FastRead(rows, run.route.store_as, facts, counted)


def _plain_enough(run: Run) -> bool:
    """A long metrics or usage file with values, dates and metric names mapped, whose sample's values
    are plain numbers (or blank) and dates ISO, and no decimal comma chosen."""
    mapping = run.mapping
    if mapping.kind not in ("metrics", "usage") or mapping.layout != "long" or run.options.decimal == "comma":
        return False
    value_column, time_column = mapping.column_for("value"), mapping.column_for("observed_at")
    if value_column is None or time_column is None or mapping.column_for("metric") is None:
        return False
    values = [row[run.index[value_column]] for row in run.text.sample if run.index[value_column] < len(row)]
    times = [row[run.index[time_column]] for row in run.text.sample if run.index[time_column] < len(row)]
    blank = set(v.NULL_SPELLINGS)
    return bool(values) and (
        all(PLAIN_NUMBER.fullmatch(x) or x.lower() in blank for x in values)
        and all(ISO_DATE.fullmatch(x) for x in times)
    )


# (rows, rows with a problem, distinct key hashes, rows without a problem)
_Checked = tuple[int, int, int, int]


def _checked_from_facts(run: Run, facts: StoredFacts) -> _Checked:
    """The counts from the stored rows' grouping, and the text taken as it was checked on the
    grouping's distinct codes, names and environments."""
    keys = (
        facts.keys
        if facts.keys is not None
        else run.value(f"SELECT count(DISTINCT hash({OBSERVATION_KEY})) FROM ingest_parsed")
    )
    untidy = _untidy(run, facts.pilots, facts.metrics, facts.environments)
    return facts.rows, untidy, keys, facts.rows


def _checked_from_parsed(run: Run) -> _Checked:
    """One scan counts the rows, the problems and the distinct keys (see has_conflicts) and collects
    each text column's distinct values, on which the text taken as it was is checked."""
    rows, problems, pilots, metric_names, environments, keys, valid = run.one(
        f"""
        SELECT count(*), count(problem), list(DISTINCT pilot_id), list(DISTINCT metric), list(DISTINCT environment),
               count(DISTINCT hash({OBSERVATION_KEY})) FILTER (WHERE problem IS NULL),
               count(*) FILTER (WHERE problem IS NULL)
        FROM ingest_parsed
        """
    )
    return rows, problems + _untidy(run, pilots, metric_names, environments), keys, valid


def _untidy(run: Run, pilots: list[str] | None, metric_names: list[str] | None, environments: list[str] | None) -> int:
    """How many of these distinct values the careful path would have read otherwise: the text taken as
    it was must be what it would have made of it (NULLs are left out of the lists: the check passes them)."""
    return int(
        run.value(
            f"""
            SELECT (SELECT count(*) FROM unnest(?::VARCHAR[]) t(pilot_id)
                    WHERE pilot_id IS DISTINCT FROM upper({v.text("pilot_id", 40)}))
                 + (SELECT count(*) FROM unnest(?::VARCHAR[]) t(metric)
                    WHERE metric IS DISTINCT FROM {v.text("metric", 200)})
                 + (SELECT count(*) FROM unnest(?::VARCHAR[]) t(environment) WHERE environment NOT IN ('lab', 'live'))
            """,
            [pilots or [], metric_names or [], environments or []],
        )
    )
