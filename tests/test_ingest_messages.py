"""What the upload engine says is read by business owners, on the page and in receipts: no
exception class names, no command-line flags, no setting keys or server folders, "1 row" (not
"1 rows"), and file sizes that never read "0 KB". The command line adds its own flag hints."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from conftest import ROOT, target
from test_pages import assert_clean, texts
from test_upload_page import drop, upload_page

from pilot_health.formatting import file_size
from pilot_health.ingest import IngestOptions, ingest
from pilot_health.ingest.upload_templates import examples

INTERNALS = re.compile(
    r"--[a-z]|\((?:[A-Za-z]+Error|[A-Za-z]+Exception)\)|[A-Za-z]+Error:|PILOT_HEALTH_|maxUploadSize|data/|\b1 rows\b"
    r"|\(s\)|\b0 KB\b|Traceback"
)


def said(result) -> list[str]:
    """Every sentence the engine gives the page for one upload."""
    return [result.refusal or "", *result.warnings, *(p.message for p in result.problems)]


def assert_plain(result) -> None:
    for sentence in said(result):
        assert not INTERNALS.search(sentence), sentence


def run(store, data: bytes, name: str, **options):
    return ingest(store, data, name, IngestOptions(**options), commit=True)


def test_a_file_without_a_pilot_is_refused_without_command_line_flags(demo_store):
    data = b"metric,environment,observed_at,value\r\naccuracy,lab,2024-01-01,0.9\r\n"
    result = run(demo_store, data, "no_pilot.csv")

    assert result.status == "refused"
    assert result.refusal == (
        "no_pilot.csv does not say which pilot the rows belong to; choose it and store again. Nothing was stored."
    )
    assert_plain(result)


def test_a_file_over_the_upload_limit_names_no_setting(demo_store, monkeypatch):
    monkeypatch.setenv("PILOT_HEALTH_MAX_UPLOAD_MB", "1")
    data = b"pilot_id,metric,environment,observed_at,value\n" + b"SC-01,accuracy,lab,2024-01-01,0.9\n" * 40_000
    result = run(demo_store, data, "big.csv")

    assert result.status == "refused"
    assert result.refusal.startswith("big.csv is 1.3 MB, more than the upload limit of 1 MB; ")
    assert "ask an administrator to raise the upload limit" in result.refusal
    assert_plain(result)


def test_one_rejected_row_is_one_row(demo_store):
    data = (
        b"pilot_id,metric,environment,observed_at,value\r\n"
        b"SC-01,accuracy,lab,2024-01-01,0.9\r\nSC-01,accuracy,lab,2024-01-08,lots\r\n"
    )
    result = run(demo_store, data, "one_bad.csv")

    assert (result.status, result.rows_to_store, result.rows_rejected) == ("stored", 1, 1)
    assert_plain(result)


def test_a_file_whose_only_row_is_rejected_says_so_in_the_singular(demo_store):
    data = b"pilot_id,metric,environment,observed_at,value\r\nSC-01,accuracy,lab,2024-01-01,lots\r\n"
    result = run(demo_store, data, "only_bad.csv")

    assert result.status == "refused"
    assert result.refusal == "only_bad.csv has no row that could be stored: its one row was rejected (see the reasons)."
    assert_plain(result)


@pytest.mark.slow
def test_one_repeated_survey_response_and_one_footer_line_are_counted_in_the_singular(demo_store):
    header = b"pilot_id,respondent_id,responded_at,wave,awareness,desire,knowledge,ability,reinforcement\r\n"
    rows = b"SC-01,P1,2024-01-02,7,4,4,3,3,2\r\nSC-01,P2,2024-01-02,7,5,4,4,3,3\r\n"
    first = run(demo_store, header + rows, "wave7.csv")
    assert first.status == "stored"
    again = run(
        demo_store,
        header + rows.splitlines(keepends=True)[0] + b"SC-01,P3,2024-01-03,7,3,3,3,3,3\r\nTotal,,,,,,,,\r\n",
        "wave7b.csv",
    )

    assert again.status == "stored" and again.rows_left_out == 1
    assert any(w.startswith("1 response repeats ones already stored") for w in again.warnings), again.warnings
    assert "1 total/footer line at the end skipped" in again.format.describe()
    assert_plain(again)


def test_damaged_workbooks_are_refused_in_words(demo_store):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook><sheets><sheet name='S' r:id='rId1'/></sheets>")  # cut short
    result = run(demo_store, buffer.getvalue(), "broken.xlsx")

    assert result.status == "refused" and "broken.xlsx" in result.refusal
    assert_plain(result)


@pytest.mark.parametrize(
    "size, words",
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (812, "812 bytes"),
        (1023, "1,023 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (250 * 1024, "250 KB"),
        (3 * 1024 * 1024 + 400 * 1024, "3.4 MB"),
        (200 * 1024 * 1024, "200 MB"),
    ],
)
def test_file_sizes_read_as_people_say_them(size, words):
    assert file_size(size) == words


@pytest.mark.slow
def test_every_example_file_is_stored_whole_on_an_empty_store(store):
    kinds = []
    for example in examples():
        result = run(store, example.data, example.file_name)
        assert result.status == "stored", (example.file_name, result.refusal)
        assert (result.rows_rejected, result.rows_left_out, result.needs) == (0, 0, []), example.file_name
        kinds.append((result.kind, result.mapping.layout))
    assert kinds == [
        ("pilot_register", "register"),
        ("metrics", "long"),
        ("metrics", "wide_metric"),
        ("survey", "survey"),
        ("usage", "wide_metric"),
    ]


def test_the_upload_page_offers_the_examples_instead_of_a_folder(demo_store, app_env):
    app_env(demo_store)
    at = upload_page()
    assert_clean(at)
    shown = " ".join(texts(at.info) + texts(at.caption))
    assert "data/" not in shown
    buttons = [b.proto.label for b in at.get("download_button")]
    assert buttons == [e.title for e in examples()]


@pytest.mark.slow
def test_the_page_gives_a_small_file_its_size_in_bytes(demo_store, app_env):
    app_env(demo_store)
    data = (ROOT / "tests" / "fixtures" / "uploads" / "surveymonkey_matrix_adkar.csv").read_bytes()
    at, _ = drop(upload_page(), "surveymonkey_matrix_adkar.csv", data)
    assert_clean(at)
    detected = at.dataframe[0].value
    assert dict(zip(detected.iloc[:, 0], detected.iloc[:, 1]))["Size"] == f"{len(data) / 1024:.1f} KB"
    tiny = b"pilot_id,respondent_id,responded_at,wave,awareness,desire,knowledge,ability,reinforcement\r\nSC-01,P1,2024-01-02,7,4,4,3,3,2\r\n"
    at, _ = drop(upload_page(), "tiny.csv", tiny)
    detected = at.dataframe[0].value
    assert dict(zip(detected.iloc[:, 0], detected.iloc[:, 1]))["Size"] == f"{len(tiny)} bytes"
    assert at.button(key="store_upload").label == "Store 1 row"


def test_the_command_line_adds_its_own_flags_to_the_engine_refusal(tmp_path, demo_store, run_command):
    path = tmp_path / "no_pilot.csv"
    path.write_bytes(b"metric,environment,observed_at,value\r\naccuracy,lab,2024-01-01,0.9\r\n")
    result = run_command("ingest", str(path), "--db", target(demo_store))

    assert result.returncode == 1
    assert "does not say which pilot the rows belong to" in result.stderr
    assert "On the command line: --pilot CODE." in result.stderr
