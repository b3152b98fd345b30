"""The ingest engine: one file in, checked whole, stored all at once or not at all.

`ingest(store, data, file_name, options, commit=False)` reads and checks a file and says what it
would store; with `commit=True` it does the same inside one write transaction and stores it. The
upload page calls it twice (preview, then store) and the command line once. Parsing runs on whole
columns in DuckDB, in temporary tables of the store's own connection (they never reach the file),
so a million-row export costs about as much as DuckDB reading it.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

import duckdb
from pydantic import ValidationError

from .. import queries
from ..access import Person, as_person, local_administrator
from ..config import load_config
from ..formatting import file_size, plural
from ..lazy import pandas as pd  # imported when a table is made: the command line's ingest of a plain file needs none
from ..metric_dictionary import MetricAnswer, MetricInfo, answer_rows, dictionary_with_answers, metric_key
from ..models import PILOT_FIELDS, READINESS_FIELDS, Pilot, explain, says_none
from ..store import Store, utc_now
from . import values as v
from .lab_or_live import env_words as _env_words
from .lab_or_live import environment_source as _environment_source
from .lab_or_live import names_split as _names_split
from .outcome import IngestOptions, IngestResult
from .problems import Problem, Refused
from .reading import DelimitedText, read_upload
from .recognise import (
    ADKAR,
    DATE_PREFIX,
    IGNORE,
    KIND_LABELS,
    KIND_VALUES,
    METRIC_PREFIX,
    Mapping,
    recognise,
    usage_metrics,
)
from .wording import and_ as _and
from .wording import different as _different
from .wording import rows_words as _rows_words
from .wording import when as _when
from .workspace import sha256_meanwhile as _sha256_meanwhile
from .workspace import work_folder as _work_folder

Progress = Callable[[float, str], None]
MAX_LISTED_PROBLEMS = 200  # shown on the page; the rejected-rows download has more
MAX_KEPT_PROBLEMS = 10_000
FAST_PATH = True  # tests switch it off to show both paths store the same
PREVIEW_ROWS = 20
STORED_COLUMNS = {
    "metrics": ("pilot_id", "metric", "kind", "environment", "observed_at", "value"),
    "usage": ("pilot_id", "metric", "kind", "environment", "observed_at", "value"),
    "survey": ("pilot_id", "respondent_id", "responded_at", "wave", "team", "role", *ADKAR, "comment"),
    "pilot_register": PILOT_FIELDS,
}
TARGET_TABLE = {"metrics": "metric_observations", "usage": "metric_observations", "survey": "survey_responses"}
REGISTER_DATES = ("approved_on", "stage_since", "target_production_on", "kpi_deadline")
REGISTER_NUMBERS = ("budget", "spend_to_date", "kpi_baseline", "kpi_target", "data_effort_pct", "target_users")
TOO_SMALL = "__too_small"  # a register number column's flag (values.too_small), beside its value
# A register column's own vocabulary wins over the generic spellings of an empty cell (values.NULL_SPELLINGS):
# these words are answers, kept as written, exactly as the pilot form would store them. Names of a person, a
# system or a KPI keep the words that say "there is none" (`none`, `n/a`, `-`, as the risk engine reads them); the
# sponsor level's `none` is one of its levels; a yes/no question answered `none` reads as no; and a number or a
# date written `none` is rejected with a reason (is it 0, or not known?) rather than stored as unknown.
REGISTER_NAMED = (
    "use_case",
    "owner",
    "executive_sponsor",
    "change_champion",
    "vendor",
    "kpi_name",
    "kpi_unit",
    "integration_target",
    "accountable_owner",
)
REGISTER_OWN_WORDS: dict[str, tuple[str, ...]] = {
    **{name: tuple(s for s in v.NULL_SPELLINGS if says_none(s)) for name in REGISTER_NAMED},  # none, n/a, -
    "sponsor_level": ("none",),
    **{name: ("none",) for name in READINESS_FIELDS},
    **{name: ("none",) for name in (*REGISTER_NUMBERS, *REGISTER_DATES)},
}


class _RetryCarefully(Exception):
    """The fast path hit a database error, or stored its rows straight away (see `_Run.store_as`) and
    then found something the file needs explained: the transaction is rolled back and the whole ingest
    runs again on the careful path, or with `fast_again` on the fast path through its temporary table,
    which explains exact repeats and values already stored as the careful path does."""

    def __init__(self, fast_again: bool = False) -> None:
        super().__init__()
        self.fast_again = fast_again


# The most (pilot, metric) pairs whose kind the fast path writes as it stores the rows (the rest are
# technical until _decide_metric_kinds sets them): each is one more comparison on every row.
FORESEEN_KINDS = 24


class _NothingToStore(Exception):
    """The file brings nothing new; leave the transaction without writing (and without a new version)."""


def _closest_codes(code: str, known: list[str]) -> list[str]:
    squeezed = {re.sub(r"[^A-Z0-9]", "", k): k for k in known}
    exact = squeezed.get(re.sub(r"[^A-Z0-9]", "", code.upper()))
    close = difflib.get_close_matches(code.upper(), known, n=3, cutoff=0.5)
    return ([exact] if exact else []) + [c for c in close if c != exact]


@dataclass
class _StoredFacts:
    """The rows the fast path stored, grouped by (pilot, metric, lab/live): each group is (pilot_id,
    metric, environment, rows, lowest value, highest value, all values whole, first date, last date).
    `keys`: distinct keys (pilot, metric, lab/live, time) and `stored`: rows whose key is stored
    already, when proven (None: to be counted exactly)."""

    groups: list[tuple[Any, ...]]
    rows: int
    keys: int | None
    stored: int | None

    @property
    def pilots(self) -> list[str]:
        return sorted({g[0] for g in self.groups})

    @property
    def metrics(self) -> list[str]:
        return sorted({g[1] for g in self.groups})

    @property
    def environments(self) -> list[str]:
        return sorted({g[2] for g in self.groups})

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((g[0], g[1]) for g in self.groups))

    @property
    def low(self) -> datetime | None:
        return min((g[7] for g in self.groups), default=None)

    @property
    def high(self) -> datetime | None:
        return max((g[8] for g in self.groups), default=None)

    def summaries(self, metrics: list[str]) -> dict[str, "ValueSummary"]:
        """What _value_summaries finds for these metrics (the fast path's values are plain numbers: no currency)."""
        from ..metric_dictionary import ValueSummary

        found: dict[str, "ValueSummary"] = {}
        wanted = set(metrics)
        for _, metric, _, _, low, high, whole, _, _ in self.groups:
            if metric not in wanted or low is None:  # a group without values
                continue
            seen = found.get(metric)
            found[metric] = (
                ValueSummary(low, high, bool(whole))
                if seen is None
                else ValueSummary(min(seen.low, low), max(seen.high, high), seen.whole and bool(whole))
            )
        return found


class _Run:
    """One pass of the engine over one file, on one connection."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        text: DelimitedText,
        mapping: Mapping,
        options: IngestOptions,
        result: IngestResult,
        progress: Progress,
    ) -> None:
        self.con = con
        self.text = text
        self.mapping = mapping
        self.options = options
        self.result = result
        self.progress = progress
        self.index = {h: i for i, h in enumerate(text.header)}
        self.rejects: list[tuple[int, str]] = []  # (line, message) for rows DuckDB could not split
        self.fast = False  # the one-pass path for plain long files (see try_fast_path)
        self.allow_fast = True
        # With commit, the upload id the fast path stores the rows under as it parses them (the upload's own
        # row is written last, with this id); None: parse into a temporary table, store from it afterwards.
        self.store_as: int | None = None
        self.problem_ordinals: dict[int, int] = {}  # file line -> record ordinal, for rejected rows
        self.base = 0
        self.limited_to: str | None = None  # the business units of a limited person, in words
        self._kinds_known: tuple[Any, dict[str, MetricAnswer], dict[str, str]] | None = None  # see _kind_sources
        self._foreseen: dict[tuple[str | None, str], str] = {}  # kinds the fast path stored, where not technical
        self._foreseen_params: list[Any] = []
        self._facts: _StoredFacts | None = None  # see _stored_facts

    # -- helpers ------------------------------------------------------------------------------

    def _exec(self, sql: str, params: list[Any] | None = None) -> None:
        """Run a statement whose result is not needed, and finish it (DuckDB wants every result
        consumed before the connection does other work, such as registering a frame)."""
        self.con.execute(sql, params or []).fetchall()

    def col(self, header: str | None) -> str | None:
        return None if header is None else f"c{self.index[header]}"

    def column_of(self, target: str) -> str | None:
        return self.col(self.mapping.column_for(target))

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

    # -- step 1: the body into a table of text -------------------------------------------------

    def read_csv_sql(self, rejects: str, typed: dict[int, str] | None = None) -> str:
        """The body as columns c0, c1 … (text unless `typed` says otherwise); rows DuckDB cannot
        split or type go to `rejects`. The path is written into the statement (quotes doubled)
        because a view cannot take parameters; it is our temporary file or the command line's file."""
        typed = typed or {}
        width = len(self.text.header)
        columns = "{" + ", ".join(f"'c{i}': '{typed.get(i, 'VARCHAR')}'" for i in range(width)) + "}"
        delimiter = self.text.format.delimiter.replace("'", "''")
        path = str(self.text.body_path).replace("'", "''")
        nulls = ", new_line = '\\n'" if self.text.line_break == "\n" else ""
        if typed:
            nulls += ", nullstr = [" + ", ".join("'" + x.replace("'", "''") + "'" for x in v.null_cells()) + "]"
        return f"""read_csv('{path}', delim = '{delimiter}', quote = '"', escape = '"', header = false,
                        auto_detect = false, columns = {columns}, store_rejects = true, skip = {int(self.text.skip_lines)},
                        rejects_table = '{rejects}_errors', rejects_scan = '{rejects}_scans',
                        max_line_size = 10000000, buffer_size = 10000000{nulls})"""

    def load(self) -> None:
        width = len(self.text.header)
        try:
            self._exec(f"CREATE OR REPLACE TEMP TABLE ingest_raw AS SELECT * FROM {self.read_csv_sql('ingest_reject')}")
        except (
            duckdb.InvalidInputException
        ):  # the text cannot be split into rows at all (DuckDB's words name its internals)
            raise Refused(
                f"{self.result.file_name} could not be split into rows; open it in a spreadsheet, "
                "save it again as CSV, and upload that. Nothing was stored."
            ) from None
        # Row ids are sequential in file order; inside a write transaction they start high, hence the base.
        self.base = self.con.execute("SELECT coalesce(min(rowid), 0) FROM ingest_raw").fetchone()[0]
        kept = [f"c{i} IS NOT NULL" for i in range(width)]
        self._exec(f"DELETE FROM ingest_raw WHERE NOT ({' OR '.join(kept)})")  # fully blank rows
        errors = self.con.execute(
            "SELECT DISTINCT line, error_type, error_message, csv_line FROM ingest_reject_errors ORDER BY line"
        ).fetchall()
        for line, error_type, message, csv_line in errors:
            found = re.search(r"Found: (\d+)", message or "")
            file_line = self.text.first_body_line + int(line) - 1 - self.text.skip_lines
            swallowed = (csv_line or "").rstrip("\r\n").count("\n")
            if error_type == "UNQUOTED VALUE" and swallowed:
                # A quote opened and never closed: every line after it was read as one cell, so the rows
                # after it cannot be told apart (storing the rest would silently leave them out).
                raise Refused(
                    f'{self.result.file_name}: a quote (") opened on line {file_line} is never closed, so the '
                    f"{plural(swallowed, 'line')} after it would be read as one cell. Close the quote (or remove it) "
                    "and upload again; nothing was stored."
                )
            if error_type == "UNQUOTED VALUE":
                text = 'has a quote (") that is not closed at the end of its cell, so it could not be read'
            elif error_type == "TOO MANY COLUMNS":
                text = f"has {found.group(1) if found else 'more'} values but the header has {width} columns"
            elif error_type == "MISSING COLUMNS":
                text = f"has {found.group(1) if found else 'fewer'} values but the header has {width} columns"
            else:
                text = f"could not be read ({(message or error_type).splitlines()[0][:80]})"
            self.rejects.append((file_line, text))
            self.result.problems.append(Problem(file_line, None, f"Row {text}."))
        kept_rows = self.con.execute("SELECT count(*) FROM ingest_raw").fetchone()[0]
        self.result.rows_read = kept_rows + len(self.rejects)
        if self.result.rows_read == 0:
            raise Refused(f"{self.result.file_name} has a header but no data rows.")
        if kept_rows == 0:
            self.result.rows_rejected = len(self.rejects)
            raise Refused(
                f"{self.result.file_name} has no row that could be read: {'the' if len(self.rejects) == 1 else 'all'} "
                f"{plural(len(self.rejects), 'row')} could not be split into cells (see the reasons). Nothing was stored."
            )

    # -- step 2: one row per value, still text ------------------------------------------------------

    def shape_metrics(self) -> None:
        mapping = self.mapping
        fixed = {
            t: self.column_of(t) for t in ("pilot_id", "metric", "kind", "environment", "observed_at", "value", "_step")
        }
        aliases = {"pilot_id": "pilot_raw", "kind": "kind_raw", "environment": "environment_raw", "_step": "step_raw"}
        wide = [(h, t) for h, t in mapping.targets.items() if t.startswith((METRIC_PREFIX, DATE_PREFIX))]
        self._leave_out_unfinished_runs()
        names = mapping.defaults.get("environment_from_names")
        if fixed["environment"] is None and _names_split(mapping, self.options) and names in self.index:
            fixed["environment"] = self.col(names)  # the run name: its words say lab or live (see _environment_sql)

        def carried(prefix: str) -> str:
            return ", ".join(f"{prefix + fixed[t] if fixed[t] else 'NULL'} AS {alias}" for t, alias in aliases.items())

        if mapping.export == "Weights & Biases chart export" and mapping.defaults.get("chart_columns") and wide:
            self._shape_chart(fixed, aliases)
            return

        if mapping.layout == "long" or not wide:
            if fixed["value"] is None:
                raise Refused(
                    f"{self.result.file_name}: choose which column holds the values (none is mapped to “Value”)."
                )
            if fixed["metric"] is None:
                raise Refused(
                    f"{self.result.file_name}: choose which column holds the metric names (none is mapped to “Metric name”)."
                )
            value_index = self.index[mapping.column_for("value")]
            ord_sql, source, value_sql = f"rowid - {self.base} + 1", "ingest_raw", fixed["value"]
            if self.fast:  # straight from the file (see try_fast_path)
                ord_sql, source = "CAST(NULL AS BIGINT)", self.read_csv_sql("ingest_fast_reject")
                # The value cell's spellings of "no value" (NA, n/a, #DIV/0! …) as DuckDB's nullstr would
                # read them: exactly as written. The reader's nullstr would compare every cell of every
                # column with them (0.1 s of CPU on a million rows); a null spelling in another column
                # reads as text and fails a check there (untidy code or name, no date, not lab or live),
                # which sends the file the careful way, as a NULL there does.
                spellings = ", ".join("'" + x.replace("'", "''") + "'" for x in v.null_cells())
                value_sql = f"(CASE WHEN {value_sql} IN ({spellings}) THEN NULL ELSE {value_sql} END)"
            self._exec(
                f"""
                CREATE OR REPLACE TEMP VIEW ingest_rows AS
                SELECT {ord_sql} AS ord, {value_index} AS col, {carried("")}, {fixed["metric"]} AS metric_raw,
                       {fixed["observed_at"] or "NULL"} AS time_raw, {value_sql} AS value_raw
                FROM {source}
                """
            )
            return
        lookup = pd.DataFrame(
            [(f"c{self.index[h]}", self.index[h], t.split(":", 1)[0], t.split(":", 1)[1]) for h, t in wide],
            columns=["name", "col", "what", "label"],
        )
        if lookup["what"].eq("date").all():
            metric_sql, time_sql = self._crosstab_metric(fixed), "l.label"
        elif lookup["what"].eq("metric").all():
            metric_sql, time_sql = "l.label", (f"u.{fixed['observed_at']}" if fixed["observed_at"] else "NULL")
        else:
            raise Refused(
                f"{self.result.file_name}: columns are mapped both as one-per-metric and as one-per-date; choose one layout."
            )
        cells = ", ".join(f"c{self.index[h]}" for h, _ in wide)
        self._check_wide_values(cells, len(wide), "dates" if lookup["what"].eq("date").all() else "metrics")
        queries.register(self.con, "ingest_wide_lookup", lookup)
        self._exec(
            f"""
            CREATE OR REPLACE TEMP TABLE ingest_rows AS
            SELECT u.ord, l.col, {carried("u.")}, {metric_sql} AS metric_raw, {time_sql} AS time_raw, u.cell AS value_raw
            FROM (UNPIVOT (SELECT rowid - {self.base} + 1 AS ord, * FROM ingest_raw) ON {cells} INTO NAME name VALUE cell) u
            JOIN ingest_wide_lookup l USING (name)
            """
        )
        self.con.unregister("ingest_wide_lookup")
        self._exec(
            f"DELETE FROM ingest_rows WHERE {v.cleaned('value_raw')} IS NULL"
        )  # empty wide cells: no observation

    def _check_wide_values(self, cells: str, columns: int, kind: str) -> None:
        """A table with one column per metric (or per date) becomes one row per filled cell: refuse
        it when that is more rows than one upload may store (the rows limit), before any are made.
        Within the column and cell limits a wide file can hold five times the rows limit in values,
        and checking them all would take the memory the limits are there to bound (issue 15)."""
        from .reading import _limits

        limit = _limits().rows
        rows = self.con.execute("SELECT count(*) FROM ingest_raw").fetchone()[0]
        if rows * columns <= limit:
            return
        filled = self.con.execute(
            f"SELECT count(*) FROM (UNPIVOT (SELECT {cells} FROM ingest_raw) ON {cells} INTO NAME name VALUE cell) "
            f"WHERE {v.cleaned('cell')} IS NOT NULL"
        ).fetchone()[0]
        if (
            filled > limit and kind == "runs' metrics"
        ):  # a chart export keeps each run's last value, but reads every step
            raise Refused(
                f"{self.result.file_name} holds {filled:,} values in its {columns:,} columns of runs' metrics: more than the "
                f"{limit:,} rows one upload may read. Export fewer runs or fewer steps (or split it into smaller files) and "
                "upload them one after the other."
            )
        if filled > limit:
            raise Refused(
                f"{self.result.file_name} holds {filled:,} values in its {columns:,} columns of {kind}, and each becomes one row "
                f"to store: more than the {limit:,} rows one upload may store. Split it into smaller files (fewer rows or "
                "fewer columns each) and upload them one after the other."
            )

    def _leave_out_unfinished_runs(self) -> None:
        """Runs of a run table that failed, crashed, were killed or still run are not results: left
        out with a note, unless the person uploading keeps them."""
        from .recognise import RUN_STATUSES

        column = self.column_of("_run_status")
        if column is None:
            return
        counts = dict(self.con.execute(f"SELECT lower(trim({column})), count(*) FROM ingest_raw GROUP BY 1").fetchall())
        found = {what: sum(counts.get(word, 0) for word in words) for what, words in RUN_STATUSES.items()}
        self.result.unfinished_runs = sum(found.values())
        if not self.result.unfinished_runs:
            return
        failed = plural(found["failed"], "failed run") if found["failed"] else ""
        running = f"{plural(found['running'], 'run')} still running" if found["running"] else ""
        what = " and ".join(x for x in (failed, running) if x)
        if self.options.keep_unfinished_runs:
            self.result.warnings.append(f"{what} kept, as you chose: their numbers are stored with the finished runs'.")
            return
        words = [w for group in RUN_STATUSES.values() for w in group]
        self._exec(f"DELETE FROM ingest_raw WHERE lower(trim({column})) IN (SELECT unnest(?::VARCHAR[]))", [words])
        self.result.rows_left_out += self.result.unfinished_runs
        self.result.warnings.append(
            f"{what} left out: a failed, crashed or killed run's numbers, and a running run's, are not results. "
            "Choose to keep them if they are."
        )

    def _shape_chart(self, fixed: dict[str, str | None], aliases: dict[str, str]) -> None:
        """A W&B chart export: one row per run, metric and step. A value cell left empty with equal
        __MIN and __MAX companions (a run drawn alone) takes that value; each run's lab or live comes
        from its name when the run names say it (chosen on upload)."""
        columns = self.mapping.defaults["chart_columns"]
        split = _names_split(self.mapping, self.options)
        parts, params, cells = [], [], []
        for header, target in self.mapping.targets.items():
            if not target.startswith(METRIC_PREFIX):
                continue
            info = columns.get(header, {})
            label = target[len(METRIC_PREFIX) :]
            if not split and info.get("bare"):  # run names not used for lab/live: the run stays in the name
                label = f"{label} ({info['run']})"
            environment = info.get("environment") if split else None
            env_sql = f"'{environment}'" if environment in ("lab", "live") else (fixed["environment"] or "NULL")
            cell = self.col(header)
            low, high = (self.col(info[s]) if info.get(s) in self.index else None for s in ("min", "max"))
            value_sql = cell
            if low and high:
                value_sql = f"coalesce({v.cleaned(cell)}, CASE WHEN {v.cleaned(low)} = {v.cleaned(high)} THEN {v.cleaned(low)} END)"
            carried = ", ".join(
                f"{env_sql if t == 'environment' else (fixed[t] or 'NULL')} AS {alias}" for t, alias in aliases.items()
            )
            parts.append(
                f"SELECT rowid - {self.base} + 1 AS ord, {self.index[header]} AS col, {carried}, CAST(? AS VARCHAR) AS metric_raw, "
                f"{fixed['observed_at'] or 'NULL'} AS time_raw, {value_sql} AS value_raw FROM ingest_raw"
            )
            params.append(label)
            cells.append(cell)
        self._check_wide_values(", ".join(cells), len(cells), "runs' metrics")
        self._exec(f"CREATE OR REPLACE TEMP TABLE ingest_rows AS {' UNION ALL '.join(parts)}", params)
        self._exec(f"DELETE FROM ingest_rows WHERE {v.cleaned('value_raw')} IS NULL")  # steps a run did not log

    def _crosstab_metric(self, fixed: dict[str, str | None]) -> str:
        """One column per date: the SQL (over the unpivoted rows `u`) of each row's metric name.

        Outer labels a pivot table leaves blank are filled from the row above; rows whose measure,
        pilot or dimension is a total (`Grand Total`, `Total`, `All`, a pivot's `EMEA Total`) are
        left out and counted; each dimension is kept in the name: `Revenue · Region: EMEA`."""
        from .recognise import EVERYONE_SEGMENTS, SEGMENT_JOIN, SEGMENT_PREFIX, SUBTOTAL_WORDS, TOTAL_WORDS

        mapping, result = self.mapping, self.result
        segments = [
            (self.col(h), t[len(SEGMENT_PREFIX) :]) for h, t in mapping.targets.items() if t.startswith(SEGMENT_PREFIX)
        ]
        measure = fixed["metric"]
        name = None
        if measure is None:
            name = (self.options.metric_name or "").strip()[:200] or mapping.defaults.get("metric")
            if not name:
                raise Refused(
                    f"{result.file_name}: choose which column holds the metric names, or give the metric's name "
                    "(one row per metric, one column per date)."
                )
            if not (self.options.metric_name or "").strip():
                result.warnings.append(
                    f"{result.file_name} does not name its metric: its values are stored as “{name}”, "
                    "a name taken from the file's name. Give another name if that is wrong."
                )
        # Pivot tables write an outer label once, on the first row of its group.
        dimensions = sorted(
            {c for c in (measure, fixed["pilot_id"], *(c for c, _ in segments)) if c}, key=lambda c: int(c[1:])
        )
        filled = []
        for column in dimensions[:-1]:
            blanks = self.con.execute(
                f"SELECT count(*) FROM ingest_raw WHERE {v.cleaned(column)} IS NULL AND rowid > (SELECT min(rowid) FROM ingest_raw)"
            ).fetchone()[0]
            if blanks:
                self._exec(
                    f"""
                    UPDATE ingest_raw SET {column} = f.label FROM (
                        SELECT rowid AS rid, last_value({v.cleaned(column)} IGNORE NULLS) OVER (ORDER BY rowid ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS label
                        FROM ingest_raw) f
                    WHERE ingest_raw.rowid = f.rid AND {v.cleaned(f"ingest_raw.{column}")} IS NULL
                    """
                )
                filled.append(self.text.header[int(column[1:])])
        if filled:
            result.warnings.append(
                f"Blank cells under {', '.join(f'“{h}”' for h in filled)} were read as the label above them, "
                "as pivot tables write a group's label once."
            )
        # Totals: sums of rows the file already holds.
        total, subtotal = "(?i)" + TOTAL_WORDS.pattern, "(?i)" + SUBTOTAL_WORDS.pattern
        tests, params = [], []
        for column in dimensions:
            tests.append(f"regexp_matches(coalesce({column}, ''), ?)")
            params.append(total)
            if column != measure:
                tests.append(f"regexp_matches(coalesce({column}, ''), ?)")
                params.append(subtotal)
        if tests:
            where = " OR ".join(tests)
            count, examples = self.con.execute(
                f"SELECT count(*), list(DISTINCT trim(concat_ws(' ', {', '.join(dimensions)}))) FROM ingest_raw WHERE {where}",
                params,
            ).fetchone()
            if count:
                self._exec(f"DELETE FROM ingest_raw WHERE {where}", params)
                result.rows_left_out += count
                shown = ", ".join(f"“{x[:40]}”" for x in sorted(examples)[:3]) + (" …" if len(examples) > 3 else "")
                result.warnings.append(
                    f"Left out {plural(count, 'total row')} ({shown}): totals add up rows the file already "
                    "holds; they are not observations."
                )
        if measure and not segments:
            return f"u.{measure}"
        base, named = (v.cleaned(measure) if measure else "?"), ([] if measure else [name])
        if measure and result.kind == "usage":  # the usage metric's own name, before the segment is added
            cases = " ".join(
                f"WHEN lower(regexp_replace(trim({measure}), '[^0-9A-Za-z]+', '_', 'g')) IN ({', '.join(repr(w) for w in sorted(words))}) THEN '{key}'"
                for key, words in usage_metrics().items()
            )
            base = f"(CASE {cases} ELSE {base} END)"
        parts, labels = [], []
        for column, label in segments:
            everyone = ", ".join(f"'{w}'" for w in sorted(EVERYONE_SEGMENTS))
            parts.append(
                f"CASE WHEN {v.cleaned(column)} IS NOT NULL AND lower(regexp_replace(trim({column}), '[^0-9A-Za-z]+', '_', 'g')) "
                f"NOT IN ({everyone}) THEN ? || ': ' || {v.cleaned(column)} END"
            )
            labels.append(label)
        self._exec("ALTER TABLE ingest_raw ADD COLUMN IF NOT EXISTS crosstab_metric VARCHAR")
        self._exec(
            f"UPDATE ingest_raw SET crosstab_metric = CASE WHEN {base} IS NOT NULL THEN concat_ws(?, {base}, {', '.join(parts) or 'NULL'}) END",
            [*named, SEGMENT_JOIN, *named, *labels],
        )
        return "u.crosstab_metric"

    # -- step 3: parse and check -------------------------------------------------------------------

    def try_fast_path(self, known_pilots: list[str]) -> bool:
        """Plain long metric files — the big nightly exports — skip the text table: DuckDB reads
        the value as a number while splitting the rows, the dates are ISO (checked on a sample and
        then on every row), and everything is parsed and checked in one pass. At the first thing
        the careful path would have to explain (a row DuckDB cannot split or type, any rejected
        row) this gives up and the careful path runs, so what is stored never depends on the path."""
        mapping = self.mapping
        if (
            not (FAST_PATH and self.allow_fast)
            or mapping.kind not in ("metrics", "usage")
            or mapping.layout != "long"
            or self.options.decimal == "comma"
        ):
            return False
        value_column, time_column = mapping.column_for("value"), mapping.column_for("observed_at")
        if value_column is None or time_column is None or mapping.column_for("metric") is None:
            return False
        values = [row[self.index[value_column]] for row in self.text.sample if self.index[value_column] < len(row)]
        times = [row[self.index[time_column]] for row in self.text.sample if self.index[time_column] < len(row)]
        plain_number = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
        iso = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")
        blank = set(v.NULL_SPELLINGS)
        if (
            not values
            or not all(plain_number.fullmatch(x) or x.lower() in blank for x in values)
            or not all(iso.fullmatch(x) for x in times)
        ):
            return False
        warnings_before = len(self.result.warnings)
        self.fast = True
        direct = self.store_as is not None  # the rows are stored as they are parsed (see parse_metrics)
        try:
            self.shape_metrics()
            self.parse_metrics(known_pilots, time_format=v.ISO)
            rejected = self.con.execute("SELECT count(*) FROM ingest_fast_reject_errors").fetchall()[0][0]
            # One scan counts the rows, the problems and the distinct keys (see _has_conflicts) and
            # collects each text column's distinct values; the text taken as it was must be what the
            # careful path would have made of it, which is checked on those few values (NULLs are
            # left out of the lists: the check passes them).
            if direct and not rejected:  # every stored row passed the checks: the grouping says the rest
                facts = self._stored_facts()
                rows, problems, pilots, metrics, environments, valid = (
                    facts.rows,
                    0,
                    facts.pilots,
                    facts.metrics,
                    facts.environments,
                    facts.rows,
                )
                keys = (
                    facts.keys
                    if facts.keys is not None
                    else self.con.execute(
                        f"SELECT count(DISTINCT hash({self._OBSERVATION_KEY})) FROM ingest_parsed"
                    ).fetchone()[0]
                )
            else:
                rows, problems, pilots, metrics, environments, keys, valid = self.con.execute(
                    f"""
                    SELECT count(*), count(problem), list(DISTINCT pilot_id), list(DISTINCT metric), list(DISTINCT environment),
                           count(DISTINCT hash({self._OBSERVATION_KEY})) FILTER (WHERE problem IS NULL), count(*) FILTER (WHERE problem IS NULL)
                    FROM ingest_parsed
                    """
                ).fetchall()[0]
            untidy = self.con.execute(
                f"""
                SELECT (SELECT count(*) FROM unnest(?::VARCHAR[]) t(pilot_id) WHERE pilot_id IS DISTINCT FROM upper({v.text("pilot_id", 40)}))
                     + (SELECT count(*) FROM unnest(?::VARCHAR[]) t(metric) WHERE metric IS DISTINCT FROM {v.text("metric", 200)})
                     + (SELECT count(*) FROM unnest(?::VARCHAR[]) t(environment) WHERE environment NOT IN ('lab', 'live'))
                """,
                [pilots or [], metrics or [], environments or []],
            ).fetchall()[0][0]
            problems += untidy
            if direct and not (rejected or problems or not rows) and keys != valid:
                raise _RetryCarefully(fast_again=True)  # a key repeats: the temporary table's path explains it
            if not (rejected or problems or not rows):  # a file that goes the careful way is not grouped twice
                problems += self._has_conflicts(counted=(keys, valid))
        except (
            duckdb.Error
        ):  # the transaction is spoilt (or a stored row had a problem): start again on the careful path
            raise _RetryCarefully() from None
        if not (rejected or problems or not rows):
            self._refuse_unknown_pilots(known_pilots, self._facts.pilots if self._facts is not None else None)
        if rejected or problems or not rows:
            if direct:  # rows are stored already: roll them back and start again on the careful path
                raise _RetryCarefully()
            self.fast = False
            del self.result.warnings[warnings_before:]
            self._exec("DROP VIEW IF EXISTS ingest_rows")
            return False
        self.result.rows_read = rows
        return True

    def parse_metrics(self, known_pilots: list[str], time_format: v.DateFormat | None = None) -> None:
        kind = self.result.kind
        options = self.options
        if self.fast:
            decimal_comma = False  # the value column is a number already
        else:
            decimal_comma = (
                (options.decimal == "comma")
                if options.decimal
                else v.detect_decimal_comma(self.con, "ingest_rows", ["value_raw"], self.text.format.delimiter)
            )
        if decimal_comma and not options.decimal:
            self.result.warnings.append(
                "Numbers are read with a decimal comma (1.234,50 = one thousand two hundred and thirty-four and a half), as the file writes them."
            )
        is_chart = (
            self.mapping.export == "Weights & Biases chart export" and self.mapping.column_for("observed_at") is None
        )  # steps, no times
        has_time = (
            time_format is not None
            or self.con.execute(
                "SELECT count(time_raw) FROM (SELECT time_raw FROM ingest_rows LIMIT 100000)"
            ).fetchone()[0]
            > 0
        )
        if time_format is not None:
            time_sql = v.timestamp("time_raw", time_format)
        elif has_time and not is_chart:
            decision = v.detect_date_format(self.con, "ingest_rows", "time_raw", "the date column", options.date_order)
            if decision.format is None:
                raise Refused(
                    f"{self.result.file_name}: the column chosen for dates holds no dates that could be read; choose another column."
                )
            if decision.warning:
                self.result.warnings.append(decision.warning)
            time_sql = v.timestamp("time_raw", decision.format)
        elif options.observed_on or is_chart:
            day = options.observed_on or date.today()
            time_sql = f"TIMESTAMP '{day.isoformat()}'"
        else:
            raise Refused(
                f"{self.result.file_name} has no column of dates; choose the column that holds them, or give one date for all rows."
            )
        # The fast path takes text columns as they are and checks their distinct values afterwards.
        pilot_text = "pilot_raw" if self.fast else f"upper({v.text('pilot_raw', 40)})"
        pilot_sql = pilot_text if self.mapping.column_for("pilot_id") else ("?" if options.pilot_id else "NULL")
        params: list[Any] = (
            [options.pilot_id.upper()] if (options.pilot_id and not self.mapping.column_for("pilot_id")) else []
        )
        if kind == "usage":
            environment_sql = "'live'"
            kind_sql = "'adoption'"
        else:
            environment_sql = (
                "environment_raw" if self.fast and self.mapping.column_for("environment") else self._environment_sql()
            )
            kind_sql = self._kind_sql()
        metric_sql = "metric_raw" if self.fast else v.text("metric_raw", 200)
        if kind == "usage":
            cases = " ".join(
                f"WHEN lower(regexp_replace(trim(metric_raw), '[^0-9A-Za-z]+', '_', 'g')) IN ({', '.join(repr(w) for w in sorted(words))}) THEN '{name}'"
                for name, words in usage_metrics().items()
            )
            metric_sql = f"(CASE {cases} ELSE {metric_sql} END)"
        # The fast path's values are plain numbers (checked on a sample): a cast, and the same checks.
        value_sql = (
            "(CASE WHEN isfinite(TRY_CAST(value_raw AS DOUBLE)) THEN TRY_CAST(value_raw AS DOUBLE) END)"
            if self.fast
            else v.number(
                "value_raw",
                decimal_comma,
                v.percent_share(self.con, "ingest_rows", "metric_raw", "value_raw", options.metric_answers),
            )
        )
        value_problem_sql = v.number_problem("value_raw", "value", "value", decimal_comma)
        time_column = self.mapping.column_for("observed_at")
        time_col_sql = str(self.index[time_column]) if time_column is not None else "col"
        env_column = self.mapping.column_for("environment") or (
            self.mapping.defaults.get("environment_from_names") if _names_split(self.mapping, self.options) else None
        )
        env_col_sql = str(self.index[env_column]) if env_column in self.index else "col"
        parsed = f"""
            SELECT ord, col, pilot_id, metric, kind, environment, observed_at, value, step, problem,
                   CASE WHEN problem LIKE 'no pilot%' THEN -1 WHEN problem LIKE 'date %' OR problem = 'no date' THEN {time_col_sql}
                        WHEN problem LIKE 'environment %' OR problem LIKE 'the run name %' OR problem LIKE 'lab or live %' THEN {env_col_sql} ELSE col END AS problem_col
            FROM (
              SELECT *, CASE
                  WHEN pilot_id IS NULL AND {"pilot_id" not in self.result.needs} THEN 'no pilot code (choose the pilot, or map its column)'
                  WHEN metric IS NULL THEN 'no metric name'
                  WHEN observed_at IS NULL AND time_text IS NOT NULL THEN 'date ‘' || left(time_text, 40) || '’ could not be read'
                  WHEN observed_at IS NULL THEN 'no date'
                  WHEN year(observed_at) NOT BETWEEN 1980 AND 2100 THEN 'date ‘' || left(time_text, 40) || '’ is not a plausible date'
                  WHEN value_problem IS NOT NULL THEN value_problem
                  WHEN environment IS NULL AND {"environment" not in self.result.needs} THEN 'lab or live is not given (choose it, or map the column)'
                  WHEN environment LIKE 'run name %' THEN 'the run name ‘' || substr(environment, 10) || '’ says neither lab nor live'
                  WHEN environment NOT IN ('lab', 'live') THEN 'environment ‘' || environment || '’ is neither lab nor live'
                  WHEN kind NOT IN ('technical', 'business', 'adoption') THEN 'kind ‘' || kind || '’ is not technical, business or adoption'
                  ELSE NULL END AS problem
              FROM (
                SELECT *, {value_problem_sql} AS value_problem,
                       CASE WHEN observed_at IS NULL OR year(observed_at) NOT BETWEEN 1980 AND 2100 THEN {v.cleaned("time_raw")} END AS time_text
                FROM (
                  SELECT ord, col, {pilot_sql} AS pilot_id, {metric_sql} AS metric, {kind_sql} AS kind,
                         {environment_sql} AS environment, {time_sql} AS observed_at, time_raw, value_raw,
                         {value_sql} AS value, TRY_CAST(trim(step_raw) AS DOUBLE) AS step
                  FROM ingest_rows
                )
              )
            )
            """
        if self.fast and self.store_as is not None:
            # Stored as parsed, under the upload's id: the first row with a problem stops the statement (the
            # transaction is then rolled back and the careful path explains every row), and the checks that
            # follow read the stored rows through a view named like the table they read otherwise.
            # The kinds as the sample foretells them (see _foreseen_kinds): checked on every row afterwards.
            infer = kind == "metrics" and not options.metric_kind and not self.mapping.column_for("kind")
            stored_kind = self._foreseen_kinds("pilot_id", "metric") if infer else "kind"
            self._exec(
                f"""
                INSERT INTO {TARGET_TABLE[kind]} (pilot_id, metric, kind, environment, observed_at, value, upload_id)
                SELECT CASE WHEN problem IS NULL THEN pilot_id ELSE error('a row with a problem: the careful path explains it') END,
                       metric, {stored_kind}, environment, observed_at, value, {int(self.store_as)}
                FROM ({parsed})
                """,
                [*(self._foreseen_params if infer else []), *params],
            )
            self._exec(
                f"""
                CREATE OR REPLACE TEMP VIEW ingest_parsed AS
                SELECT CAST(NULL AS BIGINT) AS ord, {self.index[self.mapping.column_for("value")]} AS col, pilot_id, metric, kind,
                       environment, observed_at, value, CAST(NULL AS DOUBLE) AS step, CAST(NULL AS VARCHAR) AS problem,
                       CAST(NULL AS BIGINT) AS problem_col
                FROM {TARGET_TABLE[kind]} WHERE upload_id = {int(self.store_as)}
                """
            )
        else:
            self._exec(f"CREATE OR REPLACE TEMP TABLE ingest_parsed AS {parsed}", params)
        if kind == "metrics":
            self._decide_metric_kinds(infer=not self.options.metric_kind and not self.mapping.column_for("kind"))
        if is_chart:  # no dates: each run's (pilot, metric, lab/live) last step is stored, the earlier ones left out
            earlier = self.con.execute(
                """
                SELECT count(*) FROM ingest_parsed WHERE problem IS NULL AND (ord, col) NOT IN (
                    SELECT (ord, col) FROM ingest_parsed WHERE problem IS NULL
                    QUALIFY row_number() OVER (PARTITION BY pilot_id, metric, environment ORDER BY step DESC NULLS LAST, ord DESC) = 1
                )
                """
            ).fetchone()[0]
            self._exec(
                """
                DELETE FROM ingest_parsed WHERE problem IS NULL AND (ord, col) NOT IN (
                    SELECT (ord, col) FROM ingest_parsed WHERE problem IS NULL
                    QUALIFY row_number() OVER (PARTITION BY pilot_id, metric, environment ORDER BY step DESC NULLS LAST, ord DESC) = 1
                )
                """
            )
            if earlier:
                self.result.rows_left_out += earlier
                self.result.warnings.append(
                    f"{plural(earlier, 'earlier training step')} left out: a chart export has no dates, so each run's last value is stored."
                )
        if not self.fast:  # the fast path checks codes after it has checked the text is tidy
            self._refuse_unknown_pilots(known_pilots)

    def _environment_sql(self) -> str:
        column = self.mapping.column_for("environment")
        if not column and _names_split(self.mapping, self.options):
            if self.mapping.export == "Weights & Biases chart export":
                return "environment_raw"  # each run's, from its name (see _shape_chart)
            words = "lower(regexp_replace(trim(environment_raw), '[^0-9A-Za-z]+', ' ', 'g'))"
            said = {
                env: f"list_has_any(string_split(trim({words}), ' '), [{', '.join(repr(w) for w in _env_words(env))}])"
                for env in ("lab", "live")
            }
            return (
                f"(CASE WHEN {v.cleaned('environment_raw')} IS NULL THEN NULL WHEN {said['lab']} AND NOT {said['live']} THEN 'lab' "
                f"WHEN {said['live']} AND NOT {said['lab']} THEN 'live' ELSE 'run name ' || trim(environment_raw) END)"
            )
        if column:
            cases = " ".join(
                f"WHEN lower(regexp_replace(trim(environment_raw), '[^0-9A-Za-z]+', '_', 'g')) IN ({', '.join(repr(w) for w in sorted(words))}) THEN '{name}'"
                for name, words in {"lab": set(_env_words("lab")), "live": set(_env_words("live"))}.items()
            )
            fallback = f"'{self.options.environment}'" if self.options.environment in ("lab", "live") else "NULL"
            return f"(CASE WHEN environment_raw IN ('lab', 'live') THEN environment_raw WHEN {v.cleaned('environment_raw')} IS NULL THEN {fallback} {cases} ELSE lower(trim(environment_raw)) END)"
        chosen = self.options.environment or self.mapping.defaults.get("environment")
        return f"'{chosen}'" if chosen in ("lab", "live") else "NULL"

    def _kind_sql(self) -> str:
        if self.options.metric_kind in ("technical", "business"):
            return f"'{self.options.metric_kind}'"
        if self.mapping.column_for("kind"):
            cases = " ".join(
                f"WHEN lower(trim(kind_raw)) IN ({', '.join(repr(w) for w in sorted(words))}) THEN '{name}'"
                for name, words in KIND_VALUES.items()
            )
            return f"(CASE WHEN kind_raw IN ('technical', 'business', 'adoption') THEN kind_raw WHEN {v.cleaned('kind_raw')} IS NULL THEN 'technical' {cases} ELSE lower(trim(kind_raw)) END)"
        return "'technical'"

    def _stored_facts(self) -> "_StoredFacts":
        """For the fast path that stored the rows as it read them: what the checks after it need,
        from two scans of the stored rows instead of one per check. One grouping by pilot, metric and
        lab/live gives the rows, the distinct codes, names and pairs, each metric's value range and the
        dates; one distinct count of key hashes over those rows together with the stored rows (of
        other uploads in force) that could share a key with them (same pilot, metric and lab/live,
        dated within the group's dates) proves, when every hash is distinct, that no key repeats in
        the file and none is stored already. When some hash repeats, `keys` and `stored` are left
        None and the usual checks count them exactly."""
        if self._facts is not None:
            return self._facts
        table, upload_id = TARGET_TABLE[self.result.kind], int(self.store_as)
        groups = self.con.execute(
            f"""
            SELECT pilot_id, metric, environment, count(*), min(value), max(value), bool_and(value = round(value)),
                   min(observed_at), max(observed_at)
            FROM {table} WHERE upload_id = {upload_id} GROUP BY ALL ORDER BY ALL
            """
        ).fetchall()
        rows = sum(g[3] for g in groups)
        columns = list(zip(*groups)) if groups else [[] for _ in range(9)]
        overlap, distinct = self.con.execute(
            f"""
            WITH file_groups AS (
                SELECT unnest(?::VARCHAR[]) AS pilot_id, unnest(?::VARCHAR[]) AS metric, unnest(?::VARCHAR[]) AS environment,
                       unnest(?::TIMESTAMP[]) AS low, unnest(?::TIMESTAMP[]) AS high
            ), nearby AS (
                SELECT t.pilot_id, t.metric, t.environment, t.observed_at
                FROM {table} t JOIN uploads u USING (upload_id)
                JOIN file_groups g ON t.pilot_id = g.pilot_id AND t.metric = g.metric AND t.environment = g.environment
                                   AND t.observed_at BETWEEN g.low AND g.high
                WHERE u.withdrawn_at IS NULL AND t.upload_id <> {upload_id}
            )
            SELECT (SELECT count(*) FROM nearby), count(DISTINCT hash({self._OBSERVATION_KEY})) FROM (
                SELECT {self._OBSERVATION_KEY} FROM {table} WHERE upload_id = {upload_id}
                UNION ALL SELECT {self._OBSERVATION_KEY} FROM nearby
            )
            """,
            [list(columns[0]), list(columns[1]), list(columns[2]), list(columns[7]), list(columns[8])],
        ).fetchone()
        unique = distinct == rows + overlap
        self._facts = _StoredFacts(groups, rows, rows if unique else None, 0 if unique else None)
        return self._facts

    def _decide_metric_kinds(self, infer: bool) -> None:
        """Each distinct (pilot, metric) of the file is looked up once: an answer given with this
        upload, then the pilot's KPI name (business), then the metric dictionary (answers stored
        earlier, then the built-in entries), then a guess from the name, its unit and its values
        (metric_dictionary.guess). With `infer` the kind of the rows follows (a file without a kind
        column); either way metrics nobody has described are listed in `new_metrics`, with the guess
        and its reason, for the person uploading to confirm. A file whose every row is a business KPI
        (or usage) and that does not say lab or live is stored as live: a KPI is measured in the
        business, not in a test, so nobody is asked."""
        dictionary, answers, kpis = self._kind_sources()
        if self.fast and self.store_as is not None:  # the stored rows, grouped once (see _stored_facts)
            facts = self._stored_facts()
            pairs = facts.pairs
            unknown = sorted({metric for _, metric in pairs if dictionary.lookup(metric) is None})
            summaries = facts.summaries(unknown)
        else:
            pairs = self.con.execute(
                "SELECT DISTINCT pilot_id, metric FROM ingest_parsed WHERE metric IS NOT NULL"
            ).fetchall()
            unknown = sorted({metric for _, metric in pairs if dictionary.lookup(metric) is None})
            summaries = self._value_summaries(unknown) if unknown else {}
        decided, new = [], {}
        for pilot_id, metric in pairs:
            kind, info, is_kpi = self._kind_of(pilot_id, metric, summaries)
            if (
                not is_kpi and dictionary.lookup(metric) is None
            ):  # nobody has described it: ask (and show the answer given)
                new.setdefault(info.key, info)
            decided.append((pilot_id, metric, kind))
        self.result.new_metrics = sorted(new.values(), key=lambda m: m.key)
        guessed = [m for m in self.result.new_metrics if m.source == "guessed"]
        if guessed:
            names = ", ".join(f"{m.label} ({m.kind}, {m.direction_words})" for m in guessed[:5])
            more = f" and {len(guessed) - 5} more" if len(guessed) > 5 else ""
            self.result.warnings.append(
                f"New metric names, read by a guess from their names, units and values: {names}{more}. "
                "Confirm or correct them in the table of new metrics before storing."
            )
        if infer:
            stored = self.fast and self.store_as is not None
            # Rows the fast path stored already have the kinds it foresaw from the sample (see
            # _foreseen_kinds): only pairs foreseen otherwise are updated, and most often none is.
            changing = [d for d in decided if self._foreseen.get(d[:2], "technical") != d[2]] if stored else decided
            if changing:
                # A temporary table from three lists (not a pandas frame: a plain file's ingest imports no pandas).
                self._exec(
                    "CREATE OR REPLACE TEMP TABLE ingest_kinds AS SELECT unnest(?::VARCHAR[]) AS pilot_id, "
                    "unnest(?::VARCHAR[]) AS metric, unnest(?::VARCHAR[]) AS kind",
                    [[d[0] for d in changing], [d[1] for d in changing], [d[2] for d in changing]],
                )
                # Only rows whose kind changes are updated (most rows are technical, the default); rows the
                # fast path stored already are updated where they are (ingest_parsed is then a view of them).
                target = TARGET_TABLE[self.result.kind] if stored else "ingest_parsed"
                self._exec(
                    f"""
                    UPDATE {target} SET kind = m.kind FROM ingest_kinds m
                    WHERE {target}.pilot_id IS NOT DISTINCT FROM m.pilot_id AND {target}.metric = m.metric
                      AND {target}.kind IS DISTINCT FROM m.kind{f" AND {target}.upload_id = {int(self.store_as)}" if stored else ""}
                    """
                )
                self._exec("DROP TABLE ingest_kinds")
            business = sorted({metric for _, metric, kind in decided if kind == "business"})
            if business:
                names = ", ".join(business[:5])
                self.result.warnings.append(
                    f"Read as business KPIs (the rest as technical metrics): {names}{' …' if len(business) > 5 else ''}. Set the kind if that is wrong."
                )
        self._business_rows_are_live()

    def _kind_sources(self) -> tuple[Any, dict[str, MetricAnswer], dict[str, str]]:
        """What a metric's kind is decided from: the dictionary with the store's answers, this upload's
        answers (by canonical name) and each pilot's KPI (by metric key). Read once per run."""
        if self._kinds_known is None:
            dictionary = dictionary_with_answers(self.con)
            answers = {dictionary.canonical(name): answer for name, answer in self.options.metric_answers.items()}
            kpis = {pilot: metric_key(name) for pilot, name in queries.kpi_names(self.con).items()}
            self._kinds_known = (dictionary, answers, kpis)
        return self._kinds_known

    def _kind_of(
        self, pilot_id: str | None, metric: str, summaries: dict[str, "ValueSummary"]
    ) -> tuple[str, MetricInfo, bool]:
        """The kind of `metric`'s rows for `pilot_id`: an answer given with this upload, then the
        pilot's KPI (business), then the dictionary, then a guess. Returns (kind, what is known of the
        metric, whether it is the pilot's KPI)."""
        from ..metric_dictionary import guess

        dictionary, answers, kpis = self._kind_sources()
        key = dictionary.canonical(metric)
        is_kpi = kpis.get(pilot_id) == metric_key(metric)
        info = dictionary.lookup(metric) or guess(metric, summaries.get(metric))
        if key in answers:
            answer = answers[key]
            return (
                answer.kind,
                MetricInfo(
                    key, answer.label or info.label, answer.kind, answer.direction, answer.unit, "answered", info.why
                ),
                is_kpi,
            )
        return ("business" if is_kpi else info.kind), info, is_kpi

    def _foreseen_kinds(self, pilot_sql: str, metric_sql: str) -> str:
        """For the fast path that stores rows as it reads them: the SQL of each row's kind as the
        sample foretells it (the (pilot, metric) pairs of the first rows, their values summarised as
        _value_summaries does), so that the kinds need no UPDATE of a million stored rows afterwards.
        Pairs the sample does not show are foreseen technical. What is foreseen is remembered in
        `self._foreseen`: _decide_metric_kinds decides on every row as before and updates only the
        pairs foreseen otherwise."""
        from ..metric_dictionary import ValueSummary

        pilot_column, metric_column = self.mapping.column_for("pilot_id"), self.mapping.column_for("metric")
        value_index = self.index[self.mapping.column_for("value")]
        blank = {x.lower() for x in v.NULL_SPELLINGS}
        pairs: dict[tuple[str | None, str], None] = {}
        numbers: dict[str, list[float]] = {}
        for row in self.text.sample:
            cells = [
                row[self.index[c]] if c is not None and self.index[c] < len(row) else None
                for c in (pilot_column, metric_column)
            ]
            pilot = cells[0] if pilot_column is not None else (self.options.pilot_id or "").upper() or None
            metric = cells[1]
            if not metric or metric.lower() in blank or (pilot is not None and pilot.lower() in blank):
                continue
            pairs.setdefault((pilot, metric), None)
            cell = row[value_index] if value_index < len(row) else ""
            try:
                number = float(cell)
            except ValueError:
                continue
            if number == number and abs(number) != float("inf"):
                numbers.setdefault(metric, []).append(number)
        dictionary = self._kind_sources()[0]
        summaries = {
            m: ValueSummary(min(xs), max(xs), all(x == round(x) for x in xs), None)
            for m, xs in numbers.items()
            if dictionary.lookup(m) is None
        }
        self._foreseen = {}
        for pilot, metric in pairs:
            kind = self._kind_of(pilot, metric, summaries)[0]
            if kind != "technical" and len(self._foreseen) < FORESEEN_KINDS:  # each is a test on every row
                self._foreseen[(pilot, metric)] = kind
        if not self._foreseen:
            return "'technical'"
        cases = " ".join(f"WHEN {pilot_sql} IS NOT DISTINCT FROM ? AND {metric_sql} = ? THEN ?" for _ in self._foreseen)
        self._foreseen_params = [x for (pilot, metric), kind in self._foreseen.items() for x in (pilot, metric, kind)]
        return f"(CASE {cases} ELSE 'technical' END)"

    def _value_summaries(self, metrics: list[str]) -> dict[str, "ValueSummary"]:
        """For the guess: each new metric's lowest and highest value, whether all are whole numbers,
        and a currency written in its cells (looked for in the first 100,000 values)."""
        from ..metric_dictionary import ValueSummary

        rows = self.con.execute(
            """
            SELECT metric, min(value), max(value), bool_and(value = round(value))
            FROM ingest_parsed WHERE list_contains(?::VARCHAR[], metric) AND value IS NOT NULL GROUP BY metric
            """,
            [metrics],
        ).fetchall()
        currencies: dict[str, str] = {}
        if not self.fast:  # the fast path's values are plain numbers
            wanted = {metric_key(m): m for m in metrics}
            found = self.con.execute(
                r"""
                SELECT metric_raw, min(regexp_extract(value_raw, '([€$£¥]|\b(EUR|USD|GBP|CHF|JPY)\b)', 1))
                FROM (SELECT metric_raw, value_raw FROM ingest_rows LIMIT 100000)
                WHERE regexp_matches(value_raw, '[€$£¥]|\b(EUR|USD|GBP|CHF|JPY)\b') GROUP BY metric_raw
                """
            ).fetchall()
            for raw, sign in found:
                if metric_key(raw) in wanted and sign:
                    currencies[wanted[metric_key(raw)]] = sign
        return {
            metric: ValueSummary(low, high, bool(whole), currencies.get(metric)) for metric, low, high, whole in rows
        }

    def _business_rows_are_live(self) -> None:
        """A file that does not say lab or live and holds only business KPIs (and usage) is live."""
        if self.mapping.column_for("environment") is None and (
            self.options.environment in ("lab", "live") or self.mapping.defaults.get("environment") in ("lab", "live")
        ):
            return  # said for the whole file
        if self.fast and self.store_as is not None:
            return  # rows stored as parsed all say it (a row without was refused by the table: the careful path reads it)
        others, rows, unsaid = self.con.execute(
            """SELECT count(*) FILTER (WHERE metric IS NOT NULL AND kind NOT IN ('business', 'adoption')),
                      count(*) FILTER (WHERE metric IS NOT NULL), count(*) FILTER (WHERE environment IS NULL) FROM ingest_parsed"""
        ).fetchone()
        if others or not rows or not unsaid:
            return
        if (
            self.con.execute(
                "SELECT data_type FROM duckdb_columns() WHERE table_name = 'ingest_parsed' AND column_name = 'environment'"
            ).fetchone()[0]
            != "VARCHAR"
        ):
            self._exec(
                "ALTER TABLE ingest_parsed ALTER COLUMN environment SET DATA TYPE VARCHAR"
            )  # a column of NULLs has no type yet
        self._exec(
            """
            UPDATE ingest_parsed SET environment = 'live',
                   problem = CASE WHEN problem LIKE 'lab or live is not given%' THEN NULL ELSE problem END
            WHERE environment IS NULL
            """
        )
        if "environment" in self.result.needs:
            self.result.needs.remove("environment")
        self.result.warnings.append(
            "Taken as live: every metric of the file is a business KPI, measured in the business rather than in a test."
        )

    def _refuse_unknown_pilots(self, known: list[str], pilots: list[str] | None = None) -> None:
        """Refuse a file with rows for pilots that are not in the register (or not the uploader's);
        `pilots`: the file's distinct pilot codes, when known already (see _stored_facts)."""
        if pilots is not None:
            wanted = set(known)
            unknown = sorted(p for p in pilots if p is not None and p not in wanted)
        else:
            unknown = [
                r[0]
                for r in self.con.execute(
                    "SELECT DISTINCT pilot_id FROM ingest_parsed WHERE pilot_id IS NOT NULL AND pilot_id NOT IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1",
                    [known],
                ).fetchall()
            ]
        if not unknown:
            return
        parts = []
        for code in unknown[:5]:
            near = _closest_codes(code, known)
            parts.append(f"{code} (closest: {', '.join(near)})" if near else code)
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        if self.limited_to is not None:
            raise Refused(
                f"{self.result.file_name} has rows for pilot codes that are not pilots of {self.limited_to} (the business units "
                f"you may upload to): {'; '.join(parts)}{more}. Correct the codes in the file, or ask an administrator to upload it; "
                "nothing was stored."
            )
        raise Refused(
            f"{self.result.file_name} has rows for pilot codes that are not in the register: {'; '.join(parts)}{more}. "
            "Correct the codes in the file, or add the pilots to the register first; nothing was stored."
        )

    def parse_survey(self, known_pilots: list[str]) -> None:
        options = self.options
        col = self.column_of
        pilot_sql = "upper(trim(" + col("pilot_id") + "))" if col("pilot_id") else ("?" if options.pilot_id else "NULL")
        params: list[Any] = [options.pilot_id.upper()] if (options.pilot_id and not col("pilot_id")) else []
        responded_sql = "NULL::TIMESTAMP"
        if col("responded_at"):
            decision = v.detect_date_format(
                self.con, "ingest_raw", col("responded_at"), "the response date column", options.date_order
            )
            if decision.format:
                responded_sql = v.timestamp(col("responded_at"), decision.format)
                zone = self.mapping.defaults.get("responded_at_zone")
                if isinstance(zone, str) and re.fullmatch(r"[A-Za-z_]+(/[A-Za-z_+\-0-9]+)*", zone):
                    responded_sql = f"(({responded_sql}) AT TIME ZONE '{zone}') AT TIME ZONE 'UTC'"
                if decision.warning:
                    self.result.warnings.append(decision.warning)
        if col("respondent_id") and self.mapping.defaults.get("pseudonymise_respondent"):
            respondent_sql = f"'R-' || upper(left(md5(lower({v.text(col('respondent_id'), 200)})), 10))"
        elif col("respondent_id"):
            respondent_sql = v.text(col("respondent_id"), 100)
        else:
            respondent_sql = (
                f"'R-' || upper(left(md5('{self.result.sha256}' || CAST(rowid - {self.base} AS VARCHAR)), 8))"
            )
            self.result.warnings.append("The file has no respondent ids; each response was given a pseudonymous id.")
        if col("wave"):
            wave_sql = f"TRY_CAST(regexp_extract({v.cleaned(col('wave'))}, '(\\d+)', 1) AS INTEGER)"
        elif options.wave:
            wave_sql = str(int(options.wave))
        else:
            wave_sql = "CAST(NULL AS INTEGER)"  # the pilot's next wave, filled in below
        scores = ", ".join(
            f"{v.likert(col(e)) if col(e) else 'CAST(NULL AS DOUBLE)'} AS {e}, {v.likert_problem(col(e), e) if col(e) else 'CAST(NULL AS VARCHAR)'} AS {e}_problem, {self.index[self.mapping.column_for(e)] if col(e) else -1} AS {e}_col"
            for e in ADKAR
        )
        left_out = []
        if col("_status"):
            left_out.append(
                f"lower(coalesce({col('_status')}, '')) IN ('survey preview', '1', 'spam', 'preview', 'test')"
            )
        if col("_finished"):
            left_out.append(f"lower(coalesce({col('_finished')}, '')) IN ('false', '0', 'no', 'f')")
        left_out_sql = " OR ".join(left_out) or "false"
        self._exec(
            f"""
            CREATE OR REPLACE TEMP TABLE ingest_survey AS
            SELECT rowid - {self.base} + 1 AS ord, {pilot_sql} AS pilot_id, {respondent_sql} AS respondent_id, {responded_sql} AS responded_at,
                   {wave_sql} AS wave, {v.text(col("team"), 120) if col("team") else "CAST(NULL AS VARCHAR)"} AS team,
                   {v.text(col("role"), 120) if col("role") else "CAST(NULL AS VARCHAR)"} AS role, {scores},
                   {v.text(col("comment"), 4000) if col("comment") else "CAST(NULL AS VARCHAR)"} AS comment,
                   ({left_out_sql}) AS left_out
            FROM ingest_raw
            """,
            params,
        )
        left = self.con.execute("SELECT count(*) FROM ingest_survey WHERE left_out").fetchone()[0]
        if left:
            self.result.rows_left_out += left
            self.result.warnings.append(
                f"Left out {plural(left, 'survey preview or unfinished response', 'survey previews or unfinished responses')}."
            )
        self._exec("DELETE FROM ingest_survey WHERE left_out")
        if not col("wave") and not options.wave:
            waves = pd.DataFrame(list(queries.next_waves(self.con).items()), columns=["pilot_id", "next_wave"])
            queries.register(self.con, "ingest_waves", waves)
            self._exec(
                "UPDATE ingest_survey SET wave = coalesce((SELECT next_wave FROM ingest_waves w WHERE w.pilot_id = ingest_survey.pilot_id), 1)"
            )
            self.con.unregister("ingest_waves")
            numbers = sorted(
                {r[0] for r in self.con.execute("SELECT DISTINCT wave FROM ingest_survey").fetchall() if r[0]}
            )
            if numbers:
                self.result.warnings.append(
                    f"The file does not say which survey wave it is; stored as wave {', '.join(map(str, numbers))} (the pilot's next wave). Choose the wave if that is wrong."
                )
        score_problem = " ".join(f"WHEN {e}_problem IS NOT NULL THEN {e}_problem" for e in ADKAR)
        score_col = " ".join(f"WHEN {e}_problem IS NOT NULL THEN {e}_col" for e in ADKAR)
        pilot_index = self.index[self.mapping.column_for("pilot_id")] if col("pilot_id") else -1
        self._exec(
            f"""
            CREATE OR REPLACE TEMP TABLE ingest_parsed AS
            SELECT * REPLACE ({", ".join(f"TRY_CAST(round({e}) AS TINYINT) AS {e}" for e in ADKAR)}),
                      CASE WHEN pilot_id IS NULL AND {"pilot_id" not in self.result.needs} THEN 'no pilot code (choose the pilot, or map its column)'
                           WHEN respondent_id IS NULL THEN 'no respondent id'
                           WHEN wave IS NULL OR wave < 1 THEN 'the survey wave is not a number of 1 or more'
                           {score_problem} ELSE NULL END AS problem,
                      CASE WHEN pilot_id IS NULL THEN {pilot_index} {score_col} ELSE NULL END AS problem_col
            FROM ingest_survey
            """
        )
        self._refuse_unknown_pilots(known_pilots)

    def parse_register(self) -> pd.DataFrame:
        """The register is small (one row per pilot): each row goes through the Pilot model,
        after dates and numbers were read the same way as everywhere else."""
        select = []
        for header, target in self.mapping.targets.items():
            if target == IGNORE:
                continue
            c = self.col(header)
            as_written = v.cleaned(c, REGISTER_OWN_WORDS.get(target, ()))
            if target in REGISTER_DATES:
                decision = v.detect_date_format(
                    self.con, "ingest_raw", c, f"the {target} column", self.options.date_order
                )
                expr = f"CAST({v.timestamp(c, decision.format)} AS DATE)" if decision.format else as_written
                select.append(f"coalesce(CAST({expr} AS VARCHAR), {as_written}) AS {target}")
            elif target in REGISTER_NUMBERS:
                decimal_comma = (
                    self.options.decimal == "comma" if self.options.decimal else self.text.format.delimiter == ";"
                )
                select.append(f"coalesce(CAST({v.number(c, decimal_comma)} AS VARCHAR), {as_written}) AS {target}")
                select.append(
                    f"CASE WHEN {v.too_small(c, v.number(c, decimal_comma))} THEN {as_written} END AS {target}{TOO_SMALL}"
                )
            else:
                select.append(f"{as_written} AS {target}")
        frame = self.con.execute(f"SELECT rowid - {self.base} + 1 AS ord, {', '.join(select)} FROM ingest_raw").df()
        return frame

    # -- step 4: what will be stored -------------------------------------------------------------

    def finish(self, table_kind: str) -> None:
        """Split rows into rejected and ready (two different values at one key are rejected, never
        averaged); drop exact duplicates; look at what is already stored; warn about future dates."""
        result = self.result
        if table_kind == "survey":
            self._reject_conflicting_answers()
        elif not self.fast:  # the fast path gave up on any conflict
            self._reject_conflicting_values()
        if self.fast:  # the fast path gave up on any rejected row
            rejected, problems = 0, []
        else:
            rejected = self.con.execute("SELECT count(*) FROM ingest_parsed WHERE problem IS NOT NULL").fetchone()[0]
            problems = self.con.execute(
                f"SELECT ord, problem_col, problem FROM ingest_parsed WHERE problem IS NOT NULL ORDER BY ord LIMIT {MAX_KEPT_PROBLEMS}"
            ).fetchall()
        for ordinal, problem_col, problem in problems:
            result.problems.append(
                Problem(self.line_for(ordinal), self.header_name(problem_col), problem[0].upper() + problem[1:] + ".")
            )
        if rejected > len(problems):
            result.warnings.append(
                f"{plural(rejected, 'row')} were rejected; the first {len(problems):,} are listed with their reasons."
            )
        columns = ", ".join(STORED_COLUMNS[table_kind])
        # Exact duplicates: a cheap check on row hashes first; the exact (costlier) pass only when needed.
        # The fast path counted them already while looking for conflicts (see _has_conflicts).
        if self.fast and self.counted is not None:
            valid, distinct = self.counted
        else:
            valid, distinct = self.con.execute(
                f"SELECT count(*), count(DISTINCT hash({columns})) FROM ingest_parsed WHERE problem IS NULL"
            ).fetchone()
        if distinct < valid:
            self._exec(
                f"""
                CREATE OR REPLACE TEMP TABLE ingest_ready AS SELECT {columns}, ord FROM ingest_parsed WHERE problem IS NULL
                QUALIFY row_number() OVER (PARTITION BY {columns} ORDER BY ord) = 1
                """
            )
            ready = self.con.execute("SELECT count(*) FROM ingest_ready").fetchone()[0]
        else:  # nothing to drop: a view saves copying a million rows
            self._exec(
                f"CREATE OR REPLACE TEMP VIEW ingest_ready AS SELECT {columns}, ord FROM ingest_parsed WHERE problem IS NULL"
            )
            ready = valid
        if valid > ready:
            result.rows_left_out += valid - ready
            n = valid - ready
            result.warnings.append(
                f"{plural(n, 'row')} of {result.file_name} {'is an exact duplicate' if n == 1 else 'are exact duplicates'} "
                "of an earlier row (same values throughout); each was kept once."
            )
        table = TARGET_TABLE[table_kind]
        stored_as = self.store_as if self.fast else None  # the rows are in the table already, under this upload id
        facts = self._facts if stored_as is not None else None
        if facts is not None and facts.stored is not None:  # counted with the keys (see _stored_facts)
            stored = facts.stored
        else:
            stored = queries.count_already_stored(self.con, table, "ingest_ready", but_not=stored_as)
        if stored and stored_as is not None:  # keep or replace the stored values: the temporary table's path does it
            raise _RetryCarefully(fast_again=True)
        result.already_stored = stored
        if stored and not self.options.replace_existing:
            if distinct >= valid:
                self._exec("CREATE OR REPLACE TEMP TABLE ingest_ready_rows AS SELECT * FROM ingest_ready")
                self._exec("DROP VIEW ingest_ready")
                self._exec("ALTER TABLE ingest_ready_rows RENAME TO ingest_ready")
            queries.drop_already_stored(self.con, table, "ingest_ready")
            result.rows_left_out += stored
            what = "observation" if table_kind != "survey" else "response"
            key = "pilot, metric, lab/live and time" if table_kind != "survey" else "pilot, respondent and wave"
            result.warnings.append(
                f"{plural(stored, what)} {'repeats' if stored == 1 else 'repeat'} ones already stored (same {key}); the stored values were kept. "
                "Choose “replace stored values” to overwrite them."
            )
        elif stored:
            result.warnings.append(f"{plural(stored, 'already stored value')} will be replaced by this file's.")
        result.rows_rejected = len(self.rejects) + rejected
        result.rows_to_store = ready - (stored if not self.options.replace_existing else 0)
        self._summaries(table_kind)
        self._warn_future(table_kind)

    # -- conflicts and future dates ------------------------------------------------------------------

    _OBSERVATION_KEY = "pilot_id, metric, environment, observed_at"
    counted: tuple[int, int] | None = None  # (rows, distinct rows) of ingest_parsed, when _has_conflicts knows them
    tables = True  # make the preview table (pandas); ingest(..., tables=False) leaves it out
    # Tables of experiment runs have one row per run: runs started in the same second are different
    # experiments, not two values for one measurement, so they are not conflicts.
    RUN_TABLES = ("MLflow runs (search_runs)", "MLflow run table (UI download)", "Weights & Biases runs table")

    def _has_conflicts(self, counted: tuple[int, int] | None = None) -> int:
        """1 when some key (pilot, metric, lab/live, time) has two different values in this file.
        Cheap: when some key repeats, one grouping on the key's hash compares each group's lowest
        and highest value (two keys whose hashes collide look like a conflict: the exact check then
        finds none). Both count the rows and, when every group's rows are alike throughout (same
        value and kind), the distinct rows, which is what finish needs for exact duplicates:
        `self.counted`. `counted`: (distinct key hashes, rows without a problem), when known."""
        self.counted = None
        if self.mapping.export in self.RUN_TABLES:
            return 0
        # Most files never repeat a key: one distinct count on the key's hash proves it (a collision
        # only sends the file to the grouping below).
        keys, rows = (
            counted
            or self.con.execute(
                f"SELECT count(DISTINCT hash({self._OBSERVATION_KEY})), count(*) FROM ingest_parsed WHERE problem IS NULL"
            ).fetchone()
        )
        if keys == rows:
            self.counted = (rows, rows)
            return 0
        groups, conflicts, alike, rows = self.con.execute(
            f"""
            SELECT count(*), count(*) FILTER (WHERE low <> high), count(*) FILTER (WHERE alike), coalesce(sum(n), 0) FROM (
                SELECT count(*) AS n, min(value) AS low, max(value) AS high,
                       count(value) IN (0, count(*)) AND min(value) IS NOT DISTINCT FROM max(value)
                       AND count(kind) IN (0, count(*)) AND min(kind) IS NOT DISTINCT FROM max(kind) AS alike
                FROM ingest_parsed WHERE problem IS NULL GROUP BY hash({self._OBSERVATION_KEY})
            )
            """
        ).fetchone()
        if alike == groups:  # rows of one key are exact repeats of each other: distinct rows = keys
            self.counted = (rows, groups)
        return int(conflicts > 0)

    def _reject_conflicting_values(self) -> None:
        """Rows of one file that give two different values for the same pilot, metric, lab/live and
        time are all rejected, with both rows and both values named: which one is right is the
        uploader's call, and an average of the two would be a value nobody measured."""
        if not self._has_conflicts():
            return
        self._exec(
            f"""
            CREATE OR REPLACE TEMP TABLE ingest_conflicts AS
            SELECT {self._OBSERVATION_KEY}, list(ord ORDER BY ord, col) AS ords, list(col ORDER BY ord, col) AS cols,
                   list(value ORDER BY ord, col) AS vals
            FROM ingest_parsed WHERE problem IS NULL AND value IS NOT NULL
            GROUP BY ALL HAVING count(DISTINCT value) > 1
            """
        )
        groups = self.con.execute(
            f"SELECT {self._OBSERVATION_KEY}, ords, cols, vals FROM ingest_conflicts ORDER BY ords[1] LIMIT {MAX_KEPT_PROBLEMS}"
        ).fetchall()
        marks = []
        for pilot_id, metric, environment, observed_at, ords, cols, vals in groups:
            what = f"{pilot_id or 'the pilot'} {metric}, {environment}, {_when(observed_at)}"
            lines = [self.line_of(o) for o in ords]
            message = (
                f"{_rows_words(lines[:6], more=len(lines) - 6)} of {self.result.file_name} give {_different(vals)} for {what}; "
                "keep one and upload again"
            )
            marks += [(o, c, message) for o, c in zip(ords, cols)]
        self._mark(marks)
        self._exec(
            f"""
            UPDATE ingest_parsed SET problem = 'this row and others give different values for the same pilot, metric, lab/live and time; keep one and upload again',
                   problem_col = col
            WHERE problem IS NULL AND value IS NOT NULL AND ({self._OBSERVATION_KEY}) IN (SELECT ({self._OBSERVATION_KEY}) FROM ingest_conflicts)
            """
        )
        self._exec("DROP TABLE ingest_conflicts")

    def _mark(self, marks: list[tuple[int, int, str]]) -> None:
        """Reject the rows (ordinal, column of the value) with their messages."""
        if not marks:
            return
        frame = pd.DataFrame(marks, columns=["ord", "col", "message"]).astype(
            {"ord": "int64", "col": "int64", "message": "str"}
        )
        queries.register(self.con, "ingest_marks", frame)
        self._exec(
            """
            UPDATE ingest_parsed SET problem = m.message, problem_col = m.col FROM ingest_marks m
            WHERE ingest_parsed.ord = m.ord AND ingest_parsed.col = m.col
            """
        )
        self.con.unregister("ingest_marks")

    def _reject_conflicting_answers(self) -> None:
        """Two answers by one respondent in one wave: with different scores both are rejected (the
        uploader says which counts); with the same scores the file's first is kept and the rest left
        out with a note (a form submitted twice). Exact repeats are left to the duplicate check."""
        key = "pilot_id, respondent_id, wave"
        scores = ", ".join(f"coalesce({e}, -1)" for e in ADKAR)
        groups = self.con.execute(
            f"""
            SELECT {key}, list(ord ORDER BY ord), {", ".join(f"list({e} ORDER BY ord)" for e in ADKAR)}
            FROM ingest_parsed WHERE problem IS NULL AND respondent_id IS NOT NULL
            GROUP BY ALL HAVING count(DISTINCT [{scores}]) > 1
            ORDER BY min(ord) LIMIT {MAX_KEPT_PROBLEMS}
            """
        ).fetchall()
        marks = []
        for pilot_id, respondent, wave, ords, *answers in groups:
            differing = [(e, vals) for e, vals in zip(ADKAR, answers) if len(set(vals)) > 1]
            column = self.mapping.column_for(differing[0][0])
            col = self.index[column] if column is not None else -1
            scores_words = ", ".join(
                f"{e.capitalize()} {_and([('blank' if x is None else str(int(x))) for x in vals])}"
                for e, vals in differing
            )
            n = "two" if len(ords) == 2 else str(len(ords))
            lines = [self.line_of(o) for o in ords]
            message = (
                f"{_rows_words(lines[:6], more=len(lines) - 6)} of {self.result.file_name} are {n} answers by respondent "
                f"{respondent} in wave {wave} of {pilot_id} with different scores ({scores_words}); keep one and upload again"
            )
            marks += [(o, col, message) for o in ords]
        if marks:
            frame = pd.DataFrame(marks, columns=["ord", "col", "message"]).astype(
                {"ord": "int64", "col": "int64", "message": "str"}
            )
            queries.register(self.con, "ingest_marks", frame)
            self._exec(
                "UPDATE ingest_parsed SET problem = m.message, problem_col = m.col FROM ingest_marks m WHERE ingest_parsed.ord = m.ord"
            )
            self.con.unregister("ingest_marks")
        # Same scores, something else differs (time, team, comment): keep the file's first answer.
        columns = ", ".join(STORED_COLUMNS["survey"])
        repeats = (
            self.con.execute(
                f"""
            SELECT list(ord) FROM (
                SELECT ord, hash({columns}) AS h, first_value(hash({columns})) OVER (PARTITION BY {key} ORDER BY ord) AS first_h
                FROM ingest_parsed WHERE problem IS NULL AND respondent_id IS NOT NULL
            ) WHERE h <> first_h
            """
            ).fetchone()[0]
            or []
        )
        if repeats:
            self._exec("DELETE FROM ingest_parsed WHERE ord IN (SELECT unnest(?::BIGINT[]))", [repeats])
            self.result.rows_left_out += len(repeats)
            lines = _rows_words(sorted(self.line_of(o) for o in repeats[:10]), more=len(repeats) - 10)
            self.result.warnings.append(
                f"{plural(len(repeats), 'answer')} in {self.result.file_name} repeat{'s' if len(repeats) == 1 else ''} an earlier answer by the "
                f"same respondent in the same wave with the same scores ({lines.lower()}); only the first was kept."
            )

    def _warn_future(self, table_kind: str) -> None:
        """Rows dated after now are stored, but count only from their date: say so before storing."""
        column = "responded_at" if table_kind == "survey" else "observed_at"
        now = utc_now()
        facts = self._facts if self.fast and self.store_as is not None else None
        if facts is not None and (facts.high is None or facts.high <= now.replace(tzinfo=None)):
            return  # the latest stored date is not after now (see _stored_facts)
        count, latest = self.con.execute(
            f"SELECT count(*), max({column}) FROM ingest_ready WHERE {column} > ?", [now]
        ).fetchone()
        if not count:
            return
        what = plural(count, "response") if table_kind == "survey" else plural(count, "observation")
        if count == 1:
            text = f"{what} in {self.result.file_name} is dated after now ({latest:%d %b %Y}); it counts only from that date."
        else:
            text = f"{what} in {self.result.file_name} are dated after now (the latest {latest:%d %b %Y}); each counts only from its own date."
        self.result.warnings.append(text)

    def _summaries(self, table_kind: str) -> None:
        result = self.result
        columns = ", ".join(STORED_COLUMNS[table_kind])
        order = "" if self.fast else "ORDER BY ord"  # the fast path keeps file order without an ordinal
        if self.tables:
            result.preview = self.con.execute(f"SELECT {columns} FROM ingest_ready {order} LIMIT {PREVIEW_ROWS}").df()
        facts = self._facts if self.fast and self.store_as is not None else None  # ingest_ready: every stored row
        if table_kind in ("metrics", "usage") and facts is not None:
            pilots, metrics, low, high = facts.pilots, facts.metrics, facts.low, facts.high
            result.metrics = metrics
        elif table_kind in ("metrics", "usage"):
            pilots, metrics, low, high = self.con.execute(
                "SELECT list(DISTINCT pilot_id ORDER BY pilot_id), list(DISTINCT metric ORDER BY metric), min(observed_at), max(observed_at) FROM ingest_ready"
            ).fetchone()
            result.metrics = metrics or []
        else:
            pilots, low, high = self.con.execute(
                "SELECT list(DISTINCT pilot_id ORDER BY pilot_id), min(responded_at), max(responded_at) FROM ingest_ready"
            ).fetchone()
        result.pilots = pilots or []
        result.date_range = (low, high) if low is not None else None

    def rejected_table(self) -> pd.DataFrame:
        """Every rejected row with its reason and the row's cells as the file had them."""
        header = self.text.header
        rows = []
        by_line = {line: text for line, text in self.rejects}
        raw_lines = (
            dict(self.con.execute("SELECT DISTINCT line, csv_line FROM ingest_reject_errors").fetchall())
            if self.rejects
            else {}
        )
        for line, text in sorted(by_line.items()):
            relative = line - self.text.first_body_line + 1 + self.text.skip_lines
            rows.append(
                {
                    "line": line,
                    "column": "",
                    "reason": f"Row {text}.",
                    **{h: "" for h in header},
                    "original_line": raw_lines.get(relative, ""),
                }
            )
        problem_rows = [p for p in self.result.problems if p.row is not None and p.row not in by_line]
        if problem_rows:
            ordinals = self.problem_ordinals
            wanted = pd.DataFrame({"ord": sorted(set(ordinals.values()))}, dtype="int64")
            queries.register(self.con, "ingest_wanted", wanted)
            cells = self.con.execute(
                f"SELECT rowid - {self.base} + 1 AS ord, * FROM ingest_raw WHERE rowid - {self.base} + 1 IN (SELECT ord FROM ingest_wanted)"
            ).fetchall()
            self.con.unregister("ingest_wanted")
            by_ordinal = {row[0]: row[1:] for row in cells}
            for problem in problem_rows:
                values = by_ordinal.get(ordinals.get(problem.row), ())
                rows.append(
                    {
                        "line": problem.row,
                        "column": problem.column or "",
                        "reason": problem.message,
                        **{
                            h: (values[i] if i < len(values) and values[i] is not None else "")
                            for i, h in enumerate(header)
                        },
                        "original_line": "",
                    }
                )
        frame = pd.DataFrame(rows, columns=["line", "column", "reason", *header, "original_line"])
        if not frame.empty and not frame["original_line"].astype(bool).any():
            frame = frame.drop(columns=["original_line"])
        return frame.sort_values("line", kind="stable").reset_index(drop=True) if not frame.empty else frame


def _register(run: _Run, options: IngestOptions, result: IngestResult, person: Person) -> list[Pilot]:
    frame = run.parse_register()
    units = queries.pilot_business_units(run.con)
    existing = set(units)
    column_of = {t: h for h, t in run.mapping.targets.items()}
    pilots: list[Pilot] = []
    seen: set[str] = set()
    skipped_existing = []
    for record in frame.to_dict("records"):
        ordinal = int(record.pop("ord"))
        tiny = {
            k.removesuffix(TOO_SMALL): written
            for k in list(record)
            if k.endswith(TOO_SMALL) and not pd.isna(written := record.pop(k))
        }
        values = {k: (None if pd.isna(val) else val) for k, val in record.items() if not k.endswith(TOO_SMALL)}
        if all(val is None for val in values.values()):
            continue
        if tiny:  # 1e-400 is read as 0 by every number parser: say so rather than store 0
            for target, written in tiny.items():
                result.problems.append(
                    Problem(
                        run.line_for(ordinal),
                        column_of.get(target, target),
                        f"{Pilot.model_fields[target].title} ‘{written}’ is too small to store (it would become 0); write 0 if 0 is meant.",
                    )
                )
            result.rows_rejected += 1
            continue
        said_none = [
            t
            for t in (*REGISTER_NUMBERS, *REGISTER_DATES)
            if isinstance(values.get(t), str) and values[t].lower() == "none"
        ]
        if said_none:
            for target in said_none:
                title = Pilot.model_fields[target].title
                what = (
                    f"is a number: write 0 when there is none, or leave the cell blank when it is not known"
                    if target in REGISTER_NUMBERS
                    else "is a date: leave the cell blank when there is none or it is not known"
                )
                result.problems.append(
                    Problem(
                        run.line_for(ordinal),
                        column_of.get(target, target),
                        f"{title} says ‘{values[target]}’, but it {what}.",
                    )
                )
            result.rows_rejected += 1
            continue
        try:
            pilot = Pilot.model_validate(values)
        except ValidationError as error:
            for problem in explain(error):
                column = next((h for h, t in run.mapping.targets.items() if t == problem.field), problem.field)
                result.problems.append(Problem(run.line_for(ordinal), column, f"{problem.title} {problem.message}."))
            result.rows_rejected += 1
            continue
        refusal = _outside_units(pilot, units, person)
        if refusal:
            field_name, message = refusal
            result.problems.append(Problem(run.line_for(ordinal), column_of.get(field_name, field_name), message))
            result.rows_rejected += 1
            continue
        if pilot.pilot_id in seen:
            result.rows_left_out += 1
            result.warnings.append(f"{pilot.pilot_id} appears more than once; only its first row was used.")
            continue
        seen.add(pilot.pilot_id)
        if pilot.pilot_id in existing and not options.replace_existing:
            skipped_existing.append(pilot.pilot_id)
            continue
        pilots.append(pilot)
    if skipped_existing:
        result.rows_left_out += len(skipped_existing)
        result.already_stored = len(skipped_existing)
        result.warnings.append(
            f"{plural(len(skipped_existing), 'pilot')} already in the register {'was' if len(skipped_existing) == 1 else 'were'} left as they are ({', '.join(skipped_existing[:6])}"
            f"{' …' if len(skipped_existing) > 6 else ''}). Choose “replace stored values” to update them from this file."
        )
    updated = [p.pilot_id for p in pilots if p.pilot_id in existing]
    if updated:
        result.warnings.append(
            f"{plural(len(updated), 'existing pilot')} will be updated: {', '.join(updated[:6])}{' …' if len(updated) > 6 else ''}."
        )
    result.rows_read = len(frame) + len(run.rejects)
    result.rows_rejected += len(run.rejects)
    result.rows_to_store = len(pilots)
    result.pilots = [p.pilot_id for p in pilots]
    result.preview = pd.DataFrame([p.model_dump() for p in pilots[:PREVIEW_ROWS]], columns=list(PILOT_FIELDS))
    return pilots


def _outside_units(pilot: Pilot, units: dict[str, str], person: Person) -> tuple[str, str] | None:
    """Why a limited person may not store this register row: (the field at fault, the reason), or None."""
    if pilot.pilot_id in units and not person.sees(units[pilot.pilot_id]):
        return (
            "pilot_id",
            f"The code {pilot.pilot_id} is already used by a pilot of another business unit; choose another code.",
        )
    if not person.sees(pilot.business_unit):
        return "business_unit", (
            f"“{pilot.business_unit}” is not one of your business units ({person.units_text}); "
            "you may add or change pilots of those only."
        )
    return None


def _upload_seen_by(con: duckdb.DuckDBPyConnection, upload_id: int, person: Person) -> bool:
    """May `person` be told about this upload (its number, file name and time)? Anyone not limited
    to business units may; a limited person only about their own uploads and uploads whose every
    pilot is in their units."""
    if not person.limited:
        return True
    upload = queries.fetch_upload(con, upload_id) or {}
    if upload.get("uploaded_by") == person.name:
        return True
    pilots = {
        row[0]
        for row in con.execute(
            "SELECT pilot_id FROM metric_observations WHERE upload_id = ? UNION SELECT pilot_id FROM survey_responses WHERE upload_id = ?",
            [upload_id, upload_id],
        ).fetchall()
    }
    try:
        pilots |= set(json.loads(upload.get("details") or "{}").get("pilots") or [])
    except (ValueError, AttributeError):
        return False
    units = queries.pilot_business_units(con)
    return bool(pilots) and all(person.sees(units.get(pilot)) for pilot in pilots)


def _details(result: IngestResult, options: IngestOptions) -> str:
    mapping = result.mapping
    return json.dumps(
        {
            "format": result.format.describe() if result.format else None,
            "export": mapping.export if mapping else None,
            "layout": mapping.layout if mapping else None,
            "mapping": {h: mapping.describe(h) for h in mapping.targets} if mapping else {},
            "warnings": result.warnings,
            "metrics": result.metrics,
            "pilots": result.pilots,
            "date_range": [d.isoformat() for d in result.date_range] if result.date_range else None,
            "rows_read": result.rows_read,
            "rows_left_out": result.rows_left_out,
            "rows_replaced": result.rows_replaced,
            "options": {
                k: (val.isoformat() if isinstance(val, date) else val)
                for k, val in asdict(options).items()
                if val not in (None, {}, False)
            },
        },
        default=str,
    )


def ingest(
    store: Store,
    data: bytes,
    file_name: str,
    options: IngestOptions | None = None,
    *,
    commit: bool = False,
    progress: Progress | None = None,
    source: Path | None = None,
    person: Person | None = None,
    tables: bool = True,
    _careful: bool = False,
    _direct: bool = True,
) -> IngestResult:
    """Check a file and, with `commit`, store it in one transaction. Never raises for bad input:
    a refused file comes back with status "refused" and the reason. `source` is the path `data`
    was read from, if any: DuckDB then reads a plain UTF-8 file in place. `person` is who uploads
    (default: a local administrator named `options.uploaded_by`): an editor or admin, and a person
    limited to some business units may store rows only for those units' pilots: the engine reads
    the whole store whatever `store` is narrowed to, and checks the limits here, row by row.
    `tables=False` leaves `result.preview` and `result.rejected_rows` None (the problems are listed
    all the same): the command line prints neither, and making them imports pandas."""
    store = store.unscoped()
    options = options or IngestOptions()
    person = person or local_administrator(options.uploaded_by)
    options = replace(options, uploaded_by=person.name)  # uploads are withdrawn by whoever made them: one name for both
    progress = progress or (lambda share, text: None)
    started = time.monotonic()
    digest = _sha256_meanwhile(data)
    result = IngestResult(status="refused", file_name=file_name, sha256="", size=len(data))
    if tables:
        result.preview, result.rejected_rows = pd.DataFrame(), pd.DataFrame()
    if not person.can("upload"):
        result.refusal = (
            f"{person.name} may not upload data: that needs the editor role; ask an administrator. Nothing was stored."
        )
        result.sha256 = digest()
        return result
    limit_mb = load_config().max_upload_mb
    if len(data) > limit_mb * 1024 * 1024:
        result.refusal = (
            f"{file_name} is {file_size(len(data))}, more than the upload limit of {limit_mb} MB; "
            "split the file into smaller ones, or ask an administrator to raise the upload limit. Nothing was stored."
        )
        result.sha256 = digest()
        return result
    workdir = _work_folder()
    try:
        progress(0.05, f"Reading {file_name} …")
        text = read_upload(data, file_name, workdir, source)
        result.format, result.headers = text.format, text.header
        result.warnings.extend(text.warnings)
        result.rows_left_out += text.format.total_rows  # total rows cut as footers: rows of the table, left out
        mapping = recognise(text.header, text.header_rows, text.sample, options.kind, file_name)
        if options.mapping:
            mapping = mapping.with_targets(options.mapping)
        result.mapping, result.kind = mapping, mapping.kind
        result.warnings.extend(mapping.notes)
        result.pilot_column = mapping.column_for("pilot_id") is not None
        result.environment_column = mapping.column_for("environment") is not None
        result.environment_column = result.environment_column or _names_split(mapping, options)  # run names say it
        result.environment_source = _environment_source(mapping, options)
        if mapping.kind != "pilot_register" and not result.pilot_column and not options.pilot_id:
            result.needs.append("pilot_id")
        if (
            mapping.kind == "metrics"
            and not result.environment_column
            and options.environment not in ("lab", "live")
            and mapping.defaults.get("environment") not in ("lab", "live")
        ):
            result.needs.append(
                "environment"
            )  # unless every metric is a business KPI: decided once they are read (_decide_metric_kinds)
        if [n for n in result.needs if n != "environment"] and commit:
            asked = {"pilot_id": "which pilot the rows belong to", "environment": "whether they are lab or live"}
            raise Refused(
                f"{file_name} does not say {' or '.join(asked[n] for n in result.needs)}; choose it and store again. Nothing was stored."
            )
        result.sha256 = digest()
        context = store.write() if commit else store.read()
        with context as con:
            duplicate = None if options.store_again else queries.upload_with_hash(con, result.sha256)
            if duplicate:
                result.status = "duplicate"
                if _upload_seen_by(con, duplicate[0], person):
                    result.duplicate_of = duplicate[0]
                    result.warnings.append(
                        f"These exact bytes were already stored as upload {duplicate[0]} ({duplicate[1]}, {duplicate[2]:%d %b %Y %H:%M} UTC); "
                        "storing them again would change nothing."
                    )
                else:  # an upload of another business unit: not even its name or time
                    result.warnings.append("This exact file was stored before; storing it again would change nothing.")
                raise _NothingToStore()
            run = _Run(con, text, mapping, options, result, progress)
            run.allow_fast = not _careful
            run.tables = tables
            known = [p for p, unit in queries.pilot_business_units(con).items() if person.sees(unit)]
            run.limited_to = person.units_text if person.limited else None
            if commit and _direct and not result.needs and mapping.kind in ("metrics", "usage"):
                run.store_as = queries.next_upload_id(con)  # the fast path stores the rows as it reads them
            progress(0.15, "Reading and checking every row …")
            fast = run.try_fast_path(known)
            if not fast:
                run.load()
                progress(0.4, "Reading numbers and dates, checking every row …")
            if mapping.kind == "pilot_register":
                pilots = _register(run, options, result, person)
            else:
                if mapping.kind == "survey":
                    run.parse_survey(known)
                elif not fast:
                    run.shape_metrics()
                    run.parse_metrics(known)
                progress(0.6, "Looking for duplicates …")
                run.finish(mapping.kind)
            if (
                commit and "environment" in result.needs
            ):  # lab or live still not said (a file of business KPIs needs no answer)
                raise Refused(
                    f"{file_name} does not say whether its rows are lab or live; choose it and store again. Nothing was stored."
                )
            if tables:
                result.rejected_rows = run.rejected_table()
            if result.rows_to_store == 0 and result.already_stored:
                result.status = "duplicate"
                result.warnings.append(f"Every row of {file_name} is already stored; there is nothing new to store.")
                raise _NothingToStore()
            if result.rows_to_store == 0:
                raise Refused(
                    f"{file_name} has no row that could be stored: {'its one row was' if result.rows_read == 1 else f'all {result.rows_read:,} rows were'} rejected (see the reasons)."
                )
            if not commit:
                result.status = "ready"
                return result
            progress(0.75, f"Storing {plural(result.rows_to_store, 'row')} …")
            upload_id = queries.insert_upload(
                con,
                kind=mapping.kind,
                file_name=file_name,
                sha256=result.sha256,
                rows_stored=result.rows_to_store,
                rows_rejected=result.rows_rejected,
                uploaded_at=utc_now(),
                uploaded_by=options.uploaded_by,
            )
            stored_already = fast and run.store_as is not None  # the rows went in as they were read, under run.store_as
            if stored_already and upload_id != run.store_as:  # another upload took that id meanwhile: start again
                raise _RetryCarefully(fast_again=True)
            if mapping.kind == "pilot_register":
                existing = set(queries.pilot_ids(con))
                new = [p for p in pilots if p.pilot_id not in existing]
                for pilot in pilots:
                    if pilot.pilot_id in existing:
                        queries.update_pilot(con, pilot, utc_now())
                queries.insert_pilots(con, new, utc_now())
            else:
                table = TARGET_TABLE[mapping.kind]
                if options.replace_existing and result.already_stored:
                    result.rows_replaced = queries.delete_replaced(con, table, "ingest_ready")
                if not stored_already:
                    queries.insert_rows_from(con, table, "ingest_ready", upload_id)
                else:  # which pilots it touched, as insert_rows_from notes it (the results keeper reads this)
                    queries.note_stored_upload_pilots(con, table, upload_id)
                if options.metric_answers:
                    queries.upsert_metric_definitions(
                        con, answer_rows(options.metric_answers, options.uploaded_by, utc_now(), upload_id)
                    )
            queries.set_upload_details(con, upload_id, _details(result, options))
            queries.record_audit(
                con,
                utc_now(),
                options.uploaded_by,
                "upload",
                str(upload_id),
                f"{file_name}: {plural(result.rows_to_store, 'row')} ({KIND_LABELS.get(mapping.kind, mapping.kind)})"
                + (f", {result.rows_replaced:,} stored values replaced" if result.rows_replaced else "")
                + (f", pilots {', '.join(p.pilot_id for p in pilots)}" if mapping.kind == "pilot_register" else ""),
            )
            result.status, result.upload_id = "stored", upload_id
        # Out of the block: committed (a commit that fails raises instead), so "Stored" is now true.
        progress(1.0, f"Stored {plural(result.rows_to_store, 'row')} as upload {result.upload_id}.")
        return result
    except Refused as refusal:
        result.status, result.refusal = "refused", str(refusal)
        return result
    except duckdb.OutOfMemoryException:  # rolled back; the limits should keep every file from here (bench/README.md)
        result.status = "refused"
        result.refusal = (
            f"{file_name} needs more memory to check than this server can give one upload. Split it into smaller "
            "files and upload them one after the other. Nothing was stored."
        )
        return result
    except _NothingToStore:  # raised inside the transaction so that it is rolled back, version untouched
        return result
    except _RetryCarefully as retry:  # rolled back: nothing of the first try is stored
        return ingest(
            store,
            data,
            file_name,
            options,
            commit=commit,
            progress=progress,
            source=source,
            person=person,
            tables=tables,
            _careful=not retry.fast_again,
            _direct=False,
        )
    finally:
        result.sha256 = digest()
        result.problems.sort(key=lambda p: (p.row is None, p.row or 0))
        result.seconds = time.monotonic() - started
        shutil.rmtree(workdir, ignore_errors=True)


def withdraw(store: Store, upload_id: int, by: "Person | str" = "local user") -> dict[str, Any]:
    """Withdraw an upload: its rows leave every view; the record stays, dated. An editor may
    withdraw their own uploads, an administrator anyone's."""
    from ..errors import AccessDenied, NotFoundError

    person = as_person(by)
    person.require("withdraw_own", f"withdraw upload {upload_id}")
    with store.write() as con:
        upload = queries.fetch_upload(con, upload_id)
        if upload is None:
            raise NotFoundError(f"There is no upload {upload_id}.")
        if not person.may_withdraw(upload["uploaded_by"]):
            raise AccessDenied(
                f"{person.name} may withdraw only their own uploads, and upload {upload_id} was made by "
                f"{upload['uploaded_by']}; ask an administrator to withdraw it."
            )
        if upload["withdrawn_at"] is None:
            queries.withdraw_upload(con, upload_id, utc_now())
            queries.record_audit(
                con,
                utc_now(),
                person.name,
                "withdraw",
                str(upload_id),
                f"{upload['file_name']} (uploaded by {upload['uploaded_by']} on {upload['uploaded_at']:%Y-%m-%d %H:%M})",
            )
        return queries.fetch_upload(con, upload_id)


def upload_history(store: Store, include_demo: bool = False) -> pd.DataFrame:
    """Every upload, newest first: what, when, by whom, how many rows, withdrawn or not."""
    with store.read() as con:
        return queries.list_uploads(con, include_demo)
