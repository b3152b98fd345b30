"""Storing a checked upload inside the write transaction (its rows or pilots, its record, the audit
line), telling who may see an earlier upload, and the uploads kept: withdrawing one, the history."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from typing import Any

import duckdb

from pilot_health.access import Person, as_person
from pilot_health.formatting import plural
from pilot_health.ingest.fast_path import FastRead
from pilot_health.ingest.outcome import IngestOptions, IngestResult
from pilot_health.ingest.recognise import KIND_LABELS
from pilot_health.ingest.run import TARGET_TABLE, RetryCarefully, Run
from pilot_health.lazy import pandas as pd
from pilot_health.models import Pilot
from pilot_health.rules.metric_dictionary import answer_rows
from pilot_health.store import queries
from pilot_health.store.database import Store, utc_now
from pilot_health.store.transfer import bring_stored_rows, bring_upload_rows


def store_upload(run: Run, fast: FastRead | None, pilots: list[Pilot]) -> int:
    """Write the checked file inside the run's write transaction: the upload's record, then its
    pilots or rows (replacing stored values when chosen; rows the fast path stored as it read them
    are in already), the uploader's metric answers, the record's details and the audit line.
    Returns the upload's id. Nothing is stored unless the transaction commits."""
    con, result, options, kind = run.con, run.result, run.options, str(run.mapping.kind)
    run.progress(0.75, f"Storing {plural(result.rows_to_store, 'row')} …")
    upload_id = queries.insert_upload(
        con,
        kind=kind,
        file_name=result.file_name,
        sha256=result.sha256,
        rows_stored=result.rows_to_store,
        rows_rejected=result.rows_rejected,
        uploaded_at=utc_now(),
        uploaded_by=options.uploaded_by,
    )
    stored_as = fast.stored_as if fast is not None else None  # the rows went in as they were read, under this id
    if stored_as is not None and upload_id != stored_as:  # another upload took that id meanwhile: start again
        raise RetryCarefully(fast_again=True)
    if kind == "pilot_register":
        _store_pilots(con, pilots)
    else:
        _store_rows(run, upload_id, stored_already=stored_as is not None)
    queries.set_upload_details(con, upload_id, details(result, options))
    queries.record_audit(
        con,
        utc_now(),
        options.uploaded_by,
        "upload",
        str(upload_id),
        f"{result.file_name}: {plural(result.rows_to_store, 'row')} ({KIND_LABELS.get(kind, kind)})"
        + (f", {result.rows_replaced:,} stored values replaced" if result.rows_replaced else "")
        + (f", pilots {', '.join(p.pilot_id for p in pilots)}" if kind == "pilot_register" else ""),
    )
    return upload_id


def _store_pilots(con: duckdb.DuckDBPyConnection, pilots: list[Pilot]) -> None:
    """Pilots already in the register are updated, new ones added."""
    existing = set(queries.pilot_ids(con))
    new = [p for p in pilots if p.pilot_id not in existing]
    for pilot in pilots:
        if pilot.pilot_id in existing:
            queries.update_pilot(con, pilot, utc_now())
    queries.insert_pilots(con, new, utc_now())


def _store_rows(run: Run, upload_id: int, stored_already: bool) -> None:
    """The ready rows into their table under the upload's id (the stored values they repeat deleted
    first when the uploader chose to replace them), and the uploader's answers about new metrics."""
    con, result, options = run.con, run.result, run.options
    table = TARGET_TABLE[str(run.mapping.kind)]
    if options.replace_existing and result.already_stored:
        bring_stored_rows(con, table, "ingest_ready")
        result.rows_replaced = queries.delete_replaced(con, table, "ingest_ready")
    if not stored_already:
        queries.insert_rows_from(con, table, "ingest_ready", upload_id)
    else:  # which pilots it touched, as insert_rows_from notes it (the results keeper reads this)
        queries.note_stored_upload_pilots(con, table, upload_id)
    if options.metric_answers:
        queries.upsert_metric_definitions(
            con, answer_rows(options.metric_answers, options.uploaded_by, utc_now(), upload_id)
        )


def upload_seen_by(con: duckdb.DuckDBPyConnection, upload_id: int, person: Person) -> bool:
    """May `person` be told about this upload (its number, file name and time)? Anyone not limited
    to business units may; a limited person only about their own uploads and uploads whose every
    pilot is in their units."""
    if not person.limited:
        return True
    upload = queries.fetch_upload(con, upload_id) or {}
    if upload.get("uploaded_by") == person.name:
        return True
    bring_upload_rows(con, upload_id)
    pilots = {
        row[0]
        for row in con.execute(
            "SELECT pilot_id FROM metric_observations WHERE upload_id = ? "
            "UNION SELECT pilot_id FROM survey_responses WHERE upload_id = ?",
            [upload_id, upload_id],
        ).fetchall()
    }
    try:
        pilots |= set(json.loads(upload.get("details") or "{}").get("pilots") or [])
    except (ValueError, AttributeError):
        return False
    units = queries.pilot_business_units(con)
    return bool(pilots) and all(person.sees(units.get(pilot)) for pilot in pilots)


def details(result: IngestResult, options: IngestOptions) -> str:
    """What the upload's record keeps of how the file was read (the receipt and the history show it)."""
    mapping = result.mapping
    return json.dumps(
        {
            "format": result.format.describe() if result.format else None,
            "export": mapping.export if mapping else None,
            "layout": mapping.layout if mapping else None,
            "mapping": {h: mapping.describe(h) for h in mapping.targets} if mapping else {},
            "warnings": result.warnings,
            "metrics": result.metrics,
            "pilots": result.pilots,
            "date_range": [d.isoformat() for d in result.date_range] if result.date_range else None,
            "rows_read": result.rows_read,
            "rows_left_out": result.rows_left_out,
            "rows_replaced": result.rows_replaced,
            "options": {
                k: (val.isoformat() if isinstance(val, date) else val)
                for k, val in asdict(options).items()
                if val not in (None, {}, False)
            },
        },
        default=str,
    )


def withdraw(store: Store, upload_id: int, by: Person | str = "local user") -> dict[str, Any]:
    """Withdraw an upload: its rows leave every view; the record stays, dated. An editor may
    withdraw their own uploads, an administrator anyone's."""
    from pilot_health.errors import AccessDenied, NotFoundError

    person = as_person(by)
    person.require("withdraw_own", f"withdraw upload {upload_id}")
    with store.write() as con:
        upload = queries.fetch_upload(con, upload_id)
        if upload is None:
            raise NotFoundError(f"There is no upload {upload_id}.")
        if not person.may_withdraw(upload["uploaded_by"]):
            raise AccessDenied(
                f"{person.name} may withdraw only their own uploads, and upload {upload_id} was made by "
                f"{upload['uploaded_by']}; ask an administrator to withdraw it."
            )
        if upload["withdrawn_at"] is None:
            queries.withdraw_upload(con, upload_id, utc_now())
            queries.record_audit(
                con,
                utc_now(),
                person.name,
                "withdraw",
                str(upload_id),
                f"{upload['file_name']} (uploaded by {upload['uploaded_by']} "
                f"on {upload['uploaded_at']:%Y-%m-%d %H:%M})",
            )
        return queries.fetch_upload(con, upload_id) or upload


def upload_history(store: Store, include_demo: bool = False) -> pd.DataFrame:
    """Every upload, newest first: what, when, by whom, how many rows, withdrawn or not."""
    with store.read() as con:
        return queries.list_uploads(con, include_demo)
