"""The metric dictionary: what kind of number a metric is, which way is better, and its unit.

Three sources, the first that knows a metric wins:
1. **answers in the store** (`metric_definitions`): what someone said on the upload page when a
   file brought a metric nobody knew, or a correction made on the Alignment page;
2. **the built-in dictionary** `config/metrics.toml` (or PILOT_HEALTH_METRICS), with the common
   spellings exports use (`acc`, `val/accuracy`, `f1_score`, `auc` …);
3. **a guess from the name, its unit and its values** (see `guess`): common words in English,
   German, French and Spanish (`Umsatz`, `coûts`, `ingresos` … business; `accuracy`, `Fehlerquote`,
   `error` … technical; `loss`, `error`, `cost`, `churn` go down), a currency in the name, unit or
   cells (business), whole counts of users or sessions (adoption). A guess says why it was made,
   is never stored by itself and is always labelled as a guess, so nobody mistakes it for knowledge.

A pilot's business KPI takes its direction from the pilot register, not from here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from pilot_health.config import reread_when_changed
from pilot_health.lazy import pandas as pd

METRIC_KINDS = ("technical", "business", "adoption")
DIRECTIONS = ("up", "down")
DIRECTION_WORDS = {"up": "higher is better", "down": "lower is better", None: "not known"}
SOURCE_LABELS = {
    "answered": "answered on upload or corrected",
    "built-in": "built-in dictionary",
    "guessed": "guessed from the name — please confirm",
    "register": "the pilot's KPI (pilot register)",
}


def _parts(pattern: str) -> re.Pattern:
    """Whole parts of a metric key (between `_`): 'cost' finds cost_per_drop, not costume_rating."""
    return re.compile(rf"(?:^|_)(?:{pattern})(?=_|$)")


_UP_WORDS = _parts(
    r"acc|f1|auc|precision|recall|r2|ndcg|hit|score|bleu|rouge|iou|revenue|margin|profit|sales|"
    r"availability|conversion|satisfaction|savings|roi|uplift|compliance|adoption|users|sessions"
)
_DOWN_WORDS = _parts(
    r"rmse|mse|mae|mape|loss|error|latency|cost|churn|waste|losses|default_rate|time|hours|payback|"
    r"days|defect|downtime|returns"
)
_BUSINESS_WORDS = _parts(
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
    direction: Literal["up", "down"] | None = None
    unit: str | None = None
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
    def _keys_and_spellings(self) -> DictionaryFile:
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
    direction: str | None
    unit: str | None
    source: str
    why: str = ""  # for a guess: what it was made from, in words ("from the € values")

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

    def with_answers(self, answers: Iterable[MetricInfo]) -> MetricDictionary:
        """This dictionary plus the answers stored in a store (they win over the built-in entries)."""
        return MetricDictionary(
            self.entries, self.source, self.fingerprint, {a.key: a for a in answers}, self._spellings
        )

    def canonical(self, name: object) -> str:
        """The dictionary's key for a name: 'val/acc' → 'accuracy'; an unknown name → its own key."""
        key = metric_key(name)
        return self._spellings.get(key, key)

    def lookup(self, name: object) -> MetricInfo | None:
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

    def direction(self, name: object) -> str | None:
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
    direction: str | None = None  # up | down | None (not sure)
    unit: str | None = None
    label: str | None = None

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
        raise ValueError(
            f"{text!r} is not NAME=kind:direction[:unit], e.g. picks_per_hour=business:up or drift_score=technical:down"
        )
    direction = {"up": "up", "higher": "up", "down": "down", "lower": "down", "?": None, "": None}.get(
        parts[1].lower(), parts[1]
    )
    unit = parts[2] if len(parts) == 3 and parts[2] else None
    return name.strip(), MetricAnswer(parts[0].lower(), direction, unit)


def answer_rows(answers: dict[str, MetricAnswer], decided_by: str, decided_at, upload_id: int | None) -> list[dict]:
    """Answers as rows of `metric_definitions`, keyed the way the dictionary looks them up."""
    dictionary = load_metric_dictionary()
    rows = {}
    for name, answer in answers.items():
        key = dictionary.canonical(name)
        rows[key] = {
            "metric_key": key,
            "label": (answer.label or str(name)).strip(),
            "kind": answer.kind,
            "direction": answer.direction,
            "unit": answer.unit,
            "decided_by": decided_by,
            "decided_at": decided_at,
            "upload_id": upload_id,
        }
    return list(rows.values())


