"""Sign-in, roles and business units on the real pages, through AppTest: with sign-in configured no
page shows anything before sign-in; a viewer gets no upload or edit controls; a person limited to a
business unit sees no other unit's pilot in anything a page sends to the browser or offers for
download; administrators withdraw anyone's upload and change thresholds; a laptop without sign-in
says it is open, and refuses to show data when it listens beyond the machine."""

from __future__ import annotations

import csv
import io
import re

import pytest
from streamlit.testing.v1 import AppTest
from test_pages import HOME, assert_clean, texts

from pilot_health.ingest import IngestOptions, ingest
from pilot_health.register.pilots import list_pilots
from pilot_health.store import queries

PAGES = [
    None,
    "pages/1_Pilot_register.py",
    "pages/2_Upload_data.py",
    "pages/3_Risk.py",
    "pages/4_Alignment.py",
    "pages/5_Adoption.py",
    "pages/6_Audit_trail.py",
    "pages/7_Thresholds.py",
    "pages/9_Since_last_meeting.py",
    "pages/10_Alerts.py",
]
PAGE_IDS = [p.split("/")[-1] if p else "home" for p in PAGES]
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret-only-for-these-tests",
    "client_id": "pilot-health",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "http://localhost:9/.well-known/openid-configuration",
}
PILOT_CODE = re.compile(r"\b[A-Z]{2}-\d{2}\b")


def signed_in(email: str) -> dict:
    return {"is_logged_in": True, "email": email, "email_verified": True, "name": email.split("@")[0].title()}


def visit(page: str | None, user: dict | None, **query) -> AppTest:
    """A fresh visit to `page` by `user` (None: sign-in not configured at all)."""
    at = AppTest.from_file(HOME, default_timeout=120)
    if user is not None:
        at.secrets["auth"] = AUTH
        at.user = user
    if page:
        at.switch_page(page)
    at.query_params.update(query)
    return at.run()


def everything_sent(at: AppTest) -> str:
    """Every element the page sent to the browser, as protobuf text: labels, values, options, help,
    and the Arrow bytes of tables and chart data (whose strings are plain UTF-8 in them)."""
    found: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            found.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(found)


def buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


# -- signed out ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_signed_out_every_page_shows_only_the_sign_in_screen(demo_store, signin_env, page):
    signin_env(demo_store)
    at = visit(page, {"is_logged_in": False}, pilot="SC-01", bu="Finance")
    assert_clean(at)
    assert buttons(at) == ["Sign in"]
    assert any("Sign in to see the dashboard" in t for t in texts(at.info))
    sent = everything_sent(at)
    assert not PILOT_CODE.search(sent), PILOT_CODE.findall(sent)[:5]
    for private in ("Fresh produce", "Supply Chain", "Finance", "Budget", "Store:", "demo"):
        assert private not in sent, private
    assert not at.dataframe and not at.metric and not len(at.sidebar), "no data, no sidebar, no page list"


def test_a_signed_in_person_without_a_role_is_told_whom_to_ask_and_sees_nothing(demo_store, signin_env):
    signin_env(demo_store)
    at = visit("pages/3_Risk.py", signed_in("zed@example.com"))
    assert_clean(at)
    assert texts(at.warning) == [
        "You are signed in as zed@example.com, but Pilot Health has no role for you yet. Ask an administrator "
        "of Pilot Health to add you to its access file; you can then reload this page."
    ]
    assert buttons(at) == ["Sign out"] and not PILOT_CODE.search(everything_sent(at))


def test_a_mistake_in_the_access_file_is_one_sentence_on_every_page(demo_store, app_env, monkeypatch, tmp_path):
    app_env(demo_store)
    broken = tmp_path / "access.toml"
    broken.write_text('[[people]]\nemail = "ann@example.com"\nrole = "owner"\n', encoding="utf-8")
    monkeypatch.setenv("PILOT_HEALTH_ACCESS", str(broken))
    at = visit(None, signed_in("ann@example.com"))
    assert_clean(at)
    [error] = texts(at.error)
    assert str(broken) in error and "people.0.role" in error and not at.dataframe


