"""From the bytes of an uploaded file to a clean, UTF-8, delimited body that DuckDB can read.

Real exports are not tidy CSV: they come in several encodings, with or without a byte-order mark,
with `;`, tab or `|` as delimiter, behind title lines and `#` comments, with two or three header
rows, totals and footers at the end, or a second table after a blank line. This module works out
all of that from the head and the tail of the file, in Python, and leaves the body — which may be
millions of lines — untouched for DuckDB to parse in bulk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import marshal
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from pilot_health.formatting import plural
from pilot_health.ingest.problems import Refused

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
HEAD_LINES = 400
TAIL_LINES = 30
BINARY_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"BM": None,
    b"\x1f\x8b": "a gzip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"RIFF": "a media file",
}
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
FOOTER_WORDS = re.compile(
    r"^\s*(?:(?:grand\s+)?totals?|sum|summary|all\s+users|overall|gesamtergebnis|summe|total\s+g[ée]n[ée]ral|total\s+general)\s*:?\s*$"
    r"|^\s*(?:report\s+generated|generated\s+(?:by|on|at)|exported\s+(?:by|on|at)|source\s*:|copyright|©|\(c\)|"
    r"page\s+\d+\s+of|data\s+as\s+of|end\s+of\s+report)",
    re.IGNORECASE,
)
# A total row (a label like `Grand Total` and numbers): a row of the table left out, so it is counted as left out.
TOTAL_ROW = re.compile(
    r"^\s*(?:(?:grand\s+)?totals?|sum|overall|gesamtergebnis|summe|total\s+g[ée]n[ée]ral|total\s+general)\s*:?\s*$",
    re.IGNORECASE,
)


@dataclass
class FileFormat:
    """What was detected about the file, said in words on the upload page and in receipts."""

    container: str  # "text" or "xlsx"
    encoding: str = "utf-8"
    byte_order_mark: bool = False
    delimiter: str = ","
    sep_line: bool = False
    sheet: str | None = None
    preamble_lines: int = 0
    header_rows: int = 1
    footer_lines: int = 0
    total_rows: int = 0  # of the footer lines, rows of totals (counted as rows left out)
    second_table_lines: int = 0

    def describe(self) -> str:
        if self.container == "xlsx":
            parts = [f"Excel workbook, sheet “{self.sheet}”"]
        else:
            bom = " with byte-order mark" if self.byte_order_mark else ""
            parts = [
                f"{self.encoding.upper()}{bom} text, {DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated"
            ]
            if self.sep_line:
                parts.append("a “sep=” line")
        if self.preamble_lines:
            parts.append(f"{plural(self.preamble_lines, 'line')} before the header skipped")
        if self.header_rows > 1:
            parts.append(f"{self.header_rows} header rows")
        if self.footer_lines:
            parts.append(f"{plural(self.footer_lines, 'total/footer line')} at the end skipped")
        if self.second_table_lines:
            parts.append(f"a second table ({plural(self.second_table_lines, 'line')}) after a blank line ignored")
        return "; ".join(parts)


@dataclass
class DelimitedText:
    """The file's header and where its body is: a UTF-8 file of body lines only."""

    format: FileFormat
    header: list[str]
    header_rows: list[list[str]]
    body_path: Path
    first_body_line: int  # 1-based line of the original file where the body starts
    body_lines: int  # physical lines in the body file
    sample: list[list[str]]  # the first body records, parsed in Python (for recognising columns)
    warnings: list[str] = field(default_factory=list)
    skip_lines: int = 0  # lines of body_path before the body (when DuckDB reads the original file)
    line_break: str | None = None  # "\n" when DuckDB must be told the lines end in LF (see _one_line_break)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- what kind of bytes ---------------------------------------------------------------------


def sniff_container(data: bytes, file_name: str) -> str:
    """'xlsx' or 'text', or refuse what cannot be read, judged by content (never by name)."""
    if not data or data.isspace():
        raise Refused(f"{file_name} is empty: there is nothing to read.")
    if data.startswith(b"PK\x03\x04"):
        _zip_directory(data, file_name)  # before the directory is listed: it could hold millions of entries
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            raise Refused(
                f"{file_name} looks like a damaged zip or Excel file and cannot be read; export it again."
            ) from None
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise Refused(
            f"{file_name} is a zip archive, not a spreadsheet or CSV export; unpack it and upload the CSV or .xlsx inside."
        )
    if data.startswith(OLE_SIGNATURE):
        raise Refused(
            f"{file_name} is an old-style Excel (.xls) or Office file; open it and save it as .xlsx or CSV, then upload that."
        )
    for signature, what in BINARY_SIGNATURES.items():
        if what and data.startswith(signature):
            raise Refused(f"{file_name} is {what}, not a CSV or Excel export.")
    return "text"


