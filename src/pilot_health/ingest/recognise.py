"""What a file holds and which column is which.

From the header (and, for surveys, the question texts) and a sample of rows, decide the kind of
data, its layout (long: one value per row; wide: one column per metric or one per date), which tool
made it when it is a known export, and a target for every column. The result is a `Mapping` the
upload page shows and lets the user change; the engine only ever reads a mapping.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Optional

from ..models import PILOT_FIELDS, Pilot
from .periods import looks_like_period
from .problems import Refused

KINDS = ("pilot_register", "metrics", "survey", "usage")
KIND_LABELS = {
    "pilot_register": "Pilot register", "metrics": "Metric export (technical or business)",
    "survey": "Survey responses (ADKAR)", "usage": "Usage export (active users, sessions)",
}
ADKAR = ("awareness", "desire", "knowledge", "ability", "reinforcement")
METRIC_PREFIX = "metric:"  # a wide column holding the values of one metric
DATE_PREFIX = "date:"  # a wide column holding values observed on one date
IGNORE = ""
LAYOUTS = {
    "long": "one value per row", "wide_metric": "one column per metric", "wide_date": "one column per date",
    "survey": "one response per row", "register": "one pilot per row",
}

FIELD_LABELS = {
    "pilot_id": "Pilot code", "metric": "Metric name", "kind": "Metric kind (technical/business)",
    "environment": "Lab or live", "observed_at": "Date / time", "value": "Value",
    "respondent_id": "Respondent", "responded_at": "Response date", "wave": "Survey wave", "team": "Team",
    "role": "Role", "awareness": "Awareness score", "desire": "Desire score", "knowledge": "Knowledge score",
    "ability": "Ability score", "reinforcement": "Reinforcement score", "comment": "Comment",
    "_status": "Response status (previews left out)", "_finished": "Finished (unfinished left out)",
    "_progress": "Progress %", "_step": "Training step",
}
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "metrics": ("pilot_id", "metric", "kind", "environment", "observed_at", "value", "_step"),
    "usage": ("pilot_id", "metric", "observed_at", "value"),
    "survey": ("pilot_id", "respondent_id", "responded_at", "wave", "team", "role", *ADKAR, "comment", "_status", "_finished", "_progress"),
    "pilot_register": PILOT_FIELDS,
}


def norm(text: str) -> str:
    """Header text → a comparable key: lower case, words joined by underscores."""
    return re.sub(r"[^0-9a-z]+", "_", text.strip().lower()).strip("_")


SYNONYMS: dict[str, set[str]] = {
    "pilot_id": {"pilot_id", "pilot", "pilot_code", "code", "pilot_key", "project", "project_code", "project_id", "initiative", "use_case_id", "tags_pilot_id", "params_pilot_id"},
    "metric": {"metric", "metric_name", "measure", "kpi", "key", "indicator", "metric_key", "event", "series"},
    "kind": {"kind", "metric_kind", "metric_type", "type", "category"},
    "environment": {"environment", "env", "dataset", "split", "data_split", "context", "mode", "data_source", "deployment", "setting"},
    "observed_at": {
        "observed_at", "date", "day", "week", "month", "time", "timestamp", "datetime", "date_time", "period", "ts",
        "created", "created_at", "end_time", "start_time", "recorded_at", "wall_time", "report_date", "week_start",
        "week_of", "date_range", "measured_at", "as_of", "snapshot_date",
    },
    "value": {"value", "val", "score", "amount", "result", "measurement", "metric_value", "reading"},
    "respondent_id": {"respondent_id", "responseid", "response_id", "respondent", "id", "participant", "participant_id", "user_id", "employee_id"},
    "responded_at": {"responded_at", "recordeddate", "recorded_date", "enddate", "end_date", "completion_time", "timestamp", "submitted", "submitted_at", "submission_date", "date", "response_date"},
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
    from ..metric_dictionary import load_metric_dictionary

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
ENVIRONMENT_VALUES = {
    "lab": {"lab", "test", "testing", "validation", "val", "valid", "offline", "eval", "evaluation", "dev", "development",
            "train", "training", "backtest", "holdout", "sandbox", "experiment", "poc", "staging"},
    "live": {"live", "prod", "production", "online", "shadow", "field", "real", "deployed", "pilot", "real_world"},
}
KIND_VALUES = {
    "technical": {"technical", "tech", "model", "ml", "model_metric"},
    "business": {"business", "kpi", "outcome", "business_kpi", "biz"},
    "adoption": {"adoption", "usage"},
}
ADKAR_WORDING = (
    ("reinforcement", re.compile(r"reinforc|recogni[sz]|reward|sustain|keep (on )?using|continue (to use|using)|celebrat|follow[- ]?up|stick", re.I)),
    ("desire", re.compile(r"\bwant\b|\bdesire|motivat|support (the|this) change|willing|eager|keen|look forward|in favou?r|\bwish|\blike to use", re.I)),
    ("knowledge", re.compile(r"know how|knowledge|training|trained|learn|instruction|how (to|do i) use", re.I)),
    ("ability", re.compile(r"\bable\b|ability|confiden|skills?|capable|\bcan (use|apply)|in practice|hands[- ]on|day[- ]to[- ]day", re.I)),
    ("awareness", re.compile(r"understand why|aware|reason|why (we|the|this)|purpose|explained|the need for", re.I)),
)
REGISTER_TITLES = {norm(info.title or name): name for name, info in Pilot.model_fields.items()}


@dataclass
class Mapping:
    """Which field each column feeds, and the defaults for what the file does not say."""

    kind: str
    layout: str
    targets: dict[str, str]  # column header -> field, METRIC_PREFIX+name, DATE_PREFIX+iso date, or IGNORE
    export: Optional[str] = None
    defaults: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    questions: dict[str, str] = field(default_factory=dict)  # survey column -> question text

    def column_for(self, target: str) -> Optional[str]:
        return next((c for c, t in self.targets.items() if t == target), None)

    @property
    def unmapped(self) -> list[str]:
        return [c for c, t in self.targets.items() if t == IGNORE]

    def with_targets(self, changes: dict[str, str]) -> "Mapping":
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
        return Mapping(self.kind, layout, targets, self.export, dict(self.defaults), list(self.notes), dict(self.questions))

    def describe(self, column: str) -> str:
        return describe_target(self.kind, self.targets.get(column, IGNORE))


def describe_target(kind: str, target: str) -> str:
    """A column's target in words, as the upload page and the receipt say it."""
    if target == IGNORE:
        return "not used"
    if target.startswith(METRIC_PREFIX):
        return f"values of metric “{target[len(METRIC_PREFIX):]}”"
    if target.startswith(DATE_PREFIX):
        return f"values on {target[len(DATE_PREFIX):]}"
    if kind == "pilot_register" and target in Pilot.model_fields:
        return Pilot.model_fields[target].title or target
    return FIELD_LABELS.get(target, target)


