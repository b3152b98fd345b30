"""Operations under stress: a restore while uploads run (in threads and in other processes), a full
disk, a read-only disk and a refused permission, killed uploads and the progress report.

What a restore promises an upload (docs/operating.md, "Backups"): an upload that committed before the
restore took the store's lock is in the copy of the replaced store (`…before-restore-….duckdb`),
which the backup replaces as asked; an upload that commits after it is in the restored store. No
upload that the command line reported as stored (exit 0) is in neither.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, record_upload, target

from pilot_health import cli
from pilot_health.errors import PilotHealthError
from pilot_health.store import backup as backup_module
from pilot_health.store import queries
from pilot_health.store.backup import backup, restore
from pilot_health.store.database import Store, facts_of_file, open_store

FIXTURES = ROOT / "tests" / "fixtures" / "uploads"
# Why a test runs on the embedded store only (its [postgres] run is skipped with the reason).
FULL_DISK_UNDER_THE_FILE = (
    "about a full disk under the DuckDB file and its write-ahead log; a PostgreSQL server keeps its own files, "
    "on its own disk"
)
WORK_FOLDERS_TESTED_ONCE = (
    "upload work folders are on this machine whichever the store (DuckDB file or PostgreSQL): tested once"
)


def embedded_only(backend: str, why: str) -> None:
    if backend == "postgres":
        pytest.skip(why)


def waiting(store, seconds: float):
    """The same store with another lock wait."""
    return open_store(getattr(store, "url", None) or store.path, lock_wait_seconds=seconds)


def hashes_in(where) -> set[str]:
    """The upload hashes of a store, or of a backup file of either kind (a replaced store's copy)."""
    if isinstance(where, Path):
        return {u[1] for u in backup_module.facts_of_backup(where)["uploads"]}
    with where.read() as con:
        return {u[1] for u in queries.store_facts(con)["uploads"]}


def cli_process(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pilot_health", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def small_export(folder: Path, i: int) -> Path:
    """Three new accuracy values for SC-01 on days no other file uses: distinct bytes, distinct rows."""
    path = folder / f"load_{i}.csv"
    path.write_text(
        "pilot_id,metric,environment,observed_at,value\n"
        + "".join(f"SC-01,accuracy,lab,2026-0{month}-{10 + i},0.9{i}{month}\n" for month in (5, 6, 7))
    )
    return path


ROWS_PER_UPLOAD = """SELECT u.sha256, count(m.upload_id) FROM uploads u
                      LEFT JOIN metric_observations m USING (upload_id) GROUP BY u.sha256"""


def uploads_of(where) -> dict[str, int]:
    """sha256 -> rows stored under that upload, read from a store file or through a store of either kind."""
    if isinstance(where, Path):
        con = duckdb.connect(str(where), read_only=True)
        try:
            return dict(con.execute(ROWS_PER_UPLOAD).fetchall())
        finally:
            con.close()
    with where.read() as con:
        return dict(con.execute(ROWS_PER_UPLOAD).fetchall())


# -- restore under load -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_restore_waits_for_a_running_upload_and_new_ones_wait_for_it(demo_store, backend, tmp_path, monkeypatch):
    """Deterministic, in one process (the dashboard's threads): a write transaction is open when
    the restore starts; the restore waits for its commit, which lands in the replaced store's copy.
    A write started while the store is being replaced waits and lands in the restored store. On
    PostgreSQL the writers wait on the restore's advisory lock instead of the lock file."""
    made = backup(demo_store, tmp_path / "b")
    in_write, finish_write = threading.Event(), threading.Event()
    swapping = threading.Event()
    replace = "_pg_restore" if backend == "postgres" else "_put_in_place"
    original_put = getattr(backup_module, replace)

    def slow_put(source, target):
        swapping.set()
        time.sleep(1.0)  # a big store takes a moment to put in place
        original_put(source, target)

    monkeypatch.setattr(backup_module, replace, slow_put)

    def open_upload():
        with demo_store.write() as con:
            record_upload(con, "before.csv", "b" * 64)
            in_write.set()
            finish_write.wait(20)

    done: dict = {}

    def late_upload():
        swapping.wait(20)
        with demo_store.write() as con:
            record_upload(con, "after.csv", "a" * 64)
        done["late"] = time.monotonic()

    first = threading.Thread(target=open_upload)
    first.start()
    assert in_write.wait(20)
    restorer = threading.Thread(
        target=lambda: done.update(result=restore(waiting(demo_store, 30), made.file), restored=time.monotonic())
    )
    late = threading.Thread(target=late_upload)
    restorer.start()
    late.start()
    time.sleep(1.0)
    assert restorer.is_alive() and not swapping.is_set()  # the restore waits for the open upload
    finish_write.set()
    for thread in (first, restorer, late):
        thread.join(60)
    result = done["result"]
    assert done["late"] > done["restored"] - 0.5  # the late upload waited for the swap (its commit came after)
    previous, now = hashes_in(result.previous_copy), hashes_in(demo_store)
    assert "b" * 64 in previous and "b" * 64 not in now  # committed before the restore: in the replaced store's copy
    assert (
        "a" * 64 in now and "a" * 64 not in previous
    )  # committed during it: waited, then stored in the restored store
    assert {sha for sha in now if sha != "a" * 64} == {u[1] for u in made.facts["uploads"]}


@pytest.mark.slow
def test_no_upload_reported_as_stored_is_lost_when_a_restore_runs_among_them(demo_store, backend, tmp_path, request):
    """Eight command-line ingests of distinct files in their own processes, a restore started
    among them. Every ingest that exited 0 is, with all its rows, in exactly one of: the restored
    store (committed after the restore) or the copy of the store it replaced (committed before)."""
    made = backup(demo_store, tmp_path / "b")
    files = [small_export(tmp_path, i) for i in range(8)]
    db = target(demo_store)
    ingests, restorer = [], None
    for i, path in enumerate(files):
        ingests.append(cli_process(tmp_path, "ingest", path.name, "--db", db, "--json", "--wait", "90"))
        if i == 3:
            restorer = cli_process(tmp_path, "restore", str(made.file), "--db", db, "--yes", "--json", "--wait", "90")
        time.sleep(0.3)
    outcomes = [process.communicate(timeout=180) + (process.returncode,) for process in ingests]
    restored_out, restored_err = restorer.communicate(timeout=180)
    assert restorer.returncode == 0, restored_err
    previous_copy = Path(json.loads(restored_out)["previous_copy"])
    if backend == "postgres":  # the replaced store's copy is a pg_dump file: read it back in an empty database
        copy_store = open_store(request.getfixturevalue("postgres_url"))
        restore(copy_store, previous_copy)
        now, previous = uploads_of(demo_store), uploads_of(copy_store)
    else:
        now, previous = uploads_of(demo_store.path), uploads_of(previous_copy)
    split = {"before": 0, "after": 0}
    for (out, err, code), path in zip(outcomes, files):
        assert code == 0, err
        payload = json.loads(out)
        assert payload["status"] == "stored" and payload["rows_stored"] >= 2
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        homes = [
            name for name, store in (("after", now), ("before", previous)) if store.get(sha) == payload["rows_stored"]
        ]
        assert len(homes) == 1, f"{path.name} was reported stored but is in {homes or 'neither store'}"
        split[homes[0]] += 1
    print(f"stored before the restore took the lock: {split['before']}, after: {split['after']}")
    # the restored store is the backup plus the uploads committed after it, nothing else
    assert set(now) - {u[1] for u in made.facts["uploads"]} == {
        hashlib.sha256(p.read_bytes()).hexdigest() for p in files
    } - set(previous)
    assert open_store(db).meta()["restored_from"].startswith(str(made.file))


def test_a_restore_that_fails_its_check_puts_the_previous_store_back(
    demo_store, backend, tmp_path, monkeypatch, request
):
    """The copy put in place is not what the backup held (a disk that corrupts, simulated by
    copying another store): the previous store goes back, and the error says so."""
    if backend == "postgres":
        _a_postgres_restore_that_fails_its_check(
            demo_store, tmp_path, monkeypatch, request.getfixturevalue("postgres_url")
        )
        return
    made = backup(demo_store, tmp_path / "b")
    with demo_store.write() as con:
        record_upload(con, "mine.csv", "c" * 64)
    before = uploads_of(demo_store.path)
    empty = Store(tmp_path / "empty.duckdb")
    empty.ensure_ready()
    original_put, calls = backup_module._put_in_place, []

    def wrong_copy(source, target):
        calls.append(source)
        original_put(empty.path if len(calls) == 1 else source, target)

    monkeypatch.setattr(backup_module, "_put_in_place", wrong_copy)
    with pytest.raises(PilotHealthError) as caught:
        restore(demo_store, made.file)
    message = str(caught.value)
    assert "did not hold what the backup held" in message and "the previous store has been put back" in message
    assert uploads_of(demo_store.path) == before
    assert not list(tmp_path.glob("*.restoring"))


def _a_postgres_restore_that_fails_its_check(store, tmp_path, monkeypatch, empty_url):
    """The same on PostgreSQL: pg_restore puts another (empty) store's dump in place the first time."""
    made = backup(store, tmp_path / "b")
    with store.write() as con:
        record_upload(con, "mine.csv", "c" * 64)
    before = hashes_in(store)
    empty = backup(open_store(empty_url, lock_wait_seconds=5), tmp_path / "empty").file
    original, calls = backup_module._pg_restore, []

    def wrong_dump(target, dump_file):
        calls.append(dump_file)
        original(target, empty if len(calls) == 1 else dump_file)

    monkeypatch.setattr(backup_module, "_pg_restore", wrong_dump)
    with pytest.raises(PilotHealthError) as caught:
        restore(store, made.file)
    message = str(caught.value)
    assert "did not hold what the backup held" in message and "the previous store has been put back" in message
    assert hashes_in(store) == before and "c" * 64 in before
    assert len(calls) == 2  # the backup, then the copy of the store it was to replace


# -- full disk, read-only disk, refused permission ------------------------------------------------


@contextmanager
def tmpfs(folder: Path, size: str, read_only: bool = False):
    """A small disk of its own (tmpfs), or the test is skipped with the reason."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    if not shutil.which("mount"):
        pytest.skip("this machine has no mount command, so the tests cannot mount a small disk")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"this machine does not let the tests mount a small disk (mount: {(mounted.stderr or 'not permitted').strip()})"
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int, name: str = "filler") -> Path:
    """Fill the disk holding `folder` but for `leave` bytes."""
    free = shutil.disk_usage(folder).free
    filler = folder / name
    with open(filler, "wb") as out:
        out.write(b"\0" * max(free - leave, 0))
    return filler


def big_export(path: Path) -> Path:
    start = date(2023, 1, 1)
    lines = ["pilot_id,metric,environment,observed_at,value"]
    for pilot in ("SC-01", "SC-02", "SC-03", "RO-01", "RO-02", "RO-03"):
        lines += [f"{pilot},accuracy,lab,{start + timedelta(days=k)},0.{(k * 7919) % 100000:05d}" for k in range(3000)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_a_full_disk_is_a_sentence_with_exit_1_and_harms_nothing(demo_store, backend, tmp_path, run_command):
    embedded_only(backend, FULL_DISK_UNDER_THE_FILE)
    disk = tmp_path / "disk"
    with tmpfs(disk, "8m"):
        db = disk / "store.duckdb"
        shutil.copy(demo_store.path, db)
        before = facts_of_file(db)
        export = big_export(tmp_path / "big.csv")
        filler = fill(disk, 150_000)

        stored = run_command("ingest", str(export), "--db", str(db), cwd=tmp_path)
        assert stored.returncode == 1, stored.stderr
        assert (
            stored.stderr.strip()
            == f"pilot_health ingest: The disk holding {disk} is full; free some space there and run again (nothing was half-written)."
        )
        assert facts_of_file(db) == before  # the store is as it was, and opens

        copied = run_command("backup", "--db", str(db), "--out", str(disk / "backups"), cwd=tmp_path)
        assert copied.returncode == 1 and f"The disk holding {disk / 'backups'} is full" in copied.stderr, copied.stderr
        assert list((disk / "backups").iterdir()) == []  # no half backup, no .part

        more = fill(disk, 20_000, "filler2")  # the pack is about 140 KB
        packed = run_command(
            "export", "--db", str(db), "--portfolio", "--format", "html", "--out", str(disk / "pack.html"), cwd=tmp_path
        )
        assert packed.returncode == 1 and f"The disk holding {disk} is full" in packed.stderr, packed.stderr
        assert {p.name for p in disk.iterdir()} - {"store.duckdb.wal"} == {
            "backups",
            "filler",
            "filler2",
            "store.duckdb",
            "store.duckdb.lock",
        }

        filler.unlink()  # space again: the same ingest goes through
        again = run_command("ingest", str(export), "--db", str(db), "--json", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["rows_stored"] > 10_000


def test_a_postgres_backup_onto_a_full_disk_is_a_sentence_and_leaves_nothing(postgres_demo_url, tmp_path, run_command):
    """pg_dump runs out of space half-way through the dump: the same sentence as for the embedded
    store's copy, and no half dump (no .part) is left."""
    disk = tmp_path / "disk"
    with tmpfs(disk, "1m"):
        fill(disk, 60_000)
        copied = run_command("backup", "--db", postgres_demo_url, "--out", str(disk / "backups"), cwd=tmp_path)
        assert copied.returncode == 1
        assert copied.stderr.strip() == (
            f"pilot_health backup: The disk holding {disk / 'backups'} is full; free some space there and run "
            "again (nothing was half-written)."
        )
        assert list((disk / "backups").iterdir()) == []


@pytest.mark.slow
def test_a_read_only_disk_is_a_sentence_with_exit_1(demo_store, backend, tmp_path, run_command):
    db = getattr(demo_store, "url", None) or str(demo_store.path)
    disk = tmp_path / "ro"
    with tmpfs(disk, "1m", read_only=True):
        copied = run_command("backup", "--db", db, "--out", str(disk / "backups"), cwd=tmp_path)
        assert copied.returncode == 1
        assert copied.stderr.strip() == (
            f"pilot_health backup: {disk} is on a read-only disk; choose a folder that can be written "
            "(or remount the disk) and run again."
        )
        packed = run_command(
            "export",
            "--db",
            db,
            "--portfolio",
            "--format",
            "html",
            "--out",
            str(disk / "pack.html"),
            cwd=tmp_path,
        )
        assert packed.returncode == 1 and f"{disk} is on a read-only disk" in packed.stderr, packed.stderr


@pytest.mark.parametrize(
    "code, words",
    [
        (errno.ENOSPC, "The disk holding {folder} is full; free some space there and run again"),
        (errno.EACCES, "Pilot Health may not write or read {file} (permission denied); fix the permissions"),
        (errno.EROFS, "{folder} is on a read-only disk; choose a folder that can be written"),
    ],
)
def test_an_export_that_cannot_be_written_leaves_no_part_file(
    demo_store, backend, tmp_path, monkeypatch, capsys, code, words
):
    """Always runs (no mounting needed): the operating system refuses the write itself."""
    real_write = Path.write_bytes

    def refuse(self, data):
        real_write(self, data[: len(data) // 2])  # half the file reached the disk
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(Path, "write_bytes", refuse)
    out = tmp_path / "packs" / "pack.html"
    returned = cli.main(["export", "--db", target(demo_store), "--portfolio", "--format", "html", "--out", str(out)])
    assert returned == 1
    error = capsys.readouterr().err
    assert words.format(folder=out.parent, file=str(out) + ".part") in error and "Unexpected" not in error
    assert list(out.parent.iterdir()) == []


def test_an_ingest_whose_commit_hits_a_full_disk_is_exit_1_and_stores_nothing(
    demo_store, backend, tmp_path, monkeypatch, capsys
):
    """Always runs: DuckDB's own words for a full disk at commit time."""
    embedded_only(backend, FULL_DISK_UNDER_THE_FILE)
    before = facts_of_file(demo_store.path)
    real = queries.set_upload_details

    def full(con, *args, **kwargs):
        real(con, *args, **kwargs)
        raise duckdb.IOException(
            f'IO Error: Could not write all bytes to file "{demo_store.path}.wal": No space left on device'
        )

    monkeypatch.setattr(queries, "set_upload_details", full)
    returned = cli.main(["ingest", str(FIXTURES / "metrics_ragged.csv"), "--db", str(demo_store.path)])
    assert returned == 1
    assert capsys.readouterr().err.strip() == (
        f"pilot_health ingest: The disk holding {demo_store.path.parent} is full; "
        "free some space there and run again (nothing was half-written)."
    )
    assert facts_of_file(demo_store.path) == before


# -- killed uploads and progress --------------------------------------------------------------

KILLED_MID_UPLOAD = """
import sys, time
from pathlib import Path
from pilot_health.ingest import workspace
folder = workspace.work_folder()
print(folder, flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_the_work_folder_of_a_killed_upload_is_removed_by_the_next_upload(demo_store, backend):
    embedded_only(backend, WORK_FOLDERS_TESTED_ONCE)
    from pilot_health.ingest import workspace

    killed = subprocess.Popen([sys.executable, "-c", KILLED_MID_UPLOAD], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    folder = Path(killed.stdout.readline().strip())
    assert (
        folder.is_dir()
        and folder.parent == workspace.UPLOAD_WORK_ROOT
        and folder.name.startswith(f"upload-{killed.pid}-")
    )
    running = subprocess.Popen([sys.executable, "-c", KILLED_MID_UPLOAD], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    alive = Path(running.stdout.readline().strip())
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    try:
        assert folder.is_dir()  # SIGKILL: its own clean-up never ran
        result = cli.main(["ingest", str(FIXTURES / "metrics_ragged.csv"), "--db", str(demo_store.path), "--check"])
        assert result == 0
        assert not folder.exists()  # swept by the next upload
        assert alive.is_dir()  # a running upload's folder is left alone
        assert not list(workspace.UPLOAD_WORK_ROOT.glob(f"upload-{os.getpid()}-*"))  # and each upload removes its own
    finally:
        running.kill()
        running.wait()
        shutil.rmtree(alive, ignore_errors=True)


@pytest.mark.slow
def test_another_user_of_the_machine_uploads_with_a_work_folder_of_their_own(tmp_path):
    """Upload work folders live in a folder of the user's own (0700): one made by root (say, the
    dashboard's service) does not refuse another user's command-line upload as 'permission denied'."""
    import tempfile

    from pilot_health.ingest import workspace

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run an upload as another user (nobody)")
    workspace.work_folder().rmdir()  # root's own folder exists, as after any upload of the dashboard
    shared = Path(tempfile.mkdtemp(prefix="shared-"))
    try:
        shared.chmod(0o777)
        export = shared / "export.csv"
        shutil.copy(FIXTURES / "metrics_ragged.csv", export)
        export.chmod(0o644)
        env = {**os.environ, "HOME": str(shared), "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-m",
                "pilot_health",
                "ingest",
                str(export),
                "--db",
                str(shared / "store.duckdb"),
                "--pilot",
                "SC-01",
                "--kind",
                "metrics",
                "--environment",
                "live",
                "--json",
            ],
            cwd=shared,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "permission denied" not in done.stderr and "Unexpected" not in done.stderr, done.stderr
        assert done.returncode in (0, 1) and json.loads(done.stdout)["status"] in ("stored", "refused"), (
            done.stdout + done.stderr
        )
        assert (Path(tempfile.gettempdir()) / "pilot-health-uploads-65534").stat().st_uid == 65534
        assert workspace.UPLOAD_WORK_ROOT.name == f"pilot-health-uploads-{os.getuid()}"
        assert workspace.UPLOAD_WORK_ROOT.stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(shared, ignore_errors=True)
        shutil.rmtree(Path(tempfile.gettempdir()) / "pilot-health-uploads-65534", ignore_errors=True)


def test_progress_says_stored_only_after_the_commit(demo_store, backend, monkeypatch, capsys):
    """The last line, "[100%] Stored …", is printed after the transaction committed: when the
    commit fails it is never printed."""
    done = cli.main(["ingest", str(FIXTURES / "metrics_ragged.csv"), "--db", target(demo_store), "--progress"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert done == 0 and lines[-1].startswith("[100%] Stored 8 rows as upload ")
    upload_id = int(lines[-1].rsplit(" ", 1)[1].rstrip("."))
    with demo_store.read() as con:
        assert con.execute("SELECT rows_stored FROM uploads WHERE upload_id = ?", [upload_id]).fetchone()[0] == 8

    real_put_meta = queries.put_meta

    def commit_fails(con, key, value):  # the store's last step before COMMIT, after the engine's last progress step
        if key == "version":
            raise duckdb.IOException('IO Error: Could not write file "/x/store.duckdb.wal": No space left on device')
        real_put_meta(con, key, value)

    monkeypatch.setattr(queries, "put_meta", commit_fails)
    failed = cli.main(
        [
            "ingest",
            str(FIXTURES / "metrics_wide_per_metric.csv"),
            "--db",
            target(demo_store),
            "--progress",
            "--pilot",
            "SC-01",
            "--environment",
            "live",
        ]
    )
    err = capsys.readouterr().err
    assert (
        failed == 1 and "[ 75%] Storing 24 rows" in err and "[100%]" not in err and "The disk holding /x is full" in err
    )


def test_the_engine_reports_stored_only_after_the_commit(demo_store, backend, monkeypatch):
    """What the upload page's progress bar shows: "Stored …" comes after the commit, never before
    one that fails (the page then shows only the full-disk sentence)."""
    from pilot_health.ingest import IngestOptions, ingest

    said: list[tuple[float, str]] = []
    committed: list[bool] = []
    real_put_meta = queries.put_meta

    def watch_commit(con, key, value):  # the store's last step before COMMIT
        if key == "version":
            committed.append(False)
        real_put_meta(con, key, value)

    def progress(share, text):
        said.append((share, text, bool(committed)))

    monkeypatch.setattr(queries, "put_meta", watch_commit)
    data = (FIXTURES / "metrics_ragged.csv").read_bytes()
    options = IngestOptions(pilot_id="SC-01", environment="live")
    result = ingest(demo_store, data, "ragged.csv", options, commit=True, progress=progress)
    assert result.status == "stored"
    assert said[-1][:2] == (1.0, f"Stored 8 rows as upload {result.upload_id}.") and said[-1][2], (
        "said before the commit began"
    )

    def commit_fails(con, key, value):
        if key == "version":
            raise duckdb.IOException('IO Error: Could not write file "/x/store.duckdb.wal": No space left on device')
        real_put_meta(con, key, value)

    monkeypatch.setattr(queries, "put_meta", commit_fails)
    said.clear()
    again = IngestOptions(pilot_id="SC-01", environment="live", store_again=True, replace_existing=True)
    with pytest.raises(
        duckdb.IOException, match="No space left"
    ):  # the page and the command line word it (errors.os_problem)
        ingest(demo_store, data, "ragged.csv", again, commit=True, progress=progress)
    assert said and not [text for _, text, _ in said if text.startswith("Stored")]


# -- Streamlit's metrics endpoint ----------------------------------------------------------------


def test_the_metrics_endpoint_publishes_no_sign_in_details_and_the_proxy_rule_is_documented():
    """Streamlit has no setting to close /_stcore/metrics (so the launcher leaves the route out);
    docs/operating.md says so and tells a proxy to block it too, and no sign-in attribute is ever published there."""
    import tomllib

    from streamlit import config

    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["server"]
    assert server["unsafeMetricsUserAttributes"] == []
    # If a Streamlit upgrade adds a setting that closes the endpoint, use it and change docs/operating.md.
    assert [key for key in config._config_options if key.startswith("server.") and "etric" in key] == [
        "server.unsafeMetricsUserAttributes"
    ]
    readme = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    assert (
        "Pilot Health's launcher leaves that route out" in readme
        and "location = /_stcore/metrics { return 404; }" in readme
    )


@pytest.mark.slow
def test_the_dashboard_started_as_run_py_starts_it_publishes_no_metrics(tmp_path):
    """run.py starts Streamlit through pilot_health.ui.serve, which leaves out /_stcore/metrics:
    the address then answers like any unknown page (the app's own page), never with the counts."""
    import os
    import urllib.request

    from browser_support import start_dashboard

    env = dict(os.environ, PILOT_HEALTH_DB=str(tmp_path / "store.duckdb"), PILOT_HEALTH_DEMO_ON_FIRST_RUN="no")
    with start_dashboard(tmp_path, None, env) as dashboard:
        with urllib.request.urlopen(f"{dashboard.url}/_stcore/metrics", timeout=10) as answer:
            body = answer.read().decode("utf-8", "replace")
            kind = answer.headers.get("content-type", "")
        assert kind.startswith("text/html") and "openmetrics" not in kind
        assert "# TYPE" not in body and "cache_memory_bytes" not in body
        with urllib.request.urlopen(f"{dashboard.url}/_stcore/health", timeout=10) as answer:
            assert answer.status == 200
    run_py = (ROOT / "run.py").read_text(encoding="utf-8")
    assert '"-m", "pilot_health.ui.serve", "run"' in run_py


def test_a_full_disk_on_a_page_is_one_sentence_not_a_crash():
    """The pages' friendly_errors turns a full disk (or refused permission) into the same sentence
    the command line gives; anything else still surfaces as a bug."""
    from streamlit.testing.v1 import AppTest

    def page() -> None:
        import errno

        from pilot_health.ui.page import friendly_errors

        with friendly_errors():
            raise OSError(errno.ENOSPC, "No space left on device", "/data/stores/pilot_health.duckdb")

    at = AppTest.from_function(page).run()
    assert [e.value for e in at.error] == [
        "The disk holding /data/stores is full; free some space there and run again (nothing was half-written)."
    ]
    assert not at.exception

    def bug() -> None:
        from pilot_health.ui.page import friendly_errors

        with friendly_errors():
            raise KeyError("a bug")

    assert AppTest.from_function(bug).run().exception
