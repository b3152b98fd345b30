"""Cached page data. Every cache is keyed on the store version, which changes with every write,
so a page never shows numbers older than the store (and never hashes a large DataFrame), and on
the store's key, which names the business units a limited person is narrowed to, so nobody is ever
served numbers cached for someone who sees more. The portfolio frame and every pilot's risk,
alignment and adoption come from the process-wide results keeper (`pilot_health.reports.results`): each
pilot computed once per change of its data, one computation however many visitors miss at once,
and no copy per view. A pinned view's moment is part of every key too,
and its numbers are computed with the thresholds in force at that moment (`catalogue_for(store, pinned)`)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import streamlit as st

from pilot_health.register.pilots import list_pilots
from pilot_health.store import queries
from pilot_health.store.database import Store


def portfolio_frame(
    store_key: tuple, version: str, today: date, stale_after_days: int, pinned: datetime | None = None
) -> pd.DataFrame:
    """The home page's frame: computed once per store version for everyone (the results keeper,
    `pilot_health.reports.results`) and narrowed to the person's units; a shared frame, never changed in place."""
    from pilot_health.reports.results import KEEPER

    return KEEPER.portfolio(Store.from_key(store_key), version, today, stale_after_days, pinned)


@st.cache_data(show_spinner=False, max_entries=32)
def store_counts(store_key: tuple, version: str) -> dict[str, int]:
    with Store.from_key(store_key).read() as con:
        return queries.table_counts(con)


@st.cache_data(show_spinner="Reading the pilot register …", max_entries=32)
def pilot_register(store_key: tuple, version: str, pinned: datetime | None = None) -> pd.DataFrame:
    return list_pilots(Store.from_key(store_key), pinned)


@st.cache_data(show_spinner=False, max_entries=32)
def uploads(store_key: tuple, version: str, include_demo: bool) -> pd.DataFrame:
    from pilot_health.ingest import upload_history

    return upload_history(Store.from_key(store_key), include_demo)


@st.cache_data(show_spinner=False, max_entries=32)
def next_waves(store_key: tuple, version: str) -> dict[str, int]:
    with Store.from_key(store_key).read() as con:
        return queries.next_waves(con)


def risk_results(store_key: tuple, version: str, rules: str, today: date, pinned: datetime | None = None):
    """Every pilot's risk, now (`results.now_moment`: this instant, kept as the day's end) or at a pinned link's
    moment, with the records and thresholds as they were then. Each pilot is scored once per change
    of its data and shared by every visitor (`pilot_health.reports.results`); the keeper reads the
    catalogue's fingerprint itself, `rules` is kept for the callers."""
    from pilot_health.reports.results import KEEPER

    return KEEPER.risk(Store.from_key(store_key), version, today, pinned)


@st.cache_data(show_spinner=False, max_entries=64)
def risk_detail(
    store_key: tuple, version: str, rules: str, as_of: datetime, pilot_id: str, pinned: datetime | None = None
):
    """One pilot's risk at the moment the portfolio was scored, with the data rows behind each signal."""
    from pilot_health.analytics.risk import assess
    from pilot_health.rules.thresholds import catalogue_for

    store = Store.from_key(store_key)
    found = assess(store, as_of, [pilot_id], catalogue=catalogue_for(store, pinned), with_rows=True, records_at=pinned)
    return found[0] if found else None


@st.cache_data(show_spinner="Scoring month by month …", max_entries=64)
def risk_trend(
    store_key: tuple, version: str, rules: str, today: date, pilot_id: str, pinned: datetime | None = None
) -> pd.DataFrame:
    """A pilot's scores month by month; a pinned view scores every month with the thresholds in force at its moment."""
    from pilot_health.analytics.risk import risk_trend as trend
    from pilot_health.rules.thresholds import catalogue_for

    store = Store.from_key(store_key)
    return trend(store, pilot_id, catalogue=catalogue_for(store, pinned), today=today, records_at=pinned)


@st.cache_data(show_spinner=False, max_entries=16)
def catalogue(store_key: tuple, version: str, rules: str, pinned: datetime | None = None):
    """The signal catalogue in force: the file with the thresholds set in the dashboard (now, or
    those in force at a pinned link's moment)."""
    from pilot_health.rules.thresholds import catalogue_for

    return catalogue_for(Store.from_key(store_key), pinned)


def rules_fingerprint() -> str:
    """The signal catalogue's and the metric dictionary's fingerprints: editing either counts."""
    from pilot_health.rules.catalogue import load_catalogue
    from pilot_health.rules.metric_dictionary import load_metric_dictionary

    return f"{load_catalogue().fingerprint}-{load_metric_dictionary().fingerprint}"


def alignment_rows(store_key: tuple, version: str, rules: str, today: date, pinned: datetime | None = None):
    """Every pilot's alignment, worst first, as of the same moment as the risk scores (shared results)."""
    from pilot_health.reports.results import KEEPER

    return KEEPER.alignment(Store.from_key(store_key), version, today, pinned)


