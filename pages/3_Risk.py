"""Failure-pattern risk: every pilot against the five patterns, the evidence, and what to do next."""

import pandas as pd
import streamlit as st

from pilot_health.analytics import risk
from pilot_health.analytics.adoption import STUCK_AT_OR_BELOW
from pilot_health.analytics.portfolio import HEALTH_VERDICTS, portfolio_health
from pilot_health.analytics.risk import (
    FIRED,
    HEALTH_LABELS,
    STATUS_LABELS,
    UNKNOWN,
    health_rule,
    heatmap_rows,
    order_pilots,
    scores_table,
)
from pilot_health.csv_files import frame_to_csv
from pilot_health.formatting import moment, number_words, percent
from pilot_health.models import STAGE_LABELS
from pilot_health.reports import charts
from pilot_health.rules.catalogue import PATTERN_KEYS, PATTERN_SHORT_NAMES
from pilot_health.ui import data
from pilot_health.ui import decisions as decisions_section
from pilot_health.ui.page import app_base_url, friendly_errors, page_setup
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import (
    data_table,
    pack_since,
    pilot_picker,
    portfolio_filters,
    report_unknown_url_values,
    steering_pack_downloads,
)

ctx = page_setup("Failure-pattern risk")
STATE_ICONS = {
    FIRED: ":red[:material/warning:] warning sign",
    "clear": ":green[:material/check:] clear",
    UNKNOWN: ":gray[:material/help:] unknown",
}
HEALTH_ICONS = {
    "green": ":material/check_circle:",
    "amber": ":material/error:",
    "red": ":material/cancel:",
    "insufficient": ":material/help:",
}
PLAIN_ICONS = dict(HEALTH_ICONS)  # st.error & co. take an icon without a colour
ICON_COLOURS = {"green": "green", "amber": "orange", "red": "red", "insufficient": "gray"}
HEALTH_ICONS = {
    k: f":{ICON_COLOURS[k]}[{icon}]" for k, icon in HEALTH_ICONS.items()
}  # the colour and, beside it, the word
# The data behind a signal: register answers (meaning, value) or weekly values, in plain words.
ROW_COLUMNS = {
    "meaning": st.column_config.TextColumn("Register question", width="large"),
    "value": st.column_config.TextColumn(
        "Answer", width="medium", help="As the register says it; “not said” is a blank."
    ),
    "weekly value": st.column_config.NumberColumn(
        "Value", format="%.4g", help="The week's value (the mean when several were uploaded)."
    ),
    "metric": st.column_config.TextColumn("Measure", help="The metric's name as uploaded."),
    "kind": st.column_config.TextColumn("Kind", help="Technical (the model) or business (the KPI)."),
    "environment": st.column_config.TextColumn("Measured in", help="Lab (test data) or live (production data)."),
    "week": st.column_config.DateColumn("Week of", format="D MMM YYYY"),
    "barrier point": st.column_config.TextColumn(
        "Barrier point", help=f"The first ADKAR element a respondent scored {STUCK_AT_OR_BELOW} or lower."
    ),
    "respondents": st.column_config.NumberColumn("Respondents", format="%d"),
    "observations": st.column_config.NumberColumn(
        "Values that week", format="%d", help="How many uploaded values the week's value averages."
    ),
}
NAMED_PILOTS = 8  # red pilots named under the counts; any more are first in the heatmap (sorted by health)
# Sort choices as they read in the URL (?sort=Governance) and on screen.
SORTS = {
    "Health": "health",
    "Pilot code": "pilot",
    **{PATTERN_SHORT_NAMES[k]: k for k in PATTERN_KEYS},
}

