"""The upload page through Streamlit's AppTest: drop a file, check, answer, store, withdraw."""

from __future__ import annotations

import hashlib

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_pages import assert_clean, open_page, texts

from pilot_health.analytics import portfolio

FIXTURES = ROOT / "tests" / "fixtures" / "uploads"
UPLOAD = "pages/2_Upload_data.py"


def upload_page() -> AppTest:
    return open_page(UPLOAD)


def drop(at: AppTest, name: str, data: bytes | None = None) -> tuple[AppTest, str]:
    data = data if data is not None else (FIXTURES / name).read_bytes()
    at.get("file_uploader")[0].upload(name, data, "text/csv").run()
    return at, "opt." + hashlib.sha256(data).hexdigest()[:12]


def stored_rows(store, upload_id: int) -> int:
    with store.read() as con:
        return con.execute("SELECT count(*) FROM metric_observations WHERE upload_id = ?", [upload_id]).fetchone()[0]


def test_empty_page_explains_what_to_drop(demo_store, app_env):
    app_env(demo_store)
    at = upload_page()
    assert_clean(at)
    assert any("No file chosen yet" in t for t in texts(at.info))
    assert at.get("file_uploader")


@pytest.mark.slow
def test_upload_preview_answer_store_and_withdraw(demo_store, app_env):
    app_env(demo_store)
    at, prefix = drop(upload_page(), "metrics_wide_per_metric.csv")
    assert_clean(at)
    assert any("choose the pilot and choose lab or live" in t for t in texts(at.info))
    store_button = at.button(key="store_upload")
    assert store_button.disabled and store_button.label == "Store 24 rows"
    assert {m.label: m.value for m in at.metric}["Will be stored"] == "24"
    at.selectbox(key=f"{prefix}.pilot").set_value("SC-01").run()
    at.radio(key=f"{prefix}.environment").set_value("live").run()
    assert not at.button(key="store_upload").disabled
    preview = at.dataframe[1].value
    assert list(preview.columns[:6]) == ["pilot_id", "metric", "kind", "environment", "observed_at", "value"]
    assert set(preview["pilot_id"]) == {"SC-01"} and set(preview["environment"]) == {"live"}
    with demo_store.read() as con:
        before = con.execute("SELECT count(*) FROM uploads").fetchone()[0]
    at.button(key="store_upload").click().run()
    assert_clean(at)
    success = " ".join(texts(at.success))
    assert "Stored 24 rows from metrics_wide_per_metric.csv as upload" in success
    upload_id = int(success.split("as upload ")[1].rstrip("."))
    assert stored_rows(demo_store, upload_id) == 24
    with demo_store.read() as con:
        assert con.execute("SELECT count(*) FROM uploads").fetchone()[0] == before + 1

    # The history lists it; withdrawing asks first, then takes its rows out of every view.
    at.button(key="upload_another").click().run()
    history = at.dataframe[-1].value
    assert upload_id in set(history["upload_id"])
    at.selectbox(key="withdraw_choice").set_value(upload_id).run()
    at.button(key="withdraw_button").click().run()
    with demo_store.read() as con:
        assert con.execute("SELECT withdrawn_at FROM uploads WHERE upload_id = ?", [upload_id]).fetchone()[0] is None
    at.button(key="confirm_withdraw_button").click().run()
    assert_clean(at)
    with demo_store.read() as con:
        withdrawn = con.execute("SELECT withdrawn_at FROM uploads WHERE upload_id = ?", [upload_id]).fetchone()[0]
    assert withdrawn is not None, "the upload record stays, dated"
    assert stored_rows(demo_store, upload_id) == 24, "rows are kept for the record …"
    from datetime import date

    frame = portfolio.load_portfolio(demo_store, date.today(), 45).set_index("pilot_id")
    with demo_store.read() as con:
        newest_in_force = con.execute(
            "SELECT max(u.uploaded_at) FROM metric_observations m JOIN uploads u USING (upload_id) WHERE m.pilot_id = 'SC-01' AND u.withdrawn_at IS NULL"
        ).fetchone()[0]
    assert frame.loc["SC-01", "last_upload_at"] <= newest_in_force, "… but no longer count"
    status = at.dataframe[-1].value.set_index("upload_id").loc[upload_id, "status"]
    assert status == "withdrawn"


