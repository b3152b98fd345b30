"""Metrics and usage files: every value row parsed and checked in one statement (pilot code, metric
name, kind, lab or live, date, number), each row with its first problem, into `ingest_parsed` (or,
on the fast path with commit, straight into the table under the upload's id)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pilot_health.formatting import plural
from pilot_health.ingest import values as v
from pilot_health.ingest.kinds import Foreseen, KindSources, decide_metric_kinds, foresee_kinds
from pilot_health.ingest.lab_or_live import env_words, names_split
from pilot_health.ingest.pilot_codes import refuse_unknown_pilots
from pilot_health.ingest.problems import Refused
from pilot_health.ingest.recognise import KIND_VALUES, usage_metrics
from pilot_health.ingest.run import TARGET_TABLE, Run
from pilot_health.ingest.stored_facts import StoredFacts, stored_facts


def parse_metrics(
    run: Run, known_pilots: list[str], fast: bool = False, time_format: v.DateFormat | None = None
) -> StoredFacts | None:
    """`ingest_rows` (one row per value, text) parsed and checked. `fast`: the fast path's plain
    file (see fast_path), whose text columns are taken as they are and checked afterwards, and
    whose dates are `time_format`. Returns what the fast path stored, grouped, when it stored the
    rows as it parsed them (a metrics file); None otherwise."""
    kind = str(run.result.kind)
    decimal_comma = _decimal_comma(run, fast)
    is_chart = (
        run.mapping.export == "Weights & Biases chart export" and run.mapping.column_for("observed_at") is None
    )  # steps, no times
    time_sql = _time_sql(run, time_format, is_chart)
    parsed, params = _parsed_sql(run, fast, decimal_comma, time_sql)
    sources = KindSources.read(run) if kind == "metrics" else None
    infer = kind == "metrics" and not run.options.metric_kind and not run.mapping.column_for("kind")
    facts, foreseen = None, None
    if fast and run.route.store_as is not None:
        # The kinds as the sample foretells them (see foresee_kinds): checked on every row afterwards.
        foreseen = foresee_kinds(run, sources, "pilot_id", "metric") if sources and infer else None
        _store_as_parsed(run, parsed, params, foreseen)
        facts = stored_facts(run) if kind == "metrics" else None
    else:
        run.exec(f"CREATE OR REPLACE TEMP TABLE ingest_parsed AS {parsed}", params)
    if sources is not None:
        decide_metric_kinds(run, sources, infer, fast, facts, foreseen)
    if is_chart:
        _keep_last_steps(run)
    if not fast:  # the fast path checks codes after it has checked the text is tidy
        refuse_unknown_pilots(run, known_pilots)
    return facts


def _decimal_comma(run: Run, fast: bool) -> bool:
    """Are numbers written with a decimal comma? As the uploader said, or as the values show (said
    in a note). The fast path's value column is a number already."""
    options = run.options
    if fast:
        return False
    decimal_comma = (
        (options.decimal == "comma")
        if options.decimal
        else v.detect_decimal_comma(run.con, "ingest_rows", ["value_raw"], run.text.format.delimiter)
    )
    if decimal_comma and not options.decimal:
        run.result.warnings.append(
            "Numbers are read with a decimal comma (1.234,50 = one thousand two hundred and thirty-four and a half), "
            "as the file writes them."
        )
    return decimal_comma


def _time_sql(run: Run, time_format: v.DateFormat | None, is_chart: bool) -> str:
    """The SQL of each row's date: in `time_format`, in the format the dates show (said in a note
    when a guess), or the one date given for all rows (a chart export's today); refused otherwise."""
    options = run.options
    if time_format is not None:
        return v.timestamp("time_raw", time_format)
    has_time = run.value("SELECT count(time_raw) FROM (SELECT time_raw FROM ingest_rows LIMIT 100000)") > 0
    if has_time and not is_chart:
        decision = v.detect_date_format(run.con, "ingest_rows", "time_raw", "the date column", options.date_order)
        if decision.format is None:
            raise Refused(
                f"{run.result.file_name}: the column chosen for dates holds no dates that could be read; "
                "choose another column."
            )
        if decision.warning:
            run.result.warnings.append(decision.warning)
        return v.timestamp("time_raw", decision.format)
    if options.observed_on or is_chart:
        day = options.observed_on or date.today()
        return f"TIMESTAMP '{day.isoformat()}'"
    raise Refused(
        f"{run.result.file_name} has no column of dates; choose the column that holds them, "
        "or give one date for all rows."
    )


