"""Metrics and usage files into one row per value: long files, one column per metric or per date
(pivot tables with their totals and blank labels), W&B chart exports, and the run tables' unfinished runs."""

from __future__ import annotations

from typing import Any, cast

from pilot_health.formatting import plural
from pilot_health.ingest import values as v
from pilot_health.ingest.lab_or_live import names_split
from pilot_health.ingest.loading import read_csv_sql
from pilot_health.ingest.problems import Refused
from pilot_health.ingest.recognise import DATE_PREFIX, METRIC_PREFIX, usage_metrics
from pilot_health.ingest.run import Run
from pilot_health.lazy import pandas as pd
from pilot_health.store import queries

# The columns every shaped row carries along, by the names ingest_rows gives them.
CARRIED = {"pilot_id": "pilot_raw", "kind": "kind_raw", "environment": "environment_raw", "_step": "step_raw"}


def shape_metrics(run: Run, fast: bool = False) -> None:
    """A metrics or usage file as `ingest_rows`: one row per value, still text (ord, col, the
    carried columns, metric_raw, time_raw, value_raw), whatever the layout: long, one column per
    metric or per date, a W&B chart export. `fast`: straight from the file through the reader
    (see fast_path), with no table of text in between."""
    mapping = run.mapping
    wide = [(h, t) for h, t in mapping.targets.items() if t.startswith((METRIC_PREFIX, DATE_PREFIX))]
    leave_out_unfinished_runs(run)
    fixed = _fixed_columns(run)
    if mapping.export == "Weights & Biases chart export" and mapping.defaults.get("chart_columns") and wide:
        shape_chart(run, fixed, CARRIED)
    elif mapping.layout == "long" or not wide:
        _shape_long(run, fixed, fast)
    else:
        _shape_wide(run, fixed, wide)


def _fixed_columns(run: Run) -> dict[str, str | None]:
    """The ingest_raw column (c0, c1 …) of each field a row takes from its own cells, or None; lab
    or live from the run names' column when the names say it (see metrics.environment_expression)."""
    fixed = {
        t: run.column_of(t) for t in ("pilot_id", "metric", "kind", "environment", "observed_at", "value", "_step")
    }
    names = run.mapping.defaults.get("environment_from_names")
    if fixed["environment"] is None and names_split(run.mapping, run.options) and names in run.index:
        fixed["environment"] = run.col(names)
    return fixed


def _carried(fixed: dict[str, str | None], prefix: str) -> str:
    """The carried columns as SQL select items (`prefix`: the alias of the rows they come from)."""
    return ", ".join(f"{prefix + (fixed[t] or '') if fixed[t] else 'NULL'} AS {alias}" for t, alias in CARRIED.items())


def _shape_long(run: Run, fixed: dict[str, str | None], fast: bool) -> None:
    """One value per row: a view over the rows as they are, once the value and metric columns are known."""
    if fixed["value"] is None:
        raise Refused(f"{run.result.file_name}: choose which column holds the values (none is mapped to “Value”).")
    if fixed["metric"] is None:
        raise Refused(
            f"{run.result.file_name}: choose which column holds the metric names (none is mapped to “Metric name”)."
        )
    value_index = run.column_index("value")
    ord_sql, source, value_sql = f"rowid - {run.base} + 1", "ingest_raw", fixed["value"]
    if fast:  # straight from the file (see try_fast_path)
        ord_sql, source = "CAST(NULL AS BIGINT)", read_csv_sql(run, "ingest_fast_reject")
        # The value cell's spellings of "no value" (NA, n/a, #DIV/0! …) as DuckDB's nullstr would
        # read them: exactly as written. The reader's nullstr would compare every cell of every
        # column with them (0.1 s of CPU on a million rows); a null spelling in another column
        # reads as text and fails a check there (untidy code or name, no date, not lab or live),
        # which sends the file the careful way, as a NULL there does.
        spellings = ", ".join("'" + x.replace("'", "''") + "'" for x in v.null_cells())
        value_sql = f"(CASE WHEN {value_sql} IN ({spellings}) THEN NULL ELSE {value_sql} END)"
    run.exec(
        f"""
        CREATE OR REPLACE TEMP VIEW ingest_rows AS
        SELECT {ord_sql} AS ord, {value_index} AS col, {_carried(fixed, "")}, {fixed["metric"]} AS metric_raw,
               {fixed["observed_at"] or "NULL"} AS time_raw, {value_sql} AS value_raw
        FROM {source}
        """
    )


