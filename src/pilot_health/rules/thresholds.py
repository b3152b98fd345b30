"""Thresholds an administrator changes in the dashboard, on top of the signal catalogue's file.

The catalogue (`config/signals.toml`) holds every threshold as shipped or as edited on disk. An
administrator can set any numeric setting of its [scoring], [health] and [analysis] sections, and
any signal's threshold, on the Thresholds page; those values are stored in the store
(`threshold_overrides`), win over the file, are checked by the same rules as the file, and each
change is in the audit trail with who and when. Setting a value back to the file's removes it.
Every change is also kept in `threshold_history`, so a pinned link (a moment in the past) is
scored with the thresholds that were in force at that moment, not with today's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ValidationError

from pilot_health.access import Person, as_person
from pilot_health.errors import ConfigError, PilotHealthError
from pilot_health.formatting import setting_percent
from pilot_health.rules.catalogue import Analysis, Catalogue, Health, Scoring, load_catalogue
from pilot_health.store import queries
from pilot_health.store.database import Store, utc_now

SECTIONS: dict[str, tuple[str, type[BaseModel]]] = {
    "scoring": ("Scoring", Scoring),
    "health": ("Health rule", Health),
    "analysis": ("Shared numbers", Analysis),
}
SIGNAL_SECTION = ("signals", "Signal thresholds")
# What each section setting is (a short label) and what it does (one sentence), in the words of the
# catalogue file's own comments. The Thresholds page shows these; the key stays in a tooltip.
LABELS = {
    "scoring.insufficient_coverage": "Evidence needed before a pattern is scored",
    "scoring.high": "Score that makes a pattern high",
    "scoring.medium": "Score that makes a pattern medium",
    "health.min_patterns_with_evidence": "Patterns with enough evidence before health is judged",
    "health.red_high_patterns": "High patterns that make a pilot red",
    "health.amber_medium_patterns": "Medium patterns that make a pilot amber",
    "health.months_in_pilot_amber": "Months in the pilot stage that make a pilot amber",
    "analysis.smoothing_weeks": "Weeks averaged for live and lab values",
    "analysis.first_live_weeks": "Weeks that count as the first live results",
    "analysis.decay_min_weeks": "Live weeks needed before decay is judged",
    "analysis.decay_warning": "Decay that is a warning",
    "analysis.decay_critical": "Decay that is critical",
    "analysis.decay_reference_weeks": "First live weeks that decay is measured from",
    "analysis.decay_noise_k": "How far beyond weekly noise a decay must go",
    "analysis.kpi_noise_k": "How far beyond its own noise a KPI must trail its plan",
    "analysis.alignment_min_periods": "Common weeks or months needed to judge alignment",
    "analysis.alignment_max_lag": "Periods the KPI may lag behind the model",
    "analysis.significance": "Chance below which a trend counts",
    "analysis.adoption_min_weeks": "Weeks of usage needed before adoption is judged",
    "analysis.min_respondents": "Fewest respondents shown for a wave or a team",
    "analysis.drift_reference_weeks": "First live weeks that drift is measured from",
    "analysis.drift_current_weeks": "Last live weeks compared for drift",
    "analysis.drift_warning": "Drift that is a warning",
    "analysis.drift_critical": "Drift that is critical",
    "analysis.participation_warning": "Survey participation below which a warning shows",
    "analysis.usage_trend_weeks": "Weeks of usage the active-users trend is judged on",
}
EXPLANATIONS = {
    "scoring.insufficient_coverage": "A pattern is scored only when at least this share of its signals' weight is known; "
    "with less it reads “insufficient evidence”, never “low”.",
    "scoring.high": "A pattern whose score (0–100) is at or above this reads high.",
    "scoring.medium": "A pattern whose score (0–100) is at or above this, and below high, reads medium; below it, low.",
    "health.min_patterns_with_evidence": "With fewer of the five patterns scored, a pilot that is not red or amber reads “insufficient evidence”.",
    "health.red_high_patterns": "A pilot with at least this many high patterns is red; so is one with a pattern high on decisive evidence.",
    "health.amber_medium_patterns": "A pilot with at least this many medium patterns is amber; so is one with a single high pattern.",
    "health.months_in_pilot_amber": "A pilot this long in the pilot stage is at least amber, and red when a pattern is also high.",
    "analysis.smoothing_weeks": "Live and lab values are averages over this many weeks, so one noisy week decides nothing.",
    "analysis.first_live_weeks": "The first live results are the average of this many weeks once live data starts.",
    "analysis.decay_min_weeks": "Decay is judged only once a metric has this many weeks of live data.",
    "analysis.decay_warning": "A live level this share below its first live weeks is a warning.",
    "analysis.decay_critical": "A live level this share below its first live weeks is critical.",
    "analysis.decay_reference_weeks": "Decay compares the live level with the average of this many first live weeks.",
    "analysis.decay_noise_k": "A drop counts as decay only when it is this many standard errors of the pilot's own week-to-week noise.",
    "analysis.kpi_noise_k": "A KPI counts as behind plan only when its shortfall is also this many standard errors of its own ups and downs.",
    "analysis.alignment_min_periods": "With fewer weeks (or months) where both the model metric and the KPI are known, alignment reads “insufficient data”.",
    "analysis.alignment_max_lag": "The KPI may follow the model metric by up to this many weeks (or months).",
    "analysis.significance": "A trend or a link between two series counts when chance alone would give it less often than this (5% = 1 in 20).",
    "analysis.adoption_min_weeks": "Adoption is judged only with at least this many weeks of usage data.",
    "analysis.min_respondents": "A survey wave or a team with fewer respondents is not judged or shown, so nobody can be singled out.",
    "analysis.drift_reference_weeks": "Drift compares a live series with the average of its first this-many weeks.",
    "analysis.drift_current_weeks": "Drift looks at the average of a live series' last this-many weeks.",
    "analysis.drift_warning": "A move of this many standard deviations from the first weeks is a warning.",
    "analysis.drift_critical": "A move of this many standard deviations from the first weeks is critical.",
    "analysis.participation_warning": "Fewer survey respondents than this share of the people asked is a warning.",
    "analysis.usage_trend_weeks": "Whether active users are rising or falling is judged on this many last weeks of usage data.",
}
# Settings that are shares (0.6 in the file): the page shows and takes them as whole per cent (60%).
# A signal's threshold is a share when its unit says so ("share of …", "relative …").
SHARES = {
    "scoring.insufficient_coverage",
    "analysis.decay_warning",
    "analysis.decay_critical",
    "analysis.significance",
    "analysis.participation_warning",
}


@dataclass(frozen=True)
class ThresholdSetting:
    """One setting as the Thresholds page shows it."""

    key: str  # "analysis.decay_warning", or "signals.live_decay" for a signal's threshold
    section: str
    label: str
    explanation: str
    in_file: float
    in_force: float
    whole_number: bool
    changed_by: str | None = None
    changed_at: datetime | None = None
    share: bool = False  # a share (0.6): shown as a per cent (60%); the file, the store and the CSV keep 0.6
    per_cent: bool = False  # already in per cent (40, unit "% of effort"): shown as 40%

    def shown(self, value: float) -> str:
        """`value` of this setting as people read it: "60%" for a share, "40%" for a value in per cent, "18" or "2.5" otherwise."""
        if self.share:
            return setting_percent(value)
        return _shown(value, self.whole_number) + ("%" if self.per_cent else "")


def _section_values(catalogue: Catalogue) -> dict[str, tuple[str, float, bool]]:
    """Every editable key: (section title, value, whether it is a whole number)."""
    found: dict[str, tuple[str, float, bool]] = {}
    for section, (title, model) in SECTIONS.items():
        values = getattr(catalogue, section)
        for name, info in model.model_fields.items():
            found[f"{section}.{name}"] = (title, getattr(values, name), info.annotation is int)
    for pattern in catalogue.patterns.values():
        for signal in pattern.signals:
            if signal.threshold is not None:
                found[f"{SIGNAL_SECTION[0]}.{signal.key}"] = (SIGNAL_SECTION[1], signal.threshold, False)
    return found


def _label(catalogue: Catalogue, key: str, unit: bool = True) -> str:
    """The setting's name as the Thresholds page shows it (never its key); a signal's with its unit
    unless `unit` is False (the page's explanation says the unit)."""
    if key.startswith(SIGNAL_SECTION[0] + "."):
        signal = catalogue.signal(key.split(".", 1)[1])
        return f"{signal.question} ({signal.unit})" if signal.unit and unit else signal.question
    return LABELS.get(key) or key.split(".", 1)[-1].replace("_", " ").capitalize()


def _explanation(catalogue: Catalogue, key: str) -> str:
    """One sentence on what the setting does."""
    if key.startswith(SIGNAL_SECTION[0] + "."):
        name = key.split(".", 1)[1]
        pattern = next(p for p in catalogue.patterns.values() if any(s.key == name for s in p.signals))
        return f"A warning sign of {pattern.name}: it fires at this value" + (
            f" ({catalogue.signal(name).unit})." if catalogue.signal(name).unit else "."
        )
    return EXPLANATIONS.get(key, "")


def is_share(catalogue: Catalogue, key: str) -> bool:
    """Whether the setting is a share (0 to 1), so people read it as a per cent."""
    if key.startswith(SIGNAL_SECTION[0] + "."):
        unit = (catalogue.signal(key.split(".", 1)[1]).unit or "").strip()
        return unit.startswith(("share", "relative"))
    return key in SHARES


def _in_per_cent(catalogue: Catalogue, key: str) -> bool:
    return key.startswith(SIGNAL_SECTION[0] + ".") and (
        catalogue.signal(key.split(".", 1)[1]).unit or ""
    ).strip().startswith("%")


def threshold_label(key: str) -> str:
    """A threshold's name in words (for the audit trail, which records the key)."""
    try:
        return _label(load_catalogue(), key)
    except (KeyError, StopIteration, PilotHealthError, ValueError):
        return key.split(".", 1)[-1].replace("_", " ").capitalize()


def in_words(text: str, catalogue: Catalogue) -> str:
    """`text` with every setting key in it (“scoring.medium”, or “decay_critical” alone) replaced by its label."""
    import re

    known = _section_values(catalogue)
    names = {key.split(".", 1)[1]: key for key in known}

    def word(match: re.Match) -> str:
        key = match.group(0) if match.group(0) in known else names.get(match.group(0).split(".")[-1])
        return f"“{_label(catalogue, key)}”" if key else match.group(0)

    return re.sub(
        r"\b(?:(?:scoring|health|analysis|signals)\.)?[a-z]+(?:_[a-z]+)+\b|\b(?:scoring|health|analysis)\.[a-z]+\b",
        word,
        text,
    )


def with_overrides(catalogue: Catalogue, overrides: Mapping[str, float]) -> Catalogue:
    """The catalogue with these values in force (keys no longer in the catalogue are ignored),
    checked by the catalogue's own rules; its fingerprint says that it was changed."""
    known = _section_values(catalogue)
    wanted = tuple(sorted((k, float(v)) for k, v in overrides.items() if k in known))
    if not wanted:
        return catalogue
    cache_key = (catalogue.source, catalogue.fingerprint, wanted)
    if cache_key not in _APPLIED:
        if len(_APPLIED) > 64:
            _APPLIED.clear()
        _APPLIED[cache_key] = _apply(catalogue, wanted, known)
    return _APPLIED[cache_key]


_APPLIED: dict[tuple, Catalogue] = {}  # validating a catalogue takes a few milliseconds; pages ask often


class ThresholdProblem(ConfigError):
    """Thresholds that break the catalogue's rules (`where`: the section or setting; `problem`: why)."""

    def __init__(self, message: str, where: str, problem: str) -> None:
        super().__init__(message)
        self.where, self.problem = where, problem


def _apply(catalogue: Catalogue, overrides: tuple[tuple[str, float], ...], known: dict) -> Catalogue:
    data = catalogue.model_dump()
    for key, value in overrides:
        section, name = key.split(".", 1)
        value = int(round(value)) if known[key][2] else float(value)
        if section == SIGNAL_SECTION[0]:
            for pattern in data["patterns"].values():
                for signal in pattern["signals"]:
                    if signal["key"] == name:
                        signal["threshold"] = value
        else:
            data[section][name] = value
    digest = hashlib.sha256(json.dumps(overrides).encode()).hexdigest()[:8]
    data["fingerprint"] = f"{catalogue.fingerprint}+{digest}"
    data["overrides"] = dict(overrides)
    try:
        return Catalogue.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not isinstance(p, int)) or "the catalogue"
        problem = str(first["msg"]).removeprefix("Value error, ")
        raise ThresholdProblem(
            f"The thresholds set in the dashboard no longer fit the rules as shipped ({in_words(problem, catalogue)}); "
            "an administrator can set them back on the Thresholds page.",
            where,
            problem,
        ) from None


