"""What will be stored: the parsed rows split into rejected (with reasons) and ready, exact duplicates
dropped, rows already stored kept or replaced, future dates noted, and what the upload holds summed up
for the preview and the receipt."""

from __future__ import annotations

from pilot_health.formatting import plural
from pilot_health.ingest.conflicts import reject_conflicting_values
from pilot_health.ingest.fast_path import FastRead
from pilot_health.ingest.problems import Problem
from pilot_health.ingest.run import MAX_KEPT_PROBLEMS, PREVIEW_ROWS, STORED_COLUMNS, TARGET_TABLE, RetryCarefully, Run
from pilot_health.ingest.survey import reject_conflicting_answers
from pilot_health.lazy import pandas as pd
from pilot_health.store import queries
from pilot_health.store.database import utc_now
from pilot_health.store.transfer import bring_stored_rows


def finish(run: Run, table_kind: str, fast: FastRead | None = None) -> None:
    """Split rows into rejected and ready (two different values at one key are rejected, never
    averaged); drop exact duplicates; look at what is already stored; warn about future dates.
    `fast`: what the fast path read (it gave up on any conflict or rejected row)."""
    if table_kind == "survey":
        reject_conflicting_answers(run)
    elif fast is None:  # the fast path gave up on any conflict
        reject_conflicting_values(run)
    rejected = 0 if fast is not None else _list_problems(run)
    valid, distinct, ready = _drop_exact_duplicates(run, table_kind, fast)
    stored = _already_stored(run, table_kind, fast, view=distinct >= valid)
    run.result.rows_rejected = len(run.rejects) + rejected
    run.result.rows_to_store = ready - (stored if not run.options.replace_existing else 0)
    summaries(run, table_kind, fast)
    warn_future(run, table_kind, fast)


def _list_problems(run: Run) -> int:
    """Each rejected row's problem, with its line and column (the first MAX_KEPT_PROBLEMS, said in a
    note when there are more). Returns how many rows are rejected."""
    result = run.result
    rejected = run.value("SELECT count(*) FROM ingest_parsed WHERE problem IS NOT NULL")
    problems = run.con.execute(
        "SELECT ord, problem_col, problem FROM ingest_parsed WHERE problem IS NOT NULL "
        f"ORDER BY ord LIMIT {MAX_KEPT_PROBLEMS}"
    ).fetchall()
    for ordinal, problem_col, problem in problems:
        result.problems.append(
            Problem(run.line_for(ordinal), run.header_name(problem_col), problem[0].upper() + problem[1:] + ".")
        )
    if rejected > len(problems):
        result.warnings.append(
            f"{plural(rejected, 'row')} were rejected; the first {len(problems):,} are listed with their reasons."
        )
    return int(rejected)


def _drop_exact_duplicates(run: Run, table_kind: str, fast: FastRead | None) -> tuple[int, int, int]:
    """`ingest_ready`: the rows without a problem, each exact duplicate kept once (said in a note).
    A cheap check on row hashes first; the exact (costlier) pass only when needed. The fast path
    counted them already while looking for conflicts (see conflicts.has_conflicts). Returns (rows
    without a problem, their distinct hashes, rows ready); with no duplicate, ingest_ready is a view."""
    result = run.result
    columns = ", ".join(STORED_COLUMNS[table_kind])
    if fast is not None and fast.counted is not None:
        valid, distinct = fast.counted
    else:
        valid, distinct = run.one(
            f"SELECT count(*), count(DISTINCT hash({columns})) FROM ingest_parsed WHERE problem IS NULL"
        )
    if distinct < valid:
        run.exec(
            f"""
            CREATE OR REPLACE TEMP TABLE ingest_ready AS SELECT {columns}, ord FROM ingest_parsed WHERE problem IS NULL
            QUALIFY row_number() OVER (PARTITION BY {columns} ORDER BY ord) = 1
            """
        )
        ready = run.value("SELECT count(*) FROM ingest_ready")
    else:  # nothing to drop: a view saves copying a million rows
        run.exec(
            f"CREATE OR REPLACE TEMP VIEW ingest_ready AS SELECT {columns}, ord FROM ingest_parsed "
            "WHERE problem IS NULL"
        )
        ready = valid
    if valid > ready:
        result.rows_left_out += valid - ready
        n = valid - ready
        result.warnings.append(
            f"{plural(n, 'row')} of {result.file_name} {'is an exact duplicate' if n == 1 else 'are exact duplicates'} "
            "of an earlier row (same values throughout); each was kept once."
        )
    return valid, distinct, ready


def _already_stored(run: Run, table_kind: str, fast: FastRead | None, view: bool) -> int:
    """Rows whose key is stored already (by uploads in force): left out, the stored values kept,
    unless the uploader chose to replace them (said in a note either way). `view`: ingest_ready is
    a view (see _drop_exact_duplicates). Returns how many there are."""
    result = run.result
    table = TARGET_TABLE[table_kind]
    stored_as = fast.stored_as if fast is not None else None  # the rows are in the table already, under this id
    facts = fast.facts if fast is not None and stored_as is not None else None
    if facts is not None and facts.stored is not None:  # counted with the keys (see stored_facts)
        stored = facts.stored
    else:
        bring_stored_rows(run.con, table, "ingest_ready")
        stored = queries.count_already_stored(run.con, table, "ingest_ready", but_not=stored_as)
    if stored and stored_as is not None:  # keep or replace the stored values: the temporary table's path does it
        raise RetryCarefully(fast_again=True)
    result.already_stored = stored
    if stored and not run.options.replace_existing:
        if view:
            run.exec("CREATE OR REPLACE TEMP TABLE ingest_ready_rows AS SELECT * FROM ingest_ready")
            run.exec("DROP VIEW ingest_ready")
            run.exec("ALTER TABLE ingest_ready_rows RENAME TO ingest_ready")
        queries.drop_already_stored(run.con, table, "ingest_ready")
        result.rows_left_out += stored
        what = "observation" if table_kind != "survey" else "response"
        key = "pilot, metric, lab/live and time" if table_kind != "survey" else "pilot, respondent and wave"
        result.warnings.append(
            f"{plural(stored, what)} {'repeats' if stored == 1 else 'repeat'} ones already stored (same {key}); "
            "the stored values were kept. Choose “replace stored values” to overwrite them."
        )
    elif stored:
        result.warnings.append(f"{plural(stored, 'already stored value')} will be replaced by this file's.")
    return stored


