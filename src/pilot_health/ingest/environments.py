"""The words that say lab or live (config/environments.toml), and reading them in cells and run names.

One file holds them (`PILOT_HEALTH_ENVIRONMENTS`), re-read when it changes: the words a cell may
hold (`prod`, `offline` …), which also count as words of a run name (`churn-live-02`), and the
column names that hold lab or live. Recognising columns and run names (recognise.py) and reading
the cells (metrics.py) both use this one list.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from pilot_health.config import reread_when_changed

# The prefixes MLflow (params., tags.) and W&B (config., summary.) put before a name.
NAME_PREFIXES = re.compile(r"^(params|param|tags|tag|config|summary)_")


def _key(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(text).strip().lower()).strip("_")


class EnvironmentWords(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lab: tuple[str, ...]
    live: tuple[str, ...]
    columns: tuple[str, ...] = ()

    @field_validator("lab", "live", "columns")
    @classmethod
    def _normalised(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        keys = tuple(dict.fromkeys(_key(w) for w in words if _key(w)))
        return keys

    @model_validator(mode="after")
    def _apart(self) -> EnvironmentWords:
        both = sorted(set(self.lab) & set(self.live))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be both lab and live")
        return self

    @property
    def by_environment(self) -> dict[str, tuple[str, ...]]:
        return {"lab": ("lab", *self.lab), "live": ("live", *self.live)}

    def of_cell(self, value: str) -> str | None:
        """A cell's whole text as lab or live, or None."""
        key = _key(value)
        return next((env for env, words in self.by_environment.items() if key in words), None)

    def of_name(self, name: str) -> str | None:
        """A run name as lab or live when its words (split at -, _, ., spaces) say one and not the other."""
        words = set(_key(name).split("_"))
        said = {env for env, options in self.by_environment.items() if words & set(options)}
        return said.pop() if len(said) == 1 else None

    def is_column_name(self, header: str) -> bool:
        key = _key(header)
        return key in self.columns or NAME_PREFIXES.sub("", key) in self.columns


def environments_path() -> Path:
    from pilot_health.config import load_config

    return load_config().environments_path


@reread_when_changed(environments_path)
def load_environment_words(path: Path) -> EnvironmentWords:
    """The lab and live words in force (re-read when the file changes)."""
    from pilot_health.config import read_settings_file

    words, _ = read_settings_file(
        path, "list of lab and live words", "config/environments.toml", "PILOT_HEALTH_ENVIRONMENTS", EnvironmentWords
    )
    return words
