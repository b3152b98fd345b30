"""Every page, run for real through Streamlit's AppTest against real stores."""

from __future__ import annotations

import re
from datetime import date

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_store import hold_lock

from pilot_health.analytics import portfolio
from pilot_health.models import Pilot
from pilot_health.register.pilots import create_pilot, get_pilot, update_pilot
from pilot_health.store import queries
from pilot_health.store.database import Store

HOME = str(ROOT / "app.py")
REGISTER = "pages/1_Pilot_register.py"


def open_page(page: str | None = None, **query) -> AppTest:
    """Run the app as a fresh visit to `page` (the home page when None) with these URL parameters."""
    at = AppTest.from_file(HOME, default_timeout=120)
    if page:
        at.switch_page(page)
    at.query_params.update(query)
    return at.run()


def home(**query) -> AppTest:
    return open_page(None, **query)


def register(**query) -> AppTest:
    return open_page(REGISTER, **query)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def texts(elements) -> list[str]:
    """Element texts as a person reads them (Markdown backslash escapes and the invisible word
    joiners that keep addresses from becoming links removed)."""
    return [re.sub(r"\\(.)", r"\1", str(e.value)).replace("\u2060", "") for e in elements]


def sources(elements) -> list[str]:
    """Element texts as sent to the browser's Markdown renderer."""
    return [str(e.value) for e in elements]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


# -- home page ------------------------------------------------------------------------------


def test_home_shows_the_demo_portfolio_with_the_numbers_the_domain_computes(demo_store, app_env):
    app_env(demo_store)
    at = home()
    assert_clean(at)
    expected = portfolio.summarise(portfolio.load_portfolio(demo_store, date.today(), 45), 45)
    assert metric(at, "Pilots shown") == "24 pilots"
    assert metric(at, "In pilot past 6 months") == f"{expected.past_purgatory} of {expected.in_pilot}"
    assert metric(at, "Data older than 45 days") == str(expected.stale)
    table = at.dataframe[0].value
    assert len(table) == 24 and set(table["pilot_id"]) == set(queries_ids(demo_store))
    assert any("This is demo data" in t for t in texts(at.info))
    assert at.button(key="clear_demo")
    assert len(at.get("download_button")) >= 1


def queries_ids(store: Store) -> list[str]:
    with store.read() as con:
        return queries.pilot_ids(con)


def test_the_tables_show_what_fits_a_laptop_and_more_columns_show_the_rest(demo_store, app_env, downloads):
    app_env(demo_store)
    at = home()
    [table] = at.dataframe
    assert list(table.proto.column_order) == [
        "pilot_id",
        "name",
        "health",
        "stage",
        "months_in_stage",
        "spend_share",
        "freshness",
        "open",
    ]
    at.toggle(key="more_columns").set_value(True).run()
    assert_clean(at)
    [table] = at.dataframe
    assert {"budget", "spend_to_date", "last_upload_at", "business_unit", "pilot_clock"} <= set(
        table.proto.column_order
    )
    linked = home(more_columns="true")  # the toggle is part of the view's link
    assert list(linked.dataframe[0].proto.column_order) == list(table.proto.column_order)
    portfolio_csv = next(data for label, data in downloads if label == "Download this table (CSV)").decode()
    assert (
        "budget" in portfolio_csv.splitlines()[0] and "last_upload_at" in portfolio_csv.splitlines()[0]
    )  # every column, toggle or not
    at = register()
    assert list(at.dataframe[0].proto.column_order) == ["pilot_id", "name", "stage", "owner", "kpi_name"]
    at.toggle(key="register_more").set_value(True).run()
    assert_clean(at)
    assert {"business_unit", "budget", "executive_sponsor", "evidence", "updated_at"} <= set(
        at.dataframe[0].proto.column_order
    )


def test_the_spend_headline_is_short_and_its_tooltip_names_the_budget(demo_store, app_env):
    app_env(demo_store)
    spend = next(m for m in home().metric if m.label == "Spend to date")
    summary = portfolio.summarise(portfolio.load_portfolio(demo_store, date.today(), 45), 45)
    assert spend.proto.delta == f"{summary.spend_share * 100:.0f}% spent · {summary.over_budget} over"
    assert (
        f"of ${summary.budget_total / 1e6:.2f}M is spent" in spend.proto.help
        and f"{summary.over_budget} pilots have spent more" in spend.proto.help
    )


