#!/usr/bin/env python
"""Page-data benchmark at the scale the product must hold.

    .venv/bin/python bench/bench_pages.py                 # build bench/out/bench.duckdb, then time
    .venv/bin/python bench/bench_pages.py --reuse         # time an existing bench store
    .venv/bin/python bench/bench_pages.py --reuse --json  # ... and print the figures as JSON too
    .venv/bin/python bench/bench_pages.py --reuse --pg postgresql://…  # ... and the same store on PostgreSQL

1. Builds a store of 500 pilots, 5,000,000 metric observations and 200,000 survey responses, with
   the uploads that brought them (weekly, fortnightly or monthly per pilot over two years, a few
   withdrawn). Pilots are `Pilot` models stored with `queries.insert_pilots`; the data rows are made
   set-based in DuckDB (range(), ASOF JOIN onto a small plan, hash() for deterministic noise), all in
   one `Store.write()`, so the schema comes from the project's migrations and the store version is
   changed like any other write.
2. Times what every page computes for its data: cold (first call in this process) and warm
   (median of --runs calls) without Streamlit's cache, and through the `st.cache_data` functions of
   `pilot_health.ui.data` (called in bare mode) for the cached warm time. The target is each page's
   data in under 500 ms warm. Pages: home, register, failure-pattern risk (with and without the
   rows behind each signal), alignment (with a pilot chosen), adoption (with a pilot chosen).
3. Edits one pilot's record (a real write) and times each page's first view after it.
4. With --pg, does the same on PostgreSQL (the bench file moved there by migrate-store) and prints
   both stores' page totals side by side.

The store is a bench file: it is marked in store_meta (`bench_store`), and the script refuses to
replace a file that does not carry that mark, so it cannot overwrite a real store by accident.
Nothing here changes the project's code.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pilot_health.analytics import portfolio, risk
from pilot_health.models import STAGES, Pilot
from pilot_health.register import pilots as pilots_module
from pilot_health.reports import adoption_report, alignment_report
from pilot_health.rules.catalogue import load_catalogue
from pilot_health.store import database as store_module
from pilot_health.store import postgres as postgres_module
from pilot_health.store import queries
from pilot_health.store.database import Store, open_store, utc_now

# store_meta writes go through the project's helper, wherever this version keeps it.
put_meta = queries.put_meta

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = ROOT / "bench" / "out" / "bench.duckdb"
BENCH_MARK = "bench_store"
TARGET_MS = 500.0
STALE_AFTER_DAYS = 45  # the default of PILOT_HEALTH_STALE_UPLOAD_DAYS
WINDOW_WEEKS = 104  # two years of data
SEED = 20260101

PILOTS = 500
METRIC_ROWS = 5_000_000
SURVEY_ROWS = 200_000

# -- the portfolio's vocabulary ------------------------------------------------------------------

BUSINESS_UNITS = {
    "SC": (
        "Supply Chain",
        [
            "Demand forecasting",
            "Inventory optimisation",
            "Route planning",
            "Supplier risk scoring",
            "Warehouse slotting",
            "Replenishment",
            "Freight cost prediction",
            "Returns triage",
        ],
    ),
    "FIN": (
        "Finance",
        [
            "Invoice matching",
            "Cash-flow forecasting",
            "Expense anomaly detection",
            "Credit scoring",
            "Close automation",
            "Fraud screening",
            "Collections prioritisation",
            "Tax classification",
        ],
    ),
    "MKT": (
        "Marketing",
        [
            "Churn prediction",
            "Next best offer",
            "Campaign uplift modelling",
            "Price elasticity",
            "Content generation",
            "Lead scoring",
            "Customer segmentation",
            "Media mix modelling",
        ],
    ),
    "CS": (
        "Customer Service",
        [
            "Ticket routing",
            "Agent assist",
            "Chatbot deflection",
            "Sentiment monitoring",
            "Call summarisation",
            "Knowledge search",
            "Complaint classification",
            "Callback scheduling",
        ],
    ),
    "MFG": (
        "Manufacturing",
        [
            "Predictive maintenance",
            "Visual quality inspection",
            "Yield optimisation",
            "Energy forecasting",
            "Scrap prediction",
            "Shift scheduling",
            "Spare-parts forecasting",
            "Process parameter tuning",
        ],
    ),
}
REGIONS = ["EMEA", "Americas", "APAC", "Nordics", "DACH", "UK", "Iberia", "Benelux", "France", "Italy"]
FIRST = [
    "Ana",
    "Ben",
    "Chen",
    "Dara",
    "Eva",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kemi",
    "Luca",
    "Maya",
    "Nils",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tomas",
    "Uma",
    "Victor",
    "Wen",
    "Yusuf",
    "Zoe",
]
LAST = [
    "Alvarez",
    "Becker",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Novak",
]
VENDORS = ["Accenture", "Databricks", "In-house", "Microsoft", "Google Cloud", "AWS", "Palantir", "Boutique AI Ltd"]
INTEGRATION_TARGETS = ["ERP", "CRM", "WMS", "MES", "TMS", "Data warehouse", "none"]
KPIS = [  # name, unit, baseline range, relative improvement range, direction
    ("On-shelf availability", "%", (88.0, 95.0), (0.02, 0.05), "up"),
    ("Forecast error", "%", (18.0, 35.0), (0.15, 0.35), "down"),
    ("Days sales outstanding", "days", (38.0, 65.0), (0.08, 0.2), "down"),
    ("First contact resolution", "%", (55.0, 75.0), (0.05, 0.15), "up"),
    ("Handling time", "min", (6.0, 14.0), (0.1, 0.3), "down"),
    ("Conversion rate", "%", (2.0, 6.0), (0.1, 0.3), "up"),
    ("Unplanned downtime", "h/month", (20.0, 80.0), (0.15, 0.4), "down"),
    ("Cost savings", "$M", (0.5, 3.0), (0.5, 2.0), "up"),
]
TECH_METRICS = {  # name: (base range, drift range, noise, lo, hi, decimals)
    "accuracy": ((0.62, 0.86), (-0.06, 0.1), 0.015, 0.0, 0.999, 4),
    "f1": ((0.55, 0.82), (-0.06, 0.1), 0.02, 0.0, 0.999, 4),
    "precision": ((0.6, 0.88), (-0.05, 0.08), 0.02, 0.0, 0.999, 4),
    "recall": ((0.5, 0.85), (-0.05, 0.1), 0.02, 0.0, 0.999, 4),
    "roc_auc": ((0.7, 0.9), (-0.04, 0.06), 0.01, 0.0, 0.999, 4),
    "mape": ((12.0, 35.0), (-10.0, 3.0), 1.5, 0.0, 100.0, 2),
    "latency_ms": ((120.0, 800.0), (-100.0, 200.0), 40.0, 1.0, 100_000.0, 0),
}
TEAMS = [
    ("Planning", "planner"),
    ("Warehouse", "operator"),
    ("Store operations", "store manager"),
    ("Finance operations", "analyst"),
    ("Call centre", "agent"),
    ("Field sales", "sales rep"),
    ("Maintenance", "technician"),
    ("Quality", "engineer"),
    ("Procurement", "buyer"),
    ("Marketing ops", "marketer"),
]
COMMENTS = [
    "Nobody told us why this is changing.",
    "I don't trust the numbers yet.",
    "Training came after go-live.",
    "It saves me an hour a day.",
    "The old spreadsheet was faster.",
    "My manager never mentions it.",
    "Works well once you know the screens.",
    "We went back to the old way.",
]
# Stage mix of a portfolio of this size (all six stages present).
STAGE_WEIGHTS = {
    "proposed": 0.10,
    "pilot": 0.35,
    "scaling": 0.15,
    "production": 0.20,
    "paused": 0.10,
    "cancelled": 0.10,
}
# Upload cadence (weeks) per pilot: the team's export rhythm.
CADENCE_WEIGHTS = {1: 0.2, 2: 0.3, 4: 0.5}


# -- plan: small tables made in Python (500 pilots, a few thousand series and survey groups) -----


@dataclass
class Plan:
    pilots: list[Pilot]
    owners: dict[str, str]
    windows: pd.DataFrame  # pilot_id, start_ts, end_ts, cadence_days, uploaded_by
    series: pd.DataFrame  # one row per (pilot, metric, environment) with its share of rows
    groups: pd.DataFrame  # one row per (pilot, team, wave) survey group with its share of responses


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _maybe(rng: random.Random, value: Any, share: float) -> Any:
    return value if rng.random() < share else None


def _evidence(rng: random.Random, stage: str) -> bool | None:
    yes = {"proposed": 0.15, "pilot": 0.35, "scaling": 0.6, "production": 0.8, "paused": 0.3, "cancelled": 0.2}[stage]
    roll = rng.random()
    return True if roll < yes else (False if roll < yes + (1 - yes) * 0.6 else None)


def make_pilot(rng: random.Random, code: str, index: int, today: date) -> Pilot:
    unit, use_cases = BUSINESS_UNITS[code]
    stage = rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()))[0]
    use_case = use_cases[index % len(use_cases)]
    name = f"{use_case} – {REGIONS[(index // len(use_cases)) % len(REGIONS)]}"
    if stage == "proposed":
        approved_on = None
        stage_since = today - timedelta(days=rng.randint(3, 150))
    else:
        approved_on = today - timedelta(days=rng.randint(21, 1100))
        age = (today - approved_on).days
        if stage == "pilot":
            stage_since = approved_on + timedelta(days=rng.randint(0, min(45, age)))
        else:
            stage_since = approved_on + timedelta(days=rng.randint(age // 3, age))
    kpi_name, unit_name, base_range, gain_range, direction = rng.choice(KPIS)
    baseline = round(rng.uniform(*base_range), 2)
    gain = baseline * rng.uniform(*gain_range)
    target = round(baseline + gain if direction == "up" else baseline - gain, 2)
    if target == baseline:
        target = round(baseline * (1.1 if direction == "up" else 0.9), 2) or baseline + 1
    anchor = approved_on or stage_since
    budget = _maybe(rng, float(round(rng.lognormvariate(math.log(400_000), 0.8), -3)) or 1000.0, 0.9)
    spent_share = rng.uniform(0.0, 0.4) if stage == "proposed" else rng.uniform(0.1, 1.35)
    spend = round(budget * spent_share, -2) if budget else _maybe(rng, float(rng.randint(10, 500)) * 1000, 0.5)
    record = {
        "pilot_id": f"{code}-{index + 1:03d}",
        "name": name,
        "business_unit": unit,
        "use_case": f"{use_case} for {unit.lower()} in {name.rsplit(' – ', 1)[1]}.",
        "owner": _person(rng),
        "executive_sponsor": _maybe(rng, _person(rng), 0.85),
        "sponsor_level": rng.choice(["vp", "director", "manager", "none", None]),
        "change_champion": _maybe(rng, _person(rng), 0.55),
        "vendor": _maybe(rng, rng.choice(VENDORS), 0.7),
        "stage": stage,
        "approved_on": approved_on,
        "stage_since": stage_since,
        "target_production_on": _maybe(rng, anchor + timedelta(days=rng.randint(180, 540)), 0.8),
        "budget": budget,
        "spend_to_date": spend,
        "target_users": rng.choice([25, 50, 120, 300, 800, 2000, 5000]),
        "kpi_name": kpi_name,
        "kpi_baseline": baseline,
        "kpi_target": target,
        "kpi_direction": direction,
        "kpi_unit": unit_name,
        "kpi_deadline": _maybe(rng, anchor + timedelta(days=rng.randint(270, 720)), 0.7),
        "data_effort_pct": _maybe(rng, round(rng.uniform(5, 70), 1), 0.75),
        "integration_target": _maybe(rng, rng.choice(INTEGRATION_TARGETS), 0.8),
        "accountable_owner": _maybe(rng, _person(rng), 0.6),
    }
    for name_ in (
        "pipeline_automated",
        "data_quality_monitored",
        "master_data_managed",
        "api_designed",
        "latency_defined",
        "error_handling_designed",
        "integration_resourced",
        "change_plan",
        "training_ready",
        "monitoring_in_place",
        "drift_alerts",
        "responsible_ai_review",
        "escalation_path",
    ):
        record[name_] = _evidence(rng, stage)
    return Pilot.model_validate(record)


def _allocate(weights: pd.Series, total: int) -> pd.Series:
    """Whole numbers proportional to `weights` that add up to exactly `total` (largest remainder)."""
    exact = weights / weights.sum() * total
    whole = exact.astype("int64")
    short = total - int(whole.sum())
    if short:
        order = (exact - whole).sort_values(ascending=False, kind="stable").index[:short]
        whole.loc[order] += 1
    return whole


def make_plan(today: date, now: datetime, metric_rows: int, survey_rows: int) -> Plan:
    rng = random.Random(SEED)
    pilots = [make_pilot(rng, code, i, today) for code in BUSINESS_UNITS for i in range(PILOTS // len(BUSINESS_UNITS))]
    owners = {p.pilot_id: p.owner for p in pilots}
    window_start = datetime.combine(today - timedelta(weeks=WINDOW_WEEKS), datetime.min.time())
    windows, series, groups = [], [], []
    for p in pilots:
        if p.stage == "proposed" or p.approved_on is None:
            continue  # proposed pilots have sent no data yet
        start = max(
            window_start, datetime.combine(p.approved_on, datetime.min.time()) + timedelta(days=rng.randint(7, 30))
        )
        if p.stage in ("paused", "cancelled"):
            end = datetime.combine(p.stage_since, datetime.min.time()) + timedelta(hours=rng.randint(0, 23))
        elif rng.random() < 0.12:  # an active pilot whose team stopped sending data
            end = now - timedelta(days=rng.randint(50, 200))
        else:
            end = now - timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 12))
        if (end - start).days < 10:
            continue  # approved too recently (or stopped before the two-year window): no data yet
        cadence = rng.choices(list(CADENCE_WEIGHTS), weights=list(CADENCE_WEIGHTS.values()))[0]
        owner = p.owner or "someone"
        windows.append(
            {
                "pilot_id": p.pilot_id,
                "start_ts": start,
                "end_ts": end,
                "cadence_days": 7 * cadence,
                "uploaded_by": owner.lower().replace(" ", ".") + "@example.com",
            }
        )
        days = (end - start).total_seconds() / 86400
        live = p.stage in ("scaling", "production", "paused", "cancelled") or rng.random() < 0.5
        for metric in rng.sample(sorted(TECH_METRICS), rng.randint(2, 3)):
            (b_lo, b_hi), (d_lo, d_hi), noise, lo, hi, decimals = TECH_METRICS[metric]
            base, drift = rng.uniform(b_lo, b_hi), rng.uniform(d_lo, d_hi)
            for environment, density in (("lab", 0.5), ("live", 1.0)) if live else (("lab", 0.5),):
                shift = -0.03 if environment == "live" and hi < 2 else 0.0  # live scores a little below lab
                series.append(
                    (
                        p.pilot_id,
                        metric,
                        "technical",
                        environment,
                        "metrics",
                        density * days,
                        base + shift,
                        drift,
                        noise,
                        lo,
                        hi,
                        decimals,
                    )
                )
        spread = abs(p.kpi_target - p.kpi_baseline)
        kpi_metric = p.kpi_name.lower().replace(" ", "_").replace("-", "_")
        series.append(
            (
                p.pilot_id,
                kpi_metric,
                "business",
                "live",
                "metrics",
                0.4 * days,
                p.kpi_baseline,
                (p.kpi_target - p.kpi_baseline) * rng.uniform(0.1, 1.1),
                spread * 0.08,
                -1e15,
                1e15,
                2,
            )
        )
        if live:
            users = float(p.target_users or 100)
            series.append(
                (
                    p.pilot_id,
                    "active_users",
                    "adoption",
                    "live",
                    "usage",
                    0.6 * days,
                    users * rng.uniform(0.02, 0.1),
                    users * rng.uniform(0.1, 0.9),
                    users * 0.02,
                    0.0,
                    1e9,
                    0,
                )
            )
            per_user = rng.uniform(2.0, 6.0)
            series.append(
                (
                    p.pilot_id,
                    "sessions",
                    "adoption",
                    "live",
                    "usage",
                    0.6 * days,
                    series[-1][6] * per_user,
                    series[-1][7] * per_user,
                    users * 0.05 * per_user,
                    0.0,
                    1e10,
                    0,
                )
            )
        # Survey waves: up to three, spread over the data window, each sent two weeks after it opens.
        weeks = (end - start).days / 7
        waves = 1 if weeks < 20 else (2 if weeks < 50 else 3)
        teams = rng.sample(TEAMS, rng.randint(2, 5))
        for team, role in teams:
            size = rng.randint(30, 200)
            profile = [rng.uniform(2.2, 4.4) for _ in range(5)]
            for wave in range(1, waves + 1):
                opened = start + (end - start) * (0.3 * wave - 0.1)
                if opened + timedelta(days=14) > now:
                    continue
                share = rng.uniform(0.4, 0.9)
                groups.append(
                    (p.pilot_id, team, role, wave, opened, size * share, *[m + 0.2 * (wave - 1) for m in profile])
                )
    series_frame = pd.DataFrame(
        series,
        columns=[
            "pilot_id",
            "metric",
            "kind",
            "environment",
            "upload_kind",
            "weight",
            "base",
            "drift",
            "noise",
            "lo",
            "hi",
            "decimals",
        ],
    )
    series_frame["n"] = _allocate(series_frame["weight"], metric_rows)
    series_frame = series_frame[series_frame["n"] > 0].reset_index(drop=True)
    series_frame["off"] = series_frame["n"].cumsum() - series_frame["n"]
    series_frame = series_frame.merge(pd.DataFrame(windows)[["pilot_id", "start_ts", "end_ts"]], on="pilot_id")
    groups_frame = pd.DataFrame(
        groups,
        columns=[
            "pilot_id",
            "team",
            "role",
            "wave",
            "opened_at",
            "weight",
            "m_awareness",
            "m_desire",
            "m_knowledge",
            "m_ability",
            "m_reinforcement",
        ],
    )
    groups_frame["n"] = _allocate(groups_frame["weight"], survey_rows)
    groups_frame = groups_frame[groups_frame["n"] > 0].reset_index(drop=True)
    groups_frame["off"] = groups_frame["n"].cumsum() - groups_frame["n"]
    return Plan(pilots=pilots, owners=owners, windows=pd.DataFrame(windows), series=series_frame, groups=groups_frame)


# -- build: the big tables, set-based in DuckDB --------------------------------------------------


def _u(seed_sql: str, salt: int) -> str:
    """A deterministic uniform number in [0, 1) from hash(); no thread or run changes it."""
    return f"((hash({seed_sql}, {salt}) % 1000003)::DOUBLE / 1000003.0)"


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _z(seed_sql: str, salt: int) -> str:
    """Roughly standard-normal noise: four uniforms summed, centred and scaled."""
    return "((" + " + ".join(_u(seed_sql, salt + i) for i in range(4)) + " - 2.0) * 1.7320508)"


def build_store(path: Path, metric_rows: int, survey_rows: int) -> dict[str, Any]:
    today = date.today()
    now = utc_now().replace(microsecond=0)
    steps: dict[str, float] = {}
    started = time.perf_counter()
    mark = time.perf_counter()
    plan = make_plan(today, now, metric_rows, survey_rows)
    steps["plan (Python: 500 Pilot models, series, survey groups)"] = time.perf_counter() - mark

    store = Store(path)
    with store.write() as con:  # mark the new file first, so a failed build can be replaced by the next run
        put_meta(con, BENCH_MARK, json.dumps({"status": "building"}))
    with store.write() as con:
        mark = time.perf_counter()
        queries.insert_pilots(con, plan.pilots, now - timedelta(hours=3))
        steps["pilots (queries.insert_pilots)"] = time.perf_counter() - mark

        con.register("plan_windows", plan.windows)
        con.register("plan_series", plan.series)
        con.register("plan_groups", plan.groups)
        con.execute("CREATE TEMP TABLE bench_windows AS SELECT * FROM plan_windows")
        con.execute(
            "CREATE TEMP TABLE bench_series AS SELECT *, epoch_us(end_ts) - epoch_us(start_ts) AS span_us FROM plan_series ORDER BY off"
        )
        con.execute("CREATE TEMP TABLE bench_groups AS SELECT * FROM plan_groups ORDER BY off")
        for name in ("plan_windows", "plan_series", "plan_groups"):
            con.unregister(name)

        # Metric observations, before they know their upload: row k belongs to the series whose
        # offset is the largest not above k; its j-th row sits at (j + 0.5) / n of the window.
        mark = time.perf_counter()
        con.execute(
            f"""
            CREATE TEMP TABLE bench_obs AS
            WITH gen AS (
                SELECT r.k, s.*, (r.k - s.off) AS j, (r.k - s.off + 0.5) / s.n AS frac
                FROM range({metric_rows}) r(k) ASOF JOIN bench_series s ON r.k >= s.off
            ), timed AS (
                SELECT *, date_trunc('minute', start_ts + to_microseconds(CAST(frac * span_us AS BIGINT))) AS observed_at
                FROM gen
            )
            SELECT t.pilot_id, t.metric, t.kind, t.environment, t.observed_at,
                   CASE WHEN hash(t.k, 99) % 1000 = 0 THEN NULL  -- a missing reading now and then
                        ELSE round(greatest(t.lo, least(t.hi, t.base + t.drift * t.frac + t.noise * {_z("t.k", 1)})), t.decimals::INTEGER)
                   END AS value,
                   t.upload_kind,
                   (date_diff('second', t.observed_at, w.end_ts) // (w.cadence_days * 86400))::INTEGER AS batch
            FROM timed t JOIN bench_windows w USING (pilot_id)
            """
        )
        steps["metric rows generated (temp)"] = time.perf_counter() - mark

        mark = time.perf_counter()
        con.execute(
            f"""
            CREATE TEMP TABLE bench_survey AS
            WITH gen AS (
                SELECT r.k, g.*, (r.k - g.off) AS j
                FROM range({survey_rows}) r(k) ASOF JOIN bench_groups g ON r.k >= g.off
            )
            SELECT pilot_id,
                   'R-' || upper(md5(pilot_id || '|' || team || '|' || j::VARCHAR)[:8]) AS respondent_id,
                   least(opened_at + to_microseconds(CAST({
                _u("k", 10)
            } * 10 * 86400e6 AS BIGINT)), opened_at + INTERVAL 13 DAY)
                       AS responded_at,
                   wave, team, role,
                   {
                ", ".join(
                    f"CASE WHEN hash(k, {20 + i}) % 100 < 3 THEN NULL "
                    f"ELSE least(5, greatest(1, round(m_{e} + 0.75 * {_z('k', 30 + 4 * i)})))::TINYINT END AS {e}"
                    for i, e in enumerate(("awareness", "desire", "knowledge", "ability", "reinforcement"))
                )
            },
                   CASE WHEN hash(k, 60) % 100 < 22 THEN {_sql_list(COMMENTS)}[1 + (hash(k, 61) % {
                len(COMMENTS)
            })::INTEGER] END AS comment,
                   'survey' AS upload_kind, wave AS batch, opened_at
            FROM gen
            """
        )
        steps["survey rows generated (temp)"] = time.perf_counter() - mark

        # Uploads: one per pilot and batch (metrics and usage exports), one per survey wave, and
        # the register itself. Ids follow upload time, as they would in a store filled over two years.
        mark = time.perf_counter()
        first_id = con.execute("SELECT nextval('upload_id_seq')").fetchone()[0]
        con.execute(
            f"""
            CREATE TEMP TABLE bench_uploads AS
            WITH data_batches AS (
                SELECT pilot_id, upload_kind, batch, count(*) AS rows_stored, max(observed_at) AS newest
                FROM bench_obs GROUP BY ALL
            ), survey_batches AS (
                SELECT pilot_id, upload_kind, batch, count(*) AS rows_stored, max(opened_at) + INTERVAL 13 DAY AS newest
                FROM bench_survey GROUP BY ALL
            ), candidates AS (
                SELECT d.*,  -- a day or three after the newest row, and never later than just now
                       least(TIMESTAMP '{now.isoformat(sep=" ")}' - to_microseconds(CAST({_u("d.pilot_id, d.upload_kind, d.batch", 71)} * 6 * 3600e6 AS BIGINT)),
                             d.newest + to_microseconds(CAST((1 + 2 * {_u("d.pilot_id, d.upload_kind, d.batch", 70)}) * 86400e6 AS BIGINT)))
                           AS uploaded_at
                FROM (SELECT * FROM data_batches UNION ALL SELECT * FROM survey_batches) d
                UNION ALL
                SELECT NULL, 'pilot_register', 0, {len(plan.pilots)}, NULL, TIMESTAMP '{(now - timedelta(hours=3)).isoformat(sep=" ")}'
            )
            SELECT {first_id} - 1 + row_number() OVER (ORDER BY c.uploaded_at, c.pilot_id, c.upload_kind, c.batch) AS upload_id,
                   c.pilot_id, c.upload_kind, c.batch, c.rows_stored, c.uploaded_at,
                   CASE WHEN c.upload_kind = 'pilot_register' THEN 'pilot_register.csv'
                        WHEN c.upload_kind = 'survey' THEN 'survey_' || c.pilot_id || '_wave' || c.batch::VARCHAR || '.csv'
                        ELSE c.upload_kind || '_' || c.pilot_id || '_' || strftime(c.newest, '%Y-%m-%d') || '.csv' END AS file_name,
                   coalesce(w.uploaded_by, 'portfolio.office@example.com') AS uploaded_by,
                   -- about one data upload in fifty was withdrawn a few days after it came in
                   CASE WHEN c.upload_kind <> 'pilot_register' AND hash(c.pilot_id, c.upload_kind, c.batch, 80) % 50 = 0
                        THEN least(TIMESTAMP '{now.isoformat(sep=" ")}', c.uploaded_at + to_microseconds(CAST((0.5 + 6 * {_u("c.pilot_id, c.upload_kind, c.batch", 81)}) * 86400e6 AS BIGINT)))
                   END AS withdrawn_at
            FROM candidates c LEFT JOIN bench_windows w USING (pilot_id)
            """
        )
        total_uploads = con.execute("SELECT count(*) FROM bench_uploads").fetchone()[0]
        if total_uploads > 1:  # move the store's sequence past the ids handed out here
            con.execute(f"SELECT count(nextval('upload_id_seq')) FROM range({total_uploads - 1})").fetchone()
        last_id = con.execute("SELECT currval('upload_id_seq')").fetchone()[0]
        assert last_id == first_id + total_uploads - 1, (first_id, last_id, total_uploads)
        con.execute(
            """
            INSERT INTO uploads (upload_id, kind, file_name, sha256, rows_stored, rows_rejected, uploaded_at, uploaded_by, withdrawn_at)
            SELECT upload_id, upload_kind, file_name, sha256(file_name || upload_id::VARCHAR), rows_stored,
                   (hash(upload_id, 90) % 40 = 0)::INTEGER * (1 + hash(upload_id, 91) % 12)::INTEGER,
                   uploaded_at, uploaded_by, withdrawn_at
            FROM bench_uploads ORDER BY upload_id
            """
        )
        steps["uploads"] = time.perf_counter() - mark

        mark = time.perf_counter()
        con.execute(
            """
            INSERT INTO metric_observations (pilot_id, metric, kind, environment, observed_at, value, upload_id)
            SELECT o.pilot_id, o.metric, o.kind, o.environment, o.observed_at, o.value, u.upload_id
            FROM bench_obs o JOIN bench_uploads u USING (pilot_id, upload_kind, batch)
            ORDER BY u.upload_id, o.pilot_id, o.metric, o.environment, o.observed_at
            """
        )
        steps["metric_observations insert (rows in upload order)"] = time.perf_counter() - mark
        mark = time.perf_counter()
        con.execute(
            """
            INSERT INTO survey_responses (pilot_id, respondent_id, responded_at, wave, team, role,
                                          awareness, desire, knowledge, ability, reinforcement, comment, upload_id)
            SELECT s.pilot_id, s.respondent_id, s.responded_at, s.wave, s.team, s.role,
                   s.awareness, s.desire, s.knowledge, s.ability, s.reinforcement, s.comment, u.upload_id
            FROM bench_survey s JOIN bench_uploads u USING (pilot_id, upload_kind, batch)
            ORDER BY u.upload_id, s.team, s.respondent_id
            """
        )
        steps["survey_responses insert"] = time.perf_counter() - mark
        for table in ("bench_obs", "bench_survey", "bench_uploads", "bench_series", "bench_groups", "bench_windows"):
            con.execute(f"DROP TABLE {table}")
        put_meta(con, "first_run_done", now.isoformat(timespec="seconds"))  # the dashboard must not add its demo
        put_meta(
            con,
            BENCH_MARK,
            json.dumps(
                {
                    "seed": SEED,
                    "built_on": today.isoformat(),
                    "pilots": PILOTS,
                    "metric_observations": metric_rows,
                    "survey_responses": survey_rows,
                }
            ),
        )
        mark = time.perf_counter()
    steps["commit and close (checkpoint)"] = time.perf_counter() - mark
    return {"seconds": time.perf_counter() - started, "steps": steps, "today": today.isoformat()}


def describe_store(store: Store) -> dict[str, Any]:
    with store.read() as con:
        counts = queries.table_counts(con)
        kinds = dict(con.execute("SELECT kind, count(*) FROM uploads GROUP BY kind ORDER BY kind").fetchall())
        withdrawn = con.execute("SELECT count(*) FROM uploads WHERE withdrawn_at IS NOT NULL").fetchone()[0]
        metric_names = con.execute(
            "SELECT count(DISTINCT metric), count(DISTINCT (pilot_id, metric)) FROM metric_observations"
        ).fetchone()
        by_stage = dict(con.execute("SELECT stage, count(*) FROM pilots GROUP BY stage").fetchall())
        units = con.execute("SELECT count(DISTINCT business_unit) FROM pilots").fetchone()[0]
        span = con.execute("SELECT min(observed_at)::DATE, max(observed_at)::DATE FROM metric_observations").fetchone()
        groups = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT pilot_id, upload_id FROM metric_observations) AS pairs"
        ).fetchone()[0]
        null_scores = con.execute("SELECT count(*) FILTER (WHERE awareness IS NULL) FROM survey_responses").fetchone()[
            0
        ]
        if getattr(store, "path", None) is None:  # PostgreSQL: the database's size on the server
            size = con.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        else:
            files = [store.path, store.path.with_name(store.path.name + ".wal")]
            size = sum(f.stat().st_size for f in files if f.exists())
    return {
        "counts": counts,
        "uploads_by_kind": kinds,
        "uploads_withdrawn": withdrawn,
        "pilots_by_stage": {s: by_stage.get(s, 0) for s in STAGES},
        "business_units": units,
        "metric_names": metric_names[0],
        "pilot_metric_series": metric_names[1],
        "metric_pilot_upload_pairs": groups,
        "observed_from": str(span[0]),
        "observed_to": str(span[1]),
        "survey_awareness_null": null_scores,
        "file_mb": round(size / 2**20, 1),
    }


def bench_marker(path: Path) -> dict[str, Any] | None:
    """The bench mark of an existing file, or None if it is not a bench store."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise SystemExit(
            f"{path} exists but cannot be opened ({str(error).splitlines()[0]}); remove it or choose another --db."
        )
    try:
        row = con.execute(f"SELECT value FROM store_meta WHERE key = '{BENCH_MARK}'").fetchone()
    except duckdb.Error:
        row = None
    finally:
        con.close()
    return json.loads(row[0]) if row else None


