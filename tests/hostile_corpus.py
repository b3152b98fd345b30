"""Hostile upload files, generated on the fly (nothing big is ever committed).

Used by tests/test_hostile_files.py (small, fast versions) and bench/bench_hostile.py (the worst
files of issue 15 at full size). Workbooks are written by hand — the XML and the zip — so that a
file can say what a real writer never would: a declared size of a million rows, a member that is
bigger than the zip's directory says, a DOCTYPE with entities.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

CONTENT_TYPES = XML_HEAD + (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
ROOT_RELS = XML_HEAD + (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK = XML_HEAD + (
    f'<workbook xmlns="{NS}" xmlns:r="{REL_NS}"><sheets><sheet name="Metrics" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = XML_HEAD + (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
HEADER = ("pilot_id", "metric", "environment", "observed_at", "value")


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def inline_cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def row_xml(number: int, values: Iterable[object]) -> str:
    cells = []
    for index, value in enumerate(values):
        ref = f"{_column(index)}{number}"
        if isinstance(value, (int, float)):
            cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        elif isinstance(value, tuple):  # ("f", formula, cached value or None)
            cached = "" if value[2] is None else f"<v>{value[2]}</v>"
            cells.append(f'<c r="{ref}"><f>{value[1]}</f>{cached}</c>')
        else:
            cells.append(inline_cell(ref, str(value)))
    return f'<row r="{number}">{"".join(cells)}</row>'


def metric_rows(count: int, start: int = 2) -> Iterator[str]:
    """`count` plausible long-layout metric rows (pilot SC-01), as sheet XML."""
    first = datetime(1995, 1, 1)
    for i in range(count):  # one row every 5 minutes from 1995 (before the demo's data; 3M rows end in 2023)
        yield row_xml(
            start + i,
            ("SC-01", "accuracy", "lab", (first + timedelta(minutes=5 * i)).isoformat(sep=" "), 0.5 + (i % 100) / 1000),
        )


def sheet_xml(rows: Iterable[str], dimension: str | None = None, doctype: str = "") -> Iterator[bytes]:
    yield (XML_HEAD + doctype + f'<worksheet xmlns="{NS}" xmlns:r="{REL_NS}">').encode()
    if dimension:
        yield f'<dimension ref="{dimension}"/>'.encode()
    yield b"<sheetData>"
    yield (row_xml(1, HEADER)).encode()
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= 2000:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()
    yield b"</sheetData></worksheet>"


def write_xlsx(
    path: Path,
    sheet: Iterable[bytes],
    shared_strings: str = "",
    extra: dict[str, str] | None = None,
    workbook: str = WORKBOOK,
) -> Path:
    """A minimal workbook; the sheet is streamed into the zip (deflated) chunk by chunk."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr(
            "xl/sharedStrings.xml", shared_strings or XML_HEAD + f'<sst xmlns="{NS}" count="0" uniqueCount="0"/>'
        )
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            for chunk in sheet:
                out.write(chunk)
    return path


def dimension_bomb(path: Path) -> Path:
    """Issue 15's 1.6 KB workbook: a declared size of A1:XFD1048576, three real rows and one cell in
    the sheet's last row and column (a reader that pads to the declared size builds 17 billion cells)."""
    last = '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    return write_xlsx(path, sheet_xml([*metric_rows(2), last], dimension="A1:XFD1048576"))


def far_cell_bomb(path: Path, rows: int = 200) -> Path:
    """Rows whose only extra cell sits in the last column (XFD): a reader that pads every row to its
    last cell builds 16,384 cells per row."""
    lines = (
        row_xml(2 + i, ("SC-01", "accuracy", "lab", "2024-01-02", 0.5))[:-6] + f'<c r="XFD{2 + i}"><v>1</v></c></row>'
        for i in range(rows)
    )
    return write_xlsx(path, sheet_xml(lines))


