"""What an upload says and what it comes back with: the options of the person uploading and the result.

`IngestOptions` is what the person uploading says about the file; `IngestResult` is the engine's answer,
built up by the steps of one pass and returned by `ingest()` (the page, the command line's JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pilot_health.ingest.problems import Problem
from pilot_health.ingest.reading import FileFormat
from pilot_health.ingest.recognise import Mapping
from pilot_health.lazy import (
    pandas as pd,  # imported when a table is made: the command line's ingest of a plain file needs none
)
from pilot_health.rules.metric_dictionary import MetricAnswer, MetricInfo


@dataclass
class IngestOptions:
    """What the person uploading says about the file (everything optional)."""

    kind: str | None = None  # pilot_register | metrics | survey | usage; detected when None
    pilot_id: str | None = None  # when the file has no pilot column
    environment: str | None = None  # lab | live, when the file has no such column
    metric_kind: str | None = None  # technical | business, for every row; inferred per metric when None
    metric_answers: dict[str, MetricAnswer] = field(
        default_factory=dict
    )  # metric name -> what it is (stored with the upload)
    mapping: dict[str, str] = field(default_factory=dict)  # column -> target, overriding what was recognised
    date_order: str | None = None  # dmy | mdy, for dates like 03/04/2024
    decimal: str | None = None  # point | comma
    wave: int | None = None  # survey wave when the file has none (default: the pilot's next wave)
    observed_on: date | None = None  # the date for exports without dates (W&B chart exports)
    environment_from_names: bool | None = None  # lab/live from run names when the file proposes it; None: as proposed
    keep_unfinished_runs: bool = False  # keep failed, crashed, killed and still-running runs of run tables
    metric_name: str | None = None  # the metric's name when a one-column-per-date file has no measure column
    replace_existing: bool = False  # replace stored observations/responses/pilots the file repeats
    store_again: bool = False  # store even if identical bytes are already stored
    uploaded_by: str = "local user"


@dataclass
class IngestResult:
    status: str  # ready | stored | refused | duplicate
    file_name: str
    sha256: str
    size: int
    kind: str | None = None
    format: FileFormat | None = None
    mapping: Mapping | None = None
    headers: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_to_store: int = 0
    rows_rejected: int = 0
    rows_left_out: int = 0
    rows_replaced: int = 0
    already_stored: int = 0
    refusal: str | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    preview: pd.DataFrame | None = None  # an empty table unless ingest(..., tables=False)
    rejected_rows: pd.DataFrame | None = None  # the same
    date_range: tuple[datetime, datetime] | None = None
    metrics: list[str] = field(default_factory=list)
    pilots: list[str] = field(default_factory=list)
    pilot_column: bool = False
    environment_column: bool = False
    upload_id: int | None = None
    duplicate_of: int | None = None
    needs: list[str] = field(default_factory=list)  # answers the file does not give: pilot_id, environment
    new_metrics: list[MetricInfo] = field(default_factory=list)  # metrics nobody has described yet (with a guess)
    seconds: float = 0.0
    unfinished_runs: int = 0  # failed or still-running runs in a run table (left out unless kept)
    environment_source: str | None = None  # where lab or live comes from, in words

    @property
    def rows_stored(self) -> int:
        return self.rows_to_store if self.status == "stored" else 0

    def as_json(self) -> dict[str, Any]:
        """The command line's one JSON object."""
        errors = [p.as_dict() for p in self.problems]
        if self.refusal:
            errors.insert(0, {"row": None, "column": None, "message": self.refusal})
        return {
            "status": self.status,
            "upload_id": self.upload_id,
            "rows_stored": self.rows_stored,
            "rows_rejected": self.rows_rejected,
            "rows_left_out": self.rows_left_out,
            "rows_replaced": self.rows_replaced,
            "warnings": self.warnings,
            "errors": errors,
            "file": self.file_name,
            "kind": self.kind,
            "format": self.format.describe() if self.format else None,
            "export": self.mapping.export if self.mapping else None,
            "metrics": self.metrics,
            "pilots": self.pilots,
            "duplicate_of": self.duplicate_of,
            "environment": self.environment_source,
            "unfinished_runs": self.unfinished_runs,
            "date_range": [d.isoformat() for d in self.date_range] if self.date_range else None,
            "new_metrics": [
                {"metric": m.label, "kind": m.kind, "direction": m.direction, "unit": m.unit, "source": m.source}
                for m in self.new_metrics
            ],
        }