def test_filters_come_from_the_url_and_stay_in_it(demo_store, app_env):
    app_env(demo_store)
    at = home(bu="Finance", stage="Pilot")
    assert_clean(at)
    assert sorted(at.dataframe[0].value["pilot_id"]) == ["FN-03", "FN-04"]
    assert metric(at, "Pilots shown") == "2 pilots of 24"
    assert at.multiselect(key="bu").value == ["Finance"] and at.multiselect(key="stage").value == ["pilot"]
    at.multiselect(key="stage").set_value(["pilot", "scaling"]).run()
    assert sorted(at.dataframe[0].value["pilot_id"]) == ["FN-02", "FN-03", "FN-04"]


def test_an_unknown_value_in_a_link_is_said_and_ignored(demo_store, app_env):
    app_env(demo_store)
    at = home(stage=["Pilot", "Piolt"], bu="Legal")
    assert_clean(at)
    warnings = " ".join(texts(at.warning))
    assert "stage “Piolt”" in warnings and "business unit “Legal”" in warnings
    assert metric(at, "Pilots shown") == "10 pilots of 24"


def test_filters_that_match_nothing_offer_a_way_back(demo_store, app_env):
    app_env(demo_store)
    at = home(bu="Finance", stage="Proposed")
    assert_clean(at)
    assert any("No pilot matches" in t for t in texts(at.info))
    at.button(key="clear_filters").click().run()
    assert metric(at, "Pilots shown") == "24 pilots"


@pytest.mark.slow
def test_an_empty_store_says_so_and_offers_the_demo(store, app_env):
    app_env(store, demo_on_first_run=False)
    at = home()
    assert_clean(at)
    assert any("no pilots in the store yet" in t for t in texts(at.info))
    assert not at.dataframe
    at.button(key="load_demo").click().run()
    assert_clean(at)
    assert metric(at, "Pilots shown") == "24 pilots"


@pytest.mark.slow
def test_first_run_on_a_new_store_loads_the_demo(tmp_path, app_env):
    store = Store(tmp_path / "brand-new.duckdb")
    app_env(store, demo_on_first_run=True)
    at = home()
    assert_clean(at)
    assert metric(at, "Pilots shown") == "24 pilots"
    assert store.meta()["demo_loaded"] == "yes"


@pytest.mark.slow
def test_clearing_the_demo_asks_first_then_leaves_an_empty_store(demo_store, app_env):
    app_env(demo_store)
    at = home()
    at.button(key="clear_demo").click().run()
    assert at.button(key="confirm_clear") and at.button(key="cancel_clear")
    assert queries_ids(demo_store), "nothing is removed before confirming"
    at.button(key="confirm_clear").click().run()
    assert_clean(at)
    assert queries_ids(demo_store) == []
    assert any("no pilots in the store yet" in t for t in texts(at.info))


@pytest.mark.slow
def test_an_open_page_shows_new_data_on_its_next_interaction(demo_store, app_env):
    app_env(demo_store)
    at = home(bu="Finance")
    before = metric(at, "Spend to date")
    pilot = get_pilot(demo_store, "FN-02")
    update_pilot(demo_store, pilot.model_copy(update={"spend_to_date": pilot.spend_to_date + 5_000_000}))
    at.run()
    after = metric(at, "Spend to date")
    assert before != after and after.startswith("$12.")


@pytest.mark.slow
def test_a_busy_store_is_one_sentence_on_the_page(demo_store, app_env, monkeypatch):
    app_env(demo_store)
    monkeypatch.setenv("PILOT_HEALTH_LOCK_WAIT", "0.3")
    holder = hold_lock(demo_store.path, 60)
    try:
        at = home()
    finally:
        holder.kill()
        holder.wait()
    assert_clean(at)
    errors = texts(at.error)
    assert len(errors) == 1 and "is in use by another program" in errors[0] and str(demo_store.path) in errors[0]


