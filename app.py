"""Portfolio home page: stages, time in stage, budget vs spend and data freshness for every pilot."""

import streamlit as st

from pilot_health.analytics import portfolio
from pilot_health.csv_files import frame_to_csv
from pilot_health.demo import portfolio as demo
from pilot_health.formatting import money, number_words, percent, plural
from pilot_health.models import STAGE_LABELS
from pilot_health.reports import charts
from pilot_health.ui import data
from pilot_health.ui.columns import MISSING, MISSING_NOTE, count_column, money_column, percent_bar_column
from pilot_health.ui.guide import guide_link
from pilot_health.ui.page import app_base_url, friendly_errors, page_setup
from pilot_health.ui.text import md_escape
from pilot_health.ui.widgets import pack_since, portfolio_filters, steering_pack_downloads

ctx = page_setup("Portfolio")


def clear_demo_data() -> None:
    result = demo.clear_demo(ctx.store, by=ctx.person)
    st.session_state["flash"] = f"Demo data removed ({plural(result.pilots_removed, 'pilot')})."
    st.session_state.pop("confirm_clear_demo", None)
    st.session_state["bu"] = []
    st.session_state["stage"] = []


def load_demo_data() -> None:
    result = demo.load_demo(ctx.store, by=ctx.person)
    st.session_state["flash"] = f"Demo portfolio loaded: {plural(result.pilots, 'pilot')}."


def clear_filters() -> None:
    st.session_state["bu"] = []
    st.session_state["stage"] = []


