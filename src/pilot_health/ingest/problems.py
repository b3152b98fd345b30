"""How the ingest engine says no: a whole file refused, or one row rejected."""

from __future__ import annotations

from dataclasses import dataclass

from pilot_health.errors import PilotHealthError


class Refused(PilotHealthError):
    """The whole file is refused; nothing is stored. The message names the file and what to do."""


@dataclass(frozen=True)
class Problem:
    """One rejected row (or cell): where it is and why, in words a business owner understands."""

    row: int | None  # line in the file (1 = the first line), when known
    column: str | None
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}