@pytest.mark.slow
def test_user_text_is_never_read_as_markdown(demo_store, app_env):
    create_pilot(
        demo_store,
        Pilot(
            pilot_id="XSS-1",
            name="**bold** <script>alert(1)</script>",
            business_unit="[Click](http://evil.example)",
            stage="pilot",
        ),
    )
    app_env(demo_store)
    at = home(bu="[Click](http://evil.example)")
    assert_clean(at)
    assert list(at.dataframe[0].value["pilot_id"]) == ["XSS-1"]
    rendered = sources(at.markdown) + sources(at.caption) + sources(at.info) + sources(at.warning)
    for text in rendered:
        assert "[Click](http" not in text, text
        assert "<script>" not in text, text
    assert any(r"\[Click\]\(http" in t for t in rendered), "the filter caption shows the unit, escaped"


def test_the_sidebar_is_the_same_on_every_page(demo_store, app_env):
    app_env(demo_store)

    def sidebar(at):
        shown = [(e.type, getattr(e, "label", None) or getattr(e, "value", None)) for e in at.sidebar]
        # The share link names the page and the moment, so it differs by page and second.
        return [(kind, value) for kind, value in shown if not ("as_of" in str(value) or "pinned to" in str(value))]

    home_sidebar = sidebar(home())
    assert home_sidebar == sidebar(register())
    assert [e for e in home().sidebar if e.type == "popover" and e.proto.popover.label == "Share this view"]


# -- pilot register -------------------------------------------------------------------------


def test_register_deep_link_opens_the_pilot_form(demo_store, app_env):
    app_env(demo_store)
    at = register(pilot="SC-01")
    assert_clean(at)
    assert at.selectbox(key="pilot").value == "SC-01"
    assert at.text_input(key="pilot_form.SC-01.name").value == "Fresh produce demand forecasting"
    assert at.text_input(key="pilot_form.SC-01.pilot_id").disabled
    assert at.radio(key="pilot_form.SC-01.pipeline_automated").value == "no"
    assert at.button(key="save.SC-01").label == "Save changes to SC-01"
    assert len(at.dataframe[0].value) == 24


def test_a_link_to_a_removed_pilot_falls_back_with_a_note(demo_store, app_env):
    app_env(demo_store)
    at = register(pilot="ZZ-99")
    assert_clean(at)
    assert any("pilot “ZZ-99”" in t for t in texts(at.warning))
    assert at.selectbox(key="pilot").value == "__new__"


def test_editing_validates_as_you_type_and_saves_only_valid_records(demo_store, app_env):
    app_env(demo_store)
    at = register(pilot="SC-01")
    at.number_input(key="pilot_form.SC-01.budget").set_value(-10).run()
    at.number_input(key="pilot_form.SC-01.data_effort_pct").set_value(140).run()
    errors = " ".join(texts(at.error))
    assert "Budget must be 0 or more" in errors and "between 0 and 100" in errors
    at.button(key="save.SC-01").click().run()
    assert any("Not saved" in t for t in texts(at.error))
    assert get_pilot(demo_store, "SC-01").budget == 1_800_000, "nothing was stored"
    at.number_input(key="pilot_form.SC-01.budget").set_value(2_000_000)
    at.number_input(key="pilot_form.SC-01.data_effort_pct").set_value(42)
    at.radio(key="pilot_form.SC-01.pipeline_automated").set_value("yes")
    at.run()
    assert any("All values are valid" in t for t in texts(at.success))
    at.button(key="save.SC-01").click().run()
    assert_clean(at)
    saved = get_pilot(demo_store, "SC-01")
    assert saved.budget == 2_000_000 and saved.data_effort_pct == 42 and saved.pipeline_automated is True
    assert saved.drift_alerts is True and saved.name == "Fresh produce demand forecasting", "other fields untouched"


