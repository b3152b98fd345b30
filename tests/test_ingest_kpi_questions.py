"""A file of business KPIs needs at most one answer (which pilot, when it has no pilot column): its
metrics are recognised as business KPIs from their words (four languages), currency and values,
and a business KPI is measured in the business, so it is stored as live without asking "lab or
live?". A file of model metrics without a lab/live column is still asked.

Real CSV bytes go through the real engine on a copy of the demo store; what was stored is read
back with SQL. Expectations are written out by hand from the bytes in each test.
"""

from __future__ import annotations

from pilot_health.ingest import IngestOptions, ingest

# A German Excel "CSV UTF-8" save: byte-order mark, semicolons, CRLF, day-first dates with dots,
# decimal commas with a dot for thousands; the header carries the unit.
UMSATZ = "\ufeffDatum;Umsatz (€)\r\n15.01.2024;1.234,50\r\n15.02.2024;1.310,00\r\n15.03.2024;1.402,75\r\n".encode(
    "utf-8"
)
# A BI tool's export: ISO dates, the currency in the column name.
REVENUE = b"date,revenue_usd\n2024-01-31,120500\n2024-02-29,131000\n2024-03-31,128250.5\n"
# A Spanish spreadsheet saved as CSV with commas: day-first dates.
INGRESOS = b"fecha,ingresos\n15/01/2024,1200\n15/02/2024,1350\n15/03/2024,1410\n"
# A model metric over time, no lab/live column.
ACCURACY = b"date,holdout_accuracy\n2024-01-31,0.91\n2024-02-29,0.92\n2024-03-31,0.90\n"


def stored_rows(store, upload_id: int) -> list[tuple]:
    with store.read() as con:
        return con.execute(
            "SELECT pilot_id, metric, kind, environment, CAST(CAST(observed_at AS DATE) AS VARCHAR), value "
            "FROM metric_observations WHERE upload_id = ? ORDER BY observed_at",
            [upload_id],
        ).fetchall()


def check_then_store(store, data: bytes, name: str, pilot: str):
    preview = ingest(store, data, name)
    assert preview.status == "ready", (preview.refusal, preview.problems)
    assert preview.needs == ["pilot_id"], "the only question: which pilot"
    result = ingest(store, data, name, IngestOptions(pilot_id=pilot), commit=True)
    assert result.status == "stored", (result.refusal, result.problems)
    assert result.needs == []
    return preview, result


def test_a_german_revenue_file_with_decimal_commas_needs_only_the_pilot(demo_store):
    preview, result = check_then_store(demo_store, UMSATZ, "umsatz.csv", "RO-04")
    [new] = preview.new_metrics
    assert (new.label, new.kind, new.direction, new.unit) == ("Umsatz (€)", "business", "up", "€")
    assert new.why == "From the word ‘Umsatz’ (German for revenue) and the € in the name"
    assert stored_rows(demo_store, result.upload_id) == [
        ("RO-04", "Umsatz (€)", "business", "live", "2024-01-15", 1234.5),
        ("RO-04", "Umsatz (€)", "business", "live", "2024-02-15", 1310.0),
        ("RO-04", "Umsatz (€)", "business", "live", "2024-03-15", 1402.75),
    ]
    assert any("live" in w and "business KPI" in w for w in result.warnings), result.warnings


def test_a_revenue_file_in_dollars_needs_only_the_pilot(demo_store):
    preview, result = check_then_store(demo_store, REVENUE, "revenue.csv", "MK-01")
    assert [(m.label, m.kind, m.direction, m.unit) for m in preview.new_metrics] == [
        ("revenue_usd", "business", "up", "USD")
    ]
    assert stored_rows(demo_store, result.upload_id) == [
        ("MK-01", "revenue_usd", "business", "live", "2024-01-31", 120500.0),
        ("MK-01", "revenue_usd", "business", "live", "2024-02-29", 131000.0),
        ("MK-01", "revenue_usd", "business", "live", "2024-03-31", 128250.5),
    ]