def _shape_wide(run: Run, fixed: dict[str, str | None], wide: list[tuple[str, str]]) -> None:
    """One column per metric or per date: unpivoted into one row per filled cell, each cell's
    metric and date from its column (a lookup table) or its row; all columns of one layout."""
    lookup = pd.DataFrame(
        [(f"c{run.index[h]}", run.index[h], t.split(":", 1)[0], t.split(":", 1)[1]) for h, t in wide],
        columns=["name", "col", "what", "label"],
    )
    if lookup["what"].eq("date").all():
        metric_sql, time_sql = crosstab_metric(run, fixed), "l.label"
    elif lookup["what"].eq("metric").all():
        metric_sql, time_sql = "l.label", (f"u.{fixed['observed_at']}" if fixed["observed_at"] else "NULL")
    else:
        raise Refused(
            f"{run.result.file_name}: columns are mapped both as one-per-metric and as one-per-date; choose one layout."
        )
    cells = ", ".join(f"c{run.index[h]}" for h, _ in wide)
    check_wide_values(run, cells, len(wide), "dates" if lookup["what"].eq("date").all() else "metrics")
    queries.register(run.con, "ingest_wide_lookup", lookup)
    run.exec(
        f"""
        CREATE OR REPLACE TEMP TABLE ingest_rows AS
        SELECT u.ord, l.col, {_carried(fixed, "u.")}, {metric_sql} AS metric_raw, {time_sql} AS time_raw,
               u.cell AS value_raw
        FROM (UNPIVOT (SELECT rowid - {run.base} + 1 AS ord, * FROM ingest_raw) ON {cells} INTO NAME name VALUE cell) u
        JOIN ingest_wide_lookup l USING (name)
        """
    )
    run.con.unregister("ingest_wide_lookup")
    run.exec(f"DELETE FROM ingest_rows WHERE {v.cleaned('value_raw')} IS NULL")  # empty wide cells: no observation


def check_wide_values(run: Run, cells: str, columns: int, kind: str) -> None:
    """A table with one column per metric (or per date) becomes one row per filled cell: refuse
    it when that is more rows than one upload may store (the rows limit), before any are made.
    Within the column and cell limits a wide file can hold five times the rows limit in values,
    and checking them all would take the memory the limits are there to bound (issue 15)."""
    from pilot_health.ingest.reading import _limits

    limit = _limits().rows
    rows = run.value("SELECT count(*) FROM ingest_raw")
    if rows * columns <= limit:
        return
    filled = run.value(
        f"SELECT count(*) FROM (UNPIVOT (SELECT {cells} FROM ingest_raw) ON {cells} INTO NAME name VALUE cell) "
        f"WHERE {v.cleaned('cell')} IS NOT NULL"
    )
    if filled > limit and kind == "runs' metrics":  # a chart export keeps each run's last value, but reads every step
        raise Refused(
            f"{run.result.file_name} holds {filled:,} values in its {columns:,} columns of runs' metrics: "
            f"more than the {limit:,} rows one upload may read. Export fewer runs or fewer steps "
            "(or split it into smaller files) and upload them one after the other."
        )
    if filled > limit:
        raise Refused(
            f"{run.result.file_name} holds {filled:,} values in its {columns:,} columns of {kind}, "
            f"and each becomes one row to store: more than the {limit:,} rows one upload may store. "
            "Split it into smaller files (fewer rows or fewer columns each) and upload them one after the other."
        )


def leave_out_unfinished_runs(run: Run) -> None:
    """Runs of a run table that failed, crashed, were killed or still run are not results: left
    out with a note, unless the person uploading keeps them."""
    from pilot_health.ingest.recognise import RUN_STATUSES

    column = run.column_of("_run_status")
    if column is None:
        return
    counts = dict(run.con.execute(f"SELECT lower(trim({column})), count(*) FROM ingest_raw GROUP BY 1").fetchall())
    found = {what: sum(counts.get(word, 0) for word in words) for what, words in RUN_STATUSES.items()}
    run.result.unfinished_runs = sum(found.values())
    if not run.result.unfinished_runs:
        return
    failed = plural(found["failed"], "failed run") if found["failed"] else ""
    running = f"{plural(found['running'], 'run')} still running" if found["running"] else ""
    what = " and ".join(x for x in (failed, running) if x)
    if run.options.keep_unfinished_runs:
        run.result.warnings.append(f"{what} kept, as you chose: their numbers are stored with the finished runs'.")
        return
    words = [w for group in RUN_STATUSES.values() for w in group]
    run.exec(f"DELETE FROM ingest_raw WHERE lower(trim({column})) IN (SELECT unnest(?::VARCHAR[]))", [words])
    run.result.rows_left_out += run.result.unfinished_runs
    run.result.warnings.append(
        f"{what} left out: a failed, crashed or killed run's numbers, and a running run's, are not results. "
        "Choose to keep them if they are."
    )


