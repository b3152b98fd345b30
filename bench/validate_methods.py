"""Operating characteristics of the alignment, decay and trend verdicts, by Monte Carlo over the
real functions (pilot_health.analytics.alignment, pilot_health.analytics.pilot_numbers), with the catalogue's settings.

    .venv/bin/python bench/validate_methods.py            # 2,000 draws per cell (about 9 minutes on one core, 8 of them g to g3)
    .venv/bin/python bench/validate_methods.py --draws 200

Prints Markdown tables (docs/alignment.md carries them) and, last, whether each target is met.
Seeds are fixed: the same figures on every run. Not a timed test.

Scenarios (weekly series; "sd" is the weekly noise's standard deviation):
  a. unrelated white noise: technical 0.80 + noise (sd 0.06), KPI 3.0 + noise (sd 0.10): the rate of each label;
  b. the model clearly improves (0.70 → 0.85 over the periods), the KPI is pure noise: the rate of "decoupled";
  c. the KPI follows the improving model 4 weeks later (KPI = 3.0 + 4 × (model 4 weeks before − 0.70) + noise sd 0.10):
     the rate of "aligned";
  d. decay on a stationary live series at 0.85: the rate of a warning (or worse) and of critical at the latest week;
  e. exact 10% and 20% step drops (0.80 → 0.72 / 0.64, and an error metric 10 → 11 / 12) after 8 to 40 weeks, judged
     4 to 8 weeks later: the share reaching warning / critical (must be 100%);
  f. pure noise read as a clear improvement by the no-KPI technical trend (PilotNumbers.technical_trend);
  g. the pilot's HEALTH (green / amber / red) on pure noise, by the real risk engine (risk.assess_pilot, the
     shipped catalogue): a pilot whose register is complete and healthy (every answer yes, a champion, a VP
     sponsor, an owner, a KPI with baseline 3.0, target 3.6 and half its time to the deadline gone, 90 of 100
     users active, a healthy survey), 12 lab weeks then n live weeks, and every metric pure noise: lab and live
     accuracy 0.85 + noise (sd 0.06, or 0.08), the KPI on its plan (3.3) + noise (sd 0.10). Two pilots: in
     the pilot stage since go-live (n weeks), and 20 months in the pilot stage (past the 18-month mark, where
     one high pattern makes a pilot red). The pilot is built in a real store once per length (the engine's own
     evidence: record, survey, metric dictionary, weekly frame); each draw replaces the weekly values. The
     first draws are also written to a fresh store and assessed through risk.assess, which must agree.
  g2. the same pilot (since go-live) with a noisier KPI (sd 0.05 to 0.30 against the 0.6 from baseline to target);
  g3. "behind plan" itself (alignment.kpi_progress, the catalogue's margin and kpi_noise_k) on a weekly KPI that is
     on plan or truly 25, 40 or 60 points behind it (flat at that level) + noise (sd 0.05 to 0.30), half the time
     gone: how often it fires, and how often the margin alone (without the noise test) would have.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pilot_health.analytics import risk  # noqa: E402
from pilot_health.analytics.alignment import TOLERANCE, alignment, kpi_progress, live_decay  # noqa: E402
from pilot_health.analytics.evidence import PilotEvidence, load_evidence  # noqa: E402
from pilot_health.analytics.pilot_numbers import PilotNumbers  # noqa: E402
from pilot_health.models import Pilot  # noqa: E402
from pilot_health.rules.catalogue import load_catalogue  # noqa: E402
from pilot_health.store import queries
from pilot_health.store.database import Store  # noqa: E402

SETTINGS = load_catalogue().analysis
WEEKS = pd.date_range("2024-01-01", periods=200, freq="W-MON")
LABELS = ("aligned", "decoupled", "inverted", "inconclusive", "insufficient data")
PERIODS = (6, 12, 16, 20, 26, 52)


def weekly(values: np.ndarray) -> pd.Series:
    return pd.Series(values, index=WEEKS[: len(values)])


def label_rates(make, n: int, draws: int, seed: int) -> Counter:
    rng = np.random.default_rng(seed)
    found = Counter()
    for _ in range(draws):
        technical, kpi = make(rng, n)
        found[alignment(weekly(technical), weekly(kpi), "up", "up", SETTINGS).label] += 1
    return found


def unrelated(rng, n):
    return 0.80 + rng.normal(0, 0.06, n), 3.0 + rng.normal(0, 0.10, n)


def improving(sd):
    def make(rng, n):
        return 0.70 + 0.15 * np.arange(n) / (n - 1) + rng.normal(0, sd, n), 3.0 + rng.normal(0, 0.10, n)

    return make


def lagged(rng, n, lag=4, sd=0.06):
    m = n + lag
    model = 0.70 + 0.15 * np.arange(m) / (m - 1) + rng.normal(0, sd, m)
    return model[lag:], 3.0 + 4 * (model[:-lag] - 0.70) + rng.normal(0, 0.10, n)


def decay_rates(n: int, sd: float, draws: int, seed: int) -> tuple[float, float, int]:
    rng = np.random.default_rng(seed)
    warn = crit = judged = 0
    for _ in range(draws):
        result = live_decay(weekly(0.85 + rng.normal(0, sd, n)), "accuracy", "up", SETTINGS)
        if result is None:
            continue
        judged += 1
        warn += result.level != "none"
        crit += result.level == "critical"
    return (warn / judged, crit / judged, judged) if judged else (float("nan"), float("nan"), 0)


def step_drops() -> list[tuple[str, float, str, int, int]]:
    rows = []
    for name, start, direction in (("accuracy 0.80", 0.80, "up"), ("error 10", 10.0, "down")):
        for drop, level in ((0.10, "warning"), (0.20, "critical")):
            after = start * (1 - drop) if direction == "up" else start * (1 + drop)
            hits = cases = 0
            for history in range(SETTINGS.decay_reference_weeks, 41):
                for weeks_after in range(SETTINGS.smoothing_weeks, 9):
                    result = live_decay(
                        weekly(np.array([start] * history + [after] * weeks_after)), "m", direction, SETTINGS
                    )
                    if result is None:
                        continue
                    cases += 1
                    hits += result.level == level
            rows.append((name, drop, level, hits, cases))
    return rows


def trend_on_noise(n: int, draws: int, seed: int) -> float:
    """Share read as a clear improvement (nan when never judged: fewer weeks than alignment_min_periods)."""
    rng = np.random.default_rng(seed)
    improving_found = judged = 0
    for _ in range(draws):
        series = weekly(0.80 + rng.normal(0, 0.06, n))
        evidence = SimpleNamespace(
            primary_metric="accuracy",
            record={},
            direction=lambda metric: "up",
            series=lambda metric, environment=None, kind=None, s=series: s if environment == "live" else s.iloc[:0],
        )
        trend = PilotNumbers(evidence, SETTINGS, datetime(2026, 1, 1), 0.25).technical_trend
        judged += trend is not None
        improving_found += trend is not None and trend.direction == "up"
    return improving_found / draws if judged else float("nan")


# -- g. the health rule on pure noise ------------------------------------------------------------------

HEALTH_NOW = datetime(2026, 6, 1, 12, 0)  # a Monday: weeks are dated Mondays, the latest is this week
HEALTH_TODAY = HEALTH_NOW.date()
LAB_WEEKS = 12
KPI_BASELINE, KPI_TARGET = 3.0, 3.6
HEALTH_PERIODS = (6, 12, 20, 52)
HEALTH_ORDER = ("green", "amber", "red", "insufficient")
NOISY = (("accuracy", "technical", "lab"), ("accuracy", "technical", "live"), ("revenue_per_visit", "business", "live"))


def _week(k: int) -> datetime:
    return datetime.combine(HEALTH_TODAY - timedelta(weeks=k), datetime.min.time())


def healthy_record(n: int, months_in_stage: float | None) -> dict:
    """A register with every answer healthy. In the pilot stage since go-live (n weeks ago), or for
    `months_in_stage` months; half the time from approval to the KPI deadline is gone."""
    first_lab = _week(n + LAB_WEEKS - 1).date()
    stage_since = (
        _week(n - 1).date()
        if months_in_stage is None
        else HEALTH_TODAY - timedelta(days=round(months_in_stage * 365.25 / 12))
    )
    approved = min(first_lab, stage_since)
    return dict(
        pilot_id="P-1",
        name="Noise pilot",
        business_unit="Test",
        stage="pilot",
        approved_on=approved,
        stage_since=stage_since,
        target_production_on=HEALTH_TODAY + timedelta(days=100),
        target_users=100,
        data_effort_pct=45,
        integration_target="ERP",
        change_champion="Ann Lee",
        executive_sponsor="Bo Kim",
        sponsor_level="vp",
        accountable_owner="Cy Ng",
        kpi_name="Revenue per visit",
        kpi_baseline=KPI_BASELINE,
        kpi_target=KPI_TARGET,
        kpi_unit="$",
        kpi_deadline=approved + 2 * (HEALTH_TODAY - approved),
        **{
            f: True
            for f in (
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
            )
        },
    )


def noise_values(rng, n: int, sd: float, plan: float, kpi_sd: float = 0.10) -> dict[tuple, np.ndarray]:
    """Pure noise for each noisy series, in week order: lab and live accuracy around 0.85, the KPI around its plan."""
    return {
        NOISY[0]: 0.85 + rng.normal(0, sd, LAB_WEEKS),
        NOISY[1]: 0.85 + rng.normal(0, sd, n),
        NOISY[2]: plan + rng.normal(0, kpi_sd, n),
    }


def health_store(path: Path, record: dict, n: int, values: dict[tuple, np.ndarray]) -> Store:
    """The pilot written through the project's own code path (migrations, Pilot model, queries)."""
    store = Store(path)
    with store.write() as con:
        queries.insert_pilots(
            con, [Pilot.model_validate(record, context={"today": HEALTH_TODAY})], datetime(2020, 1, 1)
        )
        upload = queries.insert_upload(
            con,
            kind="metrics",
            file_name="noise.csv",
            sha256="x",
            rows_stored=1,
            rows_rejected=0,
            uploaded_at=datetime(2020, 1, 1),
            uploaded_by="bench",
        )
        weeks = {
            "lab": [_week(n + LAB_WEEKS - 1 - i) for i in range(LAB_WEEKS)],
            "live": [_week(n - 1 - i) for i in range(n)],
        }
        rows = [
            dict(pilot_id="P-1", metric=m, kind=k, environment=env, observed_at=w, value=float(v), upload_id=upload)
            for (m, k, env), series in values.items()
            for w, v in zip(weeks[env], series)
        ]
        rows += [
            dict(
                pilot_id="P-1",
                metric="active_users",
                kind="adoption",
                environment="live",
                observed_at=w,
                value=90.0,
                upload_id=upload,
            )
            for w in weeks["live"]
        ]
        queries.insert_rows(con, "metric_observations", pd.DataFrame(rows))
        answers = [
            dict(
                pilot_id="P-1",
                respondent_id=f"R{i}",
                responded_at=_week(1),
                wave=1,
                team="T",
                role="r",
                comment=None,
                upload_id=upload,
                awareness=5,
                desire=5,
                knowledge=5,
                ability=4,
                reinforcement=4,
            )
            for i in range(10)
        ]
        queries.insert_rows(con, "survey_responses", pd.DataFrame(answers))
    return store


