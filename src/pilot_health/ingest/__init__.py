"""Uploads: read the exports teams already have, check every row, store all at once or not at all.

`ingest()` is the one entry point for the upload page and `python -m pilot_health ingest`."""

from pilot_health.ingest.engine import ingest
from pilot_health.ingest.outcome import IngestOptions, IngestResult
from pilot_health.ingest.problems import Problem, Refused
from pilot_health.ingest.recognise import KIND_LABELS, KINDS, Mapping
from pilot_health.ingest.storing import upload_history, withdraw

__all__ = [
    "IngestOptions",
    "IngestResult",
    "ingest",
    "upload_history",
    "withdraw",
    "Problem",
    "Refused",
    "KINDS",
    "KIND_LABELS",
    "Mapping",
]
