"""What the fast path stored as it read the rows, grouped once: what every check after it reads instead
of scanning the stored rows again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pilot_health.ingest.run import OBSERVATION_KEY, TARGET_TABLE, Run
from pilot_health.rules.metric_dictionary import ValueSummary
from pilot_health.store.transfer import bring_stored_rows


@dataclass(frozen=True)
class StoredFacts:
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

    def summaries(self, metrics: list[str]) -> dict[str, ValueSummary]:
        """What kinds.value_summaries finds for these metrics (the fast path's values are plain numbers:
        no currency)."""
        found: dict[str, ValueSummary] = {}
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


def stored_facts(run: Run) -> StoredFacts:
    """For the fast path that stored the rows as it read them: what the checks after it need,
    from two scans of the stored rows instead of one per check. One grouping by pilot, metric and
    lab/live gives the rows, the distinct codes, names and pairs, each metric's value range and the
    dates; one distinct count of key hashes over those rows together with the stored rows (of
    other uploads in force) that could share a key with them (same pilot, metric and lab/live,
    dated within the group's dates) proves, when every hash is distinct, that no key repeats in
    the file and none is stored already. When some hash repeats, `keys` and `stored` are left
    None and the usual checks count them exactly."""
    table, upload_id = TARGET_TABLE[str(run.result.kind)], int(run.route.store_as or 0)
    groups = run.con.execute(
        f"""
        SELECT pilot_id, metric, environment, count(*), min(value), max(value), bool_and(value = round(value)),
               min(observed_at), max(observed_at)
        FROM {table} WHERE upload_id = {upload_id} GROUP BY ALL ORDER BY ALL
        """
    ).fetchall()
    rows: int = sum(g[3] for g in groups)
    columns: list[Any] = list(zip(*groups, strict=True)) if groups else [[] for _ in range(9)]
    bring_stored_rows(run.con, table, f"(SELECT * FROM {table} WHERE upload_id = {upload_id})")
    overlap, distinct = run.one(
        f"""
        WITH file_groups AS (
            SELECT unnest(?::VARCHAR[]) AS pilot_id, unnest(?::VARCHAR[]) AS metric,
                   unnest(?::VARCHAR[]) AS environment,
                   unnest(?::TIMESTAMP[]) AS low, unnest(?::TIMESTAMP[]) AS high
        ), nearby AS (
            SELECT t.pilot_id, t.metric, t.environment, t.observed_at
            FROM {table} t JOIN uploads u USING (upload_id)
            JOIN file_groups g ON t.pilot_id = g.pilot_id AND t.metric = g.metric AND t.environment = g.environment
                               AND t.observed_at BETWEEN g.low AND g.high
            WHERE u.withdrawn_at IS NULL AND t.upload_id <> {upload_id}
        )
        SELECT (SELECT count(*) FROM nearby), count(DISTINCT hash({OBSERVATION_KEY})) FROM (
            SELECT {OBSERVATION_KEY} FROM {table} WHERE upload_id = {upload_id}
            UNION ALL SELECT {OBSERVATION_KEY} FROM nearby
        )
        """,
        [list(columns[0]), list(columns[1]), list(columns[2]), list(columns[7]), list(columns[8])],
    )
    unique = distinct == rows + overlap
    return StoredFacts(groups, rows, rows if unique else None, 0 if unique else None)
