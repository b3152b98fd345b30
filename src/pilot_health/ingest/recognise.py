"""What a file holds and which column is which.

From the header (and, for surveys, the question texts) and a sample of rows, decide the kind of
data, its layout (long: one value per row; wide: one column per metric or one per date), which tool
made it when it is a known export, and a target for every column. The result is a `Mapping` the
upload page shows and lets the user change; the engine only ever reads a mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from pilot_health.formatting import plural
from pilot_health.ingest.periods import looks_like_period
from pilot_health.ingest.problems import Refused
from pilot_health.models import PILOT_FIELDS, Pilot

KINDS = ("pilot_register", "metrics", "survey", "usage")
KIND_LABELS = {
    "pilot_register": "Pilot register",
    "metrics": "Metric export (technical or business)",
    "survey": "Survey responses (ADKAR)",
    "usage": "Usage export (active users, sessions)",
}
ADKAR = ("awareness", "desire", "knowledge", "ability", "reinforcement")
METRIC_PREFIX = "metric:"  # a wide column holding the values of one metric
DATE_PREFIX = "date:"  # a wide column holding values observed on one date
IGNORE = ""
LAYOUTS = {
    "long": "one value per row",
    "wide_metric": "one column per metric",
    "wide_date": "one column per date",
    "survey": "one response per row",
    "register": "one pilot per row",
}

FIELD_LABELS = {
    "pilot_id": "Pilot code",
    "metric": "Metric name",
    "kind": "Metric kind (technical/business)",
    "environment": "Lab or live",
    "observed_at": "Date / time",
    "value": "Value",
    "respondent_id": "Respondent",
    "responded_at": "Response date",
    "wave": "Survey wave",
    "team": "Team",
    "role": "Role",
    "awareness": "Awareness score",
    "desire": "Desire score",
    "knowledge": "Knowledge score",
    "ability": "Ability score",
    "reinforcement": "Reinforcement score",
    "comment": "Comment",
    "_status": "Response status (previews left out)",
    "_finished": "Finished (unfinished left out)",
    "_progress": "Progress %",
    "_step": "Training step",
    "_run_status": "Run status (failed and running runs left out)",
}
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "metrics": ("pilot_id", "metric", "kind", "environment", "observed_at", "value", "_step", "_run_status"),
    "usage": ("pilot_id", "metric", "observed_at", "value"),
    "survey": (
        "pilot_id",
        "respondent_id",
        "responded_at",
        "wave",
        "team",
        "role",
        *ADKAR,
        "comment",
        "_status",
        "_finished",
        "_progress",
    ),
    "pilot_register": PILOT_FIELDS,
}


def norm(text: str) -> str:
    """Header text → a comparable key: lower case, words joined by underscores."""
    return re.sub(r"[^0-9a-z]+", "_", text.strip().lower()).strip("_")


SYNONYMS: dict[str, set[str]] = {
    "pilot_id": {
        "pilot_id",
        "pilot",
        "pilot_code",
        "code",
        "pilot_key",
        "project",
        "project_code",
        "project_id",
        "initiative",
        "use_case_id",
        "tags_pilot_id",
        "params_pilot_id",
    },
    "metric": {"metric", "metric_name", "measure", "kpi", "key", "indicator", "metric_key", "event", "series"},
    "kind": {"kind", "metric_kind", "metric_type", "type", "category"},
    "observed_at": {
        "observed_at",
        "date",
        "day",
        "week",
        "month",
        "time",
        "timestamp",
        "datetime",
        "date_time",
        "period",
        "ts",
        "created",
        "created_at",
        "end_time",
        "start_time",
        "recorded_at",
        "wall_time",
        "report_date",
        "week_start",
        "week_of",
        "date_range",
        "measured_at",
        "as_of",
        "snapshot_date",
    },
    "value": {"value", "val", "score", "amount", "result", "measurement", "metric_value", "reading"},
    "respondent_id": {
        "respondent_id",
        "responseid",
        "response_id",
        "respondent",
        "id",
        "participant",
        "participant_id",
        "user_id",
        "employee_id",
    },
    "responded_at": {
        "responded_at",
        "recordeddate",
        "recorded_date",
        "enddate",
        "end_date",
        "completion_time",
        "timestamp",
        "submitted",
        "submitted_at",
        "submission_date",
        "date",
        "response_date",
    },
    "wave": {"wave", "round", "survey_wave", "pulse", "survey_round"},
    "team": {"team", "department", "group", "unit", "business_unit", "which_team_are_you_in", "your_team", "team_name"},
    "role": {"role", "job_title", "position", "function", "job_role", "your_role"},
    "comment": {"comment", "comments", "feedback", "remarks", "any_other_comments", "other_comments", "anything_else"},
    "_status": {"status", "response_type", "distributionchannel_status"},
    "_finished": {"finished", "completed", "complete"},
    "_progress": {"progress"},
    "_step": {"step", "_step", "epoch", "iteration"},
}


def usage_metrics() -> dict[str, set[str]]:
    """Usage metrics (adoption kind in the metric dictionary) and the spellings exports use for them."""
    from pilot_health.rules.metric_dictionary import load_metric_dictionary

    return load_metric_dictionary().spellings_of("adoption")


# Numeric columns of run tables that are settings, not results (MLflow UI and W&B mix them).
HYPERPARAMETERS = re.compile(
    r"^(lr|learning_rate|max_depth|depth|batch_size|epochs?|n_estimators|num_(layers|epochs|leaves)|seed|random_state|"
    r"dropout|momentum|weight_decay|hidden_(size|units)|alpha|beta|gamma|lambda|c|kernel|min_child_weight|subsample|"
    r"colsample_bytree|warmup_steps|max_iter|n_neighbors|k|runtime|duration|_.*)$",
    re.IGNORECASE,
)
METRIC_WORDS = re.compile(
    r"acc|f1|auc|roc|rmse|mse|mae|mape|r2|precision|recall|loss|error|score|ndcg|bleu|rouge|iou|map\b|hit|"
    r"revenue|cost|margin|availability|inventory|churn|csat|nps|sales|conversion|rate|users|sessions|time|share|"
    r"retention|accuracy|forecast|savings|spend|volume|throughput|latency|uptime",
    re.IGNORECASE,
)
# Lab and live: the words are in config/environments.toml (environments.load_environment_words).
# A run's status: these are left out unless the person uploading keeps them (MLflow status, W&B State).
RUN_STATUSES = {
    "failed": ("failed", "crashed", "killed", "preempted"),
    "running": ("running", "scheduled", "pending", "preempting"),
}
# Columns of run tables that hold each run's name (MLflow search_runs, MLflow UI, W&B).
RUN_NAME_COLUMNS = ("tags_mlflow_runname", "name", "run_name", "display_name", "run")
KIND_VALUES = {
    "technical": {"technical", "tech", "model", "ml", "model_metric"},
    "business": {"business", "kpi", "outcome", "business_kpi", "biz"},
    "adoption": {"adoption", "usage"},
}
ADKAR_WORDING = (
    (
        "reinforcement",
        re.compile(
            r"reinforc|recogni[sz]|reward|sustain|keep (on )?using|continue (to use|using)|celebrat|follow[- ]?up|stick",
            re.I,
        ),
    ),
    (
        "desire",
        re.compile(
            r"\bwant\b|\bdesire|motivat|support (the|this) change|willing|eager|keen|look forward|in favou?r|\bwish|\blike to use",
            re.I,
        ),
    ),
    ("knowledge", re.compile(r"know how|knowledge|training|trained|learn|instruction|how (to|do i) use", re.I)),
    (
        "ability",
        re.compile(
            r"\bable\b|ability|confiden|skills?|capable|\bcan (use|apply)|in practice|hands[- ]on|day[- ]to[- ]day",
            re.I,
        ),
    ),
    ("awareness", re.compile(r"understand why|aware|reason|why (we|the|this)|purpose|explained|the need for", re.I)),
)
REGISTER_TITLES = {norm(info.title or name): name for name, info in Pilot.model_fields.items()}


@dataclass
class Mapping:
    """Which field each column feeds, and the defaults for what the file does not say."""

    kind: str
    layout: str
    targets: dict[str, str]  # column header -> field, METRIC_PREFIX+name, DATE_PREFIX+iso date, or IGNORE
    export: str | None = None
    defaults: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    questions: dict[str, str] = field(default_factory=dict)  # survey column -> question text

    def column_for(self, target: str) -> str | None:
        return next((c for c, t in self.targets.items() if t == target), None)

    @property
    def unmapped(self) -> list[str]:
        return [c for c, t in self.targets.items() if t == IGNORE]

    def with_targets(self, changes: dict[str, str]) -> Mapping:
        targets = dict(self.targets)
        targets.update({c: t for c, t in changes.items() if c in targets})
        layout = self.layout
        if self.kind in ("metrics", "usage"):
            if any(t.startswith(DATE_PREFIX) for t in targets.values()):
                layout = "wide_date"
            elif any(t.startswith(METRIC_PREFIX) for t in targets.values()):
                layout = "wide_metric"
            else:
                layout = "long"
        return Mapping(
            self.kind, layout, targets, self.export, dict(self.defaults), list(self.notes), dict(self.questions)
        )

    def describe(self, column: str) -> str:
        return describe_target(self.kind, self.targets.get(column, IGNORE))


def describe_target(kind: str, target: str) -> str:
    """A column's target in words, as the upload page and the receipt say it."""
    if target == IGNORE:
        return "not used"
    if target.startswith(METRIC_PREFIX):
        return f"values of metric “{target[len(METRIC_PREFIX) :]}”"
    if target.startswith(DATE_PREFIX):
        return f"values on {target[len(DATE_PREFIX) :]}"
    if target.startswith(SEGMENT_PREFIX):
        return f"kept in the metric name (“{target[len(SEGMENT_PREFIX) :]}: …”)"
    if kind == "pilot_register" and target in Pilot.model_fields:
        return Pilot.model_fields[target].title or target
    return FIELD_LABELS.get(target, target)


