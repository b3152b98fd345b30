"""Backups: a consistent copy of the store, taken while the dashboard runs, with a manifest of what
it holds; and restoring one, checked against its manifest before and after, with the store it
replaces kept beside it."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import queries
from .errors import PilotHealthError
from .store import Store, facts_of_file, utc_now

MANIFEST_SUFFIX = ".json"


@dataclass(frozen=True)
class BackupResult:
    file: Path
    manifest: Path
    facts: dict


@dataclass(frozen=True)
class RestoreResult:
    restored_from: Path
    previous_copy: Optional[Path]
    facts: dict


def manifest_path(backup_file: Path) -> Path:
    return backup_file.with_suffix(MANIFEST_SUFFIX)


def backup(store: Store, out_dir: Path) -> BackupResult:
    """Copy the store into `out_dir` as pilot_health_backup_<UTC time>.duckdb, with a .json manifest
    (rows per table, every upload's hash, migrations). Checked by reading the copy back."""
    out_dir = Path(out_dir).expanduser()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PilotHealthError(f"The backup folder {out_dir} cannot be created ({error.strerror}).") from None
    moment = utc_now()
    target = out_dir / f"pilot_health_backup_{moment:%Y%m%d_%H%M%S}.duckdb"
    if target.exists():
        raise PilotHealthError(f"{target} already exists; wait a second and try again, or choose another folder.")
    facts = store.copy_to(target)
    copied = facts_of_file(target)
    if copied != facts:
        target.unlink(missing_ok=True)
        raise PilotHealthError(f"The copy in {target} does not match the store it was taken from; nothing was kept. Try again.")
    manifest = manifest_path(target)
    manifest.write_text(json.dumps({"source": str(store.path), "created_at": moment.isoformat(timespec="seconds"), **facts},
                                   indent=2), encoding="utf-8")
    return BackupResult(target, manifest, facts)


def restore(store: Store, backup_file: Path, by: str = "local user") -> RestoreResult:
    """Replace the store with a backup. The backup is checked against its manifest first (when it
    has one); the current store is first copied to <store>.before-restore-<time>.duckdb; the
    restored store is migrated to this version's schema and checked again."""
    backup_file = Path(backup_file).expanduser()
    if not backup_file.is_file():
        raise PilotHealthError(f"There is no backup file {backup_file}.")
    facts = facts_of_file(backup_file)
    manifest = manifest_path(backup_file)
    if manifest.is_file():
        expected = json.loads(manifest.read_text(encoding="utf-8"))
        wrong = [key for key in ("counts", "uploads", "migrations", "version") if expected.get(key) != facts.get(key)]
        if wrong:
            raise PilotHealthError(f"The backup {backup_file} does not match its manifest ({', '.join(wrong)} differ); it was not restored.")
    previous = None
    if store.path.exists():
        previous = store.path.with_name(f"{store.path.stem}.before-restore-{utc_now():%Y%m%d_%H%M%S}.duckdb")
        store.copy_to(previous)
        store.checkpoint()
    partial = store.path.with_name(store.path.name + ".restoring")
    shutil.copyfile(backup_file, partial)
    wal = store.path.with_name(store.path.name + ".wal")
    os.replace(partial, store.path)
    wal.unlink(missing_ok=True)  # a log of the replaced file must never be replayed onto the restored one
    restored = Store(store.path, lock_wait_seconds=store.lock_wait_seconds)
    with restored.read() as _:
        pass  # brings the schema up to date (a backup made by an older version)
    after = facts_of_file(store.path)
    # A backup made by an older version has just been migrated: the migrations it lacked are now
    # recorded, and the tables they added are new. Everything the backup held must be as it was.
    held = {table: count for table, count in facts["counts"].items() if table != "schema_migrations"}
    kept = {table: count for table, count in after["counts"].items() if table in held}
    if kept != held or after["uploads"] != facts["uploads"]:
        raise PilotHealthError(f"The restored store {store.path} does not hold what the backup held; the previous store is in {previous}.")
    with restored.write() as con:
        queries.put_meta(con, "restored_from", f"{backup_file} at {utc_now().isoformat(timespec='seconds')}")
        queries.record_audit(con, utc_now(), by, "restore", str(backup_file),
                             f"{after['counts']['pilots']} pilots, {after['counts']['uploads']} uploads; the replaced store is in {previous}")
    return RestoreResult(backup_file, previous, after)
