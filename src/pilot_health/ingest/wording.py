"""Words the checks write into their messages: lists of rows, values and moments, as people say them."""

from __future__ import annotations

from datetime import datetime


def and_(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def rows_words(lines: list[int], more: int = 0) -> str:
    """'Rows 12 and 15', 'Row 7', 'Rows 3, 8 and 9 (and 4 more)'."""
    more = max(more, 0)
    words = ("Row " if len(lines) == 1 and not more else "Rows ") + and_([str(line) for line in lines])
    return words + (f" (and {more} more)" if more > 0 else "")


def number(value: float) -> str:
    """A value as written in a message: 0.8, 3 (no trailing .0)."""
    return repr(float(value)).removesuffix(".0")


def different(values: list[float]) -> str:
    """'two different values (0.81 and 0.79)' (in the rows' order), '3 different values (0.8, 0.79 and 0.77)'."""
    distinct = list(dict.fromkeys(values))
    shown = [number(x) for x in distinct[:6]] + ([f"{len(distinct) - 6} more"] if len(distinct) > 6 else [])
    return f"{'two' if len(distinct) == 2 else len(distinct)} different values ({and_(shown)})"


def when(moment: datetime) -> str:
    """'on 2024-03-01', or 'at 2024-03-01 09:30 UTC' when the moment has a time of day."""
    if moment.hour == moment.minute == moment.second == 0 and not moment.microsecond:
        return f"on {moment:%Y-%m-%d}"
    return f"at {moment:%Y-%m-%d %H:%M}" + (f":{moment:%S}" if moment.second or moment.microsecond else "") + " UTC"
