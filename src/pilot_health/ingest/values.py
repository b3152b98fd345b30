"""Turning spreadsheet text into numbers, dates and scores — whole columns at a time, in SQL.

Each function takes a raw text column (as DuckDB read it) and returns a SQL expression. Cells that
are already clean — most of them — take a fast path; only the others are trimmed, checked against
the spellings of "no value" and cleaned up, so a million-row column costs little more than a cast.
Column names are always our own (`c0`, `value_raw` …), never text from the file; labels inside
messages are our own field names. Conventions that depend on the file (decimal comma or point,
day-first or month-first) are decided by `detect_*`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from pilot_health.ingest.periods import looks_like_period, period_start
from pilot_health.store.queries import one_row, one_value

# Spellings of "no value" that exports use; stored as NULL, never 0.
NULL_SPELLINGS = ("", "na", "n/a", "#n/a", "null", "nan", "-", "none", "#value!", "#div/0!", "n.a.", "--")
_NULLS_SQL = ", ".join("'" + s.replace("'", "''") + "'" for s in NULL_SPELLINGS)


def null_cells() -> list[str]:
    """The cells read as "no value" exactly as written (a CSV reader's null strings): each spelling
    in lower case, upper case and capitalised (NA, n/a, #DIV/0!, Null …)."""
    return sorted({x for s in NULL_SPELLINGS for x in (s, s.upper(), s.capitalize())})


LIKERT = {
    "strongly disagree": 1,
    "disagree": 2,
    "somewhat disagree": 2,
    "neither agree nor disagree": 3,
    "neither agree or disagree": 3,
    "neutral": 3,
    "neither": 3,
    "undecided": 3,
    "somewhat agree": 4,
    "agree": 4,
    "strongly agree": 5,
    "totally disagree": 1,
    "totally agree": 5,
    "completely disagree": 1,
    "completely agree": 5,
    "mostly disagree": 2,
    "mostly agree": 4,
}
_LIKERT_SQL = " ".join(f"WHEN '{k}' THEN {v}" for k, v in LIKERT.items())
SAMPLE_ROWS = 20_000
APOSTROPHE = "''"  # one single quote inside a SQL string literal


def _literal(label: str) -> str:
    return label.replace("'", "''")


def cleaned(column: str, keep: tuple[str, ...] = ()) -> str:
    """Trimmed text with non-breaking spaces made plain; NULL for every spelling of 'no value' —
    except the spellings in `keep` (lower case), which are a column's own vocabulary and stay as
    written: `none` in the register's change champion column is an answer, not a blank."""
    trimmed = restored(f"trim(replace({column}, chr(160), ' '))")
    nulls = (
        _NULLS_SQL if not keep else ", ".join("'" + s.replace("'", "''") + "'" for s in NULL_SPELLINGS if s not in keep)
    )
    return f"(CASE WHEN {column} IS NULL OR lower({trimmed}) IN ({nulls}) THEN NULL ELSE {trimmed} END)"


# A cell the product's own CSV downloads neutralised (csv_files.neutralise): one apostrophe put before
# a text that starts with a formula character, or with apostrophes and then one. Only that exact form
# is undone, so a text of one's own that starts with an apostrophe ('Twas, 'A' grade) is kept as written.
NEUTRALISED = "^" + APOSTROPHE + "+[=+\\-@\t\r]"  # as a SQL string literal's content


def restored(text_sql: str) -> str:
    """`text_sql` with the apostrophe of the product's own neutralisation taken off again."""
    return f"(CASE WHEN starts_with({text_sql}, '{APOSTROPHE}') AND regexp_matches({text_sql}, '{NEUTRALISED}') THEN substr({text_sql}, 2) ELSE {text_sql} END)"


def _plain(column: str) -> str:
    """True for a cell that needs no cleaning: no surrounding space, no leading apostrophe (which
    may be a download's neutralisation, see `restored`) and not one of the short 'no value' spellings."""
    return (
        f"(ascii({column}) > 32 AND ascii({column}) <> 39 AND ascii(right({column}, 1)) > 32 "
        f"AND NOT (length({column}) <= 8 AND lower({column}) IN ({_NULLS_SQL})))"
    )


def text(column: str, max_length: int = 2000) -> str:
    """Plain text as written (trimmed; NULL for 'no value'); formulas are kept as text, never evaluated."""
    return f"left(CASE WHEN {column} IS NULL THEN NULL WHEN {_plain(column)} THEN {column} ELSE {cleaned(column)} END, {max_length})"


def looks_like_formula(text_sql: str) -> str:
    """A cell a spreadsheet would run: it starts with =, @, + or -. (Only asked of cells that
    already failed to read as a number, so '-0.12' never gets here.)"""
    return rf"regexp_matches({text_sql}, '^\s*[=+\-@]')"


def _number_parts(column: str, decimal_comma: bool) -> tuple[str, str, str]:
    """(fast cast, cast after clean-up, condition for the fast one) of `number`."""
    clean = cleaned(column)
    unquoted = f"regexp_replace({clean}, '^{APOSTROPHE}', '')"
    negative = rf"regexp_matches({unquoted}, '^\s*\(.*\)\s*$')"
    bare = rf"regexp_replace({unquoted}, '[\s$€£¥%()]|[A-Z]{{3}}$', '', 'g')"
    if decimal_comma:
        normal = f"replace(replace({bare}, '.', ''), ',', '.')"
        fast_ok = f"NOT contains({column}, '.') AND NOT contains({column}, ',') AND "
    else:
        normal = f"replace({bare}, ',', '')"
        fast_ok = ""
    slow = f"(TRY_CAST({normal} AS DOUBLE) * CASE WHEN {negative} THEN -1 ELSE 1 END)"
    fast = f"TRY_CAST({column} AS DOUBLE)"
    return fast, slow, fast_ok


def number(column: str, decimal_comma: bool, percent_share: str = "false") -> str:
    """A raw cell as spreadsheets write numbers → DOUBLE (NULL when empty or unreadable).

    Handles 1,234.50 / 1.234,50, 92% and 92,5 % (kept as 92 and 92.5; divided by 100 — 0.92,
    0.925 — on the rows where the SQL condition `percent_share` holds: see `percent_share`), currency
    signs and codes, (12,000) for negatives, 4.5e0, and the leading apostrophe MLflow writes before
    negatives. Infinities (`inf`, `1e400`) are not numbers that can be stored: NULL, and
    `number_problem` says why."""
    fast, slow, fast_ok = _number_parts(column, decimal_comma)
    if percent_share != "false":  # a plain number never has a percent sign: only the slow cast changes
        slow = f"(CASE WHEN contains({column}, '%') AND {percent_share} THEN {slow} / 100 ELSE {slow} END)"
    return (
        f"(CASE WHEN {column} IS NULL THEN NULL WHEN {fast_ok}isfinite({fast}) THEN {fast} "
        f"WHEN isfinite({slow}) THEN {slow} ELSE NULL END)"
    )


def percent_share(
    con: duckdb.DuckDBPyConnection, table: str, metric_column: str, value_column: str, answers=None
) -> str:
    """SQL condition for `number(..., percent_share=…)`: true on the rows of `table` whose value
    written with a percent sign becomes a share (92% → 0.92) — all but the metrics kept in percent
    (see `percents`). The names kept in percent go to a temporary table (names from the file are
    values, never SQL text); `answers` are the metric answers given with this upload."""
    from pilot_health.ingest.percents import kept_in_percent
    from pilot_health.rules.metric_dictionary import dictionary_with_answers, metric_key

    names = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT {metric_column} FROM {table} WHERE contains({value_column}, '%') AND {metric_column} IS NOT NULL"
        ).fetchall()
    ]
    if not names:
        return "true"
    kpi_units: dict[str, object] = {}
    for name, unit in con.execute(
        "SELECT kpi_name, kpi_unit FROM pilots WHERE kpi_name IS NOT NULL ORDER BY pilot_id"
    ).fetchall():
        kpi_units.setdefault(metric_key(name), unit)
    points = kept_in_percent(names, dictionary_with_answers(con), answers or {}, kpi_units)
    if not points:
        return "true"
    con.execute("CREATE OR REPLACE TEMP TABLE ingest_percent_points AS SELECT unnest(?::VARCHAR[]) AS metric", [points])
    return f"({metric_column} IS NULL OR {metric_column} NOT IN (SELECT metric FROM ingest_percent_points))"