def _verdict(result: risk.PilotRisk) -> tuple:
    return result.health, {k: (p.status, p.score) for k, p in result.patterns.items()}


def health_on_noise(
    n: int, sd: float, months_in_stage: float | None, draws: int, seed: int, checks: int = 3, kpi_sd: float = 0.10
):
    """Share of each health verdict, and how often each warning sign fired, over `draws` pilots."""
    catalogue = load_catalogue()
    record = healthy_record(n, months_in_stage)
    elapsed = (HEALTH_TODAY - record["approved_on"]).days / (record["kpi_deadline"] - record["approved_on"]).days
    plan = KPI_BASELINE + elapsed * (KPI_TARGET - KPI_BASELINE)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as folder:
        template = load_evidence(
            health_store(Path(folder) / "template.duckdb", record, n, noise_values(rng, n, sd, plan)), HEALTH_NOW
        ).pilot("P-1")
        weekly = template.weekly.reset_index(drop=True)
        rows = {
            key: weekly.index[
                (weekly["metric"] == key[0]) & (weekly["kind"] == key[1]) & (weekly["environment"] == key[2])
            ]
            for key in NOISY
        }
        assert all(len(rows[key]) == (LAB_WEEKS if key[2] == "lab" else n) for key in NOISY), "one value a week"
        found, fired, reasons = Counter(), Counter(), Counter()
        for draw in range(draws):
            values = noise_values(rng, n, sd, plan, kpi_sd)
            frame = weekly.copy()
            for key, series in values.items():
                frame.loc[rows[key], "value"] = series  # the weekly frame is sorted by week within each series
            evidence = PilotEvidence(template.record, frame, template.survey, template.spans, template.dictionary)
            result = risk.assess_pilot(evidence, catalogue, HEALTH_NOW)
            if draw < checks:  # the same pilot through a fresh store and risk.assess: the same verdict
                stored = risk.assess(health_store(Path(folder) / f"check{draw}.duckdb", record, n, values), HEALTH_NOW)[
                    0
                ]
                assert _verdict(stored) == _verdict(result), (n, draw, _verdict(stored), _verdict(result))
            found[result.health] += 1
            if result.health != "green":
                reasons[result.health_reason.split(".")[0]] += 1
            for pattern in result.patterns.values():
                for signal in pattern.fired:
                    fired[signal.key] += 1
    return found, fired, reasons


