"""Months, quarters, fiscal quarters and ISO weeks written in a date column, as the date they start.

BI tools and planning sheets date a row by its period: `Jan-24`, `January 2024`, `2024-01`,
`2024M01`, `01/2024`, `Q1 2024`, `2024-Q1`, `FY24 Q1`, `2024-W01`, `W01 2024`. Such a row is stored
on the first day of its period (the Monday of an ISO week), at midnight UTC:

- a month → its first day (`Jan-24` → 2024-01-01; a month name with two digits is a month and a
  year — a date needs its year — so `Jan-24` is never 24 January);
- a quarter → the first day of its first month (`Q2 2024` → 2024-04-01);
- an ISO week → its Monday (`2024-W01` → 2024-01-01, `2026-W01` → 2025-12-29);
- a fiscal year or quarter (`FY24`, `FY2024 Q1`) → with the fiscal year starting in January (the
  default) the calendar year and quarter. With a later start month (the setting
  PILOT_HEALTH_FISCAL_YEAR_START, 1–12) a fiscal year is named by the calendar year it ends in, as the
  US federal government, Microsoft and Australia name theirs: with July, FY2024 runs from
  1 July 2023 and `FY2024 Q1` → 2023-07-01, `FY2024 Q3` → 2024-01-01.

`period_start` is the SQL expression (NULL for anything else); `period_date` the same in Python
(for a header that names a period), and `looks_like_period` the quick test used to choose a
column's format from a sample.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

# Separators are made one space and letters upper case first: 'Jan-24' → 'JAN 24', '2024-Q1' → '2024 Q1'.
_SEPARATORS = r"[\s\-/.,'_]+"

MONTH_YEAR = r"^([A-Z]{3,9}) ?(\d{4}|\d{2})$"  # JAN 24, JANUARY 2024, JAN2024
YEAR_MONTH_NAME = r"^(\d{4}) ([A-Z]{3,9})$"  # 2024 JAN
YEAR_MONTH = r"^(\d{4})(?: ?M ?| )(\d{1,2})$"  # 2024 01, 2024M01, 2024 M1
MONTH_NUMBER_YEAR = r"^(\d{1,2}) (\d{4})$"  # 01 2024 (01/2024)
QUARTER_YEAR = r"^Q([1-4]) ?(\d{4}|\d{2})$"  # Q1 2024, Q1 24, Q12024 is not
YEAR_QUARTER = r"^(\d{4}) ?Q([1-4])$"  # 2024 Q1, 2024Q1
FISCAL_QUARTER = r"^FY ?(\d{4}|\d{2}) ?Q([1-4])$"  # FY24 Q1, FY2024Q1, FY 2024 Q1
QUARTER_FISCAL = r"^Q([1-4]) ?FY ?(\d{4}|\d{2})$"  # Q1 FY24
FISCAL_YEAR = r"^FY ?(\d{4}|\d{2})$"  # FY24, FY2024
YEAR_WEEK = r"^(\d{4}) ?W ?(\d{1,2})$"  # 2024 W01, 2024W01
WEEK_YEAR = r"^(?:W|WK|WEEK) ?(\d{1,2}) (\d{4})$"  # W01 2024, WEEK 1 2024
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_FULL_MONTH = re.compile(
    r"^(JAN(UARY)?|FEB(RUARY)?|MAR(CH)?|APR(IL)?|MAY|JUNE?|JULY?|AUG(UST)?|SEPT?(EMBER)?|OCT(OBER)?|NOV(EMBER)?|DEC(EMBER)?)$"
)
_PATTERNS = (
    MONTH_YEAR,
    YEAR_MONTH_NAME,
    YEAR_MONTH,
    MONTH_NUMBER_YEAR,
    QUARTER_YEAR,
    YEAR_QUARTER,
    FISCAL_QUARTER,
    QUARTER_FISCAL,
    FISCAL_YEAR,
    YEAR_WEEK,
    WEEK_YEAR,
)


def normalised(text: str) -> str:
    return re.sub(_SEPARATORS, " ", text.strip()).strip().upper()


def looks_like_period(text: str) -> bool:
    """Does `text` write a month, quarter, fiscal period or ISO week (the Python twin of `period_start`)?"""
    norm = normalised(text)
    for pattern in _PATTERNS:
        match = re.match(pattern, norm)
        if match:
            if pattern in (MONTH_YEAR, YEAR_MONTH_NAME):
                name = match.group(1) if pattern == MONTH_YEAR else match.group(2)
                return bool(_FULL_MONTH.match(name))
            return True
    return False


def _two_digit_year(text: str) -> int:
    year = int(text)
    return year + (2000 if year < 69 else 1900) if len(text) == 2 else year


def period_date(text: str, fiscal_start_month: int = 1) -> date | None:
    """The first day of the period `text` writes (`Jan-24` → 2024-01-01, `2024-W01` → its Monday), or None."""
    norm = normalised(text)
    month_of = {name: i for i, name in enumerate(_MONTH_NAMES, 1)}

    def month_start(year: int, month: int | None) -> date | None:
        return date(year, month, 1) if month and 1 <= month <= 12 and 1 <= year <= 9999 else None

    def fiscal(year: int, quarter: int) -> date | None:
        if not 2 <= year <= 9999:
            return None
        months = (year - (1 if fiscal_start_month > 1 else 0)) * 12 + fiscal_start_month - 1 + 3 * (quarter - 1)
        return date(months // 12, months % 12 + 1, 1)

    def week(year: int, number: int) -> date | None:
        if not (1 <= number <= 53 and 1 <= year <= 9998):
            return None
        jan4 = date(year, 1, 4)
        monday = jan4 - timedelta(days=jan4.isoweekday() - 1) + timedelta(weeks=number - 1)
        return monday if monday.isocalendar()[0] == year else None

    def name(word: str) -> int | None:
        return month_of[word[:3]] if _FULL_MONTH.match(word) else None

    readers = (
        (MONTH_YEAR, lambda g: month_start(_two_digit_year(g[1]), name(g[0]))),
        (YEAR_MONTH_NAME, lambda g: month_start(int(g[0]), name(g[1]))),
        (YEAR_MONTH, lambda g: month_start(int(g[0]), int(g[1]))),
        (MONTH_NUMBER_YEAR, lambda g: month_start(int(g[1]), int(g[0]))),
        (QUARTER_YEAR, lambda g: month_start(_two_digit_year(g[1]), 3 * int(g[0]) - 2)),
        (YEAR_QUARTER, lambda g: month_start(int(g[0]), 3 * int(g[1]) - 2)),
        (FISCAL_QUARTER, lambda g: fiscal(_two_digit_year(g[0]), int(g[1]))),
        (QUARTER_FISCAL, lambda g: fiscal(_two_digit_year(g[1]), int(g[0]))),
        (FISCAL_YEAR, lambda g: fiscal(_two_digit_year(g[0]), 1)),
        (YEAR_WEEK, lambda g: week(int(g[0]), int(g[1]))),
        (WEEK_YEAR, lambda g: week(int(g[1]), int(g[0]))),
    )
    if len(text.strip()) > 20:
        return None
    for pattern, read in readers:
        match = re.match(pattern, norm)
        if match:
            return read(match.groups())
    return None


def _year(text_sql: str) -> str:
    """A year of two or four digits: 24 → 2024, 75 → 1975 (two digits read as spreadsheets do: 00–68 → 20xx)."""
    number = f"TRY_CAST({text_sql} AS INTEGER)"
    return f"(CASE WHEN length({text_sql}) = 2 THEN {number} + CASE WHEN {number} < 69 THEN 2000 ELSE 1900 END ELSE {number} END)"


def _month_of_name(text_sql: str) -> str:
    """1–12 for a month's name (JAN, JANUARY, SEPT …); NULL for any other word."""
    cases = " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(_MONTH_NAMES, 1))
    pattern = _FULL_MONTH.pattern
    return f"(CASE WHEN regexp_matches({text_sql}, '{pattern}') THEN (CASE left({text_sql}, 3) {cases} END) END)"


