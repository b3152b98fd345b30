"""Sign-in, roles and business units in a real browser, against a real OpenID Connect provider.

One dashboard with sign-in configured (a secrets file naming the test provider of tests/oidc) and
an access file, on the demo portfolio; each test signs in, in a fresh browser, the way a colleague
does. Checked here, because only a browser shows it: that no page URL shows data before sign-in;
that a deep link comes back to its exact view after the provider's round trip; that a viewer gets
no upload or edit control; that an editor limited to Finance never sees another unit's pilot on any
page or in any download; that an administrator withdraws someone else's upload; and that the audit
page shows every action with who did it.

Skipped, with the reason printed, when Chromium or the provider (Node.js and its packages, which
`python3 run.py test` installs) is not available.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_support import ACCOUNTS as PEOPLE
from browser_support import (
    ADMIN,
    FINANCE_EDITOR,
    FIRST_RENDER_MS,
    PILOT_ID,
    RENDERED_MS,
    VIEWER,
    assert_no_errors_shown,
    download,
    finished_running,
    free_port,
    fresh_page,
    load_demo_store,
    open_expander,
    sign_in,
    sign_in_marks,
    start_dashboard,
    start_oidc_provider,
    switch_on,
    write_access_file,
    write_auth_secrets,
)

pytestmark = sign_in_marks()

ACCOUNTS = {
    **PEOPLE,
    # Fay's role comes from a claim of the provider (a group), not from her address.
    FINANCE_EDITOR: {**PEOPLE[FINANCE_EDITOR], "groups": ["pilot-health-finance-editors"]},
    "nobody@example.com": {"email": "nobody@example.com", "name": "No Body"},
}
FINANCE_EDITOR_BY_GROUP = """
[[claims]]
claim = "groups"
value = "pilot-health-finance-editors"
role = "editor"
business_units = ["Finance"]
"""
# Every page, by a link that names a pilot, and the text it draws once it is there.
PAGE_LINKS = {
    "home": ("/", "All pilots"),
    "register": ("/Pilot_register?pilot=SC-01", "Pilot register"),
    "upload": ("/Upload_data", "Uploads so far"),
    "risk": ("/Risk?pilot=SC-01", "Failure-pattern risk"),
    "alignment": ("/Alignment?pilot=RO-03", "Alignment"),
    "adoption": ("/Adoption?pilot=RO-02", "Adoption"),
    "thresholds": ("/Thresholds", "Thresholds"),
    "audit": ("/Audit_trail", "Audit trail"),
}
FINANCE_LINKS = {
    "home": ("/", "All pilots"),
    "register": ("/Pilot_register?pilot=FN-01", "Add or edit a pilot"),
    "upload": ("/Upload_data", "Uploads so far"),
    "risk": ("/Risk?pilot=FN-03&rows=true", "What to do next"),
    "alignment": ("/Alignment?pilot=FN-01", "Alignment"),
    "adoption": ("/Adoption?pilot=FN-02", "Adoption"),
    "thresholds": ("/Thresholds", "Thresholds"),
}


@pytest.fixture(scope="module")
def secured(chromium_path, tmp_path_factory):
    """The dashboard with sign-in on, and the provider; yields (dashboard, provider, finance pilot codes, others)."""
    folder = tmp_path_factory.mktemp("secured")
    db, env = load_demo_store(folder)
    access = write_access_file(folder / "access.toml", FINANCE_EDITOR_BY_GROUP)
    env = dict(env, PILOT_HEALTH_ACCESS=str(access))
    port = free_port()  # the redirect URI names the dashboard's port before either server starts
    redirect_uri = f"http://127.0.0.1:{port}/oauth2callback"
    with start_oidc_provider(folder, redirect_uri, ACCOUNTS) as provider:
        secrets_toml = write_auth_secrets(folder / "secrets.toml", provider, redirect_uri)
        with start_dashboard(folder, db, env, ["--secrets.files", str(secrets_toml)], port=port) as dashboard:
            yield dashboard, provider


@pytest.fixture(scope="module")
def units(secured):
    """Pilot codes of Finance, and of every other unit (read from the store the dashboard uses)."""
    from pilot_health.register.pilots import list_pilots
    from pilot_health.store.database import Store

    pilots = list_pilots(Store(secured[0].db))
    finance = set(pilots.loc[pilots["business_unit"] == "Finance", "pilot_id"])
    return finance, set(pilots["pilot_id"]) - finance, set(pilots["business_unit"]) - {"Finance"}


def settled(page, ready_text: str) -> None:
    """Wait until `ready_text` is drawn and Streamlit has finished running the page."""
    page.get_by_text(ready_text, exact=True).first.wait_for(state="visible", timeout=FIRST_RENDER_MS)
    finished_running(page)
    page.wait_for_timeout(300)


def signed_in_as(page, dashboard, email: str, link: str = "/", ready_text: str = "All pilots") -> None:
    """Open `link`, sign in as `email` from the sign-in screen, and wait for the page it lands on."""
    page.goto(dashboard.url + link, wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").click(timeout=FIRST_RENDER_MS)
    sign_in(page, email)
    settled(page, ready_text)


def visit(page, dashboard, link: str, ready_text: str) -> None:
    page.goto(dashboard.url + link, wait_until="domcontentloaded")
    settled(page, ready_text)


TEXT_NODES_JS = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) parts.push(walker.currentNode.textContent);
  return parts.join(" \u2502 ");
}"""