def warn_future(run: Run, table_kind: str, fast: FastRead | None) -> None:
    """Rows dated after now are stored, but count only from their date: say so before storing."""
    column = "responded_at" if table_kind == "survey" else "observed_at"
    now = utc_now()
    facts = fast.facts if fast is not None and fast.stored_as is not None else None
    if facts is not None and (facts.high is None or facts.high <= now.replace(tzinfo=None)):
        return  # the latest stored date is not after now (see stored_facts)
    count, latest = run.one(f"SELECT count(*), max({column}) FROM ingest_ready WHERE {column} > ?", [now])
    if not count:
        return
    what = plural(count, "response") if table_kind == "survey" else plural(count, "observation")
    if count == 1:
        text = (
            f"{what} in {run.result.file_name} is dated after now ({latest:%d %b %Y}); it counts only from that date."
        )
    else:
        text = (
            f"{what} in {run.result.file_name} are dated after now (the latest {latest:%d %b %Y}); "
            "each counts only from its own date."
        )
    run.result.warnings.append(text)


def summaries(run: Run, table_kind: str, fast: FastRead | None) -> None:
    """The preview's first rows, and which pilots, metrics and dates the upload holds."""
    result = run.result
    columns = ", ".join(STORED_COLUMNS[table_kind])
    order = "" if fast is not None else "ORDER BY ord"  # the fast path keeps file order without an ordinal
    if run.route.tables:
        result.preview = run.con.execute(f"SELECT {columns} FROM ingest_ready {order} LIMIT {PREVIEW_ROWS}").df()
    # ingest_ready: every stored row
    facts = fast.facts if fast is not None and fast.stored_as is not None else None
    if table_kind in ("metrics", "usage") and facts is not None:
        pilots, metrics, low, high = facts.pilots, facts.metrics, facts.low, facts.high
        result.metrics = metrics
    elif table_kind in ("metrics", "usage"):
        pilots, metrics, low, high = run.one(
            "SELECT list(DISTINCT pilot_id ORDER BY pilot_id), list(DISTINCT metric ORDER BY metric), "
            "min(observed_at), max(observed_at) FROM ingest_ready"
        )
        result.metrics = metrics or []
    else:
        pilots, low, high = run.one(
            "SELECT list(DISTINCT pilot_id ORDER BY pilot_id), min(responded_at), max(responded_at) FROM ingest_ready"
        )
    result.pilots = pilots or []
    result.date_range = (low, high) if low is not None and high is not None else None


def rejected_table(run: Run) -> pd.DataFrame:
    """Every rejected row with its reason and the row's cells as the file had them."""
    header = run.text.header
    rows = []
    by_line = {line: text for line, text in run.rejects}
    raw_lines = (
        dict(run.con.execute("SELECT DISTINCT line, csv_line FROM ingest_reject_errors").fetchall())
        if run.rejects
        else {}
    )
    for line, text in sorted(by_line.items()):
        relative = line - run.text.first_body_line + 1 + run.text.skip_lines
        rows.append(
            {
                "line": line,
                "column": "",
                "reason": f"Row {text}.",
                **{h: "" for h in header},
                "original_line": raw_lines.get(relative, ""),
            }
        )
    problem_rows = [p for p in run.result.problems if p.row is not None and p.row not in by_line]
    if problem_rows:
        ordinals = run.problem_ordinals
        wanted = pd.DataFrame({"ord": sorted(set(ordinals.values()))}, dtype="int64")
        queries.register(run.con, "ingest_wanted", wanted)
        cells = run.con.execute(
            f"SELECT rowid - {run.base} + 1 AS ord, * FROM ingest_raw "
            f"WHERE rowid - {run.base} + 1 IN (SELECT ord FROM ingest_wanted)"
        ).fetchall()
        run.con.unregister("ingest_wanted")
        by_ordinal = {row[0]: row[1:] for row in cells}
        for problem in problem_rows:
            values = by_ordinal.get(ordinals.get(problem.row or 0), ())
            rows.append(
                {
                    "line": problem.row,
                    "column": problem.column or "",
                    "reason": problem.message,
                    **{
                        h: (values[i] if i < len(values) and values[i] is not None else "")
                        for i, h in enumerate(header)
                    },
                    "original_line": "",
                }
            )
    frame = pd.DataFrame(rows, columns=["line", "column", "reason", *header, "original_line"])
    if not frame.empty and not frame["original_line"].astype(bool).any():
        frame = frame.drop(columns=["original_line"])
    return frame.sort_values("line", kind="stable").reset_index(drop=True) if not frame.empty else frame
