"""The Failure-pattern risk page through AppTest, and the `risk` command."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest
from test_pages import assert_clean, open_page, texts

from pilot_health.analytics import risk
from pilot_health.reports import charts
from pilot_health.rules.catalogue import PATTERN_KEYS, PATTERN_SHORT_NAMES, load_catalogue

RISK = "pages/3_Risk.py"


def risk_page(**query) -> AppTest:
    return open_page(RISK, **query)


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label (its words, without the coloured icon before them) → value."""
    return {re.sub(r"^:\w+\[:material/\w+:\] ", "", m.label): m.value for m in at.metric}


@pytest.mark.slow
def test_the_portfolio_view_counts_what_the_engine_computes(demo_store, app_env):
    app_env(demo_store)
    at = risk_page()
    assert_clean(at)
    results = risk.assess(demo_store)
    expected = {label: sum(r.health == key for r in results) for key, label in risk.HEALTH_LABELS.items()}
    assert {k: int(v) for k, v in metrics(at).items()} == expected
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    assert at.selectbox(key="pilot").value is None
    assert [d for d in at.get("download_button") if d.proto.label == "Download the scores (CSV)"]


@pytest.mark.slow
def test_a_pilot_link_opens_its_detail_with_evidence_actions_and_missing_evidence(demo_store, app_env):
    app_env(demo_store)
    at = risk_page(pilot="SC-01")
    assert_clean(at)
    result = next(r for r in risk.assess(demo_store) if r.pilot_id == "SC-01")
    shown = metrics(at)
    for pattern in result.patterns.values():
        short = PATTERN_SHORT_NAMES[pattern.key]  # the cards say the patterns' short names
        assert shown[short] == ("?" if pattern.status == "insufficient" else f"{pattern.score:.0f}")
    assert [
        t
        for t in texts(at.error)
        if t.replace("\\", "").startswith("Health: Red. Data Debt is high. Decisive evidence for Data Debt: a ")
    ]
    expanders = [e.label for e in at.expander]
    assert "Data Debt — high, score 82" in expanders
    body = " ".join(texts(at.markdown))
    assert "Live Accuracy 0.7" in body and "worse than in the lab (threshold 15%)" in body
    catalogue = load_catalogue()
    fired = {s.key for s in result.patterns["data_debt"].fired}
    assert "lab_to_live_drop" in fired
    for signal in result.patterns["data_debt"].signals:  # an action for every warning sign, none for what is done
        assert (catalogue.signal(signal.key).action in body) == (signal.key in fired), signal.key
    assert "Because: Live Accuracy 0.7" in body.replace("\\", "")
    assert any(h == "Over the last twelve months" for h in texts(at.subheader))


@pytest.mark.slow
def test_the_data_behind_the_signals_on_request(demo_store, app_env):
    app_env(demo_store)
    at = risk_page(pilot="RO-02")
    tables_before = len(at.dataframe)
    at.toggle(key="rows").set_value(True).run()
    assert_clean(at)
    assert len(at.dataframe) > tables_before
    assert any("barrier point" in df.value.columns for df in at.dataframe)


def test_missing_evidence_is_a_to_do_list(demo_store, app_env):
    app_env(demo_store)
    at = risk_page(pilot="SC-05")
    assert_clean(at)
    todo = next(df.value for df in at.dataframe if "to do" in df.value.columns)
    assert "Nobody has said whether drift alerts exist." in set(todo["to do"])
    assert any("Insufficient evidence" in t for t in texts(at.info))


def test_filters_and_sort_come_from_the_url(demo_store, app_env):
    app_env(demo_store)
    at = risk_page(bu="Finance", sort="Governance", stage=["Production", "Pilot"])
    assert_clean(at)
    assert at.multiselect(key="bu").value == ["Finance"] and at.selectbox(key="sort").value == "Governance"
    assert at.selectbox(key="pilot").options == ["FN-01", "FN-04", "FN-03"], "sorted by Governance Vacuum, worst first"


def test_an_unknown_pilot_in_a_link_is_said(demo_store, app_env):
    app_env(demo_store)
    at = risk_page(pilot="ZZ-01")
    assert_clean(at)
    assert any("pilot “ZZ-01”" in t for t in texts(at.warning))


def test_an_empty_store_says_so(store, app_env):
    app_env(store)
    at = risk_page()
    assert_clean(at)
    assert any("no pilots to score" in t for t in texts(at.info))