def test_a_refused_file_says_why_and_stores_nothing(demo_store, app_env):
    app_env(demo_store)
    with demo_store.read() as con:
        before = con.execute("SELECT count(*) FROM uploads").fetchone()[0]
    at, _ = drop(upload_page(), "image_named.csv")
    assert_clean(at)
    errors = texts(at.error)
    assert errors == ["image_named.csv is a PNG image, not a CSV or Excel export."]
    assert not at.button(key="store_upload") if "store_upload" in [b.key for b in at.button] else True
    with demo_store.read() as con:
        assert con.execute("SELECT count(*) FROM uploads").fetchone()[0] == before


def test_rejected_rows_are_listed_and_downloadable(demo_store, app_env):
    app_env(demo_store)
    at, _ = drop(upload_page(), "metrics_ragged.csv")
    assert_clean(at)
    [reasons] = [
        d.value for d in at.dataframe if "line" in d.value.columns
    ]  # (the new metric deliveries_per_day has its own table)
    assert list(reasons["line"]) == [5, 8]
    assert "header has 5 columns" in reasons["reason"].iloc[0]
    downloads = [d for d in at.get("download_button") if "rejected" in d.proto.label]
    assert downloads and "2 rejected rows" in downloads[0].proto.label


def test_same_bytes_again_is_offered_as_a_no_op(demo_store, app_env):
    app_env(demo_store)
    at, _ = drop(upload_page(), "metrics_long_utf8.csv")
    at.button(key="store_upload").click().run()
    at.button(key="upload_another").click().run()
    at, _ = drop(at, "metrics_long_utf8.csv")
    assert_clean(at)
    assert any("already stored as upload" in t for t in texts(at.info))
    assert not [b for b in at.button if b.key == "store_upload"]


def test_changing_the_mapping_checks_the_file_again(demo_store, app_env):
    app_env(demo_store)
    at, prefix = drop(upload_page(), "metrics_wide_per_metric.csv")
    at.selectbox(key=f"{prefix}.pilot").set_value("SC-01").run()
    at.radio(key=f"{prefix}.environment").set_value("lab").run()
    sha = prefix.removeprefix("opt.")
    precision = next(s for s in at.selectbox if s.label == "precision")
    assert precision.value == "metric:precision"
    precision.set_value("").run()
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Will be stored"] == "16"
    assert at.session_state[
        f"mapping.{hashlib.sha256((FIXTURES / 'metrics_wide_per_metric.csv').read_bytes()).hexdigest()}"
    ] == {"precision": ""}
    assert sha


def test_file_names_and_cells_are_never_markdown(demo_store, app_env):
    app_env(demo_store)
    name = "**bold**[x](http://evil).csv"
    data = b"pilot_id,metric,environment,observed_at,value\nSC-01,<b>acc</b>,lab,2024-01-01,oops\n"
    at, _ = drop(upload_page(), name, data)
    assert_clean(at)
    for element in [*at.error, *at.warning, *at.info, *at.success, *at.markdown, *at.caption]:
        assert "**bold**" not in element.value and "[x](http" not in element.value, element.value


NEW_METRIC_CSV = (
    "pilot_id,metric,environment,date,value\n"
    + "".join(f"RO-01,pick_path_efficiency,live,2025-0{m}-01,{0.5 + m / 100}\n" for m in range(1, 8))
    + "".join(f"RO-01,reconstruction_error,live,2025-0{m}-01,{0.2 - m / 100}\n" for m in range(1, 8))
).encode()


def new_metrics_table(at: AppTest, prefix: str):
    editors = [e for e in at.data_editor if str(e.key).startswith(f"{prefix}.new_metrics.")]
    return editors


