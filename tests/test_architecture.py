"""Project rules that keep the code base honest: layering, one place for SQL, documented settings,
the two commands.

The layer rules read every module of every subpackage (`pilot_health.ingest` and `pilot_health.ui`
included) with Python's own parser, so an import inside a function, under `if TYPE_CHECKING:` or
through `importlib.import_module("...")` counts as much as one at the top of the file. The layers
are written down in docs/architecture.md (The layers)."""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from pilot_health.config import SETTINGS
from pilot_health.models import PILOT_FIELDS

SRC = ROOT / "src" / "pilot_health"
PAGES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
# SQL on the store's tables lives in queries.py (plus the store's own bookkeeping and the
# migrations); the ingest pipeline's SQL on its temporary tables lives in the ingest modules that
# read, parse, check and store a file (paths under src/pilot_health/).
SQL_MODULES = {
    "store/queries.py",
    "store/database.py",
    "store/migrations.py",
    "store/postgres.py",
    "store/backup.py",  # a PostgreSQL backup's snapshot
    "store/move.py",  # migrate-store: copying a store file's tables into PostgreSQL
    "store/transfer.py",
    *(
        f"ingest/{name}.py"
        for name in (
            "run",
            "loading",
            "shaping",
            "metrics",
            "kinds",
            "stored_facts",
            "fast_path",
            "conflicts",
            "pilot_codes",
            "survey",
            "register",
            "checking",
            "storing",
            "values",
        )
    ),
}

# The layers, bottom first (module names without `pilot_health.`; "ingest.*" is every module of the
# subpackage). A module imports only modules of its own layer or of layers below it. Every module
# is in exactly one layer, so a new module has to be placed here (and in docs/architecture.md).
LAYERS: list[tuple[str, set[str]]] = [
    # Settings, errors, the register's fields and labels, number and CSV formats, who may do what.
    ("foundation", {"", "errors", "config", "models", "lazy", "formatting", "csv_files", "access"}),
    # store/: the one class that owns the DuckDB file, its SQL, its migrations and backups; the store on PostgreSQL,
    # and moving a store file there (store.move).
    ("store", {"store", "store.*"}),
    # rules/ (catalogue, thresholds, metric dictionary), register/ (the pilots) and ingest/ (the upload pipeline
    # and its templates): what is kept and changed.
    ("rules and register", {"rules", "rules.*", "register", "register.*", "ingest", "ingest.*"}),
    # analytics/: computations on what is stored.
    ("analytics", {"analytics", "analytics.*"}),
    # reports/: what people read (report tables, results, changes, meetings and decisions, alerts, charts, the
    # steering pack).
    ("reports", {"reports", "reports.*"}),
    # demo/: the demo portfolio (loads through the layers below, like a person would).
    ("demo", {"demo", "demo.*"}),
    # The two ways in: the command line and the dashboard's shared UI code (which never import each other).
    ("command line", {"cli", "__main__"}),
    ("ui", {"ui", "ui.*"}),
]
# What a page (app.py, pages/*.py) may import from Pilot Health besides pilot_health.ui: the entry
# points of the domain a page calls or whose labels it shows. Not the store, its SQL or migrations
# (pages read through pilot_health.ui.data), not settings or access (ui.page decides sign-in and the
# store), not the internals behind an entry point (ingest's modules behind `pilot_health.ingest`,
# evidence, pilot_numbers and alignment behind the reports, notify behind alerts, steering_pack
# behind ui.widgets), and not the command line.
PAGE_ENTRY_POINTS = {
    "models",
    "formatting",
    "csv_files",
    "errors",  # labels, formats and refusals pages show
    "register.pilots",
    "rules.thresholds",
    "rules.metric_dictionary",
    "rules.catalogue",
    "ingest",  # what pages change
    "analytics.risk",
    "analytics.adoption",
    "reports.adoption_report",
    "reports.alignment_report",
    "analytics.portfolio",
    "reports.results",
    "reports.changes",
    "reports.meetings",
    "reports.alerts",
    "reports.charts",  # what pages show
    "demo.portfolio",  # the home page loads and clears the demo
}
# Pages that import something else: (page, module). Empty: every page keeps to the rule, and a new
# exception would have to be written here for a reviewer to see.
PAGE_IMPORT_BASELINE: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def _imports(text: str, package: str | None) -> set[str]:
    """Every module the Python `text` imports anywhere in it (absolute names; `from a import b` gives a.b when
    that is a module, else a), including importlib.import_module("x") and lazy.pandas-style _Lazy("x")."""
    modules = _modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            submodules = [f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in modules]
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called in {"import_module", "__import__", "_Lazy"} and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


