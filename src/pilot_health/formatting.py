"""Numbers as a steering committee reads them. Plain text only: never Markdown or HTML."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Optional


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: Optional[float]) -> str:
    """1_650_000 -> '1.65M', 820_000 -> '820k', 950 -> '950'."""
    if _missing(value):
        return "—"
    sign = "-" if value < 0 else ""
    value = abs(float(value))
    if value >= 1e9:
        return f"{sign}{value / 1e9:.2f}B".replace(".00B", "B")
    if value >= 1e6:
        return f"{sign}{value / 1e6:.2f}M".replace(".00M", "M")
    if value >= 1e4:
        return f"{sign}{value / 1e3:.0f}k"
    return f"{sign}{value:,.0f}"


def percent(share: Optional[float], digits: int = 0) -> str:
    if _missing(share):
        return "—"
    return f"{share * 100:.{digits}f}%"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else (plural_form or singular + 's')}"


def file_size(size: int) -> str:
    """A file's size as people read it: '1 byte', '812 bytes', '1.5 KB', '250 KB', '12 MB' (never '0 KB')."""
    if size < 1024:
        return plural(size, "byte")
    value, unit = size / 1024, "KB"
    for bigger in ("MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}".replace(".0 ", " ") if value < 10 else f"{value:,.0f} {unit}"


def moment(as_of: datetime) -> str:
    """The moment a view was computed for, as people read it: a day's end (the dashboard's "now",
    see results.now_moment) is just the day; any other moment (a pinned link) keeps its time."""
    if (as_of.hour, as_of.minute, as_of.second) == (23, 59, 59):
        return f"{as_of:%d %b %Y}"
    return f"{as_of:%d %b %Y %H:%M} UTC"