def test_new_metrics_are_asked_about_once_in_one_table_with_a_guess_and_the_answer_is_remembered(demo_store, app_env):
    from pilot_health.store import queries

    app_env(demo_store)
    at, prefix = drop(upload_page(), "efficiency.csv", NEW_METRIC_CSV)
    assert_clean(at)
    [table] = new_metrics_table(at, prefix)
    assert not [w for w in at.selectbox if str(w.key).startswith(f"{prefix}.metric.")], (
        "one table, not a widget group per metric"
    )
    shown = table.value.set_index("metric")
    assert list(shown.index) == ["pick_path_efficiency", "reconstruction_error"]
    assert (shown.loc["pick_path_efficiency", "kind"], shown.loc["reconstruction_error", "direction"]) == (
        "technical",
        "down",
    ), "prefilled with the guesses"
    assert shown.loc["reconstruction_error", "why"] == "From the word ‘error’ and values between 0 and 1 (a share)"
    assert shown.loc["pick_path_efficiency", "why"] == "From values between 0 and 1 (a share)"
    # The person uploading corrects the first row in the table (row 0: pick_path_efficiency).
    at.session_state[table.key] = {
        "edited_rows": {0: {"kind": "business", "direction": "up"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    preview = at.dataframe[-1].value
    assert dict(zip(preview["metric"], preview["kind"]))["pick_path_efficiency"] == "business", (
        "the answer shapes the preview"
    )
    at.button(key="store_upload").click().run()
    assert_clean(at)
    with demo_store.read() as con:
        answers = {r["metric_key"]: (r["kind"], r["direction"], r["unit"]) for r in queries.metric_definitions(con)}
    assert answers == {
        "pick_path_efficiency": ("business", "up", "share"),
        "reconstruction_error": ("technical", "down", "share"),
    }

    at.button(key="upload_another").click().run()
    again = NEW_METRIC_CSV.replace(b"2025-0", b"2024-0")
    at, prefix = drop(at, "efficiency-2024.csv", again)
    assert not new_metrics_table(at, prefix), "asked once: not again"


def test_a_kpi_file_asks_only_for_the_pilot(demo_store, app_env):
    app_env(demo_store)
    data = "\ufeffDatum;Umsatz (€)\r\n15.01.2024;1.234,50\r\n15.02.2024;1.310,00\r\n".encode("utf-8")
    at, prefix = drop(upload_page(), "umsatz.csv", data)
    assert_clean(at)
    assert f"{prefix}.environment" not in [r.key for r in at.radio], "a business KPI is not asked lab or live"
    [table] = new_metrics_table(at, prefix)
    assert table.value.to_dict("records") == [
        {
            "metric": "Umsatz (€)",
            "kind": "business",
            "direction": "up",
            "unit": "€",
            "why": "From the word ‘Umsatz’ (German for revenue) and the € in the name",
        }
    ]
    assert "Before storing: choose the pilot." in texts(at.info)
    at.selectbox(key=f"{prefix}.pilot").set_value("RO-04").run()
    assert at.button(key="store_upload").disabled is False
    at.button(key="store_upload").click().run()
    assert_clean(at)
    with demo_store.read() as con:
        rows = con.execute(
            "SELECT DISTINCT pilot_id, kind, environment FROM metric_observations WHERE metric = 'Umsatz (€)'"
        ).fetchall()
    assert rows == [("RO-04", "business", "live")]


def test_a_long_list_of_problems_shows_its_first_rows_and_downloads_every_one(demo_store, app_env, downloads):
    """The page lists the first MAX_LISTED_PROBLEMS reasons; the caption says the table's download
    has all of them, so it must (it held only the rows listed)."""
    from datetime import date, timedelta

    from pilot_health.ui.upload import MAX_LISTED_PROBLEMS

    app_env(demo_store)
    days = [date(2020, 1, 1) + timedelta(days=n) for n in range(MAX_LISTED_PROBLEMS + 37 + 30)]
    good = [f"SC-04,cost_per_drop,live,{day},6.{n % 10}" for n, day in enumerate(days[:30])]
    ragged = [f"SC-04,cost_per_drop,live,{day}" for day in days[30:]]  # no value: one reason each
    data = "\n".join(["pilot_id,metric,environment,observed_at,value", *good, *ragged]).encode()
    at, _ = drop(upload_page(), "metrics_many_ragged.csv", data)
    assert_clean(at)
    [listed] = [d.value for d in at.dataframe if "line" in d.value.columns]
    assert len(listed) == MAX_LISTED_PROBLEMS
    assert any(f"The first {MAX_LISTED_PROBLEMS} of {MAX_LISTED_PROBLEMS + 37}" in t for t in texts(at.caption))
    [problems_csv] = [body for label, body in downloads if label == "Download (CSV)" and b"reason" in body[:200]]
    assert problems_csv.decode("utf-8-sig").strip().count("\n") == MAX_LISTED_PROBLEMS + 37
