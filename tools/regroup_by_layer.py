#!/usr/bin/env python3
"""Regroup src/pilot_health by layer, in one mechanical step: one subpackage per layer.

    .venv/bin/python tools/regroup_by_layer.py            move, rewrite, sort imports, format
    .venv/bin/python tools/regroup_by_layer.py --check    only say whether it would run (nothing changes)

Run it once, on a clean work tree, after every branch is merged; then run tests/test_architecture.py,
`python -m pilot_health --help` and tools/lint_ratchet.py, and commit the result as one change.

What it does, in this order:

1. refuses to run when the work tree is not clean, when a module or file under src/pilot_health is
   not placed by the tables below (add it to MOVES or STAYS), when a moved module reads a file next
   to itself (`__file__`) and FIXES does not say how, or when the package is regrouped already;
2. rewrites, in every tracked .py, .md, .toml, .yaml and lint-baseline.json (src/, tests/, bench/,
   pages/, app.py, run.py, tools/, docs/, README.md, pyproject.toml, .pre-commit-config.yaml):
   - relative imports inside the package (`from .x import y`, `from . import x`, `from ..x import y`)
     into absolute ones;
   - dotted names `pilot_health.<old>` (imports, `import pilot_health.x`, monkeypatch and mock
     targets, importlib.import_module("..."), docs) into `pilot_health.<new>`;
   - `from pilot_health import x, y` into one import per package, each keeping its local name
     (`from pilot_health.store import database as store`), so the code below it does not change;
   - file paths `pilot_health/<old>.py` (docs, comments, lint-baseline.json keys) into the new paths;
   - tests/test_architecture.py: LAYERS written anew from the packages, PAGE_ENTRY_POINTS and
     SQL_MODULES with the new names; docs/developing.md: the Layers table;
   - FIXES: the few lines that find a resource next to a moved module;
3. `git mv`s each module and writes each new subpackage's __init__.py (a docstring only);
4. runs `ruff check --select I --fix` and `ruff format` on the Python files it changed;
5. prints what it moved and rewrote, and mentions it could not rewrite (bare file names of
   renamed modules in prose).

Nothing is committed: review `git status` / `git diff --stat -M`, run the checks, commit.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "pilot_health"
SRC = ROOT / "src" / PACKAGE

# -- the mapping (the one table to edit) ----------------------------------------------------------
# Old module (dotted, without `pilot_health.`) -> new module. A module from another branch must be
# added here or to STAYS before the script runs; it refuses otherwise and lists what is missing.
MOVES: dict[str, str] = {
    # store/: the one class that owns the DuckDB file, its SQL, its migrations and backups
    "store": "store.database",
    "queries": "store.queries",
    "migrations": "store.migrations",
    "backup": "store.backup",
    # rules/: the rules the numbers are judged by
    "catalogue": "rules.catalogue",
    "thresholds": "rules.thresholds",
    "metric_dictionary": "rules.metric_dictionary",
    # register/: the pilot register
    "pilots": "register.pilots",
    # ingest/: the upload pipeline and the templates it offers
    "upload_templates": "ingest.upload_templates",
    # analytics/: computations on what is stored
    "adoption": "analytics.adoption",
    "alignment": "analytics.alignment",
    "evidence": "analytics.evidence",
    "pilot_numbers": "analytics.pilot_numbers",
    "risk": "analytics.risk",
    "portfolio": "analytics.portfolio",
    # reports/: what people read (meetings imports results and risk, so it is a report, not the register)
    "adoption_report": "reports.adoption_report",
    "alignment_report": "reports.alignment_report",
    "results": "reports.results",
    "changes": "reports.changes",
    "meetings": "reports.meetings",
    "alerts": "reports.alerts",
    "notify": "reports.notify",
    "charts": "reports.charts",
    "steering_pack": "reports.steering_pack",
    # demo/
    "demo": "demo.portfolio",
    "demo_stories": "demo.stories",
}
# Top-level modules that stay where they are (the foundation and the command line).
STAYS = {"", "__main__", "errors", "config", "models", "lazy", "formatting", "csv_files", "access", "cli"}
# Subpackages that stay as they are, every module in them included (new ones from other branches too).
STAYING_PACKAGES = {"ingest", "ui"}
# Files under src/pilot_health that are not modules and stay where they are.
RESOURCES = {"fonts"}

# The new subpackages: their layer (a name in LAYERS of tests/test_architecture.py) and what their
# __init__.py says. The staying subpackages keep their layer.
PACKAGES: dict[str, tuple[str, str]] = {
    "store": (
        "store",
        "The store: the one class that owns the DuckDB file (`database.Store`), the SQL on its tables "
        "(`queries`), its migrations and its backups.",
    ),
    "rules": (
        "rules and register",
        "The rules the numbers are judged by: the catalogue of signals, the thresholds, the metric dictionary.",
    ),
    "register": ("rules and register", "The pilot register: adding, changing and importing pilots."),
    "analytics": (
        "analytics",
        "Computations on what is stored: adoption, alignment, evidence, each pilot's numbers, risk, the portfolio.",
    ),
    "reports": (
        "reports",
        "What people read: report tables, results kept per store version, changes, meetings and decisions, "
        "alerts and their notifications, charts and the steering pack.",
    ),
    "demo": ("demo", "The demo portfolio and its stories (loaded through the layers below, like a person would)."),
}
# What each layer holds, written above it in LAYERS (tests/test_architecture.py).
LAYER_COMMENTS = {
    "foundation": "Settings, errors, the register's fields and labels, number and CSV formats, who may do what.",
    "store": "store/: the one class that owns the DuckDB file, its SQL, its migrations and backups.",
    "rules and register": "rules/ (catalogue, thresholds, metric dictionary), register/ (the pilots) and ingest/ "
    "(the upload pipeline and its templates): what is kept and changed.",
    "analytics": "analytics/: computations on what is stored.",
    "reports": "reports/: what people read (report tables, results, changes, meetings and decisions, alerts, "
    "charts, the steering pack).",
    "demo": "demo/: the demo portfolio (loads through the layers below, like a person would).",
    "command line": "The two ways in: the command line and the dashboard's shared UI code (which never import "
    "each other).",
}
# Lines that find a resource relative to a moved module: (new path under src/pilot_health, old text, new text).
FIXES: list[tuple[str, str, str]] = [
    # the fonts stay at the package's top (pyproject.toml's package-data, tests/pack_layout.py)
    ("reports/steering_pack.py", 'Path(__file__).parent / "fonts"', 'Path(__file__).parents[1] / "fonts"'),
]
# Files not rewritten: this script, and a test whose paths are made up (it moves risk.py itself).
SKIP = {"tools/regroup_by_layer.py", "tests/test_lint_ratchet.py"}
SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".ini"}
EXTRA_FILES = {"lint-baseline.json"}
ARCHITECTURE_TEST = "tests/test_architecture.py"
DEVELOPING = "docs/developing.md"


class Refused(Exception):
    """The script will not run; the message says why and what to do."""


# -- small helpers --------------------------------------------------------------------------------


def git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def module_path(module: str) -> Path:
    """src/pilot_health/<module as a path>.py (the package's own __init__ for "")."""
    return SRC.joinpath(*module.split(".")).with_suffix(".py") if module else SRC / "__init__.py"


def module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# -- the checks before anything changes ------------------------------------------------------------


def preflight() -> None:
    if git("status", "--porcelain", "--untracked-files=all").strip():
        raise Refused("the work tree is not clean: commit or stash first (git status), then run this again")
    gone = [old for old in MOVES if not module_path(old).exists()]
    there = [new for new in MOVES.values() if module_path(new).exists()]
    packages_there = [p for p in PACKAGES if (SRC / p / "__init__.py").exists()]
    if len(gone) == len(MOVES) and len(there) == len(MOVES):
        raise Refused("the package is regrouped already (every module in MOVES is in its new place): nothing to do")
    if gone or there or packages_there:
        raise Refused(
            "the package is partly regrouped, so nothing was changed: "
            + "; ".join(
                part
                for part in (
                    f"gone from their old places: {', '.join(sorted(gone))}" if gone else "",
                    f"already in their new places: {', '.join(sorted(there))}" if there else "",
                    f"packages already there: {', '.join(sorted(packages_there))}" if packages_there else "",
                )
                if part
            )
        )
    unplaced = []
    for path in sorted(SRC.rglob("*")):
        if "__pycache__" in path.parts or path.is_dir():
            continue
        top = path.relative_to(SRC).parts[0]
        if top in RESOURCES:
            continue
        if path.suffix != ".py":
            unplaced.append(f"{rel(path)} (a file, not a module: add its top folder to RESOURCES or move it)")
            continue
        module = module_of(path)
        if module in MOVES or module in STAYS or module.split(".")[0] in STAYING_PACKAGES:
            continue
        unplaced.append(f"{rel(path)} (module {PACKAGE}.{module})")
    if unplaced:
        raise Refused(
            "these are not placed by the mapping; add each to MOVES (or STAYS) at the top of "
            "tools/regroup_by_layer.py:\n  " + "\n  ".join(unplaced)
        )
    for package, (layer, _) in PACKAGES.items():
        if layer not in layer_names():
            raise Refused(
                f"PACKAGES gives {package}/ the layer {layer!r}, which is not in LAYERS of {ARCHITECTURE_TEST}"
            )
    for new in MOVES.values():
        package = new.split(".")[0]
        if "." not in new or (package not in PACKAGES and package not in STAYING_PACKAGES):
            raise Refused(f"MOVES sends a module to {new}: put it in a subpackage listed in PACKAGES")
    fixed = {path for path, _, _ in FIXES}
    for old, new in MOVES.items():
        text = module_path(old).read_text(encoding="utf-8")
        if "__file__" in text and f"{new.replace('.', '/')}.py" not in fixed:
            raise Refused(
                f"{rel(module_path(old))} uses __file__ (a resource next to it?): say in FIXES how its path "
                "changes once it moves"
            )
    for fixed_path, old_text, _ in FIXES:
        olds = [old for old, new in MOVES.items() if f"{new.replace('.', '/')}.py" == fixed_path]
        if not olds:
            raise Refused(f"FIXES names {fixed_path}, which no module in MOVES becomes")
        source = module_path(olds[0])
        if old_text not in source.read_text(encoding="utf-8"):
            raise Refused(f"FIXES: {old_text!r} is no longer in {rel(source)}: update the FIXES entry")


def assigned(node: ast.stmt) -> tuple[str, ast.expr] | None:
    """(name, value) of a module-level `NAME = value` or `NAME: type = value`."""
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return node.target.id, node.value
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    return None


def old_layers() -> list[tuple[str, list[str]]]:
    """LAYERS of tests/test_architecture.py, each layer's members in the order they are written."""
    tree = ast.parse((ROOT / ARCHITECTURE_TEST).read_text(encoding="utf-8"))
    for node in tree.body:
        found = assigned(node)
        if found and found[0] == "LAYERS" and isinstance(found[1], ast.List):
            return [
                (ast.literal_eval(layer.elts[0]), [ast.literal_eval(m) for m in layer.elts[1].elts])  # type: ignore[attr-defined]
                for layer in found[1].elts
            ]
    raise Refused(f"LAYERS not found in {ARCHITECTURE_TEST}")


def layer_names() -> list[str]:
    return [name for name, _ in old_layers()]


# -- rewriting text ---------------------------------------------------------------------------------

# Module file names that change (store.py -> database.py), for the file names in SQL_MODULES.
RENAMED_FILES = {
    f"{old}.py": f"{new.rpartition('.')[2]}.py" for old, new in MOVES.items() if old != new.rpartition(".")[2]
}
DOTTED = re.compile(
    rf"(?<![\w.]){PACKAGE}\.(" + "|".join(sorted(map(re.escape, MOVES), key=len, reverse=True)) + r")(?![\w])"
)
SLASHED = re.compile(
    rf"(?<![\w.]){PACKAGE}/(" + "|".join(sorted(map(re.escape, MOVES), key=len, reverse=True)) + r")\.py(?![\w])"
)


BACKTICKED = re.compile(r"`(" + "|".join(sorted(map(re.escape, MOVES), key=len, reverse=True)) + r")\.py`")


def rewrite_names(text: str) -> str:
    """`pilot_health.<old>` -> `pilot_health.<new>` and `pilot_health/<old>.py` -> `pilot_health/<new path>.py`."""
    text = DOTTED.sub(lambda m: f"{PACKAGE}.{MOVES[m.group(1)]}", text)
    return SLASHED.sub(lambda m: f"{PACKAGE}/{MOVES[m.group(1)].replace('.', '/')}.py", text)


def replace_spans(text: str, edits: list[tuple[int, int, int, int, str]]) -> str:
    """Replace (line, column)-(end line, end column) spans (1-based lines, as ast gives them), last first."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(line: int, column: int) -> int:
        return offsets[line - 1] + len(lines[line - 1].encode("utf-8")[:column].decode("utf-8"))

    for first, column, last, end_column, new in sorted(edits, reverse=True):
        start, end = at(first, column), at(last, end_column)
        text = text[:start] + new + text[end:]
    return text


def absolute_imports(text: str, package: str) -> str:
    """`from .x import y` in the module of `package` -> `from pilot_health.<package>.x import y`."""
    edits = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            absolute = ".".join(base + ([node.module] if node.module else []))
            line = text.splitlines()[node.lineno - 1]
            head = re.compile(r"from\s+\.+\s*[\w.]*\s+import").match(line, node.col_offset)
            if not head:
                raise Refused(f"cannot read the relative import on line {node.lineno} of {PACKAGE}.{package}")
            edits.append((node.lineno, node.col_offset, node.lineno, head.end(), f"from {absolute} import"))
    return replace_spans(text, _to_bytes_columns(text, edits))


def _to_bytes_columns(text: str, edits: list[tuple[int, int, int, int, str]]) -> list[tuple[int, int, int, int, str]]:
    """Character columns (from re on a str line) -> byte columns (as ast gives them, and replace_spans takes)."""
    lines = text.splitlines()
    return [
        (a, len(lines[a - 1][:b].encode("utf-8")), c, len(lines[c - 1][:d].encode("utf-8")), new)
        for a, b, c, d, new in edits
    ]


def split_package_imports(text: str) -> str:
    """`from pilot_health import store, config` -> `from pilot_health import config` and
    `from pilot_health.store import database as store`: each name keeps its local name."""
    edits = []
    for node in ast.walk(ast.parse(text)):
        if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == PACKAGE):
            continue
        if not any(alias.name in MOVES for alias in node.names):
            continue
        groups: dict[str, list[str]] = {}
        for alias in node.names:
            local = alias.asname or alias.name
            if alias.name in MOVES:
                package, _, leaf = f"{PACKAGE}.{MOVES[alias.name]}".rpartition(".")
            else:
                package, leaf = PACKAGE, alias.name
            groups.setdefault(package, []).append(leaf if leaf == local else f"{leaf} as {local}")
        indent = " " * node.col_offset
        comments = re.findall(r"#.*", ast.get_source_segment(text, node) or "")  # inside the parentheses
        statements = [f"from {package} import {', '.join(names)}" for package, names in groups.items()]
        new = ("\n" + indent).join([*comments, *statements])
        edits.append((node.lineno, node.col_offset, node.end_lineno or node.lineno, node.end_col_offset or 0, new))
    return replace_spans(text, edits)


def new_layers(layers: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """LAYERS with one subpackage per layer: the staying top-level modules by name, each package as
    "pkg" and "pkg.*"."""
    result = []
    for name, members in layers:
        kept = [m for m in members if m in STAYS]
        for package, (layer, _) in PACKAGES.items():
            if layer == name:
                kept += [package, f"{package}.*"]
        for package in sorted(STAYING_PACKAGES):
            if package in members or f"{package}.*" in members:
                kept += [package, f"{package}.*"]
        result.append((name, kept))
    return result


def rewrite_architecture_test(text: str, layers: list[tuple[str, list[str]]]) -> str:
    tree = ast.parse(text)
    edits = []
    for node in tree.body:
        found = assigned(node)
        if not found:
            continue
        name_assigned, segment = found[0], ast.get_source_segment(text, node) or ""
        if name_assigned == "LAYERS":
            body = ["LAYERS: list[tuple[str, set[str]]] = ["]
            for name, members in new_layers(layers):
                if name in LAYER_COMMENTS:
                    body += textwrap.wrap(
                        LAYER_COMMENTS[name], width=112, initial_indent="    # ", subsequent_indent="    # "
                    )
                body.append(f"    ({json.dumps(name)}, {{{', '.join(json.dumps(m) for m in members)}}}),")
            body.append("]")
            new = "\n".join(body)
        elif name_assigned == "PAGE_ENTRY_POINTS":
            new = re.sub(r'"(\w+)"', lambda m: json.dumps(MOVES.get(m.group(1), m.group(1))), segment)
        elif name_assigned == "SQL_MODULES":
            new = re.sub(r'"(\w+\.py)"', lambda m: json.dumps(RENAMED_FILES.get(m.group(1), m.group(1))), segment)
        else:
            continue
        edits.append((node.lineno, node.col_offset, node.end_lineno or node.lineno, node.end_col_offset or 0, new))
    if len(edits) != 3:
        raise Refused(f"{ARCHITECTURE_TEST}: LAYERS, PAGE_ENTRY_POINTS or SQL_MODULES not found")
    return replace_spans(text, edits)


def rewrite_developing(text: str, layers: list[tuple[str, list[str]]]) -> str:
    """The Layers table of docs/developing.md, one row per layer, each subpackage with its modules."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("| Layer | Modules |")) + 2
    except StopIteration:
        return text
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    old_rows = {line.split("|")[1].strip(): line for line in lines[start:end]}
    rows = []
    for name, members in new_layers(layers):
        old_members = dict(layers)[name]
        untouched = not any(m in MOVES for m in old_members) and not any(
            layer == name for layer, _ in PACKAGES.values()
        )
        if untouched and name in old_rows:
            rows.append(old_rows[name])
            continue
        cells = [f"`{m}`" for m in members if m and "." not in m and m not in PACKAGES and m not in STAYING_PACKAGES]
        for package in [m for m in members if m in PACKAGES or m in STAYING_PACKAGES]:
            inside = ", ".join(f"`{new.rpartition('.')[2]}`" for new in MOVES.values() if new.startswith(package + "."))
            if package in STAYING_PACKAGES:
                cells.append(f"`{package}/`" + (f" (with {inside})" if inside else ""))
            else:
                cells.append(f"`{package}/` ({inside})")
        rows.append(f"| {name} | {', '.join(cells)} |\n")
    return "".join(lines[:start] + rows + lines[end:])


def rewrite_baseline(text: str) -> str:
    spec = importlib.util.spec_from_file_location("lint_ratchet", ROOT / "tools" / "lint_ratchet.py")
    assert spec and spec.loader
    ratchet = importlib.util.module_from_spec(spec)
    sys.modules["lint_ratchet"] = ratchet  # its dataclasses look their module up
    spec.loader.exec_module(ratchet)
    baseline = json.loads(text)
    for check in ("ruff", "mypy"):
        baseline[check] = {rewrite_names(path): codes for path, codes in baseline.get(check, {}).items()}
    baseline["ruff_format"] = [rewrite_names(path) for path in baseline.get("ruff_format", [])]
    return ratchet.dumps_baseline(baseline)


def rewrite_file(path: str, text: str, layers: list[tuple[str, list[str]]]) -> str:
    if path == "lint-baseline.json":
        return rewrite_baseline(text)
    if path.endswith(".py") and path.startswith(f"src/{PACKAGE}/"):
        module = module_of(ROOT / path)
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        text = absolute_imports(text, f"{PACKAGE}.{package}".rstrip("."))
    text = rewrite_names(text)
    if path.endswith(".md"):  # a module's file name on its own in the docs: `queries.py` -> `store/queries.py`
        text = BACKTICKED.sub(lambda m: f"`{MOVES[m.group(1)].replace('.', '/')}.py`", text)
    if path.endswith(".py"):
        text = split_package_imports(text)
    if path == ARCHITECTURE_TEST:
        text = rewrite_architecture_test(text, layers)
    if path == DEVELOPING:
        text = rewrite_developing(text, layers)
    return text


def stale_mentions(paths: list[str]) -> list[str]:
    """Bare file names of renamed modules (`store.py`) left in prose: for a person to read."""
    renamed = [old for old, new in MOVES.items() if old != new.rpartition(".")[2]]
    pattern = re.compile(r"(?<![\w/.])(" + "|".join(map(re.escape, renamed)) + r")\.py\b")
    found = []
    for path in paths:
        for number, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path}:{number}: {line.strip()[:110]}")
    return found


