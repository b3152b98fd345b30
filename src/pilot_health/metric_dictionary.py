"""The metric dictionary: what kind of number a metric is, which way is better, and its unit.

Three sources, the first that knows a metric wins:
1. **answers in the store** (`metric_definitions`): what someone said on the upload page when a
   file brought a metric nobody knew, or a correction made on the Alignment page;
2. **the built-in dictionary** `config/metrics.toml` (or PILOT_HEALTH_METRICS), with the common
   spellings exports use (`acc`, `val/accuracy`, `f1_score`, `auc` …);
3. **a guess from the name's words** (`loss`, `error`, `cost` go down; `acc`, `f1`, `auc`, `score`
   go up; `revenue`, `margin`, `churn` are business). A guess is never stored by itself and is
   always labelled as a guess, so nobody mistakes it for knowledge.

A pilot's business KPI takes its direction from the pilot register, not from here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal, Optional

from .lazy import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from .config import reread_when_changed


METRIC_KINDS = ("technical", "business", "adoption")
DIRECTIONS = ("up", "down")
DIRECTION_WORDS = {"up": "higher is better", "down": "lower is better", None: "not known"}
SOURCE_LABELS = {
    "answered": "answered on upload or corrected",
    "built-in": "built-in dictionary",
    "guessed": "guessed from the name — please confirm",
    "register": "the pilot's KPI (pilot register)",
}

_UP_WORDS = re.compile(r"acc|f1|auc|precision|recall|r2|ndcg|hit|score|bleu|rouge|iou|revenue|margin|profit|sales|"
                       r"availability|conversion|satisfaction|savings|roi|uplift|compliance|adoption|users|sessions")
_DOWN_WORDS = re.compile(r"rmse|mse|mae|mape|loss|error|latency|cost|churn|waste|losses|default_rate|time|hours|payback|"
                         r"days|defect|downtime|returns")
_BUSINESS_WORDS = re.compile(
    r"revenue|cost|margin|availability|inventory|churn|csat|nps|sales|conversion|handle_time|savings|profit|"
    r"waste|losses|default_rate|roi|payback|acceptance_rate|response_time|per_visit|per_visitor|per_invoice|per_contact|per_drop"
)


def metric_key(name: object) -> str:
    """Spellings that mean the same metric share a key: 'Val/Accuracy', 'val accuracy' → 'val_accuracy'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