def _month_start(year_sql: str, month_sql: str) -> str:
    return f"(CASE WHEN {month_sql} BETWEEN 1 AND 12 AND {year_sql} BETWEEN 1 AND 9999 THEN make_date({year_sql}, {month_sql}, 1)::TIMESTAMP END)"


def _fiscal_start(year_sql: str, quarter_sql: str, start_month: int) -> str:
    """First day of fiscal quarter `quarter_sql` (1 for the whole year) of fiscal year `year_sql`."""
    first = f"make_date({year_sql} - {1 if start_month > 1 else 0}, {start_month}, 1)"
    return (
        f"(CASE WHEN {year_sql} BETWEEN 2 AND 9999 THEN ({first} + to_months(3 * ({quarter_sql} - 1)))::TIMESTAMP END)"
    )


def _week_start(year_sql: str, week_sql: str) -> str:
    """Monday of ISO week `week_sql` of ISO year `year_sql` (NULL for week 53 of a 52-week year)."""
    jan4 = f"make_date({year_sql}, 1, 4)"
    monday = f"({jan4} - CAST(isodow({jan4}) - 1 AS INTEGER) + 7 * ({week_sql} - 1))"
    return (
        f"(CASE WHEN {week_sql} BETWEEN 1 AND 53 AND {year_sql} BETWEEN 1 AND 9998 AND isoyear({monday}) = {year_sql} "
        f"THEN {monday}::TIMESTAMP END)"
    )