def decode(data: bytes, file_name: str) -> tuple[str, str, bool]:
    """Return (text, encoding, had a byte-order mark)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8", True
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", errors="replace"), "utf-16-le", True
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", errors="replace"), "utf-16-be", True
    head = data[:8192]
    even_nuls = head[0::2].count(0)
    odd_nuls = head[1::2].count(0)
    half = max(1, len(head) // 2)
    if odd_nuls > 0.3 * half and even_nuls < 0.05 * half:
        return data.decode("utf-16-le", errors="replace"), "utf-16-le", False
    if even_nuls > 0.3 * half and odd_nuls < 0.05 * half:
        return data.decode("utf-16-be", errors="replace"), "utf-16-be", False
    if b"\x00" in head:
        raise Refused(f"{file_name} holds binary data, not text; upload a CSV, TSV or .xlsx export.")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, encoding = data.decode("cp1252"), "windows-1252"
        except UnicodeDecodeError:
            text, encoding = data.decode("latin-1"), "latin-1"
    sample = text[:8192]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n\f")
    if controls > 0.02 * max(1, len(sample)):
        raise Refused(f"{file_name} holds binary data, not text; upload a CSV, TSV or .xlsx export.")
    return text, encoding, False


# -- structure --------------------------------------------------------------------------------


def _records(lines: list[str], delimiter: str) -> list[tuple[int, int, list[str]]]:
    """Parse lines into records: (first line index, last line index, fields). Handles quoted newlines."""
    reader = csv.reader(
        iter(lines), delimiter=delimiter, quotechar='"', doublequote=True, skipinitialspace=False, strict=False
    )
    out = []
    last = 0
    try:
        for fields in reader:
            out.append((last, reader.line_num - 1, fields))
            last = reader.line_num
    except csv.Error:
        pass
    return out


def _blank(fields: list[str]) -> bool:
    return all(not f.strip() for f in fields)


def choose_delimiter(lines: list[str]) -> str:
    """The delimiter that splits the head of the file into the most consistent, widest rows."""
    best, best_score = ",", -1.0
    content = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    for delimiter in DELIMITERS:
        counts = [len(fields) for _, _, fields in _records(content, delimiter) if not _blank(fields)]
        if not counts:
            continue
        mode = max(set(counts), key=lambda c: (counts.count(c), c))
        if mode < 2:
            continue
        score = counts.count(mode) / len(counts) * (1 + min(mode, 30) / 30)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _is_qualtrics_import_row(fields: list[str]) -> bool:
    filled = [f for f in fields if f.strip()]
    return bool(filled) and sum(f.strip().startswith('{"ImportId"') for f in filled) >= 0.6 * len(filled)


SUBHEADER_MARKERS = ("Response", "Open-Ended Response", "Other (please specify)")


def _is_surveymonkey_header(fields: list[str]) -> bool:
    return bool(fields) and fields[0].strip().lower() == "respondent id"


def _is_subheader_row(fields: list[str], header: list[str]) -> bool:
    """SurveyMonkey's second header row: `Response` / `Open-Ended Response` under single questions,
    each statement's (or option's) text under a matrix question whose text spans several columns
    of the first row, and blank under the metadata columns (a response always has its Respondent ID)."""
    filled = [f.strip() for f in fields if f.strip()]
    if not filled:
        return False
    markers = sum(f in SUBHEADER_MARKERS for f in filled)
    if markers >= max(1, len(filled) // 2):
        return True
    if fields[0].strip():
        return False
    if _is_surveymonkey_header(header):
        return True
    below_blank = sum(1 for i, f in enumerate(fields) if f.strip() and i < len(header) and not header[i].strip())
    return markers >= 1 and below_blank >= 1


def find_header(records: list[tuple[int, int, list[str]]], file_name: str) -> tuple[int, int]:
    """Index of the header record and how many header records there are.

    The header is the first record as wide as the table's typical row; anything before it (titles,
    `#` comments, blank lines) is preamble."""
    widths = [
        len(f)
        for _, _, f in records
        if not _blank(f) and not (f[0].lstrip().startswith("#") and len([x for x in f if x.strip()]) == 1)
    ]
    if not widths:
        raise Refused(f"{file_name} has no table in it: no line has more than one column.")
    mode = max(set(widths), key=lambda c: (widths.count(c), c))
    for index, (_, _, fields) in enumerate(records):
        if _blank(fields) or fields[0].lstrip().startswith("#"):
            continue
        filled = sum(1 for f in fields if f.strip())
        if len(fields) >= mode and (filled >= max(2, int(0.5 * mode)) or _is_surveymonkey_header(fields)):
            rows = 1
            if index + 2 < len(records) and _is_qualtrics_import_row(records[index + 2][2]):
                rows = 3
            elif index + 1 < len(records) and _is_subheader_row(records[index + 1][2], fields):
                rows = 2
            return index, rows
    raise Refused(
        f"{file_name} has no header row that could be found; the first row of the table should name its columns."
    )


def combine_header(rows: list[list[str]], width: int) -> list[str]:
    """One name per column. Qualtrics keeps its column ids (row 1). SurveyMonkey's row 2 names a
    matrix question's statements (the question itself is over the first of its columns in row 1,
    the cells to its right blank): such a column is named by its statement, which is what a person
    reads on the page; a statement or option that is not unique (`Other (please specify)`, the same
    statement under two questions) is named `question - statement`. Blank or repeated names get
    a position suffix."""
    names = []
    first = rows[0] + [""] * (width - len(rows[0]))
    second = (rows[1] + [""] * width)[:width] if len(rows) == 2 else [""] * width
    counts: dict[str, int] = {}
    for sub in second:
        counts[sub.strip()] = counts.get(sub.strip(), 0) + 1
    current_parent = ""
    for index in range(width):
        name = first[index].strip()
        if name:
            current_parent = name
        sub = second[index].strip()
        if len(rows) == 2 and sub and sub not in ("Response", "Open-Ended Response"):
            if sub in SUBHEADER_MARKERS or counts[sub] > 1 or not current_parent:
                name = f"{current_parent} - {sub}" if current_parent else sub
            else:
                name = sub
        names.append(name or f"column_{index + 1}")
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _footer_count(records: list[tuple[int, int, list[str]]], width: int) -> int:
    """How many records at the end are totals or report footers rather than data. A row whose label
    is also the label of the row above is data (a column of labels like Amplitude's "All Users")."""
    labels = [next((f for f in fields if f.strip()), None) for _, _, fields in records]
    count = 0
    for index in range(len(records) - 1, -1, -1):
        fields = records[index][2]
        filled = [f for f in fields if f.strip()]
        if not filled:
            count += 1
            continue
        first = filled[0]
        above = next((label for label in reversed(labels[:index]) if label is not None), None)
        if len(filled) > 1 and above is not None and above.strip() == first.strip():
            break
        if (
            FOOTER_WORDS.match(first)
            or first.lstrip().startswith("#")
            or (len(filled) == 1 and len(fields) < width and width > 2)
        ):
            count += 1
            continue
        break
    return count


NON_SPACE = re.compile(rb"\S")


def _first_blank_line(raw: bytes, start: int, delimiter: str) -> int | None:
    """Offset of the line break that opens the first blank line at or after `start` (a line that
    is empty, or holds only spaces and delimiters), or None. One regex that starts with a literal
    line break keeps this fast on files of millions of lines."""
    filler = re.escape(b" \t" + (delimiter.encode() if delimiter != "\t" else b""))
    # A blank line's break is followed by filler, a line break or the end: the first such break is
    # found by a simpler pattern (half the time on 46 MB) and the exact search starts there.
    candidate = re.compile(rb"\n[" + filler + rb"\r\n]").search(raw, start)
    if candidate is None:
        return None  # at most the file's final line break
    match = re.compile(rb"\n[" + filler + rb"]*\r?(?:\n|$)").search(raw, candidate.start())
    if match is None or (match.end() == len(raw) and match.start() >= len(raw) - 2):
        return None  # only the file's final line break
    cut = match.start()
    return cut - 1 if cut > 0 and raw[cut - 1 : cut] == b"\r" else cut


def _lines(raw: bytes, start: int, end: int) -> list[bytes]:
    """The lines of raw[start:end], each with its line break. Only LF ends a line (CRLF too, as its
    LF): a carriage return on its own is inside a quoted cell, or was quoted by `_line_breaks`."""
    parts = raw[start:end].split(b"\n")
    return [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


STRAY_CR = re.compile(rb"\r(?!\n)")


def _line_breaks(raw: bytes) -> tuple[bytes, bool]:
    """Lines that end in CR only (old Mac files: more lone CRs than LFs) are made to end in LF, and
    CRs doubled before a line break (CR CR LF, from a file converted twice) are made one: returns the
    bytes and whether they changed. Other lone CRs are stray: see `_stray_crs`."""
    if b"\r" not in raw:  # most files: one fast search instead of two counts
        return raw, False
    lone = raw.count(b"\r") - raw.count(b"\r\n")
    if lone <= 0:
        return raw, False
    if lone > raw.count(b"\n"):
        return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n"), True
    fixed = re.sub(rb"\r\r+\n", b"\r\n", raw)
    return fixed, fixed != raw


def _stray_crs(raw: bytes, start: int) -> list[int]:
    """Positions of carriage returns on their own (not before LF) outside quoted cells, from `start`.
    Inside quotes a CR is part of the cell's text; outside, a CSV reader would take it for a line
    break in the middle of a row. Quotes are counted from `start` (a doubled quote counts twice)."""
    positions: list[int] = []
    quotes, last = 0, start
    if b"\r" not in raw:
        return positions
    for match in STRAY_CR.finditer(raw, start):
        quotes += raw.count(b'"', last, match.start())
        last = match.start()
        if quotes % 2 == 0:
            positions.append(match.start())
    return positions


def _quote_stray_crs(raw: bytes, positions: list[int], delimiter: str) -> tuple[bytes, list[int]]:
    """Put each cell that holds a stray CR in quotes, so the CR is read as part of that cell (as a
    spreadsheet shows it) and the row stays one row. Returns the bytes and the lines (1-based) concerned."""
    mark = delimiter.encode("utf-8")
    out: list[bytes] = []
    lines: list[int] = []
    last = 0
    for pos in positions:
        if pos < last:  # a second CR in a cell already quoted
            continue
        line_start = raw.rfind(b"\n", 0, pos) + 1
        before = raw.rfind(mark, line_start, pos)
        cell_start = before + len(mark) if before >= 0 else line_start
        line_end = raw.find(b"\n", pos)
        line_end = len(raw) if line_end < 0 else line_end
        if line_end > pos + 1 and raw[line_end - 1 : line_end] == b"\r":
            line_end -= 1
        after = raw.find(mark, pos, line_end)
        cell_end = after if after >= 0 else line_end
        out += [raw[last:cell_start], b'"', raw[cell_start:cell_end].replace(b'"', b'""'), b'"']
        last = cell_end
        line = raw.count(b"\n", 0, pos) + 1
        if not lines or lines[-1] != line:
            lines.append(line)
    out.append(raw[last:])
    return b"".join(out), lines


def _one_line_break(raw: bytes) -> tuple[bytes, str | None]:
    """DuckDB guesses a file's line break from its first lines and stops at the first line that
    ends otherwise: a file whose lines end in CRLF and LF both, or with a CR inside a quoted cell,
    is given LF throughout (a CRLF inside a quoted cell becomes LF too) and DuckDB is told so."""
    if b"\r" not in raw:
        return raw, None
    crlf = raw.count(b"\r\n")
    if raw.count(b"\r") == crlf and raw.count(b"\n") == crlf:
        return raw, None  # CRLF throughout, nothing else: DuckDB finds that by itself
    return raw.replace(b"\r\n", b"\n"), "\n"


def _lines_words(lines: list[int]) -> str:
    shown = [str(n) for n in lines[:8]]
    words = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    return (
        ("line " if len(lines) == 1 else "lines ") + words + (f" (and {len(lines) - 8} more)" if len(lines) > 8 else "")
    )


def _decoded(lines: list[bytes]) -> list[str]:
    return [line.decode("utf-8", errors="replace") for line in lines]


def split_text(
    raw: bytes, fmt: FileFormat, file_name: str, workdir: Path, source: Path | None = None, newlines: int | None = None
) -> DelimitedText:
    """Find the header and the body in UTF-8 bytes, looking only at the head and the tail.

    `source`, when given, is a file holding exactly `raw` (after a byte-order mark): if nothing has
    to be cut from the end, DuckDB reads it in place instead of a copy of the body. `newlines`: the
    line breaks (LF) in `raw`, when counted already (check_text_limits): not counted again."""
    warnings: list[str] = []
    given = raw
    raw, changed = _line_breaks(raw)
    if changed:
        source = None  # DuckDB reads the corrected copy
    start = 0
    first_end = raw.find(b"\n")
    first = raw[: first_end if first_end >= 0 else len(raw)].decode("utf-8", errors="replace").strip()
    sep = re.fullmatch(r'"?sep=(.)"?[,;]*', first, re.IGNORECASE)
    unusable_sep = None
    if sep and sep.group(1) == '"':  # the quote mark cannot also separate cells: skip the line, detect
        unusable_sep, start = first, first_end + 1
    elif sep:
        fmt.delimiter, fmt.sep_line = sep.group(1), True
        start = first_end + 1
    strays = _stray_crs(raw, start)
    if strays and not fmt.sep_line:  # choose the delimiter with the stray CRs read as spaces
        fmt.delimiter = choose_delimiter(
            _decoded(_lines(STRAY_CR.sub(b" ", raw[start : start + 1_000_000]), 0, 1_000_000)[:HEAD_LINES])
        )
    if strays:
        raw, stray_lines = _quote_stray_crs(raw, strays, fmt.delimiter)
        source = None
        warnings.append(
            f"{file_name} has a carriage return (an old-style line break) inside a cell that is not in quotes, on "
            f"{_lines_words(stray_lines)}; it was read as part of that cell, not as the end of the row. "
            "If the cell should not hold a line break, correct it and upload again."
        )
    raw, line_break = _one_line_break(raw)
    if line_break:
        source = None
    position, count = start, 0
    while count < HEAD_LINES:
        nl = raw.find(b"\n", position)
        if nl < 0:
            position = len(raw)
            break
        position, count = nl + 1, count + 1
    head_raw = _lines(raw, start, position)
    head_lines = _decoded(head_raw)
    if not fmt.sep_line and not strays:
        fmt.delimiter = choose_delimiter(head_lines)
    if unusable_sep:
        warnings.append(
            f"The first line of {file_name}, “{unusable_sep[:20]}”, names the quote mark as the separator, which cannot be; "
            f"it was skipped and the separator found from the rows ({DELIMITER_NAMES.get(fmt.delimiter, repr(fmt.delimiter))})."
        )
    records = _records(head_lines, fmt.delimiter)
    index, header_count = find_header(records, file_name)
    if records[index][1] > records[index][0] and index == len(records) - 1:
        # The header runs to the end of what was read: a quote opened in it is never closed.
        opened = sum(len(line) for line in head_raw[: records[index][0]])
        if head_raw and b"".join(head_raw)[opened:].count(b'"') % 2:
            line = records[index][0] + 1 + (1 if fmt.sep_line or unusable_sep else 0)
            raise Refused(
                f'{file_name}: a quote (") opened on line {line} is never closed, so the header and every line '
                "after it would be read as one cell. Close the quote (or remove it) and upload again; nothing was stored."
            )
    header_rows = [records[i][2] for i in range(index, min(index + header_count, len(records)))]
    width = max(len(r) for r in header_rows)
    header = combine_header(header_rows, width)
    fmt.preamble_lines = records[index][0]
    fmt.header_rows = header_count
    last_header = index + header_count - 1
    body_first_line_in_head = records[last_header][1] + 1 if last_header < len(records) else len(head_lines)
    body_start = start + sum(len(line) for line in head_raw[:body_first_line_in_head])
    first_body_line = body_first_line_in_head + 1 + (1 if fmt.sep_line or unusable_sep else 0)

    # A blank line followed by more content starts a second table: everything from it is ignored.
    body_end = len(raw)
    cut = _first_blank_line(raw, max(body_start - 1, 0), fmt.delimiter)
    if cut is not None:
        rest = raw[cut:].strip()
        if rest:
            fmt.second_table_lines = rest.count(b"\n") + 1
            first_rest = rest.splitlines()[0].decode("utf-8", errors="replace")[:60]
            warnings.append(
                f"{file_name} has more after a blank line ({plural(fmt.second_table_lines, 'line')}, starting “{first_rest}”); "
                "only the first table was read."
            )
        body_end = max(cut, body_start)

    # Totals and report footers at the end.
    tail_start, found = body_end, 0
    while found < TAIL_LINES and tail_start > body_start:
        nl = raw.rfind(b"\n", body_start, tail_start - 1)
        tail_start = nl + 1 if nl >= 0 else body_start
        found += 1
    if tail_start < body_end:
        tail_raw = _lines(raw, tail_start, body_end)
        tail_records = _records(_decoded(tail_raw), fmt.delimiter)
        footers = _footer_count(tail_records, width)
        if 0 < footers <= len(tail_records):
            cut_line = tail_records[len(tail_records) - footers][0]
            removed = [
                ", ".join(f for f in r[2] if f.strip())[:60] for r in tail_records[-footers:] if not _blank(r[2])
            ]
            body_end = tail_start + sum(len(line) for line in tail_raw[:cut_line])
            if removed:
                fmt.footer_lines = len(removed)
                fmt.total_rows = sum(
                    1
                    for r in tail_records[-footers:]
                    if len([f for f in r[2] if f.strip()]) > 1 and TOTAL_ROW.match(next(f for f in r[2] if f.strip()))
                )
                warnings.append(
                    f"Left out {plural(len(removed), 'total or footer line')} at the end: “{removed[0]}”"
                    + (" …" if len(removed) > 1 else "")
                    + "."
                )

    if body_end <= body_start or not NON_SPACE.search(raw, body_start, body_end):
        raise Refused(f"{file_name} has a header but no data rows.")
    skip_lines = 0
    if source is not None and body_end == len(raw):
        body_path, skip_lines = source, first_body_line - 1
    else:
        body_path = workdir / "body.csv"
        with open(body_path, "wb") as out:
            out.write(memoryview(raw)[body_start:body_end])
    sample_records = _records(
        _decoded(_lines(raw, body_start, min(body_end, body_start + 200_000))[:200]), fmt.delimiter
    )
    if newlines is not None and raw is given and body_end == len(raw):  # the body runs to the end: its breaks are known
        body_newlines = newlines - raw.count(b"\n", 0, body_start)
    else:
        body_newlines = raw.count(b"\n", body_start, body_end)
    return DelimitedText(
        format=fmt,
        header=header,
        header_rows=header_rows,
        body_path=body_path,
        first_body_line=first_body_line,
        body_lines=body_newlines + (0 if raw[body_end - 1 : body_end] == b"\n" else 1),
        sample=[r[2] for r in sample_records if not _blank(r[2])],
        warnings=warnings,
        skip_lines=skip_lines,
        line_break=line_break,
    )


# -- Excel ----------------------------------------------------------------------------------
#
# A workbook is a zip of XML parts, and its size on disk says little about the work it causes: a
# 1.6 KB file can declare a million rows by 16,384 columns, a 5 MB file can unpack to gigabytes of
# sheet XML. So nothing here trusts what the file declares. The zip's directory is checked first
# (how many parts, how big they say they are), then every XML part's prolog (a DOCTYPE is how
# entity bombs and external entities get in; spreadsheets never have one), and the sheet is
# streamed cell by cell through the XML parser, counting unpacked bytes, rows, columns, cells and
# characters as they come: a file past a limit is refused at that moment, and rows are never padded
# beyond the last filled cell actually seen.

MAX_ZIP_PARTS = 10_000  # a workbook has a few dozen parts; thousands of sheets and images at most
XML_PROLOG_BYTES = 1 << 20
SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
ROW_TAG, CELL_TAG, DATA_TAG = SHEET_NS + "row", SHEET_NS + "c", SHEET_NS + "sheetData"
FORMULA_TAG, VALUE_TAG = SHEET_NS + "f", SHEET_NS + "v"
XML_DECLARATIONS = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
ROOT_ELEMENT = re.compile(rb"<[A-Za-z_]")


def _limits(limits=None):
    if limits is not None:
        return limits
    from pilot_health.config import load_config

    return load_config().upload_limits


def _too_big_unpacked(file_name: str, limits) -> Refused:
    return Refused(
        f"{file_name} is too large to read: it unpacks to more than {limits.unpacked_mb:,} MB (the limit for one upload). "
        "Split it into smaller files or export it as CSV."
    )


def _too_many_rows(file_name: str, limits, where: str = "") -> Refused:
    return Refused(
        f"{file_name} has more than {limits.rows:,} rows, the limit for one upload{where}. "
        "Split it into smaller files and upload them one after the other."
    )


def _too_many_columns(file_name: str, limits, where: str = "") -> Refused:
    return Refused(
        f"{file_name} has more than {limits.columns:,} columns, the limit for one upload{where}. "
        "Remove the columns you do not need, or split it into smaller files."
    )


def _too_many_cells(file_name: str, limits) -> Refused:
    return Refused(
        f"{file_name} has more than {limits.cells:,} cells (the limit for one upload). "
        "Split it into smaller files, or remove the columns you do not need."
    )


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _zip_directory(data: bytes, file_name: str) -> None:
    """Refuse a zip whose directory is too long to list (read from its end record, in constant work)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or end + 22 > len(data):
        raise Refused(f"{file_name} looks like a damaged zip or Excel file and cannot be read; export it again.")
    parts, directory_size = struct.unpack_from("<HI", data, end + 10)
    if parts > MAX_ZIP_PARTS or directory_size > 200 * MAX_ZIP_PARTS:  # 0xFFFF / 0xFFFFFFFF: a zip64 directory
        raise Refused(
            f"{file_name} holds more than {MAX_ZIP_PARTS:,} parts, far more than any spreadsheet; "
            "it cannot be read. Export the table as CSV or .xlsx again."
        )


def _zip_parts(data: bytes, file_name: str, limits) -> None:
    """Refuse a zip whose parts say they unpack to more than the limit (before anything is
    unpacked). What the parts really unpack to is counted while they are read (`_Unpacked`), and
    Python's zip reader stops each part at its declared size (a bigger part fails its checksum)."""
    _zip_directory(data, file_name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise Refused(
            f"{file_name} looks like a damaged zip or Excel file and cannot be read; export it again."
        ) from None
    if len(infos) > MAX_ZIP_PARTS:
        raise Refused(
            f"{file_name} holds more than {MAX_ZIP_PARTS:,} parts, far more than any spreadsheet; "
            "it cannot be read. Export the table as CSV or .xlsx again."
        )
    if sum(info.file_size for info in infos) > limits.unpacked_bytes:
        raise _too_big_unpacked(file_name, limits)


class _Unpacked:
    """A part of the zip as a file object for the XML parser, counting the bytes really unpacked
    against what is left of the upload's limit (shared by every part read)."""

    def __init__(self, stream, budget: list[int], file_name: str, limits):
        self.stream, self.budget, self.file_name, self.limits = stream, budget, file_name, limits

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(65_536 if size is None or size < 0 else min(size, 1 << 20))
        self.budget[0] -= len(chunk)
        if self.budget[0] < 0:
            raise _too_big_unpacked(self.file_name, self.limits)
        return chunk


def _xml_prologs(archive: zipfile.ZipFile, file_name: str) -> None:
    """Refuse any XML part with a document type declaration before its first element: that is how
    billion-laughs entity expansion and external entities (XXE) get in, and no spreadsheet has one.
    (openpyxl also parses with defusedxml when it is installed; this check does not rely on it.)"""
    for info in archive.infolist():
        if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
            continue
        with archive.open(info) as part:
            head = part.read(65_536)
            while not ROOT_ELEMENT.search(head.replace(b"\x00", b"")) and len(head) < XML_PROLOG_BYTES:
                more = part.read(65_536)
                if not more:
                    break
                head += more
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            head = head.decode("utf-16", errors="replace").encode("utf-8")
        head = head.replace(b"\x00", b"")
        root = ROOT_ELEMENT.search(head)
        if XML_DECLARATIONS.search(head, 0, root.start() if root else len(head)):
            raise Refused(
                f"{file_name} is not a plain Excel workbook: it holds XML declarations that spreadsheets never contain "
                "(they can make a reader unpack endless text or read other files). Open it in Excel, save it again, "
                "and upload that, or export the table as CSV."
            )


def _iterparse():
    try:
        from defusedxml.ElementTree import iterparse
    except ImportError:  # the prolog check above already refused every DOCTYPE
        from xml.etree.ElementTree import iterparse

        return lambda source: iterparse(source, events=("start", "end"))
    return lambda source: iterparse(source, events=("start", "end"), forbid_dtd=True)


def _sheet_rows(source, parser, file_name: str, sheet: str, limits, counts: dict[str, int]):
    """(row number, cell texts up to the last filled one) for every row of one sheet, streamed.
    `parser` is openpyxl's cell parser (shared strings, dates from the cell styles); `counts`
    carries the cells already read in this upload, so the cell limit holds across sheets."""
    from openpyxl.utils import get_column_letter

    row_number, row_element, sheet_data = 0, None, None
    cells: dict[int, str] = {}
    characters = 0
    for event, element in _iterparse()(source):
        tag = element.tag
        if event == "start":
            if tag == ROW_TAG:
                number = element.get("r")
                row_number = int(number) if number and number.isdigit() else row_number + 1
                if row_number > limits.rows + 1:
                    raise _too_many_rows(file_name, limits, f" (sheet “{sheet}” goes on to row {row_number:,})")
                parser.row_counter, parser.col_counter = row_number, 0
                row_element, cells, characters = element, {}, 0
            elif tag == DATA_TAG:
                sheet_data = element
            continue
        if tag == CELL_TAG:
            counts["cells"] += 1
            if counts["cells"] > limits.cells:
                raise _too_many_cells(file_name, limits)
            cell = parser.parse_cell(element)
            value, column = cell["value"], cell["column"]
            if value is None and element.find(FORMULA_TAG) is not None and element.find(VALUE_TAG) is None:
                raise Refused(
                    f"{file_name}: cell {get_column_letter(min(column, 16_384))}{row_number} of sheet “{sheet}” is a formula "
                    "whose result was never saved, so its value is unknown. Open the file in Excel, save it, and upload again. "
                    "Nothing was stored."
                )
            text = _cell_text(value)
            if text:
                if column > limits.columns:
                    raise _too_many_columns(
                        file_name,
                        limits,
                        f" (sheet “{sheet}” has a value in column {get_column_letter(min(column, 16_384))}, row {row_number:,})",
                    )
                characters += len(text)
                if characters > limits.line_characters:
                    raise Refused(
                        f"{file_name}: row {row_number:,} of sheet “{sheet}” holds more than {limits.line_characters:,} characters "
                        "(the limit for one row). Shorten the long texts in it, or leave that row out."
                    )
                cells[column] = text
            element.clear()
            if row_element is not None:
                row_element.remove(element)
        elif tag == ROW_TAG:
            yield row_number, [cells.get(c, "") for c in range(1, max(cells) + 1)] if cells else []
            element.clear()
            if sheet_data is not None:
                sheet_data.remove(element)
            row_element = None


def xlsx_to_csv(data: bytes, file_name: str, workdir: Path, limits=None) -> tuple[Path, str]:
    """The first sheet with a table, written as comma-separated text (quoted) to a file in
    `workdir`, and the sheet's name. Each row is as wide as the table's widest filled row."""
    from openpyxl import load_workbook
    from openpyxl.worksheet._reader import WorkSheetParser

    limits = _limits(limits)
    _zip_parts(data, file_name, limits)
    damaged = (
        f"{file_name} is an Excel file that could not be read ({{}}); open and save it again, or export it as CSV."
    )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        _xml_prologs(archive, file_name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, zlib.error, NotImplementedError) as error:
        raise Refused(damaged.format(_what_failed(error))) from None
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - openpyxl raises many kinds for damaged files
        raise Refused(damaged.format(_what_failed(error))) from None
    budget = [limits.unpacked_bytes]
    counts = {"cells": 0}
    rows_path, csv_path = workdir / "sheet-rows.bin", workdir / "sheet.csv"
    try:
        for sheet in workbook.worksheets:
            parser = WorkSheetParser(
                None,
                sheet._shared_strings,
                data_only=True,
                epoch=workbook.epoch,
                date_formats=workbook._date_formats,
                timedelta_formats=workbook._timedelta_formats,
            )
            width = filled = last = 0
            try:
                with archive.open(sheet._worksheet_path) as part, open(rows_path, "wb") as rows_out:
                    for number, cells in _sheet_rows(
                        _Unpacked(part, budget, file_name, limits), parser, file_name, sheet.title, limits, counts
                    ):
                        if cells:
                            filled += 1
                            width = max(width, len(cells))
                        marshal.dump((max(number, last + 1), cells), rows_out)
                        last = max(number, last + 1)
                        if last > limits.rows + 1:
                            raise _too_many_rows(file_name, limits, f" (sheet “{sheet.title}”)")
            except Refused:
                raise
            except Exception as error:  # noqa: BLE001 - damaged XML, a bad shared-string index, a bad CRC …
                if isinstance(error, MemoryError):
                    raise
                raise Refused(damaged.format(_what_failed(error))) from None
            if filled >= 2 and width >= 1:
                with open(rows_path, "rb") as rows_in, open(csv_path, "w", encoding="utf-8", newline="") as out:
                    writer = csv.writer(out, lineterminator="\n")
                    previous = 0
                    while True:
                        try:
                            number, cells = marshal.load(rows_in)
                        except EOFError:
                            break
                        out.write("\n" * (number - previous - 1))
                        writer.writerow(cells + [""] * (width - len(cells)) if cells else [])
                        previous = number
                rows_path.unlink()
                return csv_path, sheet.title
    finally:
        workbook.close()
        archive.close()
    rows_path.unlink(missing_ok=True)
    raise Refused(f"{file_name} is an Excel workbook without a table: no sheet has a header and rows.")


def _what_failed(error: BaseException) -> str:
    if type(error).__name__ in ("EntitiesForbidden", "DTDForbidden", "ExternalReferenceForbidden"):
        return "it holds XML declarations that spreadsheets never contain"
    if isinstance(error, zipfile.BadZipFile):
        return "its zip archive is damaged"
    return "its contents are damaged"


# -- limits for text files --------------------------------------------------------------------

SEPARATOR_BYTES = b",;\t|\n\r"


def check_text_limits(raw: bytes, file_name: str, limits=None) -> int:
    """Refuse UTF-8 text that would cost unbounded work: larger than the unpacked limit, more rows
    than the limit, a NUL byte (binary data), or a line — or a quoted value running over several
    lines — longer than the line limit. Runs before the text's structure is looked at (split_text),
    in a few passes over the bytes in C and numpy, whatever the file's size. Returns the number of
    line breaks (LF) it counted, for split_text."""
    limits = _limits(limits)
    if len(raw) > limits.unpacked_bytes:
        raise Refused(
            f"{file_name} is too large to read: as text it is more than {limits.unpacked_mb:,} MB (the limit for one upload). "
            "Split it into smaller files."
        )
    newlines = raw.count(b"\n")
    lines = newlines + (0 if raw.endswith(b"\n") else 1)
    if lines - 1 > limits.rows:
        raise _too_many_rows(file_name, limits, f" (it has {lines:,} lines)")
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise Refused(
            f"{file_name} holds binary data on line {line:,} (a NUL character), not text; "
            "export the file again as CSV, TSV or .xlsx."
        )
    limit = limits.line_characters
    if len(raw) <= limit or _records_short(raw, limit):
        return newlines
    import numpy as np  # only for the exact check: the command line's ingest of a plain file never needs it

    # Record breaks: line ends outside quotes. A quote counts when it can open or close a quoted
    # value (next to a delimiter, a line end, another quote or the file's edge), so `12" pipe` in an
    # unquoted value does not. Parity of those quotes says whether a line end is inside a value.
    separator = np.zeros(256, dtype=bool)
    separator[list(SEPARATOR_BYTES + b'"')] = True
    start_of_record, parity, chunk = -1, 0, 1 << 24
    for offset in range(0, len(raw), chunk):
        end = min(len(raw), offset + chunk)
        byte = np.frombuffer(raw, np.uint8, end - offset, offset)
        previous = (
            np.frombuffer(raw, np.uint8, end - offset, offset - 1)
            if offset
            else np.concatenate(([10], byte[:-1])).astype(np.uint8)
        )
        following = (
            np.frombuffer(raw, np.uint8, end - offset, offset + 1)
            if end < len(raw)
            else np.concatenate((byte[1:], [10])).astype(np.uint8)
        )
        quote = (byte == 34) & (separator[previous] | separator[following])
        inside = (np.cumsum(quote, dtype=np.uint8) + parity) & 1
        parity = int(inside[-1])
        breaks = np.flatnonzero(((byte == 10) | (byte == 13)) & (inside == 0)) + offset
        edges = np.concatenate(([start_of_record], breaks))
        gaps = np.diff(edges) - 1
        if gaps.size and int(gaps.max()) > limit:
            _refuse_long(raw, int(edges[int(np.argmax(gaps))]) + 1, file_name, limit)
        if breaks.size:
            start_of_record = int(breaks[-1])
        elif end - start_of_record - 1 > limit:
            _refuse_long(raw, start_of_record + 1, file_name, limit)
    if len(raw) - start_of_record - 1 > limit:
        _refuse_long(raw, start_of_record + 1, file_name, limit)
    return newlines


def _records_short(raw: bytes, limit: int) -> bool:
    """Quick pass: True when every aligned stretch of limit/2 bytes holds a line end with an even
    number of quotes before it, so no record (line, or quoted value over lines) can be longer than
    the limit. A few C-level searches per stretch on real exports; False sends the file to the exact
    check (quotes that cannot open or close a value are not counted there)."""
    half = max(1, limit // 2)
    quotes, counted_to = 0, 0
    no_quotes = b'"' not in raw  # then every line end counts, and the quotes need not be counted
    for start in range(0, len(raw) - half + 1, half):  # full stretches only: the tail is within limit of the last break
        position, end = start, start + half
        while True:
            line_end = raw.find(b"\n", position, end)
            if line_end < 0:
                return False
            if not no_quotes:
                quotes += raw.count(b'"', counted_to, line_end)
            counted_to = line_end
            if quotes % 2 == 0:
                break
            position = line_end + 1
    return True


def _refuse_long(raw: bytes, start: int, file_name: str, limit: int) -> None:
    line = raw.count(b"\n", 0, start) + 1
    window = raw[start : start + limit + 1]
    if b"\n" in window or b"\r" in window:
        raise Refused(
            f"{file_name} has a quoted value that runs on for more than {limit:,} characters over several lines, "
            f'starting on line {line:,} (the limit for one value). A quote (") that is never closed makes the rest of '
            "the file one value: check the quotes on that line, or split the file."
        )
    raise Refused(
        f"{file_name} has a line longer than {limit:,} characters (line {line:,}; the limit for one line). "
        "Check that it is a table exported as CSV, TSV or .xlsx; split or shorten that line."
    )


def check_table_limits(text: DelimitedText, file_name: str, limits=None) -> None:
    """Refuse a table wider than the column limit, or with more cells than the cell limit."""
    limits = _limits(limits)
    width = len(text.header)
    if width > limits.columns:
        raise _too_many_columns(file_name, limits, f" (its header has {width:,})")
    if width * text.body_lines > limits.cells:
        raise _too_many_cells(file_name, limits)


def read_upload(data: bytes, file_name: str, workdir: Path, source: Path | None = None, limits=None) -> DelimitedText:
    """The whole reading step: refuse what cannot be read, else return the header and body.

    `source` is the path `data` was read from, if any (lets DuckDB read a UTF-8 file in place).
    `limits` (config.UploadLimits, default: the configured ones) bound the work any file may cause."""
    limits = _limits(limits)
    container = sniff_container(data, file_name)
    if container == "xlsx":
        path, sheet = xlsx_to_csv(data, file_name, workdir, limits)
        fmt = FileFormat(container="xlsx", sheet=sheet)
        raw = path.read_bytes()
        newlines = check_text_limits(raw, file_name, limits)
        result = split_text(raw, fmt, file_name, workdir, path, newlines)
        result.format.delimiter = ","
        check_table_limits(result, file_name, limits)
        return result
    fmt = FileFormat(container="text")
    if data.startswith(b"\xef\xbb\xbf"):
        fmt.encoding, fmt.byte_order_mark = "utf-8", True
        raw, in_place = data[3:], False
    else:
        raw, in_place = data, True
        try:
            data[:65536].decode("utf-8")
            utf8 = True
        except UnicodeDecodeError as error:
            utf8 = error.start > 65536 - 4  # a character cut at the edge of the sample
        if utf8 and b"\x00" not in data[:8192] and not data.isascii():  # plain ASCII is valid UTF-8
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                utf8 = False
        if not utf8 or b"\x00" in data[:8192]:
            text, fmt.encoding, fmt.byte_order_mark = decode(data, file_name)
            raw, in_place = text.encode("utf-8"), False
    if raw.isspace() or not raw:
        raise Refused(f"{file_name} holds only spaces and empty lines: there is nothing to read.")
    if in_place:
        sample = raw[:8192].decode("utf-8", errors="replace")
        controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n\f")
        if controls > 0.02 * max(1, len(sample)):
            raise Refused(f"{file_name} holds binary data, not text; upload a CSV, TSV or .xlsx export.")
    newlines = check_text_limits(raw, file_name, limits)
    result = split_text(raw, fmt, file_name, workdir, source if in_place else None, newlines)
    check_table_limits(result, file_name, limits)
    return result