class MetricEntry(BaseModel):
    """One metric of config/metrics.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    kind: Literal["technical", "business", "adoption"]
    direction: Optional[Literal["up", "down"]] = None
    unit: Optional[str] = None
    spellings: tuple[str, ...] = ()

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("label must not be empty")
        return value.strip()


class DictionaryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    metrics: dict[str, MetricEntry]

    @model_validator(mode="after")
    def _keys_and_spellings(self) -> "DictionaryFile":
        owner: dict[str, str] = {}
        for key, entry in self.metrics.items():
            if metric_key(key) != key:
                raise ValueError(f"metric key {key!r} must be written {metric_key(key)!r}")
            for spelling in (key, *entry.spellings):
                spelled = metric_key(spelling)
                if spelled in owner and owner[spelled] != key:
                    raise ValueError(f"the spelling {spelling!r} belongs to both {owner[spelled]} and {key}")
                owner[spelled] = key
        return self


@dataclass(frozen=True)
class MetricInfo:
    """What is known of one metric, and from where (`source`: answered, built-in, guessed, register)."""

    key: str
    label: str
    kind: str
    direction: Optional[str]
    unit: Optional[str]
    source: str

    @property
    def direction_words(self) -> str:
        return DIRECTION_WORDS[self.direction]


@dataclass(frozen=True)
class MetricDictionary:
    entries: dict[str, MetricEntry]
    source: str = ""
    fingerprint: str = ""
    answers: dict[str, MetricInfo] = field(default_factory=dict)  # metric key -> answer from the store
    _spellings: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self._spellings:
            for key, entry in self.entries.items():
                for spelling in (key, *entry.spellings):
                    self._spellings[metric_key(spelling)] = key

    def with_answers(self, answers: Iterable[MetricInfo]) -> "MetricDictionary":
        """This dictionary plus the answers stored in a store (they win over the built-in entries)."""
        return MetricDictionary(self.entries, self.source, self.fingerprint, {a.key: a for a in answers}, self._spellings)

    def canonical(self, name: object) -> str:
        """The dictionary's key for a name: 'val/acc' → 'accuracy'; an unknown name → its own key."""
        key = metric_key(name)
        return self._spellings.get(key, key)

    def lookup(self, name: object) -> Optional[MetricInfo]:
        """What is known (answers in the store, then the built-in dictionary); None when nothing is."""
        key = metric_key(name)
        for candidate in (key, self._spellings.get(key)):
            if candidate and candidate in self.answers:
                return self.answers[candidate]
        canonical = self._spellings.get(key)
        if canonical is None:
            return None
        entry = self.entries[canonical]
        return MetricInfo(canonical, entry.label, entry.kind, entry.direction, entry.unit, "built-in")

    def describe(self, name: object) -> MetricInfo:
        """What is known, or else a guess (labelled `guessed`)."""
        return self.lookup(name) or guess(name)

    def direction(self, name: object) -> Optional[str]:
        """'up' when higher is better, 'down' when lower is, None when not even a guess can say."""
        return self.describe(name).direction

    def spellings_of(self, kind: str) -> dict[str, set[str]]:
        """For each metric of a kind, every spelling's key (uploads of usage use this)."""
        found: dict[str, set[str]] = {}
        for spelled, key in self._spellings.items():
            if self.entries[key].kind == kind:
                found.setdefault(key, set()).add(spelled)
        return found


@dataclass(frozen=True)
class MetricAnswer:
    """What the person uploading says a metric is."""

    kind: str
    direction: Optional[str] = None  # up | down | None (not sure)
    unit: Optional[str] = None
    label: Optional[str] = None

    def __post_init__(self) -> None:
        if self.kind not in METRIC_KINDS:
            raise ValueError(f"kind must be one of {', '.join(METRIC_KINDS)}, not {self.kind!r}")
        if self.direction not in (*DIRECTIONS, None):
            raise ValueError(f"direction must be up or down, not {self.direction!r}")


def parse_answer(text: str) -> tuple[str, MetricAnswer]:
    """The command line's `NAME=kind:direction[:unit]` (direction `up`, `down` or `?`)."""
    name, sep, rest = text.partition("=")
    parts = [p.strip() for p in rest.split(":")]
    if not sep or not name.strip() or len(parts) < 2 or len(parts) > 3:
        raise ValueError(f"{text!r} is not NAME=kind:direction[:unit], e.g. picks_per_hour=business:up or drift_score=technical:down")
    direction = {"up": "up", "higher": "up", "down": "down", "lower": "down", "?": None, "": None}.get(parts[1].lower(), parts[1])
    unit = parts[2] if len(parts) == 3 and parts[2] else None
    return name.strip(), MetricAnswer(parts[0].lower(), direction, unit)


def answer_rows(answers: dict[str, MetricAnswer], decided_by: str, decided_at, upload_id: Optional[int]) -> list[dict]:
    """Answers as rows of `metric_definitions`, keyed the way the dictionary looks them up."""
    dictionary = load_metric_dictionary()
    rows = {}
    for name, answer in answers.items():
        key = dictionary.canonical(name)
        rows[key] = {"metric_key": key, "label": (answer.label or str(name)).strip(), "kind": answer.kind,
                     "direction": answer.direction, "unit": answer.unit, "decided_by": decided_by,
                     "decided_at": decided_at, "upload_id": upload_id}
    return list(rows.values())