def shown_text(page) -> str:
    """Every text node on the page, one apart from the next: the sidebar, SVG chart labels and the
    table grid's accessible copy included, hidden ones too."""
    return page.evaluate(TEXT_NODES_JS)


def pilots_drawn(page) -> set[str]:
    """The pilot codes on the page once its tables and charts have drawn (they draw after the rest)."""
    for _ in range(RENDERED_MS // 250):
        codes = set(PILOT_ID.findall(shown_text(page)))
        if codes:
            page.wait_for_timeout(500)  # the rest of the charts
            return set(PILOT_ID.findall(shown_text(page)))
        page.wait_for_timeout(250)
    return set()


def _open_expanders(page) -> None:
    finished_running(page)
    expanders = page.get_by_test_id("stExpander")
    for index in range(expanders.count()):
        open_expander(page, expanders.nth(index))


def _download(page, button) -> tuple[str, bytes]:
    """Click a download button and return the file (packs are made when clicked: given more time)."""
    file = download(page, button, timeout=FIRST_RENDER_MS, attempts=2)
    return file.suggested_filename, Path(file.path()).read_bytes()


def every_download(page) -> list[tuple[str, bytes]]:
    """Click every download button on the page (those in closed expanders too) and return (file
    name, bytes) of each file. (A download does not rerun the page, so one click after another works.)"""
    _open_expanders(page)
    buttons = page.get_by_test_id("stDownloadButton")
    return [_download(page, buttons.nth(index).locator("button:visible").first) for index in range(buttons.count())]


def file_text(name: str, data: bytes) -> str:
    if name.endswith(".pdf"):
        from pypdf import PdfReader

        return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)
    return data.decode("utf-8", errors="replace")


# --- signed out -----------------------------------------------------------------------------------


def test_signed_out_no_page_url_shows_any_data(browser, secured, units, script_errors):
    from playwright.sync_api import expect

    dashboard, provider = secured
    finance, others, other_units = units
    with fresh_page(browser, [dashboard.url, provider.issuer], script_errors) as page:
        for name, (link, _) in PAGE_LINKS.items():
            page.goto(
                dashboard.url + link + ("&" if "?" in link else "?") + "bu=Finance", wait_until="domcontentloaded"
            )
            expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=FIRST_RENDER_MS)
            expect(page.get_by_text("Sign in to see the dashboard.", exact=False)).to_be_visible()
            text = shown_text(page)
            assert not PILOT_ID.findall(text), (name, PILOT_ID.findall(text))
            assert not [u for u in [*other_units, "Finance"] if u in text], name
            for element in (
                "stDataFrame",
                "stVegaLiteChart",
                "stMetric",
                "stDownloadButton",
                "stFileUploader",
                "stSidebar",
            ):
                expect(page.get_by_test_id(element), f"{element} on {link}").to_have_count(0)
        assert_no_errors_shown(page, script_errors)