@dataclass(frozen=True)
class ValueSummary:
    """What one metric's values in a file look like, for the guess."""

    low: float | None = None
    high: float | None = None
    whole: bool = False  # every value a whole number (a count)
    currency: str | None = None  # a currency sign or code written in the cells: €, $, EUR …

    @property
    def share(self) -> bool:
        return self.low is not None and self.high is not None and self.low >= 0 and self.high <= 1


@dataclass(frozen=True)
class _Word:
    kind: str
    direction: str | None
    meaning: str = ""  # in English, for a word of another language
    language: str = ""  # "" for English
    compound: bool = False  # German: also the last part of a compound word (Personalkosten, Vorhersagegenauigkeit)


def _words(
    kind: str, direction: str | None, language: str, entries: dict[str, str], compound: Iterable[str] = ()
) -> dict[str, _Word]:
    heads = set(compound)
    return {phrase: _Word(kind, direction, meaning, language, phrase in heads) for phrase, meaning in entries.items()}


# Words and phrases a metric's name is recognised by, accent-folded and in lower case (ü → u, ß → ss),
# matched as whole words of the name. English words also match with a plural s. A word that names
# a model measure (accuracy, error, loss …) decides the kind before a business word does:
# `sales_forecast_mape` is a model's error, `cost_function_loss` a training loss.
_LEXICON: dict[str, _Word] = {
    # -- technical: model measures -----------------------------------------------------------------
    **_words(
        "technical",
        "up",
        "",
        {
            w: ""
            for w in (
                "accuracy",
                "auc",
                "auroc",
                "roc auc",
                "f1",
                "f1 score",
                "precision",
                "recall",
                "r2",
                "iou",
                "bleu",
                "rouge",
                "ndcg",
            )
        },
    ),
    **_words(
        "technical",
        "down",
        "",
        {
            w: ""
            for w in (
                "error",
                "error rate",
                "loss",
                "log loss",
                "logloss",
                "cost function",
                "rmse",
                "mse",
                "mae",
                "mape",
                "smape",
                "wape",
                "latency",
                "perplexity",
                "wer",
            )
        },
    ),
    **_words(
        "technical",
        "up",
        "German",
        {"genauigkeit": "accuracy", "prazision": "precision", "praezision": "precision"},
        compound=["genauigkeit"],
    ),
    **_words(
        "technical",
        "down",
        "German",
        {"fehler": "error", "fehlerquote": "error rate", "fehlerrate": "error rate", "latenz": "latency"},
        compound=["fehlerquote", "fehlerrate"],
    ),
    **_words("technical", "up", "French", {"exactitude": "accuracy", "rappel": "recall"}),
    **_words("technical", "down", "French", {"erreur": "error", "taux d erreur": "error rate", "latence": "latency"}),
    **_words("technical", "up", "Spanish", {"exactitud": "accuracy", "exhaustividad": "recall"}),
    **_words("technical", "down", "Spanish", {"tasa de error": "error rate", "latencia": "latency"}),
    # -- business: KPIs ----------------------------------------------------------------------------
    **_words(
        "business",
        "up",
        "",
        {
            w: ""
            for w in (
                "revenue",
                "sales",
                "turnover",
                "income",
                "profit",
                "margin",
                "gross margin",
                "savings",
                "cost savings",
                "conversion",
                "conversion rate",
                "acceptance rate",
                "satisfaction",
                "customer satisfaction",
                "csat",
                "nps",
                "roi",
                "availability",
            )
        },
    ),
    **_words(
        "business",
        "down",
        "",
        {
            w: ""
            for w in (
                "cost",
                "expense",
                "spend",
                "spending",
                "churn",
                "churn rate",
                "attrition",
                "inventory",
                "waste",
                "downtime",
                "default rate",
            )
        },
    ),
    **_words(
        "business",
        "up",
        "German",
        {
            "umsatz": "revenue",
            "umsatze": "revenue",
            "umsaetze": "revenue",
            "erlos": "revenue",
            "erlose": "revenue",
            "erloes": "revenue",
            "gewinn": "profit",
            "marge": "margin",
            "deckungsbeitrag": "contribution margin",
            "einsparung": "savings",
            "einsparungen": "savings",
            "kundenzufriedenheit": "customer satisfaction",
            "zufriedenheit": "satisfaction",
            "konversionsrate": "conversion rate",
            "verkaufe": "sales",
            "verkaeufe": "sales",
            "absatz": "sales volume",
            "verfugbarkeit": "availability",
            "verfuegbarkeit": "availability",
        },
        compound=["umsatz", "gewinn", "zufriedenheit", "deckungsbeitrag", "einsparungen"],
    ),
    **_words(
        "business",
        "down",
        "German",
        {
            "kosten": "costs",
            "ausgaben": "expenses",
            "abwanderung": "churn",
            "kundenabwanderung": "customer churn",
            "lagerbestand": "inventory",
        },
        compound=["kosten", "lagerbestand"],
    ),
    **_words(
        "business",
        "up",
        "French",
        {
            "chiffre d affaires": "revenue",
            "ventes": "sales",
            "vente": "sales",
            "benefice": "profit",
            "benefices": "profit",
            "taux de conversion": "conversion rate",
            "economies": "savings",
            "satisfaction client": "customer satisfaction",
            "disponibilite": "availability",
            "recettes": "revenue",
        },
    ),
    **_words(
        "business",
        "down",
        "French",
        {
            "cout": "cost",
            "couts": "costs",
            "depenses": "expenses",
            "taux d attrition": "churn rate",
            "taux de desabonnement": "churn rate",
        },
    ),
    **_words(
        "business",
        "up",
        "Spanish",
        {
            "ingresos": "revenue",
            "ventas": "sales",
            "venta": "sales",
            "facturacion": "turnover",
            "beneficio": "profit",
            "beneficios": "profit",
            "ganancia": "profit",
            "ganancias": "profit",
            "margen": "margin",
            "satisfaccion": "satisfaction",
            "satisfaccion del cliente": "customer satisfaction",
            "tasa de conversion": "conversion rate",
            "ahorro": "savings",
            "ahorros": "savings",
            "disponibilidad": "availability",
        },
    ),
    **_words(
        "business",
        "down",
        "Spanish",
        {
            "coste": "cost",
            "costes": "costs",
            "costo": "cost",
            "costos": "costs",
            "gastos": "expenses",
            "tasa de abandono": "churn rate",
        },
    ),
    # -- adoption: counts of people and visits (only when the values are whole numbers) -----------
    **_words("adoption", "up", "", {w: "" for w in ("users", "active users", "sessions", "visits", "logins")}),
    **_words(
        "adoption",
        "up",
        "German",
        {"nutzer": "users", "benutzer": "users", "anwender": "users", "sitzungen": "sessions"},
    ),
    **_words("adoption", "up", "French", {"utilisateurs": "users", "visites": "visits"}),
    **_words("adoption", "up", "Spanish", {"usuarios": "users", "sesiones": "sessions", "visitas": "visits"}),
}
# Where a word is spelled the same in two languages, say both.
_SHARED_SPELLING = {"marge": "French and German", "precision": "", "error": "", "satisfaction": "", "attrition": ""}
_LONGEST_PHRASE = max(len(p.split()) for p in _LEXICON)
_CURRENCY_SIGNS = "€$£¥"
_CURRENCY_WORDS = {
    "eur": "EUR",
    "usd": "USD",
    "gbp": "GBP",
    "chf": "CHF",
    "jpy": "JPY",
    "cad": "CAD",
    "aud": "AUD",
    "teur": "TEUR",
    "keur": "kEUR",
    "euro": "€",
    "euros": "€",
    "dollar": "$",
    "dollars": "$",
}


