"""Survey files (ADKAR answers): one row per response, scores read on the 1–5 scale, previews and
unfinished responses left out, the wave filled in, and two answers of one respondent in one wave
told apart."""

from __future__ import annotations

import re
from typing import Any

from pilot_health.formatting import plural
from pilot_health.ingest import values as v
from pilot_health.ingest.pilot_codes import refuse_unknown_pilots
from pilot_health.ingest.recognise import ADKAR
from pilot_health.ingest.run import MAX_KEPT_PROBLEMS, STORED_COLUMNS, Run
from pilot_health.ingest.wording import and_, rows_words
from pilot_health.lazy import pandas as pd
from pilot_health.store import queries
from pilot_health.store.transfer import bring_stored_rows

NO_TEXT = "CAST(NULL AS VARCHAR)"


def parse_survey(run: Run, known_pilots: list[str]) -> None:
    """The survey's rows as `ingest_parsed`, each with its problem (or none); refuse pilot codes
    that are not in the register."""
    col = run.column_of
    pilot = col("pilot_id")
    pilot_sql = f"upper(trim({pilot}))" if pilot else ("?" if run.options.pilot_id else "NULL")
    params: list[Any] = [run.options.pilot_id.upper()] if (run.options.pilot_id and not pilot) else []
    responded_sql = _responded_sql(run)
    respondent_sql = _respondent_sql(run)
    scores = ", ".join(_score_sql(run, e) for e in ADKAR)
    texts = {name: v.text(c, width) if (c := col(name)) else NO_TEXT for name, width in _TEXTS.items()}
    run.exec(
        f"""
        CREATE OR REPLACE TEMP TABLE ingest_survey AS
        SELECT rowid - {run.base} + 1 AS ord, {pilot_sql} AS pilot_id, {respondent_sql} AS respondent_id,
               {responded_sql} AS responded_at, {_wave_sql(run)} AS wave, {texts["team"]} AS team,
               {texts["role"]} AS role, {scores}, {texts["comment"]} AS comment, ({_left_out_sql(run)}) AS left_out
        FROM ingest_raw
        """,
        params,
    )
    _leave_out_previews(run)
    if not col("wave") and not run.options.wave:
        _fill_next_waves(run)
    _check_answers(run)
    refuse_unknown_pilots(run, known_pilots)


_TEXTS = {"team": 120, "role": 120, "comment": 4000}  # the free-text columns and their longest stored text


def _responded_sql(run: Run) -> str:
    """When each response was given: the column's dates read as their format says (in UTC when the
    export names its time zone), or no time."""
    column = run.column_of("responded_at")
    if not column:
        return "NULL::TIMESTAMP"
    decision = v.detect_date_format(run.con, "ingest_raw", column, "the response date column", run.options.date_order)
    if not decision.format:
        return "NULL::TIMESTAMP"
    responded_sql = v.timestamp(column, decision.format)
    zone = run.mapping.defaults.get("responded_at_zone")
    if isinstance(zone, str) and re.fullmatch(r"[A-Za-z_]+(/[A-Za-z_+\-0-9]+)*", zone):
        responded_sql = f"(({responded_sql}) AT TIME ZONE '{zone}') AT TIME ZONE 'UTC'"
    if decision.warning:
        run.result.warnings.append(decision.warning)
    return responded_sql


def _respondent_sql(run: Run) -> str:
    """Each response's respondent: the column (pseudonymised when the export names people), or a
    pseudonymous id per row when the file has none (said in a note)."""
    column = run.column_of("respondent_id")
    if column and run.mapping.defaults.get("pseudonymise_respondent"):
        return f"'R-' || upper(left(md5(lower({v.text(column, 200)})), 10))"
    if column:
        return v.text(column, 100)
    run.result.warnings.append("The file has no respondent ids; each response was given a pseudonymous id.")
    return f"'R-' || upper(left(md5('{run.result.sha256}' || CAST(rowid - {run.base} AS VARCHAR)), 8))"


