"""The steering pack: a one-page summary per pilot and a portfolio summary, as a PDF and as a
self-contained HTML file (no network needed to open it), made from the same numbers as the pages.

Every number comes from the functions the pages use: risk and health (`risk`, through the results
keeper), stage, months in stage and budget (`portfolio.load_portfolio` / `summarise`), KPI progress
and the alignment verdict (`alignment_report`), adoption (`adoption_report`).

Charts are the pages' own Altair charts, drawn without a browser by vl-convert at the size they are
printed (one chart pixel is one point on paper, so the chart's font sizes are its printed sizes in
points; `PRINT_CONFIG` keeps them at 8.5 pt or more): SVG embedded as an image in the HTML (an
image cannot run anything, whatever text the data holds), PNG in the PDF. Every text from the store
is escaped in the HTML; the PDF draws text, never markup. Paper: A4 or Letter; the HTML prints on
either (its layout fits the narrower, shorter of the two).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

import pandas as pd

from pilot_health.analytics.alignment import KpiProgress
from pilot_health.analytics.evidence import load_evidence
from pilot_health.analytics.portfolio import (
    COMMITTEE_ACTIONS,
    PILOT_CLOCK_LABELS,
    PortfolioSummary,
    load_portfolio,
    pilot_clock,
    portfolio_health,
    summarise,
)
from pilot_health.analytics.risk import HEALTH_LABELS, STATUS_LABELS, Action, PilotRisk, assess, assess_evidence
from pilot_health.errors import NotFoundError
from pilot_health.formatting import moment, money, percent
from pilot_health.models import STAGE_LABELS, months_since
from pilot_health.reports import charts
from pilot_health.reports.adoption_report import PilotAdoption, barrier_frame, portfolio_adoption
from pilot_health.reports.alignment_report import (
    PilotAlignment,
    assess_alignment,
    chart_data,
    numbers_for,
    portfolio_alignment,
    verdict,
)
from pilot_health.rules.catalogue import PATTERN_KEYS, Catalogue
from pilot_health.rules.thresholds import catalogue_for
from pilot_health.store.database import Store, utc_now

if TYPE_CHECKING:
    from pilot_health.reports.changes import PortfolioChanges
    from pilot_health.reports.meetings import Decision

PAPERS = {"a4": "A4", "letter": "Letter"}
FONTS = Path(__file__).parents[1] / "fonts"
HEALTH_COLOURS = {"green": "#2a9d8f", "amber": "#e09f1f", "red": "#c0392b", "insufficient": "#9aa5b1"}
# A pattern's cell in the portfolio table: the heatmap's colours at its reading's marks.
STATUS_COLOURS = {
    "low": charts.RISK_COLOURS.range[0],
    "medium": charts.RISK_COLOURS.range[1],
    "high": charts.RISK_COLOURS.range[3],
    "insufficient": charts.INSUFFICIENT_COLOUR,
}
STATUS_TEXT = {"low": "#222222", "medium": "#222222", "high": "#ffffff", "insufficient": "#555555"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


def live_link(base_url: str, page: str, pinned: datetime | None, **params: str) -> str:
    """The address of the live view: `page` ('' for home, 'Risk' …) with its parameters, pinned when the pack is."""
    pairs = [(k, v) for k, v in params.items() if v]
    if pinned is not None:
        pairs.append(("as_of", pinned.replace(microsecond=0).isoformat()))
    return f"{base_url.rstrip('/')}/{page}" + (f"?{urlencode(pairs)}" if pairs else "")


def links_base(opened_url: str, public_url: str, public_url_set: bool) -> tuple[str, bool]:
    """Where a pack made in the dashboard links back to, and whether that address only works on
    the computer the dashboard runs on: the configured public address when one is set, else the
    address the dashboard was opened with (or the default)."""
    base = public_url if public_url_set or not opened_url else opened_url
    host = (urlsplit(base).hostname or "").lower()
    return base, host in LOCAL_HOSTS or host.startswith("127.")


# -- what goes in ------------------------------------------------------------------------------------


@dataclass
class PilotPack:
    risk: PilotRisk
    alignment: PilotAlignment
    alignment_summary: (
        str  # the verdict without each test's chance in words: the page keeps those, the pack has one page
    )
    alignment_chart: dict | None  # Vega-Lite spec
    adoption: PilotAdoption
    adoption_chart: dict | None
    record: dict
    as_of: datetime
    pinned: bool
    link: str
    changes: PortfolioChanges | None = None  # since the last meeting, when the pack was asked for with one
    decisions: list[DecisionLine] = field(default_factory=list)  # the committee's decisions in force about the pilot

    @property
    def months_in_stage(self) -> float | None:
        return months_since(self.record.get("stage_since"), self.as_of)


@dataclass(frozen=True)
class PortfolioRow:
    """One pilot's line in the portfolio pack: the home page's numbers, its risk and its KPI progress."""

    risk: PilotRisk
    stage: str
    months_in_stage: float | None
    budget: float | None
    spend: float | None
    spend_share: float | None
    kpi_progress: KpiProgress | None


@dataclass(frozen=True)
class CommitteeAction:
    risk: PilotRisk
    action: Action


@dataclass
class PortfolioPack:
    results: list[PilotRisk]  # worst first, as the risk page orders them
    rows: list[PortfolioRow]  # the same order
    summary: PortfolioSummary | None  # the home page's totals (None without pilots)
    actions: list[CommitteeAction]
    as_of: datetime
    pinned: bool
    link: str
    pattern_names: list[str]
    changes: PortfolioChanges | None = None  # since the last meeting, when the pack was asked for with one
    decisions: list[DecisionLine] = field(default_factory=list)  # the committee's decisions due or overdue
    decisions_in_force: int = 0  # every decision in force (not replaced), due or not


@dataclass(frozen=True)
class DecisionLine:
    """A committee decision as a pack prints it: the decision (with its status on the pack's day),
    its pilot's name, whether a condition tied to a warning sign is met, and the address of the
    meeting's pinned view (the evidence it was taken on)."""

    decision: Decision
    name: str
    condition: str | None  # met | not met | unknown; None for conditions in words only
    sign: str | None  # the warning sign's question the condition is tied to
    link: str


def pilot_pack(
    store: Store,
    pilot_id: str,
    base_url: str,
    pinned: datetime | None = None,
    catalogue: Catalogue | None = None,
    since: datetime | None = None,
) -> PilotPack:
    """One pilot's pack: now, or as the store stood at `pinned` (records, uploads and withdrawals then);
    with `since`, what changed for the pilot between then and the pack's moment (`changes.changes_since`)."""
    from pilot_health.reports.results import KEEPER

    catalogue = catalogue or catalogue_for(store, pinned)  # a pinned pack keeps the thresholds of its moment
    # "Now" is the moment the dashboard's pages are computed for (results.now_moment), so pack and page agree.
    evidence = load_evidence(store, pinned or KEEPER.moment(store), [pilot_id], pinned)
    if pilot_id not in set(evidence.pilots["pilot_id"]):
        raise NotFoundError(
            f"There is no pilot {pilot_id}" + (f" as of {pinned:%d %B %Y %H:%M} UTC." if pinned else ".")
        )
    found = assess_evidence(evidence, catalogue)
    if not found:
        raise NotFoundError(f"Pilot {pilot_id} was not yet approved at that moment, so there is nothing to summarise.")
    risk = found[0]
    numbers = numbers_for(evidence, pilot_id, catalogue)
    alignment = assess_alignment(numbers, catalogue)
    chart = chart_data(numbers)
    if (
        chart is not None
    ):  # on paper, one marked crossing per kind of alert: the labels of close crossings would overlap
        chart = dataclasses.replace(chart, events=paper_events(chart.events))
    adoption = portfolio_adoption(store, evidence.as_of, [pilot_id], catalogue, records_at=pinned)[0]
    latest = adoption.latest
    return PilotPack(
        risk=risk,
        alignment=alignment,
        alignment_summary=verdict(numbers, alignment, brief=True),
        alignment_chart=charts.alignment_chart(chart).to_dict()
        if chart is not None and not chart.technical.empty
        else None,
        adoption=adoption,
        adoption_chart=(
            charts.barrier_chart(barrier_frame(latest.overall), horizontal=True).to_dict()
            if latest is not None and latest.shown
            else None
        ),
        record=evidence.pilot(pilot_id).record,
        as_of=evidence.as_of,
        pinned=pinned is not None,
        link=live_link(base_url, "Risk", pinned, pilot=pilot_id),
        changes=_changes(store, since, pinned, [pilot_id]),
        decisions=decision_lines(store, base_url, pinned, {pilot_id: risk}, [pilot_id], in_force=True),
    )


def decision_lines(
    store: Store,
    base_url: str,
    pinned: datetime | None,
    risks: dict[str, PilotRisk],
    pilot_ids: Sequence[str] | None = None,
    in_force: bool = True,
) -> list[DecisionLine]:
    """The committee's decisions as the pack's moment knows them (recorded at or before a pinned
    moment, statuses counted on its day; the store's business units only): those in force (a later
    decision replaces an earlier one about the same pilot), or only those due or overdue
    (`in_force=False`, most urgent first). A condition tied to a warning sign is checked by the
    risk engine at the pack's moment (`meetings.condition_met`)."""
    from pilot_health.reports import meetings

    found = meetings.decisions(store, pinned, pilot_ids)
    catalogue = catalogue_for(store, pinned)
    chosen = [d for d in found if d.status != "replaced"] if in_force else meetings.due_or_overdue(found)
    lines = []
    for d in chosen:
        risk = risks.get(d.pilot_id)
        condition, sign = None, None
        if d.signal_key is not None:
            condition = meetings.condition_met(d, meetings.condition_risk(store, d, pinned, risk))
            try:
                sign = catalogue.signal(d.signal_key).question
            except KeyError:
                sign = d.signal_key
        lines.append(
            DecisionLine(
                d,
                risk.name if risk is not None else d.pilot_id,
                condition,
                sign,
                live_link(base_url, "Risk", d.pinned_at, pilot=d.pilot_id),
            )
        )
    return lines


def _changes(store: Store, since: datetime | None, pinned: datetime | None, pilot_ids=None):
    if since is None:
        return None
    from pilot_health.reports.changes import changes_since

    return changes_since(store, since, pinned, pilot_ids)


LEVELS = ("warning", "critical")


def paper_events(events: pd.DataFrame) -> pd.DataFrame:
    """The alert crossings a printed chart marks: for each kind (decay, drift), the first crossing
    of the highest level it reached."""
    if events.empty:
        return events
    kind = events["what"].str.split().str[0]
    rank = events["level"].map({level: i for i, level in enumerate(LEVELS)}).fillna(-1)
    keep = [
        group.assign(rank=rank[group.index]).sort_values(["rank", "week"], ascending=[False, True]).index[0]
        for _, group in events.groupby(kind, sort=False)
    ]
    return events.loc[sorted(keep)].reset_index(drop=True)


def committee_actions(results: Sequence[PilotRisk], limit: int = COMMITTEE_ACTIONS) -> list[CommitteeAction]:
    """The committee's top steps: the most serious step of each pilot that calls for action
    (`PilotRisk.actions`, most serious pattern first), pilots in the risk page's worst-first order;
    when fewer pilots call for action than `limit`, their next steps follow in the same order."""
    by_pilot = {r.pilot_id: r for r in results}
    queues = [(by_pilot[p], by_pilot[p].actions) for p in portfolio_health(results).worst_first]
    picked: list[CommitteeAction] = []
    rank = 0
    while len(picked) < limit and any(rank < len(steps) for _, steps in queues):
        picked += [CommitteeAction(risk, steps[rank]) for risk, steps in queues if rank < len(steps)]
        rank += 1
    return picked[:limit]


def portfolio_pack(
    store: Store,
    base_url: str,
    pinned: datetime | None = None,
    catalogue: Catalogue | None = None,
    stale_after_days: int | None = None,
    since: datetime | None = None,
) -> PortfolioPack:
    """The portfolio's pack, from the numbers every page shows (the home page's table, the risk
    page's results and order, the alignment page's KPI progress); with `since`, what changed since
    then (the Since last meeting page's comparison)."""
    from pilot_health.config import load_config
    from pilot_health.reports.results import KEEPER

    stale = stale_after_days if stale_after_days is not None else load_config().stale_upload_days
    if catalogue is None:  # the results every page shows, computed once per change (shared: never changed here)
        catalogue = catalogue_for(store, pinned)
        risks = KEEPER.risk(store, pinned=pinned)
        as_of = risks[0].as_of if risks else (pinned or KEEPER.moment(store))
        alignments = KEEPER.alignment(store, pinned=pinned)
        frame = KEEPER.portfolio(store, None, as_of.date(), stale, pinned)
    else:
        risks = assess(store, pinned, catalogue=catalogue, records_at=pinned)
        as_of = risks[0].as_of if risks else (pinned or utc_now())
        alignments = portfolio_alignment(store, pinned, catalogue=catalogue, records_at=pinned)
        frame = load_portfolio(store, as_of.date(), stale, pinned)
    by_pilot = {r.pilot_id: r for r in risks}
    results = [by_pilot[p] for p in portfolio_health(risks).worst_first]  # the risk page's order
    progress = {a.pilot_id: a.kpi_progress for a in alignments}
    lines = {row["pilot_id"]: row for row in frame.to_dict("records")}
    rows = []
    for r in results:
        line = lines.get(r.pilot_id, {})
        rows.append(
            PortfolioRow(
                risk=r,
                stage=line.get("stage") or r.stage,
                months_in_stage=_number(line.get("months_in_stage")),
                budget=_number(line.get("budget")),
                spend=_number(line.get("spend_to_date")),
                spend_share=_number(line.get("spend_share")),
                kpi_progress=progress.get(r.pilot_id),
            )
        )
    shown = frame[frame["pilot_id"].isin(by_pilot)] if len(frame) else frame
    return PortfolioPack(
        results=results,
        rows=rows,
        summary=summarise(shown, stale) if len(shown) else None,
        actions=committee_actions(results),
        as_of=as_of,
        pinned=pinned is not None,
        link=live_link(base_url, "Risk", pinned),
        pattern_names=[catalogue.patterns[k].name for k in PATTERN_KEYS],
        changes=_changes(store, since, pinned),
        decisions=decision_lines(store, base_url, pinned, by_pilot, in_force=False),
        decisions_in_force=_in_force(store, pinned),
    )


def _in_force(store: Store, pinned: datetime | None) -> int:
    from pilot_health.reports.meetings import decisions

    return sum(d.status != "replaced" for d in decisions(store, pinned))


PILOT_CHANGES = 4  # changes a pilot's page lists since the last meeting (the rest are on the Since last meeting page)
PORTFOLIO_CHANGES = 8


def since_heading(found: PortfolioChanges) -> str:
    return f"Since last meeting ({moment(found.since)})"


def since_lines(found: PortfolioChanges, limit: int, with_pilot: bool) -> list[str]:
    """The summary, then the worst changes, one line each (the Since last meeting page's order), and
    how many more there are."""
    changes = found.changes
    lines = [found.summary]
    for c in changes[:limit]:
        lines.append(f"• {c.pilot_id} · {c.name}: {c.what}" if with_pilot else f"• {c.what}")
    if len(changes) > limit:
        more = len(changes) - limit
        lines.append(f"… and {more} more {'change' if more == 1 else 'changes'} on the Since last meeting page.")
    return lines


TWO_PANELS_MIN = (
    85  # mm: with less room, the technical panel has none left for its alert legend, the KPI's for its axis
)
FIRST_PANEL_MIN = 45  # mm, its title included: a shorter first panel has no room for its axis labels and alert legend
CHART_ON_PAGE = "The chart is on the Alignment page (no room left for it on this page)."
KPI_ON_PAGE = "The KPI's own chart is on the Alignment page (no room left for it on this page)."
PILOT_DECISIONS = 2  # decisions in force a pilot's page prints (a later decision replaces an earlier: usually one)
PORTFOLIO_DECISIONS = 6  # decisions due or overdue the portfolio's pack lists (the rest: the Since last meeting page)


def decision_heading(line: DecisionLine, with_pilot: bool) -> str:
    """“Fix and review · Overdue (5 days late) · due 12 Nov 2026 · owner Jo”."""
    d = line.decision
    head = f"{d.pilot_id} · {line.name}: " if with_pilot else ""
    return f"{head}{d.decision_label} · {d.status_words} · due {d.due_on:%d %b %Y} · owner {d.owner}"


def decision_detail(line: DecisionLine) -> str:
    """A condition tied to a warning sign first, with whether it is met (so a cut line keeps it),
    then the conditions in words."""
    from pilot_health.reports.meetings import CONDITION_LABELS

    d = line.decision
    conditions = " ".join((d.conditions or "").split())
    words = (
        f"Conditions: {conditions}" + ("" if conditions[-1:] in ".!?" else ".")
        if conditions
        else "No conditions in words."
    )
    if line.condition is not None:
        at = f" (checked at {d.signal_value:g})" if d.signal_value is not None else ""
        words = (
            f"Warning sign {CONDITION_LABELS.get(line.condition, line.condition).lower()}: “{line.sign}”{at}. " + words
        )
    return words


def decision_meeting(line: DecisionLine) -> str:
    d = line.decision
    return f"Taken at {d.held_on:%d %b %Y} · {d.meeting_title}, on the numbers as of {moment(d.pinned_at)} (the meeting's view)"


DECISIONS_HEADING = "Committee decisions"
DUE_HEADING = "Committee decisions due or overdue"


def decisions_note(pack: PortfolioPack) -> str:
    from pilot_health.reports.meetings import DUE_SOON_DAYS

    if not pack.decisions:
        return f"No decision of the committee is due within {DUE_SOON_DAYS} days or overdue" + (
            f" ({pack.decisions_in_force} in force)." if pack.decisions_in_force else "."
        )
    overdue = sum(line.decision.status == "overdue" for line in pack.decisions)
    return (
        f"{len(pack.decisions)} of the {pack.decisions_in_force} decisions in force: {overdue} overdue, "
        f"{len(pack.decisions) - overdue} due within {DUE_SOON_DAYS} days. Most urgent first."
    )


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


# -- words shared by both formats --------------------------------------------------------------------

# The pack's "Next actions" answer each pattern's top evidence in the table above it (both take the
# pattern's decisive, then heaviest, fired signal first), so the pack does not print the evidence twice.
ACTIONS_NOTE = "Each step answers the pattern's top evidence in the table above."
COMMITTEE_NOTE = (
    "The most serious step of each pilot that calls for action, worst pilots first, "
    "each with the evidence that calls for it."
)


def top_evidence(risk: PilotRisk, pattern_key: str) -> str:
    pattern = risk.patterns[pattern_key]
    fired = sorted(pattern.fired, key=lambda s: (not s.decisive, -s.weight))  # decisive, then heaviest
    if fired:
        return fired[0].evidence
    return "No warning sign." if pattern.status != "insufficient" else "Too little evidence to judge."


def score_text(risk: PilotRisk, pattern_key: str) -> str:
    p = risk.patterns[pattern_key]
    return STATUS_LABELS[p.status] + ("" if p.score is None or p.status == "insufficient" else f" {p.score:.0f}")


def kpi_text(progress: KpiProgress | None) -> str:
    """'13% behind' — the share of the way to target (and whether it trails the time gone)."""
    if progress is None:
        return "—"
    return percent(progress.progress) + (" behind" if progress.behind else "")


def time_text(progress: KpiProgress | None) -> str:
    if progress is None or progress.time_elapsed is None:
        return "—"
    return percent(min(progress.time_elapsed, 1))


def spend_text(spend: float | None, budget: float | None) -> str:
    return f"{money(spend)} of {money(budget)}" if budget else (money(spend) if spend is not None else "—")


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    detail: str
    warn: bool = False


def tiles(pack: PilotPack) -> list[Tile]:
    """The four numbers at the top of a pilot's page: stage, budget, KPI progress and adoption."""
    r, a, ad = pack.record, pack.alignment, pack.adoption
    months = pack.months_in_stage
    clock = pilot_clock(r.get("stage"), months)
    stage = Tile(
        "Stage",
        STAGE_LABELS.get(r.get("stage"), r.get("stage") or "—"),
        (f"{months:.1f} months in this stage" if months is not None else "Since when is not known")
        + (f" ({PILOT_CLOCK_LABELS[clock]})" if clock and clock != "under_6" else ""),
        warn=clock in ("over_6", "over_18"),
    )
    budget, spend = r.get("budget"), r.get("spend_to_date")
    share = spend / budget if budget and spend is not None else None
    money_tile = Tile(
        "Budget",
        f"{money(spend)} of {money(budget)}" if budget else "No budget",
        (f"{percent(share)} spent" + (", over budget" if share > 1 else ""))
        if share is not None
        else "Spend to date against the approved budget",
        warn=bool(share and share > 1),
    )
    progress = a.kpi_progress
    if progress and progress.time_elapsed is not None:
        kpi = Tile(
            "KPI progress",
            f"{percent(progress.progress)} of the way",
            f"{percent(min(progress.time_elapsed, 1))} of the time gone" + (", behind plan" if progress.behind else ""),
            warn=bool(progress.behind),
        )
    elif progress:
        kpi = Tile("KPI progress", f"{percent(progress.progress)} of the way", "No deadline in the register")
    else:
        kpi = Tile("KPI progress", "Not known", "Needs the KPI's baseline, target, deadline and data")
    rate = ad.rate
    adoption = (
        Tile(
            "Adoption",
            f"{percent(rate.rate)} of target",
            f"{rate.active_users:,.0f} of {rate.target_users:,} target users active",
        )
        if rate
        else Tile("Adoption", "Not known", "Needs target users and usage data")
    )
    return [stage, money_tile, kpi, adoption]


def as_of_text(pack: PilotPack | PortfolioPack) -> str:
    return f"As of {moment(pack.as_of)}" + (" (pinned)" if pack.pinned else "")


def made_text() -> str:
    return f"made by Pilot Health on {utc_now():%d %b %Y %H:%M} UTC"


def portfolio_facts(pack: PortfolioPack) -> list[Tile]:
    s = pack.summary
    counts = portfolio_health(pack.results).counts  # the risk page's tiles
    health = Tile(
        "Health",
        f"{counts['red']} red, {counts['amber']} amber",
        f"{counts['green']} green, {counts['insufficient']} with too little evidence to judge",
    )
    if s is None:
        return [health]
    return [
        health,
        Tile(
            f"In pilot {PILOT_CLOCK_LABELS['over_6']}",
            f"{s.past_purgatory} of {s.in_pilot}",
            f"{s.past_cancellation} {PILOT_CLOCK_LABELS['over_18']}"
            if s.past_cancellation
            else f"None {PILOT_CLOCK_LABELS['over_18']}",
            warn=bool(s.past_purgatory),
        ),
        Tile(
            "Spend to date",
            f"{money(s.spend_total)} of {money(s.budget_total)}",
            f"{percent(s.spend_share)} spent" + (f", {s.over_budget} over budget" if s.over_budget else ""),
            warn=bool(s.over_budget),
        ),
    ]


# -- charts on paper ------------------------------------------------------------------------------------

CHART_FONT = "DejaVu Sans"
CHART_TEXT = 8.5  # the smallest chart text, in points on paper
PRINT_CONFIG = {
    "font": CHART_FONT,
    "padding": 2,
    "axis": {
        "labelFontSize": CHART_TEXT,
        "titleFontSize": CHART_TEXT,
        "titleFontWeight": "normal",
        "labelOverlap": True,
    },
    # Legends under the chart, one under the other: side by side they ran past a narrow chart's right edge.
    "legend": {
        "orient": "bottom",
        "direction": "horizontal",
        "labelFontSize": CHART_TEXT,
        "titleFontSize": CHART_TEXT,
        "titleFontWeight": "normal",
        "symbolSize": 50,
        "labelOverlap": True,
        "titleOrient": "left",
        "titleAnchor": "start",
        "rowPadding": 1,
        "layout": {"bottom": {"anchor": "start", "direction": "vertical"}},
    },
    "title": {"fontSize": 9.5, "anchor": "start", "offset": 4},
    "text": {"fontSize": CHART_TEXT},
}
_fonts_registered = False


def _vlc():
    import vl_convert as vlc

    global _fonts_registered
    if not _fonts_registered:
        vlc.register_font_directory(str(FONTS))  # the charts' text in the pack's own font, wherever it is made
        _fonts_registered = True
    return vlc


def chart_panels(spec: dict | None) -> list[dict]:
    """A chart as the panels it is drawn in on paper: each panel of a vertical stack on its own
    (so each can be given its own printed size), the others whole."""
    if not spec:
        return []
    if "vconcat" not in spec:
        return [spec]
    shared = {k: v for k, v in spec.items() if k not in ("vconcat", "resolve")}
    outer = spec.get("resolve", {})

    def resolve(panel: dict) -> dict:
        inner = panel.get("resolve", {})
        return {kind: {**outer.get(kind, {}), **inner.get(kind, {})} for kind in {*outer, *inner}}

    return [{**shared, **panel, "resolve": resolve(panel)} for panel in spec["vconcat"]]


def print_spec(spec: dict, width_pt: float, height_pt: float) -> dict:
    """The chart drawn `width_pt` × `height_pt` points in all (axes, legends and title included),
    one chart pixel per point, with the print fonts."""
    out = copy.deepcopy(spec)
    out.pop(
        "title", None
    )  # printed as text above the chart (`chart_title`): Vega can place it outside a chart this small
    out["width"], out["height"] = round(width_pt), round(height_pt)
    out["autosize"] = {"type": "fit", "contains": "padding"}
    if (
        "title" in spec
    ):  # the panel's title names what is plotted: a long y-axis title saying it again would not fit beside a short panel
        for layer in out.get("layer", [out]):
            y = layer.get("encoding", {}).get("y")
            if isinstance(y, dict) and "field" in y:
                y["title"] = None
    for layer in out.get(
        "layer", [out]
    ):  # the alert markers' legend names up to four kinds: its title goes above them, or the row runs off the chart
        for channel in layer.get("encoding", {}).values():
            if isinstance(channel, dict) and channel.get("field") == "what" and isinstance(channel.get("legend"), dict):
                channel["legend"]["titleOrient"] = "top"
    config = out.setdefault("config", {})
    for key, value in PRINT_CONFIG.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    above = [
        -m.get("dy", 0) + m.get("fontSize", CHART_TEXT)
        for layer in out.get("layer", [])
        if isinstance(m := layer.get("mark"), dict) and m.get("type") == "text" and m.get("dy", 0) < 0
    ]
    if above:  # labels drawn above their points: room above the plot for one at the top
        config["padding"] = {"top": max(above) + 2, "left": 2, "right": 2, "bottom": 2}
    return out


def chart_title(spec: dict | None) -> str:
    title = (spec or {}).get("title") or ""
    return title.get("text", "") if isinstance(title, dict) else str(title)


def svg(spec: dict) -> str:
    return _vlc().vegalite_to_svg(spec)


def scenegraph(spec: dict) -> dict:
    return _vlc().vegalite_to_scenegraph(spec)


def _png(spec: dict) -> bytes:
    return _vlc().vegalite_to_png(spec, scale=3)


def _img(spec: dict | None, alt: str, width_mm: float) -> str:
    if not spec:
        return ""
    data = base64.b64encode(svg(spec).encode("utf-8")).decode("ascii")
    return f'<img class="chart" alt="{html.escape(alt)}" style="width:{width_mm:.1f}mm" src="data:image/svg+xml;base64,{data}">'


# -- HTML ------------------------------------------------------------------------------------------------

_CSS = """
@page { size: auto; margin: 10mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; font-size: 8.5pt; line-height: 1.3; color: #222; margin: 0 auto; max-width: 186mm; }
h1 { font-size: 15pt; margin: 0 0 1mm; } h2 { font-size: 10.5pt; margin: 3mm 0 1mm; }
.sub { color: #555; margin-bottom: 2mm; }
.health { padding: 1.5mm 3mm; border-radius: 1.5mm; color: white; font-weight: bold; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #ddd; padding: 0.5mm 1.2mm; text-align: left; vertical-align: top; }
th { background: #f3f5f7; font-weight: bold; -webkit-print-color-adjust: exact; print-color-adjust: exact; } .num { text-align: right; white-space: nowrap; }
.tiles { display: flex; gap: 3mm; margin-top: 2mm; } .tile { flex: 1; border: 1px solid #ddd; border-radius: 1.5mm; padding: 1.2mm 2mm; min-width: 0; }
.tile .label { color: #555; } .tile .value { font-size: 10.5pt; font-weight: bold; } .tile .detail { color: #444; }
.warn .value, .warn .detail, .behind { color: #c0392b; }
.cols { display: flex; gap: 6mm; } .cols > section { flex: 1; min-width: 0; }
img.chart { max-width: 100%; height: auto; display: block; margin-top: 1mm; }
p { margin: 1mm 0; } ul, ol { margin: 1mm 0; padding-left: 5mm; } li { margin-bottom: 0.8mm; }
.foot { color: #666; font-size: 7pt; margin-top: 2mm; border-top: 1px solid #ddd; padding-top: 1mm; word-break: break-all; }
.why { color: #555; font-size: 8pt; }
.cell { text-align: center; white-space: nowrap; -webkit-print-color-adjust: exact; print-color-adjust: exact; border: 1px solid white; }
.chip { display: inline-block; padding: 0 1.5mm; border-radius: 1mm; color: white; font-weight: bold; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.reason { color: #555; font-size: 8pt; }
.charttitle { font-weight: bold; margin-top: 1.5mm; }
table.pilots { font-size: 7.5pt; } table.pilots .spend { white-space: normal; } table.pilots td, table.pilots th { padding: 0.3mm 1mm; } table.pilots .reason { font-size: 7.5pt; border-bottom: 1px solid #ddd; }
table.pilots tr:nth-child(odd) td:not(.cell):not(.reason) { border-bottom: none; } table.pilots .cell { width: 6mm; }
table.pilots tbody tr { break-inside: avoid; } td.pattern, td.code { white-space: nowrap; font-weight: bold; }
section { break-inside: avoid; }
ul.two { columns: 2; column-gap: 6mm; } ul.two li { break-inside: avoid; }
"""


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def _tiles_html(items: Sequence[Tile]) -> str:
    e = html.escape
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile{" warn" if t.warn else ""}"><div class="label">{e(t.label)}</div><div class="value">{e(t.value)}</div>'
            f'<div class="detail">{e(t.detail)}</div></div>'
            for t in items
        )
        + "</div>"
    )


