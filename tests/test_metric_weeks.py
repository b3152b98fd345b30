"""`metric_weeks`, the weekly sums every weekly average is made of (store/migrations.py m014): on
PostgreSQL a table kept up to date by triggers, on DuckDB a view. Whatever writes the rows, the
weekly series the pages read must equal what the rows themselves give, counted afresh."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from pilot_health.access import Person
from pilot_health.demo.portfolio import clear_demo
from pilot_health.ingest import IngestOptions, ingest
from pilot_health.ingest.storing import withdraw
from pilot_health.store import dialect, migrations, queries
from pilot_health.store.database import open_store, utc_now

KEY = ["pilot_id", "metric", "kind", "environment", "week"]


def weekly_from_the_rows(store, as_of: datetime, pilot_ids=None) -> pd.DataFrame:
    """The weekly averages computed in pandas from every stored row (no SQL grouping), as
    `queries.weekly_series` promises them: in force at `as_of`, observed by then, Monday weeks."""
    with store.read() as con:
        rows = con.execute(
            "SELECT m.pilot_id, m.metric, m.kind, m.environment, m.observed_at, m.value, u.uploaded_at, u.withdrawn_at "
            "FROM metric_observations m JOIN uploads u USING (upload_id)"
        ).df()
    in_force = (rows.uploaded_at <= as_of) & (rows.withdrawn_at.isna() | (rows.withdrawn_at > as_of))
    rows = rows[in_force & (rows.observed_at <= as_of) & rows.value.notna()].copy()
    if pilot_ids is not None:
        rows = rows[rows.pilot_id.isin(pilot_ids)]
    observed = rows.observed_at.dt.normalize()
    rows["week"] = (observed - pd.to_timedelta(observed.dt.day_of_week, unit="D")).astype("datetime64[us]")
    grouped = rows.groupby(KEY, sort=True).agg(value=("value", "mean"), n=("value", "size")).reset_index()
    return grouped


def assert_same_weeks(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(actual) > 0
    assert list(actual.columns) == [*KEY, "value", "n"]
    actual = actual.sort_values(KEY, ignore_index=True)  # the query's order is checked on its own
    pd.testing.assert_frame_equal(actual[KEY], expected[KEY], check_dtype=False)
    assert actual.n.tolist() == expected.n.tolist()
    np.testing.assert_allclose(actual.value.to_numpy(), expected.value.to_numpy(), rtol=1e-12)


def metrics_csv(rows: list[tuple[str, str, str, float | str]]) -> bytes:
    lines = ["pilot_id,date,metric,value,environment"]
    lines += [f"{pilot},{day},{metric},{value},live" for pilot, day, metric, value in rows]
    return ("\n".join(lines) + "\n").encode()


def newest_day(store) -> datetime:
    with store.read() as con:
        return queries.one_value(con.execute("SELECT max(observed_at) FROM metric_observations"))


def stored_weeks_match_the_rows(store) -> None:
    """The weekly sums held equal the rows grouped afresh (on PostgreSQL, the triggers' work)."""
    with store.read() as con:
        held = con.execute(
            "SELECT upload_id, pilot_id, metric, kind, environment, week, value_sum, n, row_count FROM metric_weeks "
            "ORDER BY upload_id, pilot_id, metric, kind, environment, week"
        ).df()
        fresh = con.execute(
            """
            SELECT upload_id, pilot_id, metric, kind, environment, date_trunc('week', observed_at) AS week,
                   coalesce(sum(value), 0) AS value_sum, count(value) AS n, count(*) AS row_count
            FROM metric_observations
            GROUP BY upload_id, pilot_id, metric, kind, environment, date_trunc('week', observed_at)
            ORDER BY upload_id, pilot_id, metric, kind, environment, week
            """
        ).df()
    assert len(held) == len(fresh) > 0
    with store.read() as con:  # the store's row count (on PostgreSQL the weekly counts added up)
        counted = queries.table_counts(con)["metric_observations"]
        assert counted == queries.one_value(con.execute("SELECT count(*) FROM metric_observations"))
    columns = ["upload_id", "pilot_id", "metric", "kind", "environment", "week", "n", "row_count"]
    pd.testing.assert_frame_equal(held[columns], fresh[columns], check_dtype=False)
    np.testing.assert_allclose(held.value_sum.to_numpy(), fresh.value_sum.to_numpy(), rtol=1e-12)


def test_the_weekly_series_is_the_rows_averaged_by_week(demo_store):
    as_of = utc_now().replace(microsecond=0)
    with demo_store.read() as con:
        series = queries.weekly_series(con, as_of)
    assert_same_weeks(series, weekly_from_the_rows(demo_store, as_of))
    # In the order evidence.py slices it by.
    assert series[KEY].equals(series[KEY].sort_values(KEY, ignore_index=True))


@pytest.mark.parametrize("days_back", [0, 3, 10, 45])
def test_a_moment_inside_a_week_counts_that_week_up_to_the_moment(demo_store, days_back):
    """The week `as_of` falls in is counted from its rows, only those observed by then; the weeks
    before come from the sums. Moments on every weekday and at noon cut weeks in two."""
    newest = newest_day(demo_store)
    for hours in (12, 36, 60, 84, 108, 132, 156):
        as_of = newest - timedelta(days=days_back) - timedelta(hours=hours)
        with demo_store.read() as con:
            series = queries.weekly_series(con, as_of)
        assert_same_weeks(series, weekly_from_the_rows(demo_store, as_of))


def test_one_pilots_series_is_its_part_of_everyones(demo_store):
    as_of = newest_day(demo_store)
    with demo_store.read() as con:
        pilots = [r[0] for r in con.execute("SELECT pilot_id FROM pilots ORDER BY pilot_id LIMIT 2").fetchall()]
        series = queries.weekly_series(con, as_of, pilots)
    assert set(series.pilot_id) == set(pilots)
    assert_same_weeks(series, weekly_from_the_rows(demo_store, as_of, pilots))


def test_uploads_replacements_withdrawals_and_removals_keep_the_weeks_exact(demo_store):
    with demo_store.read() as con:
        pilot, metric = con.execute(
            "SELECT pilot_id, metric FROM metric_observations WHERE kind = 'business' AND environment = 'live' "
            "ORDER BY pilot_id, metric LIMIT 1"
        ).fetchone()
        days = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT CAST(observed_at AS DATE) AS day FROM metric_observations "
                "WHERE pilot_id = ? AND metric = ? AND environment = 'live' ORDER BY day DESC LIMIT 9",
                [pilot, metric],
            ).fetchall()
        ]

    def check() -> None:
        now = utc_now().replace(microsecond=0) + timedelta(seconds=1)  # after the upload just made
        stored_weeks_match_the_rows(demo_store)
        with demo_store.read() as con:
            series = queries.weekly_series(con, now)
        assert_same_weeks(series, weekly_from_the_rows(demo_store, now))

    # New rows in weeks that already have rows (from another upload), some blank, one a new week.
    # (At 13:30, a time no stored row of the demo has, so they are new rows.)
    added = [(pilot, f"{day.isoformat()} 13:30", metric, 10.5 + i) for i, day in enumerate(days[:4])]
    added += [(pilot, f"{days[4].isoformat()} 13:30", metric, "")]
    result = ingest(demo_store, metrics_csv(added), "more.csv", IngestOptions(kind="metrics"), commit=True)
    assert result.status == "stored", result.refusal
    check()
    # The same days again with other values, replacing what is stored (rows of older uploads go).
    again = [(pilot, day.isoformat(), metric, 99.25 - i) for i, day in enumerate(days)]
    result = ingest(
        demo_store, metrics_csv(again), "again.csv", IngestOptions(kind="metrics", replace_existing=True), commit=True
    )
    assert result.status == "stored", result.refusal
    check()
    withdraw(demo_store, result.upload_id)
    check()
    clear_demo(demo_store)
    with demo_store.read() as con:
        assert queries.one_value(con.execute("SELECT count(*) FROM metric_weeks")) > 0  # the two uploads' rows
    check()


