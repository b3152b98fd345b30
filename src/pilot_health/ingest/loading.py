"""Reading the body of a file into DuckDB: the careful path's table of text, and the reader both paths use."""

from __future__ import annotations

import re

import duckdb

from pilot_health.formatting import plural
from pilot_health.ingest import values as v
from pilot_health.ingest.problems import Problem, Refused
from pilot_health.ingest.run import Run


def read_csv_sql(run: Run, rejects: str, typed: dict[int, str] | None = None) -> str:
    """The body as columns c0, c1 … (text unless `typed` says otherwise); rows DuckDB cannot
    split or type go to `rejects`. The path is written into the statement (quotes doubled)
    because a view cannot take parameters; it is our temporary file or the command line's file."""
    typed = typed or {}
    width = len(run.text.header)
    columns = "{" + ", ".join(f"'c{i}': '{typed.get(i, 'VARCHAR')}'" for i in range(width)) + "}"
    delimiter = run.text.format.delimiter.replace("'", "''")
    path = str(run.text.body_path).replace("'", "''")
    nulls = ", new_line = '\\n'" if run.text.line_break == "\n" else ""
    if typed:
        nulls += ", nullstr = [" + ", ".join("'" + x.replace("'", "''") + "'" for x in v.null_cells()) + "]"
    return f"""read_csv('{path}', delim = '{delimiter}', quote = '"', escape = '"', header = false,
                    auto_detect = false, columns = {columns}, store_rejects = true, skip = {int(run.text.skip_lines)},
                    rejects_table = '{rejects}_errors', rejects_scan = '{rejects}_scans',
                    max_line_size = 10000000, buffer_size = 10000000{nulls})"""


def load(run: Run) -> Run:
    """The careful path's first step: the body into `ingest_raw`, every cell as text, fully blank
    rows dropped. Rows DuckDB cannot split are listed as problems with their line (they are the
    rejects every later line number counts around); a file with no readable row is refused.
    Returns the run with its body loaded (the first row id and the rejects)."""
    width = len(run.text.header)
    try:
        run.exec(f"CREATE OR REPLACE TEMP TABLE ingest_raw AS SELECT * FROM {read_csv_sql(run, 'ingest_reject')}")
    except duckdb.InvalidInputException:  # no rows at all can be split (DuckDB's words name its internals)
        raise Refused(
            f"{run.result.file_name} could not be split into rows; open it in a spreadsheet, "
            "save it again as CSV, and upload that. Nothing was stored."
        ) from None
    # Row ids are sequential in file order; inside a write transaction they start high, hence the base.
    base = run.value("SELECT coalesce(min(rowid), 0) FROM ingest_raw")
    kept = [f"c{i} IS NOT NULL" for i in range(width)]
    run.exec(f"DELETE FROM ingest_raw WHERE NOT ({' OR '.join(kept)})")  # fully blank rows
    rejects: list[tuple[int, str]] = []
    errors = run.con.execute(
        "SELECT DISTINCT line, error_type, error_message, csv_line FROM ingest_reject_errors ORDER BY line"
    ).fetchall()
    for line, error_type, message, csv_line in errors:
        found = re.search(r"Found: (\d+)", message or "")
        file_line = run.text.first_body_line + int(line) - 1 - run.text.skip_lines
        swallowed = (csv_line or "").rstrip("\r\n").count("\n")
        if error_type == "UNQUOTED VALUE" and swallowed:
            # A quote opened and never closed: every line after it was read as one cell, so the rows
            # after it cannot be told apart (storing the rest would silently leave them out).
            raise Refused(
                f'{run.result.file_name}: a quote (") opened on line {file_line} is never closed, so the '
                f"{plural(swallowed, 'line')} after it would be read as one cell. Close the quote (or remove it) "
                "and upload again; nothing was stored."
            )
        if error_type == "UNQUOTED VALUE":
            text = 'has a quote (") that is not closed at the end of its cell, so it could not be read'
        elif error_type == "TOO MANY COLUMNS":
            text = f"has {found.group(1) if found else 'more'} values but the header has {width} columns"
        elif error_type == "MISSING COLUMNS":
            text = f"has {found.group(1) if found else 'fewer'} values but the header has {width} columns"
        else:
            text = f"could not be read ({(message or error_type).splitlines()[0][:80]})"
        rejects.append((file_line, text))
        run.result.problems.append(Problem(file_line, None, f"Row {text}."))
    kept_rows = run.value("SELECT count(*) FROM ingest_raw")
    run.result.rows_read = kept_rows + len(rejects)
    if run.result.rows_read == 0:
        raise Refused(f"{run.result.file_name} has a header but no data rows.")
    if kept_rows == 0:
        run.result.rows_rejected = len(rejects)
        raise Refused(
            f"{run.result.file_name} has no row that could be read: {'the' if len(rejects) == 1 else 'all'} "
            f"{plural(len(rejects), 'row')} could not be split into cells (see the reasons). Nothing was stored."
        )
    return run.loaded(base, rejects)