def test_adding_a_pilot(demo_store, app_env):
    app_env(demo_store)
    at = register()
    assert at.selectbox(key="pilot").value == "__new__"
    assert any(t == "Required." for t in texts(at.caption)), "required fields are marked, not shouted at"
    assert not at.error
    at.button(key="save.__new__").click().run()
    assert "Pilot code is required." in texts(at.error)
    at.text_input(key="pilot_form.__new__.pilot_id").set_value("sc-01")
    at.text_input(key="pilot_form.__new__.name").set_value("Pallet damage detection")
    at.text_input(key="pilot_form.__new__.business_unit").set_value("Supply Chain")
    at.selectbox(key="pilot_form.__new__.stage").set_value("proposed")
    at.run()
    assert any("SC-01 is already used" in t for t in texts(at.error))
    at.text_input(key="pilot_form.__new__.pilot_id").set_value("sc-06").run()
    at.radio(key="pilot_form.__new__.change_plan").set_value("no").run()
    at.button(key="save.__new__").click().run()
    assert_clean(at)
    stored = get_pilot(demo_store, "SC-06")
    assert stored is not None and stored.name == "Pallet damage detection" and stored.change_plan is False
    assert stored.drift_alerts is None, "unanswered evidence stays unknown"
    assert at.selectbox(key="pilot").value == "SC-06", "the new pilot is selected for further editing"
    assert len(at.dataframe[0].value) == 25


def test_escaped_text_never_becomes_markdown_or_a_link_by_itself():
    """md_escape is what keeps user text literal in headers, captions, toasts and labels: every
    Markdown character escaped, and the addresses Markdown would link on its own (http://…,
    www.…) broken by an invisible word joiner that changes nothing a person reads."""
    from pilot_health.ui.text import WORD_JOINER, md_escape

    assert (
        md_escape("[click](http://evil.example/) **x** <b>")
        == r"\[click\]\(http\:" + WORD_JOINER + r"//evil\.example/\) \*\*x\*\* \<b\>"
    )
    assert md_escape("see www.evil.example.csv") == "see w" + WORD_JOINER + r"ww\.evil\.example\.csv"
    assert md_escape("HTTPS://Evil.example").replace(WORD_JOINER, "") == r"HTTPS\://Evil\.example"
    assert md_escape("two\nlines") == "two lines" and md_escape("Fresh produce") == "Fresh produce"
    assert md_escape("boss@evil.example") == "boss" + WORD_JOINER + r"@evil\.example"


def test_charts_with_a_row_per_pilot_keep_their_rows_height_for_a_few_pilots(demo_store):
    """Streamlit fits a chart into its height by default, which squeezed five pilots' rows under
    their axis and legend; the row charts fit only their width."""
    from pilot_health.analytics import risk
    from pilot_health.reports import charts
    from pilot_health.rules.catalogue import PATTERN_KEYS, load_catalogue

    results = [r for r in risk.assess(demo_store) if r.pilot_id.startswith("FN-")]
    frame = risk.heatmap_frame(results)
    names = [load_catalogue().patterns[k].name for k in PATTERN_KEYS]
    shown = portfolio.load_portfolio(demo_store, date.today(), 45).head(5)
    for spec in (
        charts.risk_heatmap(frame, sorted(frame["pilot_id"].unique()), names).to_dict(),
        charts.time_in_stage_chart(shown).to_dict(),
        charts.budget_chart(shown).to_dict(),
    ):
        assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
        assert spec["height"] >= charts.ROW_HEIGHT * 5


def test_the_home_pages_pilot_clock_help_follows_the_constants(demo_store, app_env, monkeypatch):
    """The 6- and 18-month marks and the length of a month are worded from the constants the
    pilot clock is computed with, so changing one changes what the page says."""
    app_env(demo_store)
    help_of = lambda at: next(m.proto.help for m in at.metric if m.label.startswith("In pilot past"))  # noqa: E731
    said = help_of(home())
    assert "6 or more months ago (months = days ÷ 30.44)" in said and "past 18 months a pilot" in said
    monkeypatch.setattr(portfolio, "PURGATORY_MONTHS", 9)
    monkeypatch.setattr(portfolio, "CANCELLATION_MONTHS", 24)
    at = home()
    assert_clean(at)
    said = help_of(at)
    assert "9 or more months ago" in said and "Past 9 months" in said and "past 24 months a pilot" in said
    assert any("The dashed lines mark 9 and 24 months" in t for t in texts(at.caption))
