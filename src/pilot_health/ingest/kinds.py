"""Each metric's kind (technical, business KPI): decided once per (pilot, metric) of the file from what
the uploader answered, the pilot's KPI, the metric dictionary, or a guess; and a file of business KPIs
that does not say lab or live is live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pilot_health.ingest import values as v
from pilot_health.ingest.run import TARGET_TABLE, Run
from pilot_health.ingest.stored_facts import StoredFacts
from pilot_health.rules.metric_dictionary import (
    MetricAnswer,
    MetricDictionary,
    MetricInfo,
    ValueSummary,
    dictionary_with_answers,
    guess,
    metric_key,
)
from pilot_health.store import queries

# The most (pilot, metric) pairs whose kind the fast path writes as it stores the rows (the rest are
# technical until decide_metric_kinds sets them): each is one more comparison on every row.
FORESEEN_KINDS = 24


@dataclass(frozen=True)
class KindSources:
    """What a metric's kind is decided from: the dictionary with the store's answers, this upload's
    answers (by canonical name) and each pilot's KPI (by metric key). Read once per parse."""

    dictionary: MetricDictionary
    answers: dict[str, MetricAnswer]
    kpis: dict[str, str]

    @classmethod
    def read(cls, run: Run) -> KindSources:
        dictionary = dictionary_with_answers(run.con)
        answers = {dictionary.canonical(name): answer for name, answer in run.options.metric_answers.items()}
        kpis = {pilot: metric_key(name) for pilot, name in queries.kpi_names(run.con).items()}
        return cls(dictionary, answers, kpis)

    def kind_of(
        self, pilot_id: str | None, metric: str, summaries: dict[str, ValueSummary]
    ) -> tuple[str, MetricInfo, bool]:
        """The kind of `metric`'s rows for `pilot_id`: an answer given with this upload, then the
        pilot's KPI (business), then the dictionary, then a guess. Returns (kind, what is known of the
        metric, whether it is the pilot's KPI)."""
        key = self.dictionary.canonical(metric)
        is_kpi = pilot_id is not None and self.kpis.get(pilot_id) == metric_key(metric)
        info = self.dictionary.lookup(metric) or guess(metric, summaries.get(metric))
        if key in self.answers:
            answer = self.answers[key]
            return (
                answer.kind,
                MetricInfo(
                    key, answer.label or info.label, answer.kind, answer.direction, answer.unit, "answered", info.why
                ),
                is_kpi,
            )
        return ("business" if is_kpi else info.kind), info, is_kpi


@dataclass(frozen=True)
class Foreseen:
    """The kinds the fast path wrote as it stored the rows (pairs not technical), and the SQL that
    wrote them with its parameters."""

    kinds: dict[tuple[str | None, str], str] = field(default_factory=dict)
    sql: str = "'technical'"
    params: list[Any] = field(default_factory=list)


def foresee_kinds(run: Run, sources: KindSources, pilot_sql: str, metric_sql: str) -> Foreseen:
    """For the fast path that stores rows as it reads them: the SQL of each row's kind as the
    sample foretells it (the (pilot, metric) pairs of the first rows, their values summarised as
    value_summaries does), so that the kinds need no UPDATE of a million stored rows afterwards.
    Pairs the sample does not show are foreseen technical. decide_metric_kinds decides on every
    row as before and updates only the pairs foreseen otherwise."""
    pairs, numbers = _sample_pairs(run)
    summaries = {
        m: ValueSummary(min(xs), max(xs), all(x == round(x) for x in xs), None)
        for m, xs in numbers.items()
        if sources.dictionary.lookup(m) is None
    }
    kinds: dict[tuple[str | None, str], str] = {}
    for pilot, metric in pairs:
        kind = sources.kind_of(pilot, metric, summaries)[0]
        if kind != "technical" and len(kinds) < FORESEEN_KINDS:  # each is a test on every row
            kinds[(pilot, metric)] = kind
    if not kinds:
        return Foreseen()
    cases = " ".join(f"WHEN {pilot_sql} IS NOT DISTINCT FROM ? AND {metric_sql} = ? THEN ?" for _ in kinds)
    params = [x for (pilot, metric), kind in kinds.items() for x in (pilot, metric, kind)]
    return Foreseen(kinds, f"(CASE {cases} ELSE 'technical' END)", params)


