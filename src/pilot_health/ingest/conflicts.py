"""Two different values for one observation in one file (same pilot, metric, lab/live and time): every
row of the key is rejected, naming the rows and the values, for the uploader to choose."""

from __future__ import annotations

from pilot_health.ingest.run import MAX_KEPT_PROBLEMS, OBSERVATION_KEY, Run
from pilot_health.ingest.wording import different, rows_words, when
from pilot_health.lazy import pandas as pd
from pilot_health.store import queries

# Tables of experiment runs have one row per run: runs started in the same second are different
# experiments, not two values for one measurement, so they are not conflicts.
RUN_TABLES = ("MLflow runs (search_runs)", "MLflow run table (UI download)", "Weights & Biases runs table")
# The reason each row of a conflicting key is rejected with, beside the message that names them all.
CONFLICT = (
    "this row and others give different values for the same pilot, metric, lab/live and time; keep one and upload again"
)


def has_conflicts(run: Run, counted: tuple[int, int] | None = None) -> tuple[int, tuple[int, int] | None]:
    """1 when some key (pilot, metric, lab/live, time) has two different values in this file.
    Cheap: when some key repeats, one grouping on the key's hash compares each group's lowest
    and highest value (two keys whose hashes collide look like a conflict: the exact check then
    finds none). Both count the rows and, when every group's rows are alike throughout (same
    value and kind), the distinct rows, which is what checking.finish needs for exact duplicates.
    Returns (1 or 0, (rows, distinct rows) when known). `counted`: (distinct key hashes, rows without
    a problem), when known already."""
    if run.mapping.export in RUN_TABLES:
        return 0, None
    # Most files never repeat a key: one distinct count on the key's hash proves it (a collision
    # only sends the file to the grouping below).
    keys, rows = counted or run.one(
        f"SELECT count(DISTINCT hash({OBSERVATION_KEY})), count(*) FROM ingest_parsed WHERE problem IS NULL"
    )
    if keys == rows:
        return 0, (rows, rows)
    groups, conflicts, alike, rows = run.one(
        f"""
        SELECT count(*), count(*) FILTER (WHERE low <> high), count(*) FILTER (WHERE alike), coalesce(sum(n), 0)
        FROM (
            SELECT count(*) AS n, min(value) AS low, max(value) AS high,
                   count(value) IN (0, count(*)) AND min(value) IS NOT DISTINCT FROM max(value)
                   AND count(kind) IN (0, count(*)) AND min(kind) IS NOT DISTINCT FROM max(kind) AS alike
            FROM ingest_parsed WHERE problem IS NULL GROUP BY hash({OBSERVATION_KEY})
        )
        """
    )
    # rows of one key are exact repeats of each other: distinct rows = keys
    return int(conflicts > 0), ((rows, groups) if alike == groups else None)


def reject_conflicting_values(run: Run) -> None:
    """Rows of one file that give two different values for the same pilot, metric, lab/live and
    time are all rejected, with both rows and both values named: which one is right is the
    uploader's call, and an average of the two would be a value nobody measured."""
    if not has_conflicts(run)[0]:
        return
    run.exec(
        f"""
        CREATE OR REPLACE TEMP TABLE ingest_conflicts AS
        SELECT {OBSERVATION_KEY}, list(ord ORDER BY ord, col) AS ords, list(col ORDER BY ord, col) AS cols,
               list(value ORDER BY ord, col) AS vals
        FROM ingest_parsed WHERE problem IS NULL AND value IS NOT NULL
        GROUP BY ALL HAVING count(DISTINCT value) > 1
        """
    )
    groups = run.con.execute(
        f"SELECT {OBSERVATION_KEY}, ords, cols, vals FROM ingest_conflicts ORDER BY ords[1] LIMIT {MAX_KEPT_PROBLEMS}"
    ).fetchall()
    marks: list[tuple[int, int, str]] = []
    for pilot_id, metric, environment, observed_at, ords, cols, vals in groups:
        what = f"{pilot_id or 'the pilot'} {metric}, {environment}, {when(observed_at)}"
        lines = [run.line_of(o) for o in ords]
        message = (
            f"{rows_words(lines[:6], more=len(lines) - 6)} of {run.result.file_name} give {different(vals)} "
            f"for {what}; keep one and upload again"
        )
        marks += [(o, c, message) for o, c in zip(ords, cols, strict=True)]
    mark(run, marks)
    run.exec(
        f"""
        UPDATE ingest_parsed SET problem = ?, problem_col = col
        WHERE problem IS NULL AND value IS NOT NULL
          AND ({OBSERVATION_KEY}) IN (SELECT ({OBSERVATION_KEY}) FROM ingest_conflicts)
        """,
        [CONFLICT],
    )
    run.exec("DROP TABLE ingest_conflicts")


def mark(run: Run, marks: list[tuple[int, int, str]]) -> None:
    """Reject the rows (ordinal, column of the value) with their messages."""
    if not marks:
        return
    frame = pd.DataFrame(marks, columns=["ord", "col", "message"]).astype(
        {"ord": "int64", "col": "int64", "message": "str"}
    )
    queries.register(run.con, "ingest_marks", frame)
    run.exec(
        """
        UPDATE ingest_parsed SET problem = m.message, problem_col = m.col FROM ingest_marks m
        WHERE ingest_parsed.ord = m.ord AND ingest_parsed.col = m.col
        """
    )
    run.con.unregister("ingest_marks")
