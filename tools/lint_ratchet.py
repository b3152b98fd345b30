#!/usr/bin/env python3
"""Lint, format and type checks against a baseline that only shrinks (a ratchet).

    .venv/bin/python tools/lint_ratchet.py                      check (python3 run.py test runs this first)
    .venv/bin/python tools/lint_ratchet.py --update             shrink the baseline to what is left
    .venv/bin/python tools/lint_ratchet.py --update --allow-growth   maintainers only: accept new findings

Three checks, configured in pyproject.toml:

- `ruff check` (rules E, F, W, B, I, UP, SIM at 120 columns): findings are counted per file and rule;
- `ruff format --check`: the files not yet formatted are listed;
- `mypy` (package pilot_health): errors are counted per file and error code.

`lint-baseline.json` holds what the code base had when the checks were introduced. The check fails
when a count goes above its baseline, when a (file, rule) pair that is not in the baseline appears,
or when a file that is not in the baseline's unformatted list is not formatted (so new files must be
formatted); it prints those findings. When counts go down it says so and passes: `--update` then
writes the smaller baseline. `--update` refuses to write a baseline with more findings than the
committed one unless `--allow-growth` is given, which is for maintainers after a mechanical change
(a file moved or renamed) — say why in the commit.

Only the standard library is used; ruff and mypy come from requirements-dev.txt and run with the
same Python as this script.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "lint-baseline.json"
CHECKS = ("ruff", "ruff_format", "mypy")
TITLES = {"ruff": "ruff check", "ruff_format": "ruff format", "mypy": "mypy"}
ABOUT = (
    "Findings accepted when the checks were introduced; it only shrinks. "
    "See docs/developing.md#lint-format-and-types and tools/lint_ratchet.py."
)
SHOWN = 30  # findings listed per regression before "... and N more"

Counts = dict[str, dict[str, int]]  # file -> rule or error code -> count


@dataclass
class Finding:
    path: str
    code: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.code} {self.message}"


@dataclass
class Findings:
    """What one run of the three checks found."""

    ruff: list[Finding] = field(default_factory=list)
    unformatted: set[str] = field(default_factory=set)
    mypy: list[Finding] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Comparison:
    """Findings against the baseline: `regressions` fail the check, `improvements` are reported."""

    regressions: list[str] = field(default_factory=list)
    improvements: list[str] = field(default_factory=list)


# -- reading the tools' output ------------------------------------------------------------------


def relative(path: str, root: Path = ROOT) -> str:
    """A path as the baseline writes it: relative to the repository, with forward slashes."""
    candidate = Path(path)
    if candidate.is_absolute() and candidate.resolve().is_relative_to(root.resolve()):
        candidate = candidate.resolve().relative_to(root.resolve())
    return candidate.as_posix()


def parse_ruff(output: str, root: Path = ROOT) -> list[Finding]:
    """`ruff check --output-format json`."""
    found = []
    for item in json.loads(output or "[]"):
        location = item.get("location") or {}
        found.append(
            Finding(
                relative(item["filename"], root),
                item.get("code") or "syntax-error",
                location.get("row") or 0,
                location.get("column") or 0,
                item.get("message", ""),
            )
        )
    return found


def parse_ruff_format(output: str, root: Path = ROOT) -> set[str]:
    """`ruff format --check --output-format json`: the files it would reformat."""
    return {relative(item["filename"], root) for item in json.loads(output or "[]")}


def parse_mypy(output: str, root: Path = ROOT) -> list[Finding]:
    """`mypy -O json`: one object per line; notes are part of the error before them, not counted."""
    found = []
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        item = json.loads(line)
        if item.get("severity") != "error":
            continue
        found.append(
            Finding(
                relative(item["file"], root),
                item.get("code") or "error",
                item.get("line") or 0,
                (item.get("column") or 0) + 1,
                item.get("message", ""),
            )
        )
    return found


def count(findings: Iterable[Finding]) -> Counts:
    counts: dict[str, Counter[str]] = {}
    for finding in findings:
        counts.setdefault(finding.path, Counter())[finding.code] += 1
    return {path: dict(sorted(codes.items())) for path, codes in sorted(counts.items())}


def total(counts: Counts) -> int:
    return sum(sum(codes.values()) for codes in counts.values())


# -- comparing with the baseline ----------------------------------------------------------------


def compare_counts(title: str, findings: list[Finding], baseline: Counts) -> Comparison:
    result = Comparison()
    current = count(findings)
    for path, codes in current.items():
        for code, now in codes.items():
            was = baseline.get(path, {}).get(code, 0)
            if now <= was:
                continue
            these = [finding for finding in findings if finding.path == path and finding.code == code]
            if was == 0:
                head = f"{title}: {path}: {now} new {code}"
            else:
                head = f"{title}: {path}: {code} {was} → {now} (one or more of these is new)"
            listed = [f"    {finding}" for finding in these[:SHOWN]]
            if len(these) > SHOWN:
                listed.append(f"    … and {len(these) - SHOWN} more")
            result.regressions.append("\n".join([head, *listed]))
    for path, codes in baseline.items():
        for code, was in codes.items():
            now = current.get(path, {}).get(code, 0)
            if now < was:
                result.improvements.append(f"{title}: {path}: {code} {was} → {now}")
    return result


def compare_unformatted(unformatted: set[str], baseline: list[str]) -> Comparison:
    result = Comparison()
    known = set(baseline)
    for path in sorted(unformatted - known):
        result.regressions.append(f"ruff format: {path} is not formatted (run: .venv/bin/python -m ruff format {path})")
    for path in sorted(known - unformatted):
        result.improvements.append(f"ruff format: {path} is formatted now (or gone)")
    return result


def compare(findings: Findings, baseline: dict) -> Comparison:
    result = Comparison()
    for part in (
        compare_counts("ruff check", findings.ruff, baseline.get("ruff", {})),
        compare_unformatted(findings.unformatted, baseline.get("ruff_format", [])),
        compare_counts("mypy", findings.mypy, baseline.get("mypy", {})),
    ):
        result.regressions += part.regressions
        result.improvements += part.improvements
    return result


def baseline_from(findings: Findings) -> dict:
    return {
        "about": ABOUT,
        "ruff": count(findings.ruff),
        "ruff_format": sorted(findings.unformatted),
        "mypy": count(findings.mypy),
    }


def sizes(baseline: dict) -> dict[str, int]:
    """How much each check's part of a baseline holds (findings, files, errors)."""
    return {
        "ruff": total(baseline.get("ruff", {})),
        "ruff_format": len(baseline.get("ruff_format", [])),
        "mypy": total(baseline.get("mypy", {})),
    }