def test_someone_the_access_file_does_not_know_signs_in_and_still_sees_nothing(browser, secured, script_errors):
    from playwright.sync_api import expect

    dashboard, provider = secured
    with fresh_page(browser, [dashboard.url, provider.issuer], script_errors) as page:
        page.goto(dashboard.url + "/Risk?pilot=SC-01", wait_until="domcontentloaded")
        page.get_by_role("button", name="Sign in").click(timeout=FIRST_RENDER_MS)
        sign_in(page, "nobody@example.com")
        expect(
            page.get_by_text(
                re.compile(
                    r"You are signed in as nobody\u2060?@example\.com, but Pilot Health has no role for you yet\."
                )
            )
        ).to_be_visible(timeout=FIRST_RENDER_MS)
        assert not PILOT_ID.findall(shown_text(page))
        expect(page.get_by_test_id("stDataFrame")).to_have_count(0)


# --- a deep link survives signing in ----------------------------------------------------------------


def test_a_deep_link_opened_in_a_fresh_browser_returns_to_its_exact_view_after_signing_in(
    browser, secured, script_errors
):
    from playwright.sync_api import expect

    dashboard, provider = secured
    link = "/Alignment?bu=Retail+Operations&pilot=RO-03"
    with fresh_page(browser, [dashboard.url, provider.issuer], script_errors) as page:
        page.goto(dashboard.url + link, wait_until="domcontentloaded")
        page.get_by_role("button", name="Sign in").click(timeout=FIRST_RENDER_MS)
        sign_in(page, VIEWER)
        page.wait_for_url(re.compile(r"/Alignment\?"), timeout=FIRST_RENDER_MS)
        settled(page, "Alignment")
        query = parse_qs(urlsplit(page.url).query)
        assert urlsplit(page.url).path == "/Alignment" and query == {"bu": ["Retail Operations"], "pilot": ["RO-03"]}, (
            page.url
        )
        expect(page.get_by_role("combobox", name="Pilot", exact=True)).to_have_value("RO-03", timeout=RENDERED_MS)
        sidebar = page.get_by_test_id("stSidebar")
        # (an invisible word joiner before the @ keeps Markdown from making the address a link)
        expect(
            sidebar.get_by_text(re.compile("Signed in as " + re.escape(VIEWER).replace("@", "\u2060?@")))
        ).to_be_visible()
        # The cookie that carried the link is gone: the home page stays the home page.
        page.goto(dashboard.url + "/", wait_until="domcontentloaded")
        settled(page, "All pilots")
        assert urlsplit(page.url).path == "/"
        assert_no_errors_shown(page, script_errors)


# --- viewers ---------------------------------------------------------------------------------------


