"""What an upload means, not only what it reads: `none` in the pilot register is an answer and a blank
cell is unknown; two different values for one measurement in one file are a conflict the uploader
resolves, never an average; rows dated after now are stored but count only from their date.

Real CSV bytes go through the real engine; what was stored is read back from the store with SQL
(`IS NULL` for blanks). Expectations are written out by hand from the bytes in each test.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from conftest import ROOT

from pilot_health.ingest import IngestOptions, engine, ingest
from pilot_health.store import queries
from pilot_health.store.database import utc_now

DEMO_PILOTS = ROOT / "data" / "demo" / "pilots.csv"


def upload(store, name: str, text: str, *, commit: bool = True, **options):
    return ingest(store, text.encode("utf-8"), name, IngestOptions(**options), commit=commit)


def stored(result) -> None:
    assert result.status == "stored", f"{result.file_name}: {result.status}: {result.refusal} {result.problems}"


def pilot_record(store, pilot_id: str) -> dict:
    with store.read() as con:
        return queries.fetch_pilot(con, pilot_id)


def nulls(store, pilot_id: str, columns: list[str]) -> dict[str, bool]:
    with store.read() as con:
        row = con.execute(
            f"SELECT {', '.join(f'{c} IS NULL' for c in columns)} FROM pilots WHERE pilot_id = ?", [pilot_id]
        ).fetchone()
    return dict(zip(columns, row))


def observations(store, upload_id: int) -> list[tuple]:
    with store.read() as con:
        return con.execute(
            "SELECT metric, environment, CAST(CAST(observed_at AS DATE) AS VARCHAR) AS day, value "
            "FROM metric_observations WHERE upload_id = ? ORDER BY metric, environment, day, value",
            [upload_id],
        ).fetchall()


def metric_rows(store) -> int:
    with store.read() as con:
        return con.execute("SELECT count(*) FROM metric_observations").fetchone()[0]


# -- `none` in the register is an answer ----------------------------------------------------------------

REGISTER = """pilot_id,name,business_unit,stage,owner,executive_sponsor,sponsor_level,change_champion,vendor,kpi_name,change_plan,training_ready,integration_target,accountable_owner,budget
NS-01,Said none,Finance,pilot,Ada Byrne,none,none,none,None,none,none,no,none,NONE,100000
NS-02,Left blank,Finance,pilot,,,,,,,,,,,
NS-03,Spelled otherwise,Finance,pilot,n/a,#N/A,N/A,-,null,Churn,n/a,yes,n/a,-,n/a
NS-04,Budget none,Finance,pilot,Ada Byrne,,,,,,,,,,none
"""
NAMED = [
    "executive_sponsor",
    "change_champion",
    "vendor",
    "kpi_name",
    "integration_target",
    "accountable_owner",
    "owner",
]


def test_none_in_the_register_is_stored_as_written_and_blank_as_unknown(store):
    result = upload(store, "register.csv", REGISTER)
    stored(result)
    assert result.pilots == ["NS-01", "NS-02", "NS-03"]

    said = pilot_record(store, "NS-01")
    assert [
        said[c]
        for c in (
            "executive_sponsor",
            "change_champion",
            "vendor",
            "kpi_name",
            "integration_target",
            "accountable_owner",
        )
    ] == ["none", "none", "None", "none", "none", "NONE"], "as written, case kept"
    assert said["sponsor_level"] == "none", "the sponsor level's own value"
    assert (said["change_plan"], said["training_ready"]) == (False, False), "a yes/no question answered none or no: no"
    assert said["budget"] == 100000

    assert all(nulls(store, "NS-02", NAMED + ["sponsor_level", "change_plan", "training_ready", "budget"]).values()), (
        "blank is unknown"
    )

    other = pilot_record(store, "NS-03")
    assert (other["owner"], other["change_champion"], other["integration_target"], other["accountable_owner"]) == (
        "n/a",
        "-",
        "n/a",
        "-",
    ), "words that say there is nobody are kept for the risk engine to read"
    assert nulls(store, "NS-03", ["executive_sponsor", "sponsor_level", "vendor", "change_plan", "budget"]) == {
        "executive_sponsor": True,
        "sponsor_level": True,
        "vendor": True,
        "change_plan": True,
        "budget": True,
    }, "#N/A, null and n/a (in a level, a yes/no or a number) are a spreadsheet's empty cell"
    assert other["training_ready"] is True


def test_a_register_saying_none_fires_its_warning_signs_once_uploaded(store):
    """NS-01 says none for its sponsor, sponsor level, champion, owner and system of record: each is
    an answer and fires its warning sign; NS-02 left the same cells blank: each is unknown. A second
    file names the sponsor none but leaves the level blank: still no sponsor."""
    from pilot_health.analytics import risk

    stored(upload(store, "register.csv", REGISTER))
    stored(
        upload(
            store,
            "more.csv",
            "pilot_id,name,business_unit,stage,executive_sponsor,sponsor_level\nNS-05,Sponsor none,Finance,pilot,none,\n",
        )
    )
    found = {r.pilot_id: {s.key: s.state for p in r.patterns.values() for s in p.signals} for r in risk.assess(store)}
    keys = [
        "sponsor_below_director",
        "no_change_champion",
        "no_accountable_owner",
        "no_system_of_record",
        "no_business_kpi",
    ]
    assert [found["NS-01"][k] for k in keys] == [risk.FIRED] * 5
    assert [found["NS-02"][k] for k in keys] == [risk.UNKNOWN] * 5
    assert found["NS-05"]["sponsor_below_director"] == risk.FIRED


def test_none_in_a_number_column_is_rejected_with_a_reason(store):
    result = upload(store, "register.csv", REGISTER)

    assert result.rows_rejected == 1 and pilot_record(store, "NS-04") is None
    [problem] = result.problems
    assert (problem.row, problem.column) == (5, "budget")
    assert problem.message == (
        "Budget says ‘none’, but it is a number: write 0 when there is none, "
        "or leave the cell blank when it is not known."
    )
    assert list(result.rejected_rows["line"]) == [5]


def test_metric_files_keep_reading_none_as_an_empty_value(demo_store):
    text = "pilot_id,metric,environment,observed_at,value\nSC-01,accuracy,live,2024-03-04,none\nSC-01,accuracy,live,2024-03-11,0.8\n"
    result = upload(demo_store, "metrics.csv", text)
    stored(result)
    with demo_store.read() as con:
        rows = con.execute(
            "SELECT CAST(CAST(observed_at AS DATE) AS VARCHAR), value IS NULL FROM metric_observations "
            "WHERE upload_id = ? ORDER BY 1",
            [result.upload_id],
        ).fetchall()
    assert rows == [("2024-03-04", True), ("2024-03-11", False)]


def _frame(store) -> pd.DataFrame:
    with store.read() as con:
        frame = queries.fetch_pilots(con).drop(columns=["updated_at"])
    return frame.astype(object).where(frame.notna(), None)


def test_the_demo_register_uploaded_into_an_empty_store_equals_the_demo_as_loaded(demo_store, store):
    """The demo's own pilots.csv through the upload engine gives exactly the records `load_demo`
    stores (the demo fixture is loaded as shipped, so the dates match too)."""
    result = ingest(store, DEMO_PILOTS.read_bytes(), "pilots.csv", IngestOptions(), commit=True)
    stored(result)
    assert (result.rows_to_store, result.rows_rejected) == (24, 0)

    uploaded, loaded = _frame(store), _frame(demo_store)
    assert uploaded.to_dict("records") == loaded.to_dict("records")
    # The pilots whose register says `none` in a name field (read off data/demo/pilots.csv):
    said_none = {
        "SC-03": {"integration_target": "none"},
        "RO-02": {"change_champion": "none"},
        "RO-04": {"change_champion": "none"},
        "FN-01": {"accountable_owner": "none"},
        "FN-05": {"change_champion": "none"},
        "FN-03": {"kpi_name": "none"},
        "MK-03": {"sponsor_level": "none", "change_champion": "none"},
    }
    for pilot_id, values in said_none.items():
        record = pilot_record(store, pilot_id)
        assert {k: record[k] for k in values} == values, pilot_id
    assert pilot_record(store, "MK-03")["executive_sponsor"] is None, "its sponsor cell is blank: unknown"


def test_reuploading_the_demo_register_leaves_every_pilots_risk_as_it_was(demo_store):
    from pilot_health.analytics import risk

    as_of = datetime(2026, 11, 19, 17, 0)

    def summary():
        return {
            r.pilot_id: (r.health, {k: (p.status, p.score, p.coverage) for k, p in r.patterns.items()})
            for r in risk.assess(demo_store, as_of)
        }

    before = summary()
    result = ingest(
        demo_store,
        DEMO_PILOTS.read_bytes(),
        "pilots.csv",
        IngestOptions(replace_existing=True, store_again=True),
        commit=True,
    )
    stored(result)
    assert result.rows_to_store == 24
    after = summary()
    assert len(before) == 24
    assert {p: after[p] for p in before if after[p] != before[p]} == {}


# -- two values for one measurement ----------------------------------------------------------------------

CONFLICTS = """pilot_id,metric,environment,observed_at,value
SC-01,accuracy,live,2024-03-04,0.81
SC-01,accuracy,live,2024-03-11,0.80
SC-01,accuracy,live,2024-03-04,0.79
SC-01,accuracy,live,2024-03-18,0.82
SC-01,accuracy,live,2024-03-11,0.80
SC-01,accuracy,lab,2024-03-04,0.90
"""
CONFLICT_MESSAGE = (
    "Rows 2 and 4 of conflicts.csv give two different values (0.81 and 0.79) for SC-01 accuracy, live, on 2024-03-04; "
    "keep one and upload again."
)


@pytest.mark.parametrize("fast", [True, False], ids=["fast path allowed", "careful path only"])
def test_two_values_for_one_measurement_are_rejected_never_averaged(demo_store, monkeypatch, fast):
    monkeypatch.setattr(engine, "FAST_PATH", fast)
    before = metric_rows(demo_store)
    preview = upload(demo_store, "conflicts.csv", CONFLICTS, commit=False)

    assert preview.status == "ready" and metric_rows(demo_store) == before, "the preview stores nothing"
    assert [(p.row, p.column, p.message) for p in preview.problems] == [
        (2, "value", CONFLICT_MESSAGE),
        (4, "value", CONFLICT_MESSAGE),
    ]
    assert list(preview.rejected_rows["line"]) == [2, 4] and list(preview.rejected_rows["value"]) == ["0.81", "0.79"]
    assert (preview.rows_to_store, preview.rows_rejected, preview.rows_left_out) == (3, 2, 1)
    assert any("exact duplicate" in w for w in preview.warnings), "line 6 repeats line 3 exactly: kept once"

    result = upload(demo_store, "conflicts.csv", CONFLICTS)
    stored(result)
    assert observations(demo_store, result.upload_id) == [
        ("accuracy", "lab", "2024-03-04", 0.90),
        ("accuracy", "live", "2024-03-11", 0.80),
        ("accuracy", "live", "2024-03-18", 0.82),
    ]
    with demo_store.read() as con:
        rejected = con.execute(
            "SELECT rows_stored, rows_rejected FROM uploads WHERE upload_id = ?", [result.upload_id]
        ).fetchone()
    assert rejected == (3, 2)


def test_conflicting_cells_of_a_wide_file_name_their_column(demo_store):
    text = "date,accuracy,f1\n2024-03-04 09:30,0.81,0.70\n2024-03-04 09:30,0.81,0.72\n2024-03-11 09:30,0.83,0.74\n"
    result = upload(demo_store, "wide.csv", text, pilot_id="SC-01", environment="live")
    stored(result)

    message = (
        "Rows 2 and 3 of wide.csv give two different values (0.7 and 0.72) for SC-01 f1, live, at 2024-03-04 09:30 UTC; "
        "keep one and upload again."
    )
    assert [(p.row, p.column, p.message) for p in result.problems] == [(2, "f1", message), (3, "f1", message)]
    assert observations(demo_store, result.upload_id) == [
        ("accuracy", "live", "2024-03-04", 0.81),
        ("accuracy", "live", "2024-03-11", 0.83),
        ("f1", "live", "2024-03-11", 0.74),
    ], "the same accuracy twice is one observation; the two f1 values are neither stored"


SURVEY = """pilot_id,respondent_id,responded_at,wave,team,role,awareness,desire,knowledge,ability,reinforcement,comment
SC-01,T-01,2024-03-04,9,Finance,Analyst,4,4,2,3,3,
SC-01,T-02,2024-03-04,9,Finance,Analyst,5,5,5,5,5,
SC-01,T-01,2024-03-05,9,Finance,Analyst,4,4,4,3,3,
SC-01,T-03,2024-03-04,9,Finance,Analyst,3,3,3,3,3,first
SC-01,T-03,2024-03-06,9,Finance,Analyst,3,3,3,3,3,second
SC-01,T-02,2024-03-04,9,Finance,Analyst,5,5,5,5,5,
"""


def test_two_answers_by_one_respondent_in_one_wave(demo_store):
    result = upload(demo_store, "survey.csv", SURVEY)
    stored(result)

    message = (
        "Rows 2 and 4 of survey.csv are two answers by respondent T-01 in wave 9 of SC-01 with different scores "
        "(Knowledge 2 and 4); keep one and upload again."
    )
    assert [(p.row, p.column, p.message) for p in result.problems] == [
        (2, "knowledge", message),
        (4, "knowledge", message),
    ]
    assert (result.rows_to_store, result.rows_rejected, result.rows_left_out) == (2, 2, 2)
    assert any("1 answer in survey.csv repeats an earlier answer" in w and "row 6" in w for w in result.warnings), (
        result.warnings
    )
    with demo_store.read() as con:
        rows = con.execute(
            "SELECT respondent_id, knowledge, comment FROM survey_responses WHERE upload_id = ? ORDER BY 1",
            [result.upload_id],
        ).fetchall()
    assert rows == [("T-02", 5, None), ("T-03", 3, "first")]


# -- dated after now ---------------------------------------------------------------------------------------


def test_future_observations_are_stored_with_a_warning_and_left_out_of_now(demo_store):
    later = date.today() + timedelta(days=400)
    text = f"pilot_id,metric,environment,observed_at,value\nSC-01,accuracy,live,2024-03-04,0.8\nSC-01,accuracy,live,{later},0.9\n"
    result = upload(demo_store, "ahead.csv", text)
    stored(result)

    assert (
        f"1 observation in ahead.csv is dated after now ({later:%d %b %Y}); it counts only from that date."
        in result.warnings
    )
    with demo_store.read() as con:
        now = queries.weekly_series(con, utc_now(), ["SC-01"])
        then = queries.weekly_series(con, datetime.combine(later, datetime.min.time()) + timedelta(days=1), ["SC-01"])
    assert not (now["week"] >= pd.Timestamp(later) - pd.Timedelta(days=7)).any()
    assert then["value"].eq(0.9).sum() == 1


def test_future_survey_responses_count_only_from_their_date(demo_store):
    from pilot_health.reports.adoption_report import future_note, portfolio_adoption, portfolio_table

    later = date.today() + timedelta(days=30)
    text = (
        "pilot_id,respondent_id,responded_at,wave,team,role,awareness,desire,knowledge,ability,reinforcement,comment\n"
        "SC-01,F-01,2024-03-04,9,Finance,Analyst,4,4,4,4,4,\n"
        "SC-01,F-02,,9,Finance,Analyst,4,4,4,4,4,\n"
        f"SC-01,F-03,{later},9,Finance,Analyst,2,2,2,2,2,\n"
        f"SC-01,F-04,{later + timedelta(days=2)},9,Finance,Analyst,2,2,2,2,2,\n"
    )
    result = upload(demo_store, "survey_ahead.csv", text)
    stored(result)
    later_words = f"{later + timedelta(days=2):%d %b %Y}"
    assert (
        f"2 responses in survey_ahead.csv are dated after now (the latest {later_words}); each counts only from its own date."
        in result.warnings
    ), result.warnings

    now = utc_now()
    with demo_store.read() as con:
        now_rows = queries.survey_responses_as_of(con, now, ["SC-01"])
        then_rows = queries.survey_responses_as_of(
            con, datetime.combine(later, datetime.min.time()) + timedelta(days=3), ["SC-01"]
        )
        future = queries.future_survey_responses(con, now, ["SC-01"])
    assert sorted(now_rows.loc[now_rows["wave"] == 9, "respondent_id"]) == ["F-01", "F-02"], (
        "no date: counts from its upload"
    )
    assert sorted(then_rows.loc[then_rows["wave"] == 9, "respondent_id"]) == ["F-01", "F-02", "F-03", "F-04"]
    assert future == {"SC-01": (2, datetime.combine(later, datetime.min.time()))}

    [pilot] = portfolio_adoption(demo_store, pilot_ids=["SC-01"])
    assert pilot.future_responses == 2
    assert (
        f"2 survey responses are dated after {pilot.as_of:%d %b %Y %H:%M} UTC (from {later:%d %b %Y}) and are left out until then."
        in pilot.verdict
    )
    assert future_note(portfolio_table([pilot])) == (
        "2 survey responses of 1 pilot are dated in the future and left out until their date; "
        "each pilot's view says how many."
    )


def test_the_adoption_page_says_how_many_responses_wait_for_their_date(demo_store, app_env):
    from test_pages import assert_clean, open_page, texts

    later = date.today() + timedelta(days=30)
    rows = "".join(f"SC-01,F-{i:02d},{later},9,Finance,Analyst,2,2,2,2,2,\n" for i in range(3))
    text = (
        "pilot_id,respondent_id,responded_at,wave,team,role,awareness,desire,knowledge,ability,reinforcement,comment\n"
        + rows
    )
    stored(upload(demo_store, "survey_ahead.csv", text))
    app_env(demo_store)

    at = open_page("pages/5_Adoption.py", pilot="SC-01")
    assert_clean(at)
    assert (
        "3 survey responses of 1 pilot are dated in the future and left out until their date; each pilot's view says how many."
        in texts(at.caption)
    ), [t for t in texts(at.caption) if "survey responses" in t]
    boxes = texts(at.warning) + texts(at.info)
    assert any(
        "3 survey responses are dated after" in t and f"(from {later:%d %b %Y}) and are left out until then." in t
        for t in boxes
    ), boxes
    assert "9" not in [str(o) for o in at.selectbox(key="wave").options], "wave 9 is not there yet"


def test_three_rows_for_one_measurement_are_all_rejected(demo_store):
    text = (
        "pilot_id,metric,environment,observed_at,value\n"
        "SC-01,rmse,lab,2024-03-04,12.5\nSC-01,rmse,lab,2024-03-04,12.5\nSC-01,rmse,lab,2024-03-04,11\nSC-01,rmse,lab,2024-03-11,10\n"
    )
    result = upload(demo_store, "three.csv", text)
    stored(result)

    message = "Rows 2, 3 and 4 of three.csv give two different values (12.5 and 11) for SC-01 rmse, lab, on 2024-03-04; keep one and upload again."
    assert [(p.row, p.message) for p in result.problems] == [(2, message), (3, message), (4, message)]
    assert observations(demo_store, result.upload_id) == [("rmse", "lab", "2024-03-11", 10.0)]