def _sample_pairs(run: Run) -> tuple[dict[tuple[str | None, str], None], dict[str, list[float]]]:
    """The (pilot, metric) pairs of the sample's rows in order, and each metric's plain numbers."""
    pilot_column, metric_column = run.mapping.column_for("pilot_id"), run.mapping.column_for("metric")
    value_index = run.column_index("value")
    blank = {x.lower() for x in v.NULL_SPELLINGS}
    pairs: dict[tuple[str | None, str], None] = {}
    numbers: dict[str, list[float]] = {}
    for row in run.text.sample:
        cells = [
            row[run.index[c]] if c is not None and run.index[c] < len(row) else None
            for c in (pilot_column, metric_column)
        ]
        pilot = cells[0] if pilot_column is not None else (run.options.pilot_id or "").upper() or None
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
    return pairs, numbers


def decide_metric_kinds(
    run: Run,
    sources: KindSources,
    infer: bool,
    fast: bool,
    facts: StoredFacts | None = None,
    foreseen: Foreseen | None = None,
) -> None:
    """Each distinct (pilot, metric) of the file is looked up once: an answer given with this
    upload, then the pilot's KPI name (business), then the metric dictionary (answers stored
    earlier, then the built-in entries), then a guess from the name, its unit and its values
    (metric_dictionary.guess). With `infer` the kind of the rows follows (a file without a kind
    column); either way metrics nobody has described are listed in `new_metrics`, with the guess
    and its reason, for the person uploading to confirm. A file whose every row is a business KPI
    (or usage) and that does not say lab or live is stored as live: a KPI is measured in the
    business, not in a test, so nobody is asked. `facts`: the rows the fast path stored already,
    grouped (see stored_facts), with `foreseen` the kinds it wrote; None: rows in ingest_parsed."""
    dictionary = sources.dictionary
    if facts is not None:  # the stored rows, grouped once
        pairs: list[Any] = facts.pairs
        unknown = sorted({metric for _, metric in pairs if dictionary.lookup(metric) is None})
        summaries = facts.summaries(unknown)
    else:
        pairs = run.con.execute(
            "SELECT DISTINCT pilot_id, metric FROM ingest_parsed WHERE metric IS NOT NULL"
        ).fetchall()
        unknown = sorted({metric for _, metric in pairs if dictionary.lookup(metric) is None})
        summaries = value_summaries(run, unknown, fast) if unknown else {}
    decided: list[tuple[str | None, str, str]] = []
    new: dict[str, MetricInfo] = {}
    for pilot_id, metric in pairs:
        kind, info, is_kpi = sources.kind_of(pilot_id, metric, summaries)
        if not is_kpi and dictionary.lookup(metric) is None:  # nobody has described it: ask (and show the answer given)
            new.setdefault(info.key, info)
        decided.append((pilot_id, metric, kind))
    run.result.new_metrics = sorted(new.values(), key=lambda m: m.key)
    _say_guessed(run)
    if infer:
        _set_kinds(run, decided, facts, foreseen)
    business_rows_are_live(run, stored=facts is not None)


def _say_guessed(run: Run) -> None:
    """New metrics whose kind is a guess are named, for the uploader to confirm before storing."""
    guessed = [m for m in run.result.new_metrics if m.source == "guessed"]
    if guessed:
        names = ", ".join(f"{m.label} ({m.kind}, {m.direction_words})" for m in guessed[:5])
        more = f" and {len(guessed) - 5} more" if len(guessed) > 5 else ""
        run.result.warnings.append(
            f"New metric names, read by a guess from their names, units and values: {names}{more}. "
            "Confirm or correct them in the table of new metrics before storing."
        )