def too_small(column: str, parsed: str) -> str:
    """True when a cell that writes a number other than 0 (a digit 1–9 before any exponent) was read
    as 0: `1e-400` is smaller than any number that can be stored, and must not silently become 0."""
    return rf"({parsed} = 0 AND regexp_matches({column}, '^[^eE]*[1-9]'))"


def not_finite(column: str, decimal_comma: bool = False) -> str:
    """True when a cell writes a number too large to store, or infinity (`1e400`, `-inf`, `Infinity`)."""
    fast, slow, _ = _number_parts(column, decimal_comma)
    unquoted = f"regexp_replace({cleaned(column)}, '^{APOSTROPHE}', '')"
    return (
        f"(coalesce(NOT isfinite(TRY_CAST({unquoted} AS DOUBLE)), false) OR coalesce(NOT isfinite({slow}), false) "
        f"OR coalesce(NOT isfinite({fast}), false))"
    )


def number_problem(column: str, parsed: str, label: str, decimal_comma: bool = False) -> str:
    """Why a non-empty cell is not a number that can be stored (NULL when it is fine); `parsed` is
    its `number()`. Most cells leave at the first test, so this costs little on a long column."""
    label = _literal(label)
    clean = cleaned(column)
    shown = f"left({clean}, 40)"
    return (
        f"CASE WHEN {parsed} <> 0 THEN NULL WHEN {column} IS NULL THEN NULL "
        f"WHEN {too_small(column, parsed)} THEN '{label} ‘' || {shown} || '’ is too small to store (it would become 0); write 0 if 0 is meant' "
        f"WHEN {parsed} IS NOT NULL OR {clean} IS NULL THEN NULL "
        f"WHEN {not_finite(column, decimal_comma)} THEN '{label} ‘' || {shown} || '’ is not a finite number (too large to store, or infinity)' "
        f"WHEN {looks_like_formula(clean)} THEN '{label} ‘' || {shown} || '’ looks like a spreadsheet formula, not a number' "
        f"ELSE '{label} ‘' || {shown} || '’ is not a number' END"
    )


