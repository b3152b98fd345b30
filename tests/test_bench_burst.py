"""The burst benchmark's driver (bench/bench_burst.py) against the real dashboard on the demo store:
three sessions at once on one page, warm and right after a real write, every one finished without
an error and timed. It takes about 15 s, so it runs in the normal suite; it is marked `slow` (it
starts extra processes: the demo load, the server, an ingest), so `pytest -m "not slow"` leaves it out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_three_sessions_at_once_on_the_demo_all_finish_without_error(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_burst.py"),
            "--demo",
            "--pages",
            "Risk",
            "--sessions",
            "3",
            "--many",
            "3",
            "--single",
            "1",
            "--views",
            "3",
            "--settle",
            "1",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"the benchmark failed:\n{done.stdout}\n{done.stderr}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["store"] == "demo store" and report["pilots"] == 24
    assert report["failures"] == []
    assert report["notes"]["rss_settled_mb"] > 0 and "rss_settled_growth_pct" in report["notes"]
    risk = report["pages"]["Risk"]
    assert {"first", "single", "burst", "after_write", "many", "sequential"} <= set(risk)
    for what, sessions in (
        ("first", 1),
        ("single", 1),
        ("burst", 3),
        ("after_write", 3),
        ("many", 3),
        ("sequential", 3),
    ):
        figures = risk[what]
        assert figures["sessions"] == sessions and figures["errors"] == 0, (what, figures)
        assert 0 < figures["p50"] <= figures["p95"] <= figures["max"] < 120, (what, figures)
        assert figures["kb_per_view"] > 1, (what, figures)  # the page was drawn, not an empty run
    assert risk["sequential"]["cpu_ms_per_view"] > 0
    assert risk["sequential"]["rss_before_mb"] > 50 and risk["sequential"]["rss_after_mb"] > 50
    assert len(report["notes"]["write_seconds"]) == 1 and report["notes"]["server_alive"]
    assert "| Risk |" in done.stdout and "Every session got script_finished without an error." in done.stdout
