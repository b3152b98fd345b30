"""Backups: a consistent copy of the store, taken while the dashboard runs, with a manifest of what
it holds; and restoring one, checked against its manifest before and after, with the store it
replaces kept beside it."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pilot_health.errors import PilotHealthError, os_problem
from pilot_health.store import queries
from pilot_health.store.database import Store, facts_of_file, utc_now

MANIFEST_SUFFIX = ".json"


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


def backup(store: Store, out_dir: Path) -> BackupResult:
    """Copy the store into `out_dir` as pilot_health_backup_<UTC time>.duckdb, with a .json manifest
    (rows per table, every upload's hash, migrations). Checked by reading the copy back."""
    out_dir = Path(out_dir).expanduser().absolute()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PilotHealthError(
            os_problem(error) or f"The backup folder {out_dir} cannot be created ({error.strerror})."
        ) from None
    moment = utc_now()
    target = out_dir / f"pilot_health_backup_{moment:%Y%m%d_%H%M%S}.duckdb"
    if target.exists():
        raise PilotHealthError(f"{target} already exists; wait a second and try again, or choose another folder.")
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
                {"source": str(store.path), "created_at": moment.isoformat(timespec="seconds"), **facts}, indent=2
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
    facts = facts_of_file(backup_file)
    manifest = manifest_path(backup_file)
    if manifest.is_file():
        expected = json.loads(manifest.read_text(encoding="utf-8"))
        wrong = [key for key in ("counts", "uploads", "migrations", "version") if expected.get(key) != facts.get(key)]
        if wrong:
            raise PilotHealthError(
                f"The backup {backup_file} does not match its manifest ({', '.join(wrong)} differ); it was not restored."
            )
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
        restored = Store(store.path, lock_wait_seconds=store.lock_wait_seconds)
        with restored.write() as con:
            queries.put_meta(con, "restored_from", f"{backup_file} at {utc_now().isoformat(timespec='seconds')}")
            queries.record_audit(
                con,
                utc_now(),
                by,
                "restore",
                str(backup_file),
                f"{after['counts']['pilots']} pilots, {after['counts']['uploads']} uploads; the replaced store is in {previous}",
            )
    return RestoreResult(backup_file, previous, after)


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
    # A backup made by an older version has just been migrated: the migrations it lacked are now
    # recorded, and the tables they added are new. Everything the backup held must be as it was.
    held = {table: count for table, count in facts["counts"].items() if table != "schema_migrations"}
    kept = {table: count for table, count in after["counts"].items() if table in held}
    if kept != held:
        raise PilotHealthError("its row counts differ")
    if after["uploads"] != facts["uploads"]:
        raise PilotHealthError("its uploads differ")
    return after