with friendly_errors():
    st.title("Portfolio")
    if flash := st.session_state.pop("flash", None):
        st.toast(flash, icon=":material/check_circle:")

    if ctx.demo_loaded and ctx.pinned is None:  # a pinned view changes nothing
        note, button = st.columns([5, 1], vertical_alignment="center")
        note.info(
            "This is demo data: 24 made-up pilots to show what Pilot Health does. Clear it when you add your own.",
            icon=":material/science:",
        )
        if not ctx.person.can("manage_demo"):
            button.caption("An administrator can clear it.")
        elif st.session_state.get("confirm_clear_demo"):
            button.button("Yes, remove demo data", type="primary", on_click=clear_demo_data, key="confirm_clear")
            button.button(
                "Keep it", on_click=lambda: st.session_state.pop("confirm_clear_demo", None), key="cancel_clear"
            )
        else:
            button.button(
                "Clear demo data", on_click=lambda: st.session_state.update(confirm_clear_demo=True), key="clear_demo"
            )

    frame = data.portfolio_frame(*ctx.cache_key, ctx.today, ctx.config.stale_upload_days, ctx.pinned)

    if frame.empty and ctx.pinned is not None:
        st.info(
            f"There were no pilots in the store at {ctx.pinned:%d %B %Y %H:%M} UTC. Choose “Show latest” above for the "
            "portfolio as it is now.",
            icon=":material/inbox:",
        )
        st.stop()
    if frame.empty and ctx.person.limited:
        st.info(
            f"There are no pilots of {md_escape(ctx.person.units_text)} (the business units you may see) in the store yet.",
            icon=":material/inbox:",
        )
        if ctx.person.can("edit_pilots"):
            st.page_link("pages/1_Pilot_register.py", label="Add a pilot", icon=":material/add:")
        st.stop()
    if frame.empty:
        st.info(
            "There are no pilots in the store yet. Add your first pilot, or load the demo portfolio to look around."
            if ctx.person.can("edit_pilots")
            else "There are no pilots in the store yet; editors add them on the Pilot register page.",
            icon=":material/inbox:",
        )
        left, right, _ = st.columns([1, 1, 3])
        if ctx.person.can("edit_pilots"):
            left.page_link("pages/1_Pilot_register.py", label="Add a pilot", icon=":material/add:")
        if ctx.person.can("manage_demo"):
            right.button("Load the demo portfolio", on_click=load_demo_data, key="load_demo")
        st.stop()

    units = portfolio.business_units(frame)
    filters, _ = portfolio_filters(units)
    shown = portfolio.filter_portfolio(frame, filters)
    if shown.empty:
        st.info("No pilot matches these filters.", icon=":material/filter_alt_off:")
        st.button("Show all pilots", on_click=clear_filters, key="clear_filters")
        st.stop()

    summary = portfolio.summarise(shown, ctx.config.stale_upload_days)
    scope = f"{plural(summary.pilots, 'pilot')}" + (f" of {len(frame)}" if filters.active else "")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Pilots shown",
        scope,
        help=f"Pilot records in the register{' that match the filters' if filters.active else ''}, across {plural(summary.business_units, 'business unit')}."
        + (
            f" You see only the pilots of {md_escape(ctx.person.units_text)}, the business units your access allows."
            if ctx.person.limited
            else ""
        ),
        border=True,
    )
    c2.metric(
        f"In pilot {portfolio.PILOT_CLOCK_LABELS['over_6']}",
        f"{summary.past_purgatory} of {summary.in_pilot}",
        delta=f"{summary.past_cancellation} {portfolio.PILOT_CLOCK_LABELS['over_18']}"
        if summary.past_cancellation
        else None,
        delta_color="inverse",
        delta_arrow="off",
        help=f"Pilots in the pilot stage whose stage began {portfolio.PURGATORY_MONTHS} or more months ago "
        f"(months = {portfolio.months_rule()}), out of all pilots in the pilot stage. " + portfolio.pilot_clock_rule(),
        border=True,
    )
    c3.metric(
        "Spend to date",
        money(summary.spend_total, ctx.config.currency),
        delta=f"{percent(summary.spend_share)} spent"
        + (f" · {summary.over_budget} over" if summary.over_budget else ""),
        delta_color="inverse" if summary.over_budget else "off",
        delta_arrow="off",
        help=f"Sum of spend to date against sum of budgets, over the {plural(summary.pilots_with_budget, 'pilot')} that have a budget: "
        f"{percent(summary.spend_share)} of {money(summary.budget_total, ctx.config.currency)} is spent."
        + (
            f" {plural(summary.over_budget, 'pilot')} {'has' if summary.over_budget == 1 else 'have'} spent more than {'its' if summary.over_budget == 1 else 'their'} budget"
            f" (“{summary.over_budget} over”)."
            if summary.over_budget
            else ""
        )
        + " Figures come from the pilot register.",
        border=True,
    )
    c4.metric(
        f"Data older than {summary.stale_after_days} days",
        f"{summary.stale}",
        delta=f"{summary.never} never sent data" if summary.never else None,
        delta_color="off",
        delta_arrow="off",
        help=f"Pilots whose newest data upload (metrics, usage or survey; withdrawn uploads excluded) is more than {summary.stale_after_days} days old. "
        "The person who runs the dashboard can change the number of days.",
        border=True,
    )

    view = (
        *ctx.cache_key,
        ctx.today,
        ctx.config.stale_upload_days,
        ctx.pinned,
        filters.business_units,
        filters.stages,
        ctx.config.currency,
    )
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Pilots by stage")
        st.vega_lite_chart(
            data.chart_spec(("stage", *view), lambda: charts.stage_chart(summary.stage_counts)), width="stretch"
        )
        st.caption(
            "How many of the pilots shown are in each stage of the lifecycle: proposed → pilot → scaling → production, or paused and cancelled."
        )
    with right:
        st.subheader("Time in current stage")
        st.vega_lite_chart(
            data.chart_spec(("time_in_stage", *view), lambda: charts.time_in_stage_chart(shown)), width="stretch"
        )
        st.caption(
            "Months since each pilot entered its current stage (from “in this stage since” in the register). "
            f"The dashed lines mark {portfolio.PURGATORY_MONTHS} and {portfolio.CANCELLATION_MONTHS} months; "
            "they matter most for pilots still in the pilot stage."
            + (
                " Too many pilots to list: showing how many fall in each 3-month band."
                if len(shown) > charts.MAX_PILOTS_PER_CHART
                else ""
            )
        )

    st.subheader("Budget and spend")
    large = len(shown) > charts.MAX_PILOTS_PER_CHART
    without_budget = int(shown["budget"].isna().sum())
    st.vega_lite_chart(
        data.chart_spec(
            ("budget", *view),
            lambda: charts.budget_chart(
                shown, portfolio.by_business_unit(shown) if large else None, ctx.config.currency
            ),
        ),
        width="stretch",
    )
    st.caption(
        "Grey bar: approved budget. Coloured bar: spend to date, red when it exceeds the budget. "
        + (
            "Summed per business unit because more than 40 pilots are shown; filter to see single pilots. "
            if large
            else ""
        )
        + (
            f"{plural(without_budget, 'pilot')} without a budget {'is' if without_budget == 1 else 'are'} left out."
            if without_budget
            else ""
        )
    )

    st.subheader("All pilots")

    def health_words() -> dict[str, list[str]]:  # each pilot's health as its one coloured word (none before approval)
        results = data.risk_results(*ctx.cache_key, data.rules_fingerprint(), ctx.today, ctx.pinned)
        return {r.pilot_id: [charts.HEALTH_SHORT[r.health]] for r in results}

    table = data.arrow_table(
        ("portfolio_table", *view, data.rules_fingerprint()),
        lambda: shown.assign(
            health=shown["pilot_id"].map(health_words()).map(lambda words: words if isinstance(words, list) else []),
            stage=shown["stage"].map(STAGE_LABELS),
            pilot_clock=shown["pilot_clock"].map(portfolio.PILOT_CLOCK_LABELS).fillna("—"),
            freshness=shown["freshness"].map(portfolio.FRESHNESS_LABELS),
            open=["Pilot_register?pilot=" + p for p in shown["pilot_id"]],
        ),
    )
    more = st.toggle(
        "More columns",
        key="more_columns",
        bind="query-params",
        help="Also show the pilot clock, budget, spend, business unit and the day of the last upload. "
        "The table then needs scrolling sideways on a laptop screen; the download below always has every column.",
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        placeholder=MISSING,
        column_order=[
            "pilot_id",
            "name",
            "health",
            "stage",
            "months_in_stage",
            "pilot_clock",
            "spend_share",
            "budget",
            "spend_to_date",
            "last_upload_at",
            "freshness",
            "business_unit",
            "days_since_upload",
            "open",
        ]
        if more
        else ["pilot_id", "name", "health", "stage", "months_in_stage", "spend_share", "freshness", "open"],
        column_config={
            "pilot_id": st.column_config.TextColumn(
                "Pilot", help="The pilot's code in the register.", pinned=True, width=70
            ),
            "name": st.column_config.TextColumn("Name", width=240),
            "health": st.column_config.MultiselectColumn(
                "Health",
                options=list(charts.HEALTH_SHORT.values()),
                color=[charts.HEALTH_COLOURS[k] for k in charts.HEALTH_SHORT],
                disabled=True,
                width=95,
                help="The failure-pattern health: red needs the steering committee's attention now, amber is to watch, "
                "green is healthy; insufficient: too little evidence to judge. Why: on the Failure-pattern risk page.",
            ),
            "business_unit": st.column_config.TextColumn("Unit", help="Business unit.", width=125),
            "stage": st.column_config.TextColumn("Stage", width=80),
            "months_in_stage": st.column_config.NumberColumn(
                "Months",
                format="%.1f",
                width=65,
                help=f"Months in the current stage: {portfolio.months_rule()}, the days since “in this stage since”.",
            ),
            "pilot_clock": st.column_config.TextColumn(
                "Pilot clock",
                width=105,
                help=f"For pilots in the pilot stage: {portfolio.PILOT_CLOCK_LABELS['under_6']}, "
                f"{portfolio.PILOT_CLOCK_LABELS['over_6']} or {portfolio.PILOT_CLOCK_LABELS['over_18']}. “—” for other stages.",
            ),
            "budget": money_column("Budget", width=90, help="Approved budget, from the register."),
            "spend_to_date": money_column("Spend", width=90, help="Spend to date, from the register."),
            "spend_share": percent_bar_column(
                "Spent",
                width=105,
                help="Spend to date ÷ budget, in whole per cent. A full bar may hide an overspend; see the number.",
            ),
            "last_upload_at": st.column_config.DatetimeColumn(
                "Last upload",
                format="D MMM YYYY",
                width=100,
                help="Newest upload of metrics, usage or survey data for this pilot (withdrawn uploads excluded).",
            ),
            "days_since_upload": count_column("Days ago", width=75, help="Days since the last upload."),
            "freshness": st.column_config.TextColumn(
                "Data",
                width=85,
                help=f"Fresh, stale or no data yet. Stale: newest upload older than {ctx.config.stale_upload_days} days.",
            ),
            "open": st.column_config.LinkColumn(
                "Record", display_text="Open", width=65, help="Open the pilot's record in the register."
            ),
        },
    )
    if shown[["spend_share", *(["budget", "spend_to_date", "last_upload_at"] if more else [])]].isna().to_numpy().any():
        st.caption(MISSING_NOTE)
    st.download_button(
        "Download this table (CSV)",
        lambda shown=shown: frame_to_csv(shown),
        file_name="pilot_health_portfolio.csv",
        mime="text/csv",
        icon=":material/download:",
        key="download_portfolio",
        on_click="ignore",
    )
    st.subheader("Steering pack")
    st.caption(
        f"The portfolio to print and hand out — the committee's top {number_words(portfolio.COMMITTEE_ACTIONS)} actions, then every pilot's stage, time in stage, "
        "budget and spend, KPI progress, health with its reason and five pattern scores — as a PDF or a web page that opens offline"
        + (
            ", as of the pinned moment."
            if ctx.pinned
            else ". Each pilot's own page is on the Failure-pattern risk page when you choose the pilot."
        )
    )
    since, since_note = pack_since(ctx)
    steering_pack_downloads(ctx.store, app_base_url(ctx), ctx.pinned, None, "pack_portfolio", since=since)
    if since_note:
        st.caption(since_note)
    guide_link("steering", "Steering meetings: links, pinned links and packs")
    with st.expander("How these numbers are computed"):
        st.markdown(
            f"""
- **Source:** {plural(len(frame), "pilot record")} in the register and {plural(int(frame["data_rows"].sum()), "data row")}
  (metric observations and survey responses) from {plural(int(frame["data_uploads"].sum()), "upload")} still in force.
- **Months in stage:** {portfolio.months_rule()}, the days from the pilot's “in this stage since” date to today.
- **Pilot clock:** only for pilots in the pilot stage — {portfolio.PILOT_CLOCK_LABELS["under_6"]},
  {portfolio.PILOT_CLOCK_LABELS["over_6"]} (pilot purgatory), {portfolio.PILOT_CLOCK_LABELS["over_18"]}
  (statistically on the way to cancellation). The marks come from the source article.
- **Spent:** spend to date ÷ budget, both from the register. Totals add up pilots that have a budget.
- **Last data upload:** the newest upload that brought metric, usage or survey rows for the pilot;
  uploads that were withdrawn do not count, and neither does the register itself.
  *Stale* means older than {ctx.config.stale_upload_days} days.
"""
        )
    if filters.active:
        st.caption(
            "Filtered to "
            + "; ".join(
                part
                for part in (
                    ", ".join(md_escape(u) for u in filters.business_units),
                    ", ".join(STAGE_LABELS[s] for s in filters.stages),
                )
                if part
            )
            + ". The filters are part of this page's address, so a copied link shows the same view."
        )
