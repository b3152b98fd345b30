"""What every page does first: configure the page, find out who is looking (sign-in, role and
business units; nothing is read before that), open the store as that person may see it, offer the
demo on a first run, and draw the same sidebar. In Streamlit's classic multipage mode each page
runs on its own when its URL is opened, so every page calls `page_setup()` at its top."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import streamlit as st

from pilot_health.access import ABILITIES, ROLE_LABELS, Person
from pilot_health.config import Config, load_config
from pilot_health.demo import portfolio as demo
from pilot_health.errors import PilotHealthError, os_problem
from pilot_health.formatting import plural
from pilot_health.ingest.workspace import UPLOAD_WORK_ROOT
from pilot_health.reports.results import start_warmer
from pilot_health.store.database import Store, utc_now
from pilot_health.ui import data
from pilot_health.ui.signin import current_person, sidebar_identity
from pilot_health.ui.text import md_escape

if TYPE_CHECKING:
    from PIL import Image

# Every page: its file, its title (as the page passes it to page_setup), its icon and the ability
# needed to open it (docs/access.md); the sidebar lists the pages the person may open.
PAGES = (
    ("app.py", "Portfolio", ":material/dashboard:", "view"),
    ("pages/3_Risk.py", "Failure-pattern risk", ":material/warning:", "view"),
    ("pages/4_Alignment.py", "Alignment", ":material/compare_arrows:", "view"),
    ("pages/5_Adoption.py", "Adoption", ":material/groups:", "view"),
    ("pages/9_Since_last_meeting.py", "Since last meeting", ":material/update:", "view"),
    ("pages/10_Alerts.py", "Alerts", ":material/notifications:", "view"),
    ("pages/1_Pilot_register.py", "Pilot register", ":material/list_alt:", "view"),
    ("pages/2_Upload_data.py", "Upload data", ":material/upload_file:", "view"),
    ("pages/7_Thresholds.py", "Thresholds", ":material/tune:", "view"),
    ("pages/6_Audit_trail.py", "Audit trail", ":material/history:", "view_audit"),
    ("pages/8_Guide.py", "Guide", ":material/menu_book:", "view"),
)


@dataclass
class PageContext:
    config: Config
    store: Store  # as the person may read it: narrowed to their business units when they are limited
    meta: dict[str, str]
    person: Person
    pinned: datetime | None = None  # a pinned link's moment (UTC): everything as it was then
    today: date = field(default_factory=date.today)

    def __post_init__(self) -> None:
        if self.pinned is not None:
            self.today = self.pinned.date()

    @property
    def utc_today(self) -> date:
        """The day the view is for, by the store's clock (UTC): a pinned link's day, else today's in UTC
        (what decisions are judged due or overdue against)."""
        return (self.pinned or utc_now()).date()

    @property
    def version(self) -> str:
        return self.meta["version"]

    @property
    def db_path(self) -> str:
        """Where the store is, as messages show it (a file, or a server's address without its password)."""
        return self.store.location

    @property
    def cache_key(self) -> tuple[tuple, str]:
        """Arguments that every cached data function takes first: which store, as whom, at which version."""
        return (self.store.key, self.version)

    @property
    def demo_loaded(self) -> bool:
        return demo.demo_loaded(self.meta)

    def refresh(self) -> None:
        self.meta = self.store.meta()


def show_problem(error: PilotHealthError) -> None:
    st.error(str(error), icon=":material/error:")


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn a problem a person can act on into one sentence on the page instead of a traceback."""
    try:
        yield
    except PilotHealthError as error:
        show_problem(error)
        st.stop()
    except Exception as error:  # a full disk, a refused permission, a read-only disk: one sentence, not a crash
        sentence = os_problem(error)
        if sentence is None:
            raise
        st.error(sentence, icon=":material/error:")
        st.stop()


def _first_run(ctx: PageContext) -> None:
    if not ctx.config.demo_on_first_run or "first_run_done" in ctx.meta:
        return
    with st.status("First run: setting up a demo portfolio so you can look around …", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(share: float, text: str) -> None:
            bar.progress(share, text=text)

        result = demo.first_run(ctx.store, progress=progress)
        status.update(label="Demo portfolio ready." if result else "Store ready.", state="complete", expanded=False)
    ctx.refresh()


@st.cache_resource(show_spinner=False)
def _favicon() -> Image.Image:
    """Drawn here rather than named (a :material: icon or emoji favicon is fetched from the
    internet by the browser, which fails on machines without it)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((2, 2, 62, 62), radius=14, fill="#1b6ca8")
    draw.line([(10, 36), (22, 36), (28, 20), (36, 48), (42, 30), (54, 30)], fill="white", width=5, joint="curve")
    return image


PIN_PARAMETER = "as_of"


def parse_pin(text: str | None, now: datetime) -> tuple[datetime | None, str | None]:
    """A link's `as_of` as a moment (UTC, to the second), or why it cannot be one. A day alone means
    the end of that day; a moment in the future is refused (nothing is known about it yet)."""
    if not text:
        return None, None
    cleaned = text.strip().removesuffix("Z").replace(" ", "T")
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return (
            None,
            f"This link's as_of “{md_escape(text)}” is not a date and time (e.g. 2026-03-12T14:05:00); showing the latest data.",
        )
    offset = moment.utcoffset()  # None without a zone
    if offset is not None:
        moment = (moment - offset).replace(tzinfo=None)
    if len(cleaned) == 10:
        moment = moment.replace(hour=23, minute=59, second=59)
    moment = moment.replace(microsecond=0)
    if moment > now:
        return None, f"This link's as_of {moment:%d %B %Y %H:%M} UTC is in the future; showing the latest data."
    return moment, None


def pin_text(moment: datetime) -> str:
    """How a pinned moment is written in a link."""
    return moment.replace(microsecond=0).isoformat()


def page_setup(title: str, pinnable: bool = True) -> PageContext:
    """`title`: the page's title in PAGES (which also says what a person needs to open it);
    `pinnable`: the page can show the store as of a pinned link's moment (the upload page cannot)."""
    st.set_page_config(page_title=f"{title} · Pilot Health", page_icon=_favicon(), layout="wide")
    try:
        config = load_config()
        person = current_person(config)  # draws the sign-in screen and stops, for someone not signed in
        store = Store.from_config(config)
        store.lock_down(
            [config.db_path.parent, UPLOAD_WORK_ROOT]
        )  # the dashboard's DuckDB reads and writes nowhere else
        pinned, problem = parse_pin(st.query_params.get(PIN_PARAMETER), utc_now()) if pinnable else (None, None)
        ctx = PageContext(
            config=config, store=store.for_person(person), meta=store.meta(), person=person, pinned=pinned
        )
        start_warmer(
            store, config.warm_seconds
        )  # numbers computed ahead of visitors after each change (once per process)
        if problem:
            st.warning(problem, icon=":material/link_off:")
        if pinned is None:
            _first_run(ctx)
    except PilotHealthError as error:
        show_problem(error)
        st.stop()
    render_sidebar(ctx, pinnable)
    needs = next(ability for _, label, _, ability in PAGES if label == title)
    if not person.can(needs):
        st.title(title)
        st.info(
            f"This page is for {ROLE_LABELS[ABILITIES[needs]]}s of Pilot Health; you are signed in as a "
            f"{ROLE_LABELS[person.role]}.",
            icon=":material/lock:",
        )
        st.stop()
    if pinned is not None:
        pinned_banner(ctx)
    return ctx


def _unpin() -> None:
    st.query_params.pop(PIN_PARAMETER, None)


def pinned_banner(ctx: PageContext) -> None:
    """Say that the view is pinned, and offer the latest when the store has changed since."""
    pinned = ctx.pinned
    if pinned is None:  # the latest data: nothing to say
        return
    changed = ctx.meta.get("changed_at")
    newer = bool(changed and datetime.fromisoformat(changed) > pinned)
    text, button = st.columns([5, 1], vertical_alignment="center")
    text.info(
        f"As of {pinned:%d %B %Y %H:%M} UTC"
        + (", newer data exists — show latest." if newer else ": a pinned link; nothing has changed since."),
        icon=":material/push_pin:",
    )
    button.button(
        "Show latest",
        on_click=_unpin,
        key="show_latest",
        icon=":material/update:",
        help="The same view with the latest data (removes the pinned moment from the address).",
    )


def app_base_url(ctx: PageContext) -> str:
    """The dashboard's own address as this visitor opened it (without the page's path), for links
    in downloaded documents; the configured public address when the browser did not say."""
    url = (st.context.url or "").rstrip("/")
    if not url:
        return ctx.config.public_url
    for path, _, _, _ in PAGES:
        name = path.removeprefix("pages/").removesuffix(".py").split("_", 1)[-1]
        if path != "app.py" and url.endswith("/" + name):
            return url[: -len(name) - 1]
    return url


def share_link(base_url: str | None, moment: datetime) -> str | None:
    """The current view's address, pinned to `moment`: the page and every parameter in its URL."""
    if not base_url:
        return None
    pairs = [(key, value) for key in st.query_params if key != PIN_PARAMETER for value in st.query_params.get_all(key)]
    return f"{base_url}?{urlencode(pairs + [(PIN_PARAMETER, pin_text(moment))])}"


def render_sidebar(ctx: PageContext, pinnable: bool = True) -> None:
    with st.sidebar:
        st.markdown("### Pilot Health")
        st.caption("Which AI pilots are heading for the 80–90% that never reach production, and why.")
        for path, label, icon, ability in PAGES:
            if ctx.person.can(ability):
                st.page_link(path, label=label, icon=icon)
        st.divider()
        sidebar_identity(ctx.person)
        if pinnable:
            with st.popover("Share this view", icon=":material/share:", width="stretch"):
                moment = ctx.pinned or utc_now().replace(microsecond=0)
                link = share_link(st.context.url, moment)
                st.caption(
                    f"A link to exactly this view, pinned to {moment:%d %B %Y %H:%M} UTC: whoever opens it sees the data "
                    "as it was then, scored with the thresholds in force then, even after later uploads, withdrawals, edits or "
                    "threshold changes. Copy it with the button on its right."
                )
                if link:
                    st.code(link, language=None, wrap_lines=True)
                else:
                    st.caption(f"Add ?{PIN_PARAMETER}={pin_text(moment)} to this page's address.")
        if ctx.demo_loaded:
            st.warning("Demo data: made-up pilots for trying things out.", icon=":material/science:")
        try:
            counts = data.store_counts(*ctx.cache_key)
        except PilotHealthError as error:
            st.caption(str(error))
            return
        changed = ctx.meta.get("changed_at")
        st.caption(
            f"{plural(counts['pilots'], 'pilot')} · {plural(counts['metric_observations'], 'metric row')} · "
            f"{plural(counts['survey_responses'], 'survey response')}"
            + (f" · last change {datetime.fromisoformat(changed):%d %b %Y %H:%M} UTC" if changed else ""),
            help="What the dashboard holds, and when anything in it last changed "
            "(an upload, a withdrawal, a record edited, a threshold set).",
        )
