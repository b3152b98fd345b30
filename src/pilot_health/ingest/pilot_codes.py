"""The file's pilot codes against the register: a code that is not a pilot (or not one of the
uploader's business units) refuses the file, naming the closest codes."""

from __future__ import annotations

import difflib
import re

from pilot_health.ingest.problems import Refused
from pilot_health.ingest.run import Run


def closest_codes(code: str, known: list[str]) -> list[str]:
    """The register's codes a mistyped code may have meant: the same letters and digits, then look-alikes."""
    squeezed = {re.sub(r"[^A-Z0-9]", "", k): k for k in known}
    exact = squeezed.get(re.sub(r"[^A-Z0-9]", "", code.upper()))
    close = difflib.get_close_matches(code.upper(), known, n=3, cutoff=0.5)
    return ([exact] if exact else []) + [c for c in close if c != exact]


def refuse_unknown_pilots(run: Run, known: list[str], pilots: list[str] | None = None) -> None:
    """Refuse a file with rows for pilots that are not in the register (or not the uploader's);
    `pilots`: the file's distinct pilot codes, when known already (see stored_facts)."""
    if pilots is not None:
        wanted = set(known)
        unknown = sorted(p for p in pilots if p is not None and p not in wanted)
    else:
        unknown = [
            r[0]
            for r in run.con.execute(
                "SELECT DISTINCT pilot_id FROM ingest_parsed WHERE pilot_id IS NOT NULL "
                "AND pilot_id NOT IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1",
                [known],
            ).fetchall()
        ]
    if not unknown:
        return
    parts = []
    for code in unknown[:5]:
        near = closest_codes(code, known)
        parts.append(f"{code} (closest: {', '.join(near)})" if near else code)
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    if run.route.limited_to is not None:
        raise Refused(
            f"{run.result.file_name} has rows for pilot codes that are not pilots of {run.route.limited_to} "
            f"(the business units you may upload to): {'; '.join(parts)}{more}. Correct the codes in the file, "
            "or ask an administrator to upload it; nothing was stored."
        )
    raise Refused(
        f"{run.result.file_name} has rows for pilot codes that are not in the register: {'; '.join(parts)}{more}. "
        "Correct the codes in the file, or add the pilots to the register first; nothing was stored."
    )
