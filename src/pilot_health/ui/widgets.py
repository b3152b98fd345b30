"""Small widgets and notes used on several pages."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from pilot_health.analytics.portfolio import PortfolioFilters
from pilot_health.csv_files import frame_to_csv
from pilot_health.models import STAGE_LABELS, STAGES
from pilot_health.ui.columns import MISSING, MISSING_NOTE
from pilot_health.ui.text import md_escape

if TYPE_CHECKING:
    from pilot_health.ui.page import PageContext


def labelled(labels: Mapping[Any, str]) -> Callable[[Any], str]:
    """A select box's `format_func` that shows each option by its label (every option is a key of `labels`)."""
    return lambda option: labels[option]


def report_unknown_url_values(key: str, valid: Sequence[str], noun: str) -> list[str]:
    """Say so when a link asks for a value that does not exist (a deleted pilot, a misspelt stage).

    Streamlit drops such values from a bound widget by itself; this makes the fallback visible.
    Call it before the widget bound to `key` is drawn."""
    valid_set = set(valid)
    unknown = [v for v in st.query_params.get_all(key) if v and v not in valid_set]
    for value in unknown:
        st.warning(
            f"This link asks for the {noun} “{md_escape(value)}”, which does not exist here; it is left out.",
            icon=":material/link_off:",
        )
    return unknown


def portfolio_filters(units: Sequence[str], widths: Sequence[float] = (1, 1)) -> tuple[PortfolioFilters, list]:
    """The business-unit and stage filters every portfolio page shows, bound to `?bu=` and
    `?stage=` (a stage reads by its label in the URL, e.g. `?stage=Pilot`), in the first two of a
    row of columns of these `widths`; values a link asks for that do not exist are named in a note
    above them. Returns the filters and the row's other columns."""
    report_unknown_url_values("bu", units, "business unit")
    report_unknown_url_values("stage", [STAGE_LABELS[s] for s in STAGES], "stage")
    unit_column, stage_column, *others = st.columns(list(widths))
    chosen_units = unit_column.multiselect(
        "Business unit", list(units), key="bu", bind="query-params", placeholder="All business units"
    )
    chosen_stages = stage_column.multiselect(
        "Stage", list(STAGES), format_func=STAGE_LABELS.get, key="stage", bind="query-params", placeholder="All stages"
    )
    return PortfolioFilters(tuple(chosen_units), tuple(chosen_stages)), others


def filtered_portfolio(table: pd.DataFrame, widths: Sequence[float] = (1, 1)) -> tuple[pd.DataFrame, list]:
    """The business-unit and stage filters over a portfolio table (one row per pilot) and the rows
    they keep, with the row's other columns; says so and stops the page when there are no pilots
    or none match."""
    if table.empty:
        st.info(
            "There are no pilots yet. Add pilots on the Pilot register page, or upload a register.",
            icon=":material/inbox:",
        )
        st.stop()
    filters, others = portfolio_filters(sorted(table["business_unit"].unique()), widths)
    shown = filters.apply(table)
    if shown.empty:
        st.info("No pilot matches these filters.", icon=":material/filter_alt_off:")
        st.stop()
    return shown, others


def pilot_picker(
    order: Sequence[str],
    placeholder: str = "Choose a pilot",
    help_text: str = "The pilot's code, worst first. The choice is part of the page's address.",
) -> str | None:
    """The pilot chooser under a portfolio table, bound to `?pilot=`; a pilot a link asks for that
    is not in the table (deleted, or filtered out) is named in a note above it."""
    report_unknown_url_values("pilot", order, "pilot")
    return st.selectbox(
        "Pilot", list(order), index=None, key="pilot", bind="query-params", placeholder=placeholder, help=help_text
    )


def details_table(
    title: str, frame: pd.DataFrame, key: str, file_name: str, label: str, column_config: dict, height: int
) -> None:
    """A table's second half, in an expander under it (what does not fit beside the sidebar), with
    its own download: the numbers behind the main table's verdicts."""
    with st.expander(title):
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            height=height,
            key=key,
            placeholder="–",
            column_config=column_config,
        )
        st.download_button(
            label,
            partial(frame_to_csv, frame),
            file_name=file_name,
            mime="text/csv",
            icon=":material/download:",
            key=f"download_{key}",
            type="tertiary",
            on_click="ignore",
        )


