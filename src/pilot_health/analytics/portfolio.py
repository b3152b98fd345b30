"""The portfolio home page's numbers: stages, time in stage, budget vs spend, data freshness.

Everything is computed here, without Streamlit, from one read of the store. `load_portfolio` is the
expensive part (it scans the data tables for each pilot's newest upload) and is cached by the page
on the store version; filtering and summarising are cheap and run on every interaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

import pandas as pd

from pilot_health.config import CANCELLATION_MONTHS, DAYS_PER_MONTH, PURGATORY_MONTHS
from pilot_health.models import STAGES, months_since
from pilot_health.store import queries
from pilot_health.store.database import Store

if TYPE_CHECKING:
    from pilot_health.analytics.risk import PilotRisk

PILOT_CLOCK_LABELS = {
    "over_18": f"past {CANCELLATION_MONTHS} months",
    "over_6": f"past {PURGATORY_MONTHS} months",
    "under_6": f"under {PURGATORY_MONTHS} months",
}
FRESHNESS_LABELS = {"fresh": "fresh", "stale": "stale", "never": "no data yet"}
PORTFOLIO_COLUMNS = (
    "pilot_id",
    "name",
    "business_unit",
    "stage",
    "stage_since",
    "months_in_stage",
    "pilot_clock",
    "budget",
    "spend_to_date",
    "spend_share",
    "over_budget",
    "last_upload_at",
    "days_since_upload",
    "freshness",
    "data_uploads",
    "data_rows",
)


@dataclass(frozen=True)
class PortfolioFilters:
    """Which pilots the home page shows; empty means all."""

    business_units: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        keep = pd.Series(True, index=frame.index)
        if self.business_units:
            keep &= frame["business_unit"].isin(self.business_units)
        if self.stages:
            keep &= frame["stage"].isin(self.stages)
        return frame[keep]

    @property
    def active(self) -> bool:
        return bool(self.business_units or self.stages)


COMMITTEE_ACTIONS = 5  # the actions a portfolio's steering pack puts first for the committee


def months_rule() -> str:
    """How months in a stage are counted, in words: "days ÷ 30.44" (`DAYS_PER_MONTH`)."""
    return f"days ÷ {DAYS_PER_MONTH:.2f}"


def pilot_clock_rule() -> str:
    """What the pilot clock's two marks mean, in words, from `PURGATORY_MONTHS` and `CANCELLATION_MONTHS`."""
    return (
        f"Past {PURGATORY_MONTHS} months without integration and change work is pilot purgatory; "
        f"past {CANCELLATION_MONTHS} months a pilot is statistically on its way to cancellation."
    )


def pilot_clock(stage: str, months_in_stage: float | None) -> str | None:
    """Where a pilot-stage pilot stands against the 6- and 18-month marks (None for other stages)."""
    if stage != "pilot" or months_in_stage is None or pd.isna(months_in_stage):
        return None
    if months_in_stage >= CANCELLATION_MONTHS:
        return "over_18"
    if months_in_stage >= PURGATORY_MONTHS:
        return "over_6"
    return "under_6"


def upload_facts(store: Store, as_of: datetime | None = None) -> pd.DataFrame:
    """Per pilot: its newest data upload in force (now, or at `as_of`), how many and how many rows.
    The one part of the home page's numbers that reads every data row; it changes only with an
    upload, a withdrawal or a removal, so the results keeper keeps it across other writes."""
    with store.read() as con:
        return queries.last_upload_per_pilot(con, as_of)