def behind_rates(n: int, points_behind: float, kpi_sd: float, draws: int, seed: int) -> tuple[float, float]:
    """Share of a weekly KPI, flat `points_behind` (a share) behind its plan + noise, read behind plan;
    and the share the margin alone would have read behind. Half the time to the deadline gone."""
    margin = load_catalogue().signal("kpi_behind_plan").threshold
    approved, deadline, as_of = date(2024, 1, 1), date(2026, 1, 1), datetime(2025, 1, 1)
    elapsed = (as_of.date() - approved).days / (deadline - approved).days
    level = KPI_BASELINE + (elapsed - points_behind) * (KPI_TARGET - KPI_BASELINE)
    rng = np.random.default_rng(seed)
    behind = by_margin = 0
    for _ in range(draws):
        kpi = pd.Series(level + rng.normal(0, kpi_sd, n), index=pd.date_range(end=as_of, periods=n, freq="W-MON"))
        progress = kpi_progress(kpi, KPI_BASELINE, KPI_TARGET, approved, deadline, as_of, margin, SETTINGS)
        behind += bool(progress.behind)
        by_margin += progress.shortfall >= margin - TOLERANCE
    return behind / draws, by_margin / draws


def pct(x: float) -> str:
    return "not judged" if x != x else f"{x * 100:.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000)
    args = parser.parse_args()
    draws = args.draws
    started = time.perf_counter()
    targets = []
    print(
        f"Settings: significance {SETTINGS.significance}, alignment_min_periods {SETTINGS.alignment_min_periods}, "
        f"alignment_max_lag {SETTINGS.alignment_max_lag}, decay_reference_weeks {SETTINGS.decay_reference_weeks}, "
        f"smoothing_weeks {SETTINGS.smoothing_weeks}, decay_noise_k {SETTINGS.decay_noise_k}, "
        f"decay_warning {SETTINGS.decay_warning}, decay_critical {SETTINGS.decay_critical}; {draws} draws per cell.\n"
    )

    print("**a. Unrelated white noise** (share of pilots given each label)\n")
    print("| periods | " + " | ".join(LABELS) + " |\n|---|" + "---|" * len(LABELS))
    for i, n in enumerate(PERIODS):
        found = label_rates(unrelated, n, draws, 100 + i)
        print(f"| {n} | " + " | ".join(pct(found[label] / draws) for label in LABELS) + " |")
        if n >= 12:
            targets.append((f"a. unrelated noise, {n} periods: inverted ≤ 5%", found["inverted"] / draws <= 0.05))
            targets.append((f"a. unrelated noise, {n} periods: aligned ≤ 5%", found["aligned"] / draws <= 0.05))

    print(
        "\n**b. The model clearly improves (0.70 → 0.85), the KPI is noise** (share labelled decoupled; the rest in brackets)\n"
    )
    print("| periods | weekly sd 0.03 | weekly sd 0.06 |\n|---|---|---|")
    for i, n in enumerate(PERIODS):
        cells = []
        for sd in (0.03, 0.06):
            found = label_rates(improving(sd), n, draws, 200 + i)
            rest = ", ".join(
                f"{label} {pct(found[label] / draws)}" for label in LABELS if label != "decoupled" and found[label]
            )
            cells.append(f"{pct(found['decoupled'] / draws)}" + (f" ({rest})" if rest else ""))
            if sd == 0.03 and n >= 16:
                targets.append(
                    (f"b. improving model, noise KPI, {n} periods: decoupled ≥ 80%", found["decoupled"] / draws >= 0.80)
                )
        print(f"| {n} | " + " | ".join(cells) + " |")

    print(
        "\n**c. The KPI follows the improving model 4 weeks later** (model sd 0.06; share labelled aligned; lag found = the lag reported)\n"
    )
    print("| periods | aligned | lag 4 reported |\n|---|---|---|")
    for i, n in enumerate(PERIODS):
        rng = np.random.default_rng(300 + i)
        aligned = lag_found = 0
        for _ in range(draws):
            technical, kpi = lagged(rng, n)
            result = alignment(weekly(technical), weekly(kpi), "up", "up", SETTINGS)
            aligned += result.label == "aligned"
            lag_found += result.lag == 4
        if n < SETTINGS.alignment_min_periods:
            print(f"| {n} | insufficient data | – |")
            continue
        print(f"| {n} | {pct(aligned / draws)} | {pct(lag_found / draws)} |")
        if n >= 26:
            targets.append((f"c. 4-week lag, {n} periods: aligned ≥ 80%", aligned / draws >= 0.80))

    print(
        "\n**d. Decay on a stationary live series at 0.85** (share with a warning or worse / critical at the latest week)\n"
    )
    print(
        "| live weeks | sd 0.06: warning+ | sd 0.06: critical | sd 0.08: warning+ | sd 0.08: critical |\n|---|---|---|---|---|"
    )
    for i, n in enumerate((12, 20, 26, 40, 52)):
        cells = []
        for sd in (0.06, 0.08):
            warn, crit, _ = decay_rates(n, sd, draws, 400 + i)
            cells += [pct(warn), pct(crit)]
            if sd == 0.06 and n == 40:
                targets.append(("d. stationary decay, sd 0.06, 40 weeks: warnings ≤ 5%", warn <= 0.05))
        print(f"| {n} | " + " | ".join(cells) + " |")

    print("\n**e. Exact step drops** (history 8–40 weeks, judged 4–8 weeks after the drop)\n")
    print("| series | drop | level expected | reached |\n|---|---|---|---|")
    for name, drop, level, hits, cases in step_drops():
        print(f"| {name} | {drop:.0%} | {level} | {hits} of {cases} |")
        targets.append((f"e. exact {drop:.0%} drop on {name}: always {level}", hits == cases))

    print("\n**f. Pure noise read as a clear improvement** (no-KPI technical trend; weekly sd 0.06)\n")
    print("| weeks | read as improving |\n|---|---|")
    for i, n in enumerate(PERIODS):
        rate = trend_on_noise(n, draws, 600 + i)
        print(f"| {n} | {pct(rate)} |")

    print(
        "\n**g. A healthy pilot's health on pure noise** (the risk engine; register complete and healthy, every series noise)\n"
    )
    print(
        "| live weeks | accuracy sd | months in the pilot stage | green | amber | red (pilots) | insufficient | warning signs fired (share of pilots) |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for i, n in enumerate(HEALTH_PERIODS):
        for j, sd in enumerate((0.06, 0.08)):
            for k, months in enumerate((None, 20.0)):
                found, fired, _ = health_on_noise(n, sd, months, draws, 700 + 10 * i + 2 * j + k)
                stage_words = f"{n / (365.25 / 12 / 7):.0f} (since go-live)" if months is None else f"{months:.0f}"
                signs = ", ".join(f"{key} {pct(count / draws)}" for key, count in fired.most_common())
                cells = [pct(found[h] / draws) + (f" ({found[h]})" if h == "red" else "") for h in HEALTH_ORDER]
                print(f"| {n} | {sd} | {stage_words} | " + " | ".join(cells) + f" | {signs or 'none'} |")
                if n >= 12:
                    targets.append(
                        (
                            f"g. (health check) healthy pilot on noise, {n} weeks, sd {sd}, {stage_words} months in pilot: red ≤ 5%",
                            found["red"] / draws <= 0.05,
                        )
                    )

    print(
        "\n**g2. The same pilot (since go-live, accuracy sd 0.06) with a noisier KPI** (the KPI's weekly sd against the "
        "0.6 from baseline to target; share amber / red, and how often behind plan fired)\n"
    )
    print("| live weeks | KPI sd 0.05 | KPI sd 0.10 | KPI sd 0.20 | KPI sd 0.30 |\n|---|---|---|---|---|")
    for i, n in enumerate((12, 52)):
        cells = []
        for j, kpi_sd in enumerate((0.05, 0.10, 0.20, 0.30)):
            found, fired, _ = health_on_noise(n, 0.06, None, draws, 800 + 10 * i + j, kpi_sd=kpi_sd)
            cells.append(
                f"{pct(found['amber'] / draws)} / {pct(found['red'] / draws)} (behind plan {pct(fired['kpi_behind_plan'] / draws)})"
            )
        print(f"| {n} | " + " | ".join(cells) + " |")

    print(
        f"\n**g3. Behind plan on its own** (a weekly KPI flat on plan or truly behind it + noise, half the time gone; "
        f"kpi_noise_k {SETTINGS.kpi_noise_k}; share read behind plan, and in brackets by the margin alone)\n"
    )
    print(
        "| live weeks | truly behind by | KPI sd 0.05 | KPI sd 0.10 | KPI sd 0.20 | KPI sd 0.30 |\n|---|---|---|---|---|---|"
    )
    for i, n in enumerate((12, 52)):
        for j, points in enumerate((0.0, 0.25, 0.40, 0.60)):
            cells = []
            for m, kpi_sd in enumerate((0.05, 0.10, 0.20, 0.30)):
                behind, by_margin = behind_rates(n, points, kpi_sd, draws, 900 + 100 * i + 10 * j + m)
                cells.append(f"{pct(behind)} ({pct(by_margin)})")
                if points == 0.0 and n >= 52:  # with 12 weeks the noise itself is known less well: about 5%
                    targets.append((f"g3. on-plan KPI, {n} weeks, sd {kpi_sd}: behind plan ≤ 5%", behind <= 0.05))
            print(f"| {n} | {'on plan' if points == 0 else f'{points * 100:.0f} points'} | " + " | ".join(cells) + " |")

    print("\n**Targets**\n")
    for what, met in targets:
        print(f"- {'met' if met else 'NOT MET'}: {what}")
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0 if all(met for _, met in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
