"""The Adoption page through AppTest: the portfolio worst first with the domain's numbers, a pilot's
verdict, profile, barrier points, team heatmap and usage; the wave and team in the URL; a team
below the anonymity minimum nowhere on the page or in its downloads; comments as plain text."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest
from test_adoption import MARKUP_COMMENT, SMALL_TEAM, TINY_COMMENT, survey_store
from test_pages import assert_clean, open_page, sources, texts

from pilot_health.analytics.adoption import OTHER_TEAMS
from pilot_health.reports import adoption_report as report

PAGE = "pages/5_Adoption.py"


def adoption_page(**query) -> AppTest:
    return open_page(PAGE, **query)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def chart_data(at: AppTest) -> list[pd.DataFrame]:
    """Every dataset of every chart on the page."""
    return [
        pa.ipc.open_stream(ds.data.data).read_all().to_pandas()
        for chart in at.get("vega_lite_chart")
        for ds in chart.proto.datasets
    ]


def everything_shown(at: AppTest) -> str:
    """All the text of the page: Markdown, captions, alerts, metrics (and their help), widget
    options, tables and chart data."""
    parts = (
        sources(at.markdown)
        + sources(at.caption)
        + sources(at.info)
        + sources(at.warning)
        + sources(at.error)
        + sources(at.success)
    )
    parts += sources(at.title) + sources(at.header) + sources(at.subheader) + [str(e.value) for e in at.get("text")]
    parts += [f"{m.label} {m.value} {m.delta} {m.proto.help}" for m in at.metric]
    parts += [" ".join(map(str, s.options)) for s in at.selectbox] + [
        " ".join(map(str, s.options)) for s in at.multiselect
    ]
    parts += [d.value.to_csv() for d in at.dataframe] + [frame.to_csv() for frame in chart_data(at)]
    parts += [json.dumps(json.loads(c.proto.spec)) for c in at.get("vega_lite_chart")]
    return "\n".join(parts)


def test_an_empty_store_says_what_to_do(store, app_env):
    app_env(store)
    at = adoption_page()
    assert_clean(at)
    assert any("There are no pilots yet" in t for t in texts(at.info))


def test_the_portfolio_is_worst_first_with_the_domains_numbers(demo_store, app_env, downloads):
    app_env(demo_store)
    at = adoption_page()
    assert_clean(at)
    rows = report.portfolio_adoption(demo_store)
    table = at.dataframe[0].value
    assert list(table["pilot_id"]) == [r.pilot_id for r in rows]
    expected = report.portfolio_table(rows).set_index("pilot_id")
    shown = table.set_index("pilot_id")
    for pilot_id in ("RO-02", "CS-04", "FN-01"):
        assert shown.loc[pilot_id, "main_barrier"] == expected.loc[pilot_id, "main_barrier"]
        assert (
            at.dataframe[1].value.set_index("pilot_id").loc[pilot_id, "stuck_there"]
            == expected.loc[pilot_id, "stuck_there"]
        )
        assert shown.loc[pilot_id, "adoption_rate"] == round(expected.loc[pilot_id, "adoption_rate"] * 100)
    assert metrics(at)["Pilots with a survey"] == f"{int(expected['main_barrier'].notna().sum())} of 24"
    [(label, data)] = [d for d in downloads if d[0] == "Download the table (CSV)"]
    assert pd.read_csv(pd.io.common.BytesIO(data))["pilot_id"].tolist() == [r.pilot_id for r in rows]
    assert at.selectbox(key="pilot").value is None


def test_a_pilot_link_shows_the_verdict_profile_teams_and_usage(tmp_path, app_env, downloads):
    store = survey_store(tmp_path / "s.duckdb")
    app_env(store)
    at = adoption_page(pilot="P-1")
    assert_clean(at)
    pilot = report.portfolio_adoption(store)[0]
    assert texts(at.warning)[0] == pilot.verdict
    assert at.selectbox(key="wave").value == 2 and at.selectbox(key="team").value == "All respondents"
    assert at.selectbox(key="team").options == ["All respondents", "Finance", OTHER_TEAMS]
    shown = metrics(at)
    assert shown["Respondents"] == "17" and shown["Main barrier"] == "Awareness"
    assert shown["Adoption"] == f"{pilot.rate.rate:.0%}"
    frames = chart_data(at)
    heat = next(f for f in frames if "group_order" in f.columns)
    assert sorted(heat["group"].unique()) == sorted(["All respondents (17)", "Finance (8)", f"{OTHER_TEAMS} (9)"])
    finance = heat[heat["group"] == "Finance (8)"].set_index("element")["mean"]
    assert finance["Knowledge"] == pytest.approx(4.0) and finance["Awareness"] == pytest.approx(30 / 7)
    barrier = next(f for f in frames if "barrier" in f.columns).set_index("barrier")["respondents"]
    assert barrier.to_dict() == {
        "Awareness": 4,
        "Desire": 0,
        "Knowledge": 0,
        "Ability": 4,
        "Reinforcement": 2,
        "Not stuck": 7,
    }
    usage = next(f for f in frames if "active_users" in f.columns)
    assert len(usage) == len(pilot.active_users) and usage["active_users"].iloc[-1] == pytest.approx(20.0)
    trend = next(
        f
        for f in frames
        if "respondents" in f.columns and "element" in f.columns and "order" in f.columns and "day" in f.columns
    )
    assert sorted(trend["wave"].unique()) == [1, 2]
    team_csv = next(data for label, data in downloads if label == "Download the team table (CSV)").decode("utf-8")
    assert "Finance" in team_csv and OTHER_TEAMS in team_csv


def test_wave_and_team_come_from_the_url(tmp_path, app_env):
    store = survey_store(tmp_path / "s.duckdb")
    app_env(store)
    at = adoption_page(pilot="P-1", wave="1", team="Finance")
    assert_clean(at)
    assert at.selectbox(key="wave").value == 1 and at.selectbox(key="team").value == "Finance"
    assert metrics(at)["Respondents"] == "8" and metrics(at)["Main barrier"] == "Knowledge"
    assert texts(at.warning)[0].startswith(
        "Most of Finance is stuck at Knowledge (5 of 8 respondents in wave 1): training is the next step."
    )
    profile = next(f for f in chart_data(at) if "which" in f.columns)
    assert set(profile["which"]) == {"this wave"}  # no earlier wave to compare with
    assert profile.set_index("element")["mean"]["Knowledge"] == pytest.approx(21 / 8)


def test_a_small_team_in_the_url_is_refused_and_appears_nowhere(tmp_path, app_env, downloads):
    store = survey_store(tmp_path / "s.duckdb")
    app_env(store)
    for wave in ("1", "2"):
        downloads.clear()
        at = adoption_page(pilot="P-1", wave=wave, team=SMALL_TEAM)
        assert_clean(at)
        assert at.selectbox(key="team").value == "All respondents"
        # The link's own value is echoed once in the note that it does not exist; nothing else names it.
        notes = [t for t in texts(at.warning) if "asks for the team" in t]
        assert len(notes) == 1
        page = (
            everything_shown(at)
            .replace(notes[0], "")
            .replace(sources(at.warning)[texts(at.warning).index(notes[0])], "")
        )
        assert SMALL_TEAM not in page and "Ops" not in page
        assert downloads and all(SMALL_TEAM.encode() not in data and b"Ops" not in data for _, data in downloads)


def test_comments_are_plain_text_and_the_small_teams_go_under_other_teams(tmp_path, app_env):
    store = survey_store(tmp_path / "s.duckdb")
    app_env(store)
    at = adoption_page(pilot="P-1")
    assert_clean(at)
    comments = next(d.value for d in at.dataframe if "comment" in d.value.columns)
    assert comments.to_dict("records") == [
        {"group": "Finance", "comment": MARKUP_COMMENT},
        {"group": OTHER_TEAMS, "comment": TINY_COMMENT},
    ]
    rendered = "\n".join(sources(at.markdown) + sources(at.caption) + sources(at.warning) + sources(at.info))
    assert "<script>" not in rendered and "**Need**" not in rendered
    at = adoption_page(pilot="P-1", team="Finance")
    comments = next(d.value for d in at.dataframe if "comment" in d.value.columns)
    assert comments["group"].tolist() == ["Finance"]


def test_a_wave_below_the_minimum_and_a_pilot_without_survey_say_so(tmp_path, app_env):
    from test_adoption import FINANCE_1, answers

    store = survey_store(tmp_path / "s.duckdb", waves=(1,), extra_rows=answers("Finance", FINANCE_1[:4], 2, 100))
    survey_store(None, store=store, pilot_id="P-2", waves=(), users=[])
    app_env(store)
    at = adoption_page(pilot="P-1")
    assert_clean(at)
    assert any("fewer than 5, so nothing from it is shown" in t for t in texts(at.info))
    assert not [f for f in chart_data(at) if "group_order" in f.columns]  # no heatmap
    at = adoption_page(pilot="P-1", wave="1")
    assert metrics(at)["Respondents"] == "17"
    at = adoption_page(pilot="P-2")
    assert_clean(at)
    shown = texts(at.info)
    assert any("No survey results for this pilot yet" in t for t in shown) and any(
        "No usage data for this pilot yet" in t for t in shown
    )


def test_unknown_pilot_and_wave_in_a_link_are_reported(tmp_path, app_env):
    store = survey_store(tmp_path / "s.duckdb")
    app_env(store)
    at = adoption_page(pilot="P-1", wave="9")
    assert_clean(at)
    assert any("survey wave “9”" in t for t in texts(at.warning)) and at.selectbox(key="wave").value == 2
    at = adoption_page(pilot="NOPE-1")
    assert_clean(at)
    assert any("pilot “NOPE-1”" in t for t in texts(at.warning)) and at.selectbox(key="pilot").value is None


def test_a_teams_participation_is_against_its_size_from_the_register(tmp_path, app_env):
    store = survey_store(tmp_path / "s.duckdb", team_sizes=f"Finance: 20; Ops: 6; {SMALL_TEAM}: 3")
    app_env(store)
    at = adoption_page(pilot="P-1", team="Finance")
    assert_clean(at)
    [respondents] = [m for m in at.metric if m.label == "Respondents"]
    assert (
        respondents.value == "8"
        and respondents.delta == "40% of 20 asked"
        and "8 respondents ÷ 20 team members" in respondents.proto.help
    )
    assert "Few answered in Finance (40% of 20)." in texts(at.warning)[0]
    assert SMALL_TEAM not in everything_shown(at)


# -- plain words, the order's column on show, no None ----------------------------------------------------


def test_the_portfolio_shows_the_column_its_order_uses_and_no_none(demo_store, app_env):
    app_env(demo_store)
    at = adoption_page()
    assert_clean(at)
    main, counts = at.dataframe[0], at.dataframe[1]
    table = main.value
    assert list(table.columns) == report.MAIN_COLUMNS and "weakest" in table.columns
    labels = {name: c.get("label") for name, c in json.loads(main.proto.columns).items()}
    assert labels["weakest"] == "Weakest share"
    assert "participation" in counts.value.columns and labels["name"] == "Name", (
        "participation with the survey's counts; the name in full"
    )
    assert json.loads(main.proto.columns)["name"]["width"] >= 200, (
        "room for names of ~34 characters (“Fresh produce demand forecasting”)"
    )
    weakest = table["weakest"]
    known = weakest.dropna()
    assert list(known) == sorted(known), "sorted by the visible column, lowest first"
    assert weakest.notna().iloc[: len(known)].all(), "pilots with neither share come last"
    assert "Weakest share" in " ".join(texts(at.caption)), "the caption names the column the order uses"
    for element in (main, counts):
        frame = element.value
        assert element.proto.placeholder == "–"
        cells = [str(v) for v in frame.astype(object).to_numpy().ravel() if not pd.isna(v)]
        assert "None" not in cells
    assert set(table["main_barrier"]) <= {
        "Awareness",
        "Desire",
        "Knowledge",
        "Ability",
        "Reinforcement",
        "Not stuck",
        "no survey",
        "too few answers",
    }
    assert "Reinforcement" in set(table["main_barrier"])
    assert all(v == round(v) for v in table["adoption_rate"].dropna()), "whole per cents"
    assert {"Low adoption", "Low participation", "Top barrier"} <= set(metrics(at)), (
        "card labels short enough not to be cut"
    )


def test_a_long_adoption_portfolio_shows_the_worst_until_show_all(demo_store, app_env, monkeypatch):
    monkeypatch.setattr(report, "TABLE_ROWS", 10)
    app_env(demo_store)
    at = adoption_page()
    rows = report.portfolio_adoption(demo_store)
    assert list(at.dataframe[0].value["pilot_id"]) == [r.pilot_id for r in rows[:10]]
    at.toggle(key="all").set_value(True).run()
    assert_clean(at)
    assert len(at.dataframe[0].value) == 24


def test_the_screen_table_rounds_for_people_and_says_why_a_barrier_is_missing(demo_store):
    rows = report.portfolio_adoption(demo_store)
    view = report.screen_table(report.portfolio_table(rows), None)
    by_id = {r.pilot_id: r for r in rows}
    for _, line in view.iterrows():
        pilot = by_id[line["pilot_id"]]
        if pilot.weakest is None:
            assert pd.isna(line["weakest"])
        else:
            assert line["weakest"] == round(pilot.weakest * 100)
        if pilot.latest is None:
            assert line["main_barrier"] == "no survey"
        elif not pilot.latest.shown:
            assert line["main_barrier"] == "too few answers"
    assert "no survey" in set(view["main_barrier"])


def test_the_adoption_counts_on_the_page_are_the_domains(demo_store, app_env):
    """The four headline tiles come from adoption_report.adoption_counts of the page's table."""
    from pilot_health.rules.catalogue import load_catalogue

    app_env(demo_store)
    at = adoption_page()
    assert_clean(at)
    counts = report.adoption_counts(report.portfolio_table(report.portfolio_adoption(demo_store)), load_catalogue())
    shown = metrics(at)
    assert shown["Pilots with a survey"] == f"{counts.surveyed} of {counts.pilots}" and counts.pilots == 24
    assert (
        int(shown["Low adoption"]) == counts.low_adoption
        and int(shown["Low participation"]) == counts.low_participation
    )
    assert shown["Top barrier"] == counts.top_barrier and counts.top_barrier_pilots >= 1
    [tile] = [m for m in at.metric if m.label == "Top barrier"]
    assert tile.proto.delta == f"{counts.top_barrier_pilots} of {counts.surveyed} pilots"


