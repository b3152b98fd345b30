"""Business owners read every screen: no repository paths, setting names, command-line flags,
temporary paths or a raw “None” in anything a page renders — text, captions, labels, tooltips,
options, metrics and table cells — on every page, run through AppTest on the demo store."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import ROOT
from google.protobuf.message import Message
from streamlit.testing.v1 import AppTest

HOME = str(ROOT / "app.py")
PAGES = {
    "home": (None, {}),
    "register": ("pages/1_Pilot_register.py", {"pilot": "SC-01"}),
    "upload": ("pages/2_Upload_data.py", {}),
    "risk": ("pages/3_Risk.py", {"pilot": "SC-01"}),
    "alignment": ("pages/4_Alignment.py", {"pilot": "SC-01"}),
    "adoption": ("pages/5_Adoption.py", {"pilot": "SC-01"}),
    "audit": ("pages/6_Audit_trail.py", {}),
    "thresholds": ("pages/7_Thresholds.py", {}),
    "guide": ("pages/8_Guide.py", {"topic": "risk"}),
    "since": ("pages/9_Since_last_meeting.py", {"since": "2026-11-19"}),
    "alerts": ("pages/10_Alerts.py", {}),
}

DEVELOPER_WORDS = {
    "a documentation file's path": re.compile(r"docs/|\b[\w-]+\.md\b"),
    "a settings file": re.compile(r"\.toml\b|config/"),
    "a setting's variable name": re.compile(r"PILOT_HEALTH_"),
    "the demo's source folder": re.compile(r"data/demo"),
    "a command-line flag": re.compile(r"(?<![\w-])--[a-z][\w.-]*"),
    "an internal setting key": re.compile(r"\b(?:scoring|health|analysis|signals)\.[a-z]+_[a-z_]+\b"),
    "an exception's name": re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*(?:Error|Exception|Problem)\b"),
}
RAW_NONE = re.compile(r"\bNone\b")


def _strings(message: Message):
    """Every string field of a protobuf message, however deep (bytes such as Arrow tables are skipped)."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for item in values:
            if isinstance(item, Message):
                yield from _strings(item)
            elif isinstance(item, str):
                yield field.name, item


def _nodes(node):
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _nodes(child)


def _hidden_columns(proto) -> set[str]:
    """Columns a table does not show (left out of its column_order, or configured as hidden)."""
    import json

    config = json.loads(proto.columns or "{}")
    return {name for name, c in config.items() if c.get("hidden")}


def rendered(at: AppTest) -> tuple[list[str], list[str]]:
    """(every text a person can read on the page, with where it is; table cells a person sees as “None”)."""
    texts, none_cells = [], []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if isinstance(proto, Message):
            for name, text in _strings(proto):
                if name in {"id", "form_id", "key", "page_script_hash", "icon", "arrow_data", "spec", "vega_lite_json"}:
                    continue
                texts.append(f"{node.type}.{name}: {text}")
        if node.type == "dataframe":
            frame = node.value
            hidden = _hidden_columns(proto)
            shown = list(proto.column_order) or list(frame.columns)
            frame = frame[[c for c in shown if c in frame.columns and c not in hidden]]
            if len(frame):
                if not proto.placeholder and frame.isna().to_numpy().any():
                    columns = [c for c in frame.columns if frame[c].isna().any()]
                    none_cells.append(f"missing values shown as None in columns {columns}")
                for column in frame.columns:
                    if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
                        cells = frame[column].dropna().astype(str)
                        texts += [f"table cell ({column}): {cell}" for cell in cells.unique()]
    return texts, none_cells


def open_page(page: str | None, query: dict) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=120)
    if page:
        at.switch_page(page)
    at.query_params.update(query)
    return at.run()


CASES = list(PAGES)


@pytest.mark.parametrize("name", CASES)
def test_no_developer_words_and_no_raw_none_on_screen(name, demo_store, app_env, tmp_path):
    app_env(demo_store)
    page, query = PAGES[name]
    at = open_page(page, query)
    if name == "upload":
        at.toggle(key="history_demo").set_value(True).run()  # the demo's uploads are the history here
    assert not at.exception, [e.message for e in at.exception]
    texts, none_cells = rendered(at)
    assert len(texts) > 20, "the page rendered too little to judge"
    found = []
    for text in texts:
        if name == "guide" and text.startswith("markdown.body:"):
            continue  # the Guide shows the user documentation, which also tells operators what to set
        for what, pattern in DEVELOPER_WORDS.items():
            if what == "an internal setting key" and text.split(": ", 1)[0].endswith(".help"):
                continue  # a tooltip may name the setting's key for whoever edits the file
            if match := pattern.search(text):
                found.append(f"{what} ({match.group(0)!r}) in {text[:160]!r}")
        if RAW_NONE.search(text):
            found.append(f"a raw None in {text[:160]!r}")
        if str(tmp_path.parent) in text or "/tmp/" in text:
            found.append(f"a temporary path in {text[:160]!r}")
    assert not found and not none_cells, "\n".join(found + none_cells)


# -- numbers as people read them -------------------------------------------------------------------------


def test_money_is_rounded_for_people_in_the_configured_currency(monkeypatch):
    from pilot_health.config import ConfigError, load_config
    from pilot_health.formatting import money, percent

    monkeypatch.delenv("PILOT_HEALTH_CURRENCY", raising=False)
    assert [money(v) for v in (1_650_000, 820_000, 9_500, 950, -2_000, 2_500_000_000, None)] == [
        "$1.65M",
        "$820k",
        "$9,500",
        "$950",
        "-$2,000",
        "$2.50B",
        "—",
    ]
    monkeypatch.setenv("PILOT_HEALTH_CURRENCY", "€")
    assert money(820_000) == "€820k" and load_config().currency == "€"
    assert money(820_000, "CHF") == "CHF 820k", "a code is set apart from the amount"
    assert percent(0.5778) == "58%" and percent(1.2667) == "127%" and percent(None) == "—"
    for wrong in ("Swiss francs", "10$", "%"):
        monkeypatch.setenv("PILOT_HEALTH_CURRENCY", wrong)
        with pytest.raises(ConfigError, match="PILOT_HEALTH_CURRENCY"):
            load_config()


def test_tables_and_headlines_use_the_configured_currency_and_whole_per_cent(demo_store, app_env, monkeypatch):
    import json

    app_env(demo_store)
    monkeypatch.setenv("PILOT_HEALTH_CURRENCY", "€")
    at = open_page(None, {})
    assert not at.exception
    spend = next(m for m in at.metric if m.label == "Spend to date")
    assert spend.value.startswith("€") and re.fullmatch(r"\d+% spent( · \d+ over)?", spend.proto.delta), (
        spend.proto.delta
    )
    assert re.search(r"\d+% of €[\d.]+[kMB]? is spent", spend.proto.help), (
        spend.proto.help
    )  # the budget: in the tooltip
    [table] = [n for n in at.dataframe]
    columns = json.loads(table.proto.columns)
    assert columns["budget"]["type_config"]["format"] == "€%,.0f" == columns["spend_to_date"]["type_config"]["format"]
    # Streamlit takes the decimals of a "percent" column from its step: 0.01 is a whole per cent.
    assert (
        columns["spend_share"]["type_config"]["format"] == "percent"
        and columns["spend_share"]["type_config"]["step"] == 0.01
    )
    register = open_page("pages/1_Pilot_register.py", {})
    columns = json.loads(register.dataframe[0].proto.columns)
    assert columns["budget"]["type_config"]["format"] == "€%,.0f"