def update(findings: Findings, baseline: dict, allow_growth: bool) -> tuple[dict | None, list[str]]:
    """The baseline to write and what to say; None when growth is refused."""
    comparison = compare(findings, baseline)
    if comparison.regressions and not allow_growth:
        return None, [
            "Refusing to update: the baseline only shrinks, and these findings are new:",
            *comparison.regressions,
            "Fix them. After a mechanical change (a file moved or renamed) a maintainer may accept them with "
            "--update --allow-growth, saying why in the commit.",
        ]
    new = baseline_from(findings)
    before, after = sizes(baseline), sizes(new)
    said = [f"{TITLES[check]}: {before[check]} → {after[check]}" for check in CHECKS]
    if comparison.regressions:
        said.insert(0, f"Accepting {len(comparison.regressions)} new or grown entries (--allow-growth).")
    return new, said


# -- the baseline file --------------------------------------------------------------------------


def load_baseline(path: Path | None = None) -> dict:
    path = path or BASELINE
    if not path.exists():
        return {"ruff": {}, "ruff_format": [], "mypy": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def dumps_baseline(baseline: dict) -> str:
    """JSON with one line per file, so a change (and a merge) touches only the files it concerns."""
    lines = ["{", f'  "about": {json.dumps(baseline.get("about", ABOUT), ensure_ascii=False)},']
    for index, check in enumerate(CHECKS):
        last = index == len(CHECKS) - 1
        part = baseline.get(check, [] if check == "ruff_format" else {})
        if check == "ruff_format":
            items = [f"    {json.dumps(path)}" for path in sorted(part)]
            opening, closing = "[", "]"
        else:
            items = [
                f"    {json.dumps(path)}: {json.dumps(dict(sorted(codes.items())))}"
                for path, codes in sorted(part.items())
            ]
            opening, closing = "{", "}"
        if items:
            lines += [f'  "{check}": {opening}', ",\n".join(items), f"  {closing}" + ("" if last else ",")]
        else:
            lines.append(f'  "{check}": {opening}{closing}' + ("" if last else ","))
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- running the tools --------------------------------------------------------------------------


class ToolFailed(Exception):
    """A tool could not run (not installed, a configuration error, a crash)."""


def run_tool(name: str, arguments: list[str], accepted: tuple[int, ...] = (0, 1)) -> str:
    """The tool's standard output; ToolFailed when it is missing or exits with a code not in `accepted`.

    A missing module must not read as "no findings": `python -m` would exit 1 with nothing on stdout."""
    if importlib.util.find_spec(arguments[0]) is None:
        raise ToolFailed(
            f"{name} is not installed in {sys.executable} (it is pinned in requirements-dev.txt; "
            "python3 run.py test installs it)"
        )
    command = [sys.executable, "-m", *arguments]
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    except OSError as error:
        raise ToolFailed(f"{name} could not start: {error}") from error
    if result.returncode not in accepted:
        said = (result.stderr or result.stdout).strip()
        raise ToolFailed(f"{name} failed (exit {result.returncode}): {said[-2000:] or 'no output'}")
    return result.stdout


def run_checks() -> Findings:
    findings = Findings()
    started = time.perf_counter()
    findings.ruff = parse_ruff(
        run_tool("ruff check", ["ruff", "check", "--output-format", "json", "--exit-zero"], accepted=(0,))
    )
    findings.seconds["ruff"] = time.perf_counter() - started
    started = time.perf_counter()
    findings.unformatted = parse_ruff_format(
        run_tool("ruff format", ["ruff", "format", "--check", "--output-format", "json"])
    )
    findings.seconds["ruff_format"] = time.perf_counter() - started
    started = time.perf_counter()
    findings.mypy = parse_mypy(run_tool("mypy", ["mypy", "-O", "json"]))
    findings.seconds["mypy"] = time.perf_counter() - started
    return findings


# -- the command --------------------------------------------------------------------------------


def summary(findings: Findings, baseline: dict) -> list[str]:
    now = {"ruff": len(findings.ruff), "ruff_format": len(findings.unformatted), "mypy": len(findings.mypy)}
    was = sizes(baseline)
    units = {"ruff": "findings", "ruff_format": "files not formatted", "mypy": "errors"}
    return [
        f"{TITLES[check]:<12} {now[check]:>5} {units[check]} (baseline {was[check]}) "
        f"in {findings.seconds.get(check, 0.0):.1f} s"
        for check in CHECKS
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="write the smaller baseline (it never grows)")
    parser.add_argument(
        "--allow-growth",
        action="store_true",
        help="with --update: accept new findings too (maintainers, after a mechanical change; say why in the commit)",
    )
    arguments = parser.parse_args(argv)
    if arguments.allow_growth and not arguments.update:
        parser.error("--allow-growth only goes with --update")
    baseline = load_baseline()
    try:
        findings = run_checks()
    except ToolFailed as error:
        print(f"[lint] {error}", flush=True)
        return 2
    if arguments.update:
        new, said = update(findings, baseline, arguments.allow_growth)
        for line in said:
            print(f"[lint] {line}")
        if new is None:
            return 1
        BASELINE.write_text(dumps_baseline(new), encoding="utf-8")
        print(f"[lint] wrote {relative(str(BASELINE))}")
        return 0
    comparison = compare(findings, baseline)
    for line in summary(findings, baseline):
        print(f"[lint] {line}")
    if comparison.improvements:
        print(f"[lint] {len(comparison.improvements)} baseline entries went down (thank you):")
        for line in comparison.improvements[:SHOWN]:
            print(f"[lint]   {line}")
        if len(comparison.improvements) > SHOWN:
            print(f"[lint]   … and {len(comparison.improvements) - SHOWN} more")
        print(
            "[lint] lock them in with: .venv/bin/python tools/lint_ratchet.py --update (and commit lint-baseline.json)"
        )
    if comparison.regressions:
        print(f"[lint] FAILED: {len(comparison.regressions)} new findings above the baseline (it only shrinks):")
        for block in comparison.regressions:
            print(block)
        print("[lint] fix them; docs/developing.md#lint-format-and-types says how")
        return 1
    print("[lint] passed: nothing above the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