def load_portfolio(
    store: Store,
    today: date,
    stale_after_days: int,
    as_of: datetime | None = None,
    uploads: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per pilot with every number the home page shows, unfiltered: now, or as the store
    stood at `as_of` (a pinned link: records and uploads as they were then). `uploads`: what
    `upload_facts(store, as_of)` gives, when the caller has it already."""
    with store.read() as con:
        pilots = queries.fetch_pilots(con, as_of)
        if uploads is None:
            uploads = queries.last_upload_per_pilot(con, as_of)
    frame = pilots[["pilot_id", "name", "business_unit", "stage", "stage_since", "budget", "spend_to_date"]]
    frame = frame.merge(uploads, on="pilot_id", how="left")
    today_ts = pd.Timestamp(today)
    frame["months_in_stage"] = pd.Series(
        [months_since(day, today) for day in frame["stage_since"]], index=frame.index, dtype=float
    ).round(1)
    frame["pilot_clock"] = [pilot_clock(s, m) for s, m in zip(frame["stage"], frame["months_in_stage"])]
    budget = frame["budget"].astype("Float64")
    frame["spend_share"] = (frame["spend_to_date"].astype("Float64") / budget.where(budget > 0)).astype(float)
    frame["over_budget"] = frame["spend_share"] > 1
    last = pd.to_datetime(frame["last_upload_at"])
    frame["days_since_upload"] = (today_ts - last.dt.normalize()).dt.days.astype("Int64")
    frame["freshness"] = "fresh"
    frame.loc[frame["days_since_upload"].fillna(-1) > stale_after_days, "freshness"] = "stale"
    frame.loc[frame["last_upload_at"].isna(), "freshness"] = "never"
    frame["data_uploads"] = frame["data_uploads"].fillna(0).astype(int)
    frame["data_rows"] = frame["data_rows"].fillna(0).astype(int)
    stage_order = {s: i for i, s in enumerate(STAGES)}
    frame = frame.sort_values(["stage", "pilot_id"], key=lambda c: c.map(stage_order) if c.name == "stage" else c)
    return frame[list(PORTFOLIO_COLUMNS)].reset_index(drop=True)


def stage_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Pilots per stage, every stage in lifecycle order (zero included)."""
    counts = frame["stage"].value_counts()
    return pd.DataFrame({"stage": list(STAGES), "pilots": [int(counts.get(s, 0)) for s in STAGES]})


@dataclass(frozen=True)
class PortfolioSummary:
    pilots: int
    in_pilot: int
    past_purgatory: int  # pilot stage, 6 months or more
    past_cancellation: int  # pilot stage, 18 months or more
    budget_total: float
    spend_total: float
    pilots_with_budget: int
    over_budget: int
    stale: int
    never: int
    stale_after_days: int
    business_units: int
    stage_counts: pd.DataFrame = field(repr=False, compare=False, default_factory=pd.DataFrame)

    @property
    def spend_share(self) -> float | None:
        return self.spend_total / self.budget_total if self.budget_total else None


def summarise(frame: pd.DataFrame, stale_after_days: int) -> PortfolioSummary:
    with_budget = frame[frame["budget"].notna() & (frame["budget"] > 0)]
    return PortfolioSummary(
        pilots=len(frame),
        in_pilot=int((frame["stage"] == "pilot").sum()),
        past_purgatory=int(frame["pilot_clock"].isin(["over_6", "over_18"]).sum()),
        past_cancellation=int((frame["pilot_clock"] == "over_18").sum()),
        budget_total=float(with_budget["budget"].sum()),
        spend_total=float(with_budget["spend_to_date"].fillna(0).sum()),
        pilots_with_budget=len(with_budget),
        over_budget=int(frame["over_budget"].fillna(False).sum()),
        stale=int((frame["freshness"] == "stale").sum()),
        never=int((frame["freshness"] == "never").sum()),
        stale_after_days=stale_after_days,
        business_units=int(frame["business_unit"].nunique()),
        stage_counts=stage_counts(frame),
    )


def business_units(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["business_unit"].dropna().unique().tolist())


def filter_portfolio(frame: pd.DataFrame, filters: PortfolioFilters) -> pd.DataFrame:
    return filters.apply(frame).reset_index(drop=True)


def by_business_unit(frame: pd.DataFrame) -> pd.DataFrame:
    """Budget and spend per business unit, for portfolios too large to chart pilot by pilot."""
    grouped = frame.groupby("business_unit", as_index=False).agg(
        pilots=("pilot_id", "count"),
        budget=("budget", "sum"),
        spend_to_date=("spend_to_date", "sum"),
    )
    grouped["spend_share"] = grouped["spend_to_date"] / grouped["budget"].where(grouped["budget"] > 0)
    return grouped


# -- the portfolio's health: the risk page's tiles, the steering pack's, the command line's ----------

HEALTH_VERDICTS = ("red", "amber", "green", "insufficient")  # the order the counts are shown in


@dataclass(frozen=True)
class PortfolioHealth:
    """How many pilots have each health verdict, which ones (each worst first), and every pilot in
    the risk page's worst-first order: the counts the risk page's tiles show, the pilots it names
    under them, and the order of the steering pack's table and its committee's steps."""

    worst_first: tuple[str, ...]  # every pilot counted: red, amber, insufficient evidence, green
    red: tuple[str, ...]
    amber: tuple[str, ...]
    green: tuple[str, ...]
    insufficient: tuple[str, ...]

    def pilots(self, verdict: str) -> tuple[str, ...]:
        """The pilots of one verdict (`HEALTH_VERDICTS`), worst first."""
        return {"red": self.red, "amber": self.amber, "green": self.green, "insufficient": self.insufficient}[verdict]

    def count(self, verdict: str) -> int:
        return len(self.pilots(verdict))

    @property
    def counts(self) -> dict[str, int]:
        """Pilots per verdict, in the order the tiles show them (zero included)."""
        return {verdict: self.count(verdict) for verdict in HEALTH_VERDICTS}

    def named(self, verdict: str, limit: int) -> tuple[tuple[str, ...], int]:
        """The first `limit` pilots of a verdict (worst first) and how many more there are: "5 red"
        says which five, and a long list ends in "and 3 more"."""
        pilots = self.pilots(verdict)
        return pilots[:limit], max(len(pilots) - limit, 0)


def portfolio_health(results: Sequence[PilotRisk], pilot_ids: Iterable[str] | None = None) -> PortfolioHealth:
    """The portfolio's health counts and worst-first order (`risk.order_pilots` by health) for the
    pilots in `pilot_ids` (those a page's filters show; default: every result)."""
    from pilot_health.analytics.risk import order_pilots, pilots_by_health

    by_pilot = {r.pilot_id: r for r in results}
    order = order_pilots(by_pilot, by_pilot if pilot_ids is None else pilot_ids, "health")
    grouped = pilots_by_health(by_pilot, order)
    return PortfolioHealth(
        worst_first=tuple(order),
        red=tuple(grouped["red"]),
        amber=tuple(grouped["amber"]),
        green=tuple(grouped["green"]),
        insufficient=tuple(grouped["insufficient"]),
    )
