"""docs/architecture.md stays true: every dotted `pilot_health…` name and every repository path it
writes in backticks exists, every page has rows in its trace table, and its layer table lists
exactly the layers of tests/test_architecture.py.

The page's formats, kept simple so that a person editing it knows what is read:
- a name is a backticked span that starts with `pilot_health` and is nothing but a dotted name
  (`pilot_health.ui.data.risk_results`; `ingest.*`-style `.*` at the end is allowed); it resolves
  when its longest importable prefix imports and the rest are attributes of it, a dataclass or
  pydantic field counting as an attribute of its class;
- a path is a backticked span such as `docs/schema.md` or `tests/fixtures/uploads/` (a top-level
  file or a folder of the repository followed by a path, no spaces or placeholders);
- the layers are the table under "## The layers": one row per layer, bottom first, its name in the
  first cell and its modules in backticks in the second (module names without `pilot_health.`, the
  package itself written `pilot_health`);
- the trace table is the table under "## Where each number on screen comes from"; its first cell
  names the page file in backticks (`app.py`, `pages/3_Risk.py`)."""

from __future__ import annotations

import importlib
import re
from types import ModuleType

import pytest
from conftest import ROOT
from test_architecture import LAYERS, PAGES

DOC = ROOT / "docs" / "architecture.md"
SPAN = re.compile(r"`([^`\n]+)`")
DOTTED = re.compile(r"pilot_health(?:\.\w+)*(?:\.\*)?")
PATH = re.compile(r"(?:app\.py|run\.py|(?:src|pages|tests|docs|bench|config|tools|data)/[\w./-]*)")
LAYERS_HEADING = "## The layers"
TRACE_HEADING = "## Where each number on screen comes from"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _spans(text: str) -> list[tuple[int, str]]:
    """(line number, backticked text) for every backticked span."""
    return [(number, span) for number, line in enumerate(text.splitlines(), 1) for span in SPAN.findall(line)]


def resolve(name: str) -> object:
    """The object a dotted name names: its longest importable module prefix, then attributes.
    Raises LookupError with a sentence saying which part is missing."""
    parts = name.removesuffix(".*").split(".")
    obj: object | None = None
    for end in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:end]))
        except ModuleNotFoundError as error:
            if error.name is None or not ".".join(parts[:end]).startswith(error.name):
                raise  # a module that exists failed to import something else: say so, do not hide it
            continue
        break
    if obj is None:
        raise LookupError(f"{name}: no module {parts[0]}")
    rest = parts[end:]
    for index, part in enumerate(rest):
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif (
            not isinstance(obj, ModuleType)
            and index == len(rest) - 1
            and (part in getattr(obj, "__dataclass_fields__", {}) or part in getattr(obj, "model_fields", {}))
        ):
            return obj  # a field declared on the class, last in the name (a class has no value to look in)
        else:
            raise LookupError(f"{name}: {getattr(obj, '__name__', obj)!s} has no {part}")
    return obj


def _section_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of each row of the first table under `heading` (header and rule left out)."""
    lines = text.splitlines()
    assert heading in lines, f"docs/architecture.md has no section {heading!r}"
    rows, started = [], False
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if started and not set(cells[0]) <= set("-: "):
                rows.append(cells)
            started = True
        elif started and rows:
            break
    return rows


def documented_layers(text: str) -> list[tuple[str, set[str]]]:
    return [
        (cells[0], {"" if m == "pilot_health" else m for m in SPAN.findall(cells[1])})
        for cells in _section_rows(text, LAYERS_HEADING)
    ]


def unresolved_names(text: str) -> list[str]:
    problems = []
    for number, span in _spans(text):
        if not span.startswith("pilot_health"):
            continue
        if not DOTTED.fullmatch(span):
            problems.append(f"line {number}: `{span}` is not a dotted name; write the name alone in backticks")
            continue
        try:
            resolve(span)
        except LookupError as error:
            problems.append(f"line {number}: {error}")
    return problems


def missing_paths(text: str) -> list[str]:
    return [
        f"line {number}: {span} does not exist"
        for number, span in _spans(text)
        if PATH.fullmatch(span) and not (ROOT / span).exists()
    ]


def test_every_name_in_the_doc_exists():
    text = _text()
    assert len([s for _, s in _spans(text) if s.startswith("pilot_health.")]) > 100, "the doc's names are read"
    assert unresolved_names(text) == []


def test_every_path_in_the_doc_exists():
    text = _text()
    assert len([s for _, s in _spans(text) if PATH.fullmatch(s)]) > 20, "the doc's paths are read"
    assert missing_paths(text) == []


def test_every_page_is_in_the_trace_table():
    rows = _section_rows(_text(), TRACE_HEADING)
    traced = {span for cells in rows for span in SPAN.findall(cells[0])}
    pages = {str(page.relative_to(ROOT)) for page in PAGES}
    assert pages - traced == set(), "pages with no row in the trace table of docs/architecture.md"
    assert traced - pages == set(), "the trace table names a page file that is gone"
    assert any("steering pack" in cells[0] for cells in rows), "the steering packs are traced too"
    # every row says what the domain computes, with at least one name
    assert [cells[:2] for cells in rows if "`pilot_health." not in cells[-1] and "docs/" not in cells[-1]] == []


def test_the_doc_lists_exactly_the_layers_of_the_architecture_test():
    assert documented_layers(_text()) == LAYERS


# -- the checks themselves catch what they are for --------------------------------------------------


@pytest.mark.parametrize(
    "name, found",
    [
        ("pilot_health.ui.data.risk_results", True),  # a function of a subpackage's module
        ("pilot_health.ingest.*", True),
        ("pilot_health.analytics.risk.PilotRisk.health", True),  # a dataclass field
        ("pilot_health.analytics.risk.PilotRisk.next_actions", True),  # a property
        ("pilot_health.rules.catalogue.Signal.threshold", True),  # a pydantic field
        ("pilot_health.analytics.risk.no_such_function", False),
        ("pilot_health.no_such_module.assess", False),
        ("pilot_health.analytics.risk.PilotRisk.no_such_field", False),
        ("pilot_health.analytics.risk.PilotRisk.health.deeper", False),  # nothing to look in past a field
    ],
)
def test_a_name_resolves_only_when_it_exists(name, found):
    if found:
        resolve(name)
    else:
        with pytest.raises(LookupError):
            resolve(name)


def test_the_checks_catch_a_wrong_name_path_or_layer():
    text = _text()
    wrong = text.replace(
        "`pilot_health.analytics.risk.heatmap_frame`", "`pilot_health.analytics.risk.heatmap_frames`", 1
    )
    assert wrong != text
    before = unresolved_names(text)
    assert [problem for problem in unresolved_names(wrong) if problem not in before] == [
        f"line {wrong[: wrong.index('heatmap_frames')].count(chr(10)) + 1}: "
        "pilot_health.analytics.risk.heatmap_frames: pilot_health.analytics.risk has no heatmap_frames"
    ]
    assert unresolved_names("`pilot_health.analytics.risk.assess(store)`") == [
        "line 1: `pilot_health.analytics.risk.assess(store)` is not a dotted name; write the name alone in backticks"
    ]
    assert missing_paths("`docs/schema.md` and `docs/no_such_page.md`") == [
        "line 1: docs/no_such_page.md does not exist"
    ]
    moved = text.replace("| analytics | `analytics`, ", "| analytics | ", 1)
    assert moved != text and documented_layers(moved) != LAYERS
