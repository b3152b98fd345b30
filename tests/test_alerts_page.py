"""The Alerts page on the demo store, through AppTest: a signed-in viewer subscribes their own address
and sees only their subscriptions (no sent log, no preview); an administrator subscribes a team,
sees what was sent (a failed one with its reason) and previews the next run without sending it;
without sign-in the address is typed."""

from __future__ import annotations

import re

import pytest
from test_pages import assert_clean, open_page, texts
from test_screen_words import DEVELOPER_WORDS, rendered
from test_signin_pages import everything_sent, signed_in, visit

from pilot_health.access import Person
from pilot_health.demo.portfolio import DEMO_NOW
from pilot_health.reports.alerts import run_alerts, subscribe, subscriptions
from pilot_health.reports.notify import AlertSettings

PAGE = "pages/10_Alerts.py"
ANN = Person("ann@example.com", "admin", None, signed_in=True)


def readable(markdown: str) -> str:
    """A label as a person reads it (backslash escapes and invisible word joiners removed)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def test_a_viewer_subscribes_their_own_address_and_sees_no_log(demo_store, signin_env, monkeypatch, tmp_path):
    signin_env(demo_store)
    monkeypatch.setenv("PILOT_HEALTH_SECRETS", str(tmp_path / "none.toml"))
    subscribe(demo_store, "team@example.com", ["health_red"], by=ANN)
    at = visit(PAGE, signed_in("vic@example.com"))
    assert_clean(at)
    address = at.text_input(key="alert_address")
    assert address.value == "vic@example.com" and address.disabled
    at.radio(key="alert_about").set_value("One pilot")
    at.selectbox(key="alert_pilot").set_value("SC-01")
    at.multiselect(key="alert_events").set_value(["health_red", "decision_due"])
    _button(at, "Subscribe").click()
    at.run()
    assert_clean(at)
    assert texts(at.success) == [
        "Subscribed vic@example.com to the pilot SC-01. The next run after the nightly load tells of what "
        "is new from then on."
    ]
    [mine] = subscriptions(demo_store, Person("vic@example.com", "viewer"))
    assert (mine.pilot_id, mine.events) == ("SC-01", ("health_red", "decision_due"))
    assert "team@example.com" not in everything_sent(at), "a viewer sees their own subscriptions only"
    assert "What the alerts sent" not in texts(at.subheader) and not [b for b in at.button if b.label == "Preview"]


def test_a_limited_person_is_offered_only_their_units_pilots(demo_store, signin_env):
    signin_env(demo_store)
    at = visit(PAGE, signed_in("fay@example.com"))
    assert_clean(at)
    assert at.selectbox(key="alert_unit").options == ["Finance"]
    assert all(code.startswith("FN-") for code in at.selectbox(key="alert_pilot").options)


@pytest.mark.slow
def test_an_administrator_subscribes_a_team_sees_what_was_sent_and_previews_the_next_run(
    demo_store, signin_env, monkeypatch, tmp_path
):
    signin_env(demo_store)
    monkeypatch.setenv(
        "PILOT_HEALTH_SECRETS", str(tmp_path / "none.toml")
    )  # no mail server: the digest fails with a reason
    monkeypatch.setenv(
        "PILOT_HEALTH_ESCALATION_DAYS", "365"
    )  # the subscribers' digests only (escalations: tests/test_alerts.py)
    subscribe(demo_store, "ann@example.com", ["health_red"], by=ANN)
    run_alerts(demo_store, now=DEMO_NOW, settings=AlertSettings(), by=ANN, base_url="https://ph.example.com")
    at = visit(PAGE, signed_in("ann@example.com"))
    assert_clean(at)
    assert "What the alerts sent" in texts(at.subheader)
    log = next(d.value for d in at.dataframe if "status_words" in d.value.columns)
    row = log[log["shown_address"] == "ann@example.com"].iloc[0]
    assert row["status_words"] == "Not delivered yet — tried again at the next run"
    assert row["last_error"].startswith("No mail server is set up for alerts")
    words = []
    for text in (
        t for t in rendered(at)[0] if t.startswith("table cell")
    ):  # the sidebar's own help names the access file
        words += [f"{what}: {text[:120]}" for what, pattern in DEVELOPER_WORDS.items() if pattern.search(text)]
    assert not words, "the reasons an administrator reads name no file, setting or section"

    at.text_input(key="alert_address").set_value("finance-team@example.com")
    at.radio(key="alert_about").set_value("One business unit")
    at.selectbox(key="alert_unit").set_value("Finance")
    at.multiselect(key="alert_limit").set_value(["Finance"])
    _button(at, "Subscribe").click()
    at.run()
    assert_clean(at)
    team = next(s for s in subscriptions(demo_store, ANN) if s.address == "finance-team@example.com")
    assert (team.business_unit, team.limited_to, team.created_by) == ("Finance", ("Finance",), "ann@example.com")

    _button(at, "Preview").click()
    at.run()
    assert_clean(at)
    [summary] = [t for t in texts(at.info) if t.startswith("Dry run")]
    assert "nothing was sent or recorded" in summary and "1 earlier digest would be tried again" in summary
    retried = next(e for e in at.expander if readable(e.label).startswith("ann@example.com:"))
    assert "\\" in retried.label, "the address in the label is escaped, never a Markdown link"
    assert retried.label.endswith("(tried again)")
    assert any("No mail server is set up for alerts" in t for t in texts(retried.warning))
    assert any("Health turned Red." in str(t.value) for t in retried.text), "the digest's text, as plain text"
    with demo_store.read() as con:
        assert con.execute("SELECT count(*) FROM alert_runs").fetchone()[0] == 1, "the preview recorded nothing"


@pytest.mark.slow
def test_without_sign_in_the_address_is_typed_and_a_mistake_is_one_sentence(demo_store, app_env, monkeypatch, tmp_path):
    app_env(demo_store)
    monkeypatch.setenv("PILOT_HEALTH_SECRETS", str(tmp_path / "none.toml"))
    at = open_page(PAGE)
    assert_clean(at)
    assert at.text_input(key="alert_address").value == ""
    at.text_input(key="alert_address").set_value("not an address")
    _button(at, "Subscribe").click()
    at.run()
    assert_clean(at)
    assert texts(at.error) == [
        "Address: “not an address” is neither an e-mail address nor a webhook's address (https://…)."
    ]
    at.text_input(key="alert_address").set_value("me@example.com")
    _button(at, "Subscribe").click()
    at.run()
    assert texts(at.success)[0].startswith("Subscribed me@example.com to every pilot.")
    at.selectbox(key="alert_remove").set_value(1).run()
    _button(at, "Remove").click()
    at.run()
    assert_clean(at)
    assert subscriptions(demo_store) == []
    assert texts(at.success) == ["Removed: me@example.com is no longer told about every pilot."]
    assert "You are not subscribed" in " ".join(texts(at.caption)) or "Nobody is subscribed yet." in texts(at.caption)