# -- viewers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_a_viewer_sees_the_pages_but_no_upload_withdraw_or_edit_control(demo_store, signin_env, page):
    signin_env(demo_store)
    at = visit(page, signed_in("vic@example.com"), pilot="SC-01")
    assert_clean(at)
    store_changing = {
        "Store",
        "Withdraw",
        "Add this pilot",
        "Save changes",
        "Clear demo data",
        "Load the demo portfolio",
        "Save",
    }
    assert not [b for b in buttons(at) if any(b.startswith(word) for word in store_changing)], buttons(at)
    assert not at.get("file_uploader") and not at.data_editor
    assert not [s for s in at.selectbox if s.label in ("Withdraw an upload", "Correct a metric")]
    assert not [t for t in at.text_input if t.key and t.key.startswith("pilot_form.")]
    sidebar = [e.proto.label for e in at.sidebar if e.type == "page_link"]
    assert "Audit trail" not in sidebar and "Thresholds" in sidebar
    assert any("vic@example.com" in t and "viewer" in t for t in texts(at.sidebar.caption))
    if page == "pages/6_Audit_trail.py":
        assert texts(at.info) == ["This page is for administrators of Pilot Health; you are signed in as a viewer."]
        assert not at.dataframe
    elif page == "pages/1_Pilot_register.py":
        assert len(at.dataframe[0].value) == 24
        assert "adding and editing pilots needs the editor role" in " ".join(texts(at.info))
    elif page == "pages/2_Upload_data.py":
        assert "uploading and withdrawing data needs the editor role" in " ".join(texts(at.info))
    elif page is None:
        assert at.metric


# -- a person limited to one business unit -------------------------------------------------------------

FINANCE_VISITS = [
    (None, {}),
    ("pages/1_Pilot_register.py", {"pilot": "FN-01"}),
    ("pages/2_Upload_data.py", {}),
    ("pages/3_Risk.py", {"pilot": "FN-03", "rows": "true"}),
    ("pages/4_Alignment.py", {"pilot": "FN-01"}),
    ("pages/5_Adoption.py", {"pilot": "FN-02"}),
    ("pages/7_Thresholds.py", {}),
]


@pytest.mark.parametrize(
    "page, query", FINANCE_VISITS, ids=[p.split("/")[-1] if p else "home" for p, _ in FINANCE_VISITS]
)
def test_a_finance_editor_never_sees_another_units_pilot_on_a_page_or_in_a_download(
    demo_store, signin_env, downloads, page, query
):
    signin_env(demo_store)
    pilots = list_pilots(demo_store)
    finance = set(pilots.loc[pilots["business_unit"] == "Finance", "pilot_id"])
    others = set(pilots["pilot_id"]) - finance
    other_units = set(pilots["business_unit"]) - {"Finance"}
    at = visit(page, signed_in("fay@example.com"), **query)
    if page == "pages/2_Upload_data.py":
        at.toggle(key="history_demo").set_value(True).run()  # the demo's uploads are the history here
    assert_clean(at)
    sent = everything_sent(at).replace("e.g. Supply Chain", "")  # the register form's help text for the unit field
    assert set(PILOT_CODE.findall(sent)) & others == set(), sorted(set(PILOT_CODE.findall(sent)) & others)
    assert [u for u in other_units if u in sent] == []
    if page not in ("pages/2_Upload_data.py", "pages/7_Thresholds.py"):
        assert set(PILOT_CODE.findall(sent)) & finance, "the unit's own pilots are shown"
    assert downloads, "the page offers its tables for download"
    for label, data in downloads:
        text = data.decode("utf-8")
        assert not set(PILOT_CODE.findall(text)) & others, (label, sorted(set(PILOT_CODE.findall(text)) & others))
        assert [u for u in other_units if u in text] == [], label