@st.cache_data(show_spinner=False, max_entries=64)
def alignment_detail(
    store_key: tuple, version: str, rules: str, as_of: datetime, pilot_id: str, pinned: datetime | None = None
):
    """One pilot's numbers and every technical metric's chart data, as of the portfolio's moment
    (`alignment_report.alignment_detail`), once per store version."""
    from pilot_health.reports.alignment_report import alignment_detail as detail

    return detail(Store.from_key(store_key), as_of, pilot_id, records_at=pinned)


@st.cache_data(show_spinner=False, max_entries=16)
def metrics_in_use(store_key: tuple, version: str, rules: str) -> pd.DataFrame:
    from pilot_health.rules.metric_dictionary import metrics_in_use as in_use

    return in_use(Store.from_key(store_key))


def adoption_table(
    store_key: tuple, version: str, rules: str, today: date, pinned: datetime | None = None
) -> tuple[pd.DataFrame, datetime | None]:
    """The portfolio table (worst first) and the moment it was computed for, from the shared
    per-pilot results (a shared frame: never changed in place)."""
    from pilot_health.reports.results import KEEPER

    return KEEPER.adoption_table(Store.from_key(store_key), version, today, pinned)


@st.cache_data(show_spinner=False, max_entries=64)
def adoption_detail(
    store_key: tuple, version: str, rules: str, as_of: datetime, pilot_id: str, pinned: datetime | None = None
):
    """One pilot's adoption (every wave, usage) as of the portfolio's moment; anonymity already applied."""
    from pilot_health.reports.adoption_report import portfolio_adoption
    from pilot_health.rules.thresholds import catalogue_for

    store = Store.from_key(store_key)
    found = portfolio_adoption(store, as_of, [pilot_id], catalogue=catalogue_for(store, pinned), records_at=pinned)
    return found[0] if found else None


@st.cache_data(show_spinner=False, max_entries=16)
def audit_trail(store_key: tuple, version: str, pinned: datetime | None = None) -> pd.DataFrame:
    with Store.from_key(store_key).read() as con:
        return queries.audit_entries(con, pinned)


@st.cache_data(show_spinner=False, max_entries=256)
def chart_spec(view: tuple, _build) -> dict:
    """A chart's Vega-Lite spec (for `st.vega_lite_chart`), built once per view instead of on every
    rerun: building an Altair chart and validating its spec costs tens of milliseconds a chart.
    `view` names the chart and everything its data depends on — the page's `cache_key` (store,
    person's scope, version), the day, a pinned moment, the filters — so a write or another filter
    builds it again; `_build` makes the chart when it is not cached."""
    return _build().to_dict()


@st.cache_data(show_spinner=False, max_entries=16)
def risk_heatmap_frame(
    store_key: tuple, version: str, rules: str, today: date, pinned: datetime | None = None
) -> pd.DataFrame:
    """Every pilot's five scores as one frame (`risk.heatmap_frame` of `risk_results`), made once per
    store version instead of from 500 results on every view of the risk page."""
    from pilot_health.analytics.risk import heatmap_frame

    return heatmap_frame(risk_results(store_key, version, rules, today, pinned))


@st.cache_resource(show_spinner=False, max_entries=64)
def arrow_table(view: tuple, _build):
    """A large table as the Arrow table `st.dataframe` sends, made once per view and shared by every
    session without a copy (Arrow tables cannot be changed): converting 500 pilots' rows from pandas
    on every view cost a quarter of the home page's time in a meeting's burst. `view` names the table
    and everything its rows depend on (the page's `cache_key`, day, pinned moment, filters)."""
    import pyarrow as pa

    return pa.Table.from_pandas(_build(), preserve_index=False)


@st.cache_data(show_spinner="Comparing the two moments …", max_entries=32)
def changes_since(store_key: tuple, version: str, since: datetime, until: datetime | None = None):
    """What changed between the pinned view at `since` and now (or `until`): `changes.changes_since`,
    whose numbers at both moments come from the results keeper."""
    from pilot_health.reports.changes import changes_since as compare

    return compare(Store.from_key(store_key), since, until, version=version)


@st.cache_data(show_spinner=False, max_entries=32)
def first_record_at(store_key: tuple, version: str) -> datetime | None:
    from pilot_health.reports.changes import earliest

    return earliest(Store.from_key(store_key))


@st.cache_data(show_spinner=False, max_entries=64)
def decisions(store_key: tuple, version: str, as_of: datetime | None, pilot_ids: tuple[str, ...] | None, day: date):
    """`meetings.decisions`, once per store version and day for every session (a pilot's risk view
    and Since last meeting ask on every view). `day` is only part of the key: statuses are counted
    on it, so "due" turns "overdue" at midnight without a write."""
    from pilot_health.reports.meetings import decisions as found

    return found(Store.from_key(store_key), as_of, list(pilot_ids) if pilot_ids is not None else None)


@st.cache_data(show_spinner=False, max_entries=32)
def meetings(store_key: tuple, version: str, as_of: datetime | None):
    """`meetings.meetings`, once per store version for every session."""
    from pilot_health.reports.meetings import meetings as found

    return found(Store.from_key(store_key), as_of)