def shape_chart(run: Run, fixed: dict[str, str | None], aliases: dict[str, str]) -> None:
    """A W&B chart export: one row per run, metric and step. A value cell left empty with equal
    __MIN and __MAX companions (a run drawn alone) takes that value; each run's lab or live comes
    from its name when the run names say it (chosen on upload)."""
    columns = cast("dict[str, dict[str, Any]]", run.mapping.defaults["chart_columns"])
    split = names_split(run.mapping, run.options)
    parts: list[str] = []
    params: list[str] = []
    cells: list[str] = []
    for header, target in run.mapping.targets.items():
        if not target.startswith(METRIC_PREFIX):
            continue
        info = columns.get(header, {})
        label = target[len(METRIC_PREFIX) :]
        if not split and info.get("bare"):  # run names not used for lab/live: the run stays in the name
            label = f"{label} ({info['run']})"
        environment = info.get("environment") if split else None
        env_sql = f"'{environment}'" if environment in ("lab", "live") else (fixed["environment"] or "NULL")
        cell = run.cell(header)
        low, high = (run.col(info[s]) if info.get(s) in run.index else None for s in ("min", "max"))
        value_sql = cell
        if low and high:
            value_sql = (
                f"coalesce({v.cleaned(cell)}, CASE WHEN {v.cleaned(low)} = {v.cleaned(high)} THEN {v.cleaned(low)} END)"
            )
        carried = ", ".join(
            f"{env_sql if t == 'environment' else (fixed[t] or 'NULL')} AS {alias}" for t, alias in aliases.items()
        )
        parts.append(
            f"SELECT rowid - {run.base} + 1 AS ord, {run.index[header]} AS col, {carried}, "
            f"CAST(? AS VARCHAR) AS metric_raw, {fixed['observed_at'] or 'NULL'} AS time_raw, {value_sql} AS value_raw "
            "FROM ingest_raw"
        )
        params.append(label)
        cells.append(cell)
    check_wide_values(run, ", ".join(cells), len(cells), "runs' metrics")
    run.exec(f"CREATE OR REPLACE TEMP TABLE ingest_rows AS {' UNION ALL '.join(parts)}", params)
    run.exec(f"DELETE FROM ingest_rows WHERE {v.cleaned('value_raw')} IS NULL")  # steps a run did not log


def crosstab_metric(run: Run, fixed: dict[str, str | None]) -> str:
    """One column per date: the SQL (over the unpivoted rows `u`) of each row's metric name.

    Outer labels a pivot table leaves blank are filled from the row above; rows whose measure,
    pilot or dimension is a total (`Grand Total`, `Total`, `All`, a pivot's `EMEA Total`) are
    left out and counted; each dimension is kept in the name: `Revenue · Region: EMEA`."""
    from pilot_health.ingest.recognise import SEGMENT_PREFIX

    mapping = run.mapping
    segments = [
        (run.cell(h), t[len(SEGMENT_PREFIX) :]) for h, t in mapping.targets.items() if t.startswith(SEGMENT_PREFIX)
    ]
    measure = fixed["metric"]
    name = None if measure is not None else _metric_name_given(run)
    dimensions = sorted(
        {c for c in (measure, fixed["pilot_id"], *(c for c, _ in segments)) if c}, key=lambda c: int(c[1:])
    )
    _fill_pivot_labels(run, dimensions)
    _leave_out_totals(run, dimensions, measure)
    if measure and not segments:
        return f"u.{measure}"
    return _segmented_metric(run, measure, name, segments)


def _metric_name_given(run: Run) -> str:
    """The metric's name when the file has no measure column: the one given on upload, or one taken
    from the file's name (said in a note); refused when there is neither."""
    result = run.result
    name = (run.options.metric_name or "").strip()[:200] or run.mapping.defaults.get("metric")
    if not name:
        raise Refused(
            f"{result.file_name}: choose which column holds the metric names, or give the metric's name "
            "(one row per metric, one column per date)."
        )
    if not (run.options.metric_name or "").strip():
        result.warnings.append(
            f"{result.file_name} does not name its metric: its values are stored as “{name}”, "
            "a name taken from the file's name. Give another name if that is wrong."
        )
    return str(name)


