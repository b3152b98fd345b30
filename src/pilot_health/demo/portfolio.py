"""The demo portfolio: built from `demo_stories`, deterministic, loadable in one transaction.

`build_portfolio()` always returns the same data (seeded generators, no clock). The CSV files in
`data/demo/` are exactly its output (a test regenerates and compares them) and double as upload
templates. Loading re-dates the whole portfolio by whole weeks so that its last week of data is the
current week — the values are identical, only the calendar moves, so time-in-stage and freshness
look as they would in a live portfolio. Uploads are simulated per pilot as its team would have
made them: metric and usage exports every few weeks, a survey export after each wave.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from pilot_health.access import Person, as_person
from pilot_health.analytics.adoption import ADKAR, barrier_point
from pilot_health.config import DAYS_PER_MONTH
from pilot_health.csv_files import frame_to_csv
from pilot_health.demo.stories import COMMENTS, MEETINGS, STORIES, WAVE_WEEKS_AGO, Point, Story
from pilot_health.errors import DuplicateError
from pilot_health.models import PILOT_FIELDS, Pilot
from pilot_health.store import queries
from pilot_health.store.database import Store, utc_now

ANCHOR = date(2026, 11, 16)  # Monday of the demo's last week of data
DEMO_NOW = datetime(2026, 11, 19, 17, 0)  # the moment the demo portfolio "is" as shipped
WINDOW_WEEKS = 104
DEMO_UPLOADER = "demo"
BOUNDED_METRICS = {"accuracy", "f1", "precision", "recall", "roc_auc", "r2"}
LAB_EVERY_WEEKS = 2
REGISTER_WEEKS = 26  # the demo's register history begins this long before its now (its uploads go back further)
# A pilot that reached its stage within that history was first in the stage before it.
PRIOR_STAGE = {
    "pilot": "proposed",
    "scaling": "pilot",
    "paused": "pilot",
    "cancelled": "pilot",
    "production": "scaling",
}
MEETING_REVIEWED = time(8, 0)  # a demo meeting reviewed the numbers as they stood that morning
MEETING_HELD = time(14, 0)  # and recorded its decisions in the afternoon
CSV_FILES = {"pilots": "pilots.csv", "metrics": "metrics.csv", "usage": "usage.csv", "survey": "survey.csv"}
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class DemoPortfolio:
    """The demo as upload-shaped tables (the shapes of the CSV templates)."""

    pilots: pd.DataFrame  # the pilot register
    metrics: pd.DataFrame  # long: pilot_id, metric, kind, environment, observed_at, value
    usage: pd.DataFrame  # wide, as usage exports come: pilot_id, date, active_users, sessions
    survey: pd.DataFrame  # one row per response
    now: datetime  # when the simulated uploads stop

    def redated(self, weeks: int) -> DemoPortfolio:
        """The same portfolio `weeks` later (or earlier): every date moves, no value does."""
        if weeks == 0:
            return self
        delta = timedelta(weeks=weeks)
        pilots = self.pilots.copy()
        for column in ("approved_on", "stage_since", "target_production_on", "kpi_deadline"):
            pilots[column] = pilots[column].map(lambda d: d + delta if d is not None else None)
        metrics = self.metrics.assign(observed_at=self.metrics["observed_at"] + delta)
        usage = self.usage.assign(date=self.usage["date"] + delta)
        survey = self.survey.assign(responded_at=self.survey["responded_at"] + delta)
        return replace(self, pilots=pilots, metrics=metrics, usage=usage, survey=survey, now=self.now + delta)


def _rng(*parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in parts))


def _weeks_ago_date(weeks_ago: int) -> date:
    return ANCHOR - timedelta(weeks=weeks_ago)


def _months_from_anchor(months: float) -> date:
    return ANCHOR + timedelta(days=round(months * DAYS_PER_MONTH))


def _value_at(points: list[Point], weeks_ago: int) -> float | None:
    """Straight lines between (weeks ago, value) points; None outside them."""
    ordered = sorted(points, key=lambda p: -p[0])
    if weeks_ago > ordered[0][0] or weeks_ago < ordered[-1][0]:
        return None
    for (a_ago, a_val), (b_ago, b_val) in zip(ordered, ordered[1:]):
        if b_ago <= weeks_ago <= a_ago:
            share = (a_ago - weeks_ago) / (a_ago - b_ago) if a_ago != b_ago else 1.0
            return a_val + (b_val - a_val) * share
    return ordered[-1][1]


def _series(
    rng: random.Random, points: list[Point], noise: float, every: int, ends_ago: int
) -> list[tuple[int, float]]:
    start = min(max(p[0] for p in points), WINDOW_WEEKS - 1)
    out = []
    for weeks_ago in range(start, ends_ago - 1, -1):
        if (start - weeks_ago) % every:
            continue
        level = _value_at(points, weeks_ago)
        if level is not None:
            out.append((weeks_ago, level + rng.gauss(0, noise)))
    return out


def _pilot_record(story: Story) -> dict:
    record: dict[str, Any] = {name: None for name in PILOT_FIELDS}
    record.update({k: (v if v != "" else None) for k, v in story.record.items()})
    record["team_sizes"] = "; ".join(f"{team.name}: {team.size}" for team in story.teams) or None
    record["approved_on"] = (
        _months_from_anchor(-story.approved_months_ago) if story.approved_months_ago is not None else None
    )
    record["stage_since"] = _months_from_anchor(-story.stage_months_ago)
    if story.target_production_months is not None:
        record["target_production_on"] = _months_from_anchor(story.target_production_months)
    if story.kpi_deadline_months is not None and record.get("kpi_name"):
        record["kpi_deadline"] = _months_from_anchor(story.kpi_deadline_months)
    return Pilot.model_validate(record).model_dump(mode="python")


def _metric_rows(story: Story) -> list[dict]:
    pilot_id = story.record["pilot_id"]
    rows = []
    for tech in story.technical:
        for environment, points, every in (("lab", tech.lab, LAB_EVERY_WEEKS), ("live", tech.live, 1)):
            if not points:
                continue
            rng = _rng(pilot_id, tech.metric, environment)
            for weeks_ago, value in _series(rng, points, tech.noise, every, story.data_ends_weeks_ago):
                if tech.metric in BOUNDED_METRICS:
                    value = min(max(value, 0.0), 0.999)
                rows.append(
                    {
                        "pilot_id": pilot_id,
                        "metric": tech.metric,
                        "kind": "technical",
                        "environment": environment,
                        "observed_at": _weeks_ago_date(weeks_ago),
                        "value": round(max(value, 0.0), 4),
                    }
                )
    if story.business:
        kpi = story.business
        rng = _rng(pilot_id, kpi.metric, "business")
        for weeks_ago, value in _series(rng, kpi.points, kpi.noise, kpi.every, story.data_ends_weeks_ago):
            rows.append(
                {
                    "pilot_id": pilot_id,
                    "metric": kpi.metric,
                    "kind": "business",
                    "environment": "live",
                    "observed_at": _weeks_ago_date(weeks_ago),
                    "value": round(value, kpi.decimals),
                }
            )
    return rows


def _usage_rows(story: Story) -> list[dict]:
    if not story.active_users:
        return []
    pilot_id = story.record["pilot_id"]
    rng = _rng(pilot_id, "usage")
    rows = []
    for weeks_ago, value in _series(rng, story.active_users, 0.0, 1, story.data_ends_weeks_ago):
        active = max(0, round(value * rng.uniform(0.93, 1.07)))
        sessions = round(active * story.sessions_per_user * rng.uniform(0.85, 1.15))
        rows.append(
            {"pilot_id": pilot_id, "date": _weeks_ago_date(weeks_ago), "active_users": active, "sessions": sessions}
        )
    return rows


def _score(rng: random.Random, mean: float) -> int | None:
    if rng.random() < 0.03:
        return None  # a skipped question: blank, never 0
    return int(min(5, max(1, round(mean + rng.gauss(0, 0.75)))))


def _survey_rows(story: Story) -> list[dict]:
    pilot_id = story.record["pilot_id"]
    rows = []
    for team in story.teams:
        people = [
            "R-" + hashlib.sha256(f"{pilot_id}|{team.name}|{n}".encode()).hexdigest()[:8].upper()
            for n in range(team.size)
        ]
        for wave, (profile, share) in sorted(team.waves.items()):
            rng = _rng(pilot_id, team.name, wave)
            answered = sorted(rng.sample(range(team.size), max(1, round(team.size * share))))
            wave_day = _weeks_ago_date(WAVE_WEEKS_AGO[wave])
            for person in answered:
                scores = {element: _score(rng, mean) for element, mean in zip(ADKAR, profile)}
                comment = None
                if rng.random() < 0.22:
                    comment = rng.choice(COMMENTS[barrier_point(scores) or "none"])
                rows.append(
                    {
                        "pilot_id": pilot_id,
                        "respondent_id": people[person],
                        "responded_at": wave_day + timedelta(days=rng.randint(0, 9)),
                        "wave": wave,
                        "team": team.name,
                        "role": team.role,
                        **scores,
                        "comment": comment,
                    }
                )
    return rows


def build_portfolio() -> DemoPortfolio:
    """The demo as shipped (anchored on ANCHOR). Same result on every call and every machine."""
    pilots = pd.DataFrame([_pilot_record(s) for s in STORIES], columns=list(PILOT_FIELDS))
    metrics = pd.DataFrame(
        [r for s in STORIES for r in _metric_rows(s)],
        columns=["pilot_id", "metric", "kind", "environment", "observed_at", "value"],
    )
    usage = pd.DataFrame(
        [r for s in STORIES for r in _usage_rows(s)], columns=["pilot_id", "date", "active_users", "sessions"]
    )
    survey = pd.DataFrame(
        [r for s in STORIES for r in _survey_rows(s)],
        columns=["pilot_id", "respondent_id", "responded_at", "wave", "team", "role", *ADKAR, "comment"],
    )
    for frame, column in ((metrics, "observed_at"), (usage, "date"), (survey, "responded_at")):
        frame[column] = pd.to_datetime(frame[column])
    for element in ADKAR:
        survey[element] = survey[element].astype("Int64")
    return DemoPortfolio(pilots=pilots, metrics=metrics, usage=usage, survey=survey, now=DEMO_NOW)


def write_csvs(folder: Path, portfolio: DemoPortfolio | None = None) -> list[Path]:
    """Write the demo as the CSV templates (data/demo/*.csv)."""
    portfolio = portfolio or build_portfolio()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, file_name in CSV_FILES.items():
        path = folder / file_name
        path.write_bytes(frame_to_csv(getattr(portfolio, name)))
        written.append(path)
    return written


def weeks_to_today(today: date, now: datetime | None = None) -> int:
    """Whole weeks to move the demo so its newest data falls in the current week — but never after
    `now` (default: the real time): a demo upload or record dated later today would be left out of
    every "as of now" question until then, and a link pinned before it would find no pilots."""
    weeks = (today - DEMO_NOW.date()).days // 7
    now = now or utc_now()
    while DEMO_NOW + timedelta(weeks=weeks) > now:
        weeks -= 1
    return weeks


# -- simulated register history and steering meetings ----------------------------------------------


def register_versions(pilots: list[Pilot], now: datetime) -> list[tuple[datetime, Pilot]]:
    """The register's history as its editors would have kept it, oldest first: every pilot as it is
    from REGISTER_WEEKS before `now`; a pilot that reached its stage since was in the stage before it
    until then (PRIOR_STAGE), and a proposed pilot added since appears on its day. So a view pinned
    at a past moment (a meeting's) shows the portfolio as it stood, and the changes since show the
    stage moves."""
    start = now - timedelta(weeks=REGISTER_WEEKS)
    versions = []
    for pilot in pilots:
        moved = datetime.combine(pilot.stage_since, time(9, 0)) if pilot.stage_since else None
        if moved is None or moved <= start or moved >= now:
            versions.append((start, pilot))
            continue
        prior = PRIOR_STAGE.get(pilot.stage)
        if prior is not None:
            approved = (
                pilot.approved_on
                if prior != "proposed" and pilot.approved_on and pilot.approved_on <= start.date()
                else None
            )
            versions.append(
                (
                    start,
                    pilot.model_copy(
                        update={
                            "stage": prior,
                            "stage_since": approved or start.date(),
                            "approved_on": approved if prior == "proposed" else pilot.approved_on,
                        }
                    ),
                )
            )
        versions.append((moved, pilot))
    return sorted(versions, key=lambda v: (v[0], v[1].pilot_id))


def _store_register(con, pilots: list[Pilot], now: datetime) -> datetime:
    """Store the register with its simulated history; returns when it began."""
    seen: set[str] = set()
    for when, pilot in register_versions(pilots, now):
        if pilot.pilot_id in seen:
            queries.update_pilot(con, pilot, when)
        else:
            queries.insert_pilots(con, [pilot], when)
            seen.add(pilot.pilot_id)
    return now - timedelta(weeks=REGISTER_WEEKS)


def _store_meetings(con, now: datetime) -> list[int]:
    """The demo's past steering meetings and their decisions (demo_stories.MEETINGS), each recorded
    on its day (the audit trail's one "Demo loaded" line counts them); returns the meetings' ids."""
    ids = []
    for meeting in MEETINGS:
        day = (now - timedelta(days=meeting.days_ago)).date()
        held = datetime.combine(day, MEETING_HELD)
        title = f"{day:%B} steering committee"
        meeting_id = queries.insert_meeting(
            con, day, title, datetime.combine(day, MEETING_REVIEWED), DEMO_UPLOADER, held
        )
        for i, d in enumerate(meeting.decisions):
            recorded = held + timedelta(minutes=10 * (i + 1))
            due = day + timedelta(days=d.due_days)
            queries.insert_decision(
                con,
                {
                    "meeting_id": meeting_id,
                    "pilot_id": d.pilot_id,
                    "decision": d.decision,
                    "conditions": d.conditions,
                    "owner": d.owner,
                    "due_on": due,
                    "signal_key": d.signal_key,
                    "signal_value": None,
                    "recorded_by": DEMO_UPLOADER,
                    "recorded_at": recorded,
                },
            )
        ids.append(meeting_id)
    return ids


def _forget_meetings(con, meta: dict[str, str]) -> int:
    """Remove the demo's meetings and the decisions the demo recorded in them; a demo meeting in
    which someone has since recorded a decision of their own is kept (with that decision)."""
    ids = [int(m) for m in meta.get("demo_meetings", "").split(",") if m.isdigit()]
    return queries.delete_demo_meetings(con, ids, DEMO_UPLOADER) if ids else 0


# -- simulated upload history ---------------------------------------------------------------


def _batches(rows: pd.DataFrame, time_column: str, every_weeks: dict[str, int]) -> pd.DataFrame:
    """Give each row a batch: the upload its pilot's team would have made, every few weeks."""
    rows = rows.copy()
    newest = rows.groupby("pilot_id")[time_column].transform("max")
    weeks_before_newest = ((newest - rows[time_column]).dt.days // 7).astype(int)
    cadence = rows["pilot_id"].map(every_weeks).astype(int)
    rows["batch"] = weeks_before_newest // cadence
    return rows


def _upload_table(rows: pd.DataFrame, kind: str, time_column: str, now: datetime, label: str) -> pd.DataFrame:
    uploads = []
    for (pilot_id, batch), group in rows.groupby(["pilot_id", "batch"], sort=True):
        last = group[time_column].max().to_pydatetime()
        rng = _rng(pilot_id, kind, batch)
        uploaded_at = min(
            last + timedelta(days=rng.randint(1, 3), hours=rng.randint(8, 16), minutes=rng.randint(0, 59)), now
        )
        data = group.drop(columns=["batch"])
        uploads.append(
            {
                "pilot_id": pilot_id,
                "batch": batch,
                "kind": kind,
                "file_name": f"{label}_{pilot_id}_{last:%Y-%m-%d}.csv",
                "sha256": hashlib.sha256(frame_to_csv(data)).hexdigest(),
                "rows_stored": len(group),
                "rows_rejected": 0,
                "uploaded_at": uploaded_at,
            }
        )
    return pd.DataFrame(uploads)


def _survey_uploads(survey: pd.DataFrame, now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    survey = survey.assign(batch=survey["wave"])
    uploads = []
    for (pilot_id, wave), group in survey.groupby(["pilot_id", "batch"], sort=True):
        closed = group["responded_at"].max().to_pydatetime()
        uploads.append(
            {
                "pilot_id": pilot_id,
                "batch": wave,
                "kind": "survey",
                "file_name": f"survey_{pilot_id}_wave{wave}.csv",
                "sha256": hashlib.sha256(frame_to_csv(group.drop(columns=["batch"]))).hexdigest(),
                "rows_stored": len(group),
                "rows_rejected": 0,
                "uploaded_at": min(closed + timedelta(days=3, hours=10), now),
            }
        )
    return survey, pd.DataFrame(uploads)


def _long_usage(usage: pd.DataFrame) -> pd.DataFrame:
    long = usage.melt(
        id_vars=["pilot_id", "date"], value_vars=["active_users", "sessions"], var_name="metric", value_name="value"
    )
    long = long.rename(columns={"date": "observed_at"}).assign(kind="adoption", environment="live")
    long["value"] = long["value"].astype(float)
    return long.sort_values(["pilot_id", "metric", "observed_at"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class DemoLoadResult:
    pilots: int
    metric_observations: int
    survey_responses: int
    uploads: int
    redated_weeks: int


def load_demo(
    store: Store, *, today: date | None = None, progress: Progress | None = None, by: Person | str = DEMO_UPLOADER
) -> DemoLoadResult:
    """Store the demo portfolio, all at once or not at all (an administrator's action; `by` is who the audit trail names)."""
    person = as_person(by)
    person.require("manage_demo", "load the demo portfolio")
    progress = progress or (lambda share, text: None)
    # A given `today` (tests, a fixed demo) is taken as all of that day; otherwise never past the real time.
    shift = (
        weeks_to_today(today, datetime.combine(today, datetime.max.time())) if today else weeks_to_today(date.today())
    )
    today = today or date.today()
    progress(0.1, "Building the demo portfolio …")
    portfolio = build_portfolio().redated(shift)
    pilots = [
        Pilot.model_validate(r, context={"today": max(today, date.today())})
        for r in portfolio.pilots.to_dict("records")
    ]
    every = {s.record["pilot_id"]: s.upload_every_weeks for s in STORIES}
    metrics = _batches(portfolio.metrics, "observed_at", every)
    metric_uploads = _upload_table(metrics, "metrics", "observed_at", portfolio.now, "metrics")
    usage = _batches(_long_usage(portfolio.usage), "observed_at", every)
    usage_uploads = _upload_table(usage, "usage", "observed_at", portfolio.now, "usage")
    survey, survey_uploads = _survey_uploads(portfolio.survey, portfolio.now)
    progress(0.4, "Storing pilots, metrics and survey responses …")
    with store.write() as con:
        meta = queries.read_meta(con)
        if demo_loaded(meta):
            raise DuplicateError(
                f"The demo portfolio is already loaded in {store.location}; clear it first "
                "(python -m pilot_health demo --clear, or the button on the home page) to load it afresh."
            )
        taken = sorted(set(queries.pilot_ids(con)) & {p.pilot_id for p in pilots})
        if taken:
            raise DuplicateError(
                f"The store already has pilots with the demo's codes ({', '.join(taken[:5])}"
                f"{' …' if len(taken) > 5 else ''}); the demo was not loaded so that nothing is overwritten."
            )
        register_time = _store_register(con, pilots, portfolio.now)
        queries.insert_upload(
            con,
            kind="pilot_register",
            file_name=CSV_FILES["pilots"],
            sha256=hashlib.sha256(frame_to_csv(portfolio.pilots)).hexdigest(),
            rows_stored=len(pilots),
            rows_rejected=0,
            uploaded_at=register_time,
            uploaded_by=DEMO_UPLOADER,
        )
        queries.insert_upload_batches(con, "metric_observations", metrics, metric_uploads, DEMO_UPLOADER)
        queries.insert_upload_batches(con, "metric_observations", usage, usage_uploads, DEMO_UPLOADER)
        queries.insert_upload_batches(con, "survey_responses", survey, survey_uploads, DEMO_UPLOADER)
        queries.put_meta(con, "demo_loaded", "yes")
        meeting_ids = _store_meetings(con, portfolio.now)
        queries.record_audit(
            con,
            utc_now(),
            person.name,
            "demo_load",
            None,
            f"{len(pilots)} pilots, {len(metrics) + len(usage):,} metric rows, {len(survey):,} survey responses, "
            f"{len(meeting_ids)} past meetings with {sum(len(m.decisions) for m in MEETINGS)} decisions",
        )
        queries.put_meta(con, "demo_pilots", ",".join(p.pilot_id for p in pilots))
        queries.put_meta(con, "demo_meetings", ",".join(str(m) for m in meeting_ids))
        queries.put_meta(con, "first_run_done", utc_now().isoformat(timespec="seconds"))
    progress(1.0, "Demo portfolio loaded.")
    return DemoLoadResult(
        pilots=len(pilots),
        metric_observations=len(metrics) + len(usage),
        survey_responses=len(survey),
        uploads=1 + len(metric_uploads) + len(usage_uploads) + len(survey_uploads),
        redated_weeks=shift,
    )


@dataclass(frozen=True)
class DemoClearResult:
    uploads_removed: int
    pilots_removed: int
    pilots_kept: list[str]


def clear_demo(store: Store, by: Person | str = DEMO_UPLOADER) -> DemoClearResult:
    """Remove everything the demo stored, its meetings and decisions too; demo pilots that have your
    own data or decisions since are kept."""
    person = as_person(by)
    person.require("manage_demo", "clear the demo portfolio")
    with store.write() as con:
        meta = queries.read_meta(con)
        demo_ids = [p for p in meta.get("demo_pilots", "").split(",") if p]
        uploads = queries.upload_ids_by(con, DEMO_UPLOADER)
        queries.delete_uploads(con, uploads)
        keep = sorted(
            (queries.pilots_with_rows_outside(con, []) | queries.pilots_decided_by_others(con, DEMO_UPLOADER))
            & set(demo_ids)
        )
        remove = [p for p in demo_ids if p not in keep]
        queries.delete_pilots(con, remove)
        queries.forget_pilot_history(con, remove)
        _forget_meetings(con, meta)
        queries.put_meta(con, "demo_meetings", "")
        queries.put_meta(con, "demo_loaded", "no")
        queries.record_audit(
            con,
            utc_now(),
            person.name,
            "demo_clear",
            None,
            f"{len(uploads)} uploads and {len(remove)} pilots removed" + (f"; kept {', '.join(keep)}" if keep else ""),
        )
        queries.put_meta(con, "demo_pilots", ",".join(keep))
    return DemoClearResult(uploads_removed=len(uploads), pilots_removed=len(remove), pilots_kept=keep)


def demo_loaded(meta: dict[str, str]) -> bool:
    return meta.get("demo_loaded") == "yes"


_FIRST_RUN_LOCK = threading.Lock()


def first_run(store: Store, *, today: date | None = None, progress: Progress | None = None) -> DemoLoadResult | None:
    """On the dashboard's first visit to a new, empty store, load the demo (once, ever).

    A store that already has pilots, or where this already happened (even if the demo was cleared
    since), is left alone."""
    store = store.unscoped()  # a limited person's first visit must not take a full store for an empty one
    with _FIRST_RUN_LOCK:
        if "first_run_done" in store.meta():
            return None
        with store.read() as con:
            has_pilots = queries.table_counts(con)["pilots"] > 0
        if not has_pilots:
            try:
                return load_demo(store, today=today, progress=progress)
            except DuplicateError:
                pass  # another program filled the store meanwhile
        store.set_meta("first_run_done", utc_now().isoformat(timespec="seconds"))
        return None
