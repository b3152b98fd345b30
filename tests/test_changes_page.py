"""The Since last meeting page on the demo store: the summary, worst change first, links to the
risk view, the empty state, and a pinned view compared from the register's first moment."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from conftest import without_demo_meetings
from test_pages import assert_clean, open_page, texts
from test_signin_pages import everything_sent, signed_in, visit

from pilot_health.register.pilots import get_pilot, update_pilot
from pilot_health.reports import meetings
from pilot_health.reports.changes import changes_since

PAGE = "pages/9_Since_last_meeting.py"


@pytest.mark.slow
def test_the_changes_since_the_day_in_the_address_worst_first_with_links_to_the_risk_view(
    demo_store, app_env, downloads
):
    pilot = get_pilot(demo_store, "CS-01")
    update_pilot(demo_store, pilot.model_copy(update={"stage": "paused", "change_champion": "none"}))
    app_env(demo_store)
    at = open_page(PAGE, since="2026-11-19")
    assert_clean(at)
    assert at.date_input(key="since").value.isoformat() == "2026-11-19"
    assert texts(at.subheader) == [
        "1 new warning sign on Organisational Resistance, 1 stage move.",
        "Decisions due or overdue",
        "Take it to the meeting",
    ]
    assert [label for label, _ in downloads] == [
        "Download the decisions (CSV)",
        "Download the changes (CSV)",
        "Steering pack (PDF)",
        "Steering pack (HTML)",
    ]  # the demo's meetings left decisions due or overdue
    lines = texts(at.markdown)
    sign = next(i for i, line in enumerate(lines) if "New warning sign:" in line)
    stage = next(i for i, line in enumerate(lines) if "Stage moved:" in line)
    assert sign < stage, "the worst change first"
    assert lines[sign].endswith(
        "**New warning sign:** New warning sign on Organisational Resistance: Is no change champion named?"
    )
    expected = changes_since(demo_store, datetime(2026, 11, 19, 23, 59, 59))
    assert expected.changes[0].evidence in texts(at.caption), "the evidence under the warning sign"
    risk = [link.proto for link in at.get("page_link") if link.proto.label.startswith("CS-01")]
    assert [(p.page, p.query_string) for p in risk] == [("Risk", "pilot=CS-01")]


@pytest.mark.slow
def test_nothing_changed_is_said_plainly(demo_store, app_env):
    app_env(demo_store)
    at = open_page(PAGE, since="2026-11-19")
    assert_clean(at)
    assert texts(at.success) == ["Nothing changed since 19 Nov 2026: 24 pilots compared, every one as it was then."]


def test_a_pinned_view_compares_the_day_a_month_before_it_with_its_moment(demo_store, app_env):
    """The demo's register has its history (it began 26 weeks before the demo's now), so a view
    pinned at the demo's now compares with 30 days earlier: real changes, worst first."""
    app_env(demo_store)
    at = open_page(PAGE, as_of="2026-11-19T17:00:00")
    assert_clean(at)
    assert at.date_input(key="since").value.isoformat() == "2026-10-20"  # 30 days back
    assert not [t for t in texts(at.caption) if t.startswith("The register began")]
    expected = changes_since(demo_store, datetime(2026, 10, 20, 23, 59, 59), until=datetime(2026, 11, 19, 17, 0))
    assert texts(at.subheader)[0] == expected.summary and not expected.empty
    links = {link.proto.label.split(" · ")[0]: link.proto.query_string for link in at.get("page_link")}
    first = expected.pilots[0].pilot_id
    assert links[first] == f"pilot={first}&as_of=2026-11-19T17%3A00%3A00", "the risk view pinned to the same moment"


def test_a_person_limited_to_finance_sees_only_finance_changes_on_screen_and_in_the_download(
    demo_store, signin_env, downloads
):
    for code in ("CS-01", "FN-01"):
        pilot = get_pilot(demo_store, code)
        update_pilot(demo_store, pilot.model_copy(update={"stage": "paused"}))
    signin_env(demo_store)
    at = visit(PAGE, signed_in("fay@example.com"), since="2026-11-19")
    assert_clean(at)
    assert texts(at.subheader)[0] == "1 stage move."
    sent = everything_sent(at)
    assert "FN-01" in sent and "CS-01" not in sent and "Customer" not in sent
    table = [data.decode("utf-8") for label, data in downloads if label == "Download the changes (CSV)"]
    assert len(table) == 1 and "FN-01" in table[0] and "CS-01" not in table[0]


@pytest.mark.slow
def test_a_meeting_stands_for_its_moment_and_its_decisions_due_are_listed(demo_store, app_env):
    """Choosing a recorded meeting compares the numbers it reviewed with now; the committee's
    decisions due within a week or overdue are listed, the most urgent first."""
    without_demo_meetings(demo_store)  # the demo's own decisions would be listed too
    meeting = meetings.record_meeting(demo_store, date(2026, 11, 19), "November steering")
    today = datetime.now().date()
    meetings.record_decision(
        demo_store,
        "SC-01",
        meeting.meeting_id,
        "fix and review",
        "Dana",
        today + timedelta(days=3),
        conditions="Live accuracy back within 10% of the lab",
    )
    meetings.record_decision(demo_store, "FN-04", meeting.meeting_id, "pause", "Eli", date(2026, 11, 25))
    meetings.record_decision(
        demo_store, "RO-02", meeting.meeting_id, "continue", "Flo", today + timedelta(days=60)
    )  # not due yet
    pilot = get_pilot(demo_store, "CS-01")
    update_pilot(demo_store, pilot.model_copy(update={"stage": "paused"}))
    app_env(demo_store)
    at = open_page(PAGE, meeting=str(meeting.meeting_id))
    assert_clean(at)
    assert at.selectbox(key="since_meeting").value == meeting.meeting_id and at.date_input(key="since").disabled
    assert any(t.startswith("Compared with the numbers “November steering” reviewed") for t in texts(at.caption))
    expected = changes_since(demo_store, meeting.pinned_at)
    assert texts(at.subheader)[:2] == [expected.summary, "Decisions due or overdue"]
    due = at.dataframe[0].value
    assert list(due["pilot_id"]) == ["FN-04", "SC-01"] and list(due["status"]) == ["Overdue", "Due within 7 days"]
    assert list(due["decision"]) == ["Pause", "Fix and review"] and "1 overdue, 1 due within 7 days" in " ".join(
        texts(at.caption)
    )

    at.selectbox(key="since_meeting").set_value(0).run()  # back to a day: the address forgets the meeting
    assert "meeting" not in at.query_params and not at.date_input(key="since").disabled


def test_the_day_decisions_are_judged_against_is_the_page_contexts_by_the_stores_clock():
    """Since last meeting and a pilot's decisions ask the page context for the day (ctx.utc_today),
    not the store: a pinned link's day, else today's in UTC."""
    from pilot_health.store.database import utc_now
    from pilot_health.ui.page import PageContext

    pinned = PageContext(config=None, store=None, meta={}, person=None, pinned=datetime(2025, 3, 4, 23, 30))
    assert pinned.utc_today == date(2025, 3, 4)
    before = utc_now().date()
    now = PageContext(config=None, store=None, meta={}, person=None).utc_today
    assert now in {before, utc_now().date()}
