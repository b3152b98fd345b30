"""The ingest engine: one file in, checked whole, stored all at once or not at all.

`ingest(store, data, file_name, options, commit=False)` reads and checks a file and says what it
would store; with `commit=True` it does the same inside one write transaction and stores it. The
upload page calls it twice (preview, then store) and the command line once. Parsing runs on whole
columns in DuckDB, in temporary tables of the store's own connection (they never reach the file),
so a million-row export costs about as much as DuckDB reading it. On a PostgreSQL store the same
steps run on an in-memory DuckDB copy of what they read, and the changes go to the server in the
write transaction (store/transfer.py).

This module is the order of the steps; each step lives with its concern: reading the body
(loading), each kind's parser (register, survey, shaping and metrics with kinds), the fast path
(fast_path, stored_facts), checking (conflicts, pilot_codes, checking) and storing (storing).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import duckdb

from pilot_health.access import Person, local_administrator
from pilot_health.config import load_config
from pilot_health.formatting import file_size, plural
from pilot_health.ingest import checking, metrics, shaping
from pilot_health.ingest.fast_path import FastRead, try_fast_path
from pilot_health.ingest.lab_or_live import environment_source, names_split
from pilot_health.ingest.loading import load
from pilot_health.ingest.outcome import IngestOptions, IngestResult
from pilot_health.ingest.problems import Refused
from pilot_health.ingest.reading import DelimitedText, read_upload
from pilot_health.ingest.recognise import Mapping, recognise
from pilot_health.ingest.register import register_rows
from pilot_health.ingest.run import Progress, RetryCarefully, Route, Run
from pilot_health.ingest.storing import store_upload, upload_history, upload_seen_by, withdraw
from pilot_health.ingest.survey import parse_survey
from pilot_health.ingest.workspace import sha256_meanwhile, work_folder
from pilot_health.lazy import (
    pandas as pd,  # imported when a table is made: the command line's ingest of a plain file needs none
)
from pilot_health.models import Pilot
from pilot_health.store import queries
from pilot_health.store.database import Store
from pilot_health.store.transfer import engine_connection, is_server_copy

__all__ = ["FAST_PATH", "IngestOptions", "IngestResult", "ingest", "upload_history", "withdraw"]

FAST_PATH = True  # tests switch it off to show both paths store the same


class _NothingToStore(Exception):
    """The file brings nothing new; leave the transaction without writing (and without a new version)."""


def ingest(
    store: Store,
    data: bytes,
    file_name: str,
    options: IngestOptions | None = None,
    *,
    commit: bool = False,
    progress: Progress | None = None,
    source: Path | None = None,
    person: Person | None = None,
    tables: bool = True,
    _careful: bool = False,
    _direct: bool = True,
) -> IngestResult:
    """Check a file and, with `commit`, store it in one transaction. Never raises for bad input:
    a refused file comes back with status "refused" and the reason. `source` is the path `data`
    was read from, if any: DuckDB then reads a plain UTF-8 file in place. `person` is who uploads
    (default: a local administrator named `options.uploaded_by`): an editor or admin, and a person
    limited to some business units may store rows only for those units' pilots: the engine reads
    the whole store whatever `store` is narrowed to, and checks the limits here, row by row.
    `tables=False` leaves `result.preview` and `result.rejected_rows` None (the problems are listed
    all the same): the command line prints neither, and making them imports pandas.
    `_careful` and `_direct` are for the engine's own second try (see RetryCarefully)."""
    store = store.unscoped()
    options = options or IngestOptions()
    person = person or local_administrator(options.uploaded_by)
    options = replace(options, uploaded_by=person.name)  # uploads are withdrawn by whoever made them: one name for both
    progress = progress or (lambda share, text: None)
    started = time.monotonic()
    digest = sha256_meanwhile(data)
    result = _new_result(data, file_name, tables)
    result.refusal = _may_not_upload(person, data, file_name)
    if result.refusal:
        result.sha256 = digest()
        return result
    workdir = work_folder()
    try:
        progress(0.05, f"Reading {file_name} …")
        text, mapping = _read_and_recognise(data, file_name, workdir, source, options, result)
        _note_what_is_missing(mapping, options, result, commit)
        result.sha256 = digest()
        with (
            store.write() if commit else store.read() as stored,
            engine_connection(stored, workdir, commit=commit, readable=[source.parent] if source else []) as con,
        ):  # on a PostgreSQL store: an in-memory DuckDB copy of what the engine reads (store.transfer)
            _refuse_same_bytes(con, options, result, person)
            route = _route(con, mapping, result, person, commit=commit, tables=tables, careful=_careful, direct=_direct)
            _check_and_store(Run(con, text, mapping, options, result, progress, route), person, commit)
        if commit:  # out of the block: committed (a commit that fails raises instead), so "Stored" is now true
            progress(1.0, f"Stored {plural(result.rows_to_store, 'row')} as upload {result.upload_id}.")
        return result
    except (Refused, duckdb.OutOfMemoryException) as refusal:
        result.status, result.refusal = "refused", _refusal_text(refusal, file_name)
        return result
    except _NothingToStore:  # raised inside the transaction so that it is rolled back, version untouched
        return result
    except RetryCarefully as retry:  # rolled back: nothing of the first try is stored
        return ingest(
            store,
            data,
            file_name,
            options,
            commit=commit,
            progress=progress,
            source=source,
            person=person,
            tables=tables,
            _careful=not retry.fast_again,
            _direct=False,
        )
    finally:
        result.sha256 = digest()
        _finish(result, started, workdir)