@dataclass(frozen=True)
class DateFormat:
    """How one column writes its dates."""

    name: str
    description: str


ISO = DateFormat("iso", "ISO dates (YYYY-MM-DD, with or without time and time zone)")
DMY = DateFormat("dmy", "day first (31/01/2024)")
MDY = DateFormat("mdy", "month first (01/31/2024)")
MONTH_NAME = DateFormat("month_name", "month names (Feb 29 2024)")
COMPACT = DateFormat("compact", "compact dates (20240131)")
EPOCH_S = DateFormat("epoch_s", "Unix time in seconds")
EPOCH_MS = DateFormat("epoch_ms", "Unix time in milliseconds")
EXCEL = DateFormat("excel", "Excel serial day numbers")
PERIOD = DateFormat(
    "period",
    "months, quarters and weeks (Jan-24, Jan 2024, 2024-01, Q1 2024, FY24 Q1, 2024-W01), stored as the period's first day",
)
MIXED_DMY = DateFormat("mixed_dmy", "mixed spellings (ISO, 31/01/2024, Feb 29 2024, months, Excel serials), day first")
MIXED_MDY = DateFormat(
    "mixed_mdy", "mixed spellings (ISO, 01/31/2024, Feb 29 2024, months, Excel serials), month first"
)

# Numbers read as dates stay within years 1–9999 (beyond, a cast would fail rather than say no).
EPOCH_LIMIT_S = 253_402_300_800  # 10000-01-01 in Unix seconds
EXCEL_LIMIT_DAYS = 2_958_465  # 9999-12-31 as an Excel serial day

