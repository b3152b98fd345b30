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
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Optional

from .problems import Refused

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
HEAD_LINES = 400
TAIL_LINES = 30
BINARY_SIGNATURES = {
    b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image", b"%PDF": "a PDF document",
    b"BM": None, b"\x1f\x8b": "a gzip archive", b"Rar!": "a RAR archive", b"7z\xbc\xaf": "a 7-Zip archive",
    b"II*\x00": "a TIFF image", b"MM\x00*": "a TIFF image", b"RIFF": "a media file",
}
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
FOOTER_WORDS = re.compile(
    r"^\s*(?:(?:grand\s+)?totals?|sum|summary|all\s+users|overall)\s*:?\s*$"
    r"|^\s*(?:report\s+generated|generated\s+(?:by|on|at)|exported\s+(?:by|on|at)|source\s*:|copyright|©|\(c\)|"
    r"page\s+\d+\s+of|data\s+as\s+of|end\s+of\s+report)",
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
    sheet: Optional[str] = None
    preamble_lines: int = 0
    header_rows: int = 1
    footer_lines: int = 0
    second_table_lines: int = 0

    def describe(self) -> str:
        if self.container == "xlsx":
            parts = [f"Excel workbook, sheet “{self.sheet}”"]
        else:
            bom = " with byte-order mark" if self.byte_order_mark else ""
            parts = [f"{self.encoding.upper()}{bom} text, {DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated"]
            if self.sep_line:
                parts.append("a “sep=” line")
        if self.preamble_lines:
            parts.append(f"{self.preamble_lines} line(s) before the header skipped")
        if self.header_rows > 1:
            parts.append(f"{self.header_rows} header rows")
        if self.footer_lines:
            parts.append(f"{self.footer_lines} total/footer line(s) at the end skipped")
        if self.second_table_lines:
            parts.append(f"a second table ({self.second_table_lines} lines) after a blank line ignored")
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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- what kind of bytes ---------------------------------------------------------------------

def sniff_container(data: bytes, file_name: str) -> str:
    """'xlsx' or 'text', or refuse what cannot be read, judged by content (never by name)."""
    if not data or data.isspace():
        raise Refused(f"{file_name} is empty: there is nothing to read.")
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            raise Refused(f"{file_name} looks like a damaged zip or Excel file and cannot be read; export it again.") from None
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise Refused(f"{file_name} is a zip archive, not a spreadsheet or CSV export; unpack it and upload the CSV or .xlsx inside.")
    if data.startswith(OLE_SIGNATURE):
        raise Refused(f"{file_name} is an old-style Excel (.xls) or Office file; open it and save it as .xlsx or CSV, then upload that.")
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
    reader = csv.reader(iter(lines), delimiter=delimiter, quotechar='"', doublequote=True, skipinitialspace=False, strict=False)
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


def _is_subheader_row(fields: list[str], header: list[str]) -> bool:
    """SurveyMonkey's second header row: 'Response' / option labels, blank under metadata columns."""
    filled = [f.strip() for f in fields if f.strip()]
    if not filled:
        return False
    markers = sum(f in ("Response", "Open-Ended Response", "Other (please specify)") for f in filled)
    return markers >= max(1, len(filled) // 2)


def find_header(records: list[tuple[int, int, list[str]]], file_name: str) -> tuple[int, int]:
    """Index of the header record and how many header records there are.

    The header is the first record as wide as the table's typical row; anything before it (titles,
    `#` comments, blank lines) is preamble."""
    widths = [len(f) for _, _, f in records if not _blank(f) and not (f[0].lstrip().startswith("#") and len([x for x in f if x.strip()]) == 1)]
    if not widths:
        raise Refused(f"{file_name} has no table in it: no line has more than one column.")
    mode = max(set(widths), key=lambda c: (widths.count(c), c))
    for index, (_, _, fields) in enumerate(records):
        if _blank(fields) or fields[0].lstrip().startswith("#"):
            continue
        filled = sum(1 for f in fields if f.strip())
        if len(fields) >= mode and filled >= max(2, int(0.5 * mode)):
            rows = 1
            if index + 2 < len(records) and _is_qualtrics_import_row(records[index + 2][2]):
                rows = 3
            elif index + 1 < len(records) and _is_subheader_row(records[index + 1][2], fields):
                rows = 2
            return index, rows
    raise Refused(f"{file_name} has no header row that could be found; the first row of the table should name its columns.")


def combine_header(rows: list[list[str]], width: int) -> list[str]:
    """One name per column. Qualtrics keeps its column ids (row 1); SurveyMonkey fills matrix
    sub-columns from row 2; blank or repeated names get a position suffix."""
    names = []
    first = rows[0] + [""] * (width - len(rows[0]))
    second = (rows[1] + [""] * width)[:width] if len(rows) == 2 else [""] * width
    current_parent = ""
    for index in range(width):
        name = first[index].strip()
        if name:
            current_parent = name
        sub = second[index].strip()
        if len(rows) == 2 and sub and sub not in ("Response", "Open-Ended Response"):
            name = f"{current_parent} - {sub}" if not name or name == current_parent else f"{name} - {sub}"
        names.append(name or f"column_{index + 1}")
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _footer_count(records: list[tuple[int, int, list[str]]], width: int) -> int:
    """How many records at the end are totals or report footers rather than data."""
    count = 0
    for _, _, fields in reversed(records):
        filled = [f for f in fields if f.strip()]
        if not filled:
            count += 1
            continue
        first = filled[0]
        if FOOTER_WORDS.match(first) or first.lstrip().startswith("#") or (len(filled) == 1 and len(fields) < width and width > 2):
            count += 1
            continue
        break
    return count


NON_SPACE = re.compile(rb"\S")


def _first_blank_line(raw: bytes, start: int, delimiter: str) -> Optional[int]:
    """Offset of the line break that opens the first blank line at or after `start` (a line that
    is empty, or holds only spaces and delimiters), or None. One regex that starts with a literal
    line break keeps this fast on files of millions of lines."""
    filler = re.escape(b" \t" + (delimiter.encode() if delimiter != "\t" else b""))
    match = re.compile(rb"\n[" + filler + rb"]*\r?(?:\n|$)").search(raw, start)
    if match is None or (match.end() == len(raw) and match.start() >= len(raw) - 2):
        return None  # only the file's final line break
    cut = match.start()
    return cut - 1 if cut > 0 and raw[cut - 1:cut] == b"\r" else cut


def _lines(raw: bytes, start: int, end: int) -> list[bytes]:
    return raw[start:end].splitlines(keepends=True)


def _decoded(lines: list[bytes]) -> list[str]:
    return [line.decode("utf-8", errors="replace") for line in lines]


def split_text(raw: bytes, fmt: FileFormat, file_name: str, workdir: Path, source: Optional[Path] = None) -> DelimitedText:
    """Find the header and the body in UTF-8 bytes, looking only at the head and the tail.

    `source`, when given, is a file holding exactly `raw` (after a byte-order mark): if nothing has
    to be cut from the end, DuckDB reads it in place instead of a copy of the body."""
    warnings: list[str] = []
    start = 0
    first_end = raw.find(b"\n")
    first = raw[: first_end if first_end >= 0 else len(raw)].decode("utf-8", errors="replace").strip()
    sep = re.fullmatch(r'"?sep=(.)"?[,;]*', first, re.IGNORECASE)
    if sep:
        fmt.delimiter, fmt.sep_line = sep.group(1), True
        start = first_end + 1
    position, count = start, 0
    while count < HEAD_LINES:
        nl = raw.find(b"\n", position)
        if nl < 0:
            position = len(raw)
            break
        position, count = nl + 1, count + 1
    head_raw = _lines(raw, start, position)
    head_lines = _decoded(head_raw)
    if not fmt.sep_line:
        fmt.delimiter = choose_delimiter(head_lines)
    records = _records(head_lines, fmt.delimiter)
    index, header_count = find_header(records, file_name)
    header_rows = [records[i][2] for i in range(index, min(index + header_count, len(records)))]
    width = max(len(r) for r in header_rows)
    header = combine_header(header_rows, width)
    fmt.preamble_lines = records[index][0]
    fmt.header_rows = header_count
    last_header = index + header_count - 1
    body_first_line_in_head = records[last_header][1] + 1 if last_header < len(records) else len(head_lines)
    body_start = start + sum(len(line) for line in head_raw[:body_first_line_in_head])
    first_body_line = body_first_line_in_head + 1 + (1 if fmt.sep_line else 0)

    # A blank line followed by more content starts a second table: everything from it is ignored.
    body_end = len(raw)
    cut = _first_blank_line(raw, max(body_start - 1, 0), fmt.delimiter)
    if cut is not None:
        rest = raw[cut:].strip()
        if rest:
            fmt.second_table_lines = rest.count(b"\n") + 1
            first_rest = rest.splitlines()[0].decode("utf-8", errors="replace")[:60]
            warnings.append(
                f"{file_name} has more after a blank line ({fmt.second_table_lines} lines, starting “{first_rest}”); "
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
            removed = [", ".join(f for f in r[2] if f.strip())[:60] for r in tail_records[-footers:] if not _blank(r[2])]
            body_end = tail_start + sum(len(line) for line in tail_raw[:cut_line])
            if removed:
                fmt.footer_lines = len(removed)
                warnings.append(f"Left out {len(removed)} total or footer line(s) at the end: “{removed[0]}”" + (" …" if len(removed) > 1 else "") + ".")

    if body_end <= body_start or not NON_SPACE.search(raw, body_start, body_end):
        raise Refused(f"{file_name} has a header but no data rows.")
    skip_lines = 0
    if source is not None and body_end == len(raw):
        body_path, skip_lines = source, first_body_line - 1
    else:
        body_path = workdir / "body.csv"
        with open(body_path, "wb") as out:
            out.write(memoryview(raw)[body_start:body_end])
    sample_records = _records(_decoded(_lines(raw, body_start, min(body_end, body_start + 200_000))[:200]), fmt.delimiter)
    return DelimitedText(
        format=fmt, header=header, header_rows=header_rows, body_path=body_path, first_body_line=first_body_line,
        body_lines=raw.count(b"\n", body_start, body_end) + (0 if raw[body_end - 1:body_end] == b"\n" else 1),
        sample=[r[2] for r in sample_records if not _blank(r[2])], warnings=warnings, skip_lines=skip_lines,
    )


# -- Excel ----------------------------------------------------------------------------------

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


def xlsx_to_text(data: bytes, file_name: str) -> tuple[str, str]:
    """The first sheet with a table, as comma-separated text (quoted), and the sheet's name."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - openpyxl raises many kinds for damaged files
        raise Refused(f"{file_name} is an Excel file that could not be opened ({type(error).__name__}); open and save it again, or export it as CSV.") from None
    try:
        for sheet in workbook.worksheets:
            rows = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            width = max((max((i + 1 for i, c in enumerate(r) if c != ""), default=0) for r in rows), default=0)
            filled = sum(1 for r in rows if any(c != "" for c in r))
            if filled >= 2 and width >= 1:
                buffer = io.StringIO()
                writer = csv.writer(buffer, lineterminator="\n")
                for row in rows:
                    cells = (row + [""] * width)[:width]
                    writer.writerow(cells if any(c != "" for c in cells) else [])
                return buffer.getvalue(), sheet.title
    finally:
        workbook.close()
    raise Refused(f"{file_name} is an Excel workbook without a table: no sheet has a header and rows.")


def read_upload(data: bytes, file_name: str, workdir: Path, source: Optional[Path] = None) -> DelimitedText:
    """The whole reading step: refuse what cannot be read, else return the header and body.

    `source` is the path `data` was read from, if any (lets DuckDB read a UTF-8 file in place)."""
    container = sniff_container(data, file_name)
    if container == "xlsx":
        text, sheet = xlsx_to_text(data, file_name)
        fmt = FileFormat(container="xlsx", sheet=sheet)
        result = split_text(text.encode("utf-8"), fmt, file_name, workdir)
        result.format.delimiter = ","
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
    return split_text(raw, fmt, file_name, workdir, source if in_place else None)
