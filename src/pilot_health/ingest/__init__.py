"""Uploads: read the exports teams already have, check every row, store all at once or not at all.

`ingest()` is the one entry point for the upload page and `python -m pilot_health ingest`."""

from .engine import ingest
from .outcome import IngestOptions, IngestResult
from .problems import Problem, Refused
from .recognise import KIND_LABELS, KINDS, Mapping
from .storing import upload_history, withdraw

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