_TIME_PARTS = ["", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %H:%M:%S.%f"]


def _strptime_list(date_part: str, year: str = "%Y") -> str:
    formats = []
    for sep in ("/", ".", "-"):
        base = date_part.replace("/", sep).replace("%Y", year)
        formats += [base + t for t in _TIME_PARTS]
    return "[" + ", ".join(f"'{f}'" for f in formats) + "]"


def _day_month_year(text_sql: str, date_part: str) -> str:
    """03/04/2024 or 03/04/24 (with a time or not) in the order `date_part`; a two-digit year is
    read as 19xx/20xx only when the cell writes two (%Y would read 24 as the year 24)."""
    text = f"regexp_replace({text_sql}, {_ZONE_SUFFIX}, '')"
    return (
        rf"(CASE WHEN regexp_matches({text_sql}, '^\d{{1,2}}[/.\-]\d{{1,2}}[/.\-]\d\d(\D|$)') "
        f"THEN try_strptime({text}, {_strptime_list(date_part, '%y')}) ELSE try_strptime({text}, {_strptime_list(date_part)}) END)"
    )


_MONTH_NAME_FORMATS = (
    "["
    + ", ".join(
        f"'{f}'"
        for base in (
            "%b %d %Y",
            "%b %d, %Y",
            "%d %b %Y",
            "%B %d %Y",
            "%B %d, %Y",
            "%d %B %Y",
            "%d-%b-%y",
            "%d-%b-%Y",
            "%a %b %d %Y",
        )
        for f in (base, base + " %H:%M", base + " %H:%M:%S", base + " %I:%M %p")
    )
    + "]"
)
_ZONE_SUFFIX = r"'\s+(GMT|UTC)[+-]?\d*$'"


def timestamp(column: str, fmt: DateFormat) -> str:
    """A raw cell in format `fmt` → TIMESTAMP in UTC (zones converted; none means UTC)."""
    clean = cleaned(column)
    if fmt is ISO:
        zoned = (
            rf"(CASE WHEN regexp_matches({clean}, '(Z|[+-]\d\d:?\d\d)$') "
            f"THEN (TRY_CAST({clean} AS TIMESTAMPTZ) AT TIME ZONE 'UTC') ELSE TRY_CAST({clean} AS TIMESTAMP) END)"
        )
        # Up to 19 characters (2024-01-31 10:00:00) there is no zone: the plain cast is exact and fast.
        fast = f"TRY_CAST({column} AS TIMESTAMP)"
        return f"(CASE WHEN {column} IS NULL THEN NULL WHEN length({column}) <= 19 AND {fast} IS NOT NULL THEN {fast} ELSE {zoned} END)"
    if fmt is DMY:
        return _day_month_year(clean, "%d/%m/%Y")
    if fmt is MDY:
        return _day_month_year(clean, "%m/%d/%Y")
    if fmt is MONTH_NAME:
        return f"try_strptime({clean}, {_MONTH_NAME_FORMATS})"
    if fmt is COMPACT:
        return f"try_strptime({clean}, '%Y%m%d')"
    if fmt is EPOCH_S:
        seconds = f"TRY_CAST({clean} AS DOUBLE)"  # guarded: a huge number is no date, never an error
        return f"(CASE WHEN abs({seconds}) < {EPOCH_LIMIT_S} THEN epoch_ms(CAST({seconds} * 1000 AS BIGINT)) END)"
    if fmt is EPOCH_MS:
        millis = f"TRY_CAST({clean} AS BIGINT)"
        return f"(CASE WHEN abs({millis}) < {EPOCH_LIMIT_S * 1000} THEN epoch_ms({millis}) END)"
    if fmt is EXCEL:
        days = f"TRY_CAST({clean} AS DOUBLE)"
        return (
            f"(CASE WHEN {days} BETWEEN 0 AND {EXCEL_LIMIT_DAYS} "
            f"THEN TIMESTAMP '1899-12-30' + to_microseconds(CAST(round({days} * 86400) * 1000000 AS BIGINT)) END)"
        )
    if fmt is PERIOD:
        return period_start(clean, _fiscal_year_start())
    if fmt in (MIXED_DMY, MIXED_MDY):
        # Each cell by its own spelling, the column's day/month order for 03/04/2024; a plain
        # number is an Excel serial day with five digits (45322 = 2024-01-31), a date with eight (20240131).
        serial = rf"(CASE WHEN regexp_matches({clean}, '^\d{{5}}(\.\d+)?$') THEN {timestamp(column, EXCEL)} END)"
        compact = rf"(CASE WHEN regexp_matches({clean}, '^\d{{8}}$') THEN {timestamp(column, COMPACT)} END)"
        return (
            f"coalesce({timestamp(column, ISO)}, {timestamp(column, DMY if fmt is MIXED_DMY else MDY)}, "
            f"{timestamp(column, MONTH_NAME)}, {timestamp(column, PERIOD)}, {serial}, {compact})"
        )
    raise ValueError(fmt)


def _fiscal_year_start() -> int:
    from pilot_health.config import load_config

    return load_config().fiscal_year_start_month


@dataclass(frozen=True)
class DateDecision:
    format: DateFormat | None
    warning: str | None = None
    parsed_share: float = 0.0


def detect_date_format(
    con: duckdb.DuckDBPyConnection, table: str, column: str, label: str, order_hint: str | None = None
) -> DateDecision:
    """Choose how a raw column of `table` writes dates.

    The format is chosen on a sample; day-first versus month-first is decided from the whole
    column: any first number above 12 means day-first, any second number above 12 month-first;
    when nothing decides it, a 12-hour clock (02:02:11 PM, the US default of SurveyMonkey and
    others) means month-first, and otherwise day-first — with a warning either way. A column
    that mixes spellings (ISO, 31/01/2024, Feb 29 2024, Jan 2024, Excel serials) is read cell by
    cell (`MIXED_DMY` / `MIXED_MDY`), so only a cell that no spelling reads is rejected."""
    candidates, numeric_dates = _date_candidates(_distinct_sample(con, table, column))
    if not candidates and not numeric_dates:
        return DateDecision(None)
    order: list[tuple[DateFormat, str | None]] = []  # decided once, when needed

    def day_month_order() -> tuple[DateFormat, str | None]:
        """Day-first or month-first (and the warning when nothing decides it): a pass over the whole column."""
        if not order:
            order.append(_day_month_order(con, table, column, label, order_hint))
        return order[0]

    if numeric_dates:
        candidates.append(day_month_order()[0])
    best, best_share = _best_format(con, table, column, candidates)
    if (
        best is not None
        and best_share == 1.0
        and best not in (EPOCH_S, EPOCH_MS)
        and not _needs_other_spellings(con, table, column, best)
    ):
        return DateDecision(best, day_month_order()[1] if best in (DMY, MDY) else None, best_share)
    mixed = MIXED_MDY if day_month_order()[0] is MDY else MIXED_DMY
    mixed_share = _share_read(con, table, column, mixed)
    if best is None or mixed_share > best_share or (mixed_share == best_share and best not in (EPOCH_S, EPOCH_MS)):
        best, best_share = mixed, mixed_share
    warning = (
        day_month_order()[1]
        if best in (DMY, MDY, MIXED_DMY, MIXED_MDY) and _has_numeric_dates(con, table, column)
        else None
    )
    return DateDecision(best, warning, best_share)


def _distinct_sample(con: duckdb.DuckDBPyConnection, table: str, column: str) -> list[str]:
    """Up to 500 distinct filled cells of the first SAMPLE_ROWS rows: enough to see every spelling."""
    clean = cleaned(column)
    return [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT t FROM (SELECT {clean} AS t FROM {table} LIMIT {SAMPLE_ROWS}) WHERE t IS NOT NULL LIMIT 500"
        ).fetchall()
    ]