def _fill_pivot_labels(run: Run, dimensions: list[str]) -> None:
    """Pivot tables write an outer label once, on the first row of its group: blank cells under
    the outer dimensions take the label above them (said in a note)."""
    filled = []
    for column in dimensions[:-1]:
        blanks = run.value(
            f"SELECT count(*) FROM ingest_raw WHERE {v.cleaned(column)} IS NULL "
            "AND rowid > (SELECT min(rowid) FROM ingest_raw)"
        )
        if blanks:
            run.exec(
                f"""
                UPDATE ingest_raw SET {column} = f.label FROM (
                    SELECT rowid AS rid, last_value({v.cleaned(column)} IGNORE NULLS)
                           OVER (ORDER BY rowid ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS label
                    FROM ingest_raw) f
                WHERE ingest_raw.rowid = f.rid AND {v.cleaned(f"ingest_raw.{column}")} IS NULL
                """
            )
            filled.append(run.text.header[int(column[1:])])
    if filled:
        run.result.warnings.append(
            f"Blank cells under {', '.join(f'“{h}”' for h in filled)} were read as the label above them, "
            "as pivot tables write a group's label once."
        )


def _leave_out_totals(run: Run, dimensions: list[str], measure: str | None) -> None:
    """Totals are sums of rows the file already holds, not observations: rows whose measure, pilot
    or dimension says total (or a dimension says subtotal) are left out and counted (said in a note)."""
    from pilot_health.ingest.recognise import SUBTOTAL_WORDS, TOTAL_WORDS

    result = run.result
    total, subtotal = "(?i)" + TOTAL_WORDS.pattern, "(?i)" + SUBTOTAL_WORDS.pattern
    tests, params = [], []
    for column in dimensions:
        tests.append(f"regexp_matches(coalesce({column}, ''), ?)")
        params.append(total)
        if column != measure:
            tests.append(f"regexp_matches(coalesce({column}, ''), ?)")
            params.append(subtotal)
    if not tests:
        return
    where = " OR ".join(tests)
    count, examples = run.one(
        f"SELECT count(*), list(DISTINCT trim(concat_ws(' ', {', '.join(dimensions)}))) FROM ingest_raw WHERE {where}",
        params,
    )
    if count:
        run.exec(f"DELETE FROM ingest_raw WHERE {where}", params)
        result.rows_left_out += count
        shown = ", ".join(f"“{x[:40]}”" for x in sorted(examples)[:3]) + (" …" if len(examples) > 3 else "")
        result.warnings.append(
            f"Left out {plural(count, 'total row')} ({shown}): totals add up rows the file already "
            "holds; they are not observations."
        )


def _segmented_metric(run: Run, measure: str | None, name: str | None, segments: list[tuple[str, str]]) -> str:
    """Each row's metric name with its dimensions (`Revenue · Region: EMEA`; a dimension that means
    everyone is left out of the name), written into ingest_raw.crosstab_metric."""
    from pilot_health.ingest.recognise import EVERYONE_SEGMENTS, SEGMENT_JOIN

    result = run.result
    base, named = (v.cleaned(measure) if measure else "?"), ([] if measure else [name])
    if measure and result.kind == "usage":  # the usage metric's own name, before the segment is added
        cases = " ".join(
            f"WHEN lower(regexp_replace(trim({measure}), '[^0-9A-Za-z]+', '_', 'g')) "
            f"IN ({', '.join(repr(w) for w in sorted(words))}) THEN '{key}'"
            for key, words in usage_metrics().items()
        )
        base = f"(CASE {cases} ELSE {base} END)"
    parts: list[str] = []
    labels: list[str] = []
    for column, label in segments:
        everyone = ", ".join(f"'{w}'" for w in sorted(EVERYONE_SEGMENTS))
        parts.append(
            f"CASE WHEN {v.cleaned(column)} IS NOT NULL "
            f"AND lower(regexp_replace(trim({column}), '[^0-9A-Za-z]+', '_', 'g')) "
            f"NOT IN ({everyone}) THEN ? || ': ' || {v.cleaned(column)} END"
        )
        labels.append(label)
    run.exec("ALTER TABLE ingest_raw ADD COLUMN IF NOT EXISTS crosstab_metric VARCHAR")
    run.exec(
        f"UPDATE ingest_raw SET crosstab_metric = CASE WHEN {base} IS NOT NULL "
        f"THEN concat_ws(?, {base}, {', '.join(parts) or 'NULL'}) END",
        [*named, SEGMENT_JOIN, *named, *labels],
    )
    return "u.crosstab_metric"
