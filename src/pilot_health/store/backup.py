"""Backups: a consistent copy of the store, taken while the dashboard runs, with a manifest of what
it holds; and restoring one, checked against its manifest before and after, with the store it
replaces kept beside it.

The embedded store is copied into another DuckDB file. A store on PostgreSQL is copied with
PostgreSQL's own `pg_dump` (its custom format, `.dump`) and restored with `pg_restore`, behind the
same commands and the same manifest: the dump is taken from one exported snapshot, the very moment
whose facts the manifest records, and is checked by reading every row of it back (`facts_of_dump`).
A restore replaces the store in one transaction while writers are kept out
(`PostgresStore.exclusive()`); readers see the old store until it commits, then the new one.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pilot_health.errors import PilotHealthError, os_problem
from pilot_health.store import queries
from pilot_health.store.database import Store, facts_of_file, utc_now
from pilot_health.store.dialect import POSTGRES, dialect_of

MANIFEST_SUFFIX = ".json"
DUMP_SUFFIX = ".dump"
# What a backup file starts with: pg_dump's custom format, or a DuckDB file (its magic after 8 bytes).
DUMP_MAGIC = b"PGDMP"
DUCKDB_MAGIC = b"DUCK"


@dataclass(frozen=True)
class BackupResult:
    file: Path
    manifest: Path
    facts: dict


@dataclass(frozen=True)
class RestoreResult:
    restored_from: Path
    previous_copy: Path | None
    facts: dict


def manifest_path(backup_file: Path) -> Path:
    return backup_file.with_suffix(MANIFEST_SUFFIX)


def on_postgres(store: Any) -> bool:
    return dialect_of(store) == POSTGRES


def backup(store: Store, out_dir: Path) -> BackupResult:
    """Copy the store into `out_dir` as pilot_health_backup_<UTC time>.duckdb (.dump for a store on
    PostgreSQL), with a .json manifest (rows per table, every upload's hash, migrations). Checked
    by reading the copy back."""
    out_dir = Path(out_dir).expanduser().absolute()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PilotHealthError(
            os_problem(error) or f"The backup folder {out_dir} cannot be created ({error.strerror})."
        ) from None
    moment = utc_now()
    suffix = DUMP_SUFFIX if on_postgres(store) else ".duckdb"
    target = out_dir / f"pilot_health_backup_{moment:%Y%m%d_%H%M%S}{suffix}"
    if target.exists():
        raise PilotHealthError(f"{target} already exists; wait a second and try again, or choose another folder.")
    if on_postgres(store):
        facts = dump(store, target)
        copied = facts_of_dump(target)
    else:
        facts = store.copy_to(target)
        copied = facts_of_file(target)
    if copied != facts:
        target.unlink(missing_ok=True)
        raise PilotHealthError(
            f"The copy in {target} does not match the store it was taken from; nothing was kept. Try again."
        )
    manifest = manifest_path(target)
    try:
        manifest.write_text(
            json.dumps(
                {"source": store.location, "created_at": moment.isoformat(timespec="seconds"), **facts}, indent=2
            ),
            encoding="utf-8",
        )
    except BaseException:  # a backup without its manifest is not kept (a full disk, say)
        target.unlink(missing_ok=True)
        manifest.unlink(missing_ok=True)
        raise
    return BackupResult(target, manifest, facts)


def restore(store: Store, backup_file: Path, by: str = "local user") -> RestoreResult:
    """Replace the store with a backup. The backup is checked against its manifest first (when it
    has one). Then, holding the store's lock exclusively (running uploads finish first; new ones
    wait until the restore is done): the current store is copied to
    <store>.before-restore-<time>.duckdb, the backup put in its place, migrated to this version's
    schema and checked again. If that check fails, the previous store is put back and the error
    says so.

    What this promises an upload: one that committed before the restore took the lock is in the
    before-restore copy (the backup replaces it, as asked); one that commits after is in the
    restored store. None reports "stored" and is in neither."""
    backup_file = Path(backup_file).expanduser().absolute()
    if not backup_file.is_file():
        raise PilotHealthError(f"There is no backup file {backup_file}.")
    _refuse_other_kind(store, backup_file)
    if on_postgres(store):
        return _restore_postgres(store, backup_file, by)
    facts = facts_of_file(backup_file)
    _check_manifest(backup_file, facts)
    with store.exclusive():
        previous = None
        if store.path.exists():
            previous = store.path.with_name(f"{store.path.stem}.before-restore-{utc_now():%Y%m%d_%H%M%S}.duckdb")
            store.copy_to(previous)
            store.checkpoint()
        _put_in_place(backup_file, store.path)
        try:
            after = _checked(store, facts)
        except Exception as error:
            if previous is None:
                store.path.unlink(missing_ok=True)
                raise PilotHealthError(
                    f"The restored store {store.path} did not hold what the backup held ({error}); it was removed."
                ) from None
            _put_in_place(previous, store.path)
            raise PilotHealthError(
                f"The restored store did not hold what the backup held ({error}); the previous store has been put "
                f"back in {store.path} (a copy of it stays in {previous})."
            ) from None
        _record_restore(Store(store.path, lock_wait_seconds=store.lock_wait_seconds), backup_file, by, after, previous)
    return RestoreResult(backup_file, previous, after)


def _record_restore(store: Any, backup_file: Path, by: str, after: dict, previous: Path | None) -> None:
    """Note the restore in the store's bookkeeping and its audit trail."""
    counts = after["counts"]
    with store.write() as con:
        queries.put_meta(con, "restored_from", f"{backup_file} at {utc_now().isoformat(timespec='seconds')}")
        queries.record_audit(
            con,
            utc_now(),
            by,
            "restore",
            str(backup_file),
            f"{counts['pilots']} pilots, {counts['uploads']} uploads; the replaced store is in {previous}",
        )


