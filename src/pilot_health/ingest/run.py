"""One pass of the engine over one file: what every step reads, fixed before the pass starts.

`Route` is how the pass goes (may it try the one-pass path, does it store rows as it parses them,
does it make tables), decided once by `engine.ingest`. `Run` is the file on the store's connection
with that route; both are frozen, so no step changes what another step reads. The steps add what
they find to the run's `IngestResult` (the answer being built) and pass anything else on as values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb

from pilot_health.ingest.outcome import IngestOptions, IngestResult
from pilot_health.ingest.reading import DelimitedText
from pilot_health.ingest.recognise import ADKAR, Mapping
from pilot_health.models import PILOT_FIELDS

Progress = Callable[[float, str], None]
MAX_KEPT_PROBLEMS = 10_000
PREVIEW_ROWS = 20
STORED_COLUMNS = {
    "metrics": ("pilot_id", "metric", "kind", "environment", "observed_at", "value"),
    "usage": ("pilot_id", "metric", "kind", "environment", "observed_at", "value"),
    "survey": ("pilot_id", "respondent_id", "responded_at", "wave", "team", "role", *ADKAR, "comment"),
    "pilot_register": PILOT_FIELDS,
}
TARGET_TABLE = {"metrics": "metric_observations", "usage": "metric_observations", "survey": "survey_responses"}
# One observation's key: two rows with the same key and different values conflict.
OBSERVATION_KEY = "pilot_id, metric, environment, observed_at"


class RetryCarefully(Exception):
    """The fast path hit a database error, or stored its rows straight away (see `Route.store_as`) and
    then found something the file needs explained: the transaction is rolled back and the whole ingest
    runs again on the careful path, or with `fast_again` on the fast path through its temporary table,
    which explains exact repeats and values already stored as the careful path does."""

    def __init__(self, fast_again: bool = False) -> None:
        super().__init__()
        self.fast_again = fast_again


@dataclass(frozen=True)
class Route:
    """How one pass goes, decided once before it starts (instead of switches set on the way).

    `fast`: the one-pass path for plain long files may be tried (see fast_path.try_fast_path).
    `store_as`: with commit, the upload id the fast path stores the rows under as it parses them
    (the upload's own row is written last, with this id); None: parse into a temporary table and
    store from it afterwards. `tables`: make the preview and rejected-rows tables (pandas).
    `limited_to`: the business units of a limited person, in words (None: not limited)."""

    fast: bool = True
    store_as: int | None = None
    tables: bool = True
    limited_to: str | None = None


@dataclass(frozen=True)
class Run:
    """The file on one connection: its text, what its columns are, what the uploader said, and the
    route. `base` and `rejects` come from loading the body (loading.load returns a new Run with
    them); `result` is the answer every step adds to."""

    con: duckdb.DuckDBPyConnection
    text: DelimitedText
    mapping: Mapping
    options: IngestOptions
    result: IngestResult
    progress: Progress
    route: Route
    base: int = 0  # the first row id of the loaded body (row ids start high inside a write transaction)
    rejects: tuple[tuple[int, str], ...] = ()  # (line, message) for rows DuckDB could not split
    # file line -> record ordinal, for rejected rows (filled by line_for, read by the rejected-rows table)
    problem_ordinals: dict[int, int] = field(default_factory=dict)
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {h: i for i, h in enumerate(self.text.header)})

    def loaded(self, base: int, rejects: list[tuple[int, str]]) -> Run:
        """This run with its body loaded (see loading.load)."""
        return replace(self, base=base, rejects=tuple(rejects))

    def exec(self, sql: str, params: list[Any] | None = None) -> None:
        """Run a statement whose result is not needed, and finish it (DuckDB wants every result
        consumed before the connection does other work, such as registering a frame)."""
        self.con.execute(sql, params or []).fetchall()

    def one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
        """The one row a statement returns (an aggregate always returns one)."""
        row = self.con.execute(sql, params or []).fetchone()
        assert row is not None, "an aggregate returns one row"
        return row

    def value(self, sql: str, params: list[Any] | None = None) -> Any:
        """The one value a statement returns (a count, a minimum)."""
        return self.one(sql, params)[0]

    def col(self, header: str | None) -> str | None:
        return None if header is None else self.cell(header)

    def cell(self, header: str) -> str:
        """The column of ingest_raw (c0, c1 …) that holds `header`'s cells."""
        return f"c{self.index[header]}"

    def column_of(self, target: str) -> str | None:
        return self.col(self.mapping.column_for(target))

    def column_index(self, target: str) -> int:
        """The position of the column mapped to `target` (which the caller knows is mapped)."""
        column = self.mapping.column_for(target)
        assert column is not None, f"{target} is mapped"
        return self.index[column]

    def header_name(self, index: int | None) -> str | None:
        return None if index is None or index < 0 or index >= len(self.text.header) else self.text.header[index]

    def line_for(self, ordinal: int) -> int:
        """`line_of`, remembered so the rejected-rows table can show the row's cells."""
        line = self.line_of(ordinal)
        self.problem_ordinals[line] = ordinal
        return line

    def line_of(self, ordinal: int) -> int:
        """The file line of the `ordinal`-th record DuckDB kept (exact unless quoted newlines)."""
        skipped = sum(
            1 for j, (line, _) in enumerate(sorted(self.rejects)) if line - self.text.first_body_line + 1 - j <= ordinal
        )
        return self.text.first_body_line - 1 + ordinal + skipped
