"""The store: one DuckDB file, and the only code that opens it.

DuckDB lets one process hold a database file at a time. The dashboard and the command line (a
nightly `ingest`, say) must share the file, so nobody keeps it open: every unit of work opens a
connection, does its work and closes it, and an open that finds the file held by another process
retries until `lock_wait_seconds` run out, then raises `StoreLockedError` with one sentence that
says which file and what to do. Opening a store of millions of rows takes about 15 ms.

Every write goes through `Store.write()`, which changes the store version in the same
transaction; caches key on that version, so they can never serve numbers older than the store.

Replacing the whole file (a restore) must not race with anyone using it: an ingest that opened the
old file would commit into a file that is no longer the store. So every connection also holds a
shared lock on `<store>.lock` beside the file (an operating-system `flock`, which works between
threads of one process and between processes), and `Store.exclusive()` — what a restore holds —
waits for every connection to close and keeps new ones waiting until it is done.

A store made `for_person` someone limited to some business units reads through views that show
only those units' pilots (`queries.narrow_to`), so every page, download and total is narrowed in
one place. Writes are never narrowed: the domain checks each one against the person first.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pilot_health.config import Config, is_postgres_url
from pilot_health.errors import StoreError, StoreLockedError, os_problem
from pilot_health.store import queries
from pilot_health.store.base import StoreBase
from pilot_health.store.base import utc_now as utc_now  # where the rest of the product imports it from
from pilot_health.store.migrations import migrate

try:
    import fcntl
except ImportError:  # pragma: no cover - not Linux/macOS: one process at a time is all DuckDB allows anyway
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from pilot_health.access import Scope

LOCK_MESSAGE = re.compile(r"Could not set lock on file")
LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
_LOCKED_DOWN: dict[Path, tuple[str, ...]] = {}  # store file -> the only folders its connections may touch
_READY: dict[Path, tuple[int, int]] = {}
_READY_LOCK = threading.Lock()
_HELD = threading.local()  # .paths: the stores whose exclusive lock this thread holds
# Store file -> (its files' signature when read, its store_meta then): `Store.meta()` without opening DuckDB
# while neither the file nor its write-ahead log has changed (see `_files_signature`).
_META: dict[Path, tuple[tuple, dict[str, str]]] = {}
_META_LOCK = threading.Lock()
# A signature is trusted only when its files were last changed at least this long before it was taken:
# a file changed twice within one tick of the file system's clock could keep its time and size ("racy" in git's words).
SETTLED_NS = 1_000_000_000
LOCK_SUFFIX = ".lock"


def lock_file_of(path: Path) -> Path:
    """The file beside the store that connections lock shared and a restore exclusively."""
    return path.with_name(path.name + LOCK_SUFFIX)


def _pauses(seconds: float) -> Iterator[bool]:
    """The waits of a bounded retry, from 20 ms growing to 250 ms: each next() sleeps and gives True
    while time is left, then False once `seconds` have passed since this was called (the whole wait
    promised, never one step short of it)."""
    deadline = time.monotonic() + seconds

    def waits() -> Iterator[bool]:
        delay = 0.02
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 0.25)
            yield True
        yield False

    return waits()


def _held_here() -> set:
    if not hasattr(_HELD, "paths"):
        _HELD.paths = set()
    return _HELD.paths


def _open_lock_file(path: Path) -> int | None:
    """A descriptor of the store's lock file (created when missing), or None when the folder
    allows neither (a read-only copy of a store: nobody can restore over it either)."""
    lock = lock_file_of(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            return os.open(lock, flags, 0o666)
        except OSError:
            continue
    return None


def _files_signature(path: Path) -> tuple[tuple, bool]:
    """What the store file and its write-ahead log are on disk (identity, size, modification time,
    in nanoseconds): every committed write changes it (a commit appends to the log, a checkpoint
    rewrites the file and empties the log, a restore brings another file), in this process or any
    other. Second: whether it can be trusted to stay the same until the next change (its newest
    change is at least SETTLED_NS old)."""
    parts: list[tuple[int, int, int, int, int] | None] = []
    newest = 0
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            stat = file.stat()
        except OSError:
            parts.append(None)
            continue
        parts.append((stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
        newest = max(newest, stat.st_mtime_ns, stat.st_ctime_ns)
    return tuple(parts), time.time_ns() - newest >= SETTLED_NS


def _lock_holder(message: str) -> str:
    found = LOCK_HOLDER.search(message)
    if not found:
        return "another program"
    program = Path(found["program"]).name
    return f"another program ({program}, process {found['pid']})"


def _friendly_open_error(path: Path, error: Exception) -> StoreError:
    text = str(error)
    system = os_problem(error)
    if system and "Permission denied" not in text:
        return StoreError(system)
    if "not a valid DuckDB database file" in text or "is not a valid DuckDB" in text:
        return StoreError(
            f"The file {path} is not a Pilot Health store (it is not a DuckDB database); "
            "point PILOT_HEALTH_DB or --db at a new or existing store file."
        )
    if "Permission denied" in text:
        return StoreError(
            f"Pilot Health may not read or write the store {path} (permission denied); fix the file's permissions or use another path."
        )
    if "newer" in text.lower() and "version" in text.lower():
        return StoreError(
            f"The store {path} was written by a newer DuckDB than this Pilot Health uses; upgrade Pilot Health to open it."
        )
    first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return StoreError(f"The store {path} could not be opened ({first_line}).")


class Store(StoreBase[duckdb.DuckDBPyConnection]):
    """Owns every connection to one store file; see the module docstring for why they are short.
    Reading, writing and narrowing are `StoreBase`'s, the same as on PostgreSQL; the file's own
    opening, lock and commit are here."""

    def __init__(
        self, path: str | os.PathLike[str], *, lock_wait_seconds: float = 30.0, scope: Scope | None = None
    ) -> None:
        super().__init__(path, lock_wait_seconds=lock_wait_seconds, scope=scope)
        self.path = Path(path).expanduser().resolve()

    @classmethod
    def from_config(cls, config: Config) -> Store:
        """The store the settings name: a PostgreSQL server when PILOT_HEALTH_DB is a
        `postgresql://` address (a `PostgresStore`, same interface), else the embedded file."""
        return open_store(config.db_url or config.db_path, lock_wait_seconds=config.lock_wait_seconds)

    @property
    def address(self) -> str:
        return str(self.path)

    @property
    def location(self) -> str:
        """Where the store is, as messages show it."""
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    @classmethod
    def from_key(cls, key: tuple) -> Store:
        from pilot_health.access import Scope

        path, wait, scope = key
        return open_store(path, lock_wait_seconds=wait, scope=Scope(*scope) if scope else None)

    def lock_down(self, directories: Sequence[os.PathLike[str] | str]) -> None:
        """From now on, in this process, every connection to this store file may read and write
        files in these folders only: no other files, no network, no extension downloads. The
        dashboard locks its store down; the command line, which writes backups and exports where it
        is told, does not."""
        _LOCKED_DOWN[self.path] = tuple(str(Path(d).expanduser().resolve()) + os.sep for d in directories)

    # -- the lock beside the file ---------------------------------------------------------------

    @contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        """Hold the store's lock file shared (every connection) or exclusively (a restore), waiting
        up to `lock_wait_seconds`. A thread holding it exclusively opens connections freely."""
        if fcntl is None or self.path in _held_here():
            yield
            return
        fd = _open_lock_file(self.path)
        if fd is None:
            yield
            return
        try:
            pauses = _pauses(self.lock_wait_seconds)
            while True:
                try:
                    fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not next(pauses):
                        if exclusive:
                            raise StoreLockedError(
                                f"The store {self.path} stayed in use (an upload, a page or another program) for "
                                f"{self.lock_wait_seconds:g} seconds; nothing was changed. Wait for it to finish and try again."
                            ) from None
                        raise StoreLockedError(
                            f"The store {self.path} is being replaced from a backup and stayed busy for "
                            f"{self.lock_wait_seconds:g} seconds; wait for the restore to finish and try again."
                        ) from None
            if exclusive:
                _held_here().add(self.path)
            try:
                yield
            finally:
                if exclusive:
                    _held_here().discard(self.path)
        finally:
            os.close(fd)  # releases the lock

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Wait until nobody (no thread, no process) has the store open, and keep everyone else out
        until the block ends: what replacing the file needs. Connections this thread opens in the
        block are let through."""
        with self._lock(exclusive=True):
            yield

    # -- connections ------------------------------------------------------------------------

    def _connect_once(self) -> duckdb.DuckDBPyConnection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                os_problem(error)
                or f"The folder for the store {self.path} cannot be created ({error.strerror}); choose another path."
            ) from None
        con = duckdb.connect(str(self.path))
        # DuckDB draws a progress bar on stdout (a terminal or not) for any statement that runs over two
        # seconds: it would land in the middle of the command line's output (its one JSON object) and logs.
        con.execute("SET enable_progress_bar = false")
        allowed = _LOCKED_DOWN.get(self.path)
        if allowed:
            _lock_down(con, allowed)
        return con

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Open a connection, waiting (bounded) while another process holds the file."""
        pauses = _pauses(self.lock_wait_seconds)
        while True:
            try:
                return self._connect_once()
            except duckdb.IOException as error:
                if not LOCK_MESSAGE.search(str(error)):
                    raise _friendly_open_error(self.path, error) from None
                if not next(pauses):  # the whole wait promised has passed (not one step short of it)
                    raise StoreLockedError(
                        f"The store {self.path} is in use by {_lock_holder(str(error))} and stayed busy for "
                        f"{self.lock_wait_seconds:g} seconds; wait for that program to finish (or stop it) and try again."
                    ) from None
            except duckdb.Error as error:
                raise _friendly_open_error(self.path, error) from None

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_dev, stat.st_ino)

    def _ensure_ready(self, con: duckdb.DuckDBPyConnection) -> None:
        """Migrate once per process and file (a restored or replaced file is migrated again)."""
        identity = self._file_identity()
        if identity is not None and _READY.get(self.path) == identity:
            return
        with _READY_LOCK:
            migrate(con)
            _READY[self.path] = self._file_identity() or (0, 0)

    @contextmanager
    def _connect(self, *, reading: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection, closed (and the file released) when the block ends; a restore waits until then."""
        with self._lock(exclusive=False):
            con = self._open()
            try:
                yield con
            finally:
                con.close()

    def _take_turn(self, con: duckdb.DuckDBPyConnection) -> None:
        """Begin the write's transaction (one process holds the file at a time, see `_open`)."""
        con.begin()

    def _commit(self, con: duckdb.DuckDBPyConnection) -> None:
        con.commit()
        _META.pop(self.path, None)

    # -- copies ---------------------------------------------------------------------------------

    def copy_to(self, target: Path) -> dict:
        """A consistent copy of the whole store in a new DuckDB file `target` (written whole: a
        temporary file renamed at the end), taken in one read, so it works while the dashboard
        runs. Returns the facts of what was copied (`queries.store_facts`)."""
        target = Path(target)
        partial = target.with_name(target.name + ".part")
        leftovers = (partial, partial.with_name(partial.name + ".wal"))
        for file in leftovers:
            file.unlink(missing_ok=True)
        try:
            with self.read() as con:
                facts = queries.store_facts(con)
                source = queries.one_value(con.execute("SELECT current_database()"))
                con.execute("ATTACH ? AS pilot_health_copy", [str(partial)])
                try:
                    con.execute(f'COPY FROM DATABASE "{source}" TO pilot_health_copy')
                finally:
                    con.execute("DETACH pilot_health_copy")
            os.replace(partial, target)
        finally:  # a copy that failed (a full disk) leaves nothing behind
            for file in leftovers:
                file.unlink(missing_ok=True)
        return facts

    def checkpoint(self) -> None:
        """Write everything into the main file (nothing left in the write-ahead log)."""
        with self.read() as con:
            con.execute("CHECKPOINT")

    # -- the store's own bookkeeping --------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The store's bookkeeping (version, last change, …). Every page view asks for it, so it is
        remembered per store file and read again only when the file or its write-ahead log has
        changed on disk (a write by this process, the command line or anyone else), which a look
        at the files tells without opening DuckDB (about 0.05 ms instead of tens of milliseconds)."""
        signature, settled = _files_signature(self.path)
        known = _META.get(self.path)
        if known is not None and known[0] == signature:
            return dict(known[1])
        with self.read() as con:
            meta = queries.read_meta(con)
        if settled and signature[0] is not None:  # taken before the read: a write since then changes it
            with _META_LOCK:
                _META[self.path] = (signature, meta)
        return dict(meta)


def open_store(target: str | os.PathLike[str], *, lock_wait_seconds: float = 30.0, scope: Scope | None = None) -> Store:
    """A store from what a person wrote: a `postgresql://` address opens the shared server
    (`store.postgres.PostgresStore`, which has the same interface), anything else a DuckDB file.
    The PostgreSQL module (psycopg, pandas) is imported only then: a nightly `ingest --check` of a
    plain file on the embedded store runs without pandas."""
    if is_postgres_url(target):
        from pilot_health.store.postgres import PostgresStore

        return PostgresStore(str(target), lock_wait_seconds=lock_wait_seconds, scope=scope)  # type: ignore[return-value]
    return Store(target, lock_wait_seconds=lock_wait_seconds, scope=scope)


def facts_of_file(path: Path) -> dict:
    """The facts of a store file opened read-only and left unchanged (a backup before restoring it)."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise StoreError(
            f"{path} is not a Pilot Health backup that can be read ({str(error).splitlines()[0]})."
        ) from None
    try:
        return queries.store_facts(con)
    except duckdb.Error as error:
        raise StoreError(f"{path} is not a Pilot Health store ({str(error).splitlines()[0]}).") from None
    finally:
        con.close()


def _lock_down(con: duckdb.DuckDBPyConnection, allowed: tuple[str, ...]) -> None:
    """Allow files in these folders only, and no other external access. The settings belong to the
    database instance, which connections of one process to the same file share (the page and a
    download being made at the same time): once it is locked, it stays locked and cannot be changed."""

    def locked() -> bool:
        return not queries.one_value(con.execute("SELECT current_setting('enable_external_access')"))

    if locked():
        return
    try:
        con.execute("SET allowed_directories = ?", [list(allowed)])
        con.execute("SET enable_external_access = false")
    except duckdb.Error:
        if not locked():  # another connection did not lock it first: a real failure
            raise