def guess(name: object) -> MetricInfo:
    """A guess from the words of the name — shown as a guess, never stored by itself."""
    key = metric_key(name)
    kind = "business" if _BUSINESS_WORDS.search(key) else "technical"
    down, up = _DOWN_WORDS.search(key), _UP_WORDS.search(key)
    direction = "down" if down else "up" if up else None
    label = str(name).strip() or key
    return MetricInfo(key, label, kind, direction, None, "guessed")


# -- loading ------------------------------------------------------------------------------------------

def dictionary_path() -> Path:
    from .config import load_config

    return load_config().metrics_path


def answered(row: dict) -> MetricInfo:
    """A stored answer (a row of `metric_definitions`) as what is known of the metric."""
    return MetricInfo(row["metric_key"], row["label"], row["kind"], row["direction"], row["unit"], "answered")


def dictionary_with_answers(con) -> MetricDictionary:
    """The built-in dictionary plus the answers stored in the store `con` reads."""
    from . import queries

    return load_metric_dictionary().with_answers(answered(row) for row in queries.metric_definitions(con))


@reread_when_changed(dictionary_path)
def load_metric_dictionary(path: Path) -> MetricDictionary:
    """The built-in dictionary in force (re-read when the file changes), without the store's answers."""
    from .config import read_settings_file

    parsed, fingerprint = read_settings_file(path, "metric dictionary", "config/metrics.toml", "PILOT_HEALTH_METRICS", DictionaryFile)
    return MetricDictionary(dict(parsed.metrics), str(path), fingerprint)


# -- the dictionary as the Alignment page shows and corrects it ------------------------------------------

def metrics_in_use(store) -> pd.DataFrame:
    """Every metric name stored (rows in force), with what the dictionary says of it and from where."""
    from . import queries

    with store.read() as con:
        names = queries.metric_names_in_use(con)
        dictionary = dictionary_with_answers(con)
        pilots = queries.fetch_pilots(con)
    kpis = {}  # a pilot's KPI: kind and direction from the register
    for record in pilots[pilots["kpi_name"].notna()].to_dict("records"):
        direction = record.get("kpi_direction") if isinstance(record.get("kpi_direction"), str) else None
        unit = record.get("kpi_unit") if isinstance(record.get("kpi_unit"), str) else None
        kpis.setdefault(metric_key(record["kpi_name"]), MetricInfo(metric_key(record["kpi_name"]), record["kpi_name"], "business", direction, unit, "register"))
    rows = []
    for metric, group in names.groupby("metric", sort=True):
        info = dictionary.lookup(metric) or kpis.get(metric_key(metric)) or guess(metric)
        rows.append({
            "metric": metric, "key": info.key, "label": info.label, "kind": info.kind, "direction": info.direction_words,
            "unit": info.unit or "", "source": SOURCE_LABELS[info.source], "stored_as": ", ".join(sorted(group["kind"])),
            "pilots": int(group["pilots"].sum()), "observations": int(group["observations"].sum()),
            "guessed": info.source == "guessed",
        })
    return pd.DataFrame(rows, columns=["metric", "key", "label", "kind", "direction", "unit", "source", "stored_as", "pilots",
                                       "observations", "guessed"])


def save_answer(store, name: str, answer: MetricAnswer, decided_by) -> None:
    """A correction made on the Alignment page (administrators: it changes how every pilot's metric
    of that name is read): remembered in the store, winning over the built-in entry. Stored rows keep
    their kind; it changes how they are read (direction, unit, label) and how later uploads are sorted."""
    from . import queries
    from .access import as_person
    from .store import utc_now

    person = as_person(decided_by)
    person.require("edit_dictionary", f"change the metric dictionary entry for {name}")
    with store.write() as con:
        queries.upsert_metric_definitions(con, answer_rows({name: answer}, person.name, utc_now(), None))
        queries.record_audit(con, utc_now(), person.name, "metric_definition", name,
                             f"{answer.label}: {answer.kind}, {answer.direction or 'direction not known'}"
                             + (f", unit {answer.unit}" if answer.unit else ""))
