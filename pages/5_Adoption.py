"""Adoption: where people are stuck on the ADKAR path, in which teams, whether it improves from wave
to wave, and whether actual usage follows."""

import streamlit as st

from pilot_health.analytics.adoption import ALL_RESPONDENTS, GUIDANCE, OTHER_TEAMS, STUCK_AT_OR_BELOW, UsageTrend
from pilot_health.csv_files import frame_to_csv
from pilot_health.formatting import moment, percent, plural
from pilot_health.models import STAGE_LABELS
from pilot_health.reports import charts
from pilot_health.reports.adoption_report import (
    BARRIER_LABELS,
    DETAIL_COLUMNS,
    MAIN_COLUMNS,
    TABLE_ROWS,
    adoption_counts,
    barrier_frame,
    future_note,
    heatmap_frame,
    order_words,
    profile_frame,
    screen_table,
    team_screen_table,
    team_table,
    trend_frame,
    usage_chart_data,
    verdict,
)
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

ctx = page_setup("Adoption")

with friendly_errors():
    catalogue = data.catalogue(*ctx.cache_key, data.rules_fingerprint(), ctx.pinned)
    a = catalogue.analysis
    adoption_threshold = catalogue.threshold("adoption_below_target")
    st.title("Adoption: readiness and real usage")
    st.caption(
        "Models that reach production still fail when the people who must use them do not. For every pilot: where its people are "
        "stuck on the ADKAR path (Awareness, Desire, Knowledge, Ability, Reinforcement) according to its surveys, in which teams, "
        f"whether that improves from wave to wave, and whether actual usage follows. Teams with fewer than {a.min_respondents} "
        "respondents are never shown on their own. How each number is computed is under “How these numbers work” at the bottom."
    )
    table, as_of = data.adoption_table(*ctx.cache_key, data.rules_fingerprint(), ctx.today, ctx.pinned)
    shown, _ = filtered_portfolio(table)

    counts = adoption_counts(shown, catalogue)
    cols = st.columns([1, 1, 1, 1.2])
    cols[0].metric(
        "Pilots with a survey",
        f"{counts.surveyed} of {counts.pilots}",
        border=True,
        help=f"Pilots whose latest survey wave has {a.min_respondents} or more respondents (fewer are not shown).",
    )
    cols[1].metric(
        "Low adoption",
        counts.low_adoption,
        border=True,  # “Adoption below target” is cut at 1280 px
        help=f"Pilots whose active users (average of the last {a.smoothing_weeks} weeks of usage data) are below "
        f"{adoption_threshold:.0%} of their target users. "
        f"{counts.with_usage_and_target} pilots have usage data and a target.",
    )
    cols[2].metric(
        "Low participation",
        counts.low_participation,
        border=True,
        help=f"Pilots whose latest survey wave was answered by fewer than {percent(a.participation_warning)} of their target users: "
        "the picture may not represent everyone.",
    )
    cols[3].metric(
        "Top barrier",
        counts.top_barrier or "–",
        border=True,
        delta=(f"{counts.top_barrier_pilots} of {counts.surveyed} pilots" if counts.top_barrier else None),
        delta_color="off",
        delta_arrow="off",
        help="The ADKAR element that is the main barrier (where most respondents are stuck) in the most pilots.",
    )
    st.caption(order_words(shown))
    if note := future_note(shown):
        st.caption(md_escape(note))
    show_all = len(shown) > TABLE_ROWS and st.toggle(
        f"Show all {len(shown)} pilots",
        key="all",
        bind="query-params",
        help=f"The table shows the worst {TABLE_ROWS} pilots; every pilot is in the chooser below and in the download.",
    )
    on_screen = screen_table(shown, None if show_all else TABLE_ROWS, STAGE_LABELS)
    if len(on_screen) < len(shown):
        st.caption(
            f"Showing the worst {len(on_screen)} of {len(shown)} pilots; switch on “Show all {len(shown)} pilots” to see every one."
        )
    columns = {
        "pilot_id": st.column_config.TextColumn("Pilot", width=62, pinned=True),
        "name": st.column_config.TextColumn("Name", width=212),  # names up to ~34 characters in full
        "weakest": st.column_config.NumberColumn(
            "Weakest share",
            width=104,
            format="%.0f%%",
            help="What orders the table (lowest first): the weaker of the latest wave's respondents not stuck at "
            "its main barrier and adoption (active users ÷ target users, at most 100%). A dash: neither is known.",
        ),
        "stage": st.column_config.TextColumn("Stage", width=90),
        "wave": st.column_config.NumberColumn("Wave", width=60, format="%d", help="The latest survey wave (round)."),
        "respondents": st.column_config.NumberColumn(
            "Respondents", width=90, format="%d", help="People who answered the latest wave."
        ),
        "participation": st.column_config.NumberColumn(
            "Participation",
            width=92,
            format="%.0f%%",
            help="Respondents ÷ the pilot's target users (without a target: its team sizes added up); "
            f"a warning under {a.participation_warning:.0%}.",
        ),
        "main_barrier": st.column_config.TextColumn(
            "Main barrier",
            width=112,
            help="The ADKAR element where most respondents of the latest wave are stuck "
            f"(their first element scored {STUCK_AT_OR_BELOW} or lower). “too few answers”: the latest wave has "
            f"fewer than {a.min_respondents} respondents.",
        ),
        "stuck_there": st.column_config.NumberColumn(
            "Stuck there", width=84, format="%d", help="Respondents whose barrier point is the main barrier."
        ),
        "stuck_share": st.column_config.NumberColumn(
            "Stuck anywhere", width=100, format="%.0f%%", help="Share of respondents with any barrier point."
        ),
        "stuck_change": st.column_config.NumberColumn(
            "Change",
            width=80,
            format="%+.0f pts",
            help="Change in the share stuck anywhere since the previous wave, in percentage points (negative = fewer stuck = better).",
        ),
        "adoption_rate": st.column_config.NumberColumn(
            "Adoption",
            width=80,
            format="%.0f%%",
            help=f"Active users (average of the last {a.smoothing_weeks} weeks of usage data) ÷ target users.",
        ),
        "active_users": st.column_config.NumberColumn("Active users", width=90, format="%d"),
        "target_users": st.column_config.NumberColumn(
            "Target users", width=90, format="%d", help="From the pilot register."
        ),
        "usage_trend": st.column_config.TextColumn(
            "Usage trend",
            width=90,
            help=f"Active users over the last {a.usage_trend_weeks} weeks: rising, flat "
            f"(the fitted change is within {UsageTrend.FLAT_WITHIN:.0%} of the target) or falling.",
        ),
    }
    height = min(38 + 35 * len(on_screen), 520)
    st.dataframe(
        on_screen[MAIN_COLUMNS],
        hide_index=True,
        width="stretch",
        height=height,
        key="adoption_table",
        placeholder="–",
        column_config={c: columns[c] for c in MAIN_COLUMNS},
    )
    details_table(
        "Survey and usage counts",
        on_screen[DETAIL_COLUMNS],
        "adoption_counts",
        "pilot_health_adoption_counts.csv",
        "Download these counts (CSV)",
        {c: columns[c] for c in DETAIL_COLUMNS},
        height,
    )
    st.download_button(
        "Download the table (CSV)",
        lambda shown=shown: frame_to_csv(shown.drop(columns=["weakest"])),
        file_name="pilot_health_adoption.csv",
        mime="text/csv",
        icon=":material/download:",
        key="download_adoption",
        on_click="ignore",
    )

    st.divider()
    pilot_id = pilot_picker(shown["pilot_id"].tolist())
    if pilot_id is None:
        st.caption(
            "Choose a pilot to see its ADKAR profile, its teams, the change from wave to wave and its usage against target."
        )
        st.stop()

    pilot = data.adoption_detail(*ctx.cache_key, data.rules_fingerprint(), as_of, pilot_id, ctx.pinned)
    if pilot is None:
        st.info("This pilot is no longer in the store.", icon=":material/inbox:")
        st.stop()
    st.header(f"{pilot.pilot_id} · {md_escape(pilot.name)}", anchor=False)
    st.caption(
        f"{md_escape(pilot.business_unit)} · {STAGE_LABELS.get(pilot.stage, pilot.stage)} · as of {moment(pilot.as_of)}"
    )

    wave = None
    if pilot.waves:
        numbers = [w.wave for w in pilot.waves]
        report_unknown_url_values("wave", [str(n) for n in numbers], "survey wave")
        left, right = st.columns(2)
        # Raw values as options: a bound widget writes its shown text into the URL.
        number = left.selectbox(
            "Survey wave",
            numbers,
            index=len(numbers) - 1,
            key="wave",
            bind="query-params",
            help="The survey round to show; the latest is the default.",
        )
        wave = pilot.wave(number)
        groups = [ALL_RESPONDENTS, *[g.label for g in wave.groups]] if wave and wave.shown else [ALL_RESPONDENTS]
        report_unknown_url_values("team", groups, "team")
        group_label = right.selectbox(
            "Team",
            groups,
            key="team",
            bind="query-params",
            help=f"Everyone, or one team. Teams with fewer than {a.min_respondents} respondents are counted "
            f"together as “{OTHER_TEAMS}”.",
        )
    box_text = verdict(pilot, wave)
    if wave is not None and wave.shown and wave.overall.barrier.element:
        st.warning(md_escape(box_text), icon=":material/directions_walk:")
    else:
        st.info(md_escape(box_text), icon=":material/groups:")

    if wave is None:
        st.info(
            "No survey results for this pilot yet. Upload an ADKAR survey export on the Upload data page.",
            icon=":material/inbox:",
        )
    elif not wave.shown:
        st.info(
            f"Wave {wave.wave} has {plural(wave.respondents, 'respondent')}: fewer than {a.min_respondents}, so nothing from it is shown "
            "(it could identify people).",
            icon=":material/visibility_off:",
        )
    else:
        group = wave.group(group_label) or wave.overall
        b = group.barrier
        p = wave.participation if group is wave.overall else wave.team_participation.get(group.label)
        change = wave.change
        cols = st.columns([1, 1.45, 1, 1])  # room for “Reinforcement” at 1280 px
        cols[0].metric(
            "Respondents",
            group.respondents,
            border=True,
            delta=(f"{percent(p.share)} of {p.asked} asked" if p else None),  # short enough for the card at 1280 px
            delta_color="inverse" if p and p.warning else "off",
            delta_arrow="off",
            help=f"People who answered wave {wave.wave}"
            + (f" ({wave.first_day:%d %b} – {wave.last_day:%d %b %Y})" if wave.first_day else "")
            + (
                f". Participation: {p.respondents} respondents ÷ {p.asked} {p.of} (from the pilot register); a warning under {a.participation_warning:.0%}."
                if p
                else ". Participation is not known: the register has no target users"
                + ("" if group is wave.overall else " or no size for this team (Team sizes)")
                + "."
            ),
        )
        cols[1].metric(
            "Main barrier",
            BARRIER_LABELS[b.element or "none"],
            border=True,
            delta=(
                f"{b.element_count} of {b.respondents} ({percent(b.element_count / b.respondents)})"
                if b.element
                else None
            ),
            delta_color="off",
            delta_arrow="off",
            help="The element most respondents have as their barrier point (the first element they scored "
            f"{STUCK_AT_OR_BELOW} or lower). "
            f"{b.stuck} of {b.respondents} are stuck somewhere.",
        )
        cols[2].metric(
            "Adoption",
            percent(pilot.rate.rate) if pilot.rate else "–",
            border=True,
            delta=(f"{pilot.rate.active_users:.0f} of {pilot.rate.target_users} users" if pilot.rate else None),
            delta_color="off",
            delta_arrow="off",
            help=(
                f"Active users, average of the last {a.smoothing_weeks} weeks to {pilot.rate.latest_week:%d %b %Y} "
                f"({pilot.rate.weeks} weeks of usage data), ÷ target users."
                if pilot.rate
                else "Needs usage data (active users) and the pilot's target users."
            ),
        )
        before = change.stuck_before if change and group is wave.overall else None
        cols[3].metric(
            "Stuck anywhere",
            percent(b.stuck_share),
            border=True,
            delta=(
                f"{(change.stuck_after - change.stuck_before) * 100:+.0f} pts vs wave {change.before_wave}"
                if before is not None
                else None
            ),
            delta_color="inverse" if before is not None else "off",
            delta_arrow="off",
            help="Share of respondents with a barrier point somewhere on the path"
            + (
                f"; wave {change.before_wave}: {percent(change.stuck_before)} of {change.before_respondents}."
                if before is not None
                else "."
            ),
        )
        if b.element:
            st.caption("What helps: " + GUIDANCE[b.element])

        label = md_escape(group.label)
        previous = next(
            (w for w in reversed(pilot.waves) if w.wave < wave.wave and w.shown and w.group(group.label)), None
        )
        left, right = st.columns(2)
        with left:
            st.subheader("Profile", anchor=False)
            st.altair_chart(
                charts.adkar_profile_chart(
                    profile_frame(group, pilot.min_size, previous.group(group.label) if previous else None)
                ),
                width="stretch",
            )
            st.caption(
                f"{label}: mean score of each element in wave {wave.wave} ({plural(group.respondents, 'respondent')}); "
                + (f"black ticks: wave {previous.wave}. " if previous else "")
                + f"The dashed line is {STUCK_AT_OR_BELOW}: at or below it people are stuck. "
                f"A mean from fewer than {a.min_respondents} answers is left out."
            )
        with right:
            st.subheader("Barrier points", anchor=False)
            st.altair_chart(charts.barrier_chart(barrier_frame(group)), width="stretch")
            st.caption(
                f"{label}: each respondent counted once, at the first element scored {STUCK_AT_OR_BELOW} or lower; "
                "blanks are skipped, never counted as low."
            )

        st.subheader("Teams", anchor=False)
        st.altair_chart(charts.adkar_heatmap(heatmap_frame(pilot, wave)), width="stretch")
        st.caption(
            f"Mean score per team and element in wave {wave.wave}, respondents in brackets. "
            + (
                f"{plural(wave.pooled_teams, 'team')} are counted together as “{OTHER_TEAMS}”: those with fewer than {a.min_respondents} "
                f"respondents, joined by the smallest other team when they are fewer than {a.min_respondents} together. "
                if wave.pooled_teams
                else ""
            )
            + f"Grey cells: fewer than {a.min_respondents} answers, not shown."
        )
        teams = team_table(pilot, wave)
        with st.expander("The team table", expanded=False):
            st.dataframe(
                team_screen_table(pilot, wave),
                hide_index=True,
                width="stretch",
                placeholder="–",
                column_config={
                    "group": st.column_config.TextColumn("Group", width=150),
                    "teams": st.column_config.NumberColumn("Teams", format="%d", help="Teams counted in this group."),
                    "respondents": st.column_config.NumberColumn("Respondents", format="%d"),
                    "stuck_share": st.column_config.NumberColumn("Stuck anywhere", format="%.0f%%"),
                    "barrier": st.column_config.TextColumn("Main barrier", width=110),
                    "stuck_there": st.column_config.NumberColumn("Stuck there", format="%d"),
                    "participation": st.column_config.NumberColumn(
                        "Participation",
                        format="%.0f%%",
                        help="Respondents ÷ target users (everyone) or ÷ the team's size from the register's Team sizes "
                        "(a group of several teams: only when every one has a size). A dash: no size known.",
                    ),
                    **{
                        e: st.column_config.NumberColumn(
                            e.capitalize(),
                            format="%.1f",
                            help=f"Mean score 1–5; a dash: fewer than {a.min_respondents} answers.",
                        )
                        for e in ("awareness", "desire", "knowledge", "ability", "reinforcement")
                    },
                },
            )
            st.download_button(
                "Download the team table (CSV)",
                frame_to_csv(teams),
                file_name=f"pilot_health_adoption_{pilot.pilot_id}_wave{wave.wave}.csv",
                mime="text/csv",
                icon=":material/download:",
                key="download_teams",
                on_click="ignore",
            )

        trend = trend_frame(pilot, group.label)
        st.subheader("Across waves", anchor=False)
        if trend["wave"].nunique() < 2:
            st.caption(f"{label} can be shown in one wave only, so there is no trend yet.")
        else:
            st.altair_chart(charts.adkar_trend_chart(trend), width="stretch")
            st.caption(
                f"{label}: each element's mean per survey wave (hover for answers and respondents); waves in which the group "
                f"had fewer than {a.min_respondents} respondents are left out."
            )

        comments = wave.comments_frame(group.label)
        with st.expander(f"Comments ({len(comments)})", expanded=False):
            if comments.empty:
                st.caption("No comments in this wave" + ("" if group is wave.overall else " from this group") + ".")
            else:
                st.caption(
                    "As respondents wrote them, shown as plain text, in alphabetical order (not in the order given); only "
                    f"for groups of {a.min_respondents} or more."
                )
                data_table(
                    comments,
                    "comments",
                    f"pilot_health_adoption_{pilot.pilot_id}_wave{wave.wave}_comments.csv",
                    height=min(38 + 35 * len(comments), 420),
                    column_config={
                        "group": st.column_config.TextColumn("Group"),
                        "comment": st.column_config.TextColumn("Comment", width="large"),
                    },
                )

    st.subheader("Usage against target", anchor=False)
    usage = usage_chart_data(pilot)
    if usage.usage.empty:
        st.info(
            "No usage data for this pilot yet: upload a usage export (active users by week) to see whether people actually use the model.",
            icon=":material/query_stats:",
        )
    else:
        st.altair_chart(charts.usage_chart(usage), width="stretch")
        trend_words = (
            f" Over the last {pilot.trend.weeks} weeks active users are {pilot.trend.direction} "
            f"({pilot.trend.per_week:+.1f} a week)."
            if pilot.trend
            else ""
        )
        st.caption(
            f"Active users week by week ({len(usage.usage)} weeks), "
            + (
                f"against the target of {pilot.target_users:,} users (dashed). "
                if pilot.target_users
                else "with no target in the register. "
            )
            + "Dotted lines: the last answer of each survey wave, with its respondents."
            + trend_words
        )

    with st.expander("How these numbers work"):
        st.markdown(
            f"""
- **Barrier point**: each respondent's first element, in the order Awareness, Desire, Knowledge, Ability, Reinforcement,
  scored {STUCK_AT_OR_BELOW} or lower. A blank answer is skipped, never counted as low. No barrier point when every
  answer is above {STUCK_AT_OR_BELOW}.
- **Main barrier**: the element that is the barrier point of the most respondents (on a tie, the earlier element).
- **Means**: the average of the answers given (blanks left out); the number of answers is in every tooltip.
- **Change**: a wave against the wave before it, with the respondents of both.
- **Participation**: respondents ÷ the pilot's target users (without a target: the register's team sizes added up); per team,
  respondents ÷ the team's size from the register (“Team sizes”). Under {a.participation_warning:.0%} is a warning.
- **Adoption**: active users (live usage exports, average of the last {a.smoothing_weeks} weeks) ÷ target users. The trend is the
  straight line through the last {a.usage_trend_weeks} weekly values: flat when its change is within
  {UsageTrend.FLAT_WITHIN:.0%} of the target.
- **Anonymity**: a wave with fewer than {a.min_respondents} respondents is not shown at all. Teams with fewer than
  {a.min_respondents} are counted together as “{OTHER_TEAMS}”; when those are still fewer than {a.min_respondents}, the smallest
  other team joins them, so no small team can be worked out by subtracting the others from the total. A mean from fewer than
  {a.min_respondents} answers is not shown. The same holds for downloads and the command line.

The numbers these rules use are on the Thresholds page; the full explanation is in the Guide: [How adoption is judged](Guide?topic=adoption).
"""
        )