def catalogue_for(store: Store, at: datetime | None = None) -> Catalogue:
    """The catalogue in force for this store: the file, with the thresholds set in the dashboard —
    those in force now, or, given `at` (a pinned link's moment, UTC), those in force at that moment
    (a threshold set back to the file's value by then is the file's)."""
    with store.read() as con:
        overrides = queries.threshold_overrides(con) if at is None else queries.threshold_overrides_at(con, at)
    return with_overrides(load_catalogue(), {k: v["value"] for k, v in overrides.items()})


def threshold_settings(store: Store) -> list[ThresholdSetting]:
    """Every setting the Thresholds page lists, with its file value, the value in force and who set it."""
    file_catalogue = load_catalogue()
    with store.read() as con:
        overrides = queries.threshold_overrides(con)
    settings = []
    for key, (section, in_file, whole) in _section_values(file_catalogue).items():
        stored = overrides.get(key)
        settings.append(
            ThresholdSetting(
                key=key,
                section=section,
                label=_label(file_catalogue, key, unit=False),
                explanation=_explanation(file_catalogue, key),
                in_file=in_file,
                in_force=stored["value"] if stored else in_file,
                whole_number=whole,
                changed_by=stored["changed_by"] if stored else None,
                changed_at=stored["changed_at"] if stored else None,
                share=is_share(file_catalogue, key),
                per_cent=_in_per_cent(file_catalogue, key),
            )
        )
    return settings