def _wave_sql(run: Run) -> str:
    """The survey wave: the column's number, the one chosen on upload, or NULL (the pilot's next wave,
    filled in by _fill_next_waves)."""
    column = run.column_of("wave")
    if column:
        return f"TRY_CAST(regexp_extract({v.cleaned(column)}, '(\\d+)', 1) AS INTEGER)"
    if run.options.wave:
        return str(int(run.options.wave))
    return "CAST(NULL AS INTEGER)"


def _score_sql(run: Run, element: str) -> str:
    """One ADKAR element's score, its problem and the column it came from (-1: not in the file)."""
    column = run.column_of(element)
    if not column:
        return f"CAST(NULL AS DOUBLE) AS {element}, {NO_TEXT} AS {element}_problem, -1 AS {element}_col"
    return (
        f"{v.likert(column)} AS {element}, {v.likert_problem(column, element)} AS {element}_problem, "
        f"{run.column_index(element)} AS {element}_col"
    )


def _left_out_sql(run: Run) -> str:
    """Which rows are survey previews, spam or tests, or unfinished responses: left out, not rejected."""
    left_out = []
    if status := run.column_of("_status"):
        left_out.append(f"lower(coalesce({status}, '')) IN ('survey preview', '1', 'spam', 'preview', 'test')")
    if finished := run.column_of("_finished"):
        left_out.append(f"lower(coalesce({finished}, '')) IN ('false', '0', 'no', 'f')")
    return " OR ".join(left_out) or "false"


def _leave_out_previews(run: Run) -> None:
    left = run.value("SELECT count(*) FROM ingest_survey WHERE left_out")
    if left:
        run.result.rows_left_out += left
        what = plural(left, "survey preview or unfinished response", "survey previews or unfinished responses")
        run.result.warnings.append(f"Left out {what}.")
    run.exec("DELETE FROM ingest_survey WHERE left_out")


def _fill_next_waves(run: Run) -> None:
    """A file that does not say its wave is each pilot's next wave (said in a note, to be corrected)."""
    bring_stored_rows(run.con, "survey_responses", "ingest_survey")
    waves = pd.DataFrame(list(queries.next_waves(run.con).items()), columns=["pilot_id", "next_wave"])
    queries.register(run.con, "ingest_waves", waves)
    run.exec(
        "UPDATE ingest_survey SET wave = coalesce("
        "(SELECT next_wave FROM ingest_waves w WHERE w.pilot_id = ingest_survey.pilot_id), 1)"
    )
    run.con.unregister("ingest_waves")
    numbers = sorted({r[0] for r in run.con.execute("SELECT DISTINCT wave FROM ingest_survey").fetchall() if r[0]})
    if numbers:
        run.result.warnings.append(
            f"The file does not say which survey wave it is; stored as wave {', '.join(map(str, numbers))} "
            "(the pilot's next wave). Choose the wave if that is wrong."
        )


def _check_answers(run: Run) -> None:
    """Each response's first problem (no pilot, no respondent, no wave, a score off the scale) and
    the column it is in, into `ingest_parsed`."""
    score_problem = " ".join(f"WHEN {e}_problem IS NOT NULL THEN {e}_problem" for e in ADKAR)
    score_col = " ".join(f"WHEN {e}_problem IS NOT NULL THEN {e}_col" for e in ADKAR)
    pilot_index = run.column_index("pilot_id") if run.column_of("pilot_id") else -1
    no_pilot = "pilot_id" not in run.result.needs
    run.exec(
        f"""
        CREATE OR REPLACE TEMP TABLE ingest_parsed AS
        SELECT * REPLACE ({", ".join(f"TRY_CAST(round({e}) AS TINYINT) AS {e}" for e in ADKAR)}),
                  CASE WHEN pilot_id IS NULL AND {no_pilot} THEN 'no pilot code (choose the pilot, or map its column)'
                       WHEN respondent_id IS NULL THEN 'no respondent id'
                       WHEN wave IS NULL OR wave < 1 THEN 'the survey wave is not a number of 1 or more'
                       {score_problem} ELSE NULL END AS problem,
                  CASE WHEN pilot_id IS NULL THEN {pilot_index} {score_col} ELSE NULL END AS problem_col
        FROM ingest_survey
        """
    )


