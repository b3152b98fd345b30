"""The audit trail: every change records who and when, in the same transaction as the change (a
refused upload records nothing), and the Audit trail page lists, filters and downloads it."""

from __future__ import annotations

import csv
import io

from test_pages import assert_clean, open_page, texts
from test_risk import TODAY, Story

from pilot_health.ingest import IngestOptions, ingest, withdraw
from pilot_health.models import Pilot
from pilot_health.register.pilots import create_pilot, get_pilot, update_pilot
from pilot_health.rules.metric_dictionary import MetricAnswer, save_answer
from pilot_health.store import queries

PAGE = "pages/6_Audit_trail.py"


def trail(store):
    with store.read() as con:
        return queries.audit_entries(con)


def test_every_change_records_who_and_what(store):
    create_pilot(store, Pilot.model_validate(Story().record, context={"today": TODAY}), by="ann@example.com")
    pilot = get_pilot(store, "P-1")
    update_pilot(store, pilot.model_copy(update={"stage": "scaling", "budget": 950000.0}), by="bo@example.com")
    data = b"pilot_id,date,metric,value\nP-1,2026-05-01,accuracy,0.9\nP-1,2026-05-08,accuracy,0.91\n"
    stored = ingest(
        store, data, "metrics.csv", IngestOptions(uploaded_by="cy@example.com", environment="live"), commit=True
    )
    assert stored.status == "stored", (stored.refusal, stored.problems)
    refused = ingest(store, b"\x00\x01binary", "oops.csv", IngestOptions(uploaded_by="cy@example.com"), commit=True)
    assert refused.status == "refused"
    withdraw(store, stored.upload_id, by="dee@example.com")
    save_answer(store, "picks_per_hour", MetricAnswer("business", "up", "picks", "Picks per hour"), "ed@example.com")

    rows = trail(store)[["who", "action", "subject", "detail"]].iloc[::-1].values.tolist()
    assert [r[:3] for r in rows] == [
        ["ann@example.com", "pilot_create", "P-1"],
        ["bo@example.com", "pilot_edit", "P-1"],
        ["cy@example.com", "upload", str(stored.upload_id)],
        ["dee@example.com", "withdraw", str(stored.upload_id)],
        ["ed@example.com", "metric_definition", "picks_per_hour"],
    ]  # the refused upload left no trace
    assert rows[1][3] == "stage: production → scaling; budget: — → 950000.0"
    assert rows[2][3].startswith("metrics.csv: 2 rows") and "uploaded by cy@example.com" in rows[3][3]


def test_the_page_lists_filters_and_downloads_the_trail(demo_store, app_env, downloads):
    pilot = get_pilot(demo_store, "SC-01")
    update_pilot(demo_store, pilot.model_copy(update={"stage": "paused"}), by="ann@example.com")
    app_env(demo_store)
    at = open_page(PAGE)
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["action"][:2]) == ["Pilot record edited", "Demo loaded"] and table["who"][0] == "ann@example.com"
    assert "stage: pilot → paused" in table["detail"][0]
    at = open_page(PAGE, action="pilot_edit")
    assert list(at.dataframe[0].value["who"]) == ["ann@example.com"]
    assert any(t.startswith("1 of 2 changes") for t in texts(at.caption))
    [(label, data)] = [d for d in downloads if d[0] == "Download the audit trail (CSV)"][-1:]
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [r["who"] for r in rows] == ["ann@example.com"]
    at = open_page(PAGE, action="made_up")
    assert any("asks for the action “made_up”" in t for t in texts(at.warning))