def _set_kinds(
    run: Run, decided: list[tuple[str | None, str, str]], facts: StoredFacts | None, foreseen: Foreseen | None
) -> None:
    """The rows take the kinds decided (a file without a kind column), and the business KPIs are named."""
    stored = facts is not None
    # Rows the fast path stored already have the kinds it foresaw from the sample (see
    # foresee_kinds): only pairs foreseen otherwise are updated, and most often none is.
    foreseen_kinds = foreseen.kinds if foreseen is not None else {}
    changing = [d for d in decided if foreseen_kinds.get(d[:2], "technical") != d[2]] if stored else decided
    if changing:
        # A temporary table from three lists (not a pandas frame: a plain file's ingest imports no pandas).
        run.exec(
            "CREATE OR REPLACE TEMP TABLE ingest_kinds AS SELECT unnest(?::VARCHAR[]) AS pilot_id, "
            "unnest(?::VARCHAR[]) AS metric, unnest(?::VARCHAR[]) AS kind",
            [[d[0] for d in changing], [d[1] for d in changing], [d[2] for d in changing]],
        )
        # Only rows whose kind changes are updated (most rows are technical, the default); rows the
        # fast path stored already are updated where they are (ingest_parsed is then a view of them).
        target = TARGET_TABLE[str(run.result.kind)] if stored else "ingest_parsed"
        this_upload = f" AND {target}.upload_id = {int(run.route.store_as or 0)}" if stored else ""
        run.exec(
            f"""
            UPDATE {target} SET kind = m.kind FROM ingest_kinds m
            WHERE {target}.pilot_id IS NOT DISTINCT FROM m.pilot_id AND {target}.metric = m.metric
              AND {target}.kind IS DISTINCT FROM m.kind{this_upload}
            """
        )
        run.exec("DROP TABLE ingest_kinds")
    business = sorted({metric for _, metric, kind in decided if kind == "business"})
    if business:
        names = ", ".join(business[:5])
        run.result.warnings.append(
            f"Read as business KPIs (the rest as technical metrics): {names}{' …' if len(business) > 5 else ''}. "
            "Set the kind if that is wrong."
        )


def value_summaries(run: Run, metrics: list[str], fast: bool) -> dict[str, ValueSummary]:
    """For the guess: each new metric's lowest and highest value, whether all are whole numbers,
    and a currency written in its cells (looked for in the first 100,000 values)."""
    rows = run.con.execute(
        """
        SELECT metric, min(value), max(value), bool_and(value = round(value))
        FROM ingest_parsed WHERE list_contains(?::VARCHAR[], metric) AND value IS NOT NULL GROUP BY metric
        """,
        [metrics],
    ).fetchall()
    currencies: dict[str, str] = {}
    if not fast:  # the fast path's values are plain numbers
        wanted = {metric_key(m): m for m in metrics}
        found = run.con.execute(
            r"""
            SELECT metric_raw, min(regexp_extract(value_raw, '([€$£¥]|\b(EUR|USD|GBP|CHF|JPY)\b)', 1))
            FROM (SELECT metric_raw, value_raw FROM ingest_rows LIMIT 100000)
            WHERE regexp_matches(value_raw, '[€$£¥]|\b(EUR|USD|GBP|CHF|JPY)\b') GROUP BY metric_raw
            """
        ).fetchall()
        for raw, sign in found:
            if metric_key(raw) in wanted and sign:
                currencies[wanted[metric_key(raw)]] = sign
    return {metric: ValueSummary(low, high, bool(whole), currencies.get(metric)) for metric, low, high, whole in rows}


def business_rows_are_live(run: Run, stored: bool) -> None:
    """A file that does not say lab or live and holds only business KPIs (and usage) is live.
    `stored`: the fast path stored the rows as it parsed them (each says lab or live)."""
    if run.mapping.column_for("environment") is None and (
        run.options.environment in ("lab", "live") or run.mapping.defaults.get("environment") in ("lab", "live")
    ):
        return  # said for the whole file
    if stored:
        return  # rows stored as parsed all say it (a row without was refused by the table: the careful path reads it)
    others, rows, unsaid = run.one(
        """SELECT count(*) FILTER (WHERE metric IS NOT NULL AND kind NOT IN ('business', 'adoption')),
                  count(*) FILTER (WHERE metric IS NOT NULL), count(*) FILTER (WHERE environment IS NULL)
           FROM ingest_parsed"""
    )
    if others or not rows or not unsaid:
        return
    typed = run.value(
        "SELECT data_type FROM duckdb_columns() WHERE table_name = 'ingest_parsed' AND column_name = 'environment'"
    )
    if typed != "VARCHAR":  # a column of NULLs has no type yet
        run.exec("ALTER TABLE ingest_parsed ALTER COLUMN environment SET DATA TYPE VARCHAR")
    run.exec(
        """
        UPDATE ingest_parsed SET environment = 'live',
               problem = CASE WHEN problem LIKE 'lab or live is not given%' THEN NULL ELSE problem END
        WHERE environment IS NULL
        """
    )
    if "environment" in run.result.needs:
        run.result.needs.remove("environment")
    run.result.warnings.append(
        "Taken as live: every metric of the file is a business KPI, measured in the business rather than in a test."
    )
