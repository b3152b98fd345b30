"""The metric dictionary: built-in spellings, directions and units; guesses labelled as guesses;
unknown metrics asked about once on upload and remembered in the store."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from conftest import ROOT

from pilot_health.analytics.evidence import load_evidence
from pilot_health.errors import ConfigError
from pilot_health.ingest import IngestOptions, ingest
from pilot_health.rules.metric_dictionary import (
    MetricAnswer,
    dictionary_with_answers,
    guess,
    load_metric_dictionary,
    metric_key,
    parse_answer,
)
from pilot_health.store import queries

# The names the issue lists, each with the key, kind and direction it must have.
KNOWN = {
    "accuracy": ("accuracy", "technical", "up"),
    "acc": ("accuracy", "technical", "up"),
    "val/accuracy": ("accuracy", "technical", "up"),
    "Val Accuracy": ("accuracy", "technical", "up"),
    "f1": ("f1", "technical", "up"),
    "f1_score": ("f1", "technical", "up"),
    "roc_auc": ("roc_auc", "technical", "up"),
    "auc": ("roc_auc", "technical", "up"),
    "rmse": ("rmse", "technical", "down"),
    "mae": ("mae", "technical", "down"),
    "mape": ("mape", "technical", "down"),
    "r2": ("r2", "technical", "up"),
    "precision": ("precision", "technical", "up"),
    "recall": ("recall", "technical", "up"),
    "revenue": ("revenue", "business", "up"),
    "cost": ("cost", "business", "down"),
    "forecast accuracy": ("forecast_accuracy", "business", "up"),
    "on-shelf availability": ("on_shelf_availability", "business", "up"),
    "inventory": ("inventory_value", "business", "down"),
    "churn": ("churn_rate", "business", "down"),
    "CSAT": ("csat", "business", "up"),
    "active users": ("active_users", "adoption", "up"),
    "DAU": ("active_users", "adoption", "up"),
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_built_in_spellings_resolve_to_their_metric_kind_and_direction(name):
    info = load_metric_dictionary().lookup(name)
    assert info is not None, name
    assert (info.key, info.kind, info.direction) == KNOWN[name]
    assert info.source == "built-in"


def test_every_built_in_metric_has_a_label_and_a_unit_and_is_documented():
    dictionary = load_metric_dictionary()
    documented = (ROOT / "docs" / "metrics.md").read_text()
    for key, entry in dictionary.entries.items():
        assert entry.label and entry.unit, key
        assert f"`{key}`" in documented, f"{key} is not in docs/metrics.md"


def test_an_unknown_name_is_a_labelled_guess_and_error_metrics_are_guessed_lower_is_better():
    dictionary = load_metric_dictionary()
    assert dictionary.lookup("reconstruction_error") is None
    guessed = dictionary.describe("reconstruction_error")
    assert (guessed.kind, guessed.direction, guessed.source) == ("technical", "down", "guessed")
    assert guess("Gross profit per store").kind == "business" and guess("Gross profit per store").direction == "up"
    assert guess("widget index").direction is None and "guess" not in guess("x").direction_words


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "[metrics.acc]\nlabel='A'\nkind='technical'\n[metrics.accuracy2]\nlabel='B'\nkind='technical'\nspellings=['acc']\n",
            "belongs to both",
        ),
        ("[metrics.x]\nlabel='X'\nkind='money'\n", "metrics.x.kind"),
        ("[metrics.x]\nlabel='X'\nkind='technical'\ndirection='sideways'\n", "metrics.x.direction"),
        ("[metrics.Bad_Key]\nlabel='X'\nkind='technical'\n", "bad_key"),
        ("[metrics.x\n", "not valid TOML"),
    ],
)
def test_a_dictionary_file_with_a_mistake_is_refused_with_one_sentence(tmp_path, text, message):
    path = tmp_path / "metrics.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_metric_dictionary(path)


def test_the_command_line_answer_form_is_parsed_and_mistakes_explained():
    assert parse_answer("picks_per_hour=business:up:picks") == (
        "picks_per_hour",
        MetricAnswer("business", "up", "picks"),
    )
    assert parse_answer("drift score=technical:?") == ("drift score", MetricAnswer("technical", None, None))
    for bad in ("picks_per_hour", "x=business", "x=money:up", "x=business:sideways"):
        with pytest.raises(ValueError):
            parse_answer(bad)


CSV = (
    "pilot_id,metric,environment,date,value\n"
    + "".join(f"RO-01,pick_path_efficiency,live,2025-0{m}-01,{0.5 + m / 100}\n" for m in range(1, 8))
    + "".join(f"RO-01,accuracy,live,2025-0{m}-01,{0.8 + m / 100}\n" for m in range(1, 8))
).encode()


def test_an_unknown_metric_is_asked_about_once_and_the_answer_is_remembered(demo_store):
    preview = ingest(demo_store, CSV, "efficiency.csv")
    assert preview.status == "ready"
    assert [(m.key, m.source) for m in preview.new_metrics] == [("pick_path_efficiency", "guessed")]
    assert any("pick_path_efficiency" in w and "guess" in w for w in preview.warnings)
    stored_before = demo_store.version()

    answer = MetricAnswer("business", "up", "share", "Pick path efficiency")
    result = ingest(
        demo_store,
        CSV,
        "efficiency.csv",
        IngestOptions(metric_answers={"pick_path_efficiency": answer}, uploaded_by="ana"),
        commit=True,
    )
    assert result.status == "stored" and demo_store.version() != stored_before
    with demo_store.read() as con:
        rows = queries.metric_definitions(con)
        kinds = dict(
            con.execute(
                "SELECT DISTINCT metric, kind FROM metric_observations WHERE upload_id = ?", [result.upload_id]
            ).fetchall()
        )
        dictionary = dictionary_with_answers(con)
    assert [
        (r["metric_key"], r["label"], r["kind"], r["direction"], r["unit"], r["decided_by"], r["upload_id"])
        for r in rows
    ] == [("pick_path_efficiency", "Pick path efficiency", "business", "up", "share", "ana", result.upload_id)]
    assert kinds == {"pick_path_efficiency": "business", "accuracy": "technical"}
    assert dictionary.describe("Pick path efficiency").source == "answered"

    again = CSV.replace(b"2025-0", b"2024-0")
    second = ingest(demo_store, again, "efficiency-2024.csv")
    assert second.new_metrics == [] and not any("guess" in w for w in second.warnings)
    assert ingest(demo_store, again, "efficiency-2024.csv", commit=True).status == "stored"
    with demo_store.read() as con:
        assert con.execute(
            "SELECT DISTINCT kind FROM metric_observations WHERE metric = 'pick_path_efficiency'"
        ).fetchall() == [("business",)]


def test_a_refused_upload_stores_no_answer(demo_store):
    bad = CSV.replace(b"RO-01", b"ZZ-99")
    result = ingest(
        demo_store,
        bad,
        "bad.csv",
        IngestOptions(metric_answers={"pick_path_efficiency": MetricAnswer("business", "up")}),
        commit=True,
    )
    assert result.status == "refused"
    with demo_store.read() as con:
        assert queries.metric_definitions(con) == []


def test_an_answer_can_correct_the_built_in_direction_and_the_numbers_follow_it(demo_store):
    """An answer wins over the built-in dictionary: the risk and alignment numbers read the answered direction."""
    with demo_store.read() as con:
        assert dictionary_with_answers(con).direction("accuracy") == "up"
    evidence = load_evidence(demo_store)
    assert evidence.pilot("RO-01").direction("val_acc") == "up"
    with demo_store.write() as con:
        queries.upsert_metric_definitions(
            con,
            [
                {
                    "metric_key": "accuracy",
                    "label": "Accuracy",
                    "kind": "technical",
                    "direction": "down",
                    "unit": None,
                    "decided_by": "t",
                    "decided_at": datetime(2025, 1, 1),
                    "upload_id": None,
                }
            ],
        )
    assert load_evidence(demo_store).pilot("RO-01").direction("val_acc") == "down"


def test_command_line_ingest_reports_new_metrics_and_stores_answers(demo_store, tmp_path, run_command):
    path = tmp_path / "efficiency.csv"
    path.write_bytes(CSV)
    checked = run_command("ingest", str(path), "--db", str(demo_store.path), "--check", "--json")
    payload = json.loads(checked.stdout)
    assert [m["metric"] for m in payload["new_metrics"]] == ["pick_path_efficiency"]
    stored = run_command(
        "ingest",
        str(path),
        "--db",
        str(demo_store.path),
        "--metric",
        "pick_path_efficiency=business:up:share",
        "--json",
    )
    assert json.loads(stored.stdout)["status"] == "stored", stored.stderr
    with demo_store.read() as con:
        assert [(r["metric_key"], r["kind"], r["direction"], r["unit"]) for r in queries.metric_definitions(con)] == [
            ("pick_path_efficiency", "business", "up", "share")
        ]
    wrong = run_command("ingest", str(path), "--db", str(demo_store.path), "--metric", "pick_path_efficiency=money:up")
    assert (
        wrong.returncode != 0
        and "NAME=kind:direction" in wrong.stderr + wrong.stdout
        or "kind must be" in wrong.stderr + wrong.stdout
    )


def test_metric_key_joins_words():
    assert metric_key(" Val/Accuracy ") == "val_accuracy" and metric_key("Picks / labour hour") == "picks_labour_hour"