def test_the_adoption_counts_by_hand(demo_store):
    """Five pilots worked out by hand against the shipped thresholds (adoption below 40% of target,
    participation below 60%): two surveyed and stuck at Knowledge, one surveyed and not stuck, one
    with too few answers (no barrier), one never surveyed."""
    from pilot_health.rules.catalogue import load_catalogue

    catalogue = load_catalogue()
    assert catalogue.threshold("adoption_below_target") == 0.4 and catalogue.analysis.participation_warning == 0.6
    table = pd.DataFrame(
        {
            "pilot_id": ["A", "B", "C", "D", "E"],
            "main_barrier": ["Knowledge", "Knowledge", "Not stuck", None, None],
            "adoption_rate": [0.2, 0.5, None, 0.39, None],
            "participation": [0.7, 0.3, 0.59, None, None],
        }
    )
    counts = report.adoption_counts(table, catalogue)
    assert counts == report.AdoptionCounts(
        pilots=5,
        surveyed=3,
        with_usage_and_target=3,
        low_adoption=2,  # A (20%) and D (39%)
        low_participation=2,  # B (30%) and C (59%)
        top_barrier="Knowledge",
        top_barrier_pilots=2,
    )
    nobody_stuck = report.adoption_counts(table[table["main_barrier"].ne("Knowledge")], catalogue)
    assert nobody_stuck.top_barrier is None and nobody_stuck.top_barrier_pilots == 0 and nobody_stuck.surveyed == 1


def test_the_barrier_rule_is_worded_from_its_constant(demo_store, app_env, monkeypatch):
    """“Scored 3 or lower” and the usage trend's 5% come from the constants the numbers use."""
    from pilot_health.analytics import adoption

    app_env(demo_store)
    words = " ".join(" ".join(sources(adoption_page(pilot="CS-01").markdown)).split())  # under a pilot's view
    assert "scored 3 or lower" in words and "every answer is above 3" in words and "within 5% of the target" in words
    monkeypatch.setattr(adoption, "STUCK_AT_OR_BELOW", 2)
    monkeypatch.setattr(adoption.UsageTrend, "FLAT_WITHIN", 0.1)
    at = adoption_page(pilot="CS-01")
    assert_clean(at)
    words = " ".join(" ".join(sources(at.markdown)).split())
    assert "scored 2 or lower" in words and "every answer is above 2" in words and "within 10% of the target" in words
