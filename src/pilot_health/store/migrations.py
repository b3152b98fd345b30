"""Schema changes, as a numbered list of small functions.

Each migration runs once, in its own transaction, and is recorded in `schema_migrations`, so a
store created by any earlier version is brought up to date step by step. A migration is never
edited once released: change the schema by appending a new one. `docs/schema.md` documents the
result; a test migrates a blank database and compares it with that page, column by column.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from pilot_health.errors import StoreVersionError
from pilot_health.store import dialect, queries
from pilot_health.store.dialect import POSTGRES, Connection, dialect_of

Migration = Callable[[Connection], None]
MIGRATIONS: list[Migration] = []


def migration(function: Migration) -> Migration:
    """Register a migration; its name (without the leading `m`) is what the table records."""
    MIGRATIONS.append(function)
    return function


def migration_name(function: Migration) -> str:
    return function.__name__.removeprefix("m")


@migration
def m001_initial_schema(con: Connection) -> None:
    con.execute(
        """
        CREATE TABLE store_meta (
            key VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL
        )
        """
    )
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    con.executemany(
        "INSERT INTO store_meta (key, value) VALUES (?, ?)",
        [["version", uuid.uuid4().hex], ["created_at", now], ["changed_at", now]],
    )
    con.execute("CREATE SEQUENCE upload_id_seq START 1")
    con.execute(
        """
        CREATE TABLE uploads (
            upload_id BIGINT PRIMARY KEY DEFAULT nextval('upload_id_seq'),
            kind VARCHAR NOT NULL CHECK (kind IN ('pilot_register', 'metrics', 'usage', 'survey')),
            file_name VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            rows_stored INTEGER NOT NULL CHECK (rows_stored >= 0),
            rows_rejected INTEGER NOT NULL CHECK (rows_rejected >= 0),
            uploaded_at TIMESTAMP NOT NULL,
            uploaded_by VARCHAR NOT NULL,
            withdrawn_at TIMESTAMP
        )
        """
    )
    con.execute(
        """
        CREATE TABLE pilots (
            pilot_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            business_unit VARCHAR NOT NULL,
            use_case VARCHAR,
            owner VARCHAR,
            executive_sponsor VARCHAR,
            sponsor_level VARCHAR CHECK (sponsor_level IN ('vp', 'director', 'manager', 'none')),
            change_champion VARCHAR,
            vendor VARCHAR,
            stage VARCHAR NOT NULL CHECK (stage IN ('proposed', 'pilot', 'scaling', 'production', 'paused', 'cancelled')),
            approved_on DATE,
            stage_since DATE,
            target_production_on DATE,
            budget DOUBLE CHECK (budget >= 0),
            spend_to_date DOUBLE CHECK (spend_to_date >= 0),
            target_users INTEGER CHECK (target_users >= 0),
            kpi_name VARCHAR,
            kpi_baseline DOUBLE,
            kpi_target DOUBLE,
            kpi_direction VARCHAR CHECK (kpi_direction IN ('up', 'down')),
            kpi_unit VARCHAR,
            kpi_deadline DATE,
            pipeline_automated BOOLEAN,
            data_quality_monitored BOOLEAN,
            master_data_managed BOOLEAN,
            api_designed BOOLEAN,
            latency_defined BOOLEAN,
            error_handling_designed BOOLEAN,
            integration_resourced BOOLEAN,
            change_plan BOOLEAN,
            training_ready BOOLEAN,
            monitoring_in_place BOOLEAN,
            drift_alerts BOOLEAN,
            responsible_ai_review BOOLEAN,
            escalation_path BOOLEAN,
            data_effort_pct DOUBLE CHECK (data_effort_pct BETWEEN 0 AND 100),
            integration_target VARCHAR,
            accountable_owner VARCHAR,
            updated_at TIMESTAMP NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE metric_observations (
            pilot_id VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            kind VARCHAR NOT NULL CHECK (kind IN ('technical', 'business', 'adoption')),
            environment VARCHAR NOT NULL CHECK (environment IN ('lab', 'live')),
            observed_at TIMESTAMP NOT NULL,
            value DOUBLE,
            upload_id BIGINT NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE survey_responses (
            pilot_id VARCHAR NOT NULL,
            respondent_id VARCHAR NOT NULL,
            responded_at TIMESTAMP,
            wave INTEGER NOT NULL CHECK (wave >= 1),
            team VARCHAR,
            role VARCHAR,
            awareness TINYINT CHECK (awareness BETWEEN 1 AND 5),
            desire TINYINT CHECK (desire BETWEEN 1 AND 5),
            knowledge TINYINT CHECK (knowledge BETWEEN 1 AND 5),
            ability TINYINT CHECK (ability BETWEEN 1 AND 5),
            reinforcement TINYINT CHECK (reinforcement BETWEEN 1 AND 5),
            comment VARCHAR,
            upload_id BIGINT NOT NULL
        )
        """
    )


@migration
def m002_upload_details(con: Connection) -> None:
    """What the engine understood of each file (format, mapping, warnings, date range), as JSON,
    so a receipt can be shown again later."""
    con.execute("ALTER TABLE uploads ADD COLUMN details VARCHAR")


@migration
def m003_metric_definitions(con: Connection) -> None:
    """What people said about metrics the built-in dictionary does not know (asked once, on
    upload), and their corrections of it."""
    con.execute(
        """
        CREATE TABLE metric_definitions (
            metric_key VARCHAR PRIMARY KEY,
            label VARCHAR NOT NULL,
            kind VARCHAR NOT NULL CHECK (kind IN ('technical', 'business', 'adoption')),
            direction VARCHAR CHECK (direction IN ('up', 'down')),
            unit VARCHAR,
            decided_by VARCHAR NOT NULL,
            decided_at TIMESTAMP NOT NULL,
            upload_id BIGINT
        )
        """
    )


@migration
def m004_pilot_team_sizes(con: Connection) -> None:
    """Team sizes in the register, so survey participation can be counted per team."""
    con.execute("ALTER TABLE pilots ADD COLUMN team_sizes VARCHAR")


@migration
def m005_pilot_history(con: Connection) -> None:
    """Every version of every pilot record, so a pinned link can show the register as it was.
    Existing records become their first version, dated when they were last written."""
    con.execute("CREATE SEQUENCE pilot_history_seq START 1")
    # The store's own table (a PostgreSQL database may have other schemas with a table of that name).
    described = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'pilots'"
        " AND table_catalog = current_database() AND table_schema = ? ORDER BY ordinal_position",
        [dialect.base_schema(con)],
    ).fetchall()
    columns = [name for name, _ in described]
    definitions = ", ".join(f"{name} {kind}" for name, kind in described)
    con.execute(
        f"""
        CREATE TABLE pilot_history (
            history_id BIGINT PRIMARY KEY DEFAULT nextval('pilot_history_seq'),
            recorded_at TIMESTAMP NOT NULL,
            removed BOOLEAN NOT NULL,
            {definitions}
        )
        """
    )
    listed = ", ".join(columns)
    con.execute(
        f"INSERT INTO pilot_history (recorded_at, removed, {listed}) SELECT updated_at, false, {listed} FROM pilots ORDER BY pilot_id"
    )


@migration
def m006_audit_log(con: Connection) -> None:
    """Who changed what, and when: every upload, withdrawal, pilot record change, metric definition,
    demo load or clearance and restore, written in the same transaction as the change."""
    con.execute("CREATE SEQUENCE audit_id_seq START 1")
    con.execute(
        """
        CREATE TABLE audit_log (
            audit_id BIGINT PRIMARY KEY DEFAULT nextval('audit_id_seq'),
            happened_at TIMESTAMP NOT NULL,
            who VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            subject VARCHAR,
            detail VARCHAR
        )
        """
    )


@migration
def m007_threshold_overrides(con: Connection) -> None:
    """Thresholds an administrator sets in the dashboard, on top of the signal catalogue's file."""
    con.execute(
        """
        CREATE TABLE threshold_overrides (
            setting VARCHAR PRIMARY KEY,
            value DOUBLE NOT NULL,
            changed_by VARCHAR NOT NULL,
            changed_at TIMESTAMP NOT NULL
        )
        """
    )


@migration
def m008_threshold_history(con: Connection) -> None:
    """Every change of a threshold set in the dashboard (a value, or NULL when it was set back to the
    file's), so a pinned link keeps the thresholds in force at its moment. Thresholds set before
    this table start with one row: their current value, dated when it was set."""
    con.execute("CREATE SEQUENCE threshold_history_seq START 1")
    con.execute(
        """
        CREATE TABLE threshold_history (
            history_id BIGINT PRIMARY KEY DEFAULT nextval('threshold_history_seq'),
            setting VARCHAR NOT NULL,
            value DOUBLE,
            set_at TIMESTAMP NOT NULL,
            set_by VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        "INSERT INTO threshold_history (setting, value, set_at, set_by) "
        "SELECT setting, value, changed_at, changed_by FROM threshold_overrides ORDER BY changed_at, setting"
    )


@migration
def m009_upload_pilots(con: Connection) -> None:
    """Which pilots each upload brought rows for, written with the rows, so that what changed for a
    pilot (an upload, a withdrawal) is known from small tables without reading every data row. Uploads
    stored before this table get theirs from the rows they still have."""
    con.execute(
        """
        CREATE TABLE upload_pilots (
            upload_id BIGINT NOT NULL,
            pilot_id VARCHAR NOT NULL,
            PRIMARY KEY (upload_id, pilot_id)
        )
        """
    )
    con.execute(
        """
        INSERT INTO upload_pilots (upload_id, pilot_id)
        SELECT DISTINCT upload_id, pilot_id FROM metric_observations
        UNION
        SELECT DISTINCT upload_id, pilot_id FROM survey_responses
        ORDER BY upload_id, pilot_id
        """
    )


@migration
def m010_meetings_and_decisions(con: Connection) -> None:
    """Steering meetings (the moment each reviewed) and the decisions taken in them about pilots."""
    con.execute("CREATE SEQUENCE meeting_id_seq START 1")
    con.execute(
        """
        CREATE TABLE meetings (
            meeting_id BIGINT PRIMARY KEY DEFAULT nextval('meeting_id_seq'),
            held_on DATE NOT NULL,
            title VARCHAR NOT NULL,
            pinned_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL
        )
        """
    )
    con.execute("CREATE SEQUENCE decision_id_seq START 1")
    con.execute(
        """
        CREATE TABLE decisions (
            decision_id BIGINT PRIMARY KEY DEFAULT nextval('decision_id_seq'),
            meeting_id BIGINT NOT NULL,
            pilot_id VARCHAR NOT NULL,
            decision VARCHAR NOT NULL CHECK (decision IN ('continue', 'fix and review', 'scale', 'pause', 'stop')),
            conditions VARCHAR,
            owner VARCHAR NOT NULL,
            due_on DATE NOT NULL,
            signal_key VARCHAR,
            signal_value DOUBLE,
            recorded_by VARCHAR NOT NULL,
            recorded_at TIMESTAMP NOT NULL
        )
        """
    )


@migration
def m011_alerts(con: Connection) -> None:
    """Alerts: who subscribed to what, each run of the alerts command, the events it found (each
    once, by its key) and every digest it sent or tried to send, with the reason when it failed."""
    con.execute("CREATE SEQUENCE alert_subscription_id_seq START 1")
    con.execute(
        """
        CREATE TABLE alert_subscriptions (
            subscription_id BIGINT PRIMARY KEY DEFAULT nextval('alert_subscription_id_seq'),
            address VARCHAR NOT NULL,
            channel VARCHAR NOT NULL CHECK (channel IN ('email', 'webhook')),
            pilot_id VARCHAR,
            business_unit VARCHAR,
            events VARCHAR[] NOT NULL,
            limited_to VARCHAR[],
            created_by VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            removed_by VARCHAR,
            removed_at TIMESTAMP
        )
        """
    )
    con.execute("CREATE SEQUENCE alert_run_id_seq START 1")
    con.execute(
        """
        CREATE TABLE alert_runs (
            run_id BIGINT PRIMARY KEY DEFAULT nextval('alert_run_id_seq'),
            moment TIMESTAMP NOT NULL,
            compared_with TIMESTAMP,
            run_by VARCHAR NOT NULL,
            events_found INTEGER NOT NULL,
            digests_sent INTEGER NOT NULL,
            digests_not_sent INTEGER NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE alert_events (
            event_key VARCHAR PRIMARY KEY,
            run_id BIGINT NOT NULL,
            kind VARCHAR NOT NULL,
            pilot_id VARCHAR NOT NULL,
            business_unit VARCHAR,
            fired_at TIMESTAMP NOT NULL,
            what VARCHAR NOT NULL,
            evidence VARCHAR NOT NULL,
            link VARCHAR NOT NULL
        )
        """
    )
    con.execute("CREATE SEQUENCE alert_delivery_id_seq START 1")
    con.execute(
        """
        CREATE TABLE alert_deliveries (
            delivery_id BIGINT PRIMARY KEY DEFAULT nextval('alert_delivery_id_seq'),
            run_id BIGINT NOT NULL,
            channel VARCHAR NOT NULL CHECK (channel IN ('email', 'webhook', 'none')),
            address VARCHAR NOT NULL,
            recipient VARCHAR NOT NULL,
            event_keys VARCHAR[] NOT NULL,
            subject VARCHAR NOT NULL,
            body VARCHAR NOT NULL,
            payload VARCHAR,
            status VARCHAR NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'undeliverable')),
            attempts INTEGER NOT NULL,
            runs_tried INTEGER NOT NULL,
            last_error VARCHAR,
            created_at TIMESTAMP NOT NULL,
            last_attempt_at TIMESTAMP,
            sent_at TIMESTAMP
        )
        """
    )


@migration
def m012_postgres_data_indexes(con: Connection) -> None:
    """On PostgreSQL, indexes on the data rows by pilot, so that an upload reads only the stored
    rows it can touch (store/transfer.py) and one pilot's numbers (its risk trend, the rows behind
    a signal, its alignment and adoption) read that pilot's rows instead of scanning millions.
    DuckDB needs none: it skips what it does not need by the blocks' own minimum and maximum, and
    an index would slow its bulk inserts."""
    if dialect_of(con) != POSTGRES:
        return
    # By pilot and time only: half the cost to a large upload's COPY of the whole key, and a pilot's
    # rows within some dates are few (its other metrics are read and passed over).
    con.execute("CREATE INDEX metric_observations_by_pilot ON metric_observations (pilot_id, observed_at)")
    con.execute("CREATE INDEX survey_responses_by_pilot ON survey_responses (pilot_id, wave)")


@migration
def m013_postgres_date_indexes(con: Connection) -> None:
    """On PostgreSQL, indexes on the date of every data row: finding the rows dated after a moment
    (what every page reads once after each write, `queries.times_after`) takes 3 ms instead of
    0.5 s at five million rows. (One pilot's rows are found through migration 012's index by
    pilot.) DuckDB skips what it does not need without them (minimum and maximum per block of
    rows) and would only load uploads more slowly with them, so the embedded store is not changed."""
    if dialect_of(con) != POSTGRES:
        return
    con.execute("CREATE INDEX metric_observations_observed ON metric_observations (observed_at)")
    con.execute("CREATE INDEX survey_responses_responded ON survey_responses (responded_at)")


# The key of one week of one metric of one pilot, as one upload brought it (`metric_weeks`).
_WEEK_KEY = "upload_id, pilot_id, metric, kind, environment, week"


@migration
def m014_metric_weeks(con: Connection) -> None:
    """`metric_weeks`: every upload's weekly sum and counts of each pilot's metric, what every page's
    weekly averages (`queries.weekly_series`) and the metric dictionary's counts are made of. On
    PostgreSQL it is a table kept up to date by triggers on `metric_observations`, whatever writes
    the rows (an upload, a replacement, the demo, a moved store): grouping five million rows takes
    PostgreSQL 1–3 s after every write, and the weekly sums a tenth of that. On DuckDB it is a view of
    the same columns, computed from the rows when read: DuckDB groups them in a fraction of a
    second, and a table would slow its bulk uploads."""
    week = "date_trunc('week', observed_at)"
    sums = "coalesce(sum(value), 0)"  # 0 when every value of the week is blank (n = 0)
    if dialect_of(con) != POSTGRES:
        con.execute(
            f"""
            CREATE OR REPLACE VIEW metric_weeks AS
            SELECT upload_id, pilot_id, metric, kind, environment, {week} AS week,
                   {sums} AS value_sum, count(value) AS n, count(*) AS row_count
            FROM metric_observations
            GROUP BY upload_id, pilot_id, metric, kind, environment, {week}
            """
        )
        return
    schema = dialect.base_schema(con)  # what every pooled connection searches (postgres._configure)
    weeks, observations = f"{schema}.metric_weeks", f"{schema}.metric_observations"
    # A restore of a backup made before this migration brings the rows back without the weeks;
    # whatever an earlier store left is made afresh.
    con.execute(f"DROP TABLE IF EXISTS {weeks}")
    con.execute(
        f"""
        CREATE TABLE {weeks} (
            upload_id BIGINT NOT NULL,
            pilot_id VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            environment VARCHAR NOT NULL,
            week TIMESTAMP NOT NULL,
            value_sum DOUBLE NOT NULL,
            n BIGINT NOT NULL,
            row_count BIGINT NOT NULL,
            PRIMARY KEY ({_WEEK_KEY})
        )
        """
    )
    # New rows add to their weeks. Removed or changed rows have their weeks counted again from the
    # rows that stay (exact sums, never a running total that drifts), and an emptied week goes.
    con.execute(
        f"""
        CREATE OR REPLACE FUNCTION {schema}.metric_weeks_follow() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO {weeks} AS w ({_WEEK_KEY}, value_sum, n, row_count)
                SELECT upload_id, pilot_id, metric, kind, environment, {week}, {sums}, count(value), count(*)
                FROM added
                GROUP BY upload_id, pilot_id, metric, kind, environment, {week}
                ON CONFLICT ({_WEEK_KEY}) DO UPDATE
                SET value_sum = w.value_sum + excluded.value_sum, n = w.n + excluded.n,
                    row_count = w.row_count + excluded.row_count;
            ELSIF TG_OP = 'TRUNCATE' THEN
                TRUNCATE {weeks};
            ELSE
                CREATE TEMP TABLE IF NOT EXISTS metric_weeks_touched (
                    upload_id BIGINT, pilot_id VARCHAR, metric VARCHAR, kind VARCHAR, environment VARCHAR,
                    week TIMESTAMP
                ) ON COMMIT DROP;
                INSERT INTO metric_weeks_touched
                SELECT DISTINCT upload_id, pilot_id, metric, kind, environment, {week} FROM removed;
                IF TG_OP = 'UPDATE' THEN
                    INSERT INTO metric_weeks_touched
                    SELECT DISTINCT upload_id, pilot_id, metric, kind, environment, {week} FROM added;
                END IF;
                DELETE FROM {weeks} w USING metric_weeks_touched t
                WHERE (w.upload_id, w.pilot_id, w.metric, w.kind, w.environment, w.week)
                    = (t.upload_id, t.pilot_id, t.metric, t.kind, t.environment, t.week);
                INSERT INTO {weeks} ({_WEEK_KEY}, value_sum, n, row_count)
                SELECT m.upload_id, m.pilot_id, m.metric, m.kind, m.environment, t.week,
                       coalesce(sum(m.value), 0), count(m.value), count(*)
                FROM (SELECT DISTINCT * FROM metric_weeks_touched) t JOIN {observations} m
                  ON m.pilot_id = t.pilot_id AND m.observed_at >= t.week AND m.observed_at < t.week + INTERVAL '7 days'
                 AND m.upload_id = t.upload_id AND m.metric = t.metric AND m.kind = t.kind
                 AND m.environment = t.environment
                GROUP BY m.upload_id, m.pilot_id, m.metric, m.kind, m.environment, t.week;
                DROP TABLE metric_weeks_touched;
            END IF;
            RETURN NULL;
        END
        $body$
        """
    )
    follow = f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.metric_weeks_follow()"
    for event, tables in (
        ("INSERT", "NEW TABLE AS added"),
        ("DELETE", "OLD TABLE AS removed"),
        ("UPDATE", "OLD TABLE AS removed NEW TABLE AS added"),
    ):
        name = f"metric_weeks_after_{event.lower()}"
        con.execute(f"DROP TRIGGER IF EXISTS {name} ON {observations}")
        con.execute(f"CREATE TRIGGER {name} AFTER {event} ON {observations} REFERENCING {tables} {follow}")
    con.execute(f"DROP TRIGGER IF EXISTS metric_weeks_after_truncate ON {observations}")
    con.execute(f"CREATE TRIGGER metric_weeks_after_truncate AFTER TRUNCATE ON {observations} {follow}")
    # The weeks of the rows already stored.
    con.execute(
        f"""
        INSERT INTO {weeks} ({_WEEK_KEY}, value_sum, n, row_count)
        SELECT upload_id, pilot_id, metric, kind, environment, {week}, {sums}, count(value), count(*)
        FROM {observations}
        GROUP BY upload_id, pilot_id, metric, kind, environment, {week}
        """
    )


def _ensure_migrations_table(con: Connection) -> None:
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            name VARCHAR PRIMARY KEY,
            applied_at TIMESTAMP NOT NULL
        )
        """
    )


def pending_migrations(con: Connection) -> list[Migration]:
    _ensure_migrations_table(con)
    applied = set(queries.applied_migrations(con))
    known = {migration_name(m) for m in MIGRATIONS}
    unknown = sorted(applied - known)
    if unknown:
        raise StoreVersionError(
            f"This store was last changed by a newer Pilot Health (it has migration {unknown[-1]}, "
            "which this version does not know); upgrade Pilot Health before opening it."
        )
    return [m for m in MIGRATIONS if migration_name(m) not in applied]


def migrate(con: Connection) -> list[str]:
    """Apply every pending migration, each in its own transaction. Returns the names applied."""
    done = []
    for function in pending_migrations(con):
        con.begin()
        try:
            function(con)
            con.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                [migration_name(function), datetime.now(UTC).replace(tzinfo=None)],
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
        done.append(migration_name(function))
    return done
