"""Project rules that keep the code base honest: layering, one place for SQL, documented settings,
the two commands."""
from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT
from pilot_health.config import SETTINGS
from pilot_health.models import PILOT_FIELDS

SRC = ROOT / "src" / "pilot_health"
PAGES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
# SQL on the store's tables lives in queries.py (plus the store's own bookkeeping and the
# migrations); the ingest pipeline's SQL on its temporary tables lives in ingest/engine.py and
# ingest/values.py.
SQL_MODULES = {"queries.py", "store.py", "migrations.py", "engine.py", "values.py"}


def test_importing_the_domain_never_imports_streamlit():
    modules = sorted(p.stem for p in SRC.glob("*.py") if p.stem != "__main__")
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module('pilot_health.' + name)\n"
        "print('streamlit' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_pages_are_thin_and_never_talk_to_duckdb():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import duckdb|from duckdb)", text, re.M), page
        assert ".execute(" not in text, page
        assert "page_setup(" in text, f"{page.name} must call the shared page setup first"


def test_sql_lives_in_one_place():
    offenders = []
    for path in [*SRC.rglob("*.py"), *PAGES]:
        if path.name in SQL_MODULES:
            continue
        if re.search(r"\.execute\(|\.sql\(", path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


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
        assert sorted(calls) == sorted(f"{name}, unsafe_allow_javascript=True" for name in
                                       ("REMEMBER_VIEW_JS", "RETURN_TO_VIEW_JS", "FORGET_VIEW_JS"))
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