def test_a_link_to_another_units_pilot_shows_a_limited_person_nothing_of_it(demo_store, signin_env):
    signin_env(demo_store)
    at = visit("pages/3_Risk.py", signed_in("fay@example.com"), pilot="RO-01")
    assert_clean(at)
    assert any("the pilot “RO-01”, which does not exist here" in t for t in texts(at.warning))
    sent = everything_sent(at)
    assert "Retail" not in sent and set(PILOT_CODE.findall(sent)) - {"RO-01"} <= {f"FN-0{i}" for i in range(1, 6)}


def test_the_home_page_tells_a_limited_person_what_they_see(demo_store, signin_env):
    signin_env(demo_store)
    at = visit(None, signed_in("fay@example.com"))
    shown = next(m for m in at.metric if m.label == "Pilots shown")
    assert shown.value == "5 pilots" and "You see only the pilots of Finance" in shown.proto.help
    assert any("fay@example.com" in t and "editor for Finance" in t for t in texts(at.sidebar.caption))


# -- administrators -------------------------------------------------------------------------------------


def test_an_administrator_withdraws_an_upload_someone_else_made(demo_store, signin_env):
    data = b"pilot_id,date,metric,value\nFN-01,2026-05-01,accuracy,0.9\n"
    theirs = ingest(
        demo_store, data, "fay.csv", IngestOptions(environment="live", uploaded_by="fay@example.com"), commit=True
    )
    signin_env(demo_store)
    # The editor is offered only her own upload to withdraw.
    fay = visit("pages/2_Upload_data.py", signed_in("fay@example.com"))
    fay.toggle(key="history_demo").set_value(True).run()
    assert fay.selectbox(key="withdraw_choice").options == [
        f"{theirs.upload_id} · fay.csv · {theirs_day(demo_store, theirs.upload_id)}"
    ]
    at = visit("pages/2_Upload_data.py", signed_in("ann@example.com"))
    at.toggle(key="history_demo").set_value(True).run()
    assert len(at.selectbox(key="withdraw_choice").options) > 100  # every upload in force, the demo's too
    at.selectbox(key="withdraw_choice").set_value(theirs.upload_id).run()
    at.button(key="withdraw_button").click().run()
    at.button(key="confirm_withdraw_button").click().run()
    assert_clean(at)
    with demo_store.read() as con:
        assert queries.fetch_upload(con, theirs.upload_id)["withdrawn_at"] is not None
        line = queries.audit_entries(con).iloc[0]
    assert (line["who"], line["action"], line["subject"]) == ("ann@example.com", "withdraw", str(theirs.upload_id))
    audit = visit("pages/6_Audit_trail.py", signed_in("ann@example.com"))
    assert list(audit.dataframe[0].value["who"][:2]) == ["ann@example.com", "fay@example.com"]


def theirs_day(store, upload_id: int) -> str:
    with store.read() as con:
        return f"{queries.fetch_upload(con, upload_id)['uploaded_at']:%Y-%m-%d}"