def data_table(
    frame: pd.DataFrame,
    key: str,
    file_name: str,
    *,
    label: str = "Download (CSV)",
    missing_note: bool = True,
    download: pd.DataFrame | None = None,
    **dataframe_options,
) -> None:
    """A table with its own CSV download under it: every table can be taken out, with cells a
    spreadsheet would run as formulas neutralised (the grid's built-in export is switched off in
    .streamlit/config.toml because it does not do that). A missing value reads “—” (never “None”),
    and a short note under a table that has any says what it means (`missing_note=False`: the page
    says it itself; `download`: what the download holds when the table shows only its first rows)."""
    dataframe_options.setdefault("placeholder", MISSING)
    st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}.table", **dataframe_options)
    if missing_note and _has_missing(frame, dataframe_options.get("column_order")):
        st.caption(MISSING_NOTE)
    st.download_button(
        label,
        frame_to_csv(frame if download is None else download),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        key=f"{key}.download",
        type="tertiary",
        on_click="ignore",
    )


def _has_missing(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> bool:
    shown = frame[[c for c in columns if c in frame.columns]] if columns else frame
    return bool(len(shown)) and bool(shown.isna().to_numpy().any())


def pack_since(ctx: PageContext) -> tuple[datetime | None, str]:
    """The previous moment a page's steering packs compare with in their "Since last meeting"
    section, and a caption that names it: the meeting (?meeting=ID) or the day (?since=YYYY-MM-DD)
    the address asks for, else the last meeting recorded before the page's moment; (None, "") when
    there is none. A moment before the register began is taken from its beginning."""
    from datetime import date as _date

    from pilot_health.formatting import moment
    from pilot_health.reports.changes import since_moment
    from pilot_health.reports.meetings import last_meeting
    from pilot_health.reports.results import KEEPER
    from pilot_health.ui import data

    until = ctx.pinned or KEEPER.moment(ctx.store, version=ctx.version)
    first = data.first_record_at(*ctx.cache_key)
    if first is None or first >= until:
        return None, ""
    held = data.meetings(*ctx.cache_key, ctx.pinned)
    asked, day = st.query_params.get("meeting", ""), st.query_params.get("since", "")
    chosen = next((m for m in held if asked.isdigit() and m.meeting_id == int(asked) and m.pinned_at < until), None)
    if chosen is None and day:
        try:
            since, _ = since_moment(_date.fromisoformat(day), first, until)
        except ValueError:
            since = None
        if since is not None:
            return (
                since,
                f"The packs' “Since last meeting” section compares with {moment(since)}, the day in the page's address.",
            )
    chosen = chosen or last_meeting(held, until)
    if chosen is None:
        return None, ""
    since = max(chosen.pinned_at, first)
    return since, (
        f"The packs' “Since last meeting” section compares with the numbers the last meeting, "
        f"“{md_escape(chosen.title)}” ({chosen.held_on:%d %b %Y}), reviewed: {moment(since)}."
    )


def steering_pack_downloads(store, base_url: str, pinned, pilot_id: str | None, key: str, since=None) -> None:
    """PDF and HTML downloads of the steering pack (one pilot's page, or the portfolio's when
    `pilot_id` is None), made only when a button is clicked (a PDF takes a second or two); with
    `since`, the pack has a "Since last meeting" section.
    `base_url` is the address the dashboard was opened with; the pack links to the configured
    public address instead when there is one, and a caption says so when its links would only
    work on this computer."""
    from pilot_health.config import SETTINGS, load_config
    from pilot_health.reports.steering_pack import export, file_name, links_base
    from pilot_health.store.database import utc_now

    public_url = load_config().public_url
    default = next(s.default for s in SETTINGS if s.env == "PILOT_HEALTH_PUBLIC_URL").rstrip("/")
    base_url, local = links_base(base_url, public_url, public_url != default)
    what = pilot_id or "portfolio"
    moment = pinned or utc_now()
    paper_column, pdf_column, html_column, note_column = st.columns([1, 1.3, 1.3, 2], vertical_alignment="bottom")
    paper = paper_column.selectbox(
        "Paper", ["A4", "Letter"], key=f"{key}.paper", help="The PDF's paper size; the HTML file prints on either."
    )

    def make(fmt: str):
        return lambda: export(
            store, pilot_id=pilot_id, fmt=fmt, base_url=base_url, pinned=pinned, paper=paper.lower(), since=since
        )[0]

    pdf_column.download_button(
        "Steering pack (PDF)",
        make("pdf"),
        file_name=file_name(what, "pdf", moment),
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        key=f"{key}.pdf",
        help="A printable summary" + (" of this pilot on one page" if pilot_id else " of the portfolio") + ".",
        on_click="ignore",
    )
    html_column.download_button(
        "Steering pack (HTML)",
        make("html"),
        file_name=file_name(what, "html", moment),
        mime="text/html",
        icon=":material/description:",
        key=f"{key}.html",
        help="The same summary as one web page that opens without a network connection.",
        on_click="ignore",
    )
    if local:
        note_column.caption(
            "Links in the pack point to this computer, so colleagues cannot open them; ask your administrator "
            "to set the dashboard's public address.",
            help="The pack's “Live view” link opens the dashboard at the address it was opened with here, which "
            "only works on the computer the dashboard runs on.",
        )