def test_metric_weeks_has_no_blanks(demo_store):
    """What docs/schema.md promises of every column (DuckDB cannot declare it of a view's)."""
    with demo_store.read() as con:
        columns = [d[0] for d in con.execute("SELECT * FROM metric_weeks LIMIT 0").description]
        blanks = " OR ".join(f"{c} IS NULL" for c in columns)
        assert queries.one_value(con.execute(f"SELECT count(*) FROM metric_weeks WHERE {blanks}")) == 0
        assert queries.one_value(con.execute("SELECT count(*) FROM metric_weeks")) > 0


def test_a_person_limited_to_one_unit_sees_only_its_weeks(demo_store):
    with demo_store.read() as con:
        unit = queries.one_value(con.execute("SELECT min(business_unit) FROM pilots"))
    limited = demo_store.for_person(Person("someone", "viewer", business_units=(unit,)))
    with limited.read() as con:
        mine = {r[0] for r in con.execute("SELECT pilot_id FROM pilots").fetchall()}
        seen = {r[0] for r in con.execute("SELECT DISTINCT pilot_id FROM metric_weeks").fetchall()}
        series = queries.weekly_series(con, utc_now())
    assert seen and seen <= mine
    assert set(series.pilot_id) <= mine


def test_postgresql_keeps_the_weeks_through_every_kind_of_write(postgres_demo_url):
    """Rows added, deleted, changed in place and emptied by TRUNCATE: the triggers follow each."""
    store = open_store(postgres_demo_url, lock_wait_seconds=10)
    with store.write() as con:
        pilot = queries.one_value(con.execute("SELECT min(pilot_id) FROM metric_observations"))
        con.execute(
            "UPDATE metric_observations SET value = value * 2 + 1 WHERE pilot_id = ? AND kind = 'technical'", [pilot]
        )
    stored_weeks_match_the_rows(store)
    with store.write() as con:
        con.execute(
            "UPDATE metric_observations SET observed_at = observed_at + INTERVAL '3 days' WHERE pilot_id = ?", [pilot]
        )
    stored_weeks_match_the_rows(store)
    with store.write() as con:
        con.execute("DELETE FROM metric_observations WHERE pilot_id = ? AND environment = 'lab'", [pilot])
    stored_weeks_match_the_rows(store)
    with store.write() as con:
        con.execute("TRUNCATE metric_observations")
    with store.read() as con:
        assert queries.one_value(con.execute("SELECT count(*) FROM metric_weeks")) == 0