# -- looking at values ------------------------------------------------------------------------

def _column_values(sample: list[list[str]], index: int) -> list[str]:
    return [row[index].strip() for row in sample if index < len(row) and row[index].strip()]


_NUMBER = re.compile(r"^[-+(]?[$€£]?\s*'?[-+]?\d[\d.,\s]*(e[-+]?\d+)?\s*%?\)?$", re.I)
_DATE = re.compile(
    r"^(\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{8}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2} [A-Za-z]{3,9}\.? \d{4})"
)
_LIKERT_TEXT = re.compile(r"agree|disagree|neutral|neither", re.I)


def looks_numeric(values: list[str]) -> bool:
    return bool(values) and sum(bool(_NUMBER.match(v)) or v.lower() in ("na", "n/a", "-", "nan") for v in values) >= 0.8 * len(values)


def looks_date(values: list[str]) -> bool:
    if not values:
        return False
    if sum(bool(_DATE.match(v)) or looks_like_period(v) for v in values) >= 0.8 * len(values):  # periods: Q1 2024, Jan-24
        return True
    digits = [v for v in values if re.fullmatch(r"\d{10}(\d{3})?", v)]
    return len(digits) >= 0.8 * len(values)


def looks_likert(values: list[str]) -> bool:
    if not values:
        return False
    ok = sum(bool(re.fullmatch(r"[1-9](\.0)?|[1-9]\s*[-.:)].*", v)) or bool(_LIKERT_TEXT.search(v)) for v in values)
    return ok >= 0.8 * len(values)


def header_date(text: str) -> Optional[date]:
    """A header that is itself a date (wide per-date layout)."""
    value = text.strip()
    for pattern, order in ((r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", "ymd"), (r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})", "dmy"), (r"(\d{4})(\d{2})(\d{2})", "ymd")):
        match = re.fullmatch(pattern, value)
        if match:
            a, b, c = (int(x) for x in match.groups())
            try:
                if order == "ymd":
                    return date(a, b, c)
                return date(c, b, a) if a > 12 or b <= 12 else date(c, a, b)
            except ValueError:
                return None
    match = re.fullmatch(r"([A-Za-z]{3})[a-z]*\.? (\d{1,2}),? (\d{4})", value)
    if match:
        from datetime import datetime

        try:
            return datetime.strptime(f"{match.group(1)} {match.group(2)} {match.group(3)}", "%b %d %Y").date()
        except ValueError:
            return None
    return None