def test_an_administrator_changes_a_threshold_on_the_page_and_the_trail_says_so(demo_store, signin_env):
    signin_env(demo_store)
    at = visit("pages/7_Thresholds.py", signed_in("ann@example.com"))
    assert_clean(at)
    at.selectbox(key="threshold_key").set_value("analysis.decay_critical").run()
    at.number_input(key="threshold_value.analysis.decay_critical").set_value(5).run()  # typed as a per cent
    at.button(key="threshold_save").click().run()  # below the warning level: the catalogue's rule refuses it
    [problem] = texts(at.error)
    assert (
        problem.startswith("Not saved: ")
        and "“Decay that is critical” must be at least “Decay that is a warning”" in problem
    )
    at.number_input(key="threshold_value.analysis.decay_critical").set_value(25).run()
    at.button(key="threshold_save").click().run()
    assert_clean(at)
    assert not at.error and any(t.startswith("1 of ") and "set on this page" in t for t in texts(at.caption))
    with demo_store.read() as con:
        assert queries.threshold_overrides(con)["analysis.decay_critical"]["value"] == 0.25
        line = queries.audit_entries(con).iloc[0]
    assert (line["who"], line["action"], line["subject"], line["detail"]) == (
        "ann@example.com",
        "threshold_change",
        "analysis.decay_critical",
        "0.2 → 0.25",
    )
    table = next(t.value for t in at.dataframe if "analysis.decay_critical" in set(t.value["key"]))
    row = table.set_index("key").loc["analysis.decay_critical"]
    assert (row["in_file"], row["in_force"], row["changed_by"]) == (0.2, 0.25, "ann@example.com")
    assert (row["in_file_shown"], row["in_force_shown"]) == ("20%", "25%")  # a share reads as a per cent
    set_here = at.dataframe[0]  # who set it and when: in its own table, above the four sections
    assert list(set_here.value["key"]) == ["analysis.decay_critical"] and "changed_by" in set_here.proto.column_order
    assert not any("changed_by" in t.proto.column_order for t in at.dataframe[1:])
    risk = visit("pages/3_Risk.py", signed_in("vic@example.com"))
    assert any("with 1 threshold set on the Thresholds page" in t for t in texts(risk.caption))
    at.button(key="thresholds_reset").click().run()
    with demo_store.read() as con:
        assert queries.threshold_overrides(con) == {}


def test_a_viewer_reads_the_thresholds_and_can_download_them(demo_store, signin_env, downloads):
    signin_env(demo_store)
    at = visit("pages/7_Thresholds.py", signed_in("vic@example.com"))
    assert_clean(at)
    assert len(at.dataframe) == 4 and not [s for s in at.selectbox if s.key == "threshold_key"]
    assert any("Only administrators can change them" in t for t in texts(at.caption))
    rows = {r["key"]: r for label, data in downloads for r in csv.DictReader(io.StringIO(data.decode("utf-8")))}
    assert "signals.live_decay" in rows and "analysis.decay_critical" in rows
    assert (
        rows["analysis.participation_warning"]["in_force"] == "0.6"
        and "in_force_shown" not in rows["analysis.participation_warning"]
    )
    assert any("60%" in set(t.value["in_force_shown"]) for t in at.dataframe)  # the screen reads it as a per cent


# -- no sign-in (a laptop) --------------------------------------------------------------------------------


def test_without_sign_in_the_sidebar_says_open_access_local_use(demo_store, app_env):
    app_env(demo_store)
    at = visit(None, None)
    assert_clean(at)
    assert any(t.startswith("Open access — local use.") for t in texts(at.sidebar.info))
    assert "Sign out" not in buttons(at) and at.metric


def test_without_sign_in_a_dashboard_listening_beyond_the_machine_shows_nothing(demo_store, app_env, monkeypatch):
    from streamlit import config as streamlit_config

    app_env(demo_store)
    monkeypatch.setattr(
        streamlit_config,
        "get_option",
        lambda name, _real=streamlit_config.get_option: "0.0.0.0" if name == "server.address" else _real(name),
    )
    at = visit("pages/3_Risk.py", None)
    assert_clean(at)
    [error] = texts(at.error)
    assert error.startswith("This dashboard has no sign-in and listens on 0.0.0.0") and "PILOT_HEALTH" not in error
    assert any("PILOT_HEALTH_ALLOW_OPEN_NETWORK=yes" in t for t in texts(at.markdown)), (
        "the operator's way out is one click away"
    )
    assert not at.dataframe and not PILOT_CODE.search(everything_sent(at))
    monkeypatch.setenv("PILOT_HEALTH_ALLOW_OPEN_NETWORK", "yes")
    allowed = visit("pages/3_Risk.py", None)
    assert not allowed.error and PILOT_CODE.search(everything_sent(allowed))