# -- looking at values ------------------------------------------------------------------------


def _column_values(sample: list[list[str]], index: int) -> list[str]:
    return [row[index].strip() for row in sample if index < len(row) and row[index].strip()]


_NUMBER = re.compile(
    r"^[-+(]?[$€£]?\s*'?[-+]?\d[\d.,\s]*(e[-+]?\d+)?\s*(%|[$€£¥]|eur|usd|gbp|chf)?\)?$", re.I
)  # 1.234,50 € too
_DATE = re.compile(
    r"^(\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{8}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2} [A-Za-z]{3,9}\.? \d{4})"
)
_LIKERT_TEXT = re.compile(r"agree|disagree|neutral|neither", re.I)


def looks_numeric(values: list[str]) -> bool:
    return bool(values) and sum(
        bool(_NUMBER.match(v)) or v.lower() in ("na", "n/a", "-", "nan") for v in values
    ) >= 0.8 * len(values)


def looks_date(values: list[str]) -> bool:
    if not values:
        return False
    if sum(bool(_DATE.match(v)) or looks_like_period(v) for v in values) >= 0.8 * len(
        values
    ):  # periods: Q1 2024, Jan-24
        return True
    digits = [v for v in values if re.fullmatch(r"\d{10}(\d{3})?", v)]
    return len(digits) >= 0.8 * len(values)


def looks_likert(values: list[str]) -> bool:
    if not values:
        return False
    ok = sum(bool(re.fullmatch(r"[1-9](\.0)?|[1-9]\s*[-.:)].*", v)) or bool(_LIKERT_TEXT.search(v)) for v in values)
    return ok >= 0.8 * len(values)