def period_start(text_sql: str, fiscal_start_month: int = 1) -> str:
    """SQL: the first day of the period `text_sql` writes (a TIMESTAMP), or NULL when it writes none."""
    if not 1 <= fiscal_start_month <= 12:
        raise ValueError(f"fiscal year start month {fiscal_start_month} is not 1–12")
    separators = _SEPARATORS.replace("'", "''")
    norm = f"upper(trim(regexp_replace(trim({text_sql}), '{separators}', ' ', 'g')))"

    def group(pattern: str, n: int) -> str:
        return f"regexp_extract({norm}, '{pattern}', {n})"

    def number(pattern: str, n: int) -> str:
        return f"TRY_CAST({group(pattern, n)} AS INTEGER)"

    branches = [
        (MONTH_YEAR, _month_start(_year(group(MONTH_YEAR, 2)), _month_of_name(group(MONTH_YEAR, 1)))),
        (YEAR_MONTH_NAME, _month_start(number(YEAR_MONTH_NAME, 1), _month_of_name(group(YEAR_MONTH_NAME, 2)))),
        (YEAR_MONTH, _month_start(number(YEAR_MONTH, 1), number(YEAR_MONTH, 2))),
        (MONTH_NUMBER_YEAR, _month_start(number(MONTH_NUMBER_YEAR, 2), number(MONTH_NUMBER_YEAR, 1))),
        (QUARTER_YEAR, _month_start(_year(group(QUARTER_YEAR, 2)), f"(3 * {number(QUARTER_YEAR, 1)} - 2)")),
        (YEAR_QUARTER, _month_start(number(YEAR_QUARTER, 1), f"(3 * {number(YEAR_QUARTER, 2)} - 2)")),
        (FISCAL_QUARTER, _fiscal_start(_year(group(FISCAL_QUARTER, 1)), number(FISCAL_QUARTER, 2), fiscal_start_month)),
        (QUARTER_FISCAL, _fiscal_start(_year(group(QUARTER_FISCAL, 2)), number(QUARTER_FISCAL, 1), fiscal_start_month)),
        (FISCAL_YEAR, _fiscal_start(_year(group(FISCAL_YEAR, 1)), "1", fiscal_start_month)),
        (YEAR_WEEK, _week_start(number(YEAR_WEEK, 1), number(YEAR_WEEK, 2))),
        (WEEK_YEAR, _week_start(number(WEEK_YEAR, 2), number(WEEK_YEAR, 1))),
    ]
    cases = " ".join(f"WHEN regexp_matches({norm}, '{pattern}') THEN {sql}" for pattern, sql in branches)
    # A period is short: longer texts (dates with times, sentences) leave at once.
    return f"(CASE WHEN length({text_sql}) <= 20 THEN (CASE {cases} END) END)"