def _foot(link: str) -> str:
    e = html.escape
    return f'<div class="foot">Live view: <a href="{e(link)}">{e(link)}</a> · {e(made_text())}</div>'


HTML_COLUMN_MM = 90  # each of the pilot page's two columns, on the narrower paper


def pilot_html(pack: PilotPack) -> str:
    e = html.escape
    risk, ad = pack.risk, pack.adoption
    crowded = bool(pack.decisions) or pack.changes is not None  # the page's room goes to the decisions and changes
    evidence_chars = 80 if crowded else 115  # two lines of the table's widest column instead of three
    rows = "".join(
        f'<tr><td class="pattern">{e(risk.patterns[k].name)}</td><td class="num">{e(score_text(risk, k))}</td>'
        f'<td class="num">{risk.patterns[k].coverage:.0%}</td><td>{e(_fit(top_evidence(risk, k), evidence_chars))}</td></tr>'
        for k in PATTERN_KEYS
    )
    panels = chart_panels(pack.alignment_chart)
    kpi_note = ""
    if len(panels) == 2 and crowded:
        panels, kpi_note = panels[:1], f'<div class="why">{e(KPI_ON_PAGE)}</div>'
    heights = ([84] if crowded else [98, 80])[: len(panels)]
    alignment_imgs = (
        "".join(
            f'<div class="charttitle">{e(chart_title(p))}</div>'
            + _img(
                print_spec(p, HTML_COLUMN_MM * 72 / 25.4, h),
                chart_title(p) or "Technical metric and KPI over time",
                HTML_COLUMN_MM,
            )
            for p, h in zip(panels, heights)
        )
        + kpi_note
    )
    shown_actions = risk.next_actions[
        : 3 if pack.changes is not None else 4
    ]  # the changes since the last meeting take a line
    actions = (
        "".join(f"<li><b>{e(p.name)}</b>: {e(p.actions[0].text)}</li>" for p in shown_actions)
        or "<li>No pattern calls for action.</li>"
    )
    adoption_img = (
        _img(
            print_spec(pack.adoption_chart, HTML_COLUMN_MM * 72 / 25.4, 84 if crowded else 98),
            "Barrier points of the latest survey wave",
            HTML_COLUMN_MM,
        )
        if pack.adoption_chart
        else ""
    )
    body = f"""
<h1>{e(risk.pilot_id)} · {e(risk.name)}</h1>
<div class="sub">{e(as_of_text(pack))} · {e(risk.business_unit or "—")} · steering summary</div>
<div class="health" style="background:{HEALTH_COLOURS[risk.health]}">Health: {e(HEALTH_LABELS[risk.health])}. {e(risk.health_reason)}</div>
{_tiles_html(tiles(pack))}
<section><h2>The five failure patterns</h2><table><tr><th>Pattern</th><th class="num">Reads</th><th class="num">Evidence known</th><th>Top evidence</th></tr>{rows}</table></section>
<div class="cols">
<section><h2>Technical vs business</h2><p>{e(pack.alignment_summary)}</p>{alignment_imgs}</section>
<section><h2>Adoption</h2><p>{e(ad.verdict)}</p>{adoption_img}</section>
</div>
{_between_meetings_html(pack)}
<section><h2>Next actions</h2><div class="why">{e(ACTIONS_NOTE)}</div><ul>{actions}</ul></section>
{_foot(pack.link)}
"""
    return _page(f"{risk.pilot_id} · {risk.name} — steering summary", body)