def test_a_spanish_revenue_file_needs_only_the_pilot(demo_store):
    preview, result = check_then_store(demo_store, INGRESOS, "ingresos.csv", "MK-02")
    assert [(m.label, m.kind, m.direction) for m in preview.new_metrics] == [("ingresos", "business", "up")]
    assert preview.new_metrics[0].why == "From the word ‘ingresos’ (Spanish for revenue)"
    assert [(r[2], r[3], r[4], r[5]) for r in stored_rows(demo_store, result.upload_id)] == [
        ("business", "live", "2024-01-15", 1200.0),
        ("business", "live", "2024-02-15", 1350.0),
        ("business", "live", "2024-03-15", 1410.0),
    ]


def test_a_file_with_a_pilot_column_and_the_pilots_kpi_asks_nothing(demo_store):
    # SC-03's KPI in the register is "Picks per labour hour": nothing in the name says business.
    data = b"pilot_id,date,picks_per_labour_hour\nSC-03,2024-01-31,101.5\nSC-03,2024-02-29,104.0\n"
    preview = ingest(demo_store, data, "picks.csv")
    assert preview.status == "ready" and preview.needs == []
    result = ingest(demo_store, data, "picks.csv", commit=True)
    assert result.status == "stored", result.refusal
    assert {(r[2], r[3]) for r in stored_rows(demo_store, result.upload_id)} == {("business", "live")}


def test_a_model_metric_file_still_asks_lab_or_live(demo_store):
    preview = ingest(demo_store, ACCURACY, "accuracy.csv")
    assert preview.needs == ["pilot_id", "environment"]
    [new] = preview.new_metrics
    assert (new.kind, new.direction, new.unit) == ("technical", "up", "share")
    refused = ingest(demo_store, ACCURACY, "accuracy.csv", IngestOptions(pilot_id="SC-01"), commit=True)
    assert refused.status == "refused"
    assert (
        refused.refusal
        == "accuracy.csv does not say whether its rows are lab or live; choose it and store again. Nothing was stored."
    )
    result = ingest(
        demo_store, ACCURACY, "accuracy.csv", IngestOptions(pilot_id="SC-01", environment="lab"), commit=True
    )
    assert result.status == "stored", result.refusal
    assert {(r[2], r[3]) for r in stored_rows(demo_store, result.upload_id)} == {("technical", "lab")}


def test_a_mixed_file_asks_lab_or_live_and_an_answer_given_is_kept(demo_store):
    data = b"date,revenue_usd,holdout_accuracy\n2024-01-31,120500,0.91\n2024-02-29,131000,0.92\n"
    assert ingest(demo_store, data, "mixed.csv", IngestOptions(pilot_id="MK-01")).needs == ["environment"]
    # A KPI file for which the person uploading said "lab" keeps that answer.
    result = ingest(demo_store, REVENUE, "revenue.csv", IngestOptions(pilot_id="MK-01", environment="lab"), commit=True)
    assert {r[3] for r in stored_rows(demo_store, result.upload_id)} == {"lab"}


def test_currency_in_the_cells_makes_a_business_kpi(demo_store):
    data = "Monat;Betrag\n15.01.2024;1.200,00 €\n15.02.2024;1.350,00 €\n".encode()
    preview = ingest(demo_store, data, "betrag.csv", IngestOptions(pilot_id="RO-04"))
    assert preview.needs == [], preview.needs
    [new] = preview.new_metrics
    assert (new.kind, new.unit, new.why) == ("business", "€", "From the € values")
    result = ingest(demo_store, data, "betrag.csv", IngestOptions(pilot_id="RO-04"), commit=True)
    assert [(r[2], r[3], r[4], r[5]) for r in stored_rows(demo_store, result.upload_id)] == [
        ("business", "live", "2024-01-15", 1200.0),
        ("business", "live", "2024-02-15", 1350.0),
    ]
