"""Issue 18's risk views: the health marker beside every pilot in the heatmap, and one colour-blind-safe
palette for the five patterns that never borrows the health colours."""

from __future__ import annotations

import colorsys

import pandas as pd
import pytest

from pilot_health.analytics import risk
from pilot_health.reports import charts
from pilot_health.rules.catalogue import PATTERN_KEYS, load_catalogue


def rgb(colour: str) -> tuple[float, float, float]:
    colour = colour.lstrip("#")
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def distance(a: str, b: str) -> float:
    return sum((x - y) ** 2 for x, y in zip(rgb(a), rgb(b))) ** 0.5


def test_the_five_patterns_have_five_distinct_colours_none_a_health_colour():
    colours = [charts.PATTERN_COLOURS[k] for k in PATTERN_KEYS]
    assert len(colours) == 5 and len({c.lower() for c in colours}) == 5
    health = [c.lower() for c in charts.HEALTH_COLOURS.values()]
    assert not {c.lower() for c in colours} & set(health)
    # Not merely different codes: no pattern colour is near a health colour, and no two are near each other.
    assert min(distance(p, h) for p in colours for h in health) > 0.25
    assert min(distance(a, b) for i, a in enumerate(colours) for b in colours[i + 1 :]) > 0.25
    # Nothing red, amber or green in hue, unless it is nearly grey or black.
    for colour in colours:
        hue, lightness, saturation = colorsys.rgb_to_hls(*rgb(colour))
        if saturation > 0.2 and 0.1 < lightness < 0.9:
            assert not (hue < 40 / 360 or hue > 345 / 360 or 80 / 360 < hue < 165 / 360), colour
    assert len(set(charts.PATTERN_SHAPES[k] for k in PATTERN_KEYS)) == 5, (
        "a shape each, so colour is never the only cue"
    )


def trend(names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "month": pd.Timestamp(2026, m, 28),
                "pattern": k,
                "pattern_name": n,
                "score": 10.0 * i + m,
                "coverage": 1.0,
                "status": "low",
                "health": "green",
            }
            for m in (1, 2, 3)
            for i, (k, n) in enumerate(zip(PATTERN_KEYS, names))
        ]
    )


def test_the_trend_chart_colours_each_pattern_from_the_palette():
    names = [load_catalogue().patterns[k].name for k in PATTERN_KEYS]
    spec = charts.risk_trend_chart(trend(names), names).to_dict()
    lines = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "line")
    colour = lines["encoding"]["color"]["scale"]
    assert colour["domain"] == names and colour["range"] == [charts.PATTERN_COLOURS[k] for k in PATTERN_KEYS]
    assert lines["encoding"]["shape"]["scale"]["range"] == [charts.PATTERN_SHAPES[k] for k in PATTERN_KEYS]


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory):
    from pilot_health.demo.portfolio import DEMO_NOW, load_demo
    from pilot_health.store.database import Store

    store = Store(tmp_path_factory.mktemp("colours") / "demo.duckdb")
    load_demo(store, today=DEMO_NOW.date())
    return risk.assess(store, DEMO_NOW)


def test_the_heatmap_marks_every_pilots_health_in_colour_and_in_words(demo_results):
    frame = risk.heatmap_frame(demo_results)
    order = risk.order_pilots({r.pilot_id: r for r in demo_results}, frame["pilot_id"], "health")
    names = [load_catalogue().patterns[k].name for k in PATTERN_KEYS]
    spec = charts.risk_heatmap(frame, order, names).to_dict()
    datasets = spec["datasets"]
    layers = spec["layer"]
    marker_cells = next(
        layer
        for layer in layers
        if layer["mark"]["type"] == "rect" and layer["encoding"]["color"].get("field") == "health"
    )
    marker_words = next(
        layer
        for layer in layers
        if layer["mark"]["type"] == "text" and layer["encoding"]["text"]["field"] == "health_short"
    )
    rows = datasets[marker_words["data"]["name"]]
    expected = {r.pilot_id: r.health for r in demo_results}
    assert {row["pilot_id"]: row["health"] for row in rows} == expected, "one marker per pilot, with its verdict"
    assert all(
        row["health_short"] == charts.HEALTH_SHORT[row["health"]] and row["pattern_short"] == charts.HEALTH_COLUMN
        for row in rows
    )
    scale = marker_cells["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"])) == charts.HEALTH_COLOURS
    x = marker_cells["encoding"]["x"]
    assert x["scale"]["domain"][0] == charts.HEALTH_COLUMN, "health is the first column, before the five patterns"
    params = {p["name"]: p["views"] for p in spec["params"]}
    assert params.keys() == {"pick", "pick_health"}, "a click on a score or on the health marker selects the pilot"
    assert params["pick_health"] == [marker_cells["name"]]


def test_the_demo_health_mix_is_believable(demo_results):
    counts = {verdict: sum(r.health == verdict for r in demo_results) for verdict in risk.HEALTH_LABELS}
    assert (
        3 <= counts["red"] <= 5 and 6 <= counts["amber"] <= 9 and counts["green"] >= 8 and counts["insufficient"] <= 2
    ), counts


def test_pilots_by_health_names_each_verdicts_pilots_in_order(demo_results):
    by_pilot = {r.pilot_id: r for r in demo_results}
    order = risk.order_pilots(by_pilot, by_pilot, "health")
    grouped = risk.pilots_by_health(by_pilot, order)
    assert sum(len(v) for v in grouped.values()) == len(by_pilot)
    assert grouped["red"] == [p for p in order if by_pilot[p].health == "red"]
    assert all(by_pilot[p].health == verdict for verdict, ids in grouped.items() for p in ids)


def test_a_card_label_says_evidence_known_not_a_bare_percentage(demo_results):
    pattern = next(r for r in demo_results if r.pilot_id == "CS-01").patterns["data_debt"]
    assert risk.card_label(pattern) == f"Low · {pattern.coverage * 100:.0f}% of evidence known"
    assert "not a probability" in risk.card_help(pattern, 0.5) and "Below 50%" in risk.card_help(pattern, 0.5)