def _between_meetings_html(pack: PilotPack) -> str:
    """A pilot page's decisions and changes since the last meeting: side by side when both are
    there (the page's height goes to the charts), else whichever there is."""
    decisions = (
        _decisions_html(pack.decisions[:PILOT_DECISIONS], False, "", DECISIONS_HEADING) if pack.decisions else ""
    )
    if (
        decisions and pack.changes is not None
    ):  # beside the decisions, one change fewer (the rest: Since last meeting page)
        return f'<div class="cols">{decisions}{_since_html(pack.changes, PILOT_CHANGES - 1, False)}</div>'
    since = _since_html(pack.changes, PILOT_CHANGES, False)
    if since:  # on its own: its lines in two columns, so the page keeps its height for the charts
        return since.replace("<ul>", '<ul class="two">', 1)
    return decisions


def _decisions_html(lines: Sequence[DecisionLine], with_pilot: bool, note: str, heading: str, more: int = 0) -> str:
    e = html.escape
    items = "".join(
        f"<li><b>{e(decision_heading(line, with_pilot))}</b><div>{e(decision_detail(line))}</div>"
        f'<div class="reason"><a href="{e(line.link)}">{e(decision_meeting(line))}</a></div></li>'
        for line in lines
    )
    if more:
        items += f"<li>… and {more} more on the Since last meeting page.</li>"
    return (
        f"<section><h2>{e(heading)}</h2>"
        + (f'<div class="why">{e(note)}</div>' if note and (not lines or with_pilot) else "")
        + (f"<ul>{items}</ul>" if items else "")
        + "</section>"
    )


