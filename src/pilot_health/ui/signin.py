"""Who is looking: sign-in with Streamlit's OpenID Connect support, or open access on a laptop.

`current_person()` runs at the top of every page (through `page_setup`), before anything is read
from the store, so no page — opened from the sidebar or from a forwarded link — shows data to
someone who has not signed in or has no role.

Streamlit's sign-in always returns to the home page. So that a deep link survives it, the sign-in
screen keeps the address it was opened at in a short-lived cookie, and the first signed-in page
sends the browser back there. Both scripts are constants of this module: nothing a user typed or
uploaded is ever part of them, and they only ever navigate within the dashboard.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NoReturn
from urllib.parse import unquote

import streamlit as st

from pilot_health.access import (
    OPEN_ACCESS_NAME,
    ROLE_LABELS,
    Person,
    is_loopback,
    load_access,
    local_administrator,
    resolve_person,
)
from pilot_health.config import Config

RETURN_COOKIE = "pilot_health_return"
_SAFE_PATH = re.compile(r"^/(?![/\\])[^\\\s]*$")  # a path on this site, never another site's address

# Keep the address this sign-in screen was opened at (path and query) for 15 minutes.
REMEMBER_VIEW_JS = f"""<script>
document.cookie = "{RETURN_COOKIE}=" + encodeURIComponent(window.location.pathname + window.location.search)
  + "; path=/; max-age=900; samesite=lax";
</script>"""
# Forget the kept address and go there (a path on this site only); on that very page already, reload it.
RETURN_TO_VIEW_JS = f"""<script>
(function () {{
  var kept = document.cookie.match(/(?:^|; ){RETURN_COOKIE}=([^;]*)/);
  document.cookie = "{RETURN_COOKIE}=; path=/; max-age=0; samesite=lax";
  var target = kept ? decodeURIComponent(kept[1]) : "";
  var here = window.location.pathname + window.location.search;
  if (/^\\/(?![\\/\\\\])/.test(target) && target !== here) window.location.replace(target);
  else window.location.reload();
}})();
</script>"""
# Forget the kept address (it named the home page, or was not a path on this site).
FORGET_VIEW_JS = f"""<script>
document.cookie = "{RETURN_COOKIE}=; path=/; max-age=0; samesite=lax";
</script>"""


def _auth_section() -> Mapping:
    if not st.secrets.load_if_toml_exists():
        return {}
    try:
        section = st.secrets.get("auth")
    except (FileNotFoundError, KeyError):
        return {}
    return section or {}


def sign_in_configured() -> bool:
    """Sign-in is on when .streamlit/secrets.toml (or a --secrets.files file) has an [auth] section."""
    return bool(_auth_section())


def providers() -> list[tuple[str | None, str]]:
    """(provider name for st.login, button label): the default provider, or each named one."""
    section = _auth_section()
    named = [name for name, value in section.items() if isinstance(value, Mapping) and "client_id" in value]
    if "client_id" in section or not named:
        return [(None, "Sign in")]
    return [(name, f"Sign in with {name.replace('-', ' ').title()}") for name in named]


def server_address() -> str:
    from streamlit import config as streamlit_config

    return str(streamlit_config.get_option("server.address") or "")


def current_person(config: Config) -> Person:
    """The person looking at this page; draws the sign-in, no-access or open-network screen and
    stops the page instead when there is nobody the page may show data to."""
    if not sign_in_configured():
        if not config.allow_open_network and not is_loopback(server_address()):
            _open_network_screen()
        return local_administrator(OPEN_ACCESS_NAME)
    if not st.user.is_logged_in:
        _sign_in_screen()
    claims = st.user.to_dict()
    person = resolve_person(load_access(config.access_path), claims)
    if person is None:
        _no_access_screen(claims)
    _return_to_the_view_asked_for()
    return person


def _screen_header() -> None:
    st.title("Pilot Health")
    st.caption("Which AI pilots are heading for the 80–90% that never reach production, and why.")


def _sign_in_screen() -> NoReturn:
    _screen_header()
    st.html(REMEMBER_VIEW_JS, unsafe_allow_javascript=True)
    st.info(
        "Sign in to see the dashboard. Pilot records, budgets and survey results are internal, so nothing is shown "
        "until you have signed in with your organisation's account. You will come back to the page you opened.",
        icon=":material/lock:",
    )
    for provider, label in providers():
        st.button(
            label,
            type="primary",
            icon=":material/login:",
            on_click=st.login,
            args=(provider,),
            key=f"sign_in.{provider or 'default'}",
        )
    st.stop()


def _no_access_screen(claims: Mapping) -> NoReturn:
    from pilot_health.access import person_name
    from pilot_health.ui.text import md_escape

    _screen_header()
    st.warning(
        f"You are signed in as {md_escape(person_name(claims))}, but Pilot Health has no role for you yet. Ask an "
        "administrator of Pilot Health to add you to its access file; you can then reload this page.",
        icon=":material/block:",
    )
    st.button("Sign out", on_click=st.logout, key="sign_out", icon=":material/logout:")
    st.stop()


def _open_network_screen() -> NoReturn:
    from pilot_health.ui.text import md_escape

    _screen_header()
    st.error(
        f"This dashboard has no sign-in and listens on {md_escape(server_address() or 'every network interface')}, so anyone "
        "who reaches it could see and change everything; it shows nothing until one of these is done: configure sign-in "
        "for the people who may use it, start it for this computer only, or allow open access on a network that only the "
        "right people reach.",
        icon=":material/gpp_bad:",
    )
    with st.expander("For the person who runs the dashboard"):
        st.markdown(
            "Configure sign-in as the access guide in the repository's documentation folder says, or start the dashboard "
            "with `--server.address 127.0.0.1`, or set `PILOT_HEALTH_ALLOW_OPEN_NETWORK=yes` when only the right people "
            "reach this network (behind a firewall or a proxy that checks who they are)."
        )
    st.stop()


def _return_to_the_view_asked_for() -> None:
    """After signing in (the browser is on the home page), go back to the view the link named."""
    kept = st.context.cookies.get(RETURN_COOKIE)
    if not isinstance(kept, str) or not kept:  # (AppTest has no cookies at all)
        return
    target = unquote(kept)
    if _SAFE_PATH.match(target) and target != "/":
        st.html(RETURN_TO_VIEW_JS, unsafe_allow_javascript=True)
        st.info("Opening the page you asked for …", icon=":material/open_in_new:")
        st.stop()
    st.html(FORGET_VIEW_JS, unsafe_allow_javascript=True)


def sidebar_identity(person: Person) -> None:
    """Who is signed in (role, business units) and Sign out; or the open-access note."""
    if not person.signed_in:
        st.info(
            "Open access — local use. There is no sign-in: everyone who can reach this dashboard sees and changes "
            "everything.",
            icon=":material/lock_open:",
        )
        return
    from pilot_health.ui.text import md_escape

    units = f" for {md_escape(person.units_text)}" if person.limited else ""
    st.caption(
        f"Signed in as **{md_escape(person.name)}** · {ROLE_LABELS[person.role]}{units}",
        help=f"Your role comes from Pilot Health's access file ({person.because}).",
    )
    st.button("Sign out", on_click=st.logout, key="sidebar_sign_out", icon=":material/logout:", type="tertiary")