def remove_bench_store(path: Path) -> None:
    if path.exists() and bench_marker(path) is None:
        raise SystemExit(
            f"{path} exists and is not a bench store (no '{BENCH_MARK}' in store_meta); "
            "refusing to replace it. Choose another --db."
        )
    for file in (path, path.with_name(path.name + ".wal")):
        if file.exists():
            file.unlink()


# -- timing ----------------------------------------------------------------------------------------


@dataclass
class Piece:
    page: str
    name: str
    call: Callable[[], Any]
    cached: Callable[[], Any] | None = None  # the st.cache_data function the page calls, if any
    cold_ms: float = float("nan")
    warm_ms: list[float] = field(default_factory=list)
    cached_miss_ms: float | None = None
    cached_warm_ms: list[float] = field(default_factory=list)
    after_write_ms: float | None = None  # the first call right after a write (one pilot's record edited)

    @property
    def warm(self) -> float:
        return statistics.median(self.warm_ms)

    @property
    def cached_warm(self) -> float:
        """What a rerun pays for this piece with the app's caching (uncached pieces pay in full)."""
        return statistics.median(self.cached_warm_ms) if self.cached else self.warm


def elapsed_ms(call: Callable[[], Any]) -> float:
    mark = time.perf_counter()
    call()
    return (time.perf_counter() - mark) * 1000