def test_a_viewer_sees_every_page_but_no_upload_withdraw_or_edit_control(browser, secured, script_errors):
    from playwright.sync_api import expect

    dashboard, provider = secured
    with fresh_page(browser, [dashboard.url, provider.issuer], script_errors) as page:
        signed_in_as(page, dashboard, VIEWER)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_role("link", name="Audit trail")).to_have_count(0)
        expect(sidebar.get_by_role("link", name="Thresholds")).to_be_visible()
        for name, (link, ready) in PAGE_LINKS.items():
            visit(page, dashboard, link, ready)
            expect(page.get_by_test_id("stFileUploader"), f"an upload control on {link}").to_have_count(0)
            for control in ("Store", "Withdraw", "Save changes", "Add this pilot", "Clear demo data", "Save"):
                expect(
                    page.get_by_role("button", name=re.compile(rf"^{control}\b")), f"“{control}” on {link}"
                ).to_have_count(0)
            expect(page.get_by_role("combobox", name="Withdraw an upload")).to_have_count(0)
            expect(page.get_by_role("combobox", name="Correct a metric")).to_have_count(0)
            if name == "audit":
                expect(
                    page.get_by_text("This page is for administrators of Pilot Health; you are signed in as a viewer.")
                ).to_be_visible()
                expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
            elif name not in ("upload", "thresholds"):
                assert pilots_drawn(page), f"{link} shows no pilot to a viewer"
        assert_no_errors_shown(page, script_errors, except_saying="Health: ")


# --- a person limited to one business unit -------------------------------------------------------------


def test_a_finance_editor_never_sees_another_units_pilot_on_any_page_or_download(
    browser, secured, units, script_errors
):
    dashboard, provider = secured
    finance, others, other_units = units
    with fresh_page(browser, [dashboard.url, provider.issuer], script_errors) as page:
        signed_in_as(page, dashboard, FINANCE_EDITOR)
        assert "editor for Finance" in (page.get_by_test_id("stSidebar").text_content() or "")
        seen_downloads = 0
        for name, (link, ready) in FINANCE_LINKS.items():
            visit(page, dashboard, link, ready)
            if name == "upload":
                demo_files = page.get_by_test_id("stDataFrame").locator('[data-testid^="glide-cell-"]')
                switch_on(
                    page,
                    "Include the demo's simulated uploads",
                    shows=demo_files.filter(has_text=re.compile(r"^(metrics|usage|survey)_FN-\d{2}_")).first,
                )
            if name not in ("upload", "thresholds"):
                assert pilots_drawn(page) & finance, f"{link} shows none of Finance's pilots"
            text = shown_text(page)
            codes = set(PILOT_ID.findall(text))
            assert not codes & others, (link, sorted(codes & others))
            assert not [u for u in other_units if u in text.replace("e.g. Supply Chain", "")], link
            for file_name, data in every_download(page):
                seen_downloads += 1
                content = file_text(file_name, data)
                assert not set(PILOT_ID.findall(content)) & others, (
                    link,
                    file_name,
                    sorted(set(PILOT_ID.findall(content)) & others),
                )
                assert not [u for u in other_units if u in content], (link, file_name)
        assert seen_downloads >= 10  # tables, register and template, both steering packs …
        assert_no_errors_shown(page, script_errors, except_saying="Health: ")


# --- administrators, and the audit trail ------------------------------------------------------------------