@pytest.mark.slow
def test_risk_command_json(tmp_path, run_command):
    db = tmp_path / "risk.duckdb"
    run_command("demo", "--db", str(db))
    result = run_command("risk", "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert len(payload["pilots"]) == 24 and payload["rules"]["file"].endswith("signals.toml")
    pilot = next(p for p in payload["pilots"] if p["pilot_id"] == "FN-01")
    assert pilot["health"] in ("green", "amber", "red", "insufficient")
    assert set(pilot["patterns"]) == {
        "data_debt",
        "integration_avoidance",
        "organisational_resistance",
        "governance_vacuum",
        "wrong_success_metrics",
    }
    governance = pilot["patterns"]["governance_vacuum"]
    assert governance["status"] == "high"
    assert set(governance) == {"score", "coverage", "status", "raised_by_decisive_evidence", "signals", "actions"}
    fired = {s["key"] for s in governance["signals"] if s["state"] == "fired"}
    assert governance["actions"] and {a["signal"] for a in governance["actions"]} <= fired
    decay = next(s for s in governance["signals"] if s["key"] == "live_decay")
    assert decay["state"] == "fired" and "worse than its first live weeks (threshold 20%)" in decay["evidence"]


def test_the_patterns_short_names_are_one_set_for_heatmap_cards_sorting_and_command_line(demo_store, run_command):
    """One domain dict (catalogue.PATTERN_SHORT_NAMES) names the patterns wherever the full name does
    not fit; the command line said Data, People and Metrics where the dashboard said Data Debt,
    Resistance and Wrong Metrics."""
    assert list(PATTERN_SHORT_NAMES) == list(PATTERN_KEYS)
    assert list(PATTERN_SHORT_NAMES.values()) == [
        "Data Debt",
        "Integration",
        "Resistance",
        "Governance",
        "Wrong Metrics",
    ]
    results = [r for r in risk.assess(demo_store) if r.pilot_id.startswith("FN-")]
    frame = risk.heatmap_frame(results)
    names = [load_catalogue().patterns[k].name for k in PATTERN_KEYS]
    spec = charts.risk_heatmap(frame, sorted(frame["pilot_id"].unique()), names).to_dict()
    domains = [layer["encoding"]["x"]["scale"]["domain"] for layer in spec["layer"] if "x" in layer.get("encoding", {})]
    assert domains and all(d == ["Health", *PATTERN_SHORT_NAMES.values()] for d in domains)
    cells = {row["pattern_short"] for rows in spec["datasets"].values() for row in rows if "pattern_short" in row}
    assert cells == {"Health", *PATTERN_SHORT_NAMES.values()}
    table = run_command("risk", "--db", str(demo_store.path)).stdout.splitlines()
    assert table[0].split() == [
        "pilot",
        "health",
        "Data",
        "Debt",
        "Integration",
        "Resistance",
        "Governance",
        "Wrong",
        "Metrics",
    ]


@pytest.mark.slow
def test_risk_command_one_pilot_as_of_and_errors(tmp_path, run_command):
    db = tmp_path / "risk.duckdb"
    run_command("demo", "--db", str(db))
    one = run_command("risk", "--db", str(db), "--pilot", "rO-02")
    assert one.returncode == 0 and "RO-02 · Automated labour scheduling: Red" in one.stdout and "[fired]" in one.stdout
    past = json.loads(run_command("risk", "--db", str(db), "--as-of", "2025-01-31", "--json").stdout)
    assert past["as_of"] == "2025-01-31T23:59:59" and "CS-05" not in {p["pilot_id"] for p in past["pilots"]}, (
        "not yet approved then"
    )
    missing = run_command("risk", "--db", str(db), "--pilot", "SC-09")
    assert missing.returncode == 1 and "There is no pilot SC-09" in missing.stderr and "closest" in missing.stderr
    bad = run_command("risk", "--db", str(db), "--as-of", "31/01/2025")
    assert bad.returncode == 1 and "is not a date" in bad.stderr


# -- the heatmap draws the worst pilots; every pilot is a click away -----------------------------


def heatmap_pilots(at: AppTest) -> list[str]:
    """The pilots whose rows the heatmap sends to the browser (the chart's data)."""
    import pyarrow as pa

    [chart] = [c for c in at.get("vega_lite_chart") if c.proto.datasets]
    ids: list[str] = []
    for dataset in chart.proto.datasets:
        table = pa.ipc.open_stream(dataset.data.data).read_all()
        ids += table.column("pilot_id").to_pylist()
    return list(dict.fromkeys(ids))


def caption_with(at: AppTest, words: str) -> str:
    return next(t for t in texts(at.caption) if words in t)


def test_the_heatmap_draws_the_worst_pilots_and_says_how_many_it_leaves_out(demo_store, app_env, monkeypatch):
    monkeypatch.setattr(risk, "HEATMAP_PILOTS", 10)  # the demo has 24 pilots
    app_env(demo_store)
    at = risk_page()
    assert_clean(at)
    drawn = heatmap_pilots(at)
    everyone = at.selectbox(key="pilot").options
    assert len(everyone) == 24 and len(drawn) == 10
    assert set(drawn) == set(everyone[:10])  # the first ten in the page's order (the chooser lists all 24 in it)
    health = {r.pilot_id: r.health for r in risk.assess(demo_store)}
    rank = {"red": 0, "amber": 1, "insufficient": 2, "green": 3}
    assert max(rank[health[p]] for p in drawn) <= min(rank[health[p]] for p in everyone[10:]), "worst first"
    caption = caption_with(at, "Showing")
    assert "Showing the first 10 of 24 pilots, sorted by health (worst first)" in caption
    assert "Show all 24 pilots" in caption
    assert at.toggle(key="all").label == "Show all 24 pilots"

    at.toggle(key="all").set_value(True).run()
    assert_clean(at)
    assert sorted(heatmap_pilots(at)) == sorted(everyone)
    assert "Showing all 24 pilots, sorted by health (worst first)." in caption_with(at, "Showing")


def test_a_link_can_ask_for_every_pilot_and_a_pattern_sort_draws_its_highest_scores(demo_store, app_env, monkeypatch):
    monkeypatch.setattr(risk, "HEATMAP_PILOTS", 5)
    app_env(demo_store)
    assert len(heatmap_pilots(risk_page(all="true"))) == 24
    at = risk_page(sort="Governance")
    assert_clean(at)
    drawn = heatmap_pilots(at)
    scores = {r.pilot_id: r.patterns["governance_vacuum"] for r in risk.assess(demo_store)}
    known = lambda p: scores[p].status != "insufficient"  # noqa: E731
    assert len(drawn) == 5 and all(known(p) for p in drawn)
    assert min(scores[p].score for p in drawn) >= max(scores[p].score for p in scores if p not in drawn and known(p))
    assert "Showing the first 5 of 24 pilots, sorted by governance (highest score first)" in caption_with(at, "Showing")


def test_fewer_pilots_than_the_limit_are_all_drawn_without_a_switch(demo_store, app_env, monkeypatch):
    monkeypatch.setattr(risk, "HEATMAP_PILOTS", 10)
    app_env(demo_store)
    at = risk_page(bu="Finance")
    assert_clean(at)
    finance = sorted(r.pilot_id for r in risk.assess(demo_store) if r.business_unit == "Finance")
    assert len(finance) < 10 and sorted(heatmap_pilots(at)) == finance
    assert not [t for t in at.toggle if t.key == "all"]
    assert f"Showing all {len(finance)} pilots" in caption_with(at, "Showing")


def test_every_health_count_is_coloured_and_worded_and_names_its_red_pilots(demo_store, app_env):
    """Issue 18: "5 red" says which five — named under the counts and first in the heatmap, each
    with its health in colour and in words."""
    app_env(demo_store)
    at = risk_page()
    assert_clean(at)
    results = {r.pilot_id: r for r in risk.assess(demo_store)}
    labels = [m.label for m in at.metric]
    assert labels == [
        ":red[:material/cancel:] Red",
        ":orange[:material/error:] Amber",
        ":green[:material/check_circle:] Green",
        ":gray[:material/help:] Insufficient evidence",
    ]
    red = sorted(p for p, r in results.items() if r.health == "red")
    named = next(t for t in texts(at.caption) if "Red, the committee's attention now" in t)
    assert sorted(re.findall(r"\b[A-Z]{2}-\d{2}\b", named)) == red and len(red) >= 1
    # The heatmap: one health cell per pilot drawn, with the pilot's verdict as its word.
    import pyarrow as pa

    [chart] = [c for c in at.get("vega_lite_chart") if c.proto.datasets]
    tables = [pa.ipc.open_stream(d.data.data).read_all() for d in chart.proto.datasets]
    [markers] = [t for t in tables if "health_short" in t.column_names]
    drawn = dict(zip(markers.column("pilot_id").to_pylist(), markers.column("health_short").to_pylist()))
    assert len(drawn) == len(results)
    assert drawn == {
        p: {"red": "Red", "amber": "Amber", "green": "Green", "insufficient": "Insufficient"}[r.health]
        for p, r in results.items()
    }


def test_a_pattern_card_says_its_percentage_is_evidence_known(demo_store, app_env):
    app_env(demo_store)
    at = risk_page(pilot="CS-01")
    assert_clean(at)
    result = next(r for r in risk.assess(demo_store) if r.pilot_id == "CS-01")
    cards = {
        m.label: m
        for m in at.metric
        if m.label in ("Data Debt", "Integration", "Resistance", "Governance", "Wrong Metrics")
    }
    assert len(cards) == 5
    data_debt = result.patterns["data_debt"]
    assert cards["Data Debt"].proto.delta == "Low"  # the reading; the share of evidence known is its own line, worded
    assert "not a probability" in cards["Data Debt"].proto.help and "evidence known" in cards["Data Debt"].proto.help
    worded = [t for t in texts(at.caption) if t.endswith("% of evidence known")]
    assert worded == [risk.card_evidence(p) for p in result.patterns.values()]
    assert worded[0] == f"{data_debt.coverage * 100:.0f}% of evidence known"


def test_the_home_table_shows_each_pilots_health_as_a_coloured_word(demo_store, app_env):
    from test_pages import home

    from pilot_health.reports import charts

    app_env(demo_store)
    at = home()
    assert_clean(at)
    table = at.dataframe[0].value.set_index("pilot_id")
    expected = {r.pilot_id: [charts.HEALTH_SHORT[r.health]] for r in risk.assess(demo_store)}
    assert {p: list(v) for p, v in table["health"].items()} == expected
    config = json.loads(at.dataframe[0].proto.columns)["health"]
    assert config["label"] == "Health" and "steering committee" in config["help"]
    colours = {
        option["value"]: option["color"] for option in config["type_config"]["options"]
    }  # the word and its colour
    assert colours == {charts.HEALTH_SHORT[k]: charts.HEALTH_COLOURS[k] for k in charts.HEALTH_SHORT}


def test_the_health_tiles_the_red_pilots_named_and_the_steering_pack_agree_with_the_domain(demo_store, app_env):
    """One computation of the portfolio's health (portfolio.portfolio_health): the risk page's tiles
    and the red pilots it names, the steering pack's health tile and the pack's worst-first rows."""
    from pilot_health.analytics.portfolio import portfolio_health
    from pilot_health.reports import steering_pack as sp

    app_env(demo_store)
    at = risk_page()
    assert_clean(at)
    health = portfolio_health(risk.assess(demo_store))
    assert {k: int(v) for k, v in metrics(at).items()} == {
        risk.HEALTH_LABELS[verdict]: count for verdict, count in health.counts.items()
    }
    assert health.counts["red"] >= 1 and health.counts["amber"] >= 1  # the demo has both
    named = next(t for t in texts(at.caption) if "Red, the committee's attention now" in t)
    assert re.findall(r"\b[A-Z]{2}-\d{2}\b", named) == list(health.red)  # worst first, as the heatmap
    pack = sp.portfolio_pack(demo_store, "http://dashboard.example")
    assert [r.pilot_id for r in pack.results] == list(health.worst_first)
    tile = sp.portfolio_facts(pack)[0]
    assert (tile.label, tile.value, tile.detail) == (
        "Health",
        f"{health.counts['red']} red, {health.counts['amber']} amber",
        f"{health.counts['green']} green, {health.counts['insufficient']} with too little evidence to judge",
    )


def test_the_risk_command_lists_worst_first_with_the_pages_health_counts(tmp_path, run_command):
    """The command line's list is the risk page's order and ends with its tiles' counts
    (portfolio.portfolio_health), in words and in the JSON."""
    from pilot_health.analytics.portfolio import portfolio_health
    from pilot_health.store.database import Store

    db = tmp_path / "risk.duckdb"
    run_command("demo", "--db", str(db))
    health = portfolio_health(risk.assess(Store(db)))
    text = run_command("risk", "--db", str(db))
    assert text.returncode == 0, text.stderr
    listed = [line.split()[0] for line in text.stdout.splitlines()[1:] if re.match(r"[A-Z]{2}-\d{2} ", line)]
    assert listed == list(health.worst_first) and len(listed) == 24
    c = health.counts
    assert (
        f"Health (worst first above): {c['red']} red, {c['amber']} amber, {c['green']} green, "
        f"{c['insufficient']} insufficient evidence"
    ) in text.stdout
    payload = json.loads(run_command("risk", "--db", str(db), "--json").stdout)
    assert [p["pilot_id"] for p in payload["pilots"]] == list(health.worst_first)
    assert payload["health_counts"] == c
    one = json.loads(run_command("risk", "--db", str(db), "--pilot", "RO-02", "--json").stdout)
    assert "health_counts" not in one  # one pilot: nothing to count


def test_the_trend_heading_follows_how_far_back_the_trend_goes(demo_store, app_env, monkeypatch):
    """The heading over a pilot's month-by-month scores is worded from risk.TREND_MONTHS, and the
    chart draws that many months, so the heading can never promise more than the chart shows."""
    app_env(demo_store)
    monkeypatch.setattr(risk, "TREND_MONTHS", 6)
    at = risk_page(pilot="SC-01")
    assert_clean(at)
    assert "Over the last six months" in texts(at.subheader)
    months = risk.risk_trend(demo_store, "SC-01")["month"].nunique()
    assert 1 <= months <= 6