def _parsed_sql(run: Run, fast: bool, decimal_comma: bool, time_sql: str) -> tuple[str, list[Any]]:
    """The statement that parses every row and names its first problem (and the column it is in),
    with its parameters."""
    options, kind = run.options, run.result.kind
    # The fast path takes text columns as they are and checks their distinct values afterwards.
    pilot_text = "pilot_raw" if fast else f"upper({v.text('pilot_raw', 40)})"
    pilot_sql = pilot_text if run.mapping.column_for("pilot_id") else ("?" if options.pilot_id else "NULL")
    params: list[Any] = (
        [options.pilot_id.upper()] if (options.pilot_id and not run.mapping.column_for("pilot_id")) else []
    )
    if kind == "usage":
        env_sql, kind_sql = "'live'", "'adoption'"
    else:
        env_sql = "environment_raw" if fast and run.mapping.column_for("environment") else environment_expression(run)
        kind_sql = kind_expression(run)
    metric_sql = "metric_raw" if fast else v.text("metric_raw", 200)
    if kind == "usage":
        metric_sql = f"(CASE {_word_cases('metric_raw', usage_metrics())} ELSE {metric_sql} END)"
    # The fast path's values are plain numbers (checked on a sample): a cast, and the same checks.
    value_sql = (
        "(CASE WHEN isfinite(TRY_CAST(value_raw AS DOUBLE)) THEN TRY_CAST(value_raw AS DOUBLE) END)"
        if fast
        else v.number(
            "value_raw",
            decimal_comma,
            v.percent_share(run.con, "ingest_rows", "metric_raw", "value_raw", options.metric_answers),
        )
    )
    value_problem_sql = v.number_problem("value_raw", "value", "value", decimal_comma)
    time_column = run.mapping.column_for("observed_at")
    time_col_sql = str(run.index[time_column]) if time_column is not None else "col"
    env_column = run.mapping.column_for("environment") or (
        run.mapping.defaults.get("environment_from_names") if names_split(run.mapping, run.options) else None
    )
    env_col_sql = str(run.index[env_column]) if isinstance(env_column, str) and env_column in run.index else "col"
    no_pilot, no_environment = "pilot_id" not in run.result.needs, "environment" not in run.result.needs
    parsed = f"""
        SELECT ord, col, pilot_id, metric, kind, environment, observed_at, value, step, problem,
               CASE WHEN problem LIKE 'no pilot%' THEN -1
                    WHEN problem LIKE 'date %' OR problem = 'no date' THEN {time_col_sql}
                    WHEN problem LIKE 'environment %' OR problem LIKE 'the run name %' OR problem LIKE 'lab or live %'
                         THEN {env_col_sql}
                    ELSE col END AS problem_col
        FROM (
          SELECT *, CASE
              WHEN pilot_id IS NULL AND {no_pilot} THEN 'no pilot code (choose the pilot, or map its column)'
              WHEN metric IS NULL THEN 'no metric name'
              WHEN observed_at IS NULL AND time_text IS NOT NULL
                   THEN 'date ‘' || left(time_text, 40) || '’ could not be read'
              WHEN observed_at IS NULL THEN 'no date'
              WHEN year(observed_at) NOT BETWEEN 1980 AND 2100
                   THEN 'date ‘' || left(time_text, 40) || '’ is not a plausible date'
              WHEN value_problem IS NOT NULL THEN value_problem
              WHEN environment IS NULL AND {no_environment}
                   THEN 'lab or live is not given (choose it, or map the column)'
              WHEN environment LIKE 'run name %'
                   THEN 'the run name ‘' || substr(environment, 10) || '’ says neither lab nor live'
              WHEN environment NOT IN ('lab', 'live') THEN 'environment ‘' || environment || '’ is neither lab nor live'
              WHEN kind NOT IN ('technical', 'business', 'adoption')
                   THEN 'kind ‘' || kind || '’ is not technical, business or adoption'
              ELSE NULL END AS problem
          FROM (
            SELECT *, {value_problem_sql} AS value_problem,
                   CASE WHEN observed_at IS NULL OR year(observed_at) NOT BETWEEN 1980 AND 2100
                        THEN {v.cleaned("time_raw")} END AS time_text
            FROM (
              SELECT ord, col, {pilot_sql} AS pilot_id, {metric_sql} AS metric, {kind_sql} AS kind,
                     {env_sql} AS environment, {time_sql} AS observed_at, time_raw, value_raw,
                     {value_sql} AS value, TRY_CAST(trim(step_raw) AS DOUBLE) AS step
              FROM ingest_rows
            )
          )
        )
        """
    return parsed, params


