"""What every page does first: configure the page, open the store, offer the demo on a first
run, and draw the same sidebar. In Streamlit's classic multipage mode each page runs on its own
when its URL is opened, so every page calls `page_setup()` at its top."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Iterator

import streamlit as st

from .. import demo
from ..config import Config, load_config
from ..errors import PilotHealthError
from ..formatting import plural
from ..store import Store
from . import data

if TYPE_CHECKING:
    from PIL import Image

PAGES = (
    ("app.py", "Portfolio", ":material/dashboard:"),
    ("pages/3_Risk.py", "Failure-pattern risk", ":material/warning:"),
    ("pages/4_Alignment.py", "Alignment", ":material/compare_arrows:"),
    ("pages/5_Adoption.py", "Adoption", ":material/groups:"),
    ("pages/1_Pilot_register.py", "Pilot register", ":material/list_alt:"),
    ("pages/2_Upload_data.py", "Upload data", ":material/upload_file:"),
)


@dataclass
class PageContext:
    config: Config
    store: Store
    meta: dict[str, str]
    today: date = field(default_factory=date.today)

    @property
    def version(self) -> str:
        return self.meta["version"]

    @property
    def db_path(self) -> str:
        return str(self.store.path)

    @property
    def cache_key(self) -> tuple[str, float, str]:
        """Arguments that every cached data function takes first."""
        return (self.db_path, self.store.lock_wait_seconds, self.version)

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


def _first_run(ctx: PageContext) -> None:
    if not ctx.config.demo_on_first_run or "first_run_done" in ctx.meta:
        return
    with st.status("First run: setting up a demo portfolio so you can look around …", expanded=True) as status:
        bar = st.progress(0.0)
        result = demo.first_run(ctx.store, progress=lambda share, text: bar.progress(share, text=text))
        status.update(label="Demo portfolio ready." if result else "Store ready.", state="complete", expanded=False)
    ctx.refresh()


@st.cache_resource(show_spinner=False)
def _favicon() -> "Image.Image":
    """Drawn here rather than named (a :material: icon or emoji favicon is fetched from the
    internet by the browser, which fails on machines without it)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((2, 2, 62, 62), radius=14, fill="#1b6ca8")
    draw.line([(10, 36), (22, 36), (28, 20), (36, 48), (42, 30), (54, 30)], fill="white", width=5, joint="curve")
    return image


def page_setup(title: str) -> PageContext:
    st.set_page_config(page_title=f"{title} · Pilot Health", page_icon=_favicon(), layout="wide")
    try:
        config = load_config()
        store = Store.from_config(config)
        ctx = PageContext(config=config, store=store, meta=store.meta())
        _first_run(ctx)
    except PilotHealthError as error:
        show_problem(error)
        st.stop()
    render_sidebar(ctx)
    return ctx


def render_sidebar(ctx: PageContext) -> None:
    with st.sidebar:
        st.markdown("### Pilot Health")
        st.caption("Which AI pilots are heading for the 80–90% that never reach production, and why.")
        for path, label, icon in PAGES:
            st.page_link(path, label=label, icon=icon)
        st.divider()
        if ctx.demo_loaded:
            st.warning("Demo data: made-up pilots for trying things out.", icon=":material/science:")
        try:
            counts = data.store_counts(*ctx.cache_key)
        except PilotHealthError as error:
            st.caption(str(error))
            return
        st.caption(
            f"Store: {ctx.store.path.name} · {plural(counts['pilots'], 'pilot')} · "
            f"{plural(counts['metric_observations'], 'metric row')} · {plural(counts['survey_responses'], 'survey response')} · "
            f"last change {ctx.meta.get('changed_at', '—').replace('T', ' ')} UTC",
            help=f"The DuckDB file at {ctx.store.path}. Set PILOT_HEALTH_DB to use another one.",
        )
