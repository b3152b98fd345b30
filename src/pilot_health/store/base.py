"""What the two stores share: the embedded DuckDB file (`store.database.Store`) and the shared
PostgreSQL server (`store.postgres.PostgresStore`) narrow a limited person's reads, bring the
schema up to date and put a new store version with every write in the same way; only opening a
connection, keeping others out and committing differ, and each engine says how in a few methods.

This module imports neither engine's driver: opening a DuckDB store never imports psycopg or
pandas, and the PostgreSQL module need not import DuckDB's.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, Self, TypeVar

from pilot_health.store import queries
from pilot_health.store.dialect import Connection

if TYPE_CHECKING:
    from pilot_health.access import Person, Scope

Con = TypeVar("Con", bound=Connection)


def utc_now() -> datetime:
    """Timestamps are stored as UTC without a zone (documented in docs/schema.md)."""
    return datetime.now(UTC).replace(tzinfo=None)


class StoreBase(Generic[Con]):
    """A store at one address (a file's path or a server's URL), read as a person may read it.

    An engine gives: `address` (what rebuilds the store), `location` (what messages show),
    `_connect` (a connection for one unit of work, held against a restore), `_ensure_ready`
    (the schema brought up to date), `_take_turn` (a write's transaction begun, writers in turn)
    and `_commit`; and its own `meta`, `exists`, `exclusive`."""

    def __init__(
        self, address: str | os.PathLike[str], *, lock_wait_seconds: float = 30.0, scope: Scope | None = None
    ) -> None:
        """`address`: a file's path or a server's URL, which each engine keeps in its own form."""
        self.lock_wait_seconds = lock_wait_seconds
        self.scope = scope

    # -- what each engine gives -----------------------------------------------------------------

    @property
    def address(self) -> str:
        """What rebuilds this store: the file's path, or the server's address (with its password:
        never shown, see `location`)."""
        raise NotImplementedError

    @property
    def location(self) -> str:
        """Where the store is, as messages show it."""
        raise NotImplementedError

    def _connect(self, *, reading: bool) -> AbstractContextManager[Con]:
        """A connection for one unit of work, let go when the block ends (a read's transaction
        ends unkept)."""
        raise NotImplementedError

    def _ensure_ready(self, con: Con) -> None:
        raise NotImplementedError

    def _take_turn(self, con: Con) -> None:
        """Begin a write's transaction, after any other writer's."""
        raise NotImplementedError

    def _commit(self, con: Con) -> None:
        raise NotImplementedError

    def meta(self) -> dict[str, str]:
        raise NotImplementedError

    # -- the same on both -----------------------------------------------------------------------

    def for_person(self, person: Person) -> Self:
        """This store as `person` may read it: narrowed to their business units when they are limited."""
        return type(self)(self.address, lock_wait_seconds=self.lock_wait_seconds, scope=person.scope)

    def unscoped(self) -> Self:
        """The whole store, for domain code that checks a person's rights itself (the upload engine)."""
        return type(self)(self.address, lock_wait_seconds=self.lock_wait_seconds)

    @property
    def key(self) -> tuple:
        """Plain values that rebuild this store (`Store.from_key`): what cached page data is keyed
        on, so that a limited person's numbers are never served to anyone else."""
        scope = (self.scope.business_units, self.scope.person) if self.scope else None
        return (self.address, self.lock_wait_seconds, scope)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.location!r}"
            + (f", limited to {', '.join(self.scope.business_units)}" if self.scope else "")
            + ")"
        )

    @contextmanager
    def read(self) -> Iterator[Con]:
        """A connection for reading, narrowed to the store's scope; nothing it does is kept past the block."""
        with self._connect(reading=True) as con:
            self._ensure_ready(con)
            if self.scope is not None:
                queries.narrow_to(con, self.scope.business_units, self.scope.person)
            yield con

    @contextmanager
    def write(self) -> Iterator[Con]:
        """A transaction: everything in the block is stored together with a new store version, or
        nothing is stored at all. Writers take turns; a restore waits until the block has ended."""
        with self._connect(reading=False) as con:
            self._ensure_ready(con)
            try:
                self._take_turn(con)
                yield con
                queries.put_meta(con, "version", uuid.uuid4().hex)
                queries.put_meta(con, "changed_at", utc_now().isoformat(timespec="seconds"))
                self._commit(con)
            except BaseException:
                # A commit that failed (a full disk) has ended the transaction already, and a broken
                # connection cannot roll back: the first error is the one to tell.
                with suppress(Exception):
                    con.rollback()
                raise

    def ensure_ready(self) -> None:
        """Create the store if needed and bring its schema up to date."""
        with self.read():
            pass

    def version(self) -> str:
        """Changes with every write; the key for every cache of page data."""
        return self.meta()["version"]

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as con:
            queries.put_meta(con, key, value)