def _store_as_parsed(run: Run, parsed: str, params: list[Any], foreseen: Foreseen | None) -> None:
    """The fast path with commit: the rows are stored as parsed, under the upload's id. The first
    row with a problem stops the statement (the transaction is then rolled back and the careful path
    explains every row), and the checks that follow read the stored rows through a view named like
    the table they read otherwise."""
    table, upload_id = TARGET_TABLE[str(run.result.kind)], int(run.route.store_as or 0)
    stored_kind = foreseen.sql if foreseen is not None else "kind"
    run.exec(
        f"""
        INSERT INTO {table} (pilot_id, metric, kind, environment, observed_at, value, upload_id)
        SELECT CASE WHEN problem IS NULL THEN pilot_id
                    ELSE error('a row with a problem: the careful path explains it') END,
               metric, {stored_kind}, environment, observed_at, value, {upload_id}
        FROM ({parsed})
        """,
        [*(foreseen.params if foreseen is not None else []), *params],
    )
    run.exec(
        f"""
        CREATE OR REPLACE TEMP VIEW ingest_parsed AS
        SELECT CAST(NULL AS BIGINT) AS ord, {run.column_index("value")} AS col, pilot_id, metric, kind,
               environment, observed_at, value, CAST(NULL AS DOUBLE) AS step, CAST(NULL AS VARCHAR) AS problem,
               CAST(NULL AS BIGINT) AS problem_col
        FROM {table} WHERE upload_id = {upload_id}
        """
    )


# A chart export's rows of one run, metric and lab/live other than its last step.
_EARLIER_STEPS = """
    FROM ingest_parsed WHERE problem IS NULL AND (ord, col) NOT IN (
        SELECT (ord, col) FROM ingest_parsed WHERE problem IS NULL
        QUALIFY row_number() OVER (
            PARTITION BY pilot_id, metric, environment ORDER BY step DESC NULLS LAST, ord DESC
        ) = 1
    )
"""


def _keep_last_steps(run: Run) -> None:
    """A chart export has no dates: each run's (pilot, metric, lab/live) last step is stored, the
    earlier ones left out (said in a note)."""
    earlier = run.value(f"SELECT count(*) {_EARLIER_STEPS}")
    run.exec(f"DELETE {_EARLIER_STEPS}")
    if earlier:
        run.result.rows_left_out += earlier
        run.result.warnings.append(
            f"{plural(earlier, 'earlier training step')} left out: a chart export has no dates, "
            "so each run's last value is stored."
        )


def _word_cases(column: str, words: dict[str, Any]) -> str:
    """`WHEN <column's words> IN (…) THEN 'name'` for each name and its words (spaces and signs read as _)."""
    return " ".join(
        f"WHEN lower(regexp_replace(trim({column}), '[^0-9A-Za-z]+', '_', 'g')) "
        f"IN ({', '.join(repr(w) for w in sorted(spellings))}) THEN '{name}'"
        for name, spellings in words.items()
    )


def environment_expression(run: Run) -> str:
    """The SQL of each row's lab or live: from its column (the words that say each), from the run
    names, or the one answer for the whole file."""
    column = run.mapping.column_for("environment")
    if not column and names_split(run.mapping, run.options):
        if run.mapping.export == "Weights & Biases chart export":
            return "environment_raw"  # each run's, from its name (see shaping.shape_chart)
        words = "lower(regexp_replace(trim(environment_raw), '[^0-9A-Za-z]+', ' ', 'g'))"
        said = {
            env: f"list_has_any(string_split(trim({words}), ' '), [{', '.join(repr(w) for w in env_words(env))}])"
            for env in ("lab", "live")
        }
        return (
            f"(CASE WHEN {v.cleaned('environment_raw')} IS NULL THEN NULL "
            f"WHEN {said['lab']} AND NOT {said['live']} THEN 'lab' "
            f"WHEN {said['live']} AND NOT {said['lab']} THEN 'live' ELSE 'run name ' || trim(environment_raw) END)"
        )
    if column:
        cases = _word_cases("environment_raw", {"lab": set(env_words("lab")), "live": set(env_words("live"))})
        fallback = f"'{run.options.environment}'" if run.options.environment in ("lab", "live") else "NULL"
        return (
            f"(CASE WHEN environment_raw IN ('lab', 'live') THEN environment_raw "
            f"WHEN {v.cleaned('environment_raw')} IS NULL THEN {fallback} {cases} "
            "ELSE lower(trim(environment_raw)) END)"
        )
    chosen = run.options.environment or run.mapping.defaults.get("environment")
    return f"'{chosen}'" if chosen in ("lab", "live") else "NULL"


def kind_expression(run: Run) -> str:
    """The SQL of each row's kind: the one chosen on upload, the kind column's words, or technical
    (decide_metric_kinds then sets business KPIs)."""
    if run.options.metric_kind in ("technical", "business"):
        return f"'{run.options.metric_kind}'"
    if run.mapping.column_for("kind"):
        cases = " ".join(
            f"WHEN lower(trim(kind_raw)) IN ({', '.join(repr(w) for w in sorted(words))}) THEN '{name}'"
            for name, words in KIND_VALUES.items()
        )
        return (
            f"(CASE WHEN kind_raw IN ('technical', 'business', 'adoption') THEN kind_raw "
            f"WHEN {v.cleaned('kind_raw')} IS NULL THEN 'technical' {cases} ELSE lower(trim(kind_raw)) END)"
        )
    return "'technical'"