def _new_result(data: bytes, file_name: str, tables: bool) -> IngestResult:
    """What an upload gets back, refused until a step says otherwise; with `tables`, empty tables
    the checks fill (the command line asks for none: making them imports pandas)."""
    result = IngestResult(status="refused", file_name=file_name, sha256="", size=len(data))
    if tables:
        result.preview, result.rejected_rows = pd.DataFrame(), pd.DataFrame()
    return result


def _check_and_store(run: Run, person: Person, commit: bool) -> None:
    """Check every row, then, with `commit`, store them in the caller's transaction; without it the
    file is ready to store (the preview the upload page shows first)."""
    run, fast, pilots = _check(run, person)
    _refuse_nothing_to_store(run, commit)
    if not commit:
        run.result.status = "ready"
        return
    run.result.status, run.result.upload_id = "stored", store_upload(run, fast, pilots)


def _refusal_text(refusal: Exception, file_name: str) -> str:
    """The sentence a refused upload gets: a refusal's own, or the memory one (the limits should
    keep every file from running out of memory: bench/README.md)."""
    if isinstance(refusal, Refused):
        return str(refusal)
    return (
        f"{file_name} needs more memory to check than this server can give one upload. Split it into smaller "
        "files and upload them one after the other. Nothing was stored."
    )


def _finish(result: IngestResult, started: float, workdir: Path) -> None:
    """Whatever happened: problems in file order, the time taken, the work folder removed."""
    result.problems.sort(key=lambda p: (p.row is None, p.row or 0))
    result.seconds = time.monotonic() - started
    shutil.rmtree(workdir, ignore_errors=True)


def _may_not_upload(person: Person, data: bytes, file_name: str) -> str | None:
    """Why the file is refused before it is read (the uploader's role, the upload size limit), or None."""
    if not person.can("upload"):
        return (
            f"{person.name} may not upload data: that needs the editor role; ask an administrator. Nothing was stored."
        )
    limit_mb = load_config().max_upload_mb
    if len(data) > limit_mb * 1024 * 1024:
        return (
            f"{file_name} is {file_size(len(data))}, more than the upload limit of {limit_mb} MB; "
            "split the file into smaller ones, or ask an administrator to raise the upload limit. Nothing was stored."
        )
    return None


def _read_and_recognise(
    data: bytes, file_name: str, workdir: Path, source: Path | None, options: IngestOptions, result: IngestResult
) -> tuple[DelimitedText, Mapping]:
    """The file's text (format, header, a sample; the body written to `workdir`) and what its columns
    are (recognised, then the uploader's own mapping on top), both noted in the result so that the
    page can show them even when the file is refused later."""
    text = read_upload(data, file_name, workdir, source)
    result.format, result.headers = text.format, text.header
    result.warnings.extend(text.warnings)
    result.rows_left_out += text.format.total_rows  # total rows cut as footers: rows of the table, left out
    mapping = recognise(text.header, text.header_rows, text.sample, options.kind, file_name)
    if options.mapping:
        mapping = mapping.with_targets(options.mapping)
    result.mapping, result.kind = mapping, mapping.kind
    result.warnings.extend(mapping.notes)
    return text, mapping