def test_an_admin_withdraws_an_editors_upload_and_the_audit_page_shows_every_action(
    browser, secured, script_errors, tmp_path
):
    from playwright.sync_api import expect

    dashboard, provider = secured
    export = tmp_path / "fn01_live_accuracy.csv"
    export.write_text(
        "pilot_id,date,metric,environment,value\nFN-01,2026-09-07,accuracy,live,0.81\n"
        "FN-01,2026-09-14,accuracy,live,0.82\n",
        encoding="utf-8",
    )
    origins = [dashboard.url, provider.issuer]

    # The Finance editor uploads an export and edits a pilot record.
    with fresh_page(browser, origins, script_errors) as page:
        signed_in_as(page, dashboard, FINANCE_EDITOR, "/Upload_data", "Uploads so far")
        page.locator('input[type="file"]').set_input_files(str(export))
        store = page.get_by_role("button", name="Store 2 rows")
        expect(store).to_be_enabled(timeout=FIRST_RENDER_MS)
        store.click()
        receipt = page.get_by_text(re.compile(r"Stored 2 rows from fn01_live_accuracy\.csv as upload (\d+)"))
        expect(receipt).to_be_visible(timeout=FIRST_RENDER_MS)
        upload_id = re.search(r"as upload (\d+)", receipt.inner_text()).group(1)
        visit(page, dashboard, "/Pilot_register?pilot=FN-01", "Add or edit a pilot")
        owner = page.get_by_role("textbox", name=re.compile("^Owner"))
        owner.fill("Finance Ops Lead")
        owner.press("Tab")
        page.get_by_role("button", name="Save changes to FN-01").click()
        expect(page.get_by_text("Saved FN-01", exact=False)).to_be_visible(timeout=RENDERED_MS)

    # The administrator changes a threshold and withdraws the editor's upload.
    with fresh_page(browser, origins, script_errors) as page:
        signed_in_as(page, dashboard, ADMIN, "/Thresholds", "Thresholds")
        page.get_by_role("combobox", name="Setting").click()
        page.keyboard.type("Decay that is a warning")
        page.get_by_role("option", name="Shared numbers · Decay that is a warning").click()
        value = page.get_by_role("spinbutton", name="New value")
        value.fill("12")  # a share is typed in per cent on the page
        value.press("Enter")
        save = page.get_by_role("button", name="Save", exact=True)
        expect(save).to_be_enabled(timeout=RENDERED_MS)
        save.click()
        expect(page.get_by_text(re.compile(r"^1 of \d+ thresholds are set on this page"))).to_be_visible(
            timeout=RENDERED_MS
        )

        visit(page, dashboard, "/Upload_data", "Uploads so far")
        chooser = page.get_by_role("combobox", name="Withdraw an upload")
        chooser.click()
        page.keyboard.type(f"{upload_id} · ")
        page.get_by_role("option", name=re.compile(rf"^{upload_id} · fn01_live_accuracy\.csv")).click()
        page.get_by_role("button", name="Withdraw", exact=True).click()
        page.get_by_role("button", name=f"Yes, withdraw {upload_id}").click()
        expect(page.get_by_text(f"Upload {upload_id} withdrawn")).to_be_visible(timeout=RENDERED_MS)

        visit(page, dashboard, "/Audit_trail", "Audit trail")
        trail = download(page, page.get_by_role("button", name="Download the audit trail (CSV)"))
        rows = list(csv.DictReader(io.StringIO(Path(trail.path()).read_text(encoding="utf-8"))))
        assert_no_errors_shown(page, script_errors)
    actions = [(r["who"], r["action"], r["subject"]) for r in rows]
    for expected in [
        (FINANCE_EDITOR, "Upload stored", upload_id),
        (FINANCE_EDITOR, "Pilot record edited", "FN-01"),
        (ADMIN, "Threshold changed", "Decay that is a warning"),
        (ADMIN, "Upload withdrawn", upload_id),
    ]:
        assert expected in actions, (expected, actions[:8])
    edit = next(r for r in rows if r["action"] == "Pilot record edited")
    assert "owner:" in edit["detail"] and "Finance Ops Lead" in edit["detail"]
    threshold = next(r for r in rows if r["action"] == "Threshold changed")
    assert threshold["detail"] == "0.1 → 0.12" and re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", threshold["happened_at"])


def test_signing_out_leaves_nothing_on_any_page(browser, secured, script_errors):
    from playwright.sync_api import expect

    dashboard, provider = secured
    with fresh_page(browser, [dashboard.url, provider.issuer], script_errors) as page:
        signed_in_as(page, dashboard, VIEWER)
        page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
        # The provider asks whether to end its own session too (OpenID Connect's RP-initiated logout).
        confirm = page.get_by_role("button", name=re.compile(r"^Yes", re.I))
        confirm.wait_for(timeout=FIRST_RENDER_MS)
        confirm.click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=FIRST_RENDER_MS)
        assert urlsplit(page.url).netloc == urlsplit(dashboard.url).netloc
        page.goto(dashboard.url + "/Risk?pilot=SC-01", wait_until="domcontentloaded")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=FIRST_RENDER_MS)
        assert not PILOT_ID.findall(shown_text(page))