def _date_candidates(sample: list[str]) -> tuple[list[DateFormat], bool]:
    """The spellings some sampled cell looks like, and whether any writes a date in numbers only
    (03/04/2024), whose day-first or month-first reading is decided over the whole column."""
    candidates: list[DateFormat] = []
    if any(re.match(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}", s) for s in sample):
        candidates.append(ISO)
    numeric_dates = any(re.match(r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}", s) for s in sample)
    if any(re.search(r"[A-Za-z]{3}", s) for s in sample):
        candidates.append(MONTH_NAME)
    if any(looks_like_period(s) for s in sample):
        candidates.append(PERIOD)
    if any(re.fullmatch(r"\d{8}", s) for s in sample):
        candidates.append(COMPACT)
    if any(re.fullmatch(r"\d{12,13}", s) for s in sample):
        candidates.append(EPOCH_MS)
    if any(re.fullmatch(r"\d{9,10}(\.\d+)?", s) for s in sample):
        candidates.append(EPOCH_S)
    if any(re.fullmatch(r"\d{5}(\.\d+)?", s) and 20000 <= float(s) <= 80000 for s in sample):
        candidates.append(EXCEL)
    return candidates, numeric_dates


def _share_read(con: duckdb.DuckDBPyConnection, table: str, column: str, fmt: DateFormat) -> float:
    """The share of the first SAMPLE_ROWS rows' filled cells that `fmt` reads as a date."""
    parsed, total = one_row(
        con.execute(
            f"SELECT count({timestamp('t', fmt)}), count({cleaned('t')}) FROM (SELECT {column} AS t FROM {table} LIMIT {SAMPLE_ROWS})"
        )
    )
    return parsed / total if total else 0.0


def _best_format(
    con: duckdb.DuckDBPyConnection, table: str, column: str, candidates: list[DateFormat]
) -> tuple[DateFormat | None, float]:
    """The candidate reading the most sampled cells (the first of equals) and its share."""
    best, best_share = None, -1.0
    for fmt in candidates:
        fmt_share = _share_read(con, table, column, fmt)
        if fmt_share > best_share:
            best, best_share = fmt, fmt_share
    return best, best_share


def _needs_other_spellings(con: duckdb.DuckDBPyConnection, table: str, column: str, best: DateFormat) -> bool:
    """One spelling reads the sample: does a later cell need another (one pass over the column)?
    The cheap question first: the other spellings are tried only if a cell is left unread."""
    mixed = MIXED_DMY if best is not MDY else MIXED_MDY
    unread = one_value(
        con.execute(
            f"SELECT count(*) FROM (SELECT {column} AS t FROM {table}) WHERE t IS NOT NULL AND {timestamp('t', best)} IS NULL"
        )
    )
    other = unread and one_value(
        con.execute(
            f"SELECT count(*) FROM (SELECT {column} AS t FROM {table}) WHERE t IS NOT NULL AND {timestamp('t', best)} IS NULL "
            f"AND {cleaned('t')} IS NOT NULL AND {timestamp('t', mixed)} IS NOT NULL"
        )
    )
    return bool(other)


def _has_numeric_dates(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """Does the column write any date as numbers only (03/04/2024), where day and month can swap?"""
    return one_value(
        con.execute(
            rf"SELECT count(*) > 0 FROM (SELECT {cleaned(column)} AS t FROM {table}) WHERE regexp_matches(t, '^\d{{1,2}}[/.\-]\d{{1,2}}[/.\-]\d{{2,4}}')"
        )
    )


def _day_month_order(
    con: duckdb.DuckDBPyConnection, table: str, column: str, label: str, order_hint: str | None
) -> tuple[DateFormat, str | None]:
    """DMY or MDY for the column's 03/04/2024 dates, from the whole column, and the warning when it was a choice."""
    if order_hint in ("dmy", "mdy"):
        return (DMY if order_hint == "dmy" else MDY), None
    first_max, second_max, twelve_hour = one_row(
        con.execute(
            rf"""
        SELECT max(TRY_CAST(regexp_extract(t, '^(\d{{1,2}})[/.\-]\d{{1,2}}[/.\-]\d{{2,4}}', 1) AS INTEGER)),
               max(TRY_CAST(regexp_extract(t, '^\d{{1,2}}[/.\-](\d{{1,2}})[/.\-]\d{{2,4}}', 1) AS INTEGER)),
               bool_or(regexp_matches(t, '^\d{{1,2}}[/.\-]\d{{1,2}}[/.\-]\d{{2,4}}.*\d\s*[AaPp]\.?[Mm]\.?$'))
        FROM (SELECT {cleaned(column)} AS t FROM {table})
        """
        )
    )
    if (first_max or 0) > 12 and (second_max or 0) <= 12:
        return DMY, None
    if (second_max or 0) > 12 and (first_max or 0) <= 12:
        return MDY, None
    if twelve_hour:
        return MDY, (
            f"The dates in {label} could be day-first or month-first (no day above 12 anywhere in the column); "
            "they were read month-first (03/05/2024 = 5 March 2024), as exports with a 12-hour clock (AM/PM) write them. "
            "Choose day-first if that is wrong."
        )
    return DMY, (
        f"The dates in {label} could be day-first or month-first (no day above 12 anywhere in the column); "
        "they were read day-first (03/04/2024 = 3 April 2024). Choose month-first if that is wrong."
    )


def detect_decimal_comma(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], delimiter: str) -> bool:
    """Does this file write decimals with a comma? Decided from a sample of its numeric columns:
    '0,92' or '1.234,50' say comma; '1,234.50' or '0.92' say point. Undecided files follow their
    delimiter (a semicolon file usually comes from a decimal-comma locale). `columns` are raw
    columns of `table`."""
    comma_votes, point_votes = 0, 0
    for column in columns:
        comma, point = one_row(
            con.execute(
                rf"""
            SELECT
              count(*) FILTER (WHERE regexp_matches(t, '^[^0-9]*\d{{1,3}}(\.\d{{3}})+,\d+[^0-9]*$')
                               OR regexp_matches(t, '^[^0-9,.]*\d+,(\d{{1,2}}|\d{{4,}})[^0-9,.]*$')),
              count(*) FILTER (WHERE regexp_matches(t, '^[^0-9]*\d{{1,3}}(,\d{{3}})+\.\d+[^0-9]*$')
                               OR regexp_matches(t, '^[^0-9,.]*\d+\.(\d{{1,2}}|\d{{4,}})[^0-9,.]*$'))
            FROM (SELECT {cleaned(column)} AS t FROM {table} LIMIT {SAMPLE_ROWS}) WHERE t IS NOT NULL
            """
            )
        )
        comma_votes += comma
        point_votes += point
    if comma_votes == point_votes:
        return delimiter == ";"
    return comma_votes > point_votes


def likert(column: str) -> str:
    """A score from a raw cell: a number (4, '4', '4 - Agree') or a label ('Strongly agree')."""
    clean = cleaned(column)
    label = rf"lower(regexp_replace({clean}, '^\s*\d\s*[-.:)]\s*', ''))"
    leading = rf"TRY_CAST(regexp_extract({clean}, '^\s*(\d+(\.0+)?)\s*([-.:)]|$)', 1) AS DOUBLE)"
    return f"(CASE WHEN {clean} IS NULL THEN NULL WHEN {leading} IS NOT NULL THEN {leading} ELSE (CASE {label} {_LIKERT_SQL} ELSE NULL END) END)"


def likert_problem(column: str, label: str) -> str:
    """Why a non-empty answer is not a 1–5 score (NULL when it is fine)."""
    label = _literal(label)
    clean = cleaned(column)
    score = likert(column)
    return (
        f"CASE WHEN {clean} IS NULL THEN NULL "
        f"WHEN {score} IS NULL THEN '{label} ‘' || left({clean}, 40) || '’ is not a score from 1 to 5 or an agree/disagree answer' "
        rf"WHEN {score} NOT IN (1, 2, 3, 4, 5) THEN '{label} ' || regexp_replace(CAST({score} AS VARCHAR), '\.0$', '') || ' is not a whole score from 1 to 5' "
        f"ELSE NULL END"
    )