def _since_html(found: PortfolioChanges | None, limit: int, with_pilot: bool) -> str:
    if found is None:
        return ""
    e = html.escape
    first, *rest = since_lines(found, limit, with_pilot)
    return (
        f"<section><h2>{e(since_heading(found))}</h2><p><b>{e(first)}</b></p>"
        + ("<ul>" + "".join(f"<li>{e(line.removeprefix('• '))}</li>" for line in rest) + "</ul>" if rest else "")
        + "</section>"
    )


def _cell_html(risk: PilotRisk, key: str) -> str:
    p = risk.patterns[key]
    return (
        f'<td rowspan="2" class="cell" style="background:{STATUS_COLOURS[p.status]};color:{STATUS_TEXT[p.status]}" '
        f'title="{html.escape(p.name)}: {html.escape(STATUS_LABELS[p.status].lower())}">{html.escape(p.score_label)}</td>'
    )


def portfolio_html(pack: PortfolioPack) -> str:
    e = html.escape
    head = "".join(
        f'<th class="cell" title="{e(n)}">{e(PATTERN_CODES.get(k, k[:2].upper()))}</th>'
        for k, n in zip(PATTERN_KEYS, pack.pattern_names)
    )
    rows = "".join(
        f'<tr><td rowspan="2" class="code">{e(row.risk.pilot_id)}</td><td>{e(row.risk.name)}</td>'
        f"<td>{e(STAGE_LABELS.get(row.stage, row.stage or '—'))}</td>"
        f'<td class="num">{e(f"{row.months_in_stage:.1f}" if row.months_in_stage is not None else "—")}</td>'
        f'<td class="num spend">{e(spend_text(row.spend, row.budget))}</td>'
        f'<td class="num{" behind" if row.spend_share and row.spend_share > 1 else ""}">{e(percent(row.spend_share))}</td>'
        f'<td class="num{" behind" if row.kpi_progress and row.kpi_progress.behind else ""}">{e(kpi_text(row.kpi_progress))}</td>'
        f'<td class="num">{e(time_text(row.kpi_progress))}</td>'
        f'<td><span class="chip" style="background:{HEALTH_COLOURS[row.risk.health]}">{e(HEALTH_LABELS[row.risk.health])}</span></td>'
        + "".join(_cell_html(row.risk, k) for k in PATTERN_KEYS)
        + f'</tr><tr><td colspan="8" class="reason">{e(row.risk.health_reason)}</td></tr>'
        for row in pack.rows
    )
    actions = (
        "".join(
            f"<li><b>{e(a.risk.pilot_id)} · {e(a.risk.name)}</b> ({e(HEALTH_LABELS[a.risk.health].lower())}), {e(a.action.pattern)}: "
            f'{e(a.action.text)}<div class="reason">Because: {e(a.action.evidence)}</div></li>'
            for a in pack.actions
        )
        or "<li>No pilot calls for action.</li>"
    )
    body = f"""
<h1>Portfolio · steering summary</h1>
<div class="sub">{e(as_of_text(pack))} · {len(pack.results)} pilots</div>
{_tiles_html(portfolio_facts(pack))}
<section><h2>The committee's top {COMMITTEE_ACTIONS} actions</h2><div class="why">{e(COMMITTEE_NOTE)}</div><ol>{actions}</ol></section>
{_decisions_html(pack.decisions[:PORTFOLIO_DECISIONS], True, decisions_note(pack), DUE_HEADING, max(0, len(pack.decisions) - PORTFOLIO_DECISIONS))}
{_since_html(pack.changes, PORTFOLIO_CHANGES, True)}
<h2>Every pilot, worst first</h2><table class="pilots"><thead><tr><th>Pilot</th><th>Name</th><th>Stage</th><th class="num">Months</th>
<th class="num">Spend</th><th class="num">Spent</th><th class="num">KPI</th><th class="num">Time</th><th>Health</th>{head}</tr></thead>
<tbody>{rows}</tbody></table>
<div class="why">{e(cells_note(pack))}</div>
{_foot(pack.link)}
"""
    return _page("Portfolio — steering summary", body)