def quiet_streamlit() -> None:
    """The cached functions run in bare mode; their 'No runtime found' warnings are noise here."""
    import streamlit.logger

    streamlit.logger.set_log_level("error")
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="streamlit")


def edit_one_pilot(store: Store, pilot_id: str) -> None:
    """A real write, as a person saving a pilot's record on the register page does: a new store
    version, and a new stamp for that pilot only (its owner gains or loses a trailing mark)."""
    pilot = pilots_module.get_pilot(store, pilot_id)
    owner = pilot.owner or "Owner"
    owner = owner[:-2] if owner.endswith(" ·") else owner + " ·"
    pilots_module.update_pilot(store, pilot.model_copy(update={"owner": owner}), by="bench")


def run_bench(store: Store, runs: int) -> tuple[list[Piece], dict[str, float]]:
    quiet_streamlit()
    import streamlit as st

    from pilot_health.reports import charts
    from pilot_health.ui import data

    today = date.today()
    with store.read() as con:
        ids = queries.pilot_ids(con)
        units = sorted(r[0] for r in con.execute("SELECT DISTINCT business_unit FROM pilots").fetchall())
    some_pilot = ids[len(ids) // 2]
    chosen = portfolio.PortfolioFilters((units[0],), ("pilot", "scaling"))
    key = {"now": (store.key, store.meta()["version"])}  # as PageContext.cache_key; a write changes it

    def cache_key() -> tuple:
        return key["now"]

    frame_holder: dict[str, pd.DataFrame] = {}

    def load() -> pd.DataFrame:
        frame_holder["frame"] = portfolio.load_portfolio(store, today, STALE_AFTER_DAYS)
        return frame_holder["frame"]

    def filtered() -> Any:
        frame = frame_holder.get("frame")
        if frame is None:
            frame = load()
        shown = portfolio.filter_portfolio(frame, chosen)
        return (
            portfolio.business_units(frame),
            portfolio.summarise(shown, STALE_AFTER_DAYS),
            portfolio.by_business_unit(shown),
        )

    def counts() -> dict[str, int]:
        with store.read() as con:
            return queries.table_counts(con)

    catalogue = load_catalogue()
    risk_holder: dict[str, Any] = {}

    def scores() -> list:
        risk_holder["results"] = risk.assess(store, catalogue=catalogue)
        return risk_holder["results"]

    def heatmap() -> Any:
        results = risk_holder.get("results") or scores()
        frame = risk.heatmap_frame(results)
        shown = portfolio.PortfolioFilters((units[0],), ()).apply(frame)
        by_pilot = {r.pilot_id: r for r in results}
        pilots_shown = shown["pilot_id"].drop_duplicates().tolist()
        health = portfolio.portfolio_health(results, pilots_shown)  # the headline tiles
        order = risk.order_pilots(by_pilot, pilots_shown, "data_debt")
        spec = charts.risk_heatmap(shown, order, [p.name for p in catalogue.patterns.values()]).to_dict()
        return health, spec

    def as_of() -> datetime:
        return (risk_holder.get("results") or scores())[0].as_of

    rules = data.rules_fingerprint()
    align_holder: dict[str, Any] = {}

    def alignment_rows() -> list:
        align_holder["rows"] = alignment_report.portfolio_alignment(store, catalogue=catalogue)
        return align_holder["rows"]

    def alignment_table() -> Any:
        table = alignment_report.portfolio_table(align_holder.get("rows") or alignment_rows())
        return table, alignment_report.alignment_counts(table)  # the table and its headline tiles

    def alignment_detail() -> Any:
        """What data.alignment_detail computes for one pilot (alignment_report.alignment_detail), plus
        the chart spec of its primary metric (the one the page draws first)."""
        detail = alignment_report.alignment_detail(store, as_of(), some_pilot, catalogue)
        chart = detail.charts.get(detail.metrics[0]) if detail and detail.metrics else None
        return detail, (charts.alignment_chart(chart).to_dict() if chart is not None else None)

    adoption_holder: dict[str, Any] = {}

    def adoption_rows() -> list:
        adoption_holder["rows"] = adoption_report.portfolio_adoption(store, catalogue=catalogue)
        return adoption_holder["rows"]

    def adoption_table() -> Any:
        table = adoption_report.portfolio_table(adoption_rows())
        return table, adoption_report.adoption_counts(table, catalogue)  # the table and its headline tiles

    def adoption_detail() -> Any:
        """What the Adoption page draws for one pilot from the cached rows: tables, chart frames and specs."""
        rows = adoption_holder.get("rows") or adoption_rows()
        pilot = next((p for p in rows if p.waves), rows[0])
        wave = pilot.latest
        specs = [charts.usage_chart(adoption_report.usage_chart_data(pilot)).to_dict()]
        if wave is not None and wave.shown:
            specs += [
                charts.adkar_profile_chart(adoption_report.profile_frame(wave.overall, pilot.min_size)).to_dict(),
                charts.barrier_chart(adoption_report.barrier_frame(wave.overall)).to_dict(),
                charts.adkar_heatmap(adoption_report.heatmap_frame(pilot, wave)).to_dict(),
                charts.adkar_trend_chart(adoption_report.trend_frame(pilot)).to_dict(),
            ]
        return adoption_report.team_table(pilot, wave) if wave else None, specs

    every = "every page"
    pieces = [  # in the order a first visit runs them: page_setup, sidebar, then the page
        Piece(every, "Store.meta() (page_setup, opens a connection)", store.meta),
        Piece(every, "queries.table_counts (sidebar)", counts, lambda: data.store_counts(*cache_key())),
        Piece(
            "home (app.py)",
            "portfolio.load_portfolio(store, today, 45)",
            load,
            lambda: data.portfolio_frame(*cache_key(), today, STALE_AFTER_DAYS),
        ),
        Piece(
            "home (app.py)", f"filter_portfolio + summarise + by_business_unit ({units[0]}; pilot, scaling)", filtered
        ),
        Piece(
            "register (pages/1)",
            "pilots.list_pilots(store)",
            lambda: pilots_module.list_pilots(store),
            lambda: data.pilot_register(*cache_key()),
        ),
        Piece(
            "register (pages/1)",
            f"pilots.get_pilot(store, {some_pilot!r})",
            lambda: pilots_module.get_pilot(store, some_pilot),
        ),
        Piece("risk (pages/3)", "load_catalogue() (config/signals.toml, read and validated)", load_catalogue),
        Piece(
            "risk (pages/3)",
            f"risk.assess(store): {PILOTS} pilots × 5 patterns",
            scores,
            lambda: data.risk_results(*cache_key(), rules, today),
        ),
        Piece(
            "risk (pages/3)",
            f"heatmap_frame + filter ({units[0]}) + health counts + sort + heatmap chart spec",
            heatmap,
        ),
        Piece(
            "risk (pages/3)",
            f"risk.risk_trend(store, {some_pilot!r}, {risk.TREND_MONTHS} months)",
            lambda: risk.risk_trend(store, some_pilot, catalogue=catalogue, today=today),
            lambda: data.risk_trend(*cache_key(), rules, today, some_pilot),
        ),
        Piece(
            "risk detail rows (pages/3, ?rows=true)",
            f"risk.assess(store, [{some_pilot!r}], with_rows=True)",
            lambda: risk.assess(store, as_of(), [some_pilot], catalogue, with_rows=True),
            lambda: data.risk_detail(*cache_key(), rules, as_of(), some_pilot),
        ),
        Piece(
            "alignment (pages/4)",
            f"alignment_report.portfolio_alignment(store): {PILOTS} pilots",
            alignment_rows,
            lambda: data.alignment_rows(*cache_key(), rules, today),
        ),
        Piece("alignment (pages/4)", "portfolio_table (the worst-first table) + alignment_counts", alignment_table),
        Piece(
            "alignment (pages/4)",
            f"one pilot ({some_pilot!r}): numbers, verdict, chart data and chart spec",
            alignment_detail,
            lambda: data.alignment_detail(*cache_key(), rules, as_of(), some_pilot),
        ),
        Piece(
            "adoption (pages/5)",
            f"adoption_report.portfolio_adoption(store) + portfolio_table + adoption_counts: {PILOTS} pilots, "
            "every wave",
            adoption_table,
            lambda: data.adoption_table(*cache_key(), rules, today),
        ),
        Piece(
            "adoption (pages/5)",
            f"one pilot ({some_pilot!r}): portfolio_adoption(store, as_of, [pilot])",
            lambda: adoption_report.portfolio_adoption(store, as_of(), [some_pilot], catalogue),
            lambda: data.adoption_detail(*cache_key(), rules, as_of(), some_pilot),
        ),
        Piece("adoption (pages/5)", "one pilot: team table, chart frames and the five chart specs", adoption_detail),
    ]
    # Forget the per-process migration check, so the first call pays what it pays in a new server process.
    for module in (store_module, postgres_module):
        ready = getattr(module, "_READY", None)
        if isinstance(ready, dict | set):
            ready.clear()
    for piece in pieces:
        piece.cold_ms = elapsed_ms(piece.call)
    for piece in pieces:
        piece.warm_ms = [elapsed_ms(piece.call) for _ in range(runs)]
    st.cache_data.clear()
    for piece in pieces:
        if piece.cached:
            piece.cached_miss_ms = elapsed_ms(piece.cached)
            piece.cached_warm_ms = [elapsed_ms(piece.cached) for _ in range(runs)]

    # Right after a write: every cached piece is keyed on the store version, so the first view of
    # each page after it misses; the results keeper recomputes only the pilot the write touched.
    edit_one_pilot(store, some_pilot)
    for piece in pieces:
        if piece.call == store.meta:
            piece.after_write_ms = elapsed_ms(store.meta)
            key["now"] = (store.key, store.meta()["version"])
        elif piece.cached:
            piece.after_write_ms = elapsed_ms(piece.cached)

    # Where load_portfolio's time goes (warm medians), to tell the store, the SQL and pandas apart.
    def median_of(call: Callable[[], Any]) -> float:
        return statistics.median(elapsed_ms(call) for _ in range(runs))

    def open_close() -> None:
        with store.read():
            pass

    def sql(query: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with store.read() as con:
                return query(con)

        return run

    diagnostics = {
        "Store.read() open + close, no query": median_of(open_close),
        "open + queries.fetch_pilots": median_of(sql(queries.fetch_pilots)),
        "open + queries.last_upload_per_pilot": median_of(sql(queries.last_upload_per_pilot)),
        "open + SELECT count(*) FROM metric_observations": median_of(
            sql(lambda con: con.execute("SELECT count(*) FROM metric_observations").fetchone())
        ),
        "open + store_meta read (what meta() runs)": median_of(
            sql(lambda con: con.execute("SELECT key, value FROM store_meta").fetchall())
        ),
    }
    # A person limited to one business unit reads through views narrowed to its pilots (queries.narrow_to).
    from pilot_health.access import Person

    limited = store.for_person(Person("bench@example.com", "viewer", (units[0],)))

    def limited_open_close() -> None:
        with limited.read():
            pass

    def limited_counts() -> dict[str, int]:
        with limited.read() as con:
            return queries.table_counts(con)

    diagnostics.update(
        {
            f"limited to {units[0]}: Store.read() open + narrowing views + close": median_of(limited_open_close),
            f"limited to {units[0]}: queries.table_counts (sidebar)": median_of(limited_counts),
            f"limited to {units[0]}: portfolio.load_portfolio": median_of(
                lambda: portfolio.load_portfolio(limited, today, STALE_AFTER_DAYS)
            ),
            f"limited to {units[0]}: risk.assess (its pilots × 5 patterns)": median_of(
                lambda: risk.assess(limited, catalogue=catalogue)
            ),
        }
    )
    return pieces, diagnostics


# -- report ----------------------------------------------------------------------------------------

PAGES = {
    "home (app.py)": (0, 1, 2, 3),
    "register (pages/1)": (0, 1, 4, 5),
    "risk (pages/3)": (0, 1, 6, 7, 8, 9),
    "risk with rows (pages/3?rows=true)": (0, 1, 6, 7, 8, 9, 10),
    "alignment (pages/4?pilot=…)": (0, 1, 6, 11, 12, 13),
    "adoption (pages/5?pilot=…)": (0, 1, 6, 14, 15, 16),
}


def page_totals(pieces: list[Piece]) -> dict[str, dict[str, float]]:
    totals = {}
    for page, indices in PAGES.items():
        chosen = [pieces[i] for i in indices]
        totals[page] = {
            "cold_ms": sum(p.cold_ms for p in chosen),
            "warm_ms_no_cache": sum(p.warm for p in chosen),
            "cache_miss_ms": sum(p.cached_miss_ms if p.cached else p.warm for p in chosen),
            "warm_ms_cached": sum(p.cached_warm for p in chosen),
            "after_write_ms": sum(p.after_write_ms if p.after_write_ms is not None else p.warm for p in chosen),
        }
    return totals


def verdict(no_cache: float, cached: float | None) -> str:
    text = f"no cache: {'yes' if no_cache < TARGET_MS else 'NO'}"
    if cached is not None:
        text += f" · cached: {'yes' if cached < TARGET_MS else 'NO'}"
    return text


def print_table(pieces: list[Piece], totals: dict[str, dict[str, float]]) -> None:
    header = ("page", "piece", "cold ms", "warm ms (no cache)", "warm ms (cached)", f"target {TARGET_MS:.0f} ms met?")
    rows: list[tuple[str, ...]] = []
    for p in pieces:
        cached = f"{p.cached_warm:.1f}" if p.cached else f"({p.warm:.1f}, not cached)"
        rows.append(
            (
                p.page,
                p.name,
                f"{p.cold_ms:.1f}",
                f"{p.warm:.1f}",
                cached,
                verdict(p.warm, p.cached_warm if p.cached else None),
            )
        )
    rows.append(("", "", "", "", "", ""))
    for page, t in totals.items():
        rows.append(
            (
                page,
                "PAGE TOTAL (meta + counts + page data)",
                f"{t['cold_ms']:.1f}",
                f"{t['warm_ms_no_cache']:.1f}",
                f"{t['warm_ms_cached']:.1f}",
                verdict(t["warm_ms_no_cache"], t["warm_ms_cached"]),
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: " | ".join(  # noqa: E731
        c.ljust(w) if i < 2 else c.rjust(w) if i < 5 else c for i, (c, w) in enumerate(zip(cells, widths))
    )
    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(line(r) if any(r) else "-+-".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time every page's data on a store of production scale.")
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help=f"bench store path (default {DEFAULT_DB.relative_to(ROOT)}; bench_x<scale>.duckdb beside it with --scale)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the store at --db if it is a bench store of this scale"
    )
    parser.add_argument(
        "--json", action="store_true", help="also print every figure as one JSON object (last line of stdout)"
    )
    parser.add_argument("--runs", type=int, default=7, help="calls per warm median (default 7)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the row counts (pilots stay 500): 0.02 for a smoke run, 3 to see growth",
    )
    parser.add_argument(
        "--pg",
        metavar="URL",
        help="also time the same store on PostgreSQL (postgresql://…; its database is filled from --db "
        "by migrate-store unless it already holds that bench store)",
    )
    parser.add_argument("--pg-reload", action="store_true", help="copy the bench store into --pg even if it is there")
    args = parser.parse_args(argv)
    if args.db is None:
        args.db = DEFAULT_DB if args.scale == 1 else DEFAULT_DB.with_name(f"bench_x{args.scale:g}.duckdb")
    path = args.db.expanduser().resolve()
    metric_rows = max(1000, round(METRIC_ROWS * args.scale))
    survey_rows = max(100, round(SURVEY_ROWS * args.scale))
    wall = time.perf_counter()
    load_before = os.getloadavg()

    build: dict[str, Any] = {"reused": False}
    marker = bench_marker(path) if path.exists() else None
    wanted = {"pilots": PILOTS, "metric_observations": metric_rows, "survey_responses": survey_rows}
    if args.reuse and marker and all(marker.get(k) == v for k, v in wanted.items()):
        build = {"reused": True, "built_on": marker.get("built_on")}
        print(f"Reusing {path} (built {marker.get('built_on')}).")
    else:
        if args.reuse:
            print(f"No bench store of this scale at {path}; building one.")
        remove_bench_store(path)
        print(
            f"Building {path}: {PILOTS} pilots, {metric_rows:,} metric observations, {survey_rows:,} survey responses …",
            flush=True,
        )
        build.update(build_store(path, metric_rows, survey_rows))
        print(f"Build time: {build['seconds']:.1f} s")
        for step, seconds in build["steps"].items():
            print(f"  {step:<58} {seconds:6.2f} s")

    backends: list[tuple[str, Store]] = [("DuckDB", Store(path))]
    if args.pg:
        backends.append(("PostgreSQL", postgres_bench_store(path, args.pg, args.pg_reload)))
    timed = {label: time_store(label, store, wanted, args.runs) for label, store in backends}
    if len(timed) > 1:
        print_comparison(timed)
    total_seconds = time.perf_counter() - wall
    load_after = os.getloadavg()
    busy = max(load_before[0], load_after[0]) > (os.cpu_count() or 1)
    print(
        f"Whole run: {total_seconds:.1f} s · load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"on {os.cpu_count()} CPUs"
        + (" — the machine was busy; timings are inflated, rerun with --reuse when it is quiet" if busy else "")
    )

    if args.json:
        result = {
            "db": str(path),
            "machine": {
                "cpus": os.cpu_count(),
                "load_before": [round(x, 2) for x in load_before],
                "load_after": [round(x, 2) for x in load_after],
                "python": platform.python_version(),
                "duckdb": duckdb.__version__,
                "pandas": pd.__version__,
            },
            "build": build,
            "target_ms": TARGET_MS,
            "runs": args.runs,
            **timed["DuckDB"],
            "run_seconds": round(total_seconds, 1),
        }
        if "PostgreSQL" in timed:
            result["postgres"] = timed["PostgreSQL"]
        print(json.dumps(result))
    return 0


def postgres_bench_store(path: Path, url: str, reload: bool) -> Store:
    """The PostgreSQL store at `url` holding the same bench store as the DuckDB file at `path`:
    moved there with the product's own `migrate-store` (store/move.py: rows, ids, store_meta with
    its bench mark) unless it already carries the same bench mark. The database is emptied first;
    the move reads a copy of the file, so the bench file is never changed (not even migrated)."""
    import shutil
    import tempfile

    import psycopg

    from pilot_health.store.move import move_store
    from pilot_health.store.postgres import close_pools

    store = open_store(url)
    if store.exists():
        with store.read() as con:
            found = con.execute("SELECT value FROM store_meta WHERE key = ?", [BENCH_MARK]).fetchone()
        if not reload and found and json.loads(found[0]) == bench_marker(path):
            print(f"\nReusing the bench store in {store.location}.")
            return store
    print(f"\nMoving {path} into {store.location} with migrate-store …", flush=True)
    started = time.perf_counter()
    close_pools()
    with psycopg.connect(url, autocommit=True) as admin:  # a bench database: emptied, then filled
        admin.execute("DROP SCHEMA public CASCADE")
        admin.execute("CREATE SCHEMA public")
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as work:
        copy = Path(work) / path.name
        shutil.copy(path, copy)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            shutil.copy(wal, copy.with_name(copy.name + ".wal"))
        move_store(copy, url)
    print(f"Moved in {time.perf_counter() - started:.1f} s")
    return open_store(url)


def time_store(label: str, store: Store, wanted: dict[str, int], runs: int) -> dict[str, Any]:
    """Describe the store, time every page's data on it and print the table; the figures as JSON."""
    described = describe_store(store)
    c = described["counts"]
    print(f"\n=== {label}: {store.location} ===")
    print(
        f"Rows: pilots {c['pilots']:,} · uploads {c['uploads']:,} "
        f"({', '.join(f'{k} {v:,}' for k, v in described['uploads_by_kind'].items())}; "
        f"{described['uploads_withdrawn']:,} withdrawn) · "
        f"metric_observations {c['metric_observations']:,} · survey_responses {c['survey_responses']:,}"
    )
    print(
        f"      {described['business_units']} business units · stages {described['pilots_by_stage']} · "
        f"{described['metric_names']} metric names in {described['pilot_metric_series']:,} pilot/metric series · "
        f"observed {described['observed_from']} … {described['observed_to']} · size {described['file_mb']} MB"
    )
    for key, value in wanted.items():
        if c[key] != value:
            print(f"WARNING: {key} has {c[key]:,} rows, expected {value:,}", file=sys.stderr)

    print(f"\nTiming page data (cold = first call in this process; warm = median of {runs} calls) …\n", flush=True)
    pieces, diagnostics = run_bench(store, runs)
    totals = page_totals(pieces)
    print_table(pieces, totals)
    print("\nWhere the time goes (warm medians):")
    for name, ms in diagnostics.items():
        print(f"  {name:<52} {ms:8.1f} ms")
    met = {
        page: {
            "no_cache": t["warm_ms_no_cache"] < TARGET_MS,
            "cached": t["warm_ms_cached"] < TARGET_MS,
            "after_write": t["after_write_ms"] < TARGET_MS,
        }
        for page, t in totals.items()
    }
    print(
        "\nPage totals when every cache misses (a new process: the results keeper computes all 500 pilots): "
        + "; ".join(f"{page} {t['cache_miss_ms']:.0f} ms" for page, t in totals.items())
    )
    print(
        "Page totals right after a write (one pilot's record edited; the keeper recomputes that pilot): "
        + "; ".join(f"{page} {t['after_write_ms']:.0f} ms" for page, t in totals.items())
    )
    return {
        "store": described,
        "pieces": [
            {
                "page": p.page,
                "piece": p.name,
                "cold_ms": round(p.cold_ms, 2),
                "warm_ms_no_cache": round(p.warm, 2),
                "warm_samples_ms": [round(x, 2) for x in p.warm_ms],
                "cached": bool(p.cached),
                "cache_miss_ms": round(p.cached_miss_ms, 2) if p.cached_miss_ms is not None else None,
                "warm_ms_cached": round(p.cached_warm, 2),
                "cached_samples_ms": [round(x, 2) for x in p.cached_warm_ms],
                "after_write_ms": round(p.after_write_ms, 2) if p.after_write_ms is not None else None,
            }
            for p in pieces
        ],
        "pages": {
            page: {**{k: round(v, 2) for k, v in t.items()}, "target_met": met[page]} for page, t in totals.items()
        },
        "diagnostics_ms": {k: round(v, 2) for k, v in diagnostics.items()},
    }


def print_comparison(timed: dict[str, dict[str, Any]]) -> None:
    """Each page on both stores: right after a write, and a warm rerun (the caches the pages use)."""
    labels = list(timed)
    print(f"\nBoth stores, page totals in ms (target {TARGET_MS:.0f} ms):")
    header = ["page"] + [f"{label} {what}" for label in labels for what in ("after a write", "warm")]
    rows = []
    for page in PAGES:
        cells = [page]
        for label in labels:
            t = timed[label]["pages"][page]
            cells += [f"{t['after_write_ms']:.0f}", f"{t['warm_ms_cached']:.0f}"]
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(" | ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))


if __name__ == "__main__":
    sys.exit(main())
