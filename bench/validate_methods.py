"""Operating characteristics of the alignment, decay and trend verdicts, by Monte Carlo over the
real functions (pilot_health.alignment, pilot_health.pilot_numbers), with the catalogue's settings.

    .venv/bin/python bench/validate_methods.py            # 2,000 draws per cell (under a minute on one core)
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
  f. pure noise read as a clear improvement by the no-KPI technical trend (PilotNumbers.technical_trend).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pilot_health.alignment import alignment, live_decay  # noqa: E402
from pilot_health.catalogue import load_catalogue  # noqa: E402
from pilot_health.pilot_numbers import PilotNumbers  # noqa: E402

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
                    result = live_decay(weekly(np.array([start] * history + [after] * weeks_after)), "m", direction, SETTINGS)
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
        evidence = SimpleNamespace(primary_metric="accuracy", record={}, direction=lambda metric: "up",
                                   series=lambda metric, environment=None, kind=None, s=series: s if environment == "live" else s.iloc[:0])
        trend = PilotNumbers(evidence, SETTINGS, datetime(2026, 1, 1), 0.25).technical_trend
        judged += trend is not None
        improving_found += trend is not None and trend.direction == "up"
    return improving_found / draws if judged else float("nan")


def pct(x: float) -> str:
    return "not judged" if x != x else f"{x * 100:.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000)
    args = parser.parse_args()
    draws = args.draws
    started = time.perf_counter()
    targets = []
    print(f"Settings: significance {SETTINGS.significance}, alignment_min_periods {SETTINGS.alignment_min_periods}, "
          f"alignment_max_lag {SETTINGS.alignment_max_lag}, decay_reference_weeks {SETTINGS.decay_reference_weeks}, "
          f"smoothing_weeks {SETTINGS.smoothing_weeks}, decay_noise_k {SETTINGS.decay_noise_k}, "
          f"decay_warning {SETTINGS.decay_warning}, decay_critical {SETTINGS.decay_critical}; {draws} draws per cell.\n")

    print("**a. Unrelated white noise** (share of pilots given each label)\n")
    print("| periods | " + " | ".join(LABELS) + " |\n|---|" + "---|" * len(LABELS))
    for i, n in enumerate(PERIODS):
        found = label_rates(unrelated, n, draws, 100 + i)
        print(f"| {n} | " + " | ".join(pct(found[label] / draws) for label in LABELS) + " |")
        if n >= 12:
            targets.append((f"a. unrelated noise, {n} periods: inverted ≤ 5%", found["inverted"] / draws <= 0.05))
            targets.append((f"a. unrelated noise, {n} periods: aligned ≤ 5%", found["aligned"] / draws <= 0.05))

    print("\n**b. The model clearly improves (0.70 → 0.85), the KPI is noise** (share labelled decoupled; the rest in brackets)\n")
    print("| periods | weekly sd 0.03 | weekly sd 0.06 |\n|---|---|---|")
    for i, n in enumerate(PERIODS):
        cells = []
        for sd in (0.03, 0.06):
            found = label_rates(improving(sd), n, draws, 200 + i)
            rest = ", ".join(f"{label} {pct(found[label] / draws)}" for label in LABELS if label != "decoupled" and found[label])
            cells.append(f"{pct(found['decoupled'] / draws)}" + (f" ({rest})" if rest else ""))
            if sd == 0.03 and n >= 16:
                targets.append((f"b. improving model, noise KPI, {n} periods: decoupled ≥ 80%", found["decoupled"] / draws >= 0.80))
        print(f"| {n} | " + " | ".join(cells) + " |")

    print("\n**c. The KPI follows the improving model 4 weeks later** (model sd 0.06; share labelled aligned; lag found = the lag reported)\n")
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

    print("\n**d. Decay on a stationary live series at 0.85** (share with a warning or worse / critical at the latest week)\n")
    print("| live weeks | sd 0.06: warning+ | sd 0.06: critical | sd 0.08: warning+ | sd 0.08: critical |\n|---|---|---|---|---|")
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

    print("\n**Targets**\n")
    for what, met in targets:
        print(f"- {'met' if met else 'NOT MET'}: {what}")
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0 if all(met for _, met in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