MONTHS = {
    name: index
    for index, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"([A-Za-z]{3,9})\.?"
_ISO_TIME = r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
SEGMENT_PREFIX = "segment:"  # a dimension column of a crosstab (one column per date): kept in the metric name
SEGMENT_JOIN = " · "  # "Revenue · Region: EMEA"
# Columns that name the measure of a crosstab row (Tableau's `Measure Names`, Amplitude's `Event` …).
MEASURE_HEADERS = {
    "measure_names",
    "measure_name",
    "measures",
    "metric_names",
    "metrics",
    "event_name",
    "events",
    "kpi_name",
    "kpis",
    "indicator_name",
    "indicators",
    "series_name",
    "values",
}
# A crosstab's total rows and columns: sums of what the file already holds, never observations.
TOTAL_WORDS = re.compile(
    r"^\s*(?:(?:grand\s+)?totals?|all|sum|overall|gesamtergebnis|summe|total\s+g[ée]n[ée]ral|total\s+general)\s*$", re.I
)
SUBTOTAL_WORDS = re.compile(r"^\s*\S.*\s(?:total|ergebnis)\s*$", re.I)  # an Excel pivot's "EMEA Total"
EVERYONE_SEGMENTS = {
    "all_users",
    "all_active_users",
    "everyone",
    "all_events",
}  # Amplitude's default segment: no segment


def _year(text: str) -> int | None:
    year = int(text) if len(text) == 4 else 2000 + int(text)
    return year if 1980 <= year <= 2100 else None


def header_date(text: str, order: str | None = None) -> date | datetime | None:
    """A header that is itself a date or a period (wide per-date layout): the period's first day.

    `2024-01-31`, `2024-01-07T00:00:00` (a time other than midnight is kept), `31/01/2024` or
    `01/31/2024` (`order` dmy or mdy; without it, day-first unless the day cannot be), `20240131`,
    `Jan 1, 2024`, `1 Jan 2024`; months `2024-01`, `2024M01`, `January 2024`, `Jan 2024`, `Jan-24`;
    ISO weeks `W01 2024`, `2024-W01`, `Week 1 2024` (the Monday); quarters `Q1 2024`, `2024 Q1`."""
    value = re.sub(r"\s+", " ", text.strip())
    y: int | None  # the year: a later layout's may be out of range
    try:
        match = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})" + _ISO_TIME, value)
        if match:
            y, m, d = (int(x) for x in match.groups()[:3])
            hh, mm, ss = (int(x or 0) for x in match.groups()[3:])
            if not 1980 <= y <= 2100:
                return None
            return datetime(y, m, d, hh, mm, ss) if (hh or mm or ss) else date(y, m, d)
        match = re.fullmatch(r"(\d{1,2})([/.])(\d{1,2})\2(\d{4})", value)
        if match:
            a, b, y = int(match.group(1)), int(match.group(3)), _year(match.group(4))
            if y is None:
                return None
            day_first = order == "dmy" or (order != "mdy" and (a > 12 or b <= 12)) or match.group(2) == "."
            return date(y, b, a) if day_first else date(y, a, b)
        match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", value)
        if match:
            y = _year(match.group(1))
            return date(y, int(match.group(2)), int(match.group(3))) if y else None
        match = re.fullmatch(rf"{_MONTH} (\d{{1,2}}),? (\d{{4}})|(\d{{1,2}}) {_MONTH},? (\d{{4}})", value)
        if match:
            name, day, year = (
                (match.group(1), match.group(2), match.group(3))
                if match.group(1)
                else (match.group(5), match.group(4), match.group(6))
            )
            y = _year(year)
            if name.lower() in MONTHS:
                return date(y, MONTHS[name.lower()], int(day)) if y else None
        # Months, quarters, fiscal periods and ISO weeks: the same reader as a date column's cells.
        from pilot_health.config import load_config
        from pilot_health.ingest.periods import period_date

        if re.fullmatch(r"[A-Za-z]+\.? \d{1,2}", value):  # `Mar 15` over a chart's column: a day without its year
            return None
        period = period_date(value, load_config().fiscal_year_start_month)
        if period is not None and _year(str(period.year)):
            return period
    except ValueError:  # a day or week that does not exist (2024-02-30, W54)
        return None
    return None


def header_dates(headers: list[str]) -> dict[str, date | datetime]:
    """The headers that are dates, with day-first or month-first decided over all of them (a day
    above 12 in one header settles it; if none does, day-first)."""
    order = None
    for header in headers:
        match = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/\d{4}\s*", header)
        if match and int(match.group(2)) > 12:
            order = "mdy"
        elif match and int(match.group(1)) > 12:
            order = "dmy"
            break
    dated = {h: header_date(h, order) for h in headers}
    return {h: d for h, d in dated.items() if d is not None}


def metric_name_from_file(file_name: str) -> str:
    """`weekly_active_users.csv` → "weekly active users": the name offered for a file that does not name its metric."""
    stem = re.sub(r"\.[A-Za-z0-9]{2,4}$", "", file_name.strip())
    stem = re.sub(r"\s*\(\d+\)$", "", stem)
    return re.sub(r"\s+", " ", re.sub(r"[_\-.]+", " ", stem)).strip().lower()[:200] or "metric"


def _names_metrics(values: list[str], kind: str) -> bool:
    """Do a column's values name metrics (accuracy, revenue, active users …) rather than regions or segments?"""
    from pilot_health.rules.metric_dictionary import load_metric_dictionary

    dictionary = load_metric_dictionary()
    distinct = list(dict.fromkeys(values))[:50]
    named = sum(bool(METRIC_WORDS.search(x) or _usage_name(x) or dictionary.lookup(x)) for x in distinct)
    return bool(distinct) and named >= 0.5 * len(distinct)