_ANSWER_KEY = "pilot_id, respondent_id, wave"  # one answer per respondent, wave and pilot


def reject_conflicting_answers(run: Run) -> None:
    """Two answers by one respondent in one wave: with different scores both are rejected (the
    uploader says which counts); with the same scores the file's first is kept and the rest left
    out with a note (a form submitted twice). Exact repeats are left to the duplicate check."""
    _reject_different_scores(run)
    _leave_out_repeated_answers(run)


def _reject_different_scores(run: Run) -> None:
    """Answers of one respondent in one wave whose scores differ: every one of them marked with a
    problem naming the rows and the differing scores, since only the person uploading knows which counts."""
    scores = ", ".join(f"coalesce({e}, -1)" for e in ADKAR)
    groups = run.con.execute(
        f"""
        SELECT {_ANSWER_KEY}, list(ord ORDER BY ord), {", ".join(f"list({e} ORDER BY ord)" for e in ADKAR)}
        FROM ingest_parsed WHERE problem IS NULL AND respondent_id IS NOT NULL
        GROUP BY ALL HAVING count(DISTINCT [{scores}]) > 1
        ORDER BY min(ord) LIMIT {MAX_KEPT_PROBLEMS}
        """
    ).fetchall()
    marks = [mark for group in groups for mark in _conflict_marks(run, group)]
    if marks:
        frame = pd.DataFrame(marks, columns=["ord", "col", "message"]).astype(
            {"ord": "int64", "col": "int64", "message": "str"}
        )
        queries.register(run.con, "ingest_marks", frame)
        run.exec(
            "UPDATE ingest_parsed SET problem = m.message, problem_col = m.col FROM ingest_marks m "
            "WHERE ingest_parsed.ord = m.ord"
        )
        run.con.unregister("ingest_marks")


def _conflict_marks(run: Run, group: tuple[Any, ...]) -> list[tuple[int, int, str]]:
    """One group of conflicting answers as (ord, column, message) for each of its rows; the column
    is the first score that differs, so the problem points at it."""
    pilot_id, respondent, wave, ords, *answers = group
    differing = [(e, vals) for e, vals in zip(ADKAR, answers, strict=True) if len(set(vals)) > 1]
    column = run.mapping.column_for(differing[0][0])
    col = run.index[column] if column is not None else -1
    scores_words = ", ".join(
        f"{e.capitalize()} {and_([('blank' if x is None else str(int(x))) for x in vals])}" for e, vals in differing
    )
    n = "two" if len(ords) == 2 else str(len(ords))
    lines = [run.line_of(o) for o in ords]
    message = (
        f"{rows_words(lines[:6], more=len(lines) - 6)} of {run.result.file_name} are {n} answers by respondent "
        f"{respondent} in wave {wave} of {pilot_id} with different scores ({scores_words}); "
        "keep one and upload again"
    )
    return [(o, col, message) for o in ords]


def _leave_out_repeated_answers(run: Run) -> None:
    """Same scores, something else differs (time, team, comment): a form submitted twice, so the
    file's first answer is kept and the others left out with a note."""
    columns = ", ".join(STORED_COLUMNS["survey"])
    repeats: list[int] = (
        run.value(
            f"""
            SELECT list(ord) FROM (
                SELECT ord, hash({columns}) AS h,
                       first_value(hash({columns})) OVER (PARTITION BY {_ANSWER_KEY} ORDER BY ord) AS first_h
                FROM ingest_parsed WHERE problem IS NULL AND respondent_id IS NOT NULL
            ) WHERE h <> first_h
            """
        )
        or []
    )
    if repeats:
        run.exec("DELETE FROM ingest_parsed WHERE ord IN (SELECT unnest(?::BIGINT[]))", [repeats])
        run.result.rows_left_out += len(repeats)
        which = rows_words(sorted(run.line_of(o) for o in repeats[:10]), more=len(repeats) - 10)
        run.result.warnings.append(
            f"{plural(len(repeats), 'answer')} in {run.result.file_name} repeat{'s' if len(repeats) == 1 else ''} "
            "an earlier answer by the same respondent in the same wave with the same scores "
            f"({which.lower()}); only the first was kept."
        )