# -- PDF -------------------------------------------------------------------------------------------------

MARGIN = 12  # mm on every side
FOOTER = 9  # mm kept at the bottom for the link back and the date
PT = 25.4 / 72  # mm per point


@dataclass
class Placed:
    """A chart as placed on a PDF page: its printed spec and where it sits (mm)."""

    spec: dict
    page: int
    x: float
    y: float
    w: float
    h: float


@dataclass
class Sheet:
    """An fpdf2 document with the pack's fonts, margins and a record of the charts it places."""

    paper: str
    pdf: object = None
    charts: list[Placed] = field(default_factory=list)

    def __post_init__(self) -> None:
        from fpdf import FPDF

        pdf = FPDF(orientation="portrait", unit="mm", format=PAPERS.get(self.paper.lower(), "A4"))
        pdf.set_auto_page_break(False)
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.c_margin = 0  # a cell's text starts at its edge: the widths measured here are the widths drawn
        pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
        pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        pdf.set_text_color(34, 34, 34)
        pdf.add_page()
        self.pdf = pdf

    @property
    def width(self) -> float:
        return self.pdf.w - 2 * MARGIN

    @property
    def bottom(self) -> float:
        """Where the content ends: above the footer."""
        return self.pdf.h - MARGIN - FOOTER

    def font(self, size: float, bold: bool = False, colour: tuple[int, int, int] = (34, 34, 34)) -> None:
        self.pdf.set_font("DejaVu", "B" if bold else "", size)
        self.pdf.set_text_color(*colour)

    def text(
        self,
        x: float,
        y: float,
        w: float,
        text: str,
        size: float = 8.5,
        bold: bool = False,
        colour=(34, 34, 34),
        line: float = 3.8,
        max_lines: int = 0,
        align: str = "L",
        fill: str | None = None,
        pad: float = 0.0,
    ) -> float:
        """Wrapped text in a box `w` wide at (x, y), cut with an ellipsis after `max_lines` lines
        (0: no limit); returns the height used."""
        self.font(size, bold, colour)
        lines = self.lines(text, w - 2 * pad, max_lines)
        if fill:
            self.pdf.set_fill_color(*_rgb(fill))
            self.pdf.rect(x, y, w, line * len(lines) + 2 * pad, style="F")
        for i, piece in enumerate(lines):
            self.pdf.set_xy(x + pad, y + pad + i * line)
            self.pdf.cell(w - 2 * pad, line, piece, align=align)
        return line * len(lines) + 2 * pad

    def lines(self, text: str, w: float, max_lines: int = 0) -> list[str]:
        """The text broken into lines that fit `w` mm in the current font."""
        words = " ".join(str(text).split()).split(" ")
        lines: list[str] = []
        current = ""
        for word in words:
            trial = f"{current} {word}".strip()
            if self.pdf.get_string_width(trial) <= w or not current:
                current = trial
            else:
                lines.append(current)
                current = word
        lines.append(current)
        lines = [self.fit(line, w) for line in lines]
        if max_lines and len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = self.fit(lines[-1] + " …", w, force=True)
        return lines

    def fit(self, text: str, w: float, force: bool = False) -> str:
        """The text, shortened with an ellipsis until it fits `w` mm in the current font."""
        if self.pdf.get_string_width(text) <= w and not force:
            return text
        text = text.removesuffix(" …")
        while text and self.pdf.get_string_width(text + "…") > w:
            text = text[:-1]
        return text.rstrip() + "…"

    def height(
        self, text: str, w: float, size: float = 8.5, bold: bool = False, line: float = 3.8, max_lines: int = 0
    ) -> float:
        self.font(size, bold)
        return line * len(self.lines(text, w, max_lines))

    def decision_height(self, line: DecisionLine, w: float, with_pilot: bool) -> float:
        lines = 1 if not with_pilot else 2  # a pilot's page keeps its room for the charts
        return (
            self.height(decision_heading(line, with_pilot), w, 8.5, True, 3.8, lines)
            + self.height(decision_detail(line), w - 3, 8.5, line=3.8, max_lines=2)
            + self.height(decision_meeting(line), w - 3, 8, line=3.5, max_lines=1)
            + 1
        )

    def decision(self, x: float, y: float, w: float, line: DecisionLine, with_pilot: bool) -> float:
        """A decision in three lines: what, status, due and owner; its conditions (a tied warning
        sign met or not); the meeting, linked to its pinned view. Returns the height used."""
        top = y
        lines = 1 if not with_pilot else 2
        urgent = line.decision.status in ("overdue", "due")
        y += self.text(
            x,
            y,
            w,
            decision_heading(line, with_pilot),
            size=8.5,
            bold=True,
            colour=(192, 57, 43) if line.decision.status == "overdue" else (154, 106, 0) if urgent else (34, 34, 34),
            line=3.8,
            max_lines=lines,
        )
        y += self.text(x + 3, y, w - 3, decision_detail(line), size=8.5, line=3.8, max_lines=2)
        used = self.text(x + 3, y, w - 3, decision_meeting(line), size=8, colour=(31, 95, 170), line=3.5, max_lines=1)
        self.font(8)
        self.pdf.link(x + 3, y, min(w - 3, self.pdf.get_string_width(decision_meeting(line))), used, line.link)
        return y + used + 1 - top

    def heading(self, x: float, y: float, w: float, text: str) -> float:
        return self.text(x, y, w, text, size=10.5, bold=True, line=5.5) + 0.5

    def chart(self, spec: dict, x: float, y: float, w: float, h: float) -> float:
        """Draw a chart `w` × `h` mm at (x, y) (its title above it as text), one chart pixel per
        point; returns the height used."""
        title = chart_title(spec)
        top = self.text(x, y, w, title, size=9, bold=True, line=4.2, max_lines=1) if title else 0.0
        printed = print_spec(spec, w / PT, (h - top) / PT)
        png = _png(printed)
        from PIL import Image

        px_w, px_h = Image.open(io.BytesIO(png)).size
        width, height = px_w / 3 * PT, px_h / 3 * PT  # the size vl-convert drew it, in mm
        scale = min(
            1.0, w / width, (h - top) / height
        )  # never larger than asked; smaller only if the chart came out bigger
        width, height = width * scale, height * scale
        self.pdf.image(io.BytesIO(png), x=x, y=y + top, w=width, h=height)
        self.charts.append(Placed(printed, self.pdf.page, x, y + top, width, height))
        return top + height

    def tiles(self, y: float, items: Sequence[Tile]) -> float:
        gap = 3
        w = (self.width - gap * (len(items) - 1)) / len(items)
        detail_lines = max(len(self._tile_lines(t, w)) for t in items)
        h = 2 + 3.6 + 5.2 + 3.6 * detail_lines + 1.5
        for i, t in enumerate(items):
            x = MARGIN + i * (w + gap)
            self.pdf.set_draw_color(210, 214, 218)
            self.pdf.rect(x, y, w, h)
            colour = (192, 57, 43) if t.warn else (34, 34, 34)
            self.text(x + 2, y + 1.5, w - 4, t.label, size=8, colour=(85, 85, 85), line=3.6, max_lines=1)
            self.text(x + 2, y + 5.1, w - 4, t.value, size=11, bold=True, colour=colour, line=5.2, max_lines=1)
            self.text(
                x + 2,
                y + 10.3,
                w - 4,
                t.detail,
                size=8,
                colour=colour if t.warn else (68, 68, 68),
                line=3.6,
                max_lines=2,
            )
        return h

    def _tile_lines(self, t: Tile, w: float) -> list[str]:
        self.font(8)
        return self.lines(t.detail, w - 4, 2)

    def footer(self, link: str, page_note: str = "") -> None:
        """The link back to the live view (its own line, whole when it fits) and when the pack was made."""
        y = self.pdf.h - MARGIN - FOOTER + 1.6
        self.pdf.set_draw_color(221, 221, 221)
        self.pdf.line(MARGIN, y - 0.8, MARGIN + self.width, y - 0.8)
        self.font(7, colour=(100, 100, 100))
        text = self.fit(f"Live view: {link}", self.width)
        self.pdf.set_xy(MARGIN, y)
        self.pdf.cell(self.pdf.get_string_width(text), 3.2, text, link=link)
        self.pdf.set_xy(MARGIN, y + 3.4)
        self.pdf.cell(self.width, 3.2, self.fit(f"Steering summary {made_text()}{page_note}", self.width))

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def _fit(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def pilot_sheet(pack: PilotPack, paper: str = "a4") -> Sheet:
    """The pilot's page, laid out: everything placed top to bottom, the charts taking the room left."""
    risk, ad = pack.risk, pack.adoption
    s = Sheet(paper)
    x0, width = MARGIN, s.width
    y = MARGIN
    y += s.text(x0, y, width, f"{risk.pilot_id} · {risk.name}", size=15, bold=True, line=7, max_lines=2)
    y += (
        s.text(
            x0,
            y,
            width,
            f"{as_of_text(pack)} · {risk.business_unit or '—'} · steering summary",
            size=8.5,
            colour=(90, 90, 90),
            line=4.6,
            max_lines=1,
        )
        + 1
    )
    y += (
        s.text(
            x0,
            y,
            width,
            f"Health: {HEALTH_LABELS[risk.health]}. {risk.health_reason}",
            size=9,
            bold=True,
            colour=(255, 255, 255),
            line=4.4,
            max_lines=3,
            fill=HEALTH_COLOURS[risk.health],
            pad=1.2,
        )
        + 2
    )
    y += s.tiles(y, tiles(pack)) + 2

    # The five patterns: name, reading, evidence known, top evidence (up to two lines).
    y += s.heading(x0, y, width, "The five failure patterns")
    cols = [49, 21, 24]  # pattern, reads, evidence known; the top evidence takes the rest
    evidence_w = width - sum(cols)
    s.font(8, True, (85, 85, 85))
    for label, w, x, align in zip(
        ["Pattern", "Reads", "Evidence known", "Top evidence"],
        [*cols, evidence_w],
        [x0, x0 + 49, x0 + 70, x0 + 94],
        ["L", "L", "R", "L"],
    ):
        s.pdf.set_xy(x, y)
        s.pdf.cell(w - (3 if align == "R" else 0), 4, label, align=align)
    y += 4.4
    for key in PATTERN_KEYS:
        p = risk.patterns[key]
        h = max(
            s.height(top_evidence(risk, key), evidence_w, 8.5, line=3.8, max_lines=2),
            s.height(score_text(risk, key), 20, 8.5, bold=True, line=3.8, max_lines=2),
        )
        s.pdf.set_draw_color(230, 230, 230)
        s.pdf.line(x0, y - 0.4, x0 + width, y - 0.4)
        s.text(x0, y, 49, p.name, size=8.5, bold=True, max_lines=1)
        s.text(
            x0 + 49,
            y,
            21,
            score_text(risk, key),
            size=8.5,
            bold=True,
            colour=_rgb(
                HEALTH_COLOURS["red"] if p.status == "high" else "#9a6a00" if p.status == "medium" else "#222222"
            ),
            max_lines=2,
        )
        s.text(x0 + 70, y, 21, f"{p.coverage:.0%}", size=8.5, max_lines=1, align="R")
        s.text(x0 + 94, y, evidence_w, top_evidence(risk, key), size=8.5, max_lines=2)
        y += h + 1
    y += 1.5

    # Next actions sit at the bottom; the two columns with the charts take what is left between.
    actions = [f"• {p.name}: {p.actions[0].text}" for p in risk.next_actions[:4]] or ["No pattern calls for action."]
    actions_h = (
        5.5
        + 0.5
        + (3.6 if risk.next_actions else 0)
        + sum(s.height(a, width, 8.5, line=3.8, max_lines=2) + 0.8 for a in actions)
    )
    since = since_lines(pack.changes, PILOT_CHANGES, False) if pack.changes is not None else []
    since_h = (6 + sum(s.height(line, width, 8.5, i == 0, 3.8, 2) for i, line in enumerate(since)) + 1) if since else 0
    decided = pack.decisions[:PILOT_DECISIONS]
    # Without a decision the page keeps its room for the charts (the HTML page says there is none).
    decisions_h = (6 + sum(s.decision_height(line, width, False) for line in decided) + 1) if decided else 0
    actions_top = s.bottom - actions_h - since_h - decisions_h
    gap = 6
    half = (width - gap) / 2
    left, right = x0, x0 + half + gap

    def column(x: float, title: str, words: str, lines: int) -> float:
        top = y + s.heading(x, y, half, title)
        return top + s.text(x, top, half, words, size=8.5, line=3.8, max_lines=lines) + 1.5

    panels = chart_panels(pack.alignment_chart)
    left_y = column(left, "Technical vs business", pack.alignment_summary, 9)
    room = actions_top - 3 - left_y
    if (
        len(panels) == 2 and room < TWO_PANELS_MIN
    ):  # too little room for both: the technical panel whole, the KPI's on the page
        panels = panels[:1]
        room -= s.height(KPI_ON_PAGE, half, 8, line=3.5) + 1
    if panels:
        shares = [0.55, 0.45] if len(panels) == 2 else [1.0]
        drawn = 0
        for panel, share in zip(panels, shares):
            h = min(room * share - 1.5, 95 if len(panels) == 1 else 80)
            if h < (FIRST_PANEL_MIN if drawn == 0 else 25):
                break
            left_y += s.chart(panel, left, left_y, half, h) + 1.5
            drawn += 1
        if drawn == 0:
            left_y += s.text(left, left_y, half, CHART_ON_PAGE, size=8, colour=(100, 100, 100), line=3.5) + 1
        elif drawn < len(chart_panels(pack.alignment_chart)):
            left_y += s.text(left, left_y, half, KPI_ON_PAGE, size=8, colour=(100, 100, 100), line=3.5) + 1
    else:
        left_y += s.text(
            left,
            left_y,
            half,
            "No chart: the pilot has no technical metric uploaded.",
            size=8.5,
            colour=(100, 100, 100),
        )
    right_y = column(right, "Adoption", ad.verdict, 10)
    if pack.adoption_chart:
        h = min(actions_top - 3 - right_y, 70)
        if h >= 25:
            right_y += s.chart(pack.adoption_chart, right, right_y, half, h) + 1.5
    else:
        right_y += s.text(
            right, right_y, half, "No chart: no survey wave large enough to show.", size=8.5, colour=(100, 100, 100)
        )
    missing = risk.missing_evidence
    if missing and actions_top - 3 - right_y >= 5.5 + 2 * 3.8:  # the room left in the column: what nobody has said yet
        right_y += 1 + s.heading(right, right_y + 1, half, "What nobody has said yet")
        for pattern, todo in missing:
            h = s.height(f"• {todo} ({pattern})", half, 8.5, line=3.8, max_lines=2)
            if right_y + h > actions_top - 3:
                break
            right_y += s.text(right, right_y, half, f"• {todo} ({pattern})", size=8.5, line=3.8, max_lines=2) + 0.6

    y = max(actions_top, left_y, right_y)
    if decided:
        y += s.heading(x0, y, width, DECISIONS_HEADING)
        for line in decided:
            y += s.decision(x0, y, width, line, False)
        y += 1
    if since:
        y += s.heading(x0, y, width, since_heading(pack.changes))
        for i, line in enumerate(since):
            y += s.text(x0, y, width, line, size=8.5, bold=i == 0, line=3.8, max_lines=2)
        y += 1
    y += s.heading(x0, y, width, "Next actions")
    if risk.next_actions:
        y += s.text(x0, y, width, ACTIONS_NOTE, size=8, colour=(100, 100, 100), line=3.6, max_lines=1)
    for a in actions:
        if y + 3.8 > s.bottom:
            break
        y += s.text(x0, y, width, a, size=8.5, line=3.8, max_lines=2) + 0.8
    s.footer(pack.link)
    return s


def pilot_pdf(pack: PilotPack, paper: str = "a4") -> bytes:
    return pilot_sheet(pack, paper).output()


# The portfolio table's columns: (heading, width in mm on A4, right-aligned); the pattern cells follow.
PORTFOLIO_COLUMNS = [
    ("Pilot", 12, False),
    ("Name", 29, False),
    ("Stage", 16, False),
    ("Months", 12, True),
    ("Spend", 27, True),
    ("Spent", 10, True),
    ("KPI", 19, True),
    ("Time", 10, True),
    ("Health", 20, False),
]
CELL_W = 6.0
TABLE_TEXT = 7.5
PATTERN_CODES = {
    "data_debt": "DD",
    "integration_avoidance": "IA",
    "organisational_resistance": "OR",
    "governance_vacuum": "GV",
    "wrong_success_metrics": "WM",
}


def cells_note(pack: PortfolioPack) -> str:
    codes = ", ".join(f"{PATTERN_CODES.get(k, k[:2].upper())} {n}" for k, n in zip(PATTERN_KEYS, pack.pattern_names))
    return (
        f"Months: in the current stage. Spend: spend to date of the budget. KPI: share of the way from baseline to target; Time: share of the time to the "
        f"KPI deadline gone. Pattern cells ({codes}): score 0–100, coloured by how it reads (low, medium, high); "
        "“?” means too little evidence to score, which is not low risk."
    )


def portfolio_sheet(pack: PortfolioPack, paper: str = "a4") -> Sheet:
    s = Sheet(paper)
    x0, width = MARGIN, s.width
    pages = 1

    def title(y: float, more: bool = False) -> float:
        used = s.text(
            x0,
            y,
            width,
            "Portfolio · steering summary" + (" (continued)" if more else ""),
            size=11 if more else 15,
            bold=True,
            line=5.5 if more else 7,
        )
        return (
            used
            + s.text(
                x0,
                y + used,
                width,
                f"{as_of_text(pack)} · {len(pack.results)} pilots",
                size=8.5,
                colour=(90, 90, 90),
                line=4.6,
                max_lines=1,
            )
            + 1
        )

    y = MARGIN + title(MARGIN)
    y += s.tiles(y, portfolio_facts(pack)) + 2

    y += s.heading(x0, y, width, f"The committee's top {COMMITTEE_ACTIONS} actions")
    y += s.text(x0, y, width, COMMITTEE_NOTE, size=8, colour=(100, 100, 100), line=3.6, max_lines=1) + 0.5
    if not pack.actions:
        y += s.text(x0, y, width, "No pilot calls for action.", size=8.5)
    for i, a in enumerate(pack.actions, 1):
        s.text(x0, y, 5, f"{i}.", size=8.5, bold=True)
        y += s.text(
            x0 + 5,
            y,
            width - 5,
            f"{a.risk.pilot_id} · {a.risk.name} ({HEALTH_LABELS[a.risk.health].lower()}), "
            f"{a.action.pattern}: {a.action.text}",
            size=8.5,
            line=3.8,
            max_lines=2,
        )
        y += (
            s.text(
                x0 + 5,
                y,
                width - 5,
                f"Because: {a.action.evidence}",
                size=8,
                colour=(100, 100, 100),
                line=3.5,
                max_lines=2,
            )
            + 1
        )
    y += 1.5
    y += s.heading(x0, y, width, DUE_HEADING)
    y += s.text(x0, y, width, decisions_note(pack), size=8, colour=(100, 100, 100), line=3.6, max_lines=2) + 0.5
    for line in pack.decisions[:PORTFOLIO_DECISIONS]:
        y += s.decision(x0, y, width, line, True)
    if len(pack.decisions) > PORTFOLIO_DECISIONS:
        more = len(pack.decisions) - PORTFOLIO_DECISIONS
        y += s.text(x0, y, width, f"… and {more} more on the Since last meeting page.", size=8.5, line=3.8, max_lines=1)
    y += 2
    if pack.changes is not None:
        y += s.heading(x0, y, width, since_heading(pack.changes))
        for i, line in enumerate(since_lines(pack.changes, PORTFOLIO_CHANGES, True)):
            y += s.text(x0, y, width, line, size=8.5, bold=i == 0, line=3.8, max_lines=2)
        y += 2.5

    y += s.heading(x0, y, width, "Every pilot, worst first")
    cells_x = x0 + width - 5 * CELL_W
    fixed = sum(w for _, w, _ in PORTFOLIO_COLUMNS)
    stretch = (cells_x - x0 - 1) / fixed  # Letter is a little wider than A4: the columns take what the cells leave
    widths = [w * stretch for _, w, _ in PORTFOLIO_COLUMNS]
    reason_x = x0 + widths[0]
    reason_w = x0 + sum(widths[:-1]) - reason_x - 1.5  # under the numbers, beside the health chip

    def header(y: float) -> float:
        s.font(TABLE_TEXT, True, (85, 85, 85))
        x = x0
        for (label, _, right), w in zip(PORTFOLIO_COLUMNS, widths):
            s.pdf.set_xy(x + (1.5 if label == "Health" else 0), y)
            s.pdf.cell(w - 1, 4, s.fit(label, w - 1), align="R" if right else "L")
            x += w
        for i, key in enumerate(PATTERN_KEYS):
            s.pdf.set_xy(cells_x + i * CELL_W, y)
            s.pdf.cell(CELL_W, 4, PATTERN_CODES.get(key, key[:2].upper()), align="C")
        s.pdf.set_draw_color(150, 150, 150)
        s.pdf.line(x0, y + 4.3, x0 + width, y + 4.3)
        return 4.8

    y += header(y)
    note = cells_note(pack)
    note_h = s.height(note, width, 8, line=3.5)
    for n, row in enumerate(pack.rows):
        r = row.risk
        reason_h = s.height(r.health_reason, reason_w, TABLE_TEXT, line=3.3, max_lines=2)
        h = 3.6 + reason_h + 0.9
        if y + h > s.bottom:
            s.footer(pack.link, f" · page {pages}")
            s.pdf.add_page()
            pages += 1
            y = MARGIN + title(MARGIN, more=True)
            y += header(y)
        values = [
            r.pilot_id,
            r.name,
            STAGE_LABELS.get(row.stage, row.stage or "—"),
            f"{row.months_in_stage:.1f}" if row.months_in_stage is not None else "—",
            spend_text(row.spend, row.budget),
            percent(row.spend_share),
            kpi_text(row.kpi_progress),
            time_text(row.kpi_progress),
            HEALTH_LABELS[r.health],
        ]
        warn = [
            False,
            False,
            False,
            False,
            False,
            bool(row.spend_share and row.spend_share > 1),
            bool(row.kpi_progress and row.kpi_progress.behind),
            False,
            False,
        ]
        x = x0
        for (label, _, right), w, value, red in zip(PORTFOLIO_COLUMNS, widths, values, warn):
            if label == "Health":  # a chip in the health's colour, on two lines if its label needs them
                s.font(TABLE_TEXT, True)
                chip = s.lines(value, w - 3.1, 2)
                s.text(
                    x + 1.5,
                    y,
                    max(s.pdf.get_string_width(c) for c in chip) + 1.6,
                    value,
                    size=TABLE_TEXT,
                    bold=True,
                    colour=(255, 255, 255),
                    line=3.3,
                    max_lines=2,
                    fill=HEALTH_COLOURS[r.health],
                    pad=0.3,
                )
            else:
                s.text(
                    x,
                    y,
                    w - 1,
                    value,
                    size=TABLE_TEXT,
                    bold=label == "Pilot",
                    colour=(192, 57, 43) if red else (34, 34, 34),
                    line=3.6,
                    max_lines=1,
                    align="R" if right else "L",
                )
            x += w
        s.text(
            reason_x, y + 3.6, reason_w, r.health_reason, size=TABLE_TEXT, colour=(90, 90, 90), line=3.3, max_lines=2
        )
        for i, key in enumerate(PATTERN_KEYS):
            p = r.patterns[key]
            cx = cells_x + i * CELL_W
            s.pdf.set_fill_color(*_rgb(STATUS_COLOURS[p.status]))
            s.pdf.rect(cx + 0.25, y - 0.2, CELL_W - 0.5, h - 0.7, style="F")
            s.font(7, colour=_rgb(STATUS_TEXT[p.status]))
            s.pdf.set_xy(cx, y - 0.2 + (h - 0.7) / 2 - 1.6)
            s.pdf.cell(CELL_W, 3.2, p.score_label, align="C")
        s.pdf.set_draw_color(230, 230, 230)
        s.pdf.line(x0, y + h - 0.6, cells_x, y + h - 0.6)
        y += h
    y += 1
    if y + note_h > s.bottom:
        s.footer(pack.link, f" · page {pages}")
        s.pdf.add_page()
        pages += 1
        y = MARGIN + title(MARGIN, more=True)
    s.text(x0, y, width, note, size=8, colour=(100, 100, 100), line=3.5)
    s.footer(pack.link, f" · page {pages}" if pages > 1 else "")
    return s


def portfolio_pdf(pack: PortfolioPack, paper: str = "a4") -> bytes:
    return portfolio_sheet(pack, paper).output()


def file_name(what: str, fmt: str, as_of: datetime) -> str:
    return f"pilot_health_{what}_{as_of:%Y%m%d_%H%M}.{fmt}"


def export(
    store: Store,
    *,
    pilot_id: str | None,
    fmt: str,
    base_url: str,
    pinned: datetime | None = None,
    paper: str = "a4",
    since: datetime | None = None,
) -> tuple[bytes, str]:
    """The document and its file name: one pilot's summary (pilot_id) or the portfolio's (None);
    with `since`, a "Since last meeting" section."""
    if pilot_id:
        pack = pilot_pack(store, pilot_id, base_url, pinned, since=since)
        data = pilot_pdf(pack, paper) if fmt == "pdf" else pilot_html(pack).encode("utf-8")
        return data, file_name(pilot_id, fmt, pack.as_of)
    pack = portfolio_pack(store, base_url, pinned, since=since)
    data = portfolio_pdf(pack, paper) if fmt == "pdf" else portfolio_html(pack).encode("utf-8")
    return data, file_name("portfolio", fmt, pack.as_of)