def _shown(value: float, whole: bool) -> str:
    return f"{int(round(value))}" if whole else f"{value:g}"


def save_thresholds(store: Store, values: Mapping[str, float], by: Person | str) -> list[str]:
    """Set these thresholds (a value equal to the file's removes the dashboard's value). Checked
    all together before anything is stored; each change gets an audit line and a row of the
    thresholds' history, in the same transaction. Returns the keys changed."""
    person = as_person(by)
    person.require("edit_thresholds", "change thresholds")
    file_catalogue = load_catalogue()
    known = _section_values(file_catalogue)
    unknown = [k for k in values if k not in known]
    if unknown:
        raise PilotHealthError(f"There is no threshold {unknown[0]}; nothing was saved.")
    now = utc_now()
    with store.write() as con:
        stored = {k: v["value"] for k, v in queries.threshold_overrides(con).items()}
        wanted = dict(stored)
        for key, value in values.items():
            if value is None:
                raise PilotHealthError(f"{_label(file_catalogue, key)} needs a value; nothing was saved.")
            if abs(float(value) - known[key][1]) < 1e-12:
                wanted.pop(key, None)
            else:
                wanted[key] = float(value)
        try:
            with_overrides(file_catalogue, wanted)
        except ThresholdProblem as problem:
            where = f"“{_label(file_catalogue, problem.where)}”" if problem.where in known else "these thresholds"
            raise PilotHealthError(
                f"Not saved: {where} cannot be set so — {in_words(problem.problem, file_catalogue)}."
            ) from None
        changed = [k for k in sorted(set(stored) | set(wanted)) if stored.get(k) != wanted.get(k)]
        for key in changed:
            whole = known[key][2]
            before, after = stored.get(key, known[key][1]), wanted.get(key, known[key][1])
            if key in wanted:
                queries.put_threshold_override(con, key, wanted[key], person.name, now)
            else:
                queries.delete_threshold_override(con, key, person.name, now)
            queries.record_audit(
                con,
                now,
                person.name,
                "threshold_change",
                key,
                f"{_shown(before, whole)} → {_shown(after, whole)}" + (" (as shipped)" if key not in wanted else ""),
            )
    return changed
