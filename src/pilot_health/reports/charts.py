"""Altair charts for the pages and the steering pack. They take the frames the domain computes and
add nothing but looks; text from users only ever reaches a chart as data (axis labels, tooltips),
never as markup. No Streamlit here: the steering pack draws the same charts outside the app."""

from __future__ import annotations

import altair as alt
import pandas as pd

from pilot_health.config import CANCELLATION_MONTHS, PURGATORY_MONTHS
from pilot_health.models import STAGE_LABELS, STAGES
from pilot_health.rules.catalogue import PATTERN_SHORT_NAMES

STAGE_COLOURS = {
    "proposed": "#9aa5b1",
    "pilot": "#e09f1f",
    "scaling": "#2a9d8f",
    "production": "#1b6ca8",
    "paused": "#b5838d",
    "cancelled": "#6c757d",
}
MAX_PILOTS_PER_CHART = 40
ROW_HEIGHT = 24
MIN_HEIGHT = 160
# Charts with a row per pilot keep their height for the rows and fit only their width to the page:
# Streamlit's default ("fit" both ways) squeezed a few rows, their axis and legend into MIN_HEIGHT.
ROWS_AUTOSIZE = alt.AutoSizeParams(type="fit-x", contains="padding")


def _height(rows: int) -> int:
    return max(MIN_HEIGHT, ROW_HEIGHT * rows)


def _stage_scale(present: pd.Series | None = None) -> alt.Scale:
    """Stage colours, fixed per stage; the legend lists only the stages present."""
    stages = [s for s in STAGES if present is None or s in set(present)]
    return alt.Scale(domain=[STAGE_LABELS[s] for s in stages], range=[STAGE_COLOURS[s] for s in stages])


