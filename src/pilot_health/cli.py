"""The command line: `python -m pilot_health COMMAND [--db PATH|ADDRESS] [--json] [--wait SECONDS]`.

Every command prints either a short human summary or, with --json, exactly one JSON object on
stdout. On failure it prints one sentence to stderr (and {"ok": false, "error": …} with --json)
and exits non-zero: 1 for a problem the user can fix, 3 for an unexpected one (`alerts` also exits 1,
after its full report, when a digest could not be delivered: it is kept and tried again). Schedulers can rely
on that for nightly loads. A full disk, a refused permission or a read-only disk is a problem the
user can fix (`errors.os_problem` words it).

Paths on the command line mean what the shell means: relative to the folder the command runs in;
`--db` may also be a `postgresql://` address (a store on a PostgreSQL server). Commands that only
read refuse a store that does not exist instead of creating an empty one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

# Only what parsing the arguments and reporting errors need: each command imports its own modules,
# so `ingest` does not pay for pandas, the charts or the steering pack (see bench/README.md).
from pilot_health import __version__
from pilot_health.config import is_postgres_url, load_config, resolve_db_path
from pilot_health.errors import PilotHealthError, os_problem
from pilot_health.formatting import BLANK, percent, plural

if TYPE_CHECKING:
    from pilot_health.store.database import Store

EXIT_PROBLEM = 1
EXIT_UNEXPECTED = 3


PATH_ARGUMENTS = ("db", "file", "out", "write_csv", "source")  # a postgresql:// address is left as it is
READ_ONLY_COMMANDS = {
    "status",
    "risk",
    "alignment",
    "adoption",
    "export",
    "backup",
    "meetings",
    "changes",
    "subscriptions",
    "alerts",
}


def _from_here(text: str) -> str:
    """A path given on the command line, made absolute against the folder the command runs in."""
    return os.path.abspath(os.path.expanduser(text))


def _store(args: argparse.Namespace) -> Store:
    """The store named by --db (a file relative to the current folder, or a postgresql:// address)
    or the PILOT_HEALTH_DB setting. A command that only reads refuses a store that does not exist
    rather than create an empty one."""
    from pilot_health.store.database import open_store

    config = load_config()
    if args.db:
        target = args.db if is_postgres_url(args.db) else resolve_db_path(args.db)
    else:
        target = config.db_url or config.db_path
    store = open_store(target, lock_wait_seconds=_wait(args))
    if args.command in READ_ONLY_COMMANDS and not store.exists():
        named = (
            "--db"
            if args.db
            else "PILOT_HEALTH_DB"
            if os.environ.get("PILOT_HEALTH_DB", "").strip()
            else "the default store path"
        )
        raise PilotHealthError(
            f"There is no store at {store.location}; check the "
            f"{'address' if is_postgres_url(target) else 'path'} ({named}), or run `python -m pilot_health demo` (or open the dashboard) to create one."
        )
    return store


def _wait(args: argparse.Namespace) -> float:
    return args.wait if args.wait is not None else load_config().lock_wait_seconds


def cmd_demo(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.demo.portfolio import clear_demo, load_demo, write_csvs

    if args.write_csv:
        from pathlib import Path

        written = write_csvs(Path(args.write_csv))
        return {
            "written": [str(p) for p in written]
        }, f"Wrote the demo CSV templates: {', '.join(p.name for p in written)} in {args.write_csv}."
    store = _store(args)
    if args.clear:
        result = clear_demo(store)
        text = f"Removed the demo data from {store.location}: {plural(result.uploads_removed, 'upload')}, {plural(result.pilots_removed, 'pilot')}."
        if result.pilots_kept:
            text += f" Kept {', '.join(result.pilots_kept)}: they have data of your own."
        return {"db": store.location, **asdict(result)}, text
    result = load_demo(store)
    text = (
        f"Loaded the demo portfolio into {store.location}: {plural(result.pilots, 'pilot')}, "
        f"{plural(result.metric_observations, 'metric observation')} and {plural(result.survey_responses, 'survey response')} "
        f"from {plural(result.uploads, 'simulated upload')}. Clear it with: python -m pilot_health demo --clear"
    )
    return {"db": store.location, **asdict(result)}, text


def cmd_status(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.demo.portfolio import demo_loaded
    from pilot_health.store import queries

    store = _store(args)
    with store.read() as con:
        counts = queries.table_counts(con)
        meta = queries.read_meta(con)
        migrations = queries.applied_migrations(con)
    data = {
        "db": store.location,
        "counts": counts,
        "version": meta.get("version"),
        "changed_at": meta.get("changed_at"),
        "demo_loaded": demo_loaded(meta),
        "migrations": migrations,
    }
    text = (
        f"{store.location}: {plural(counts['pilots'], 'pilot')}, {plural(counts['metric_observations'], 'metric observation')}, "
        f"{plural(counts['survey_responses'], 'survey response')}, {plural(counts['uploads'], 'upload')}"
        f"{' (demo data)' if data['demo_loaded'] else ''}; last changed {meta.get('changed_at')} UTC."
    )
    return data, text


CLI_KINDS = {"pilots": "pilot_register", "metrics": "metrics", "survey": "survey", "usage": "usage"}


def _read_meanwhile(path: Any) -> Callable[[], bytes]:
    """Read the file on a second thread while the engine is imported (reading releases Python's
    lock: 0.02 s of a 46 MB file off the command's time); the returned function waits for the bytes
    and raises what reading raised."""
    import threading

    done: dict[str, Any] = {}

    def read() -> None:
        try:
            done["data"] = path.read_bytes()
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            done["error"] = error

    worker = threading.Thread(target=read, name="pilot-health-read", daemon=True)
    worker.start()

    def wait() -> bytes:
        worker.join()
        if "error" in done:
            raise done["error"]
        return done["data"]

    return wait


def cmd_ingest(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    import getpass
    from pathlib import Path

    path = Path(args.file)
    reading = _read_meanwhile(path)

    from pilot_health.ingest import IngestOptions, ingest
    from pilot_health.rules.metric_dictionary import parse_answer

    try:
        data = reading()
    except OSError as error:
        raise PilotHealthError(f"Cannot read {path}: {error.strerror or error}.") from None
    answers = {}
    for text in args.metric or []:
        try:
            name, answer = parse_answer(text)
        except ValueError as error:
            raise PilotHealthError(f"--metric {error}.") from None
        answers[name] = answer
    options = IngestOptions(
        metric_answers=answers,
        kind=CLI_KINDS[args.kind] if args.kind else None,
        pilot_id=args.pilot,
        environment=args.environment if args.environment in ("lab", "live") else None,
        environment_from_names={"run-names": True, "lab": False, "live": False}.get(args.environment),
        keep_unfinished_runs=args.keep_unfinished_runs,
        observed_on=_day(args.date, "--date"),
        metric_kind=args.metric_kind,
        metric_name=args.metric_name,
        date_order=args.date_order,
        decimal=args.decimal,
        wave=args.wave,
        replace_existing=args.replace,
        store_again=args.again,
        uploaded_by=args.by or f"{getpass.getuser()} (command line)",
    )

    def say(share: float, text: str) -> None:
        print(f"[{share:4.0%}] {text}", file=sys.stderr, flush=True)

    # The engine reports its last step from inside the transaction; "[100%] Stored" is printed here,
    # once ingest has returned, i.e. after the commit (a failed commit never prints it).
    progress = (lambda share, text: say(share, text) if share < 1 else None) if args.progress else None
    store = _store(args)
    new_store = not store.exists()
    result = ingest(
        store, data, path.name, options, commit=not args.check, source=path.resolve(), progress=progress, tables=False
    )
    if args.progress and result.status == "stored":
        say(1.0, f"Stored {plural(result.rows_to_store, 'row')} as upload {result.upload_id}.")
    payload = result.as_json()
    if result.status == "refused":
        raise IngestRefused((result.refusal or "refused") + _ingest_hint(result, len(data)), payload)
    verb = {"stored": "Stored", "ready": "Checked (nothing stored)", "duplicate": "Nothing new in"}[result.status]
    lines = [
        f"{verb} {path.name}: {plural(result.rows_to_store if result.status != 'duplicate' else 0, 'row')}"
        + (f" as upload {result.upload_id}" if result.upload_id else "")
        + f"; {result.rows_rejected:,} rejected, {result.rows_left_out:,} left out."
        + (f" (A new store was created at {store.location}.)" if new_store and result.status == "stored" else "")
    ]
    if result.format:
        lines.append(
            f"  Read as: {result.format.describe()}"
            + (f" — {result.mapping.export}" if result.mapping and result.mapping.export else "")
        )
    if result.metrics:
        lines.append(f"  Metrics: {', '.join(result.metrics[:10])}{' …' if len(result.metrics) > 10 else ''}")
    if result.environment_source:
        lines.append(f"  Lab or live: {result.environment_source}")
    if result.date_range:
        lines.append(f"  Dates: {result.date_range[0]:%Y-%m-%d} to {result.date_range[1]:%Y-%m-%d}")
    lines += [f"  Warning: {w}" for w in result.warnings]
    if result.new_metrics and result.status == "ready":
        lines.append(
            "  To say what a new metric is, store with: "
            + " ".join(f"--metric '{m.label}={m.kind}:{m.direction or '?'}'" for m in result.new_metrics[:3])
        )
    if result.mapping and result.mapping.defaults.get("metric") and not args.metric_name and result.status == "ready":
        lines.append(
            f"  To give the metric another name than '{result.mapping.defaults['metric']}', store with: --metric-name 'NAME'"
        )
    lines += [
        f"  Rejected line {p.row}{f' ({p.column})' if p.column else ''}: {p.message}" for p in result.problems[:20]
    ]
    if len(result.problems) > 20:
        lines.append(f"  … and {len(result.problems) - 20} more rejected rows (use --json for all).")
    return payload, "\n".join(lines)


def _ingest_hint(result, size: int) -> str:
    """The command line's own words after the engine's refusal: the option or setting that answers it."""
    from pilot_health.config import load_config

    flags = {"pilot_id": "--pilot CODE", "environment": "--environment lab|live"}
    if result.needs and result.format is not None:
        return " On the command line: " + " and ".join(flags[n] for n in result.needs if n in flags) + "."
    if size > load_config().max_upload_mb * 1024 * 1024:
        return " The limit is the setting PILOT_HEALTH_MAX_UPLOAD_MB."
    return ""


def _day(text: str | None, flag: str):
    from datetime import date

    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PilotHealthError(f"{flag} {text}: write the date as YYYY-MM-DD.") from None


def _as_of(text: str | None):
    """--as-of DAY: the end of that day (see `_end_of_day`)."""
    return _end_of_day(text, "--as-of")


def _wanted_pilot(store: Store, code: str | None) -> list[str] | None:
    """[CODE] for --pilot CODE (refused with the closest codes when unknown); None for every pilot."""
    import difflib

    from pilot_health.store import queries

    if not code:
        return None
    with store.read() as con:
        known = queries.pilot_ids(con)
    code = code.strip().upper()
    if code not in known:
        near = difflib.get_close_matches(code, known, n=3, cutoff=0.5)
        raise PilotHealthError(
            f"There is no pilot {code} in {store.location}" + (f" (closest: {', '.join(near)})." if near else ".")
        )
    return [code]


def _pilots_payload(
    store: Store, catalogue, results: Sequence[Any], as_json: Callable[[Any], dict], asked_as_of: str | None
) -> dict[str, Any]:
    """The JSON of the per-pilot commands (risk, alignment): where, as of when, which rules, and one block per pilot."""
    as_of = results[0].as_of if results else None
    return {
        "db": store.location,
        "as_of": as_of.isoformat(timespec="seconds") if as_of else asked_as_of,
        "rules": {
            "file": catalogue.source,
            "fingerprint": catalogue.fingerprint,
            "thresholds_set_in_dashboard": catalogue.overrides,
        },
        "pilots": [as_json(r) for r in results],
    }


def _per_pilot(
    args: argparse.Namespace, compute: Callable[..., Sequence[Any]]
) -> tuple[Store, Any, list[str] | None, Sequence[Any]]:
    """What the per-pilot commands share: the store, the rules, the pilot asked for (or every
    pilot) and `compute(store, as_of, pilot_ids, catalogue)`."""
    from pilot_health.rules.thresholds import catalogue_for

    store = _store(args)
    catalogue = catalogue_for(store)
    wanted = _wanted_pilot(store, args.pilot)
    return store, catalogue, wanted, compute(store, _as_of(args.as_of), wanted, catalogue)


def _risk_worst_first(store: Store, as_of, pilot_ids, catalogue) -> list[Any]:
    """Every pilot's risk in the risk page's worst-first order (`portfolio.portfolio_health`)."""
    from pilot_health.analytics.portfolio import portfolio_health
    from pilot_health.analytics.risk import assess

    results = assess(store, as_of, pilot_ids, catalogue)
    by_pilot = {r.pilot_id: r for r in results}
    return [by_pilot[p] for p in portfolio_health(results).worst_first]


def cmd_risk(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.analytics import risk
    from pilot_health.analytics.portfolio import portfolio_health
    from pilot_health.rules.catalogue import PATTERN_SHORT_NAMES

    store, catalogue, wanted, results = _per_pilot(args, _risk_worst_first)
    data = _pilots_payload(store, catalogue, results, risk.as_json, args.as_of)
    # the patterns by the dashboard's short names (the heatmap's columns), in the catalogue's order
    lines = [f"{'pilot':8} {'health':13} " + " ".join(f"{v:>13}" for v in PATTERN_SHORT_NAMES.values())]
    for r in results:
        cells = []
        for key in PATTERN_SHORT_NAMES:
            p = r.patterns[key]
            cells.append(f"{'insufficient' if p.status == 'insufficient' else f'{p.status} {p.score_label}':>13}")
        lines.append(f"{r.pilot_id:8} {risk.HEALTH_LABELS[r.health].lower()[:13]:13} " + " ".join(cells))
    if wanted and results:
        r = results[0]
        lines.append(f"\n{r.pilot_id} · {r.name}: {risk.HEALTH_LABELS[r.health]} — {r.health_reason}")
        for p in r.patterns.values():
            lines.append(
                f"  {p.name}: {p.status}"
                + (f" {p.score:.0f}" if p.score is not None else "")
                + f", coverage {percent(p.coverage)}"
            )
            for sig in p.signals:
                lines.append(f"    {'[' + sig.state + ']':9} {sig.key}: {sig.evidence}")
    if not wanted:  # the portfolio: the risk page's health counts under its worst-first list
        counts = portfolio_health(results).counts
        data["health_counts"] = counts
        lines.append(
            "\nHealth (worst first above): "
            + ", ".join(f"{n} {risk.HEALTH_LABELS[verdict].lower()}" for verdict, n in counts.items())
        )
    return data, "\n".join(lines)


def cmd_alignment(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.reports import alignment_report as report

    store, catalogue, wanted, rows = _per_pilot(args, report.portfolio_alignment)
    data = _pilots_payload(store, catalogue, rows, report.as_json, args.as_of)

    lines = [
        f"{'pilot':8} {'label':17} {'rho':>6} {'lag':>3} {'periods':>7} {'gap':>5} {'decay':>14} {'KPI':>5} {'time':>5}  why"
    ]
    for r in rows:
        a, gap, decay, progress = r.alignment, r.primary_gap, r.primary_decay, r.kpi_progress
        decay_cell = f"{percent(decay.relative)} {decay.level}" if decay else BLANK
        time_gone = min(progress.time_elapsed, 1) if progress and progress.time_elapsed is not None else None
        lines.append(
            f"{r.pilot_id:8} {r.label:17} {(BLANK if not a or a.rho is None else f'{a.rho:+.2f}'):>6} "
            f"{(BLANK if not a or a.lag is None else a.lag):>3} {(a.periods if a else 0):>7} "
            f"{percent(gap.relative if gap else None):>5} {decay_cell:>14} "
            f"{percent(progress.progress if progress else None):>5} {percent(time_gone):>5}  {', '.join(r.reasons) or BLANK}"
        )
    if wanted and rows:
        r = rows[0]
        lines.append(f"\n{r.pilot_id} · {r.name}: {r.verdict}")
        for metric, gap in r.gaps.items():
            lines.append(
                f"  lab to live, {metric}: lab {gap.lab:.4g}, live {gap.live:.4g} ({percent(abs(gap.relative))} {'worse' if gap.relative > 0 else 'better'} live)"
            )
        for metric, decay in r.decays.items():
            lines.append(
                f"  decay, {metric}: {decay.latest:.4g} vs {decay.reference:.4g} in the first {decay.reference_weeks} live weeks "
                f"({percent(decay.relative)} {'worse' if decay.relative > 0 else 'better'}, {decay.level}"
                f"{'' if decay.beyond_noise or decay.relative <= 0 else ', within its weekly noise'})"
            )
        for metric, d in r.drifts.items():
            lines.append(
                f"  drift, {metric}: score {d.score:.2f} ({d.level}{'' if d.worse is None else ', the worse way' if d.worse else ', the better way'}), "
                f"{d.reference_n} reference weeks vs {d.current_n} current weeks"
            )
    return data, "\n".join(lines)


def cmd_adoption(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.analytics.adoption import ELEMENT_LABELS
    from pilot_health.reports import adoption_report as report

    store, catalogue, wanted, rows = _per_pilot(args, report.portfolio_adoption)
    if wanted and rows and args.wave is not None and rows[0].wave(args.wave) is None:
        waves = ", ".join(str(w.wave) for w in rows[0].waves)
        raise PilotHealthError(
            f"Pilot {rows[0].pilot_id} has no survey wave {args.wave}"
            + (f" (its waves: {waves})." if waves else " (no survey yet).")
        )
    data = _pilots_payload(store, catalogue, rows, lambda r: report.as_json(r, args.wave), args.as_of)
    data["min_group_size"] = catalogue.analysis.min_respondents

    lines = [f"{'pilot':8} {'wave':>4} {'resp.':>5} {'partic.':>7}  {'main barrier':24} {'adoption':>8}  usage trend"]
    for r in rows:
        block = data["pilots"][rows.index(r)]
        barrier = block["group_barrier"]
        main = (
            BLANK
            if not block["shown"]
            else "not stuck"
            if barrier["element"] is None
            else f"{ELEMENT_LABELS[barrier['element']]} {barrier['respondents']}/{block['respondents']}"
        )
        participation = block["participation"]
        lines.append(
            f"{r.pilot_id:8} {(block['wave'] or BLANK):>4} {block['respondents']:>5} "
            f"{percent(participation['share'] if participation else None):>7}  {main:24} {percent(block['adoption_rate']):>8}  "
            f"{block['usage_trend']['direction'] if block['usage_trend'] else BLANK}"
        )
    if wanted and rows:
        block = data["pilots"][0]
        lines.append(f"\n{rows[0].pilot_id} · {rows[0].name}: {block['verdict']}")
        if block["shown"]:
            names = list(ELEMENT_LABELS.values())
            lines.append(f"  {'group':28} {'resp.':>5} " + " ".join(f"{n[:5]:>5}" for n in names) + "  barrier")
            for label, part in [("All respondents", block)] + [(t["team"], t) for t in block["teams"]]:
                means = " ".join(
                    f"{BLANK if part['means'][e] is None else format(part['means'][e], '.2f'):>5}"
                    for e in ELEMENT_LABELS
                )
                b = part["group_barrier"]
                lines.append(
                    f"  {label[:28]:28} {part['respondents']:>5} {means}  "
                    + ("not stuck" if b["element"] is None else f"{ELEMENT_LABELS[b['element']]} ({b['respondents']})")
                )
            if block["teams_pooled"]:
                lines.append(
                    f"  ({block['teams_pooled']} teams counted together as Other teams: teams under "
                    f"{data['min_group_size']} respondents are never shown alone.)"
                )
    return data, "\n".join(lines)


def _end_of_day(text: str | None, flag: str):
    """A day on the command line (YYYY-MM-DD) as the moment it means: its end, like --as-of."""
    from datetime import datetime, time

    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise PilotHealthError(f"{flag} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-31.") from None
    return datetime.combine(day, time(23, 59, 59))


def cmd_changes(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.reports.changes import changes_since

    store = _store(args)
    found = changes_since(store, _end_of_day(args.since, "--since"))
    lines = [found.summary]
    for pilot in found.pilots:
        lines.append(f"\n{pilot.pilot_id} · {pilot.name}")
        for change in pilot.changes:
            lines.append(f"  {change.label}: {change.what}" + (f" ({change.evidence})" if change.evidence else ""))
    return {"db": store.location, **found.as_json()}, "\n".join(lines)


def cmd_export(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pathlib import Path

    from pilot_health.config import load_config
    from pilot_health.reports.steering_pack import export

    store = _store(args)
    wanted = _wanted_pilot(store, args.pilot) if args.pilot else None
    pinned = _as_of(args.as_of)
    since = _end_of_day(args.since, "--since")
    data, name = export(
        store,
        pilot_id=wanted[0] if wanted else None,
        fmt=args.format,
        base_url=load_config().public_url,
        pinned=pinned,
        paper=args.paper,
        since=since,
    )
    out = Path(args.out)
    if out.is_dir():
        out = out / name
    write_whole(out, data)
    what = f"pilot {wanted[0]}" if wanted else "the portfolio"
    return (
        {
            "file": str(out),
            "bytes": len(data),
            "format": args.format,
            "pilot_id": wanted[0] if wanted else None,
            "as_of": pinned.isoformat() if pinned else None,
            "paper": args.paper,
            "since": since.isoformat() if since else None,
        },
        f"Wrote the steering pack for {what} ({args.format.upper()}, {len(data) / 1024:,.0f} KB) to {out}.",
    )


def write_whole(out, data: bytes) -> None:
    """Write `out` whole or not at all: a temporary `….part` file renamed at the end, removed on
    every failure (a full disk, say), so a scheduled job never leaves half a file, nor the last
    good one damaged."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if error.filename is None:  # a write (not the open) that failed names no file: name it
            raise OSError(error.errno, error.strerror, str(tmp)) from error
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cmd_backup(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pathlib import Path

    from pilot_health.store.backup import backup

    result = backup(_store(args), Path(args.out))
    counts = result.facts["counts"]
    return (
        {"file": str(result.file), "manifest": str(result.manifest), **result.facts},
        f"Backed up {counts['pilots']} pilots, {counts['uploads']} uploads, {counts['metric_observations']:,} metric rows and "
        f"{counts['survey_responses']:,} survey responses to {result.file} (manifest {result.manifest.name}).",
    )


def cmd_restore(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pathlib import Path

    from pilot_health.store.backup import restore

    store = _store(args)
    if not args.yes:
        raise PilotHealthError(
            f"restore replaces the store {store.location} with {args.file}; add --yes to go ahead "
            "(a copy of the current store is kept first)."
        )
    import getpass

    result = restore(store, Path(args.file), f"{getpass.getuser()} (command line)")
    counts = result.facts["counts"]
    return (
        {
            "restored_from": str(result.restored_from),
            "previous_copy": str(result.previous_copy) if result.previous_copy else None,
            **result.facts,
        },
        f"Restored {store.location} from {result.restored_from}: "
        f"{counts['pilots']} pilots, {counts['uploads']} uploads."
        + (f" The store it replaced is kept in {result.previous_copy}." if result.previous_copy else ""),
    )


def cmd_migrate_store(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pathlib import Path

    from pilot_health.store.move import move_store

    if not is_postgres_url(args.to):
        raise PilotHealthError(
            "--to takes the address of an empty PostgreSQL database: postgresql://USER@HOST:PORT/DATABASE."
        )

    def say(text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    result = move_store(
        Path(args.source), args.to, lock_wait_seconds=_wait(args), progress=say if args.progress else None
    )
    counts = result.counts
    return (
        {
            "from": str(result.source),
            "to": result.target,
            "counts": counts,
            "uploads": len(result.facts["uploads"]),
            "migrations": result.facts["migrations"],
            "version": result.facts["version"],
            "seconds": round(result.seconds, 1),
        },
        f"Moved the store {result.source} into {result.target}: {plural(counts['pilots'], 'pilot')}, "
        f"{plural(counts['uploads'], 'upload')}, {counts['metric_observations']:,} metric rows and "
        f"{counts['survey_responses']:,} survey responses "
        f"({sum(counts.values()):,} rows in all, {result.seconds:,.0f} s). "
        "The file is unchanged; to use the database, set PILOT_HEALTH_DB to its address for the dashboard and the "
        "command line.",
    )


def _moment(text: str | None, flag: str):
    """A moment on the command line: YYYY-MM-DD (the end of that day) or YYYY-MM-DDTHH:MM (UTC)."""
    from datetime import datetime, time

    if not text:
        return None
    try:
        if len(text.strip()) == 10:
            return datetime.combine(datetime.strptime(text.strip(), "%Y-%m-%d").date(), time(23, 59, 59))
        return datetime.fromisoformat(text.strip()).replace(tzinfo=None)
    except ValueError:
        raise PilotHealthError(
            f"{flag} {text}: write a day as YYYY-MM-DD or a moment as YYYY-MM-DDTHH:MM (UTC)."
        ) from None


def _who(args: argparse.Namespace) -> str:
    import getpass

    return args.by or f"{getpass.getuser()} (command line)"


def _meeting_json(m) -> dict[str, Any]:
    return {
        "meeting_id": m.meeting_id,
        "held_on": m.held_on.isoformat(),
        "title": m.title,
        "pinned_at": m.pinned_at.isoformat(timespec="seconds"),
        "created_by": m.created_by,
    }


def cmd_meetings(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.reports.meetings import decisions, meetings

    store = _store(args)
    found = meetings(store)
    per_meeting: dict[int, int] = {}
    for d in decisions(store):
        per_meeting[d.meeting_id] = per_meeting.get(d.meeting_id, 0) + 1
    data = {
        "db": store.location,
        "meetings": [{**_meeting_json(m), "decisions": per_meeting.get(m.meeting_id, 0)} for m in found],
    }
    if not found:
        return (
            data,
            "No meetings recorded yet. Add one with: python -m pilot_health meeting add --date YYYY-MM-DD --title TITLE",
        )
    lines = [
        f"{m.meeting_id:>4}  {m.held_on:%Y-%m-%d}  {m.title} — reviewed the numbers as of {m.pinned_at:%Y-%m-%d %H:%M}, "
        f"{plural(per_meeting.get(m.meeting_id, 0), 'decision')}"
        for m in found
    ]
    return data, "\n".join(lines)


def cmd_meeting(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.reports.meetings import record_meeting

    store = _store(args)
    day = _day(args.date, "--date")
    made = record_meeting(store, day, args.title, _moment(args.pinned_at, "--pinned-at"), by=_who(args))
    return (
        {"db": store.location, **_meeting_json(made)},
        f"Recorded meeting {made.meeting_id}: {made.title} on {made.held_on:%Y-%m-%d}, reviewing the numbers as of "
        f"{made.pinned_at:%Y-%m-%d %H:%M}. Record its decisions with: python -m pilot_health decide PILOT --meeting {made.meeting_id} …",
    )


def cmd_decide(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.reports.meetings import record_decision

    store = _store(args)
    made = record_decision(
        store,
        args.pilot,
        args.meeting,
        args.decision.replace("-", " "),
        args.owner,
        _day(args.due, "--due"),
        conditions=args.conditions,
        signal_key=args.signal,
        signal_value=args.signal_value,
        by=_who(args),
    )
    data = {
        "db": store.location,
        "decision_id": made.decision_id,
        "meeting_id": made.meeting_id,
        "pilot_id": made.pilot_id,
        "decision": made.decision,
        "owner": made.owner,
        "due_on": made.due_on.isoformat(),
        "conditions": made.conditions,
        "signal_key": made.signal_key,
        "signal_value": made.signal_value,
        "status": made.status,
    }
    return data, (
        f"Recorded for {made.pilot_id} in meeting {made.meeting_id} ({made.meeting_title}): {made.decision_label}, "
        f"owner {made.owner}, due {made.due_on:%Y-%m-%d}."
    )


def cmd_alerts(args: argparse.Namespace) -> tuple[dict[str, Any], str, int]:
    from pilot_health.reports.alerts import report_lines, run_alerts, sent_log

    store = _store(args)
    if args.sent:
        rows = sent_log(store, by=_who(args), limit=args.limit)
        data = {
            "db": store.location,
            "deliveries": [{k: v for k, v in r.items() if k not in ("body", "payload", "address")} for r in rows],
        }
        if not rows:
            return data, "The alerts have sent nothing yet.", 0
        lines = [
            f"{r['created_at']:%Y-%m-%d %H:%M}  {r['status']:<13} {r['recipient']}: {r['subject']}"
            + (f" — {r['last_error']}" if r["last_error"] and r["status"] != "sent" else "")
            for r in rows
        ]
        return data, "\n".join(lines), 0
    report = run_alerts(store, dry_run=args.dry_run, by=_who(args))
    lines = report_lines(report)
    if args.dry_run and report.digests:
        lines += ["", "What the first digest would say:", "", report.digests[0].body]
    return {"db": store.location, **report.as_json()}, "\n".join(lines), 0 if report.ok else EXIT_PROBLEM


def _subscription_json(s) -> dict[str, Any]:
    return {
        "subscription_id": s.subscription_id,
        "address": s.shown_address,
        "channel": s.channel,
        "pilot_id": s.pilot_id,
        "business_unit": s.business_unit,
        "events": list(s.events),
        "limited_to": list(s.limited_to) if s.limited_to is not None else None,
        "created_by": s.created_by,
        "created_at": s.created_at.isoformat(timespec="seconds"),
    }


def cmd_subscribe(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.reports.alerts import EVENT_KINDS, subscribe

    store = _store(args)
    events = [e.strip() for e in (args.events or ",".join(EVENT_KINDS)).split(",")]
    units = [u.strip() for u in args.limit_to.split(",")] if args.limit_to else None
    made = subscribe(
        store, args.address, events, pilot_id=args.pilot, business_unit=args.unit, by=_who(args), limited_to=units
    )
    return (
        {"db": store.location, **_subscription_json(made)},
        f"Subscribed {made.shown_address} (subscription {made.subscription_id}) to {made.covers}, for {made.events_text}.",
    )


def cmd_unsubscribe(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.reports.alerts import unsubscribe

    store = _store(args)
    gone = unsubscribe(store, args.subscription, by=_who(args))
    return (
        {"db": store.location, **_subscription_json(gone)},
        f"Removed subscription {gone.subscription_id} of {gone.shown_address} ({gone.covers}).",
    )


def cmd_subscriptions(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pilot_health.reports.alerts import subscriptions

    store = _store(args)
    found = subscriptions(store, by=_who(args))
    data = {"db": store.location, "subscriptions": [_subscription_json(s) for s in found]}
    if not found:
        return data, "Nobody is subscribed to alerts yet. Add one with: python -m pilot_health subscribe ADDRESS"
    return data, "\n".join(f"{s.subscription_id:>4}  {s.shown_address}: {s.covers}, for {s.events_text}" for s in found)


class IngestRefused(PilotHealthError):
    """A refused file: the one sentence, plus the full JSON for --json."""

    def __init__(self, message: str, payload: dict[str, Any]) -> None:
        super().__init__(message)
        self.payload = payload


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], tuple[dict[str, Any], str]], str]] = {
    "demo": (cmd_demo, "load the demo portfolio (24 pilots, two years of data) into the store"),
    "status": (cmd_status, "show what the store holds"),
    "ingest": (cmd_ingest, "check a CSV, TSV or .xlsx export and store it, all rows or none"),
    "risk": (cmd_risk, "score pilots against the five failure patterns, with the evidence"),
    "alignment": (
        cmd_alignment,
        "technical metrics against business KPIs: alignment, lab-to-live gap, decay, drift, KPI progress",
    ),
    "adoption": (cmd_adoption, "ADKAR survey results by team and wave, participation and usage against target"),
    "changes": (
        cmd_changes,
        "what changed per pilot since the end of a day: health, warning signs, stage, uploads, spend",
    ),
    "export": (cmd_export, "write the steering pack (one pilot or the portfolio) as PDF or self-contained HTML"),
    "backup": (cmd_backup, "copy the store (consistent, also while the dashboard runs) into a folder, with a manifest"),
    "restore": (
        cmd_restore,
        "replace the store with a backup, checked against its manifest (the current store is kept)",
    ),
    "migrate-store": (
        cmd_migrate_store,
        "move an embedded store (a .duckdb file) into an empty PostgreSQL database, all or nothing, checked row by row",
    ),
    "meetings": (
        cmd_meetings,
        "list the steering meetings recorded, with the moment each reviewed and how many decisions it took",
    ),
    "meeting": (cmd_meeting, "record a steering meeting: meeting add --date DAY --title TITLE [--pinned-at MOMENT]"),
    "decide": (cmd_decide, "record a meeting's decision about a pilot: continue, fix and review, scale, pause or stop"),
    "alerts": (
        cmd_alerts,
        "after the nightly load: send each subscriber one digest of what is new, escalate red pilots "
        "without a decision to their sponsor, retry what failed (--dry-run: only show it; --sent: what was sent)",
    ),
    "subscribe": (
        cmd_subscribe,
        "subscribe an e-mail address or a webhook to alerts about a pilot, a business unit or every pilot",
    ),
    "unsubscribe": (cmd_unsubscribe, "remove an alert subscription by its number"),
    "subscriptions": (cmd_subscriptions, "list the alert subscriptions in force"),
}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="PATH",
        help="the store file, relative to the current folder, or a postgresql:// address "
        "(default: $PILOT_HEALTH_DB, else data/pilot_health.duckdb in the checkout)",
    )
    common.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    common.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="how long to wait while another program holds the store (default: $PILOT_HEALTH_LOCK_WAIT, else 30)",
    )
    parser = argparse.ArgumentParser(prog="python -m pilot_health", description="Pilot Health from the command line.")
    parser.add_argument("--version", action="version", version=f"pilot-health {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        if name == "ingest":
            sub.add_argument("file", metavar="FILE", help="the export to load (CSV, TSV or .xlsx)")
            sub.add_argument("--kind", choices=sorted(CLI_KINDS), help="what the file holds (detected when not given)")
            sub.add_argument(
                "--pilot", metavar="CODE", help="the pilot the rows belong to, when the file has no pilot column"
            )
            sub.add_argument(
                "--environment",
                choices=["lab", "live", "run-names"],
                help="lab or live for every row, when the file has no such column; run-names: as each run's name says "
                "(the default when every run name says lab or live)",
            )
            sub.add_argument(
                "--date",
                metavar="YYYY-MM-DD",
                help="the date of an export without dates (a W&B chart over training steps; default today)",
            )
            sub.add_argument(
                "--keep-unfinished-runs",
                action="store_true",
                help="keep failed, crashed, killed and still-running runs of a run table (default: left out)",
            )
            sub.add_argument(
                "--metric-kind",
                choices=["technical", "business"],
                help="the kind of every metric in the file (inferred when not given)",
            )
            sub.add_argument(
                "--metric",
                action="append",
                metavar="NAME=KIND:DIRECTION[:UNIT]",
                help="say what a metric the dictionary does not know is, e.g. picks_per_hour=business:up:picks "
                "(direction up, down or ?); remembered for later uploads. Repeat for several",
            )
            sub.add_argument(
                "--metric-name",
                metavar="NAME",
                help="the metric's name for a file with one column per date and no "
                "measure column (default: from the file name, weekly_active_users.csv → 'weekly active users')",
            )
            sub.add_argument(
                "--wave",
                type=int,
                metavar="N",
                help="survey wave, when the file has none (default: the pilot's next wave)",
            )
            sub.add_argument(
                "--date-order",
                choices=["dmy", "mdy"],
                help="read dates like 03/04/2024 day-first (dmy) or month-first (mdy)",
            )
            sub.add_argument(
                "--decimal", choices=["point", "comma"], help="the file's decimal separator (detected when not given)"
            )
            sub.add_argument(
                "--replace", action="store_true", help="replace stored values the file repeats (default: keep them)"
            )
            sub.add_argument(
                "--again", action="store_true", help="store the file even if the same bytes were stored before"
            )
            sub.add_argument("--check", action="store_true", help="check the file and report, but store nothing")
            sub.add_argument("--by", metavar="NAME", help="who is uploading (default: your user name)")
            sub.add_argument(
                "--progress",
                action="store_true",
                help="print each step to stderr as it starts (for logs of long loads)",
            )
        if name == "alignment":
            sub.add_argument(
                "--pilot", metavar="CODE", help="one pilot, with its verdict and every metric's gap, decay and drift"
            )
            sub.add_argument("--as-of", metavar="DATE", help="as the store stood at the end of this day (YYYY-MM-DD)")
        if name == "backup":
            sub.add_argument(
                "--out", metavar="DIR", required=True, help="the folder for the backup file and its manifest"
            )
        if name == "migrate-store":
            sub.add_argument(
                "--from", dest="source", metavar="FILE", required=True, help="the store file (.duckdb) to move"
            )
            sub.add_argument(
                "--to",
                metavar="ADDRESS",
                required=True,
                help="the empty PostgreSQL database: postgresql://USER@HOST:PORT/DATABASE",
            )
            sub.add_argument(
                "--progress",
                action="store_true",
                help="print each table and each chunk of rows to stderr as it is copied",
            )
        if name == "restore":
            sub.add_argument("file", metavar="FILE", help="a backup file made by the backup command")
            sub.add_argument(
                "--yes", action="store_true", help="go ahead: the store is replaced (a copy of the current one is kept)"
            )
        if name == "export":
            which = sub.add_mutually_exclusive_group(required=True)
            which.add_argument("--pilot", metavar="CODE", help="one pilot's one-page summary")
            which.add_argument(
                "--portfolio", action="store_true", help="the portfolio summary (every pilot, with the heatmap)"
            )
            sub.add_argument(
                "--format",
                choices=["pdf", "html"],
                required=True,
                help="PDF, or one HTML file that opens without a network",
            )
            sub.add_argument(
                "--out", metavar="FILE", required=True, help="where to write it (a folder: a dated file name is chosen)"
            )
            sub.add_argument(
                "--as-of",
                metavar="DATE",
                help="pinned to the end of this day (YYYY-MM-DD): records and uploads as they were then",
            )
            sub.add_argument(
                "--paper", choices=["a4", "letter"], default="a4", help="the PDF's paper size (default a4)"
            )
            sub.add_argument(
                "--since",
                metavar="DATE",
                help="add a Since last meeting section: what changed since the end of this day (YYYY-MM-DD)",
            )
        if name == "adoption":
            sub.add_argument("--pilot", metavar="CODE", help="one pilot, with its verdict and each team's profile")
            sub.add_argument("--wave", type=int, metavar="W", help="this survey wave instead of each pilot's latest")
            sub.add_argument("--as-of", metavar="DATE", help="as the store stood at the end of this day (YYYY-MM-DD)")
        if name == "risk":
            sub.add_argument("--pilot", metavar="CODE", help="one pilot, with every signal and its evidence")
            sub.add_argument(
                "--as-of",
                metavar="DATE",
                help="as the store stood at the end of this day (YYYY-MM-DD), from what was uploaded by then",
            )
        if name == "meeting":
            sub.add_argument("action", choices=["add"], help="add: record a new meeting")
            sub.add_argument("--date", metavar="YYYY-MM-DD", required=True, help="the day the meeting was held")
            sub.add_argument(
                "--title", required=True, help='what the meeting is called, e.g. "March steering committee"'
            )
            sub.add_argument(
                "--pinned-at",
                metavar="MOMENT",
                help="the moment whose numbers it reviewed: YYYY-MM-DD (end of that day) "
                "or YYYY-MM-DDTHH:MM in UTC (default: the end of the meeting's day)",
            )
            sub.add_argument("--by", metavar="NAME", help="who records it (default: your user name)")
        if name == "decide":
            sub.add_argument("pilot", metavar="PILOT", help="the pilot's code, e.g. SC-01")
            sub.add_argument(
                "--meeting",
                type=int,
                metavar="ID",
                required=True,
                help="the meeting's number (see: python -m pilot_health meetings)",
            )
            sub.add_argument(
                "--decision",
                required=True,
                metavar="WORD",
                help='continue, "fix and review" (or fix-and-review), scale, pause or stop',
            )
            sub.add_argument("--owner", metavar="NAME", required=True, help="who sees that the conditions are met")
            sub.add_argument(
                "--due",
                metavar="YYYY-MM-DD",
                required=True,
                help="when the conditions are due (on or after the meeting)",
            )
            sub.add_argument("--conditions", metavar="TEXT", help="the conditions to meet, in words")
            sub.add_argument(
                "--signal",
                metavar="KEY",
                help="tie the condition to a warning sign (e.g. live_decay): met while it is clear",
            )
            sub.add_argument(
                "--signal-value",
                type=float,
                metavar="VALUE",
                help="check that warning sign at this threshold instead of the catalogue's (its units: 0.1 for 10%%)",
            )
            sub.add_argument("--by", metavar="NAME", help="who records it (default: your user name)")
        if name == "alerts":
            sub.add_argument(
                "--dry-run", action="store_true", help="work out and show what would be sent; send and record nothing"
            )
            sub.add_argument(
                "--sent", action="store_true", help="list what the alerts sent and tried to send, newest first"
            )
            sub.add_argument(
                "--limit", type=int, default=100, metavar="N", help="with --sent: at most N deliveries (default 100)"
            )
            sub.add_argument("--by", metavar="NAME", help="who runs it, for the audit trail (default: your user name)")
        if name == "subscribe":
            sub.add_argument(
                "address", metavar="ADDRESS", help="an e-mail address, or a webhook's https:// address (Teams, Slack)"
            )
            which = sub.add_mutually_exclusive_group()
            which.add_argument("--pilot", metavar="CODE", help="only this pilot")
            which.add_argument("--unit", metavar="UNIT", help="only this business unit's pilots")
            sub.add_argument(
                "--events",
                metavar="KINDS",
                help="comma-separated: health_red, pattern_high, decay_critical, decision_due, "
                "stale_data (default: all)",
            )
            sub.add_argument(
                "--limit-to",
                metavar="UNITS",
                help="comma-separated business units the subscriber may see (default: as the "
                "access file lists the address, else every unit)",
            )
            sub.add_argument(
                "--by", metavar="NAME", help="who subscribes, for the audit trail (default: your user name)"
            )
        if name == "unsubscribe":
            sub.add_argument(
                "subscription",
                type=int,
                metavar="ID",
                help="the subscription's number (see: python -m pilot_health subscriptions)",
            )
            sub.add_argument(
                "--by", metavar="NAME", help="who removes it, for the audit trail (default: your user name)"
            )
        if name == "subscriptions":
            sub.add_argument("--by", metavar="NAME", help=argparse.SUPPRESS)
        if name == "changes":
            sub.add_argument(
                "--since",
                metavar="DATE",
                required=True,
                help="compare the store as it stood at the end of this day (YYYY-MM-DD) with now",
            )
        if name == "demo":
            sub.add_argument("--clear", action="store_true", help="remove the demo data instead of loading it")
            sub.add_argument(
                "--write-csv",
                metavar="DIR",
                help="write the demo as CSV upload templates into DIR; the store is not touched",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in PATH_ARGUMENTS:
        value = getattr(args, name, None)
        if value and not is_postgres_url(value):
            setattr(args, name, _from_here(value))
    handler = COMMANDS[args.command][0]
    try:
        data, text, *rest = handler(args)
    except IngestRefused as refused:
        if args.json:
            print(
                json.dumps(
                    {"ok": False, "command": args.command, "error": str(refused), **refused.payload}, default=str
                )
            )
        print(f"pilot_health {args.command}: {refused}", file=sys.stderr)
        return EXIT_PROBLEM
    except PilotHealthError as error:
        return _fail(args, str(error), EXIT_PROBLEM)
    except Exception as error:  # noqa: BLE001 - the one place that turns surprises into one line
        system = os_problem(error)
        if system:
            return _fail(args, system, EXIT_PROBLEM)
        if os.environ.get("PILOT_HEALTH_DEBUG"):
            raise
        return _fail(
            args,
            f"Unexpected problem: {str(error).splitlines()[0] if str(error).strip() else 'no detail was given'}. Set PILOT_HEALTH_DEBUG=1 for the details.",
            EXIT_UNEXPECTED,
        )
    code = rest[0] if rest else 0  # a command that ran but did not do all it should (alerts not delivered) says so
    if args.json:
        print(json.dumps({"ok": code == 0, "command": args.command, **data}, default=str))
    else:
        print(text)
    return code


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "command": args.command, "error": message}))
    print(f"pilot_health {args.command}: {message}", file=sys.stderr)
    return code
