"""The sign-in test harness itself, end to end: Streamlit's own st.login() against the real OpenID
provider of tests/oidc, through Chromium, with a tiny app of its own (so it proves the harness, not
Pilot Health's pages). When it fails, the sign-in tests of the dashboard cannot be trusted either.

Skipped, with the reason printed, when Chromium or the provider (Node.js and its packages, which
`python3 run.py test` installs) is not available.
"""

from __future__ import annotations

import os
import textwrap

from browser_support import (
    RENDERED_MS,
    free_port,
    fresh_page,
    sign_in,
    sign_in_marks,
    start_dashboard,
    start_oidc_provider,
    write_auth_secrets,
)

pytestmark = sign_in_marks()

APP = """
import streamlit as st

if st.user.is_logged_in:
    st.write(f"Signed in as {st.user.email}")
    st.write("Groups: " + ", ".join(st.user.get("groups") or ["(none)"]))
else:
    st.button("Sign in", on_click=st.login)
"""


def test_st_login_signs_in_through_the_test_provider_with_the_accounts_claims(browser, tmp_path, script_errors):
    from playwright.sync_api import expect

    email = "ann.lee@example.com"
    script = tmp_path / "signed_in.py"
    script.write_text(textwrap.dedent(APP))
    port = free_port()  # the redirect URI names the app's port before either server starts
    redirect_uri = f"http://127.0.0.1:{port}/oauth2callback"
    accounts = {email: {"email": email, "name": "Ann Lee", "groups": ["pilot-health-editors", "finance"]}}
    with start_oidc_provider(tmp_path, redirect_uri, accounts) as provider:
        secrets_toml = write_auth_secrets(tmp_path / "secrets.toml", provider, redirect_uri)
        extra = ["--secrets.files", str(secrets_toml)]
        with (
            start_dashboard(tmp_path, None, dict(os.environ), extra, port=port, script=script) as app,
            fresh_page(browser, [app.url, provider.issuer], script_errors) as page,
        ):
            page.goto(app.url)
            page.get_by_role("button", name="Sign in").click()
            sign_in(page, email)
            expect(page.get_by_text(f"Signed in as {email}")).to_be_visible(timeout=RENDERED_MS)
            expect(page.get_by_text("Groups: pilot-health-editors, finance")).to_be_visible()
            assert page.url.startswith(app.url), page.url
            assert script_errors == [], script_errors