def _and_quoted(names: list[str]) -> str:
    quoted = [f"“{n.strip()}”" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _environment_column(headers: list[str], values: dict[str, list[str]], taken: set[str]) -> str | None:
    """The column of a run table that says lab or live: one named like it (`tags.env`, `params.stage`,
    `config.environment`) whose cells mostly are lab or live words, else any text column whose every
    sampled cell is one."""
    from pilot_health.ingest.environments import load_environment_words

    words = load_environment_words()

    def share(header: str) -> float:
        cells = values[header]
        return sum(words.of_cell(x) is not None for x in cells) / len(cells) if cells else 0.0

    named = next((h for h in headers if h not in taken and words.is_column_name(h) and share(h) >= 0.5), None)
    if named:
        return named
    return next(
        (
            h
            for h in headers
            if h not in taken and len(values[h]) >= 2 and not looks_numeric(values[h]) and share(h) == 1.0
        ),
        None,
    )


def _run_name_column(headers: list[str]) -> str | None:
    keys = [norm(h) for h in headers]
    return next((headers[keys.index(k)] for k in RUN_NAME_COLUMNS if k in keys), None)


def _names_say_environment(names: list[str]) -> bool:
    """Every run name (of the sample) says lab or live by one of its words (`churn-lab-01`, `xgb-live-w02`)."""
    from pilot_health.ingest.environments import load_environment_words

    words = load_environment_words()
    return bool(names) and all(words.of_name(name) for name in names)


def _run_environment(
    headers: list[str],
    values: dict[str, list[str]],
    taken: set[str],
    assign,
    defaults: dict[str, object],
    notes: list[str],
    what: str,
) -> None:
    """Lab or live of a run table: a column that says it, else the run names (a proposal the person
    uploading confirms), else lab (`what` names the runs in the note)."""
    column = _environment_column(headers, values, taken)
    if column:
        assign(column, "environment")
        notes.append(f"Lab or live is read from the column “{column.strip()}”, run by run.")
        return
    names = _run_name_column(headers)
    if names and _names_say_environment(values[names]):
        defaults["environment_from_names"] = names
        notes.append(
            f"The run names in “{names.strip()}” say lab or live (for example “{values[names][0]}”): each run is stored as its name says."
        )
        return
    defaults["environment"] = "lab"
    notes.append(
        f"{what} are lab results unless you say otherwise: the file has no column or run name saying lab or live."
    )


def _run_status(headers: list[str], assign) -> None:
    assign(next((h for h in headers if norm(h) in ("status", "state")), None), "_run_status")


# -- deciding -----------------------------------------------------------------------------------


def _by_synonym(headers: list[str], fieldname: str, taken: set[str]) -> str | None:
    if fieldname == "environment":  # the column names are configured with the words (config/environments.toml)
        from pilot_health.ingest.environments import load_environment_words

        words = load_environment_words()
        return next((h for h in headers if h not in taken and words.is_column_name(h)), None)
    for header in headers:
        if header not in taken and norm(header) in SYNONYMS[fieldname]:
            return header
    return None


def _usage_name(header: str, usage: dict[str, set[str]] | None = None) -> str | None:
    """The usage metric `header` names, if any (`usage`: usage_metrics(), when the caller has it:
    looking the dictionary up once per header and sample row cost 0.03 s on a 200-row sample)."""
    key = norm(header)
    for name, words in (usage if usage is not None else usage_metrics()).items():
        if key in words:
            return name
    return None


def detect_kind(headers: list[str], header_rows: list[list[str]], sample: list[list[str]]) -> str | None:
    keys = {norm(h) for h in headers}
    if _survey_export(headers, header_rows):
        return "survey"
    texts = _question_texts(headers, header_rows)
    worded = sum(
        1
        for h in headers
        if any(p.search(texts.get(h, h)) for _, p in ADKAR_WORDING)
        and looks_likert(_column_values(sample, headers.index(h)))
    )
    likert_columns = sum(
        1
        for i, h in enumerate(headers)
        if looks_likert(_column_values(sample, i)) and not looks_date(_column_values(sample, i))
    )
    if (
        worded >= 3
        or ADKAR[0] in keys
        and ADKAR[1] in keys
        or (likert_columns >= 5 and not any(norm(h) in SYNONYMS["observed_at"] - {"timestamp"} for h in headers))
    ):
        return "survey"
    register_hits = {REGISTER_TITLES.get(k) or (k if k in PILOT_FIELDS else None) for k in keys} - {None}
    if "pilot_id" in register_hits and len(register_hits) >= 4 and ({"name", "stage"} & register_hits):
        return "pilot_register"
    usage = usage_metrics()
    usage_columns = [h for h in headers if _usage_name(h, usage)]
    row_labels = [_usage_name(row[0], usage) for row in sample if row]
    has_metric_value = any(norm(h) in SYNONYMS["metric"] for h in headers) and any(
        norm(h) in SYNONYMS["value"] for h in headers
    )
    if (usage_columns and not has_metric_value) or (
        sample and sum(bool(x) for x in row_labels) >= max(1, len(row_labels) // 2)
    ):
        return "usage"
    return "metrics"


def _survey_export(headers: list[str], header_rows: list[list[str]]) -> str | None:
    keys = {norm(h) for h in headers}
    if {"responseid", "startdate"} <= keys or len(header_rows) == 3:
        return "Qualtrics survey export"
    if {"respondent_id", "collector_id"} <= keys:
        return "SurveyMonkey survey export"
    if {"id", "start_time", "completion_time"} <= keys:
        return "Microsoft Forms survey export"
    if headers and norm(headers[0]) == "timestamp" and len(headers) >= 4 and sum(len(h) > 25 for h in headers) >= 3:
        return "Google Forms survey export"
    return None


def _question_texts(headers: list[str], header_rows: list[list[str]]) -> dict[str, str]:
    if len(header_rows) == 3:  # Qualtrics: row 2 holds the question wording
        wording = header_rows[1] + [""] * len(headers)
        return {h: (wording[i].strip() or h) for i, h in enumerate(headers)}
    if len(header_rows) == 2:  # SurveyMonkey: row 2 holds each matrix statement (or `Response` under a question)
        first = header_rows[0] + [""] * len(headers)
        second = header_rows[1] + [""] * len(headers)
        texts, question = {}, ""
        for i, h in enumerate(headers):
            question = first[i].strip() or question
            sub = second[i].strip()
            if sub in ("Response", "Open-Ended Response") or not sub:
                texts[h] = first[i].strip() or h
            elif sub == "Other (please specify)":
                texts[h] = f"{question} - {sub}" if question else sub
            else:
                texts[h] = sub
        return texts
    return {h: h for h in headers}


def recognise(
    headers: list[str],
    header_rows: list[list[str]],
    sample: list[list[str]],
    kind: str | None,
    file_name: str,
) -> Mapping:
    kind = kind or detect_kind(headers, header_rows, sample)
    if kind == "survey":
        return _survey_mapping(headers, header_rows, sample)
    if kind == "pilot_register":
        return _register_mapping(headers)
    if kind in ("metrics", "usage"):
        return _metric_mapping(headers, sample, kind, file_name)
    raise Refused(f"Unknown kind of data {kind!r}; choose one of: {', '.join(KINDS)}.")


def _register_mapping(headers: list[str]) -> Mapping:
    targets = {}
    used: set[str] = set()
    for header in headers:
        key = norm(header)
        name = key if key in PILOT_FIELDS else REGISTER_TITLES.get(key)
        if name and name not in used:
            targets[header] = name
            used.add(name)
        else:
            targets[header] = IGNORE
    if "pilot_id" not in used:
        raise Refused(
            "This pilot register has no pilot_id column; the first row must hold the template's column names (download the template from the Pilot register page)."
        )
    return Mapping("pilot_register", "register", targets)


Assign = Callable[[str | None, str], None]  # a column to a target: the `assign` of a mapping being built


@dataclass(frozen=True)
class _Columns:
    """A metric file as recognition reads it; read once, never changed."""

    headers: list[str]
    keys: list[str]  # each header as norm() compares it
    values: dict[str, list[str]]  # each header's non-blank sampled cells
    sample: list[list[str]]
    kind: str
    file_name: str


def _metric_mapping(headers: list[str], sample: list[list[str]], kind: str, file_name: str) -> Mapping:
    """Known exports first, because their columns are certain; then the generic layouts, which guess."""
    columns = _Columns(
        headers,
        [norm(h) for h in headers],
        {h: _column_values(sample, i) for i, h in enumerate(headers)},
        sample,
        kind,
        file_name,
    )
    targets = {h: IGNORE for h in headers}
    taken: set[str] = set()

    def assign(header: str | None, target: str) -> None:
        """A field goes to one column only; per-metric and per-date targets to as many as hold them."""
        if header is None or (not target.startswith((METRIC_PREFIX, DATE_PREFIX)) and target in targets.values()):
            return
        targets[header] = target
        taken.add(header)

    keys = columns.keys
    if "run_id" in keys and any(k.startswith("metrics_") for k in keys):
        return _mlflow_runs_mapping(columns, targets, taken, assign)
    if {"key", "value", "timestamp"} <= set(keys):
        return _mlflow_history_mapping(columns, targets, assign)
    if {"run_id", "start_time", "duration"} <= set(keys) or {"name", "state", "created", "runtime"} <= set(keys):
        return _run_table_mapping(columns, targets, taken, assign)
    if _chart_export(headers):
        return _chart_mapping(headers, columns.values, kind, targets, assign)
    assign(_by_synonym(headers, "pilot_id", taken), "pilot_id")
    dated = header_dates([h for h in headers if h not in taken])
    if len(dated) >= 2:
        return _per_date_mapping(columns, dated, targets, taken, assign)
    return _long_or_per_metric_mapping(columns, targets, taken, assign)


# -- known exports --------------------------------------------------------------------------------


def _mlflow_runs_mapping(columns: _Columns, targets: dict[str, str], taken: set[str], assign: Assign) -> Mapping:
    """MLflow `search_runs`: one run per row, its results in `metrics.*` columns; params and tags are
    settings, so only the pilot and lab or live are read from them."""
    headers, values = columns.headers, columns.values
    for header in headers:
        if header.startswith("metrics."):
            assign(header, METRIC_PREFIX + header[len("metrics.") :])
    end = next((h for h in headers if norm(h) == "end_time"), None)
    if end and len(values[end]) < len(columns.sample):  # a run still running has no end time yet: its start dates it
        end = None
    assign(end or next((h for h in headers if norm(h) == "start_time"), None), "observed_at")
    assign(next((h for h in headers if norm(h) in ("tags_pilot_id", "params_pilot_id")), None), "pilot_id")
    _run_status(headers, assign)
    defaults: dict[str, object] = {}
    notes: list[str] = []
    _run_environment(headers, values, taken, assign, defaults, notes, "MLflow runs")
    notes.append("Params and tags are not stored (except the pilot and lab or live).")
    return Mapping(columns.kind, "wide_metric", targets, "MLflow runs (search_runs)", defaults, notes)


def _mlflow_history_mapping(columns: _Columns, targets: dict[str, str], assign: Assign) -> Mapping:
    """MLflow metric history: one value per row, logged by training runs, so lab results."""
    headers, keys = columns.headers, columns.keys
    assign(headers[keys.index("key")], "metric")
    assign(headers[keys.index("value")], "value")
    assign(headers[keys.index("timestamp")], "observed_at")
    assign(next((h for h in headers if norm(h) == "step"), None), "_step")
    return Mapping(columns.kind, "long", targets, "MLflow metric history", {"environment": "lab"}, [])


def _run_table_mapping(columns: _Columns, targets: dict[str, str], taken: set[str], assign: Assign) -> Mapping:
    """A run table downloaded from the MLflow UI or W&B: one run per row, results and settings side
    by side as numeric columns; the settings are told apart by name and left out."""
    headers, keys = columns.headers, columns.keys
    export = "MLflow run table (UI download)" if "run_id" in keys else "Weights & Biases runs table"
    assign(headers[keys.index("start_time")] if "start_time" in keys else headers[keys.index("created")], "observed_at")
    assign(_by_synonym(headers, "pilot_id", taken), "pilot_id")
    _run_status(headers, assign)
    defaults: dict[str, object] = {}
    notes: list[str] = []
    _run_environment(headers, columns.values, taken, assign, defaults, notes, "The runs")
    skipped = _assign_run_results(columns, taken, assign)
    if skipped:
        notes.append(_settings_note(skipped))
    return Mapping(columns.kind, "wide_metric", targets, export, defaults, notes)


def _assign_run_results(columns: _Columns, taken: set[str], assign: Assign) -> list[str]:
    """Each numeric column of a run table that is a result becomes a metric; the settings
    (hyperparameters, W&B's `_` columns) are returned, in order, for the note saying so."""
    skipped = []
    for header in columns.headers:
        if (
            header in taken
            or not looks_numeric(columns.values[header])
            or norm(header) in {"run_id", "runtime", "duration"}
        ):
            continue
        if HYPERPARAMETERS.match(norm(header)) or header.startswith("_"):
            skipped.append(header)
        else:
            assign(header, METRIC_PREFIX + header.strip())
    return skipped


def _settings_note(skipped: list[str]) -> str:
    """Which numeric columns were taken for settings, so a result left out by mistake can be mapped."""
    one = len(skipped) == 1
    return (
        f"{plural(len(skipped), 'numeric column')} {'looks' if one else 'look'} like settings, not results, and {'is' if one else 'are'} not stored: "
        f"{', '.join(skipped[:6])}{' …' if len(skipped) > 6 else ''}. Map them to a metric if they are results."
    )


# -- generic layouts ------------------------------------------------------------------------------


def _per_date_mapping(
    columns: _Columns, dated: dict[str, date | datetime], targets: dict[str, str], taken: set[str], assign: Assign
) -> Mapping:
    """One column per date (BI crosstabs, product-analytics charts): each row is a measure, maybe
    split by dimensions (Region, Segment …) that are kept in the metric name; totals are left out."""
    headers, kind = columns.headers, columns.kind
    for header, day in dated.items():
        assign(header, DATE_PREFIX + day.isoformat())
    totals = [h for h in headers if h not in taken and TOTAL_WORDS.match(h)]
    _assign_worded_columns(columns, taken, assign)
    measure, dims = _measure_and_dimensions(columns, [h for h in headers if h not in taken and h not in totals])
    assign(measure, "metric")
    for header in dims:
        assign(header, SEGMENT_PREFIX + header.strip())
    defaults: dict[str, object] = {}
    if measure is None:
        defaults["metric"] = metric_name_from_file(columns.file_name)
    export = _crosstab_export(columns.keys)
    notes: list[str] = []
    if totals:
        notes.append(
            f"{_and_quoted(totals)} {'holds totals' if len(totals) == 1 else 'hold totals'}, not observations: not stored."
        )
    if dims:
        notes.append(_segments_note(columns, measure, dims, defaults.get("metric")))
    if (
        kind == "metrics"
        and "environment" not in targets.values()
        and (dims or export or measure is None or norm(measure or "") in MEASURE_HEADERS | {"event", "kpi"})
    ):
        defaults["environment"] = "live"
        notes.append(
            "BI and product-analytics exports report what happened in the business, so these values are stored as live; choose lab if they are test results."
        )
    return Mapping(kind, "wide_date", targets, export, defaults, notes)


def _assign_worded_columns(columns: _Columns, taken: set[str], assign: Assign) -> None:
    """A crosstab's lab-or-live and kind columns are taken only when every sampled cell is one of
    their words; otherwise they are dimensions like any other."""
    from pilot_health.ingest.environments import load_environment_words

    for fieldname, words in (("environment", dict(load_environment_words().by_environment)), ("kind", KIND_VALUES)):
        column = _by_synonym(columns.headers, fieldname, taken)
        known = {w for ws in words.values() for w in ws} | set(words)
        if column and columns.values[column] and all(norm(x) in known for x in columns.values[column]):
            assign(column, fieldname)


def _measure_and_dimensions(columns: _Columns, rest: list[str]) -> tuple[str | None, list[str]]:
    """The column naming each row's measure (by its header, else the first text column whose cells
    name metrics) and the text columns splitting it (Region, Segment …)."""
    values = columns.values
    measure = next((h for h in rest if norm(h) in SYNONYMS["metric"] | MEASURE_HEADERS), None)
    dims = [h for h in rest if h != measure and values[h] and not looks_numeric(values[h])]
    if measure is None and dims and _names_metrics(values[dims[0]], columns.kind):
        measure = dims.pop(0)
    return measure, dims


def _crosstab_export(keys: list[str]) -> str | None:
    """The tool that made a crosstab, when its headers say it."""
    if {"measure_names"} & set(keys):
        return "Tableau crosstab"
    if {"segment", "event"} <= set(keys):
        return "Amplitude chart export"
    return None


def _segments_note(columns: _Columns, measure: str | None, dims: list[str], default_metric: object) -> str:
    """How dimensions end up in the metric name, shown on a real row of the file (the first one that
    fills every dimension) so the person uploading sees the names they will get."""
    headers = columns.headers
    first = next((row for row in columns.sample if all(columns.values[h] for h in dims)), None)
    example = SEGMENT_JOIN.join(
        [
            (_column_values([first], headers.index(measure)) or ["Revenue"])[0]
            if measure and first
            else str(default_metric or "Revenue")
        ]
        + [f"{h.strip()}: {(_column_values([first], headers.index(h)) or ['…'])[0] if first else '…'}" for h in dims]
    )
    return (
        f"Each row's {_and_quoted(dims)} {'is' if len(dims) == 1 else 'are'} kept in the metric name, e.g. “{example}”."
    )


def _long_or_per_metric_mapping(columns: _Columns, targets: dict[str, str], taken: set[str], assign: Assign) -> Mapping:
    """Metric and value columns make a long file (one value per row); without them, every numeric
    column holds one metric (training steps excepted)."""
    headers, values, kind = columns.headers, columns.values, columns.kind
    metric_column = _by_synonym(headers, "metric", taken)
    value_column = _by_synonym(headers, "value", taken)
    time_column = _by_synonym(headers, "observed_at", taken) or next(
        (h for h in headers if h not in taken and looks_date(values[h])), None
    )
    if metric_column and value_column:
        assign(metric_column, "metric")
        assign(value_column, "value")
        _assign_time_environment_kind(columns, time_column, taken, assign)
        return Mapping(kind, "long", targets, None, {}, [])
    _assign_time_environment_kind(columns, time_column, taken, assign)
    for header in headers:
        if header not in taken and looks_numeric(values[header]) and norm(header) not in SYNONYMS["_step"]:
            assign(header, METRIC_PREFIX + _metric_name(header, kind))
    if not any(t.startswith(METRIC_PREFIX) for t in targets.values()):
        raise Refused(
            f"{columns.file_name} has no column of numbers to store as metric values; a metric export needs either "
            "metric and value columns, or one column per metric, or one column per date."
        )
    return Mapping(kind, "wide_metric", targets, None, {}, [])


def _assign_time_environment_kind(columns: _Columns, time_column: str | None, taken: set[str], assign: Assign) -> None:
    """The date, lab-or-live and kind columns of a long or per-metric file, in that order (each
    later one looks only at the columns still free)."""
    headers = columns.headers
    assign(time_column, "observed_at")
    assign(
        _environment_column(headers, columns.values, taken) or _by_synonym(headers, "environment", taken), "environment"
    )
    assign(_by_synonym(headers, "kind", taken), "kind")


def _metric_name(header: str, kind: str) -> str:
    """A per-metric column's metric: for usage files, the dictionary's name for what the header spells."""
    if kind == "usage":
        return _usage_name(header) or header.strip()
    return header.strip()


CHART_STEPS = ("step", "relative_time_process", "relative_time_wall", "relative_time", "epoch")
CHART_TIMES = ("wall_time", "_timestamp", "timestamp", "time", "date")
_CHART_COMPANION = re.compile(r"__(MIN|MAX)$")


def _chart_export(headers: list[str]) -> bool:
    """A W&B chart export: an x-axis column first, then `<run> - <metric>` columns (with __MIN/__MAX)."""
    return (
        len(headers) >= 2
        and " - " not in headers[0]
        and (norm(headers[0]) in CHART_STEPS + CHART_TIMES or headers[0].strip() == "_timestamp")
        and all(" - " in h for h in headers[1:] if h.strip())
    )


def _chart_mapping(
    headers: list[str], values: dict[str, list[str]], kind: str, targets: dict[str, str], assign
) -> Mapping:
    """One metric column per run and metric; each run's environment from its name when every run's
    name says it; the metric without the run when the runs differ only by lab or live."""
    from pilot_health.ingest.environments import load_environment_words

    words = load_environment_words()
    axis = headers[0]
    notes: list[str] = []
    defaults: dict[str, object] = {}
    is_time = (
        norm(axis) in CHART_TIMES
        or axis.strip() == "_timestamp"
        or (norm(axis) not in CHART_STEPS and looks_date(values[axis]))
    )
    assign(axis, "observed_at" if is_time else "_step")
    series = [
        (h, *(part.strip() for part in h.split(" - ", 1)))
        for h in headers[1:]
        if " - " in h and not _CHART_COMPANION.search(h.strip())
    ]
    runs = list(dict.fromkeys(run for _, run, _ in series))
    by_name = {run: words.of_name(run) for run in runs}
    split = all(by_name.values())
    per_environment = [by_name[r] for r in runs]
    bare = len(runs) == 1 or (split and len(set(per_environment)) == len(per_environment))
    columns: dict[str, dict[str, object]] = {}
    for header, run, metric in series:
        companion = {
            side: next((h for h in headers if h.strip() == f"{header.strip()}__{side.upper()}"), None)
            for side in ("min", "max")
        }
        columns[header] = {"run": run, "environment": by_name[run], "bare": bare and len(runs) > 1, **companion}
        assign(header, METRIC_PREFIX + (metric if bare else f"{metric} ({run})"))
    defaults["chart_columns"] = columns
    if split:
        defaults["environment_from_names"] = "run names"
        said = ", ".join(f"{run} → {by_name[run]}" for run in runs[:4]) + (" …" if len(runs) > 4 else "")
        notes.append(f"The run names say lab or live ({said}): each run is stored as its name says.")
    else:
        defaults["environment"] = "lab"
        notes.append("The run names do not say lab or live: the values are lab results unless you say otherwise.")
    if not is_time:
        notes.append(
            "A chart export has training steps, not dates: each run's last value is stored, dated as chosen below (today by default)."
        )
    return Mapping(kind, "wide_metric", targets, "Weights & Biases chart export", defaults, notes)


def _survey_mapping(headers: list[str], header_rows: list[list[str]], sample: list[list[str]]) -> Mapping:
    """Columns named like a field first, then the ones found by their question's wording; what is
    left unsure (the order taken for ADKAR, a score with no question) is said in a note."""
    export = _survey_export(headers, header_rows)
    questions = _question_texts(headers, header_rows)
    values = {h: _column_values(sample, i) for i, h in enumerate(headers)}
    targets = {h: IGNORE for h in headers}
    taken: set[str] = set()
    notes: list[str] = []

    def assign(header: str | None, target: str) -> None:
        """Each column feeds one field and each field one column: the first found keeps it."""
        if header is not None and header not in taken and target not in targets.values():
            targets[header] = target
            taken.add(header)

    _assign_named_survey_fields(headers, export, taken, assign)
    defaults: dict[str, object] = {}
    if zone := _response_time_zone(headers, header_rows, targets):
        defaults["responded_at_zone"] = zone
        notes.append(f"Response times are in {zone} time, as the export says; they are stored in UTC.")
    if "respondent_id" not in targets.values() and (email := _email_column(headers, values, taken)):
        assign(email, "respondent_id")
        defaults["pseudonymise_respondent"] = True
        notes.append(
            f"Respondents are identified by “{email}”; the addresses are replaced by pseudonyms and never stored."
        )
    assign(_team_column(headers, questions, taken), "team")
    likert_columns = [h for h in headers if h not in taken and looks_likert(values[h])]
    found, in_order = _adkar_columns(likert_columns, questions, targets)
    if in_order:
        notes.append(
            "The ADKAR questions were not recognised by their wording, so the first five 1–5 questions were taken "
            "in order as Awareness, Desire, Knowledge, Ability, Reinforcement. Check the mapping below."
        )
    for header, element in found.items():
        assign(header, element)
    missing = [e for e in ADKAR if e not in targets.values()]
    if missing:
        notes.append(
            f"No question was found for {', '.join(m.capitalize() for m in missing)}; those scores stay blank unless you map a column."
        )
    assign(_comment_column(headers, questions, taken), "comment")
    return Mapping("survey", "survey", targets, export, defaults, notes, questions)


def _assign_named_survey_fields(headers: list[str], export: str | None, taken: set[str], assign: Assign) -> None:
    """The columns whose header names their field: ADKAR elements spelled out, the usual
    identifiers, and the response date each survey tool writes (its own column before any synonym)."""
    for element in ADKAR:  # columns literally named after the elements
        assign(next((h for h in headers if norm(h) == element), None), element)
    for fieldname in ("pilot_id", "respondent_id", "wave", "_status", "_finished", "_progress", "role"):
        assign(_by_synonym(headers, fieldname, taken), fieldname)
    if export == "Qualtrics survey export":
        assign(
            next((h for h in headers if norm(h) == "recordeddate"), None)
            or next((h for h in headers if norm(h) == "enddate"), None),
            "responded_at",
        )
    elif export == "SurveyMonkey survey export":
        assign(next((h for h in headers if norm(h) == "end_date"), None), "responded_at")
    assign(_by_synonym(headers, "responded_at", taken), "responded_at")


def _response_time_zone(headers: list[str], header_rows: list[list[str]], targets: dict[str, str]) -> str | None:
    """The time zone a Qualtrics export gives its response dates in (third header row, `timeZone`),
    so they can be stored in UTC."""
    if len(header_rows) == 3 and (responded_at := targets_for(targets, "responded_at")):
        zone = re.search(
            r'"timeZone"\s*:\s*"([A-Za-z_]+(?:/[A-Za-z_+\-0-9]+)*)"',
            header_rows[2][headers.index(responded_at)],
        )
        if zone:
            return zone.group(1)
    return None


def _email_column(headers: list[str], values: dict[str, list[str]], taken: set[str]) -> str | None:
    """A free column of email addresses (at least half the sampled cells hold an @): the respondent,
    when no other column says who answered; the addresses are pseudonymised, never stored."""
    return next(
        (
            h
            for h in headers
            if h not in taken
            and norm(h) in ("email", "email_address", "e_mail")
            and sum("@" in x for x in values[h]) >= max(1, len(values[h]) // 2)
        ),
        None,
    )


def _team_column(headers: list[str], questions: dict[str, str], taken: set[str]) -> str | None:
    """The team: a column named like it or asking for it, else Microsoft Forms' `custom_data_1`."""
    team = next(
        (
            h
            for h in headers
            if h not in taken
            and (norm(h) in SYNONYMS["team"] or re.search(r"\b(team|department)\b", questions[h], re.I))
        ),
        None,
    )
    if team is None:
        team = next((h for h in headers if h not in taken and norm(h) == "custom_data_1"), None)
    return team


def _adkar_columns(
    likert_columns: list[str], questions: dict[str, str], targets: dict[str, str]
) -> tuple[dict[str, str], bool]:
    """The 1–5 questions that score ADKAR elements, by their wording; when no wording says any and
    no column is named after one, the first five are taken in order (True: a note must say so)."""
    found: dict[str, str] = {}
    for header in likert_columns:
        for element, pattern in ADKAR_WORDING:
            if pattern.search(questions[header]) and element not in found.values() and element not in targets.values():
                found[header] = element
                break
    missing = [e for e in ADKAR if e not in found.values() and e not in targets.values()]
    if missing and len(likert_columns) >= len(ADKAR) and not found and not any(t in ADKAR for t in targets.values()):
        return dict(zip(likert_columns[: len(ADKAR)], ADKAR)), True
    return found, False


def _comment_column(headers: list[str], questions: dict[str, str], taken: set[str]) -> str | None:
    """The free-text comment: the last column named or worded like one (open questions come last)."""
    return next(
        (
            h
            for h in reversed(headers)
            if h not in taken
            and (
                norm(h) in SYNONYMS["comment"]
                or re.search(
                    r"comment|feedback|anything else|what else|suggest|remarks|tell us|open[- ]ended",
                    questions[h],
                    re.I,
                )
            )
        ),
        None,
    )


def targets_for(targets: dict[str, str], target: str) -> str | None:
    return next((c for c, t in targets.items() if t == target), None)


def target_choices(mapping: Mapping, column: str) -> list[str]:
    """Targets the upload page offers for one column."""
    fields = [
        f
        for f in KIND_FIELDS[mapping.kind]
        if not f.startswith("_") or mapping.targets.get(column) == f or mapping.kind == "survey"
    ]
    choices = [IGNORE, *fields]
    current = mapping.targets.get(column, IGNORE)
    if mapping.kind in ("metrics", "usage"):
        wide = METRIC_PREFIX + (usage if mapping.kind == "usage" and (usage := _usage_name(column)) else column.strip())
        choices.append(wide)
        day = header_date(column)
        if day:
            choices.append(DATE_PREFIX + day.isoformat())
        if mapping.layout == "wide_date":
            choices.append(SEGMENT_PREFIX + column.strip())
    if current not in choices:
        choices.append(current)
    return choices