def fold(text: object) -> str:
    """Lower case without accents: 'Erlös' → 'erlos', 'Straße' → 'strasse', 'Satisfacción' → 'satisfaccion'."""
    decomposed = unicodedata.normalize("NFKD", str(text).replace("ß", "ss").replace("ẞ", "ss"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _name_words(name: str) -> list[tuple[str, str, int, int]]:
    """The words of a name: (as written, folded, start, end); `_`, spaces and punctuation separate them."""
    return [(m.group(), fold(m.group()), m.start(), m.end()) for m in re.finditer(r"[^\W_]+", name)]


def _find_words(name: str) -> list[tuple[str, _Word]]:
    """Every lexicon word or phrase in the name, longest phrase first, each word used once."""
    words = _name_words(name)
    found, i = [], 0
    while i < len(words):
        for n in range(min(_LONGEST_PHRASE, len(words) - i), 0, -1):
            phrase = " ".join(w[1] for w in words[i : i + n])
            entry = _LEXICON.get(phrase)
            if (
                entry is None
                and n == 1
                and phrase.endswith("s")
                and _LEXICON.get(phrase[:-1], _Word("", None, language="x")).language == ""
            ):
                entry = _LEXICON[phrase[:-1]]  # English plural: costs, margins, errors
            if entry is None and n == 1:
                entry = next(
                    (e for w, e in _LEXICON.items() if e.compound and len(phrase) > len(w) + 2 and phrase.endswith(w)),
                    None,
                )
            if entry is not None:
                found.append((name[words[i][2] : words[i + n - 1][3]], entry))
                i += n
                break
        else:
            i += 1
    return found


def _because(written: str, entry: _Word) -> str:
    quoted = f"‘{written}’"
    what = "words" if len(_name_words(written)) > 1 else "word"
    language = _SHARED_SPELLING.get(fold(written), entry.language)
    if language and entry.meaning:
        return f"from the {what} {quoted} ({language} for {entry.meaning})"
    return f"from the {what} {quoted}"


def _unit_in_name(name: str) -> str | None:
    """A unit written at the end of the name: 'Umsatz (€)' → '€', 'Latency [ms]' → 'ms', 'Kosten in EUR' → 'EUR'."""
    bracketed = re.search(r"[(\[]\s*(?:in\s+)?([^()\[\]]{1,15}?)\s*[)\]]\s*$", name)
    if bracketed:
        return bracketed.group(1)
    for sign in _CURRENCY_SIGNS:
        if sign in name:
            return sign
    codes = [_CURRENCY_WORDS[w[1]] for w in _name_words(name) if w[1] in _CURRENCY_WORDS]
    return codes[-1] if codes else None


def _currency_in_name(name: str) -> str | None:
    for sign in _CURRENCY_SIGNS:
        if sign in name:
            return sign
    return next((_CURRENCY_WORDS[w[1]] for w in _name_words(name) if w[1] in _CURRENCY_WORDS), None)


def guess(name: object, values: ValueSummary | None = None) -> MetricInfo:
    """A guess of kind, direction and unit from the name, the unit it writes and the values — shown
    as a guess with its reason (`why`), never stored by itself. In order:

    1. a word of the name that names a model measure (accuracy, Fehlerquote, erreur, loss …): technical;
    2. a currency in the name or its unit (€, $, EUR, `revenue_usd`) or in the cells (`1.234,50 €`): business;
    3. a business word (revenue, Umsatz, chiffre d'affaires, ingresos, cost, Kosten …): business;
    4. a word for users or sessions with whole-number values: adoption;
    5. otherwise parts of the name as before (`valacc` up, `…_time` down), and technical by default.
    Which way is better comes from the deciding word (error, loss, cost, churn go down); values
    between 0 and 1 make the unit a share."""
    text = str(name).strip()
    key = metric_key(name)
    label = text or key
    found = _find_words(text)
    reasons: list[str] = []
    currency = _currency_in_name(text)
    in_cells = values.currency if values is not None else None  # a currency written in the cells
    unit = _unit_in_name(text)
    kind, deciding = None, None
    for wanted in ("technical", "business", "adoption"):
        hits = [(w, e) for w, e in found if e.kind == wanted]
        if not hits:
            continue
        if (
            wanted == "technical"
            or wanted == "business"
            and kind is None
            or (
                wanted == "adoption"
                and kind is None
                and not currency
                and not in_cells
                and (values is None or values.whole)
            )
        ):
            kind, deciding = wanted, hits
    if kind is None and (currency or in_cells):
        kind = "business"
    if deciding:
        reasons.append(_because(*deciding[0]))
    if kind != "technical" and (currency or in_cells):
        kind = "business"
        reasons.append(f"the {currency} in the name" if currency else f"the {in_cells} values")
        unit = unit or in_cells
    direction = next((e.direction for _, e in (deciding or []) if e.direction), None)
    if kind is None:
        if _BUSINESS_WORDS.search(key):
            kind = "business"
            reasons.append("from parts of the name")
        else:
            kind = "technical"
    if direction is None and not deciding:
        down, up = _DOWN_WORDS.search(key), _UP_WORDS.search(key)
        direction = "down" if down else "up" if up else None
        if direction and not reasons:
            reasons.append("from parts of the name")
    if values is not None and values.share and unit is None and kind != "adoption":
        unit = "share"
        reasons.append("values between 0 and 1 (a share)")
    if not reasons:
        reasons.append("nothing in the name or values says; technical by default")
    why = " and ".join(reasons)
    why = why if why.startswith(("from", "nothing")) else "from " + why
    why = why[0].upper() + why[1:]
    return MetricInfo(key, label, kind, direction, unit, "guessed", why)


# -- loading ------------------------------------------------------------------------------------------


def dictionary_path() -> Path:
    from pilot_health.config import load_config

    return load_config().metrics_path


def answered(row: dict) -> MetricInfo:
    """A stored answer (a row of `metric_definitions`) as what is known of the metric."""
    return MetricInfo(row["metric_key"], row["label"], row["kind"], row["direction"], row["unit"], "answered")


def dictionary_with_answers(con) -> MetricDictionary:
    """The built-in dictionary plus the answers stored in the store `con` reads."""
    from pilot_health.store import queries

    return load_metric_dictionary().with_answers(answered(row) for row in queries.metric_definitions(con))


@reread_when_changed(dictionary_path)
def load_metric_dictionary(path: Path) -> MetricDictionary:
    """The built-in dictionary in force (re-read when the file changes), without the store's answers."""
    from pilot_health.config import read_settings_file

    parsed, fingerprint = read_settings_file(
        path, "metric dictionary", "config/metrics.toml", "PILOT_HEALTH_METRICS", DictionaryFile
    )
    return MetricDictionary(dict(parsed.metrics), str(path), fingerprint)


# -- the dictionary as the Alignment page shows and corrects it ------------------------------------------


def metrics_in_use(store) -> pd.DataFrame:
    """Every metric name stored (rows in force), with what the dictionary says of it and from where."""
    from pilot_health.store import queries

    with store.read() as con:
        names = queries.metric_names_in_use(con)
        dictionary = dictionary_with_answers(con)
        pilots = queries.fetch_pilots(con)
    kpis: dict[str, MetricInfo] = {}  # a pilot's KPI: kind and direction from the register
    for record in pilots[pilots["kpi_name"].notna()].to_dict("records"):
        direction = record.get("kpi_direction") if isinstance(record.get("kpi_direction"), str) else None
        unit = record.get("kpi_unit") if isinstance(record.get("kpi_unit"), str) else None
        kpis.setdefault(
            metric_key(record["kpi_name"]),
            MetricInfo(metric_key(record["kpi_name"]), record["kpi_name"], "business", direction, unit, "register"),
        )
    rows = []
    for metric, group in names.groupby("metric", sort=True):
        info = dictionary.lookup(metric) or kpis.get(metric_key(metric)) or guess(metric)
        rows.append(
            {
                "metric": metric,
                "key": info.key,
                "label": info.label,
                "kind": info.kind,
                "direction": info.direction_words,
                "unit": info.unit or "",
                "source": SOURCE_LABELS[info.source],
                "stored_as": ", ".join(sorted(group["kind"])),
                "pilots": int(group["pilots"].sum()),
                "observations": int(group["observations"].sum()),
                "guessed": info.source == "guessed",
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "metric",
            "key",
            "label",
            "kind",
            "direction",
            "unit",
            "source",
            "stored_as",
            "pilots",
            "observations",
            "guessed",
        ],
    )


def save_answer(store, name: str, answer: MetricAnswer, decided_by) -> None:
    """A correction made on the Alignment page (administrators: it changes how every pilot's metric
    of that name is read): remembered in the store, winning over the built-in entry. Stored rows keep
    their kind; it changes how they are read (direction, unit, label) and how later uploads are sorted."""
    from pilot_health.access import as_person
    from pilot_health.store import queries
    from pilot_health.store.database import utc_now

    person = as_person(decided_by)
    person.require("edit_dictionary", f"change the metric dictionary entry for {name}")
    with store.write() as con:
        queries.upsert_metric_definitions(con, answer_rows({name: answer}, person.name, utc_now(), None))
        queries.record_audit(
            con,
            utc_now(),
            person.name,
            "metric_definition",
            name,
            f"{answer.label}: {answer.kind}, {answer.direction or 'direction not known'}"
            + (f", unit {answer.unit}" if answer.unit else ""),
        )
