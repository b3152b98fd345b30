"""Technical vs business alignment: is the model's progress turning into business results?"""

import streamlit as st

from pilot_health.csv_files import frame_to_csv
from pilot_health.formatting import moment, percent
from pilot_health.models import STAGE_LABELS
from pilot_health.reports import charts
from pilot_health.reports.alignment_report import (
    CADENCE_WORDS,
    CONCERN_POINTS,
    DECAY_WORDS,
    DETAIL_COLUMNS,
    KPI_WINDOW_PERIODS,
    LABEL_SHORT,
    LABEL_TILES,
    LABEL_WORDS,
    MAIN_COLUMNS,
    TABLE_ROWS,
    alignment_counts,
    chart_caption,
    cut,
    decay_table,
    drift_table,
    gap_table,
    kpi_noise_words,
    portfolio_table,
    screen_table,
)
from pilot_health.rules.metric_dictionary import MetricAnswer, save_answer
from pilot_health.ui import data
from pilot_health.ui.page import friendly_errors, page_setup
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import (
    data_table,
    details_table,
    filtered_portfolio,
    pilot_picker,
    report_unknown_url_values,
)

ctx = page_setup("Alignment")
LABEL_ICONS = {
    "aligned": ":material/check_circle:",
    "decoupled": ":material/link_off:",
    "inverted": ":material/swap_vert:",
    "inconclusive": ":material/help:",
    "insufficient data": ":material/help:",
    "no comparison": ":material/help:",
}
ROW_HEIGHT = 66  # px: the grid wraps text only in rows taller than 64 px; this holds three lines


def follow_metric(default: str) -> None:
    """The metric chosen goes into the address by its key (?metric=roc_auc); the primary one leaves it out."""
    if st.session_state["metric"] == default:
        if "metric" in st.query_params:
            del st.query_params["metric"]
    else:
        st.query_params["metric"] = st.session_state["metric"]


def save_correction(metric: str, key: str) -> None:
    state = st.session_state
    direction = state[f"dict.{key}.direction"]
    answer = MetricAnswer(
        state[f"dict.{key}.kind"],
        None if direction == "unsure" else direction,
        (state.get(f"dict.{key}.unit") or "").strip() or None,
        (state.get(f"dict.{key}.label") or "").strip() or metric,
    )
    save_answer(ctx.store, metric, answer, ctx.person)
    state["alignment_flash"] = (
        f"Saved: {answer.label} is {answer.kind}, {'higher' if answer.direction == 'up' else 'lower' if answer.direction == 'down' else 'not sure which way'} is better."
    )


