"""The lint ratchet (tools/lint_ratchet.py): findings above lint-baseline.json fail, fewer findings pass
and are reported, and `--update` shrinks the baseline but never grows it without `--allow-growth`.

The tools' outputs here are synthetic but in their real formats (ruff's JSON, mypy's JSON lines), and
the command runs in this process against a baseline file in a temporary folder. Whether the committed
baseline matches the code is what `python3 run.py test` checks before pytest, not this file."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ratchet(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("lint_ratchet_under_test", ROOT / "tools" / "lint_ratchet.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "BASELINE", tmp_path / "lint-baseline.json")
    return module


def ruff_json(*findings: tuple[str, str, int]) -> str:
    """`ruff check --output-format json` for (file, code, row), with absolute paths as ruff writes them."""
    return json.dumps(
        [
            {
                "cell": None,
                "code": code,
                "filename": str(ROOT / path),
                "location": {"column": 5, "row": row},
                "end_location": {"column": 9, "row": row},
                "message": f"message of {code}",
                "name": "rule-name",
                "fix": None,
                "severity": "error",
            }
            for path, code, row in findings
        ]
    )


def format_json(*paths: str) -> str:
    return json.dumps([{"code": "unformatted", "filename": str(ROOT / path), "location": {"row": 1}} for path in paths])


def mypy_json(*errors: tuple[str, str, int]) -> str:
    """`mypy -O json`: one object per line, each error followed by a note that must not be counted."""
    lines = []
    for path, code, line in errors:
        error = {"file": path, "line": line, "column": 4, "message": f"bad {code}", "hint": None, "code": code}
        lines.append(json.dumps(error | {"severity": "error"}))
        lines.append(json.dumps(error | {"message": "a note", "severity": "note"}))
    return "\n".join(lines) + "\n"


def findings(ratchet, ruff=(), unformatted=(), mypy=()):
    found = ratchet.Findings()
    found.ruff = ratchet.parse_ruff(ruff_json(*ruff))
    found.unformatted = ratchet.parse_ruff_format(format_json(*unformatted))
    found.mypy = ratchet.parse_mypy(mypy_json(*mypy))
    return found


BASE_RUFF = [
    ("src/pilot_health/risk.py", "E501", 10),
    ("src/pilot_health/risk.py", "E501", 20),
    ("src/pilot_health/risk.py", "UP045", 30),
    ("app.py", "I001", 1),
]
BASE_MYPY = [("src/pilot_health/store.py", "index", 351), ("src/pilot_health/store.py", "index", 420)]


@pytest.fixture
def committed(ratchet):
    """A baseline as --update would write it, from BASE_RUFF, two unformatted files and BASE_MYPY."""
    baseline = ratchet.baseline_from(findings(ratchet, BASE_RUFF, ["app.py", "run.py"], BASE_MYPY))
    ratchet.BASELINE.write_text(ratchet.dumps_baseline(baseline), encoding="utf-8")
    return baseline


def run(ratchet, monkeypatch, found, *argv):
    monkeypatch.setattr(ratchet, "run_checks", lambda: found)
    return ratchet.main(list(argv))


def test_the_tools_output_is_counted_per_file_and_code_with_paths_relative_to_the_repository(ratchet):
    found = findings(ratchet, BASE_RUFF, ["app.py"], BASE_MYPY)
    assert ratchet.count(found.ruff) == {"app.py": {"I001": 1}, "src/pilot_health/risk.py": {"E501": 2, "UP045": 1}}
    assert found.unformatted == {"app.py"}
    assert ratchet.count(found.mypy) == {"src/pilot_health/store.py": {"index": 2}}  # the notes are not errors
    assert str(found.ruff[0]) == "src/pilot_health/risk.py:10:5: E501 message of E501"


def test_the_baseline_file_reads_back_as_written_with_one_line_per_file(ratchet, committed):
    text = ratchet.BASELINE.read_text(encoding="utf-8")
    assert json.loads(text) == committed
    assert '    "app.py": {"I001": 1},\n    "src/pilot_health/risk.py": {"E501": 2, "UP045": 1}\n' in text
    assert '    "run.py"\n' in text


def test_the_same_findings_pass(ratchet, committed, monkeypatch, capsys):
    assert run(ratchet, monkeypatch, findings(ratchet, BASE_RUFF, ["app.py", "run.py"], BASE_MYPY)) == 0
    said = capsys.readouterr().out
    assert "passed: nothing above the baseline" in said
    assert "ruff check       4 findings (baseline 4)" in said
    assert "went down" not in said


def test_a_new_rule_in_a_file_fails_and_is_printed_with_its_place(ratchet, committed, monkeypatch, capsys):
    new = BASE_RUFF + [("src/pilot_health/risk.py", "B905", 77)]
    assert run(ratchet, monkeypatch, findings(ratchet, new, ["app.py", "run.py"], BASE_MYPY)) == 1
    said = capsys.readouterr().out
    assert "FAILED: 1 new findings above the baseline" in said
    assert "ruff check: src/pilot_health/risk.py: 1 new B905" in said
    assert "src/pilot_health/risk.py:77:5: B905 message of B905" in said


def test_a_new_file_with_findings_fails(ratchet, committed, monkeypatch, capsys):
    new = BASE_MYPY + [("src/pilot_health/brand_new.py", "union-attr", 3)]
    assert run(ratchet, monkeypatch, findings(ratchet, BASE_RUFF, ["app.py", "run.py"], new)) == 1
    assert "mypy: src/pilot_health/brand_new.py: 1 new union-attr" in capsys.readouterr().out


def test_one_more_of_a_baselined_rule_fails_and_lists_every_candidate(ratchet, committed, monkeypatch, capsys):
    new = BASE_RUFF + [("src/pilot_health/risk.py", "E501", 99)]
    assert run(ratchet, monkeypatch, findings(ratchet, new, ["app.py", "run.py"], BASE_MYPY)) == 1
    said = capsys.readouterr().out
    assert "ruff check: src/pilot_health/risk.py: E501 2 → 3 (one or more of these is new)" in said
    for row in (10, 20, 99):
        assert f"src/pilot_health/risk.py:{row}:5: E501" in said


def test_a_file_not_formatted_outside_the_list_fails_so_new_files_must_be_formatted(
    ratchet, committed, monkeypatch, capsys
):
    found = findings(ratchet, BASE_RUFF, ["app.py", "run.py", "src/pilot_health/new_module.py"], BASE_MYPY)
    assert run(ratchet, monkeypatch, found) == 1
    assert "ruff format: src/pilot_health/new_module.py is not formatted" in capsys.readouterr().out


def test_fewer_findings_pass_and_are_reported_with_the_update_command(ratchet, committed, monkeypatch, capsys):
    fewer = [finding for finding in BASE_RUFF if finding[2] != 20]
    assert run(ratchet, monkeypatch, findings(ratchet, fewer, ["app.py"], BASE_MYPY[:1])) == 0
    said = capsys.readouterr().out
    assert "3 baseline entries went down" in said
    assert "ruff check: src/pilot_health/risk.py: E501 2 → 1" in said
    assert "ruff format: run.py is formatted now" in said
    assert "mypy: src/pilot_health/store.py: index 2 → 1" in said
    assert "tools/lint_ratchet.py --update" in said
    assert json.loads(ratchet.BASELINE.read_text(encoding="utf-8")) == committed  # a check never writes


def test_update_shrinks_the_baseline_to_what_is_left(ratchet, committed, monkeypatch, capsys):
    fewer = [finding for finding in BASE_RUFF if finding[1] != "UP045"]
    assert run(ratchet, monkeypatch, findings(ratchet, fewer, ["app.py"], []), "--update") == 0
    written = json.loads(ratchet.BASELINE.read_text(encoding="utf-8"))
    assert written["ruff"] == {"app.py": {"I001": 1}, "src/pilot_health/risk.py": {"E501": 2}}
    assert written["ruff_format"] == ["app.py"]
    assert written["mypy"] == {}
    said = capsys.readouterr().out
    assert "ruff check: 4 → 3" in said and "ruff format: 2 → 1" in said and "mypy: 2 → 0" in said


def test_update_refuses_to_grow_the_baseline_and_writes_nothing(ratchet, committed, monkeypatch, capsys):
    # Some findings fixed, one new: the update is refused as a whole, so the new one cannot slip in.
    grown = [finding for finding in BASE_RUFF if finding[1] != "UP045"] + [("app.py", "F401", 3)]
    assert run(ratchet, monkeypatch, findings(ratchet, grown, ["app.py", "run.py"], BASE_MYPY), "--update") == 1
    said = capsys.readouterr().out
    assert "Refusing to update: the baseline only shrinks" in said
    assert "ruff check: app.py: 1 new F401" in said
    assert "--allow-growth" in said
    assert json.loads(ratchet.BASELINE.read_text(encoding="utf-8")) == committed


def test_a_maintainer_can_accept_growth_explicitly(ratchet, committed, monkeypatch, capsys):
    # A file moved: its findings now sit under the new path.
    moved = [(path.replace("risk.py", "analytics/risk.py"), code, row) for path, code, row in BASE_RUFF]
    found = findings(ratchet, moved, ["app.py", "run.py"], BASE_MYPY)
    assert run(ratchet, monkeypatch, found, "--update", "--allow-growth") == 0
    written = json.loads(ratchet.BASELINE.read_text(encoding="utf-8"))
    assert written["ruff"]["src/pilot_health/analytics/risk.py"] == {"E501": 2, "UP045": 1}
    assert "src/pilot_health/risk.py" not in written["ruff"]
    said = capsys.readouterr().out
    assert "Accepting 2 new or grown entries (--allow-growth)" in said
    assert "ruff check: 4 → 4" in said


def test_allow_growth_needs_update(ratchet, committed, monkeypatch):
    with pytest.raises(SystemExit) as stopped:
        run(ratchet, monkeypatch, findings(ratchet), "--allow-growth")
    assert stopped.value.code == 2


def test_a_missing_tool_fails_the_check_instead_of_reading_as_no_findings(ratchet, committed, monkeypatch, capsys):
    monkeypatch.setattr(ratchet.importlib.util, "find_spec", lambda name: None)
    assert ratchet.main([]) == 2
    assert "ruff check is not installed" in capsys.readouterr().out


def test_a_tool_that_crashes_fails_the_check(ratchet):
    # `python -m json.tool` on a missing file exits 2, as ruff and mypy do on a configuration error.
    with pytest.raises(ratchet.ToolFailed, match=r"(?s)json.tool failed \(exit 2\): .*/nonexistent/file.json"):
        ratchet.run_tool("json.tool", ["json.tool", "/nonexistent/file.json"])


@pytest.mark.slow
def test_the_real_tools_output_is_read(ratchet, tmp_path):
    """ruff and mypy as pinned, on a small module with one finding of each kind, in the formats the
    ratchet asks them for (the synthetic outputs above stand for these)."""
    module = tmp_path / "pkg" / "module.py"
    module.parent.mkdir()
    module.write_text('import os\n\nx: int = "a"\ny = [1,\n  2]\n', encoding="utf-8")
    config = ["--config", str(ROOT / "pyproject.toml")]

    def tool(*arguments):
        command = [sys.executable, "-m", *arguments]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True).stdout

    ruff = ratchet.parse_ruff(tool("ruff", "check", *config, "--output-format", "json", "--exit-zero", "."), tmp_path)
    assert [(f.path, f.code, f.line) for f in ruff] == [("pkg/module.py", "F401", 1)]
    unformatted = tool("ruff", "format", *config, "--check", "--output-format", "json", ".")
    assert ratchet.parse_ruff_format(unformatted, tmp_path) == {"pkg/module.py"}
    mypy = tool("mypy", "-O", "json", "--no-incremental", "--cache-dir", os.devnull, "pkg/module.py")
    assert [(f.path, f.code, f.line, f.column) for f in ratchet.parse_mypy(mypy, tmp_path)] == [
        ("pkg/module.py", "assignment", 3, 10)
    ]
