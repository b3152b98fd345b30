"""Adoption numbers on hand-built survey responses whose means and barrier points are known: blanks,
a team below the anonymity minimum (which must appear nowhere), two waves with a known change,
participation, usage, the verdict, the portfolio order and the `adoption` command."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from test_risk import NOW, TODAY, Story, weeks_ago

from pilot_health.analytics import risk
from pilot_health.analytics.adoption import (
    ADKAR,
    OTHER_TEAMS,
    anonymous_groups,
    barrier_point,
    barrier_points,
    element_stats,
    group_barrier,
    participation,
    usage_trend,
)
from pilot_health.csv_files import frame_to_csv
from pilot_health.models import Pilot
from pilot_health.reports import adoption_report as report
from pilot_health.rules.catalogue import load_catalogue
from pilot_health.store import queries
from pilot_health.store.database import Store, utc_now

SETTINGS = load_catalogue().analysis
SMALL_TEAM = "Tiny team"  # 3 respondents: below the minimum of 5, so never shown on its own
N = None  # a blank answer

# Finance, wave 1: eight people, known barrier points (in the comment) and blanks.
FINANCE_1 = [
    (5, 4, 2, 4, 4),  # knowledge
    (5, 4, 3, 3, 4),  # knowledge
    (4, 4, 2, 2, 3),  # knowledge
    (5, 5, 1, 4, 4),  # knowledge
    (4, 4, 2, 3, 2),  # knowledge
    (N, 4, 4, 3, 4),  # ability (the blank awareness is skipped, not low)
    (2, N, 2, 4, 4),  # awareness
    (5, 5, 5, 5, N),  # none
]
# Wave 2: the same people after training; knowledge is 4 for everyone.
FINANCE_2 = [(a, d, 4, ab, r) for a, d, _, ab, r in FINANCE_1]
OPS = [(5, 5, 5, 5, 3)] * 2 + [(5, 5, 5, 5, 5)] * 4  # reinforcement ×2, none ×4
TINY = [(1, 1, 1, 1, 1)] * 3  # awareness ×3
MARKUP_COMMENT = "**Need** <b>training</b> <script>alert(1)</script> [link](http://x.test)"
TINY_COMMENT = "Too slow for our month-end close"


def answers(team: str, rows: list[tuple], wave: int, start: int) -> list[dict]:
    return [
        dict(team=team, wave=wave, respondent_id=f"{team[:3]}-{start + i}", **dict(zip(ADKAR, scores)))
        for i, scores in enumerate(rows)
    ]


def wave_rows(wave: int) -> list[dict]:
    rows = (
        answers("Finance", FINANCE_1 if wave == 1 else FINANCE_2, wave, 0)
        + answers("Ops", OPS, wave, 0)
        + answers(SMALL_TEAM, TINY, wave, 0)
    )
    rows[0]["comment"] = MARKUP_COMMENT
    rows[-1]["comment"] = TINY_COMMENT
    return rows


def survey_store(
    path,
    *,
    waves=(1, 2),
    target_users: int | None = 40,
    users: list | None = None,
    pilot_id: str = "P-1",
    store: Store | None = None,
    extra_rows: list[dict] | None = None,
    team_sizes: str | None = None,
) -> Store:
    """A pilot with the survey waves above (wave 1 twenty weeks ago, wave 2 four) and weekly usage."""
    store = store or Store(path)
    record = {**Story().record, "pilot_id": pilot_id, "target_users": target_users, "team_sizes": team_sizes}
    users = users if users is not None else [(weeks_ago(20 - i), 10 + i * 0.5) for i in range(21)]
    with store.write() as con:
        queries.insert_pilots(con, [Pilot.model_validate(record, context={"today": TODAY})], utc_now())
        upload = queries.insert_upload(
            con,
            kind="survey",
            file_name="s.csv",
            sha256=f"x{pilot_id}",
            rows_stored=1,
            rows_rejected=0,
            uploaded_at=datetime(2020, 1, 1),
            uploaded_by="test",
        )
        rows = [r for w in waves for r in wave_rows(w)] + (extra_rows or [])
        frame = pd.DataFrame(
            [
                {
                    "pilot_id": pilot_id,
                    "role": "r",
                    "comment": None,
                    "upload_id": upload,
                    "responded_at": weeks_ago(20 if r["wave"] == 1 else 4),
                    **r,
                }
                for r in rows
            ]
        )
        if rows:
            for element in ADKAR:
                frame[element] = frame[element].astype("Int64")
            queries.insert_rows(con, "survey_responses", frame)
        if users:
            queries.insert_rows(
                con,
                "metric_observations",
                pd.DataFrame(
                    [
                        dict(
                            pilot_id=pilot_id,
                            metric="active_users",
                            kind="adoption",
                            environment="live",
                            observed_at=w,
                            value=v,
                            upload_id=upload,
                        )
                        for w, v in users
                    ]
                ),
            )
    return store


def frame_of(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(ADKAR, r)) for r in rows], dtype="float64")


def pilot_adoption(store: Store) -> report.PilotAdoption:
    return report.portfolio_adoption(store, NOW)[0]


# -- the numbers ----------------------------------------------------------------------------------


def test_a_barrier_point_is_the_first_element_at_or_below_3_and_a_blank_is_never_low():
    assert barrier_point(dict(awareness=4, desire=3, knowledge=1, ability=5, reinforcement=5)) == "desire"
    assert barrier_point(dict(awareness=None, desire=np.nan, knowledge=4, ability=2, reinforcement=1)) == "ability"
    assert barrier_point(dict(awareness=None, desire=None, knowledge=None, ability=None, reinforcement=None)) is None
    assert barrier_point(dict(awareness=4, desire=4, knowledge=4, ability=4, reinforcement=4)) is None
    points = barrier_points(frame_of(FINANCE_1)).tolist()
    assert points == ["knowledge"] * 5 + ["ability", "awareness", "none"]


def test_means_leave_blanks_out_and_count_the_answers():
    stats = element_stats(frame_of(FINANCE_1))
    assert stats["awareness"].answered == 7 and stats["awareness"].mean == pytest.approx(30 / 7)
    assert stats["desire"].answered == 7 and stats["desire"].mean == pytest.approx(30 / 7)
    assert stats["knowledge"].answered == 8 and stats["knowledge"].mean == pytest.approx(21 / 8)
    assert stats["ability"].mean == pytest.approx(28 / 8)
    assert stats["reinforcement"].answered == 7 and stats["reinforcement"].mean == pytest.approx(25 / 7)
    assert stats["knowledge"].low == 6 and stats["knowledge"].low_share == pytest.approx(6 / 8)
    assert stats["awareness"].low_share == pytest.approx(1 / 7)  # the blank is not an answer, so not low


def test_the_group_barrier_is_where_most_are_stuck_with_the_count():
    b = group_barrier(frame_of(FINANCE_1 + OPS + TINY))
    assert b.distribution == {"awareness": 4, "desire": 0, "knowledge": 5, "ability": 1, "reinforcement": 2, "none": 5}
    assert (b.element, b.element_count, b.respondents, b.stuck) == ("knowledge", 5, 17, 12)
    assert group_barrier(frame_of(OPS[2:])).element is None


def _teams(sizes: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame([{"team": team, **{e: 4.0 for e in ADKAR}} for team, n in sizes.items() for _ in range(n)])


def test_small_teams_are_pooled_and_a_pool_below_the_minimum_takes_the_smallest_other_team():
    groups, pooled = anonymous_groups(_teams({"Finance": 8, "Ops": 6, SMALL_TEAM: 3}), 5)
    assert [(label, len(rows), teams) for label, rows, teams in groups] == [("Finance", 8, 1), (OTHER_TEAMS, 9, 2)]
    assert pooled == 2
    # Two small teams that reach the minimum together are pooled on their own.
    groups, pooled = anonymous_groups(_teams({"Finance": 8, "A": 3, "B": 2}), 5)
    assert [(label, len(rows)) for label, rows, _ in groups] == [("Finance", 8), (OTHER_TEAMS, 5)] and pooled == 2
    # No small team: nothing pooled; a blank team is a team like any other.
    frame = _teams({"Finance": 6}).assign(team=[None] * 6)
    assert [label for label, _, _ in anonymous_groups(frame, 5)[0]] == ["No team given"]
    # A wave below the minimum shows nothing by team.
    assert anonymous_groups(_teams({"Finance": 4}), 5) == ([], 0)
    # Every respondent is in exactly one group shown, so the groups add up to the whole wave.
    frame = _teams({"A": 12, "B": 7, "C": 4, "D": 1, "E": 5})
    groups, _ = anonymous_groups(frame, 5)
    assert sum(len(rows) for _, rows, _ in groups) == len(frame) and min(len(rows) for _, rows, _ in groups) >= 5


def test_participation_warns_under_60_percent():
    assert participation(17, 40, SETTINGS).warning and participation(17, 40, SETTINGS).share == pytest.approx(0.425)
    assert not participation(15, 25, SETTINGS).warning  # exactly 60%
    assert participation(17, None, SETTINGS) is None and participation(17, 0, SETTINGS) is None


def test_usage_trend_rising_flat_and_falling():
    weeks = pd.DatetimeIndex([weeks_ago(11 - i) for i in range(12)])
    assert usage_trend(pd.Series(np.linspace(10, 30, 12), index=weeks), 40, SETTINGS).direction == "rising"
    assert usage_trend(pd.Series(np.linspace(30, 10, 12), index=weeks), 40, SETTINGS).direction == "falling"
    flat = usage_trend(pd.Series([20.0, 21.0] * 6, index=weeks), 40, SETTINGS)
    assert flat.direction == "flat" and flat.per_week == pytest.approx(
        np.polyfit(np.arange(12), [20.0, 21.0] * 6, 1)[0]
    )
    assert usage_trend(pd.Series([1.0, 2.0, 3.0], index=weeks[:3]), 40, SETTINGS) is None


# -- one pilot, assembled ---------------------------------------------------------------------------


def test_two_waves_with_a_known_change_and_counts_on_both_sides(tmp_path):
    pilot = pilot_adoption(survey_store(tmp_path / "s.duckdb"))
    assert [w.wave for w in pilot.waves] == [1, 2]
    one, two = pilot.waves
    assert one.overall.elements["knowledge"].mean == pytest.approx(54 / 17)  # Finance 21 + Ops 30 + Tiny 3
    assert two.overall.elements["knowledge"].mean == pytest.approx(65 / 17)  # Finance 32 + Ops 30 + Tiny 3
    change = two.change
    assert (change.before_wave, change.after_wave, change.before_respondents, change.after_respondents) == (
        1,
        2,
        17,
        17,
    )
    assert change.elements["knowledge"].change == pytest.approx(11 / 17)
    assert change.elements["awareness"].change == pytest.approx(0)
    assert change.elements["knowledge"].before_answered == 17 and change.elements["knowledge"].after_answered == 17
    assert one.change is None
    # Finance moved from knowledge to ability.
    assert (
        two.group("Finance").barrier.distribution["knowledge"] == 0
        and two.group("Finance").barrier.distribution["ability"] == 4
    )


def test_the_verdict_names_the_team_and_the_next_step(tmp_path):
    pilot = pilot_adoption(survey_store(tmp_path / "s.duckdb"))
    first = report.verdict(pilot, pilot.wave(1))
    assert first.startswith(
        "Most of Finance is stuck at Knowledge (5 of 8 respondents in wave 1): training is the next step."
    )
    assert "Only 42% of the 40 target users answered (under 60%)" in first
    latest = pilot.verdict
    assert "Since wave 1, Knowledge rose from 3.2 to 3.8 (17 → 17 respondents)." in latest
    assert "Active users: " in latest and "of 40 targeted" in latest and "rising" in latest


def test_the_small_team_appears_nowhere_in_the_tables_json_or_downloads(tmp_path):
    pilot = pilot_adoption(survey_store(tmp_path / "s.duckdb"))
    for wave in pilot.waves:
        assert [(g.label, g.respondents, g.teams) for g in wave.groups] == [("Finance", 8, 1), (OTHER_TEAMS, 9, 2)]
        outputs = [
            frame_to_csv(report.team_table(pilot, wave)).decode("utf-8"),
            report.heatmap_frame(pilot, wave).to_csv(),
            wave.comments_frame().to_csv(),
            json.dumps(report.as_json(pilot, wave.wave), default=str),
            report.trend_frame(pilot, OTHER_TEAMS).to_csv(),
            report.verdict(pilot, wave),
        ]
        for text in outputs:
            assert SMALL_TEAM not in text and "Ops" not in text  # Ops joined the small team in "Other teams"
    assert SMALL_TEAM not in frame_to_csv(report.portfolio_table([pilot])).decode("utf-8")
    # The small team's comment is shown, under "Other teams", and the comments are not in answer order.
    comments = pilot.latest.comments_frame()
    assert comments.to_dict("records") == sorted(
        [{"group": "Finance", "comment": MARKUP_COMMENT}, {"group": OTHER_TEAMS, "comment": TINY_COMMENT}],
        key=lambda r: (r["group"], r["comment"]),
    )


def test_team_sizes_are_read_as_written_and_refused_with_a_reason():
    from pilot_health.models import parse_team_sizes, validate_pilot

    assert parse_team_sizes("Finance: 20; Operations=12\nStore managers : 140;") == {
        "Finance": 20,
        "Operations": 12,
        "Store managers": 140,
    }
    pilot, problems = validate_pilot({**Story().record, "team_sizes": " Finance:20 ;Ops: 6 "}, today=TODAY)
    assert pilot.team_sizes == "Finance: 20; Ops: 6" and not problems
    for bad, says in (
        ("Finance 20", "write each team as 'name: number'"),
        ("Finance: x", "is not a whole number"),
        ("Finance: 0", "above 0"),
        ("Finance: 2; finance: 3", "named twice"),
    ):
        _, problems = validate_pilot({**Story().record, "team_sizes": bad}, today=TODAY)
        assert [p.field for p in problems] == ["team_sizes"] and says in problems[0].message, bad
        assert str(problems[0]).startswith("Team sizes (team_sizes) ")


def test_participation_per_team_uses_the_registers_team_sizes(tmp_path):
    store = survey_store(tmp_path / "s.duckdb", team_sizes=f"Finance: 20; Ops: 6; {SMALL_TEAM}: 3")
    pilot = pilot_adoption(store)
    wave = pilot.latest
    finance, other = wave.team_participation["Finance"], wave.team_participation[OTHER_TEAMS]
    assert (finance.respondents, finance.asked, finance.warning) == (8, 20, True)
    assert (other.respondents, other.asked, other.warning) == (9, 9, False)  # Ops and the small team, both with a size
    assert "Few answered in Finance (40% of 20)." in pilot.verdict
    block = report.as_json(pilot)
    assert [t["participation"]["asked"] for t in block["teams"]] == [20, 9]
    assert report.team_table(pilot, wave)["participation"].tolist() == [
        pytest.approx(17 / 40),
        pytest.approx(0.4),
        pytest.approx(1.0),
    ]
    assert SMALL_TEAM not in json.dumps(block, default=str)
    # Without a target, everyone is counted against the teams added up; a group with a team of unknown size has none.
    store = survey_store(tmp_path / "t.duckdb", target_users=None, team_sizes="Finance: 10; Ops: 30")
    wave = pilot_adoption(store).latest
    assert (wave.participation.asked, wave.participation.of) == (40, "people in its teams")
    assert wave.team_participation["Finance"].share == pytest.approx(0.8) and OTHER_TEAMS not in wave.team_participation


def test_a_wave_below_the_minimum_shows_no_scores(tmp_path):
    store = survey_store(tmp_path / "s.duckdb", waves=(1,), extra_rows=answers("Finance", FINANCE_1[:4], 2, 100))
    pilot = pilot_adoption(store)
    latest = pilot.latest
    assert (
        latest.wave == 2
        and latest.respondents == 4
        and not latest.shown
        and latest.groups == []
        and latest.comments == ()
    )
    assert pilot.verdict.startswith("Wave 2 has 4 respondents, fewer than 5: too few to show")
    block = report.as_json(pilot)
    assert (
        block["respondents"] == 4
        and block["means"] is None
        and block["barrier_points"] is None
        and block["teams"] == []
    )
    assert report.as_json(pilot, 1)["means"]["knowledge"] == pytest.approx(54 / 17)


def test_a_mean_from_fewer_answers_than_the_minimum_is_suppressed(tmp_path):
    # Six people in one team, four of whom skipped Desire.
    rows = answers("Planners", [(4, N, 4, 4, 4)] * 4 + [(4, 2, 4, 4, 4)] * 2, 1, 0)
    store = survey_store(tmp_path / "s.duckdb", waves=(), extra_rows=rows)
    pilot = pilot_adoption(store)
    wave = pilot.latest
    assert wave.overall.elements["desire"].answered == 2
    assert report.team_table(pilot, wave).loc[0, "desire"] is None or pd.isna(
        report.team_table(pilot, wave).loc[0, "desire"]
    )
    heat = report.heatmap_frame(pilot, wave)
    cell = heat[(heat["group"] == "All respondents (6)") & (heat["element"] == "Desire")].iloc[0]
    assert cell["suppressed"] and pd.isna(cell["mean"]) and cell["cell"] == "< 5 answers"
    assert report.as_json(pilot)["means"]["desire"] is None and report.as_json(pilot)["means"][
        "awareness"
    ] == pytest.approx(4.0)


def test_the_portfolio_is_worst_first(tmp_path):
    store = survey_store(tmp_path / "s.duckdb")  # P-1: 17 of 40 users answered; usage ~ 19-20 of 40
    survey_store(None, store=store, pilot_id="P-2", users=[(weeks_ago(12 - i), 36.0) for i in range(13)])
    survey_store(None, store=store, pilot_id="P-3", waves=(), users=[])
    rows = report.portfolio_adoption(store, NOW)
    assert [r.pilot_id for r in rows] == ["P-1", "P-2", "P-3"]
    p1, p2, p3 = rows
    assert p1.weakest == pytest.approx(min(p1.rate.rate, 1 - 4 / 17)) and p1.rate.rate < 0.6
    assert p2.weakest == pytest.approx(
        1 - 4 / 17
    )  # wave 2: 4 of 17 stuck at awareness and p2.rate.rate == pytest.approx(0.9)
    assert p3.weakest is None and p3.verdict.startswith("No survey results yet")
    table = report.portfolio_table(rows)
    assert (
        table.loc[0, "main_barrier"] == "Awareness"
        and table.loc[0, "stuck_there"] == 4
        and table.loc[0, "respondents"] == 17
    )


def test_the_risk_engine_judges_the_same_latest_wave(tmp_path):
    store = survey_store(tmp_path / "s.duckdb")
    pilot = pilot_adoption(store)
    [result] = risk.assess(store, NOW)
    signal = next(s for s in result.patterns["organisational_resistance"].signals if s.key == "adkar_barrier")
    b = pilot.latest.overall.barrier
    assert f"In wave 2, {b.element_count} of {b.respondents} respondents" in signal.evidence


def test_as_of_a_moment_later_uploads_and_withdrawals_count_only_from_their_time(tmp_path):
    store = survey_store(tmp_path / "s.duckdb", waves=(1,))  # uploaded in 2020
    with store.write() as con:
        upload = queries.insert_upload(
            con,
            kind="survey",
            file_name="w2.csv",
            sha256="y",
            rows_stored=17,
            rows_rejected=0,
            uploaded_at=NOW - timedelta(days=1),
            uploaded_by="test",
        )
        frame = pd.DataFrame(
            [
                {
                    "pilot_id": "P-1",
                    "role": "r",
                    "comment": None,
                    "upload_id": upload,
                    "responded_at": weeks_ago(2),
                    **r,
                }
                for r in wave_rows(2)
            ]
        )
        queries.insert_rows(con, "survey_responses", frame)
        first = con.execute("SELECT min(upload_id) FROM uploads").fetchone()[0]
        queries.withdraw_upload(con, first, NOW - timedelta(hours=12))

    def waves(moment):
        return [w.wave for w in report.portfolio_adoption(store, moment)[0].waves]

    assert waves(NOW - timedelta(days=2)) == [1]
    assert waves(NOW - timedelta(hours=18)) == [1, 2]
    assert waves(NOW) == [2]


# -- the demo ----------------------------------------------------------------------------------------


def test_the_demo_stories_read_as_designed(demo_store):
    rows = {r.pilot_id: r for r in report.portfolio_adoption(demo_store)}
    ro2 = rows["RO-02"]  # the labour-scheduling story: store managers do not want it
    assert ro2.latest.overall.barrier.element == "desire" and ro2.verdict.startswith(
        "Most of Store managers is stuck at Desire"
    )
    assert "Workforce planning" not in json.dumps(report.as_json(ro2), default=str)  # a team of four
    cs4 = rows["CS-04"]  # reinforcement collapsed after the pause
    assert (
        cs4.latest.overall.barrier.element == "reinforcement"
        and cs4.latest.change.elements["reinforcement"].change < -1
    )
    assert cs4.trend.direction == "falling" and ro2.rate.rate < 0.2 and ro2.latest.participation.warning
    assert (
        rows["CS-01"].latest.overall.barrier.element == "knowledge"
        and rows["SC-03"].latest.overall.barrier.element == "awareness"
    )
    assert rows["SC-05"].waves == [] and rows["SC-05"].weakest is None


# -- the command line ------------------------------------------------------------------------------


def test_the_command_gives_the_fields_the_issue_names_and_hides_the_small_team(tmp_path, run_command):
    store = survey_store(tmp_path / "s.duckdb")
    done = run_command("adoption", "--db", str(store.path), "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert SMALL_TEAM not in done.stdout and "Ops" not in done.stdout
    [block] = payload["pilots"]
    assert block["pilot_id"] == "P-1" and block["wave"] == 2 and block["respondents"] == 17
    assert set(block["means"]) == set(ADKAR) and block["means"]["knowledge"] == pytest.approx(65 / 17)
    assert block["barrier_points"] == {
        "awareness": 4,
        "desire": 0,
        "knowledge": 0,
        "ability": 4,
        "reinforcement": 2,
        "none": 7,
    }
    assert block["group_barrier"] == {"element": "awareness", "respondents": 4, "share": pytest.approx(4 / 17)}
    assert block["participation"] == {
        "respondents": 17,
        "asked": 40,
        "of": "target users",
        "share": pytest.approx(17 / 40),
        "warning": True,
    }
    assert 0 < block["adoption_rate"] < 1
    assert [(t["team"], t["respondents"]) for t in block["teams"]] == [("Finance", 8), (OTHER_TEAMS, 9)]
    assert block["change"]["from_wave"] == 1 and block["change"]["means"]["knowledge"] == pytest.approx(11 / 17)

    done = run_command("adoption", "--db", str(store.path), "--pilot", "p-1", "--wave", "1")
    assert done.returncode == 0, done.stderr
    assert "Most of Finance is stuck at Knowledge" in done.stdout and SMALL_TEAM not in done.stdout
    assert "Other teams" in done.stdout and "2 teams counted together" in done.stdout

    done = run_command("adoption", "--db", str(store.path), "--pilot", "P-1", "--wave", "3")
    assert done.returncode != 0 and "has no survey wave 3 (its waves: 1, 2)" in done.stderr


def test_every_analysis_setting_is_documented():
    from pathlib import Path

    from pilot_health.rules.catalogue import Analysis

    docs = "\n".join(p.read_text(encoding="utf-8") for p in (Path(__file__).parents[1] / "docs").glob("*.md"))
    assert [key for key in Analysis.model_fields if f"`{key}`" not in docs] == []