def _note_what_is_missing(mapping: Mapping, options: IngestOptions, result: IngestResult, commit: bool) -> None:
    """Which answers the file does not give (its pilot, lab or live) go into `result.needs`, for the
    page to ask; storing without the pilot is refused here, before the store is opened. Lab or live
    may still be settled by the file itself (a file of business KPIs is live), so it is refused only
    once the rows are read (_refuse_nothing_to_store)."""
    result.pilot_column = mapping.column_for("pilot_id") is not None
    result.environment_column = mapping.column_for("environment") is not None
    result.environment_column = result.environment_column or names_split(mapping, options)  # run names say it
    result.environment_source = environment_source(mapping, options)
    if mapping.kind != "pilot_register" and not result.pilot_column and not options.pilot_id:
        result.needs.append("pilot_id")
    if (
        mapping.kind == "metrics"
        and not result.environment_column
        and options.environment not in ("lab", "live")
        and mapping.defaults.get("environment") not in ("lab", "live")
    ):
        # unless every metric is a business KPI: decided once they are read (kinds.decide_metric_kinds)
        result.needs.append("environment")
    if [n for n in result.needs if n != "environment"] and commit:
        asked = {"pilot_id": "which pilot the rows belong to", "environment": "whether they are lab or live"}
        raise Refused(
            f"{result.file_name} does not say {' or '.join(asked[n] for n in result.needs)}; "
            "choose it and store again. Nothing was stored."
        )


def _refuse_same_bytes(
    con: duckdb.DuckDBPyConnection, options: IngestOptions, result: IngestResult, person: Person
) -> None:
    """The very same bytes stored before (unless the uploader stores them again on purpose) are a
    duplicate: nothing to store, and the earlier upload named only to whoever may see it."""
    duplicate = None if options.store_again else queries.upload_with_hash(con, result.sha256)
    if not duplicate:
        return
    result.status = "duplicate"
    if upload_seen_by(con, duplicate[0], person):
        result.duplicate_of = duplicate[0]
        result.warnings.append(
            f"These exact bytes were already stored as upload {duplicate[0]} "
            f"({duplicate[1]}, {duplicate[2]:%d %b %Y %H:%M} UTC); storing them again would change nothing."
        )
    else:  # an upload of another business unit: not even its name or time
        result.warnings.append("This exact file was stored before; storing it again would change nothing.")
    raise _NothingToStore()


def _route(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    result: IngestResult,
    person: Person,
    *,
    commit: bool,
    tables: bool,
    careful: bool,
    direct: bool,
) -> Route:
    """How this pass goes, decided once: the fast path may be tried unless this is the careful
    second try (or tests switched it off); with commit, a metrics or usage file that needs no answer
    is stored by the fast path as it is read, under the next upload id (not on a PostgreSQL store's
    copy: stored rows that the file repeats would be fetched from the server again for the second try)."""
    store_as = None
    direct = direct and not is_server_copy(con)
    if commit and direct and not result.needs and mapping.kind in ("metrics", "usage"):
        store_as = queries.next_upload_id(con)
    return Route(
        fast=FAST_PATH and not careful,
        store_as=store_as,
        tables=tables,
        limited_to=person.units_text if person.limited else None,
    )


def _check(run: Run, person: Person) -> tuple[Run, FastRead | None, list[Pilot]]:
    """Read, parse and check every row: the fast path when the file is plain enough, the careful
    path otherwise (the body loaded as text, then the kind's own parser), then the checks of what
    will be stored. Returns the run as loaded, what the fast path read (None: the careful path ran)
    and, for the register, the pilots to store."""
    known = [p for p, unit in queries.pilot_business_units(run.con).items() if person.sees(unit)]
    run.progress(0.15, "Reading and checking every row …")
    fast = try_fast_path(run, known)
    if fast is None:
        run = load(run)
        run.progress(0.4, "Reading numbers and dates, checking every row …")
    kind = str(run.mapping.kind)
    if kind == "pilot_register":
        return run, fast, register_rows(run, person)
    if kind == "survey":
        parse_survey(run, known)
    elif fast is None:
        shaping.shape_metrics(run)
        metrics.parse_metrics(run, known)
    run.progress(0.6, "Looking for duplicates …")
    checking.finish(run, kind, fast)
    return run, fast, []


def _refuse_nothing_to_store(run: Run, commit: bool) -> None:
    """After the checks: storing still without lab or live is refused (a file of business KPIs needs
    no answer); the rejected rows are tabled; a file whose every row is stored already is a
    duplicate, and one with no row that could be stored is refused."""
    result, file_name = run.result, run.result.file_name
    if commit and "environment" in result.needs:
        raise Refused(
            f"{file_name} does not say whether its rows are lab or live; choose it and store again. Nothing was stored."
        )
    if run.route.tables:
        result.rejected_rows = checking.rejected_table(run)
    if result.rows_to_store == 0 and result.already_stored:
        result.status = "duplicate"
        result.warnings.append(f"Every row of {file_name} is already stored; there is nothing new to store.")
        raise _NothingToStore()
    if result.rows_to_store == 0:
        rows = "its one row was" if result.rows_read == 1 else f"all {result.rows_read:,} rows were"
        raise Refused(f"{file_name} has no row that could be stored: {rows} rejected (see the reasons).")