def zip_bomb(path: Path, sheet_mb: int) -> Path:
    """A workbook whose sheet XML unpacks to about `sheet_mb` MB of one repeated row (compresses ~250:1)."""
    row = row_xml(2, ("SC-01", "accuracy", "lab", "2024-01-02", 0.5)).replace(' r="2"', "").replace(' r="A2"', "")
    row = "".join(row.replace(f' r="{c}2"', "") for c in "ABCDE")  # rows and cells without references: all identical
    block = (row * (1024 * 1024 // len(row) + 1)).encode()

    def chunks() -> Iterator[bytes]:
        yield (XML_HEAD + f'<worksheet xmlns="{NS}"><sheetData>' + row_xml(1, HEADER)).encode()
        for _ in range(sheet_mb):
            yield block
        yield b"</sheetData></worksheet>"

    return write_xlsx(path, chunks())


def many_rows_xlsx(path: Path, rows: int) -> Path:
    """A plain workbook with `rows` real metric rows (issue 15: 3M rows, 54 MB)."""
    return write_xlsx(path, sheet_xml(metric_rows(rows)))


def lying_sizes(path: Path, sheet_rows: int = 20000, claimed: int = 2000) -> Path:
    """A workbook whose zip directory says the sheet unpacks to `claimed` bytes when it unpacks to
    far more (the central directory and the local header both lie)."""
    write_xlsx(path, sheet_xml(metric_rows(sheet_rows)))
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    # Local header: signature, then uncompressed size at offset 22 (or in the zip64 extra field).
    for signature, size_offset, name_length_offset, header in (
        (b"PK\x03\x04", 22, 26, 30),
        (b"PK\x01\x02", 24, 28, 46),
    ):
        at = 0
        while True:
            at = data.find(signature, at)
            if at < 0:
                break
            name_length, extra_length = struct.unpack_from("<HH", data, at + name_length_offset)
            if bytes(data[at + header : at + header + name_length]) == name:
                if struct.unpack_from("<I", data, at + size_offset)[0] == 0xFFFFFFFF:  # zip64: sizes in the extra field
                    extra_at = at + header + name_length
                    end = extra_at + extra_length
                    while extra_at < end:
                        tag, size = struct.unpack_from("<HH", data, extra_at)
                        if tag == 1:
                            struct.pack_into("<Q", data, extra_at + 4, claimed)
                        extra_at += 4 + size
                else:
                    struct.pack_into("<I", data, at + size_offset, claimed)
            at += 4
    path.write_bytes(bytes(data))
    return path


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
    '<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">'
    '<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">'
    '<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">'
    '<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">'
    '<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>'
)


def billion_laughs(path: Path, where: str = "sheet") -> Path:
    """Entities that expand to 10^9 'lol's, in the sheet (a cell says &lol9;) or the shared strings."""
    if where == "sheet":
        rows = [
            row_xml(2, ("SC-01", "accuracy", "lab", "2024-01-02", 0.5)).replace("<t>SC-01</t>", "<t>&lol9;</t>"),
            row_xml(3, ("SC-01", "accuracy", "lab", "2024-01-03", 0.6)),
        ]
        return write_xlsx(path, sheet_xml(rows, doctype=BILLION_LAUGHS))
    strings = XML_HEAD + BILLION_LAUGHS + f'<sst xmlns="{NS}" count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>'
    return write_xlsx(path, sheet_xml(metric_rows(2)), shared_strings=strings)


def xxe(path: Path, target: str = "/etc/passwd") -> Path:
    """An external entity naming a local file, used in a cell."""
    doctype = f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{target}">]>'
    rows = [
        row_xml(2, ("SC-01", "accuracy", "lab", "2024-01-02", 0.5)).replace("<t>accuracy</t>", "<t>&xxe;</t>"),
        row_xml(3, ("SC-01", "accuracy", "lab", "2024-01-03", 0.6)),
    ]
    return write_xlsx(path, sheet_xml(rows, doctype=doctype))


def formulas(path: Path, cached: bool) -> Path:
    """Values computed by formulas, with (as Excel saves) or without (as some libraries write) the result."""
    rows = [
        row_xml(
            2 + i,
            (
                "SC-01",
                "accuracy",
                "lab",
                f"2001-01-{i + 1:02d}",
                ("f", f"0.5+{i}/100", 0.5 + i / 100 if cached else None),
            ),
        )
        for i in range(5)
    ]
    return write_xlsx(path, sheet_xml(rows))


def external_links(path: Path) -> Path:
    """Values from a formula that refers to another workbook, with the cached results Excel keeps."""
    rows = [
        row_xml(
            2 + i, ("SC-01", "accuracy", "lab", f"2002-01-{i + 1:02d}", ("f", f"[1]Sheet1!A{i + 1}", 0.7 + i / 100))
        )
        for i in range(5)
    ]
    link = XML_HEAD + (
        f'<externalLink xmlns="{NS}"><externalBook xmlns:r="{REL_NS}" r:id="rId1"><sheetNames>'
        '<sheetName val="Sheet1"/></sheetNames></externalBook></externalLink>'
    )
    link_rels = XML_HEAD + (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLinkPath" '
        'Target="file:///etc/passwd" TargetMode="External"/></Relationships>'
    )
    return write_xlsx(
        path,
        sheet_xml(rows),
        extra={"xl/externalLinks/externalLink1.xml": link, "xl/externalLinks/_rels/externalLink1.xml.rels": link_rels},
    )


def many_parts(path: Path, parts: int = 20_000) -> Path:
    """A workbook with `parts` tiny extra parts: a directory that is costly to list."""
    write_xlsx(path, sheet_xml(metric_rows(2)))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
        for i in range(parts):
            archive.writestr(f"xl/media/p{i}.bin", b"")
    return path


def gzip_zip_stream(size: int) -> bytes:
    """`size` zero bytes, deflated (for checks of raw decompression speed)."""
    return zlib.compress(b"\0" * size, 9)


# -- text files ----------------------------------------------------------------------------------

LONG_HEADER = ",".join(HEADER) + "\n"


def wide_csv(columns: int, rows: int) -> bytes:
    """A table with one column per metric, `columns` wide in all and `rows` long, every cell filled:
    within the column and cell limits, but each filled cell becomes one row to store."""
    header = "pilot_id,environment,date," + ",".join(f"metric_{i}" for i in range(columns - 3)) + "\n"
    line = ",".join(f"0.{(i * 37) % 1000:03d}" for i in range(columns - 3))
    first = datetime(1990, 1, 1)
    return (header + "".join(f"SC-01,lab,{(first + timedelta(days=r)).date()},{line}\n" for r in range(rows))).encode()


def text_files() -> dict[str, bytes]:
    """Small hostile CSV/TSV files (each well under a megabyte unless its point is size)."""
    good = "".join(f"SC-01,accuracy,lab,2024-01-{d:02d},0.{d + 50}\n" for d in range(1, 6))
    files = {
        "ten_thousand_columns.csv": (
            ",".join(f"c{i}" for i in range(10_000))
            + "\n"
            + "\n".join(",".join(str(i % 10) for i in range(10_000)) for _ in range(3))
            + "\n"
        ).encode(),
        "long_line.csv": (LONG_HEADER + good + "SC-01,accuracy,lab,2024-01-09," + "9" * 5_000_000 + "\n").encode(),
        "long_field.csv": (
            LONG_HEADER + good + 'SC-01,"' + ("x" * 99 + "\n") * 50_000 + '",lab,2024-01-09,0.5\n'
        ).encode(),
        "nul_bytes.csv": (LONG_HEADER + good * 400).encode()
        + b"SC-01,acc\x00uracy,lab,2024-01-09,0.5\n"
        + good.encode(),
        "nul_everywhere.csv": b"\x00" * 20_000,
        "unbalanced_quotes.csv": (LONG_HEADER + good + 'SC-01,"accuracy,lab,2024-01-09,0.5\n' + good * 20).encode(),
        "deep_quotes.csv": (
            LONG_HEADER + good + "SC-01," + '"' * 20_001 + "accuracy" + '"' * 20_001 + ",lab,2024-01-09,0.5\n"
        ).encode(),
        "mixed_encodings.csv": (LONG_HEADER + good).encode()
        + "SC-01,précision,lab,2024-01-09,0.5\n".encode("cp1252")
        + "SC-01,précision,lab,2024-01-10,0.5\n".encode()
        + "SC-01,précision,lab,2024-01-11,0.5\n".encode("utf-16-le"),
        "extreme_numbers.csv": (
            LONG_HEADER + "SC-01,accuracy,lab,2024-01-01,1e400\nSC-01,accuracy,lab,2024-01-02,-1e400\n"
            "SC-01,accuracy,lab,2024-01-03,-inf\nSC-01,accuracy,lab,2024-01-04,1e-400\n"
            "SC-01,accuracy,lab,2024-01-05,nan\nSC-01,accuracy,lab,2024-01-06,99999999999999999999999999999\n"
            "SC-01,accuracy,lab,2024-01-07,0.5\n"
        ).encode(),
        "extreme_dates.csv": (
            LONG_HEADER + "SC-01,accuracy,lab,0001-01-01,0.5\nSC-01,accuracy,lab,9999-12-31,0.5\n"
            "SC-01,accuracy,lab,99999999999999,0.5\nSC-01,accuracy,lab,-5000000000,0.5\n"
            "SC-01,accuracy,lab,2024-02-30,0.5\nSC-01,accuracy,lab,2024-01-07,0.5\n"
        ).encode(),
        "../../etc/passwd.csv": (LONG_HEADER + good).encode(),
        "many_rows.csv": (LONG_HEADER + good * 2000).encode(),
    }
    return files