@functools.cache
def _graph() -> dict[str, set[str]]:
    """Each module of pilot_health -> every module it imports (its own packages left out)."""
    graph = {}
    for name, path in _modules().items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = {
            imported
            for imported in _imports(path.read_text(encoding="utf-8"), package)
            if imported != name and not name.startswith(imported + ".")
        }
    return graph


def _short(module: str) -> str:
    return module.removeprefix("pilot_health").removeprefix(".")


def _layer_of(module: str) -> int:
    short = _short(module)
    for rank, (_, members) in enumerate(LAYERS):
        if short in members or any(m.endswith(".*") and short.startswith(m[:-1]) for m in members):
            return rank
    raise AssertionError(
        f"{module} is in no layer: place it in LAYERS (tests/test_architecture.py) and docs/architecture.md"
    )


def test_the_rules_read_every_module_of_every_subpackage():
    names = set(_modules())
    assert {
        "pilot_health.ingest.engine",
        "pilot_health.ingest.recognise",
        "pilot_health.ui.data",
        "pilot_health.ui.page",
        "pilot_health.cli",
    } <= names
    assert len(names) == len(list(SRC.rglob("*.py")))
    # and they see imports inside functions: the command line imports the store only when a command needs it
    assert "pilot_health.store.database" in _graph()["pilot_health.cli"]
    # and imports by name: lazy.py's _Lazy("pandas")
    assert "pandas" in _graph()["pilot_health.lazy"]


def test_every_module_is_in_exactly_one_layer():
    for module in _modules():
        short = _short(module)
        homes = [
            name
            for name, members in LAYERS
            if short in members or any(m.endswith(".*") and short.startswith(m[:-1]) for m in members)
        ]
        assert len(homes) == 1, f"{module} is in {homes or 'no layer'}: place it in exactly one of LAYERS"
    listed = {member for _, members in LAYERS for member in members if not member.endswith(".*")}
    assert {f"pilot_health.{m}".rstrip(".") for m in listed} <= set(_modules()), "LAYERS names a module that is gone"


def _upward(module: str, imported: set[str]) -> list[str]:
    return [
        f"{module} ({LAYERS[_layer_of(module)][0]}) imports {other} ({LAYERS[_layer_of(other)][0]})"
        for other in sorted(imported)
        if other in _modules() and _layer_of(other) > _layer_of(module)
    ]


def _ui_or_streamlit(module: str, imported: set[str]) -> list[str]:
    if module.startswith("pilot_health.ui"):
        return []
    return [
        f"{module} imports {other}"
        for other in sorted(imported)
        if other.split(".")[0] == "streamlit" or other == "pilot_health.ui" or other.startswith("pilot_health.ui.")
    ]


def _not_for_pages(page: str, imported: set[str]) -> set[tuple[str, str]]:
    allowed = {f"pilot_health.{name}" for name in PAGE_ENTRY_POINTS}
    return {
        (page, module)
        for module in imported
        if module.split(".")[0] == "pilot_health" and not (module.startswith("pilot_health.ui.") or module in allowed)
    }


def test_imports_only_go_down_the_layers():
    assert [line for module, imported in _graph().items() for line in _upward(module, imported)] == []


def test_the_domain_never_imports_the_ui_or_streamlit():
    """Everything outside pilot_health.ui runs without Streamlit: the command line, the bench, the
    steering pack made from a cron job. Checked on every import, a function's own included."""
    assert [line for module, imported in _graph().items() for line in _ui_or_streamlit(module, imported)] == []