# -- the run ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether it would run")
    arguments = parser.parse_args(argv)
    try:
        preflight()
    except Refused as refusal:
        print(f"[regroup] refused: {refusal}")
        return 1
    if arguments.check:
        print(f"[regroup] ready: {len(MOVES)} modules would move into {', '.join(f'{p}/' for p in PACKAGES)}")
        return 0
    layers = old_layers()
    tracked = [
        path
        for path in git("ls-files").splitlines()
        if (Path(path).suffix in SUFFIXES or path in EXTRA_FILES) and path not in SKIP and (ROOT / path).is_file()
    ]
    new_texts: dict[str, str] = {}  # every rewrite is worked out before any file changes
    for path in tracked:
        text = (ROOT / path).read_text(encoding="utf-8")
        try:
            new = rewrite_file(path, text, layers)
        except (Refused, SyntaxError) as problem:
            print(f"[regroup] refused: cannot rewrite {path}: {problem}. Nothing was changed.")
            return 1
        if new != text:
            new_texts[path] = new
    for path, new in new_texts.items():
        (ROOT / path).write_text(new, encoding="utf-8")
    rewritten = list(new_texts)
    moved = []
    for old, new in MOVES.items():
        source, target = module_path(old), module_path(new)
        target.parent.mkdir(parents=True, exist_ok=True)
        git("mv", rel(source), rel(target))
        moved.append((rel(source), rel(target)))
    for path, old_text, new_text in FIXES:
        file = SRC / path
        file.write_text(file.read_text(encoding="utf-8").replace(old_text, new_text), encoding="utf-8")
    created = []
    for package, (_, docstring) in PACKAGES.items():
        init = SRC / package / "__init__.py"
        init.write_text("\n".join(textwrap.wrap(f'"""{docstring}"""', width=116)) + "\n", encoding="utf-8")
        git("add", rel(init))
        created.append(rel(init))
    renames = {old: new for old, new in moved}
    changed_python = sorted(
        {renames.get(f"{p}", p) for p in rewritten if p.endswith(".py")} | {new for _, new in moved} | set(created)
    )
    python = sys.executable
    for command in (
        [python, "-m", "ruff", "check", "--select", "I", "--fix", "--quiet", *changed_python],
        [python, "-m", "ruff", "format", "--quiet", *changed_python],
    ):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if result.returncode not in (0, 1):
            print(f"[regroup] {' '.join(command[2:5])} failed: {(result.stderr or result.stdout).strip()[-1500:]}")
            return 1
    print(f"[regroup] moved {len(moved)} modules:")
    for old, new in moved:
        print(f"[regroup]   {old} -> {new}")
    print(f"[regroup] created {len(created)} packages: {', '.join(created)}")
    print(f"[regroup] rewrote {len(rewritten)} files:")
    for path in rewritten:
        print(f"[regroup]   {renames.get(path, path)}")
    left = stale_mentions([renames.get(p, p) for p in tracked if p.endswith((".md", ".py"))])
    if left:
        print(
            f"[regroup] {len(left)} bare names of renamed modules left in prose (read them; rewrite by hand if stale):"
        )
        for line in left:
            print(f"[regroup]   {line}")
    print(
        "[regroup] done, nothing committed. Next: pytest tests/test_architecture.py, python -m pilot_health --help, "
        "tools/lint_ratchet.py; then commit as one change."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