with friendly_errors():
    catalogue = data.catalogue(*ctx.cache_key, data.rules_fingerprint(), ctx.pinned)
    a = catalogue.analysis
    st.title("Technical vs business alignment")
    st.caption(
        "Is each pilot's model progress turning into business results? For every pilot: whether its main technical metric and "
        "its business KPI move together, how far live results have fallen from the lab, whether live performance is decaying "
        "or drifting, and how far the KPI has come toward its target. How each number is computed is under "
        "“How these numbers work” at the bottom."
    )
    if flash := st.session_state.pop("alignment_flash", None):
        st.toast(md_escape(flash), icon=":material/check_circle:")
    rows = data.alignment_rows(*ctx.cache_key, data.rules_fingerprint(), ctx.today, ctx.pinned)
    shown, _ = filtered_portfolio(portfolio_table(rows))

    counts = alignment_counts(shown)
    for column, label in zip(st.columns(len(LABEL_TILES)), LABEL_TILES):
        extra = counts.no_comparison if label == "insufficient data" else 0
        column.metric(
            label.capitalize(),
            counts.tile(label),
            border=True,
            help=LABEL_WORDS[label]
            + (" Includes pilots without a technical metric or KPI series to compare." if extra else ""),
        )
    st.caption(
        f"{counts.pilots} pilots, worst first. {counts.behind_plan} of them have a KPI behind plan (progress trailing the time elapsed by "
        f"{catalogue.threshold('kpi_behind_plan'):.0%} or more, and by more than the KPI's own ups and downs explain). Order: points for what is wrong — inverted {CONCERN_POINTS['inverted']}, "
        f"decoupled {CONCERN_POINTS['decoupled']}, critical decay {CONCERN_POINTS['decay critical']}, KPI behind plan "
        f"{CONCERN_POINTS['behind plan']} … ([How alignment is judged](Guide?topic=alignment) lists them all); the “why” column says which apply."
    )
    show_all = len(shown) > TABLE_ROWS and st.toggle(
        f"Show all {len(shown)} pilots",
        key="all",
        bind="query-params",
        help=f"The table shows the worst {TABLE_ROWS} pilots; every pilot is in the chooser below and in the download.",
    )
    view = screen_table(shown, None if show_all else TABLE_ROWS)
    if len(view) < len(shown):
        st.caption(
            f"Showing the worst {len(view)} of {len(shown)} pilots; switch on “Show all {len(shown)} pilots” to see every one."
        )
    columns = {
        # Tall rows (ROW_HEIGHT): names, KPIs and reasons wrap instead of being cut, and every column fits at 1280 px.
        "pilot_id": st.column_config.TextColumn("Pilot", width=62, pinned=True),
        "name": st.column_config.TextColumn("Name", width=150),
        "label": st.column_config.TextColumn(
            "Alignment",
            width=96,
            help="Aligned (they clearly move together), Decoupled (the model clearly improves, the KPI does not), "
            "Inverted (they clearly move against each other), Inconclusive (nothing clear either way), Insufficient data (fewer than "
            f"{a.alignment_min_periods} common periods), No comparison (no technical metric or KPI series to compare). "
            f"“Clearly” means chance would give it less than 1 time in {round(1 / a.significance)}.",
        ),
        "technical_label": st.column_config.TextColumn(
            "Model metric",
            width=92,
            help="The technical metric the verdict is judged on: the one with the most live weeks (one whose direction is known first).",
        ),
        "kpi": st.column_config.TextColumn(
            "Business KPI", width=150, help="The pilot's business KPI, from the pilot register."
        ),
        "rho": st.column_config.NumberColumn(
            "How closely they move together",
            width=120,
            format="%+.2f",
            help="ρ, the rank correlation of the period-over-period changes of the technical metric and the KPI "
            "(both turned so up is better), from −1 (always against each other) to +1 (always together), at the "
            "delay where it is strongest. Shown only when it is clear after allowing for the delays tried; a dash otherwise.",
        ),
        "lag": st.column_config.TextColumn(
            "Delay",
            width=90,
            help=f"Lag: how many periods the KPI follows the technical metric (0 to {a.alignment_max_lag}), shown only when that link is clear.",
        ),
        "periods": st.column_config.NumberColumn(
            "Data points",
            width=80,
            format="%d",
            help="Periods: the common weeks (or months, when either series is monthly) the verdict compared.",
        ),
        "lab_live_gap": st.column_config.NumberColumn(
            "Live vs lab",
            width=80,
            format="%.0f%%",
            help=f"Lab → live gap: latest live value against the latest lab value ({a.smoothing_weeks}-week averages), as a share of the lab value; positive = live is worse.",
        ),
        "decay": st.column_config.NumberColumn(
            "Decay",
            width=70,
            format="%.0f%%",
            help=f"Latest live level (average of the last {a.smoothing_weeks} weeks) against its first {a.decay_reference_weeks} live weeks; positive = worse. Warning at {a.decay_warning:.0%} worse, critical at {a.decay_critical:.0%}, and only when the drop is more than its week-to-week noise explains.",
        ),
        "decay_level": st.column_config.TextColumn("Decay alert", width=80),
        "kpi_progress": st.column_config.NumberColumn(
            "KPI progress",
            width=86,
            format="%.0f%%",
            help="(latest − baseline) ÷ (target − baseline); latest = a robust level over the KPI's last "
            f"{KPI_WINDOW_PERIODS} weeks ({KPI_WINDOW_PERIODS} months for a monthly KPI), so one bad value does not move it.",
        ),
        "time_elapsed": st.column_config.NumberColumn(
            "Time gone",
            width=76,
            format="%.0f%%",
            help="Share of the time from approval to the KPI deadline that has passed.",
        ),
        "why": st.column_config.TextColumn(
            "Why here",
            width=170,
            help="What put the pilot this high in the list, weightiest first: the first two "
            "reasons and how many more (choose the pilot below for all of them; the download lists them too). "
            "The points for each are under “How these numbers work”.",
        ),
    }
    height = min(38 + 35 * len(view), 520)
    st.dataframe(
        view[MAIN_COLUMNS],
        hide_index=True,
        width="stretch",
        height=min(38 + ROW_HEIGHT * len(view), 566),
        key="alignment_table",
        placeholder="–",
        row_height=ROW_HEIGHT,
        column_config={c: columns[c] for c in MAIN_COLUMNS},
    )
    details_table(
        "The numbers behind each verdict",
        view[DETAIL_COLUMNS],
        "alignment_numbers",
        "pilot_health_alignment_numbers.csv",
        "Download these numbers (CSV)",
        {c: columns[c] for c in DETAIL_COLUMNS},
        height,
    )
    st.download_button(
        "Download the table (CSV)",
        lambda shown=shown: frame_to_csv(shown),
        file_name="pilot_health_alignment.csv",
        mime="text/csv",
        icon=":material/download:",
        key="download_alignment",
        on_click="ignore",
    )

    st.divider()
    order = shown["pilot_id"].tolist()
    pilot_id = pilot_picker(order)
    if pilot_id is None:
        st.caption("Choose a pilot to see its technical metric and KPI on one time axis, with the verdict.")
    else:
        by_pilot = {r.pilot_id: r for r in rows}
        detail = data.alignment_detail(
            *ctx.cache_key, data.rules_fingerprint(), by_pilot[pilot_id].as_of, pilot_id, ctx.pinned
        )
        row = detail.row
        st.header(f"{row.pilot_id} · {md_escape(row.name)}", anchor=False)
        st.caption(
            f"{md_escape(row.business_unit)} · {STAGE_LABELS.get(row.stage, row.stage)} · as of {moment(row.as_of)}"
        )
        box = {"aligned": st.success, "decoupled": st.warning, "inverted": st.error}.get(row.label, st.info)
        box(md_escape(row.verdict), icon=LABEL_ICONS[row.label])
        st.caption(
            "Why here in the list: "
            + (md_escape(", ".join(row.reasons)) if row.reasons else "nothing of concern")
            + "."
        )

        al, gap, decay, progress = row.alignment, row.primary_gap, row.primary_decay, row.kpi_progress
        cols = st.columns(4)
        cols[0].metric(
            "Alignment",
            LABEL_SHORT[row.label],
            border=True,
            delta=(f"{al.periods} {CADENCE_WORDS.get(al.period, al.period)} points" if al else "nothing to compare"),
            delta_color="off",
            delta_arrow="off",
            help=(
                f"{al.periods} common {CADENCE_WORDS.get(al.period, al.period)} data points from {al.first_period:%d %b %Y} to {al.last_period:%d %b %Y}. "
                if al and al.first_period
                else ""
            )
            + (
                f"How closely they move together (ρ, rank correlation of the changes): {al.rho:+.2f}, the KPI following "
                f"{'in the same ' + al.period if al.lag == 0 else f'{al.lag} {al.period}(s) later'}. "
                if al and al.rho is not None
                else ""
            )
            + (
                LABEL_WORDS.get(
                    row.label, "No comparison: no technical metric and KPI series with known directions to compare."
                )
            ),
        )
        cols[1].metric(
            "Live vs lab",
            percent(gap.relative if gap else None),
            border=True,
            help=(
                f"{md_escape(gap.metric)}: lab {gap.lab:.4g} ({gap.lab_values} weeks to {gap.lab_until}) vs live {gap.live:.4g} "
                f"({gap.live_values} weeks to {gap.live_until}); positive = live is worse."
                if gap
                else "Needs lab and live values of a metric whose direction is known."
            ),
        )
        cols[2].metric(
            "Decay",
            percent(decay.relative if decay else None),
            border=True,
            delta=DECAY_WORDS[decay.level] if decay else None,
            delta_color="inverse" if decay and decay.level != "none" else "off",
            delta_arrow="off",
            help=(
                f"{md_escape(decay.metric)}: latest {decay.latest:.4g} (the {decay.current_weeks} weeks to {decay.latest_week}) vs {decay.reference:.4g} "
                f"in the first {decay.reference_weeks} live weeks (to {decay.reference_until}), from {decay.weeks} live weeks; "
                + (
                    "more than its week-to-week noise explains."
                    if decay.beyond_noise
                    else "within its week-to-week noise."
                )
                if decay
                else f"Needs {max(a.decay_min_weeks, a.decay_reference_weeks + a.smoothing_weeks)} or more live weeks."
            ),
        )
        cols[3].metric(
            "KPI progress",
            percent(progress.progress if progress else None),
            border=True,
            delta=(
                f"{percent(min(progress.time_elapsed, 1))} of time gone"
                if progress and progress.time_elapsed is not None
                else None
            ),
            delta_color="inverse" if progress and progress.behind else "off",
            delta_arrow="off",
            help=(
                f"Latest {progress.latest:.4g} ({'trend line through' if progress.method == 'trend line' else 'middle of'} its last "
                f"{progress.values} {progress.cadence}ly values, to {progress.latest_week}), baseline {progress.baseline:g}, "
                f"target {progress.target:g}. Behind plan when progress trails the time gone by {catalogue.threshold('kpi_behind_plan'):.0%} "
                "or more, and by more than the KPI's own ups and downs explain"
                + (": " + kpi_noise_words(progress, a.kpi_noise_k) if progress.time_elapsed is not None else "")
                + "."
                + (
                    f" {len(progress.outliers)} value(s) far from the rest given little weight."
                    if progress.outliers
                    else ""
                )
                if progress
                else "Needs the KPI's baseline, target and data."
            ),
        )

        if not detail.metrics:
            st.info(
                "No technical metric has been uploaded for this pilot yet: upload a metric export to compare it with the KPI.",
                icon=":material/query_stats:",
            )
        else:
            options = list(detail.metrics)
            if report_unknown_url_values("metric", options, "metric"):
                del st.query_params["metric"]
            # Not bound by Streamlit (a bound chooser would write the shown name into the URL): the address
            # keeps the metric's key (?metric=roc_auc, what links use) and is what the chooser shows.
            asked = st.query_params.get("metric")
            wanted = asked if asked in options else options[0]
            if st.session_state.get("metric") != wanted:
                st.session_state["metric"] = wanted
            left, right = st.columns([1, 1])
            metric = left.selectbox(
                "Technical metric",
                options,
                key="metric",
                on_change=follow_metric,
                args=(options[0],),
                format_func=lambda m: row.names.get(m) or m,
                help="The metric by its everyday name. The first is the pilot's primary metric (the one alignment "
                "and decay are judged on).",
            )
            span = detail.span
            chosen = (
                right.date_input(
                    "Dates",
                    value=span,
                    min_value=span[0],
                    max_value=span[1],
                    key="dates",
                    bind="query-params",
                    help="The weeks to show. Thresholds and alert crossings are computed on all the data.",
                )
                if span
                else None
            )
            start, end = (
                (chosen if isinstance(chosen, (tuple, list)) and len(chosen) == 2 else (None, None))
                if chosen
                else (None, None)
            )
            chart = cut(detail.charts[metric], start, end) if metric in detail.charts else None
            if chart is None or chart.technical.empty:
                st.info("No values of this metric in the chosen dates.", icon=":material/date_range:")
            else:
                for panel in charts.alignment_panels(chart):
                    st.altair_chart(panel, width="stretch")
                st.caption(md_escape(chart_caption(chart, a)))
        if row.gaps or row.decays or row.drifts:
            with st.expander("Every metric: lab → live, decay and drift", expanded=False):
                if row.gaps:
                    data_table(
                        gap_table(row),
                        "gaps",
                        f"pilot_health_{row.pilot_id}_lab_to_live.csv",
                        placeholder="–",
                        column_config={
                            "live worse by": st.column_config.NumberColumn(
                                format="%.0f%%", help="Positive: live is worse than lab."
                            ),
                            **{c: st.column_config.NumberColumn(format="%.4g") for c in ("lab", "live")},
                        },
                    )
                if row.decays:
                    data_table(
                        decay_table(row),
                        "decays",
                        f"pilot_health_{row.pilot_id}_decay.csv",
                        placeholder="–",
                        column_config={
                            "worse than first weeks": st.column_config.NumberColumn(format="%.0f%%"),
                            **{c: st.column_config.NumberColumn(format="%.4g") for c in ("latest", "first live weeks")},
                        },
                    )
                if row.drifts:
                    data_table(
                        drift_table(row),
                        "drifts",
                        f"pilot_health_{row.pilot_id}_drift.csv",
                        placeholder="–",
                        column_config={
                            "score": st.column_config.NumberColumn(format="%.1f", help="Drift score: see below."),
                            **{
                                c: st.column_config.NumberColumn(format="%.4g")
                                for c in ("first weeks' mean", "latest weeks' mean")
                            },
                        },
                    )
                    st.caption(
                        f"Drift score: how many standard deviations of the first {a.drift_reference_weeks} live weeks the mean of the last "
                        f"{a.drift_current_weeks} weeks has moved; warning at {a.drift_warning:g}, critical at {a.drift_critical:g}."
                    )

    st.divider()
    with st.expander("Metric dictionary: what each metric is, and which way is better"):
        st.caption(
            "Which way is better decides whether a rise is good news (a rising RMSE is not). Built-in entries come from "
            "the dictionary that comes with the dashboard; answers given on upload or here are remembered in the store and win. Guesses are marked: confirm them."
        )
        in_use = data.metrics_in_use(*ctx.cache_key, data.rules_fingerprint())
        if in_use.empty:
            st.caption("No metrics stored yet.")
        else:
            guessed = int(in_use["guessed"].sum())
            if guessed:
                st.warning(
                    f"{guessed} metric name(s) are only guessed from their names; check them below.",
                    icon=":material/help:",
                )
            data_table(
                in_use.drop(columns=["key", "guessed"]),
                "dictionary",
                "pilot_health_metric_dictionary.csv",
                placeholder="–",
                height=min(38 + 35 * len(in_use), 360),
                column_config={
                    "metric": st.column_config.TextColumn("Metric", help="The name as stored from the uploads."),
                    "label": "Name",
                    "kind": st.column_config.TextColumn("Kind", help="Technical metric, business KPI or adoption."),
                    "direction": "Which way is better",
                    "unit": "Unit",
                    "source": st.column_config.TextColumn("Where this comes from"),
                    "stored_as": st.column_config.TextColumn(
                        "Stored as", help="The kind the uploads stored its rows under (more than one when they differ)."
                    ),
                    "pilots": st.column_config.NumberColumn("Pilots", help="Pilots with rows of this metric."),
                    "observations": st.column_config.NumberColumn(
                        "Rows",
                        help="Its rows stored by uploads that were not withdrawn, blank values included.",
                    ),
                },
            )
            choices = in_use["metric"].tolist()
            can_correct = ctx.person.can("edit_dictionary")
            if not can_correct:
                st.caption(
                    "Administrators can correct an entry here (it changes how every pilot's metric of that name is read)."
                )
            picked = (
                st.selectbox(
                    "Correct a metric",
                    choices,
                    index=None,
                    key="dict_metric",
                    placeholder="Choose a metric to correct",
                    disabled=ctx.pinned is not None,
                    help="Not while the page is pinned to a past moment." if ctx.pinned is not None else None,
                )
                if can_correct
                else None
            )
            if picked is not None:
                info = in_use.set_index("metric").loc[picked]
                key = info["key"]
                kinds, directions = ["technical", "business", "adoption"], ["up", "down", "unsure"]
                current = {"higher is better": "up", "lower is better": "down"}.get(info["direction"], "unsure")
                c1, c2, c3, c4 = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
                c1.text_input("Label", value=info["label"], key=f"dict.{key}.label", max_chars=80)
                c2.selectbox("Kind", kinds, index=kinds.index(info["kind"]), key=f"dict.{key}.kind")
                c3.selectbox(
                    "Which way is better",
                    directions,
                    index=directions.index(current),
                    key=f"dict.{key}.direction",
                    format_func={"up": "Higher", "down": "Lower", "unsure": "Not sure"}.get,
                )
                c4.text_input("Unit", value=info["unit"], key=f"dict.{key}.unit", max_chars=30)
                st.button(
                    "Save",
                    key="dict_save",
                    on_click=save_correction,
                    args=(picked, key),
                    type="primary",
                    icon=":material/save:",
                )

    with st.expander("How these numbers work"):
        st.markdown(
            f"""
- **Live vs lab** (lab → live gap): the latest {a.smoothing_weeks}-week average of live values against the latest {a.smoothing_weeks}-week average
  of lab values, as a share of the lab value, turned by which way is better (positive = live is worse).
- **Decay**: the live value ({a.smoothing_weeks}-week average) against the first {a.decay_reference_weeks} live weeks. Warning at
  {a.decay_warning:.0%} worse, critical at {a.decay_critical:.0%}; judged after {a.decay_min_weeks} live weeks.
- **Drift**: the mean of the last {a.drift_current_weeks} live weeks against the first {a.drift_reference_weeks}, in standard
  deviations of those first weeks. Warning at {a.drift_warning:g}, critical at {a.drift_critical:g}. Drift says the numbers moved;
  the table says whether it was the worse way.
- **Alignment**: the technical metric and the KPI, each averaged per week (per month when either is monthly) and turned so that up
  is better; their trends over time and the rank correlation of their period-over-period changes with the KPI following by 0 to
  {a.alignment_max_lag} periods. Inverted: they move against each other; decoupled: the model improves while the KPI does not;
  aligned: otherwise. Under {a.alignment_min_periods} common periods: insufficient data. **Data points** are the common periods,
  **how closely they move together** is ρ (the rank correlation of the changes, −1 to +1), **delay** the lag at which it is strongest.
  On the chart up always means better: a lower-is-better series is drawn upside down, and the periods compared are shaded.
- **Order (worst first)**: points for what is wrong — inverted {CONCERN_POINTS["inverted"]}, decoupled {CONCERN_POINTS["decoupled"]},
  critical decay {CONCERN_POINTS["decay critical"]}, warning decay {CONCERN_POINTS["decay warning"]}, critical drift the worse way
  {CONCERN_POINTS["drift critical"]}, warning drift {CONCERN_POINTS["drift warning"]}, KPI behind plan {CONCERN_POINTS["behind plan"]},
  a large lab → live gap {CONCERN_POINTS["gap"]}, inconclusive or too little data {CONCERN_POINTS["inconclusive"]}.
- **KPI progress**: (latest − baseline) ÷ (target − baseline), against the share of time gone from approval to the KPI deadline;
  behind plan when it trails by {catalogue.threshold("kpi_behind_plan"):.0%} or more *and* by more than the KPI's own ups and downs
  explain (at least {a.kpi_noise_k:g} standard errors of its latest level); a shortfall inside that noise is shown but not counted.

The numbers these rules use are on the Thresholds page; the full explanation is in the Guide: [How alignment is judged](Guide?topic=alignment).
"""
        )