def _check_manifest(backup_file: Path, facts: dict) -> None:
    """The backup holds what its manifest says (when it has one), or it is not restored."""
    manifest = manifest_path(backup_file)
    if manifest.is_file():
        expected = json.loads(manifest.read_text(encoding="utf-8"))
        wrong = [key for key in ("counts", "uploads", "migrations", "version") if expected.get(key) != facts.get(key)]
        if wrong:
            raise PilotHealthError(
                f"The backup {backup_file} does not match its manifest ({', '.join(wrong)} differ); "
                "it was not restored."
            )


def backup_kind(backup_file: Path) -> str | None:
    """ "postgres" for a pg_dump file, "duckdb" for a DuckDB file, None for anything else."""
    try:
        with open(backup_file, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return None
    if head.startswith(DUMP_MAGIC):
        return POSTGRES
    if head[8:12] == DUCKDB_MAGIC:
        return "duckdb"
    return None


def facts_of_backup(path: Path) -> dict:
    """The facts of a backup file of either kind: a DuckDB file, or a pg_dump file."""
    return facts_of_dump(path) if backup_kind(path) == POSTGRES else facts_of_file(path)


def _refuse_other_kind(store: Any, backup_file: Path) -> None:
    """A backup of an embedded store cannot replace a store on PostgreSQL, nor the other way round."""
    kind = backup_kind(backup_file)
    if on_postgres(store) and kind == "duckdb":
        raise PilotHealthError(
            f"{backup_file} is a backup of an embedded store (a DuckDB file), and this store is on PostgreSQL "
            f"({store.location}); nothing was changed. Restore it into an embedded store, or move it into an empty "
            f"PostgreSQL database with: python -m pilot_health migrate-store --from {backup_file} --to postgresql://…"
        )
    if not on_postgres(store) and kind == POSTGRES:
        raise PilotHealthError(
            f"{backup_file} is a backup of a store on PostgreSQL (made by pg_dump), and this store is an embedded file "
            f"({store.location}); nothing was changed. Restore it into the PostgreSQL store: give its "
            "postgresql:// address with --db or PILOT_HEALTH_DB."
        )


def _compare(facts: dict, after: dict) -> None:
    """The restored store holds everything the backup held. A backup made by an older version has
    just been migrated: the migrations it lacked are now recorded, and the tables they added are new."""
    held = {table: count for table, count in facts["counts"].items() if table != "schema_migrations"}
    kept = {table: count for table, count in after["counts"].items() if table in held}
    if kept != held:
        raise PilotHealthError("its row counts differ")
    if after["uploads"] != facts["uploads"]:
        raise PilotHealthError("its uploads differ")


def _put_in_place(source: Path, store_file: Path) -> None:
    """Copy `source` over the store file whole (a temporary file renamed), dropping the replaced
    file's write-ahead log, which must never be replayed onto another file. Call it holding the
    store's lock exclusively."""
    partial = store_file.with_name(store_file.name + ".restoring")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, store_file)
    finally:
        partial.unlink(missing_ok=True)
    store_file.with_name(store_file.name + ".wal").unlink(missing_ok=True)


def _checked(store: Store, facts: dict) -> dict:
    """Open the restored file (which brings a backup made by an older version up to this schema)
    and check that it holds everything the backup held. Returns its facts."""
    restored = Store(store.path, lock_wait_seconds=store.lock_wait_seconds)
    with restored.read() as _:
        pass
    after = facts_of_file(store.path)
    _compare(facts, after)
    return after


# -- a store on PostgreSQL: pg_dump and pg_restore ------------------------------------------------


