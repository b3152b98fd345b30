"""Errors a person can act on. Each carries one plain sentence that the dashboard and the
command line show as it is, instead of a traceback."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path


class PilotHealthError(Exception):
    """Base class: `str(error)` is the one sentence to show to a business owner."""


class ConfigError(PilotHealthError):
    """A setting in the environment has a value we cannot use."""


class StoreError(PilotHealthError):
    """The store cannot be opened or used."""


class StoreLockedError(StoreError):
    """Another program held the store for longer than we were allowed to wait."""


class StoreVersionError(StoreError):
    """The store was written by a newer Pilot Health than this one."""


class NotFoundError(PilotHealthError):
    """A pilot, upload or other record that was asked for does not exist."""


class DuplicateError(PilotHealthError):
    """A record with the same identity already exists."""


class AccessDenied(PilotHealthError):
    """The person has no right to do this (their role, or a business-unit limit)."""


# -- operating-system failures ------------------------------------------------------------------
# A full disk, a folder Pilot Health may not write, a read-only disk: problems a person fixes, not
# bugs. They arrive as OSError (Python's own file work) or as DuckDB's IOException, whose text
# carries the system's words ("No space left on device"); both become one sentence here.

_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_NOT_ALLOWED = (errno.EACCES, errno.EPERM)
_PHRASES = (
    ("No space left on device", errno.ENOSPC),
    ("Disk quota exceeded", errno.ENOSPC),
    ("Permission denied", errno.EACCES),
    ("Operation not permitted", errno.EACCES),
    ("Read-only file system", errno.EROFS),
)
_QUOTED_PATH = re.compile(r"[\"'](/[^\"']+)[\"']")


def os_problem(error: BaseException) -> str | None:
    """The one sentence for a full disk, a refused permission or a read-only disk, naming the file
    or folder and what to do; None for anything else."""
    code, path = None, None
    if isinstance(error, OSError) and error.errno is not None:
        code, path = error.errno, error.filename
    elif type(error).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        text = str(error)
        code = next((number for phrase, number in _PHRASES if phrase in text), None)
        found = _QUOTED_PATH.search(text)
        path = found.group(1) if found else None
    if code is None:
        return None
    place = Path(os.fsdecode(path)) if path else None
    if code in _NO_SPACE:
        where = (
            f"the disk holding {place.parent}"
            if place
            else "a disk Pilot Health writes to (the store's folder, the output folder or the temporary folder)"
        )
        return f"{where[0].upper()}{where[1:]} is full; free some space there and run again (nothing was half-written)."
    if code == errno.EROFS:
        where = (
            f"{place.parent} is on a read-only disk"
            if place
            else "a folder Pilot Health must write to is on a read-only disk"
        )
        return (
            f"{where[0].upper()}{where[1:]}; choose a folder that can be written (or remount the disk) and run again."
        )
    if code in _NOT_ALLOWED:
        what = str(place) if place else "a file it needs"
        return f"Pilot Health may not write or read {what} (permission denied); fix the permissions or choose another path, and run again."
    return None