def test_a_postgresql_store_from_before_the_weeks_gets_them_counted(postgres_demo_url):
    """A store migrated before m014 (or restored from a backup made then) has rows but no weeks:
    the migration counts them, and a leftover table from another store is made afresh."""
    store = open_store(postgres_demo_url, lock_wait_seconds=10)
    with store.write() as con:
        assert dialect.dialect_of(con) == dialect.POSTGRES
        con.execute("DROP TRIGGER metric_weeks_after_insert ON metric_observations")
        con.execute("DELETE FROM metric_weeks WHERE pilot_id IN (SELECT min(pilot_id) FROM metric_weeks)")
        con.execute(
            "DELETE FROM schema_migrations WHERE name = ?", [migrations.migration_name(migrations.m014_metric_weeks)]
        )
    from pilot_health.store.postgres import forget_schema

    forget_schema(store.url)
    store = open_store(postgres_demo_url, lock_wait_seconds=10)
    store.ensure_ready()
    stored_weeks_match_the_rows(store)
    with store.read() as con:
        triggers = {
            r[0]
            for r in con.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'metric_observations'::regclass AND NOT tgisinternal"
            ).fetchall()
        }
    assert triggers == {f"metric_weeks_after_{e}" for e in ("insert", "delete", "update", "truncate")}


def test_the_metric_dictionarys_counts_are_the_rows_counted(demo_store):
    """How many pilots and rows each metric has (rows of uploads not withdrawn, blanks included),
    read from the weekly counts, equal the rows counted one by one; a week of only blanks counts."""
    with demo_store.read() as con:
        pilot, metric = con.execute(
            "SELECT pilot_id, metric FROM metric_observations ORDER BY pilot_id, metric LIMIT 1"
        ).fetchone()
    blanks = metrics_csv([(pilot, f"2021-03-0{day} 09:00", "only_blanks", "") for day in (1, 2, 3)])
    assert ingest(demo_store, blanks, "blanks.csv", IngestOptions(kind="metrics"), commit=True).status == "stored"
    with demo_store.read() as con:
        counted = queries.metric_names_in_use(con)
        rows = con.execute(
            "SELECT o.metric, o.kind, o.pilot_id FROM metric_observations o JOIN uploads u USING (upload_id) "
            "WHERE u.withdrawn_at IS NULL"
        ).df()
    expected = (
        rows.groupby(["metric", "kind"], sort=True)
        .agg(pilots=("pilot_id", "nunique"), observations=("pilot_id", "size"))
        .reset_index()
    )
    assert counted[["metric", "kind"]].values.tolist() == expected[["metric", "kind"]].values.tolist()
    assert counted.pilots.tolist() == expected.pilots.tolist()
    assert counted.observations.tolist() == expected.observations.tolist()
    assert counted.set_index("metric").loc["only_blanks", "observations"] == 3
    stored_weeks_match_the_rows(demo_store)