def _program(name: str) -> str:
    """PostgreSQL's pg_dump or pg_restore: on the PATH, else where Debian keeps them (the newest)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return candidates[-1]
    raise PilotHealthError(
        f"Backing up or restoring a store on PostgreSQL needs PostgreSQL's {name} program, which is not installed "
        "here; install the PostgreSQL client programs (Debian: postgresql-client) and try again."
    )


def _connection_for(url: str) -> tuple[str, dict[str, str]]:
    """The store's address for pg_dump and pg_restore, and their environment: the password, if
    any, goes in PGPASSWORD, never on a command line that any user of the machine can list."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    parts = conninfo_to_dict(url)
    password = parts.pop("password", None)
    environment = dict(os.environ)
    if password is not None:
        environment["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in parts.items()}), environment


def _run(store: Any, program: str, arguments: list[str], doing: str, writes: Path | None = None) -> None:
    """Run pg_dump or pg_restore on the store; its failure is one sentence (a full disk or a refused
    permission on the file it `writes` in the words every command uses for them)."""
    conninfo, environment = _connection_for(store.url)
    finished = subprocess.run(
        [_program(program), *arguments, f"--dbname={conninfo}"], env=environment, capture_output=True, text=True
    )
    if finished.returncode != 0:
        reason = _reason(finished.stderr, program)
        if writes is not None:
            for phrase, code in _OS_PHRASES:
                if phrase in reason:
                    raise PilotHealthError(os_problem(OSError(code, phrase, str(writes))) or reason)
        raise PilotHealthError(f"{program} could not {doing} {store.location} ({reason}).")


_OS_PHRASES = (
    ("No space left on device", errno.ENOSPC),
    ("Permission denied", errno.EACCES),
    ("Read-only file system", errno.EROFS),
)


def _reason(stderr: str, program: str) -> str:
    """The line of a PostgreSQL program's error output that says what went wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[0].removeprefix(f"{program}: ") if lines else "no detail was given"


def dump(store: Any, target: Path) -> dict:
    """pg_dump the store into `target` (custom format, written whole: a temporary file renamed at
    the end). The dump and the returned facts are of the same moment: one snapshot, exported
    from the transaction that reads the facts, which stays open while pg_dump reads."""
    store = store.unscoped()
    store.ensure_ready()
    partial = target.with_name(target.name + ".part")
    partial.unlink(missing_ok=True)
    try:
        with store.read() as con:
            con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot = queries.one_value(con.execute("SELECT pg_export_snapshot()"))
            facts = queries.store_facts(con)
            _run(
                store,
                "pg_dump",
                ["--format=custom", f"--snapshot={snapshot}", f"--file={partial}"],
                "back up",
                writes=partial,
            )
        os.replace(partial, target)
    finally:  # a dump that failed (a full disk) leaves nothing behind
        partial.unlink(missing_ok=True)
    return facts


_COPY_LINE = re.compile(rb'^COPY (?:"?public"?\.)?"?(?P<table>\w+)"? \((?P<columns>[^)]*)\) FROM stdin;$')
_ESCAPES = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))")
_ESCAPED = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _field(text: str) -> str | None:
    """One field of COPY's text format as the value it stands for."""
    if text == r"\N":
        return None
    if "\\" not in text:
        return text

    def one(match: re.Match) -> str:
        octal, hexadecimal, other = match.groups()
        if octal:
            return chr(int(octal, 8))
        if hexadecimal:
            return chr(int(hexadecimal, 16))
        return _ESCAPED.get(other, other)

    return _ESCAPES.sub(one, text)


def facts_of_dump(path: Path) -> dict:
    """The facts (`queries.store_facts`) of a pg_dump file, read from every row it holds (pg_restore
    writes them out as text): a file that is damaged anywhere, or not a dump, raises StoreError."""
    from pilot_health.errors import StoreError

    reader = subprocess.Popen(
        [_program("pg_restore"), "--data-only", "--file=-", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    counts: dict[str, int] = {}
    kept: dict[str, list[dict[str, str | None]]] = {"uploads": [], "schema_migrations": [], "store_meta": []}
    table: str | None = None
    columns: list[str] = []
    rows = 0
    assert reader.stdout is not None and reader.stderr is not None
    for line in reader.stdout:
        if table is None:
            found = _COPY_LINE.match(line.rstrip(b"\n"))
            if found:
                table = found["table"].decode()
                columns = [c.strip().strip('"') for c in found["columns"].decode().split(",")]
                rows = 0
            continue
        if line == b"\\.\n":
            counts[table] = rows
            table = None
            continue
        rows += 1
        if table in kept:
            values = [_field(v) for v in line.decode("utf-8").rstrip("\n").split("\t")]
            kept[table].append(dict(zip(columns, values, strict=False)))
    problem = reader.stderr.read().decode("utf-8", "replace")
    if reader.wait() != 0 or table is not None:
        raise StoreError(
            f"{path} is not a Pilot Health backup that can be read "
            f"({_reason(problem, 'pg_restore') if problem else 'it ends early'})."
        )
    if "uploads" not in counts or "store_meta" not in counts:
        raise StoreError(f"{path} is not a backup of a Pilot Health store (it has no uploads or store_meta table).")
    uploads = sorted(kept["uploads"], key=lambda u: int(u["upload_id"] or 0))
    return {
        "counts": {t: counts[t] for t in queries.STORE_TABLES if t in counts},
        "uploads": [
            [
                int(u["upload_id"] or 0),
                u["sha256"],
                datetime.fromisoformat(u["withdrawn_at"]).isoformat(sep=" ") if u["withdrawn_at"] else None,
            ]
            for u in uploads
        ],
        "migrations": sorted(m["name"] or "" for m in kept["schema_migrations"]),
        "version": next((m["value"] for m in kept["store_meta"] if m["key"] == "version"), None),
    }


def _restore_postgres(store: Any, backup_file: Path, by: str) -> RestoreResult:
    """restore() for a store on PostgreSQL: the same checks and promises, with pg_restore. The
    safety copy of the replaced store is a dump beside the backup file."""
    from pilot_health.store.postgres import forget_schema

    store = store.unscoped()
    facts = facts_of_dump(backup_file)
    _check_manifest(backup_file, facts)
    with store.exclusive():
        previous = None
        if store.exists():
            previous = backup_file.with_name(f"pilot_health_before_restore_{utc_now():%Y%m%d_%H%M%S}{DUMP_SUFFIX}")
            dump(store, previous)
        try:
            _pg_restore(store, backup_file)  # one transaction: a restore that fails changes nothing
        except PilotHealthError as error:
            raise PilotHealthError(
                f"{error} Nothing was restored: the store is as it was"
                + (f" (a copy of it was written to {previous})." if previous else ".")
            ) from None
        forget_schema(store.url)
        try:
            _drop_what_the_backup_lacks(store, backup_file)
            with store.read() as con:  # brings a backup made by an older version up to this schema
                after = queries.store_facts(con)
            _compare(facts, after)
        except Exception as error:
            if previous is None:
                raise PilotHealthError(
                    f"The restored store {store.location} did not hold what the backup held ({error})."
                ) from None
            _pg_restore(store, previous)
            forget_schema(store.url)
            raise PilotHealthError(
                f"The restored store did not hold what the backup held ({error}); the previous store has been put "
                f"back in {store.location} (a copy of it stays in {previous})."
            ) from None
    # After the writers' lock is released: a write here would wait for it.
    _record_restore(store, backup_file, by, after, previous)
    return RestoreResult(backup_file, previous, after)


_ARCHIVED = re.compile(r"^\d+; \d+ \d+ (?P<kind>TABLE|SEQUENCE) public (?P<name>\w+) ")


def _drop_what_the_backup_lacks(store: Any, dump_file: Path) -> None:
    """A backup made by an older version lacks the tables and sequences added since; pg_restore
    leaves the replaced store's ones in place. They go (one transaction), so the migrations make
    them afresh, as they do for a restored file. Only the store's own tables are touched."""
    listed = subprocess.run([_program("pg_restore"), "--list", str(dump_file)], capture_output=True, text=True)
    held = {(m["kind"], m["name"]) for m in map(_ARCHIVED.match, listed.stdout.splitlines()) if m}
    if listed.returncode != 0 or not held:
        raise PilotHealthError(f"the list of what {dump_file} holds cannot be read")
    from pilot_health.store.postgres import _psycopg

    psycopg = _psycopg()
    with psycopg.connect(store.url) as connection:  # commits at the end of the block (the writers' lock is held)
        tables = {
            r[0]
            for r in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
        }
        sequences = {
            r[0]
            for r in connection.execute(
                "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'"
            ).fetchall()
        }
        for table in queries.STORE_TABLES:
            if table in tables and ("TABLE", table) not in held:
                connection.execute(f'DROP TABLE "{table}" CASCADE')
        for sequence in sorted(sequences):
            if ("SEQUENCE", sequence) not in held and sequence.endswith("_seq"):
                connection.execute(f'DROP SEQUENCE "{sequence}" CASCADE')


def _pg_restore(store: Any, dump_file: Path) -> None:
    """Replace the store's tables with a dump's, in one transaction (all of it or nothing). Owners
    and privileges are the restoring role's: the dump may come from a server with other roles."""
    _run(
        store,
        "pg_restore",
        [
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            str(dump_file),
        ],
        "restore",
    )
