"""Where each row's lab or live comes from: a column, the run names, or one answer for the whole file."""

from __future__ import annotations

from pilot_health.ingest.outcome import IngestOptions
from pilot_health.ingest.recognise import Mapping


def env_words(environment: str) -> list[str]:
    """The words that say `environment` (lab or live) in a cell or a run name, as configured."""
    from pilot_health.ingest.environments import load_environment_words

    return sorted(load_environment_words(None).by_environment[environment])


def names_split(mapping: Mapping, options: IngestOptions) -> bool:
    """Is lab or live taken from the run names? When the file's run names say it (a proposal) and
    the person uploading has not said otherwise: declined, or one environment chosen for all rows."""
    if (
        mapping.kind != "metrics"
        or not mapping.defaults.get("environment_from_names")
        or mapping.column_for("environment")
    ):
        return False
    if options.environment_from_names is not None:
        return options.environment_from_names
    return options.environment not in ("lab", "live")


def environment_source(mapping: Mapping, options: IngestOptions) -> str | None:
    """Where each row's lab or live comes from, in words (the receipt and the command line say it)."""
    if mapping.kind != "metrics":
        return None
    column = mapping.column_for("environment")
    if column:
        return f"from the column “{column.strip()}”"
    if names_split(mapping, options):
        return "from the run names"
    chosen = options.environment or mapping.defaults.get("environment")
    return f"{chosen} for every row" if chosen in ("lab", "live") else None
