"""Errors a person can act on. Each carries one plain sentence that the dashboard and the
command line show as it is, instead of a traceback."""
from __future__ import annotations


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