def test_the_command_line_and_the_ui_never_import_each_other():
    graph = _graph()
    command_line = {"pilot_health.cli", "pilot_health.__main__"}
    assert [m for m in graph if m.startswith("pilot_health.ui") and command_line & graph[m]] == []
    assert not any(other.startswith("pilot_health.ui") for other in graph["pilot_health.cli"])


def test_no_import_cycles():
    """No module imports itself through others (function-level imports included), within a
    subpackage or across them."""
    graph = {module: {o for o in imported if o in _modules()} for module, imported in _graph().items()}
    cycles, state = [], {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                cycles.append(" -> ".join(trail[trail.index(other) :] + [other]))
            elif other not in state:
                visit(other, trail + [other])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_pages_import_only_the_ui_and_domain_entry_points():
    found = set()
    for page in PAGES:
        found |= _not_for_pages(str(page.relative_to(ROOT)), _imports(page.read_text(encoding="utf-8"), None))
    assert found - PAGE_IMPORT_BASELINE == set(), "pages import only pilot_health.ui and PAGE_ENTRY_POINTS"
    assert PAGE_IMPORT_BASELINE - found == set(), "fixed: take these lines out of PAGE_IMPORT_BASELINE"


def test_the_rules_catch_imports_hidden_in_functions():
    """The same checks on code that breaks them, as a page, a domain module and a store module
    would: every way of importing is seen."""
    hidden = (
        "def show():\n"
        "    from pilot_health.store.database import Store\n"
        "    from ..ingest import engine\n"
        "    import streamlit.components.v1\n"
        "    importlib.import_module('pilot_health.ui.page')\n"
    )
    imported = _imports(hidden, "pilot_health.ingest")
    assert imported == {
        "pilot_health.store.database",
        "pilot_health.ingest.engine",
        "streamlit.components.v1",
        "pilot_health.ui.page",
    }
    assert _not_for_pages("pages/99_Probe.py", imported) == {
        ("pages/99_Probe.py", "pilot_health.store.database"),
        ("pages/99_Probe.py", "pilot_health.ingest.engine"),
    }
    assert _ui_or_streamlit("pilot_health.analytics.risk", imported) == [
        "pilot_health.analytics.risk imports pilot_health.ui.page",
        "pilot_health.analytics.risk imports streamlit.components.v1",
    ]
    assert _upward("pilot_health.store.queries", imported) == [
        "pilot_health.store.queries (store) imports pilot_health.ingest.engine (rules and register)",
        "pilot_health.store.queries (store) imports pilot_health.ui.page (ui)",
    ]


@pytest.mark.slow
def test_importing_the_domain_never_imports_streamlit():
    """Every module outside pilot_health.ui, ingest's included, imported in a fresh Python."""
    modules = sorted(m for m in _modules() if not m.startswith("pilot_health.ui") and not m.endswith("__main__"))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(len([m for m in sys.modules if m.startswith('pilot_health')]), 'streamlit' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    imported, streamlit = result.stdout.split()
    assert int(imported) >= len(modules) and streamlit == "False"


def test_pages_are_thin_and_never_talk_to_duckdb():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import duckdb|from duckdb)", text, re.M), page
        assert ".execute(" not in text, page
        assert "page_setup(" in text, f"{page.name} must call the shared page setup first"


def test_sql_lives_in_one_place():
    offenders = []
    for path in [*SRC.rglob("*.py"), *PAGES]:
        if path.is_relative_to(SRC) and path.relative_to(SRC).as_posix() in SQL_MODULES:
            continue
        if re.search(r"\.execute\(|\.sql\(", path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def _percent_helpers(text: str) -> list[str]:
    """The functions in `text` that write a number as a per cent themselves: a return of an f-string made
    of one value with a %-format (f"{x:.0%}") or one value and a % sign (f"{x * 100:.0f}%"), alone or
    with a blank for no value ("–" if x is None else …), or formatting.percent with a blank of its own."""

    def percent_string(node: ast.AST) -> bool:
        if isinstance(node, ast.IfExp):
            branches = (node.body, node.orelse)
            blank_and_percent = any(isinstance(b, ast.Constant) for b in branches) and any(
                isinstance(b, ast.Call) and getattr(b.func, "id", "") == "percent" for b in branches
            )
            return blank_and_percent or any(percent_string(b) for b in branches)
        if not isinstance(node, ast.JoinedStr):
            return False
        values = [v for v in node.values if isinstance(v, ast.FormattedValue)]
        literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        spec = values[0].format_spec if len(values) == 1 else None
        spec_text = "".join(v.value for v in spec.values if isinstance(v, ast.Constant)) if spec else ""
        return len(values) == 1 and literal.strip() in ("", "%") and (spec_text.endswith("%") or literal.strip() == "%")

    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            body = [node] if isinstance(node, ast.FunctionDef) else [ast.Return(node.body)]
            returns = [n.value for b in body for n in ast.walk(b) if isinstance(n, ast.Return) and n.value is not None]
            if returns and any(percent_string(r) for r in returns):
                found.append(getattr(node, "name", "lambda"))
    return found


def test_a_share_is_written_as_a_per_cent_in_one_place():
    """formatting.percent (and formatting.setting_percent for a setting's three digits) write every
    per cent, with the one blank "—": no module or page keeps a helper of its own (four did, three of
    them with "–" for no value)."""
    assert _percent_helpers("""
def pct(value) -> str:
    return "–" if value is None else f"{value:.0%}"
def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"
shown = lambda share: f"{share:.1%}"
def fine(share):
    return f"a {share:.0%} drop"
""") == ["pct", "_pct", "lambda"], "the scan finds a percent helper"
    offenders = {
        str(path.relative_to(ROOT)): helpers
        for path in [*SRC.rglob("*.py"), *PAGES]
        if path.name != "formatting.py" and (helpers := _percent_helpers(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
    from pilot_health.formatting import BLANK, percent, setting_percent

    assert (percent(0.5778), percent(None), percent(float("nan")), percent(0.125, 1)) == ("58%", BLANK, BLANK, "12.5%")
    assert (
        (setting_percent(0.6), setting_percent(0.125), setting_percent(None))
        == ("60%", "12.5%", BLANK)
        == (
            "60%",
            "12.5%",
            "—",
        )
    )


def test_nothing_is_rendered_as_raw_html():
    for path in [*SRC.rglob("*.py"), *PAGES]:
        assert "unsafe_allow_html" + "=True" not in path.read_text(encoding="utf-8"), path


def test_the_only_scripts_on_any_page_are_the_sign_in_screens_constants():
    """st.html runs scripts only in ui/signin.py, and only its module constants (which keep and
    return to the address a sign-in started from) — never text that was typed or uploaded."""
    from pilot_health.ui import signin

    for path in [*SRC.rglob("*.py"), *PAGES]:
        text = path.read_text(encoding="utf-8")
        calls = re.findall(r"st\.html\(([^)]*)\)", text)
        if path.name != "signin.py":
            assert calls == [], path
            continue
        assert sorted(calls) == sorted(
            f"{name}, unsafe_allow_javascript=True"
            for name in ("REMEMBER_VIEW_JS", "RETURN_TO_VIEW_JS", "FORGET_VIEW_JS")
        )
        for name in ("REMEMBER_VIEW_JS", "RETURN_TO_VIEW_JS", "FORGET_VIEW_JS"):
            assert isinstance(getattr(signin, name), str)


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for setting in SETTINGS:
        row = re.search(rf"^\| `{setting.env}` \| `([^`]*)` \|", doc, re.M)
        assert row, f"{setting.env} is not documented in docs/configuration.md"
        assert row.group(1) == setting.default, f"docs/configuration.md gives another default for {setting.env}"


def test_every_register_column_is_documented():
    doc = (ROOT / "docs" / "pilot-register.md").read_text(encoding="utf-8")
    for field in PILOT_FIELDS:
        assert f"| `{field}` |" in doc, field


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["python3 run.py", "python3 run.py test"]
    assert readme.index("```bash") < 50, "the commands come first"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 run.py test" in ci