def _with_labels(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["stage_label"] = out["stage"].map(STAGE_LABELS)
    out["pilot_label"] = out["pilot_id"] + " · " + out["name"].str.slice(0, 40)
    return out


def stage_chart(counts: pd.DataFrame) -> alt.Chart:
    data = counts.assign(stage_label=counts["stage"].map(STAGE_LABELS))
    order = [STAGE_LABELS[s] for s in STAGES]
    bars = (
        alt.Chart(data)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("stage_label:N", sort=order, title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("pilots:Q", title="Pilots", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color("stage_label:N", scale=_stage_scale(), legend=None),
            tooltip=[alt.Tooltip("stage_label:N", title="Stage"), alt.Tooltip("pilots:Q", title="Pilots")],
        )
    )
    labels = bars.mark_text(dy=-8).encode(text="pilots:Q", color=alt.value("#333"))
    return (bars + labels).properties(height=260)


def _month_rules(max_months: float) -> alt.LayerChart:
    marks = pd.DataFrame(
        {
            "months": [PURGATORY_MONTHS, CANCELLATION_MONTHS],
            "label": [f"{PURGATORY_MONTHS} months: purgatory", f"{CANCELLATION_MONTHS} months: likely cancellation"],
        }
    )
    marks = marks[marks["months"] <= max(max_months, CANCELLATION_MONTHS)]
    # The first label sits left of its line and the second right of its, so they never collide.
    marks["align"] = ["right", "left"][: len(marks)]
    rules = alt.Chart(marks).mark_rule(strokeDash=[5, 4], color="#c0392b").encode(x="months:Q")
    left = alt.Chart(marks[marks["align"] == "right"]).mark_text(
        align="right", dx=-4, dy=-6, color="#c0392b", fontSize=11
    )
    right = alt.Chart(marks[marks["align"] == "left"]).mark_text(
        align="left", dx=4, dy=-6, color="#c0392b", fontSize=11
    )
    labels = [layer.encode(x="months:Q", y=alt.value(0), text="label:N") for layer in (left, right)]
    return alt.layer(rules, *labels)


def time_in_stage_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Months each pilot has spent in its current stage, against the 6- and 18-month marks."""
    data = _with_labels(frame.dropna(subset=["months_in_stage"]))
    max_months = float(data["months_in_stage"].max()) if len(data) else 0.0
    x_scale = alt.Scale(domain=[0, max(max_months, CANCELLATION_MONTHS) * 1.05])
    if len(data) > MAX_PILOTS_PER_CHART:
        bars = (
            alt.Chart(data)
            .mark_bar()
            .encode(
                x=alt.X("months_in_stage:Q", bin=alt.Bin(step=3), title="Months in current stage", scale=x_scale),
                y=alt.Y("count():Q", title="Pilots"),
                color=alt.Color("stage_label:N", scale=_stage_scale(data["stage"]), title="Stage"),
                tooltip=[alt.Tooltip("stage_label:N", title="Stage"), alt.Tooltip("count():Q", title="Pilots")],
            )
        )
        return (bars + _month_rules(max_months)).properties(height=280)
    order = data.sort_values("months_in_stage", ascending=False)["pilot_label"].tolist()
    bars = (
        alt.Chart(data)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            y=alt.Y("pilot_label:N", sort=order, title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
            x=alt.X("months_in_stage:Q", title="Months in current stage", scale=x_scale),
            color=alt.Color("stage_label:N", scale=_stage_scale(data["stage"]), title="Stage"),
            tooltip=[
                alt.Tooltip("pilot_id:N", title="Pilot"),
                alt.Tooltip("name:N", title="Name"),
                alt.Tooltip("stage_label:N", title="Stage"),
                alt.Tooltip("stage_since:T", title="In stage since", format="%d %b %Y"),
                alt.Tooltip("months_in_stage:Q", title="Months in stage", format=".1f"),
            ],
        )
    )
    return (bars + _month_rules(max_months)).properties(height=_height(len(data)), autosize=ROWS_AUTOSIZE)


def budget_chart(frame: pd.DataFrame, by_unit: pd.DataFrame | None = None, currency: str = "$") -> alt.LayerChart:
    """Spend to date against budget: grey bar = budget, coloured bar = spend (red when over);
    amounts in `currency` (named in the axis title and the tooltips)."""
    if by_unit is not None:
        data = by_unit.rename(columns={"business_unit": "label"})
        y_title, tooltip_label = "Business unit", "Business unit"
    else:
        data = _with_labels(frame.dropna(subset=["budget"])).rename(columns={"pilot_label": "label"})
        y_title, tooltip_label = None, "Pilot"
    data = data.assign(
        status=(data["spend_to_date"] > data["budget"]).map({True: "Over budget", False: "Within budget"}),
        spend_share=data["spend_to_date"] / data["budget"].where(data["budget"] > 0),
    )
    tooltip = [
        alt.Tooltip("label:N", title=tooltip_label),
        alt.Tooltip("budget:Q", title=f"Budget ({currency})", format=",.0f"),
        alt.Tooltip("spend_to_date:Q", title=f"Spend to date ({currency})", format=",.0f"),
        alt.Tooltip("spend_share:Q", title="Spent", format=".0%"),
    ]
    order = data.sort_values("budget", ascending=False)["label"].tolist()
    base = alt.Chart(data).encode(
        y=alt.Y("label:N", sort=order, title=y_title, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
        tooltip=tooltip,
    )
    budget = base.mark_bar(color="#d9dee3", cornerRadiusEnd=3).encode(
        x=alt.X("budget:Q", title=f"Budget and spend to date ({currency})", axis=alt.Axis(format="~s"))
    )
    spend = base.mark_bar(height=8, cornerRadiusEnd=3).encode(
        x="spend_to_date:Q",
        color=alt.Color(
            "status:N",
            scale=alt.Scale(domain=["Within budget", "Over budget"], range=["#1b6ca8", "#c0392b"]),
            title=None,
        ),
    )
    return (budget + spend).properties(height=_height(len(data)), autosize=ROWS_AUTOSIZE)


# -- risk ------------------------------------------------------------------------------------------

RISK_COLOURS = alt.Scale(domain=[0, 30, 60, 100], range=["#d8efe0", "#f6d365", "#f08c45", "#c0392b"])
INSUFFICIENT_COLOUR = "#eceff3"
HEALTH_COLOURS = {"green": "#2e9e5b", "amber": "#e09f1f", "red": "#c0392b", "insufficient": "#9aa5b1"}
HEALTH_WORDS = {"green": "Green", "amber": "Amber", "red": "Red", "insufficient": "Insufficient evidence"}
HEALTH_SHORT = {"green": "Green", "amber": "Amber", "red": "Red", "insufficient": "Insufficient"}  # fits a heatmap cell
HEALTH_TEXT = {"green": "white", "amber": "#222", "red": "white", "insufficient": "#222"}  # readable on each colour
HEALTH_COLUMN = "Health"
# The five failure patterns' colours, wherever patterns are coloured (trend lines, legends): the
# Okabe–Ito colour-blind-safe palette without its orange, vermillion and bluish green, which would
# read as the health colours (red, amber, green mean health, never a pattern). Charts also give each
# pattern its own point shape, so no reader depends on colour alone.
PATTERN_COLOURS = {
    "data_debt": "#0072B2",  # blue
    "integration_avoidance": "#56B4E9",  # sky blue
    "organisational_resistance": "#CC79A7",  # reddish purple
    "governance_vacuum": "#000000",  # black
    "wrong_success_metrics": "#F0E442",  # yellow
}
PATTERN_SHAPES = {
    "data_debt": "circle",
    "integration_avoidance": "square",
    "organisational_resistance": "triangle-up",
    "governance_vacuum": "diamond",
    "wrong_success_metrics": "cross",
}


def pattern_scale(pattern_order: list[str], keys: list[str] | None = None, shapes: bool = False) -> alt.Scale:
    """The pattern colours (or point shapes) for patterns named in `pattern_order`, in the catalogue's
    key order `keys` (the five patterns' keys, PATTERN_KEYS, by default)."""
    from pilot_health.rules.catalogue import PATTERN_KEYS

    keys = list(keys or PATTERN_KEYS)
    values = PATTERN_SHAPES if shapes else PATTERN_COLOURS
    return alt.Scale(domain=list(pattern_order), range=[values[k] for k in keys[: len(pattern_order)]])


def risk_heatmap(frame: pd.DataFrame, order: list[str], pattern_order: list[str]) -> alt.LayerChart:
    """Pilots × five patterns, coloured by score, with each pilot's health first (its colour and its
    word, so it never rests on colour alone); cells with too little evidence are pale grey and say
    so. Clicking a cell selects its pilot (selection parameters `pick`, and `pick_health` on the
    health column)."""
    data = frame.assign(
        pilot_label=frame["pilot_id"] + " · " + frame["name"].str.slice(0, 34),
        shown=frame["score"].where(frame["status"] != "insufficient"),
        label=[("?" if s == "insufficient" else f"{v:.0f}") for s, v in zip(frame["status"], frame["score"].fillna(0))],
        coverage_pct=(frame["coverage"] * 100).round(0),
        status_label=frame["status"].map(
            {"high": "high", "medium": "medium", "low": "low", "insufficient": "insufficient evidence"}
        ),
        pattern_short=[
            PATTERN_SHORT_NAMES.get(k, n) for k, n in zip(frame["pattern"], frame["pattern_name"], strict=True)
        ],
    )
    labels = data.drop_duplicates("pilot_id").set_index("pilot_id")["pilot_label"].reindex(order).tolist()
    health = data.drop_duplicates("pilot_id")[["pilot_id", "name", "pilot_label", "health"]].assign(
        pattern_short=HEALTH_COLUMN,
        health_word=lambda d: d["health"].map(HEALTH_WORDS),
        health_short=lambda d: d["health"].map(HEALTH_SHORT),
    )
    pick = alt.selection_point(fields=["pilot_id"], name="pick", on="click", clear=False)
    pick_health = alt.selection_point(fields=["pilot_id"], name="pick_health", on="click", clear=False)
    short_of = dict(zip(data["pattern_name"], data["pattern_short"], strict=True))
    x_order = [HEALTH_COLUMN, *[short_of.get(p, p) for p in pattern_order]]
    y = alt.Y("pilot_label:N", sort=labels, title=None, axis=alt.Axis(labelLimit=280, labelOverlap=False))
    x = alt.X(
        "pattern_short:N",
        sort=x_order,
        scale=alt.Scale(domain=x_order),
        title=None,
        axis=alt.Axis(orient="top", labelAngle=0, labelLimit=160),
    )
    base = alt.Chart(data).encode(y=y, x=x)
    # The tooltip sits on the cells only: a layer without a selection or tooltip is drawn
    # non-interactive by Vega-Lite, so a click on a cell's number reaches the cell beneath it.
    cells = (
        base.mark_rect(stroke="white", strokeWidth=2, cornerRadius=3)
        .encode(
            tooltip=[
                alt.Tooltip("pilot_id:N", title="Pilot"),
                alt.Tooltip("pattern_name:N", title="Pattern"),
                alt.Tooltip("score:Q", title="Score (0–100)", format=".0f"),
                alt.Tooltip("coverage_pct:Q", title="Evidence known (%)"),
                alt.Tooltip("status_label:N", title="Reads"),
                alt.Tooltip("fired:Q", title="Warning signs"),
            ],
            color=alt.condition(
                "datum.status == 'insufficient'",
                alt.value(INSUFFICIENT_COLOUR),
                alt.Color(
                    "shown:Q", scale=RISK_COLOURS, title="Score", legend=alt.Legend(orient="bottom", gradientLength=220)
                ),
            ),
        )
        .add_params(pick)
    )
    text = base.mark_text(fontSize=12).encode(
        text="label:N",
        color=alt.condition("datum.shown >= 60", alt.value("white"), alt.value("#333")),
    )
    kinds = list(HEALTH_COLOURS)
    marker = alt.Chart(health).encode(y=y, x=x)
    health_cells = (
        marker.mark_rect(stroke="white", strokeWidth=2, cornerRadius=3)
        .encode(
            color=alt.Color(
                "health:N", scale=alt.Scale(domain=kinds, range=[HEALTH_COLOURS[k] for k in kinds]), legend=None
            ),
            tooltip=[alt.Tooltip("pilot_id:N", title="Pilot"), alt.Tooltip("health_word:N", title="Health")],
        )
        .add_params(pick_health)
    )
    health_text = marker.mark_text(fontSize=12, fontWeight="bold").encode(
        text="health_short:N",
        color=alt.Color("health:N", scale=alt.Scale(domain=kinds, range=[HEALTH_TEXT[k] for k in kinds]), legend=None),
    )
    return (
        alt.layer(cells, text, health_cells, health_text)
        .resolve_scale(color="independent")
        .properties(height=_height(len(labels)), autosize=ROWS_AUTOSIZE, usermeta={"embedOptions": {"renderer": "svg"}})
    )


def risk_trend_chart(trend: pd.DataFrame, pattern_order: list[str]) -> alt.LayerChart:
    """Monthly pattern scores, one colour and point shape per pattern; months with too little
    evidence are left as gaps."""
    data = trend.assign(shown=trend["score"].where(trend["status"] != "insufficient"))
    lines = (
        alt.Chart(data)
        .mark_line(point=alt.OverlayMarkDef(size=60, filled=True, stroke="#333", strokeWidth=0.6), strokeWidth=2.5)
        .encode(
            x=alt.X("month:T", title=None, axis=alt.Axis(format="%b %Y")),
            y=alt.Y("shown:Q", title="Score (0–100)", scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("pattern_name:N", sort=pattern_order, scale=pattern_scale(pattern_order), title="Pattern"),
            shape=alt.Shape(
                "pattern_name:N", sort=pattern_order, scale=pattern_scale(pattern_order, shapes=True), title="Pattern"
            ),
            tooltip=[
                alt.Tooltip("month:T", title="Month end", format="%d %b %Y"),
                alt.Tooltip("pattern_name:N", title="Pattern"),
                alt.Tooltip("score:Q", title="Score", format=".0f"),
                alt.Tooltip("coverage:Q", title="Evidence known", format=".0%"),
                alt.Tooltip("status:N", title="Reads"),
            ],
        )
    )
    bands = (
        alt.Chart(pd.DataFrame({"y": [30, 60], "label": ["medium", "high"]}))
        .mark_rule(strokeDash=[4, 4], color="#999")
        .encode(y="y:Q")
    )
    return (bands + lines).properties(height=260)


# -- alignment -----------------------------------------------------------------------------------------

ENVIRONMENT_COLOURS = alt.Scale(domain=["lab", "live"], range=["#9aa5b1", "#1b6ca8"])
BAND_COLOURS = alt.Scale(domain=["warning", "critical"], range=["#f4d58d", "#f1a9a0"])
# Alert crossings as marks with a legend, never as text on the chart (two crossings a week apart overlapped).
EVENT_WHAT = ["decay warning", "decay critical", "drift warning", "drift critical"]
EVENT_MARKS = {
    "color": alt.Scale(domain=EVENT_WHAT, range=["#b7791f", "#c0392b", "#b7791f", "#c0392b"]),
    "shape": alt.Scale(domain=EVENT_WHAT, range=["triangle-down", "triangle-down", "diamond", "diamond"]),
}
JUDGED_COLOUR = "#e8eef5"
# The same room for the y-axis labels in both panels, so that their time axes line up when drawn apart.
Y_AXIS = alt.Axis(minExtent=48, maxExtent=48)
CADENCE_TITLES = {"day": "Day", "week": "Week of", "month": "Month of", "quarter": "Quarter from"}
CADENCE_FORMATS = {"day": "%d %b %Y", "week": "%d %b %Y", "month": "%b %Y", "quarter": "%b %Y"}


def _legend(title: str) -> alt.Legend:
    """Legends under the panel: beside it they pushed the chart past the page's right edge."""
    return alt.Legend(title=title, orient="bottom", direction="horizontal")


def better_title(label: str, flipped: bool) -> list[str]:
    """A y-axis title that says which way is better (two lines)."""
    return [label, "lower is better · scale upside down: up = better" if flipped else "higher is better: up = better"]


def _day(value) -> alt.DateTime:
    day = pd.Timestamp(value)
    return alt.DateTime(year=day.year, month=day.month, date=day.day)


def _x(domain: tuple | None) -> alt.X:
    return alt.X("week:T", title=None, scale=alt.Scale(domain=[_day(d) for d in domain]) if domain else alt.Undefined)


def _judged_layer(chart, domain: tuple | None) -> list:
    """A pale band over the periods the verdict compared, cut to the axis."""
    window = chart.judged_window
    if window is None:
        return []
    start, end = window
    if domain:
        start, end = max(start, pd.Timestamp(domain[0])), min(end, pd.Timestamp(domain[1]))
    if start >= end:
        return []
    frame = pd.DataFrame(
        [
            {
                "start": start,
                "end": end,
                "what": "compared for the verdict",
                "periods": f"{chart.judged.periods} {chart.judged.period}ly periods",
            }
        ]
    )
    return [
        alt.Chart(frame)
        .mark_rect(color=JUDGED_COLOUR, opacity=0.7)
        .encode(
            x=alt.X("start:T", scale=alt.Scale(domain=[_day(d) for d in domain]) if domain else alt.Undefined),
            x2="end:T",
            tooltip=[
                alt.Tooltip("what:N", title=" "),
                alt.Tooltip("start:T", title="From", format="%d %b %Y"),
                alt.Tooltip("end:T", title="To", format="%d %b %Y"),
                alt.Tooltip("periods:N", title="Compared"),
            ],
        )
    ]


def technical_panel(chart, width_days: tuple | None = None) -> alt.LayerChart:
    """The technical metric: lab (grey) and live (blue) values, the decay alert zones as bands
    beyond the decay reference, and a marker (listed in the legend, never a text on the chart)
    where decay or drift crossed a level. A lower-is-better metric is drawn on an upside-down scale
    so that up always means better, as the verdict reads it; the periods the verdict compared are
    shaded."""
    tech = chart.technical.assign(environment_label=chart.technical["environment"].map({"lab": "lab", "live": "live"}))
    flipped = chart.technical_flipped
    y_scale = alt.Scale(zero=False, reverse=flipped)
    when = CADENCE_TITLES.get(chart.technical_cadence, "Date")
    day_format = CADENCE_FORMATS.get(chart.technical_cadence, "%d %b %Y")
    layers = _judged_layer(chart, width_days)
    if not chart.bands.empty:
        layers.append(
            alt.Chart(chart.bands)
            .mark_rect(opacity=0.35)
            .encode(
                y=alt.Y("low:Q", scale=y_scale),
                y2="high:Q",
                color=alt.Color("level:N", scale=BAND_COLOURS, legend=_legend("Decay alert zone")),
                tooltip=[
                    alt.Tooltip("level:N", title="Zone"),
                    alt.Tooltip("low:Q", format=".4g", title="from"),
                    alt.Tooltip("high:Q", format=".4g", title="to"),
                ],
            )
        )
    lines = (
        alt.Chart(tech)
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(
            x=_x(width_days),
            y=alt.Y("value:Q", title=better_title(chart.metric_label, flipped), scale=y_scale, axis=Y_AXIS),
            stroke=alt.Stroke("environment_label:N", scale=ENVIRONMENT_COLOURS, legend=_legend("Measured in")),
            strokeDash=alt.StrokeDash(
                "environment_label:N", scale=alt.Scale(domain=["lab", "live"], range=[[4, 3], [1, 0]]), legend=None
            ),
            tooltip=[
                alt.Tooltip("week:T", title=when, format=day_format),
                alt.Tooltip("environment_label:N", title="Measured in"),
                alt.Tooltip("value:Q", title=chart.metric_label, format=".4g"),
            ],
        )
    )
    layers.append(lines)
    if not chart.events.empty:
        # fill and shape on one field with one title: a single legend listing each crossing's marker
        # (only the kinds that occur).
        present = [w for w in EVENT_WHAT if w in set(chart.events["what"])]
        fills = alt.Scale(domain=present, range=[EVENT_MARKS["color"].range[EVENT_WHAT.index(w)] for w in present])
        shapes = alt.Scale(domain=present, range=[EVENT_MARKS["shape"].range[EVENT_WHAT.index(w)] for w in present])
        layers.append(
            alt.Chart(chart.events)
            .mark_point(size=110, filled=True, opacity=1)
            .encode(
                x="week:T",
                y=alt.Y("value:Q", scale=y_scale),
                fill=alt.Fill("what:N", scale=fills, legend=_legend("Alert level crossed")),
                shape=alt.Shape("what:N", scale=shapes, legend=_legend("Alert level crossed")),
                tooltip=[alt.Tooltip("week:T", title=when, format=day_format), alt.Tooltip("what:N", title="Crossed")],
            )
        )
    return (
        alt.layer(*layers)
        .resolve_scale(color="independent")
        .properties(height=240, title=f"{chart.metric_label} (technical)")
    )


def kpi_panel(chart, width_days: tuple | None = None) -> alt.LayerChart:
    """The KPI: its values, baseline and target lines, the plan (baseline at approval to target
    at the deadline, cut to the axis) and the point where it should be by now (when it falls on the
    axis). Upside down when lower is better, like the technical panel."""
    label = chart.kpi_label or "KPI"
    flipped = chart.kpi_flipped
    y_scale = alt.Scale(zero=False, reverse=flipped)
    when = CADENCE_TITLES.get(chart.kpi_cadence, "Date")
    day_format = CADENCE_FORMATS.get(chart.kpi_cadence, "%d %b %Y")
    layers = _judged_layer(chart, width_days)
    layers.append(
        alt.Chart(chart.kpi)
        .mark_line(point=alt.OverlayMarkDef(size=18), color="#2a9d8f")
        .encode(
            x=_x(width_days),
            y=alt.Y("value:Q", title=better_title(label, flipped), scale=y_scale, axis=Y_AXIS),
            tooltip=[
                alt.Tooltip("week:T", title=when, format=day_format),
                alt.Tooltip("value:Q", title=label, format=".4g"),
            ],
        )
    )
    if not chart.kpi_lines.empty:
        rules = alt.Chart(chart.kpi_lines)
        layers.append(
            rules.mark_rule(strokeDash=[6, 4], color="#555").encode(
                y=alt.Y("value:Q", scale=y_scale),
                tooltip=[alt.Tooltip("line:N", title="Line"), alt.Tooltip("value:Q", format=".4g", title="Value")],
            )
        )
        layers.append(
            rules.mark_text(align="left", dx=4, dy=-6, fontSize=11, color="#555").encode(
                x=alt.value(0), y=alt.Y("value:Q", scale=y_scale), text="line:N"
            )
        )
    if not chart.plan.empty:
        layers.append(
            alt.Chart(chart.plan)
            .mark_line(strokeDash=[2, 3], color="#b5838d", clip=True)
            .encode(
                x="week:T",
                y=alt.Y("value:Q", scale=y_scale),
                tooltip=[alt.Tooltip("week:T", format="%d %b %Y", title="Plan"), alt.Tooltip("value:Q", format=".4g")],
            )
        )
    if chart.expected_now and chart.expected_now_shown:
        marker = pd.DataFrame([{**chart.expected_now, "what": "where it should be by now"}])
        layers.append(
            alt.Chart(marker)
            .mark_point(shape="diamond", size=140, filled=True, color="#b5838d", clip=True)
            .encode(
                x="week:T",
                y=alt.Y("value:Q", scale=y_scale),
                tooltip=[
                    alt.Tooltip("what:N", title=" "),
                    alt.Tooltip("week:T", format="%d %b %Y", title="Day"),
                    alt.Tooltip("value:Q", format=".4g", title=label),
                ],
            )
        )
    return alt.layer(*layers).properties(height=200, title=f"{label} (business KPI)")


def alignment_chart(chart) -> alt.VConcatChart:
    """Both panels on one time axis, cut to the plotted values' first and last date."""
    span = chart.span
    domain = (span[0].isoformat(), span[1].isoformat()) if span else None
    panels = [technical_panel(chart, domain)]
    if not chart.kpi.empty:
        panels.append(kpi_panel(chart, domain))
    return alt.vconcat(*panels).resolve_scale(
        x="shared", color="independent", stroke="independent", shape="independent", fill="independent"
    )


def alignment_panels(chart) -> list[alt.LayerChart]:
    """The two panels as separate charts for the page, each fitted to the page's width (a vconcat
    stretched by Streamlit ran past the right edge by its axis titles and legends); same x domain and
    y-axis room, so their time axes line up."""
    span = chart.span
    domain = (span[0].isoformat(), span[1].isoformat()) if span else None
    panels = [technical_panel(chart, domain)]
    if not chart.kpi.empty:
        panels.append(kpi_panel(chart, domain))
    return [panel.properties(autosize=ROWS_AUTOSIZE) for panel in panels]


# -- adoption ----------------------------------------------------------------------------------------

ELEMENT_ORDER = ["Awareness", "Desire", "Knowledge", "Ability", "Reinforcement"]
BARRIER_ORDER = [*ELEMENT_ORDER, "Not stuck"]
ADKAR_COLOURS = alt.Scale(domain=ELEMENT_ORDER, range=["#1b6ca8", "#2a9d8f", "#e09f1f", "#b5838d", "#6c4f9e"])
SCORE_COLOURS = alt.Scale(domain=[1, 3, 5], range=["#c0392b", "#f4d58d", "#2a9d8f"])
SUPPRESSED_COLOUR = "#eceff1"


SCORE_SCALE = alt.Scale(domain=[1, 5], zero=False, nice=False)


def _stuck_rule() -> alt.Chart:
    """The line at 3: a score at or below it is where people are stuck."""
    return (
        alt.Chart(pd.DataFrame({"y": [3.0], "label": ["3 or below: stuck"]}))
        .mark_rule(strokeDash=[4, 4], color="#c0392b")
        .encode(y=alt.Y("y:Q", scale=SCORE_SCALE), tooltip=[alt.Tooltip("label:N", title=" ")])
    )


def adkar_profile_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """The five element means of one group as bars (this wave), with the previous wave as ticks."""
    now = frame[frame["which"] == "this wave"]
    before = frame[frame["which"] == "previous wave"]
    y = alt.Y("mean:Q", title="Mean score (1–5)", scale=SCORE_SCALE)
    tooltip = [
        alt.Tooltip("element:N", title="Element"),
        alt.Tooltip("wave:Q", title="Wave"),
        alt.Tooltip("mean:Q", title="Mean", format=".2f"),
        alt.Tooltip("answered:Q", title="Answers"),
        alt.Tooltip("low_share:Q", title="Scored 3 or below", format=".0%"),
    ]
    layers = [
        alt.Chart(now)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("element:N", sort=ELEMENT_ORDER, title=None, axis=alt.Axis(labelAngle=0)),
            y=y,
            y2=alt.datum(1),
            color=alt.Color("element:N", scale=ADKAR_COLOURS, legend=None),
            tooltip=tooltip,
        )
    ]
    if not before.empty:
        layers.append(
            alt.Chart(before)
            .mark_tick(color="#333", thickness=2, size=30)
            .encode(x=alt.X("element:N", sort=ELEMENT_ORDER), y=y, tooltip=tooltip)
        )
    layers.append(_stuck_rule())
    return alt.layer(*layers).properties(height=240)


def barrier_chart(frame: pd.DataFrame, horizontal: bool = False) -> alt.LayerChart:
    """How many respondents have each element as their barrier point (and how many none).
    `horizontal`: the elements down the side (for a narrow column, e.g. the steering pack)."""
    # Six names side by side do not fit a half-page chart: slanted, every one is shown (level, Vega dropped every other).
    element = alt.X(
        "barrier:N",
        sort=BARRIER_ORDER,
        title=None,
        axis=alt.Axis(labelAngle=-30, labelAlign="right", labelOverlap=False),
    )
    count = alt.Y("respondents:Q", title="Respondents", axis=alt.Axis(tickMinStep=1))
    if horizontal:
        element = alt.Y("barrier:N", sort=BARRIER_ORDER, title=None)
        most = float(frame["respondents"].max()) if len(frame) else 0.0  # room after the longest bar for its number
        count = alt.X(
            "respondents:Q",
            title="Respondents",
            axis=alt.Axis(tickMinStep=1),
            scale=alt.Scale(domain=[0, max(most * 1.15, 1)]),
        )
    bars = (
        alt.Chart(frame)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            **({"y": element, "x": count} if horizontal else {"x": element, "y": count}),
            color=alt.Color(
                "barrier:N", scale=alt.Scale(domain=BARRIER_ORDER, range=[*ADKAR_COLOURS.range, "#9aa5b1"]), legend=None
            ),
            tooltip=[
                alt.Tooltip("barrier:N", title="Barrier point"),
                alt.Tooltip("respondents:Q", title="Respondents"),
                alt.Tooltip("share:Q", title="Share", format=".0%"),
            ],
        )
    )
    labels = bars.mark_text(align="left", dx=3, color="#333") if horizontal else bars.mark_text(dy=-8, color="#333")
    return (bars + labels.encode(text="respondents:Q")).properties(height=240)


def adkar_heatmap(frame: pd.DataFrame) -> alt.LayerChart:
    """Groups × elements, coloured by mean score; a cell with fewer answers than the anonymity
    minimum is pale grey and says so."""
    groups = frame.drop_duplicates("group").sort_values("group_order")["group"].tolist()
    base = alt.Chart(frame).encode(
        y=alt.Y("group:N", sort=groups, title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("element:N", sort=ELEMENT_ORDER, title=None, axis=alt.Axis(orient="top", labelAngle=0)),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2, cornerRadius=3).encode(
        color=alt.condition(
            "datum.suppressed",
            alt.value(SUPPRESSED_COLOUR),
            alt.Color(
                "mean:Q", scale=SCORE_COLOURS, title="Mean score", legend=alt.Legend(orient="right", gradientLength=80)
            ),
        ),
        tooltip=[
            alt.Tooltip("group:N", title="Group (respondents)"),
            alt.Tooltip("element:N", title="Element"),
            alt.Tooltip("cell:N", title="Mean"),
            alt.Tooltip("answered:Q", title="Answers"),
            alt.Tooltip("low_share:Q", title="Scored 3 or below", format=".0%"),
        ],
    )
    text = base.mark_text(fontSize=12).encode(text="cell:N", color=alt.value("#333"))
    return (cells + text).properties(height=44 * max(len(groups), 1))


def adkar_trend_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Each element's mean, wave by wave."""
    lines = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("wave:O", title="Survey wave", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("mean:Q", title="Mean score (1–5)", scale=SCORE_SCALE),
            color=alt.Color("element:N", scale=ADKAR_COLOURS, sort=ELEMENT_ORDER, title="Element"),
            tooltip=[
                alt.Tooltip("wave:O", title="Wave"),
                alt.Tooltip("element:N", title="Element"),
                alt.Tooltip("mean:Q", title="Mean", format=".2f"),
                alt.Tooltip("answered:Q", title="Answers"),
                alt.Tooltip("respondents:Q", title="Respondents"),
            ],
        )
    )
    return (_stuck_rule() + lines).properties(height=240)


def usage_chart(chart) -> alt.LayerChart:
    """Active users week by week against the target, with the survey waves marked on the same axis."""
    layers = []
    if not chart.usage.empty:
        layers.append(
            alt.Chart(chart.usage)
            .mark_line(point=alt.OverlayMarkDef(size=18), color="#1b6ca8")
            .encode(
                x=alt.X("week:T", title=None),
                y=alt.Y("active_users:Q", title="Active users"),
                tooltip=[
                    alt.Tooltip("week:T", title="Week of", format="%d %b %Y"),
                    alt.Tooltip("active_users:Q", title="Active users", format=",.0f"),
                    alt.Tooltip("share:Q", title="Of target", format=".0%"),
                ],
            )
        )
    if chart.target:
        target = alt.Chart(pd.DataFrame({"value": [chart.target], "line": [f"target: {chart.target:,} users"]}))
        layers.append(
            target.mark_rule(strokeDash=[6, 4], color="#555").encode(
                y="value:Q", tooltip=[alt.Tooltip("line:N", title=" ")]
            )
        )
        layers.append(
            target.mark_text(align="left", dx=4, dy=-6, fontSize=11, color="#555").encode(
                x=alt.value(0), y="value:Q", text="line:N"
            )
        )
    if not chart.waves.empty:
        waves = alt.Chart(chart.waves)
        layers.append(
            waves.mark_rule(color="#6c4f9e", strokeDash=[2, 3]).encode(
                x=alt.X("day:T", title=None),
                tooltip=[
                    alt.Tooltip("label:N", title="Survey"),
                    alt.Tooltip("day:T", title="Last answer", format="%d %b %Y"),
                ],
            )
        )
        layers.append(
            waves.mark_text(align="left", dx=3, dy=-4, baseline="bottom", fontSize=11, color="#6c4f9e").encode(
                x="day:T", y=alt.value("height"), text="label:N"
            )
        )
    return alt.layer(*layers).properties(height=240)
