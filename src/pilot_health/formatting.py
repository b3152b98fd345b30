"""Numbers as a steering committee reads them. Plain text only: never Markdown or HTML."""

from __future__ import annotations

import math
from datetime import datetime

BLANK = "—"  # what every number with no value reads as: an em dash, on screen, in packs and on the command line


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: float | None, currency: str | None = None) -> str:
    """An amount as people read it, in the configured currency (PILOT_HEALTH_CURRENCY, "$" as
    shipped): 1_650_000 -> '$1.65M', 820_000 -> '$820k', 9_500 -> '$9,500', -2_000 -> '-$2,000'.
    A currency code gets a space: 'CHF 820k'."""
    if _missing(value):
        return BLANK
    sign = "-" if value < 0 else ""
    value = abs(float(value))
    if value >= 1e9:
        amount = f"{value / 1e9:.2f}B".replace(".00B", "B")
    elif value >= 1e6:
        amount = f"{value / 1e6:.2f}M".replace(".00M", "M")
    elif value >= 1e4:
        amount = f"{value / 1e3:.0f}k"
    else:
        amount = f"{value:,.0f}"
    return f"{sign}{currency_prefix(currency)}{amount}"


def currency_prefix(currency: str | None = None) -> str:
    """What goes before an amount: the symbol as it is ('$', '€'), a code with a space ('CHF ')."""
    if currency is None:
        from pilot_health.config import currency_symbol

        currency = currency_symbol()
    return f"{currency} " if currency and currency[-1].isalpha() else currency


def percent(share: float | None, digits: int = 0) -> str:
    """A share as a whole per cent by default: 0.5778 -> '58%'; no value -> '—'. The one way a
    share is written as a per cent (the risk engine's evidence, the pages, the packs, the command line)."""
    if share is None or math.isnan(share):
        return BLANK
    return f"{share * 100:.{digits}f}%"


def setting_percent(share: float | None) -> str:
    """A share as set or measured, to three significant digits so nothing set is rounded away:
    0.6 -> '60%', 0.125 -> '12.5%', 0.0333 -> '3.33%'; no value -> '—'. For a threshold as its
    setting holds it and for a metric kept as a share."""
    if share is None or math.isnan(share):
        return BLANK
    return f"{share * 100:.3g}%"


_NUMBER_WORDS = (
    *("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"),
)


def number_words(count: int) -> str:
    """A small count in words ("twelve"), as prose writes it; from 21 on, in digits. For headings and
    captions that take a count from a constant, so the words change when the constant does."""
    return _NUMBER_WORDS[count] if 0 <= count < len(_NUMBER_WORDS) else f"{count:,}"


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