def environment_from_text(value: str) -> Optional[str]:
    key = norm(value)
    for environment, words in ENVIRONMENT_VALUES.items():
        if key in words:
            return environment
    return None


# -- deciding -----------------------------------------------------------------------------------

def _by_synonym(headers: list[str], fieldname: str, taken: set[str]) -> Optional[str]:
    for header in headers:
        if header not in taken and norm(header) in SYNONYMS[fieldname]:
            return header
    return None


def _usage_name(header: str) -> Optional[str]:
    key = norm(header)
    for name, words in usage_metrics().items():
        if key in words:
            return name
    return None


def detect_kind(headers: list[str], header_rows: list[list[str]], sample: list[list[str]]) -> Optional[str]:
    keys = {norm(h) for h in headers}
    if _survey_export(headers, header_rows):
        return "survey"
    texts = _question_texts(headers, header_rows)
    worded = sum(1 for h in headers if any(p.search(texts.get(h, h)) for _, p in ADKAR_WORDING) and looks_likert(_column_values(sample, headers.index(h))))
    likert_columns = sum(1 for i, h in enumerate(headers) if looks_likert(_column_values(sample, i)) and not looks_date(_column_values(sample, i)))
    if worded >= 3 or ADKAR[0] in keys and ADKAR[1] in keys or (likert_columns >= 5 and not any(norm(h) in SYNONYMS["observed_at"] - {"timestamp"} for h in headers)):
        return "survey"
    register_hits = {REGISTER_TITLES.get(k) or (k if k in PILOT_FIELDS else None) for k in keys} - {None}
    if "pilot_id" in register_hits and len(register_hits) >= 4 and ({"name", "stage"} & register_hits):
        return "pilot_register"
    usage_columns = [h for h in headers if _usage_name(h)]
    row_labels = [_usage_name(row[0]) for row in sample if row]
    has_metric_value = any(norm(h) in SYNONYMS["metric"] for h in headers) and any(norm(h) in SYNONYMS["value"] for h in headers)
    if (usage_columns and not has_metric_value) or (sample and sum(bool(x) for x in row_labels) >= max(1, len(row_labels) // 2)):
        return "usage"
    return "metrics"


def _survey_export(headers: list[str], header_rows: list[list[str]]) -> Optional[str]:
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
    return {h: h for h in headers}


def recognise(
    headers: list[str], header_rows: list[list[str]], sample: list[list[str]], kind: Optional[str], file_name: str,
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
        raise Refused("This pilot register has no pilot_id column; the first row must hold the template's column names (download the template from the Pilot register page).")
    return Mapping("pilot_register", "register", targets)


def _metric_mapping(headers: list[str], sample: list[list[str]], kind: str, file_name: str) -> Mapping:
    keys = [norm(h) for h in headers]
    values = {h: _column_values(sample, i) for i, h in enumerate(headers)}
    targets = {h: IGNORE for h in headers}
    notes: list[str] = []
    defaults: dict[str, object] = {}
    export = None
    taken: set[str] = set()

    def assign(header: Optional[str], target: str) -> None:
        if header is None or (not target.startswith((METRIC_PREFIX, DATE_PREFIX)) and target in targets.values()):
            return
        targets[header] = target
        taken.add(header)

    def metric_name(header: str) -> str:
        if kind == "usage":
            return _usage_name(header) or header.strip()
        return header.strip()

    # -- known exports ------------------------------------------------------------------
    if "run_id" in keys and any(k.startswith("metrics_") for k in keys):
        export = "MLflow runs (search_runs)"
        for header in headers:
            if header.startswith("metrics."):
                assign(header, METRIC_PREFIX + header[len("metrics."):])
        assign(next((h for h in headers if norm(h) == "end_time"), None) or next((h for h in headers if norm(h) == "start_time"), None), "observed_at")
        assign(next((h for h in headers if norm(h) in ("tags_pilot_id", "params_pilot_id")), None), "pilot_id")
        defaults["environment"] = "lab"
        notes.append("MLflow runs are lab results unless you say otherwise; params and tags are not stored.")
        return Mapping(kind, "wide_metric", targets, export, defaults, notes)
    if {"key", "value", "timestamp"} <= set(keys):
        export = "MLflow metric history"
        assign(headers[keys.index("key")], "metric")
        assign(headers[keys.index("value")], "value")
        assign(headers[keys.index("timestamp")], "observed_at")
        assign(next((h for h in headers if norm(h) == "step"), None), "_step")
        defaults["environment"] = "lab"
        return Mapping(kind, "long", targets, export, defaults, notes)
    if {"run_id", "start_time", "duration"} <= set(keys) or {"name", "state", "created", "runtime"} <= set(keys):
        export = "MLflow run table (UI download)" if "run_id" in keys else "Weights & Biases runs table"
        assign(headers[keys.index("start_time")] if "start_time" in keys else headers[keys.index("created")], "observed_at")
        assign(_by_synonym(headers, "pilot_id", taken), "pilot_id")
        skipped = []
        for header in headers:
            if header in taken or not looks_numeric(values[header]) or norm(header) in {"run_id", "runtime", "duration"}:
                continue
            if HYPERPARAMETERS.match(norm(header)) or header.startswith("_"):
                skipped.append(header)
            else:
                assign(header, METRIC_PREFIX + header.strip())
        defaults["environment"] = "lab"
        if skipped:
            notes.append(
                f"{len(skipped)} numeric column(s) look like settings, not results, and are not stored: "
                f"{', '.join(skipped[:6])}{' …' if len(skipped) > 6 else ''}. Map them to a metric if they are results."
            )
        return Mapping(kind, "wide_metric", targets, export, defaults, notes)
    if "step" in keys and any(" - " in h for h in headers):
        export = "Weights & Biases chart export"
        assign(headers[keys.index("step")], "_step")
        runs = {h.split(" - ", 1)[0] for h in headers if " - " in h}
        for header in headers:
            if " - " in header and not re.search(r"__(MIN|MAX)$", header):
                run, metric = header.split(" - ", 1)
                assign(header, METRIC_PREFIX + (metric.strip() if len(runs) == 1 else f"{metric.strip()} ({run.strip()})"))
        defaults["environment"] = "lab"
        notes.append("A chart export has training steps, not dates: the last step of each metric is stored, dated as chosen below (today by default).")
        return Mapping(kind, "wide_metric", targets, export, defaults, notes)

    # -- generic layouts -----------------------------------------------------------------
    assign(_by_synonym(headers, "pilot_id", taken), "pilot_id")
    dated = {h: header_date(h) for h in headers if h not in taken}
    date_headers = [h for h, d in dated.items() if d]
    if len(date_headers) >= 2:
        for header in date_headers:
            assign(header, DATE_PREFIX + dated[header].isoformat())
        metric_column = _by_synonym(headers, "metric", taken) or next(
            (h for h in headers if h not in taken and not looks_numeric(values[h])), None
        )
        assign(metric_column, "metric")
        assign(_by_synonym(headers, "environment", taken), "environment")
        assign(_by_synonym(headers, "kind", taken), "kind")
        return Mapping(kind, "wide_date", targets, export, defaults, notes)

    metric_column = _by_synonym(headers, "metric", taken)
    value_column = _by_synonym(headers, "value", taken)
    time_column = _by_synonym(headers, "observed_at", taken) or next(
        (h for h in headers if h not in taken and looks_date(values[h])), None
    )
    if metric_column and value_column:
        assign(metric_column, "metric")
        assign(value_column, "value")
        assign(time_column, "observed_at")
        assign(_by_synonym(headers, "environment", taken), "environment")
        assign(_by_synonym(headers, "kind", taken), "kind")
        return Mapping(kind, "long", targets, export, defaults, notes)
    assign(time_column, "observed_at")
    assign(_by_synonym(headers, "environment", taken), "environment")
    assign(_by_synonym(headers, "kind", taken), "kind")
    for header in headers:
        if header not in taken and looks_numeric(values[header]) and norm(header) not in SYNONYMS["_step"]:
            assign(header, METRIC_PREFIX + metric_name(header))
    if not any(t.startswith(METRIC_PREFIX) for t in targets.values()):
        raise Refused(
            f"{file_name} has no column of numbers to store as metric values; a metric export needs either "
            "metric and value columns, or one column per metric, or one column per date."
        )
    return Mapping(kind, "wide_metric", targets, export, defaults, notes)


def _survey_mapping(headers: list[str], header_rows: list[list[str]], sample: list[list[str]]) -> Mapping:
    export = _survey_export(headers, header_rows)
    questions = _question_texts(headers, header_rows)
    values = {h: _column_values(sample, i) for i, h in enumerate(headers)}
    targets = {h: IGNORE for h in headers}
    taken: set[str] = set()
    notes: list[str] = []

    def assign(header: Optional[str], target: str) -> None:
        if header is not None and header not in taken and target not in targets.values():
            targets[header] = target
            taken.add(header)

    for element in ADKAR:  # columns literally named after the elements
        assign(next((h for h in headers if norm(h) == element), None), element)
    for fieldname in ("pilot_id", "respondent_id", "wave", "_status", "_finished", "_progress", "role"):
        assign(_by_synonym(headers, fieldname, taken), fieldname)
    if export == "Qualtrics survey export":
        assign(next((h for h in headers if norm(h) == "recordeddate"), None) or next((h for h in headers if norm(h) == "enddate"), None), "responded_at")
    elif export == "SurveyMonkey survey export":
        assign(next((h for h in headers if norm(h) == "end_date"), None), "responded_at")
    assign(_by_synonym(headers, "responded_at", taken), "responded_at")
    defaults: dict[str, object] = {}
    if len(header_rows) == 3 and targets_for(targets, "responded_at"):
        zone = re.search(r'"timeZone"\s*:\s*"([A-Za-z_]+(?:/[A-Za-z_+\-0-9]+)*)"', header_rows[2][headers.index(targets_for(targets, "responded_at"))])
        if zone:
            defaults["responded_at_zone"] = zone.group(1)
            notes.append(f"Response times are in {zone.group(1)} time, as the export says; they are stored in UTC.")
    if "respondent_id" not in targets.values():
        email = next((h for h in headers if h not in taken and norm(h) in ("email", "email_address", "e_mail")
                      and sum("@" in x for x in values[h]) >= max(1, len(values[h]) // 2)), None)
        if email:
            assign(email, "respondent_id")
            defaults["pseudonymise_respondent"] = True
            notes.append(f"Respondents are identified by “{email}”; the addresses are replaced by pseudonyms and never stored.")
    team = next((h for h in headers if h not in taken and (norm(h) in SYNONYMS["team"] or re.search(r"\b(team|department)\b", questions[h], re.I))), None)
    if team is None:
        team = next((h for h in headers if h not in taken and norm(h) == "custom_data_1"), None)
    assign(team, "team")

    likert_columns = [h for h in headers if h not in taken and looks_likert(values[h])]
    found: dict[str, str] = {}
    for header in likert_columns:
        for element, pattern in ADKAR_WORDING:
            if pattern.search(questions[header]) and element not in found.values() and element not in targets.values():
                found[header] = element
                break
    missing = [e for e in ADKAR if e not in found.values() and e not in targets.values()]
    if missing and len(likert_columns) >= len(ADKAR) and not found and not any(t in ADKAR for t in targets.values()):
        found = dict(zip(likert_columns[: len(ADKAR)], ADKAR))
        notes.append(
            "The ADKAR questions were not recognised by their wording, so the first five 1–5 questions were taken "
            "in order as Awareness, Desire, Knowledge, Ability, Reinforcement. Check the mapping below."
        )
    for header, element in found.items():
        assign(header, element)
    missing = [e for e in ADKAR if e not in targets.values()]
    if missing:
        notes.append(f"No question was found for {', '.join(m.capitalize() for m in missing)}; those scores stay blank unless you map a column.")
    comment = next(
        (h for h in reversed(headers) if h not in taken and (norm(h) in SYNONYMS["comment"] or re.search(r"comment|feedback|anything else|what else|suggest|remarks|tell us|open[- ]ended", questions[h], re.I))),
        None,
    )
    assign(comment, "comment")
    return Mapping("survey", "survey", targets, export, defaults, notes, questions)


def targets_for(targets: dict[str, str], target: str) -> Optional[str]:
    return next((c for c, t in targets.items() if t == target), None)


def target_choices(mapping: Mapping, column: str) -> list[str]:
    """Targets the upload page offers for one column."""
    fields = [f for f in KIND_FIELDS[mapping.kind] if not f.startswith("_") or mapping.targets.get(column) == f or mapping.kind == "survey"]
    choices = [IGNORE, *fields]
    current = mapping.targets.get(column, IGNORE)
    if mapping.kind in ("metrics", "usage"):
        wide = METRIC_PREFIX + (_usage_name(column) if mapping.kind == "usage" and _usage_name(column) else column.strip())
        choices.append(wide)
        day = header_date(column)
        if day:
            choices.append(DATE_PREFIX + day.isoformat())
    if current not in choices:
        choices.append(current)
    return choices