with friendly_errors():
    catalogue = data.catalogue(*ctx.cache_key, data.rules_fingerprint(), ctx.pinned)
    st.title("Failure-pattern risk")
    st.caption(
        "How strongly each pilot shows each of the five patterns that stop AI pilots reaching production. "
        f"Scores use the rules in {catalogue.source_label}; how they are computed is under "
        "“How the scores work” at the bottom, and every warning sign names its evidence."
    )
    results = data.risk_results(*ctx.cache_key, data.rules_fingerprint(), ctx.today, ctx.pinned)
    if not results:
        st.info(
            "There are no pilots to score yet. Add pilots on the Pilot register page, or upload a register.",
            icon=":material/inbox:",
        )
        st.stop()

    frame = data.risk_heatmap_frame(*ctx.cache_key, data.rules_fingerprint(), ctx.today, ctx.pinned)
    units = sorted(frame["business_unit"].unique())
    filters, (right,) = portfolio_filters(units, (2, 2, 1.4))
    report_unknown_url_values("sort", list(SORTS), "sort order")
    sort = SORTS[
        right.selectbox(
            "Sort by",
            list(SORTS),
            key="sort",
            bind="query-params",
            help="Health sorts worst first; a pattern sorts by its score, highest first.",
        )
    ]
    shown = filters.apply(frame)
    by_pilot = {r.pilot_id: r for r in results}
    if shown.empty:
        st.info("No pilot matches these filters.", icon=":material/filter_alt_off:")
        st.stop()

    pilots_shown = shown["pilot_id"].drop_duplicates().tolist()
    health = portfolio_health(results, pilots_shown)
    order = list(health.worst_first) if sort == "health" else order_pilots(by_pilot, pilots_shown, sort)
    rule_words = health_rule(catalogue)
    columns = st.columns(len(HEALTH_VERDICTS))
    for column, verdict in zip(columns, HEALTH_VERDICTS):
        column.metric(
            f"{HEALTH_ICONS[verdict]} {HEALTH_LABELS[verdict]}",
            health.count(verdict),
            border=True,
            help=rule_words[verdict],
        )
    if health.red:  # "5 red" says which five
        few, more = health.named("red", NAMED_PILOTS)
        st.caption(
            f"{HEALTH_ICONS['red']} **Red, the committee's attention now:** "
            + ", ".join(f"{p} · {md_escape(by_pilot[p].name)}" for p in few)
            + (f" and {more} more (the heatmap, sorted by health, shows them first)" if more else "")
            + ". Every pilot's health is the first column of the heatmap."
        )

    st.subheader("Pilots × patterns")
    pattern_order = [catalogue.patterns[k].name for k in PATTERN_KEYS]
    limit = risk.HEATMAP_PILOTS
    sort_label = next(label for label, key in SORTS.items() if key == sort)
    show_all = len(order) > limit and st.toggle(
        f"Show all {len(order)} pilots",
        key="all",
        bind="query-params",
        help=f"The heatmap shows the first {limit} pilots in the chosen order; every pilot is in the chooser below and in the download.",
    )
    drawn = heatmap_rows(order, show_all, limit)
    spec = data.chart_spec(
        ("risk_heatmap", *ctx.cache_key, catalogue.fingerprint, ctx.today, ctx.pinned, tuple(drawn)),
        lambda: charts.risk_heatmap(shown[shown["pilot_id"].isin(drawn)], drawn, pattern_order),
    )
    event = st.vega_lite_chart(
        spec, width="stretch", on_select="rerun", key="heatmap", selection_mode=["pick", "pick_health"]
    )
    rows_text = (
        (
            f"Showing the first {len(drawn)} of {len(order)} pilots, "
            if len(drawn) < len(order)
            else f"Showing all {len(order)} pilots, "
        )
        + f"sorted by {sort_label.lower()}"
        + {"health": " (worst first)", "pilot": ""}.get(sort, " (highest score first)")
        + (f"; switch on “Show all {len(order)} pilots” to see every one. " if len(drawn) < len(order) else ". ")
    )
    picked = (
        (event.selection.get("pick") or event.selection.get("pick_health") or [{}])[0].get("pilot_id")
        if event and event.selection
        else None
    )
    if picked and picked != st.session_state.get("pilot"):
        st.session_state["pilot"] = picked
    st.caption(
        rows_text + "Health comes first, in its colour and its word. "
        "Score 0–100: the weighted share of warning signs among the signals whose answer is known. Pale cells with “?” have "
        f"too little evidence (under {percent(catalogue.scoring.insufficient_coverage)} of the pattern's evidence known) — that is "
        "not low risk. Click a pilot's row to see why."
    )
    st.download_button(
        "Download the scores (CSV)",
        lambda shown=shown, order=order: frame_to_csv(scores_table(shown, order)),
        file_name="pilot_health_risk.csv",
        mime="text/csv",
        icon=":material/download:",
        key="download_risk",
        on_click="ignore",
        help=f"All {len(order)} pilots shown by the filters, in this order, with their five scores.",
    )

    st.divider()
    pilot_id = pilot_picker(
        order,
        "Choose a pilot (or click one above)",
        "The pilot's code; its name is shown below. The choice is part of the page's address.",
    )
    if pilot_id is None:
        st.stop()
    result = by_pilot[pilot_id]
    st.header(f"{result.pilot_id} · {md_escape(result.name)}", anchor=False)
    st.caption(
        f"{md_escape(result.business_unit)} · {STAGE_LABELS.get(result.stage, result.stage)} · scored as of {moment(result.as_of)}"
    )
    (
        st.error
        if result.health == "red"
        else st.warning
        if result.health == "amber"
        else st.success
        if result.health == "green"
        else st.info
    )(
        f"Health: {HEALTH_LABELS[result.health]}. {md_escape(result.health_reason)}",
        icon=PLAIN_ICONS[result.health],
    )
    since, since_note = pack_since(ctx)
    steering_pack_downloads(ctx.store, app_base_url(ctx), ctx.pinned, pilot_id, "pack_pilot", since=since)
    if since_note:
        st.caption(since_note)
    columns = st.columns(5)
    pattern_summaries = {k: p.summary for k, p in catalogue.patterns.items()}
    for column, pattern in zip(columns, result.patterns.values()):
        card = column.container(
            border=True
        )  # the evidence share as a caption: it wraps, where a metric's delta is cut off
        card.metric(
            PATTERN_SHORT_NAMES[pattern.key],
            pattern.score_label,
            delta=STATUS_LABELS[pattern.status],
            delta_color="off",
            delta_arrow="off",
            help=risk.card_help(pattern, catalogue.scoring.insufficient_coverage),
        )
        card.caption(risk.card_evidence(pattern))  # what it means: the card's tooltip

    show_rows = st.toggle("Show the data behind each signal", key="rows", bind="query-params")
    if show_rows:  # the same scores, computed again for this pilot with the rows kept
        result = (
            data.risk_detail(*ctx.cache_key, data.rules_fingerprint(), result.as_of, pilot_id, ctx.pinned) or result
        )
    for pattern in result.patterns.values():
        title = f"{pattern.name} — {STATUS_LABELS[pattern.status].lower()}" + (
            "" if pattern.score is None else f", score {pattern.score:.0f}"
        )
        with st.expander(title, expanded=pattern.status in ("high", "medium")):
            st.caption(
                f"{percent(pattern.coverage)} of the pattern's evidence is known (by weight). {md_escape(pattern_summaries[pattern.key])}"
            )
            if pattern.raised_by:
                st.markdown(
                    f":red[:material/priority_high:] **At least medium because of decisive evidence:** {md_escape('; '.join(pattern.raised_by))} "
                    "(marked “decisive” below)."
                )
            for signal in pattern.signals:
                st.markdown(
                    f"{STATE_ICONS[signal.state]}{' (decisive)' if signal.decisive else ''} · **{md_escape(signal.question)}** (weight {signal.weight:g})  \n"
                    f"{md_escape(signal.evidence)}"
                )
                if show_rows and signal.rows is not None and not signal.rows.empty:
                    rows = (
                        signal.rows.rename(columns={"value": "weekly value"}) if "week" in signal.rows else signal.rows
                    )
                    data_table(
                        rows,
                        f"rows.{signal.key}",
                        f"pilot_health_{pilot_id}_{signal.key}.csv",
                        height=min(38 + 35 * len(rows), 260),
                        column_order=[c for c in rows.columns if c != "field"],
                        column_config=ROW_COLUMNS,
                    )

    st.subheader(
        "What to do next",
        help="Each step answers a warning sign that fired, with the evidence behind it. "
        "A step is never advised when the register or the data shows it done.",
    )
    if result.next_actions:
        for pattern in result.next_actions:
            st.markdown(f"**{pattern.name}** (step {pattern.step} of the framework: {pattern.step_title})")
            st.markdown(
                "\n".join(
                    f"- {md_escape(action.text)}  \n  :gray[Because: {md_escape(action.evidence)}]"
                    for action in pattern.actions
                )
            )
    else:
        st.caption("No pattern is medium or high: keep the evidence current.")

    decisions_section.render(ctx, pilot_id, result, catalogue)

    st.subheader("Missing evidence")
    missing = result.missing_evidence
    if missing:
        st.caption("Unknown is not the same as no: these answers or data would complete the picture.")
        data_table(
            pd.DataFrame(missing, columns=["pattern", "to do"]),
            "missing",
            f"pilot_health_{pilot_id}_missing_evidence.csv",
            column_config={
                "pattern": st.column_config.TextColumn("Pattern", width=200),
                "to do": st.column_config.TextColumn(
                    "What would complete the picture",
                    width=560,
                    help="An answer nobody has given, or data nobody has uploaded, heaviest first.",
                ),
            },
        )
    else:
        st.caption("Every signal has an answer.")

    st.subheader(f"Over the last {number_words(risk.TREND_MONTHS)} months")
    trend = data.risk_trend(*ctx.cache_key, data.rules_fingerprint(), ctx.today, pilot_id, ctx.pinned)
    if trend.empty:
        st.caption("No history yet.")
    else:
        st.altair_chart(charts.risk_trend_chart(trend, pattern_order), width="stretch")
        st.caption(
            "Each point is the score at a month's end, from what had been uploaded by then. Gaps: too little evidence that month."
        )

    with st.expander("How the scores work, and the rules in force"):
        st.markdown(
            f"""
Each signal is a question about the pilot. It is **fired** when the register or the data shows the warning sign,
**clear** when it shows the opposite, and **unknown** when nobody has said or there is no data.
A pattern's **score** is the weight of fired signals ÷ the weight of known signals × 100; its **coverage** is the
weight of known signals ÷ the weight of all its signals. High: {catalogue.scoring.high:g} or more; medium:
{catalogue.scoring.medium:g} or more; below {catalogue.scoring.insufficient_coverage:.0%} coverage it reads
insufficient evidence. The full explanation is in the Guide: [How risk is judged](Guide?topic=risk).
"""
        )
        rules = pd.DataFrame(
            [
                (
                    PATTERN_SHORT_NAMES[k],
                    s.key,
                    s.question,
                    s.weight,
                    risk.threshold_words(s.threshold, s.unit),
                )
                for k, p in catalogue.patterns.items()
                for s in p.signals
            ],
            columns=["pattern", "signal", "question", "weight", "threshold"],
        )
        # A static table: its long questions wrap instead of being cut off at 1280 px.
        st.table(
            rules.drop(columns="signal")
            .assign(weight=rules["weight"].map("{:g}".format))
            .rename(columns={"pattern": "Pattern", "question": "Warning sign", "weight": "Weight", "threshold": "Mark"})
            .set_index("Pattern")
        )
        st.caption(
            "Weight: how much a warning sign counts in its pattern's score. Mark: where a measured sign starts to count "
            "(blank: a yes-or-no answer)."
        )
        st.download_button(
            "Download (CSV)",
            frame_to_csv(rules),
            file_name="pilot_health_signal_rules.csv",
            mime="text/csv",
            icon=":material/download:",
            key="rules.download",
            type="tertiary",
            on_click="ignore",
            help="Every signal with its key, question, weight and mark.",
        )
        st.caption(
            f"From {catalogue.source_label}. An administrator changes thresholds on the Thresholds page, and weights and "
            "wording in the file."
        )
