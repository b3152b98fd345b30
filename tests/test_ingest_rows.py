"""One bad cell stays one rejected row: hostile cells and line breaks through the real engine and a
real store, with hand-written expectations (which rows, which words), and nothing half-stored.

Also: what the product downloads it reads back as it was (download, upload, download: the same
bytes), and a person limited to some business units is never told about another unit's upload.
"""

from __future__ import annotations

import json

import pytest
from conftest import target

from pilot_health.access import Person
from pilot_health.csv_files import neutralise, restore
from pilot_health.ingest import IngestOptions, ingest
from pilot_health.models import Pilot
from pilot_health.register.pilots import create_pilot, list_pilots, register_csv
from pilot_health.store.database import Store

METRICS = "pilot_id,metric,environment,observed_at,value\n"
SURVEY = "pilot_id,respondent_id,wave,team,awareness,desire,knowledge,ability,reinforcement,comment\n"


def counts(store: Store) -> dict[str, int]:
    with store.read() as con:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("uploads", "pilots", "metric_observations", "survey_responses")
        }


def problems(result) -> list[tuple[int, str, str]]:
    return [(p.row, p.column, p.message) for p in result.problems]


@pytest.fixture
def cli(run_command):
    """`ingest FILE --db STORE --json` of the command line: (exit code, its JSON)."""

    def ingest_file(tmp_path, store: Store, name: str, data: bytes, *args: str):
        path = tmp_path / name
        path.write_bytes(data)
        result = run_command("ingest", str(path), "--db", target(store), "--json", *args)
        assert result.returncode in (0, 1), f"exit {result.returncode}: {result.stdout} {result.stderr}"
        return result.returncode, json.loads(result.stdout)

    return ingest_file


# -- out-of-range numbers are rejected rows, never a failed file ----------------------------------


def test_a_survey_score_of_128_rejects_its_row_and_stores_the_rest(demo_store, tmp_path, cli):
    data = (
        SURVEY + "RO-02,r-901,7,Ops,128,4,4,4,4,fine\n"
        "RO-02,r-902,7,Ops,3,4,4,4,4,ok\n"
        "RO-02,r-903,7,Ops,4,99999999999,4,4,4,\n"
    ).encode()
    before = counts(demo_store)
    code, out = cli(tmp_path, demo_store, "scores.csv", data)
    assert code == 0 and out["status"] == "stored"
    assert out["rows_stored"] == 1 and out["rows_rejected"] == 2
    assert [(e["row"], e["column"], e["message"]) for e in out["errors"]] == [
        (2, "awareness", "Awareness 128 is not a whole score from 1 to 5."),
        (4, "desire", "Desire 99999999999 is not a whole score from 1 to 5."),
    ]
    after = counts(demo_store)
    assert after["survey_responses"] == before["survey_responses"] + 1 and after["uploads"] == before["uploads"] + 1


def test_numbers_that_cannot_be_stored_are_named_for_what_they_are(demo_store):
    data = (
        METRICS + "SC-01,accuracy,lab,2030-01-01,-1e400\n"
        "SC-01,accuracy,lab,2030-01-02,-inf\n"
        "SC-01,accuracy,lab,2030-01-03,1e-400\n"
        "SC-01,accuracy,lab,2030-01-04,Infinity\n"
        "SC-01,accuracy,lab,2030-01-05,nan\n"
        "SC-01,accuracy,lab,2030-01-06,0.5\n"
        "SC-01,accuracy,lab,2030-01-07,0e5\n"
        "SC-01,accuracy,lab,2030-01-08,=1+1\n"
    ).encode()
    result = ingest(demo_store, data, "extreme.csv", commit=True)
    assert result.status == "stored", result.refusal
    assert problems(result) == [
        (2, "value", "Value ‘-1e400’ is not a finite number (too large to store, or infinity)."),
        (3, "value", "Value ‘-inf’ is not a finite number (too large to store, or infinity)."),
        (4, "value", "Value ‘1e-400’ is too small to store (it would become 0); write 0 if 0 is meant."),
        (5, "value", "Value ‘Infinity’ is not a finite number (too large to store, or infinity)."),
        (9, "value", "Value ‘=1+1’ looks like a spreadsheet formula, not a number."),
    ]
    with demo_store.read() as con:
        stored = con.execute(
            "SELECT lpad(CAST(EXTRACT(day FROM observed_at) AS VARCHAR), 2, '0'), value FROM metric_observations "
            "WHERE upload_id = ? ORDER BY observed_at",
            [result.upload_id],
        ).fetchall()
    assert stored == [("05", None), ("06", 0.5), ("07", 0.0)], "nan is an empty value, 0e5 is a real 0"


def test_the_fast_path_never_turns_a_tiny_number_into_0(demo_store):
    """A plain long export takes the one-pass path; an underflow far down the file still is a rejected row."""
    rows = "".join(f"SC-02,f1,live,2030-02-{d:02d},0.{d:02d}\n" for d in range(1, 28))
    data = (METRICS + rows + "SC-02,f1,live,2030-02-28,2.5e-400\n").encode()
    result = ingest(demo_store, data, "long.csv", commit=True)
    assert result.status == "stored" and result.rows_to_store == 27
    assert problems(result) == [
        (29, "value", "Value ‘2.5e-400’ is too small to store (it would become 0); write 0 if 0 is meant.")
    ]


def test_dates_beyond_any_calendar_are_rejected_rows_naming_the_date_column(demo_store):
    data = (METRICS + "SC-01,accuracy,lab,99999-01-01,0.8\nSC-01,accuracy,lab,2030-03-01,0.8\n").encode()
    result = ingest(demo_store, data, "dates.csv")
    assert result.status == "ready" and result.rows_to_store == 1
    assert problems(result) == [(2, "observed_at", "Date ‘99999-01-01’ is not a plausible date.")]
    epoch = (
        b"pilot_id,metric,environment,time,value\n"
        b"SC-01,accuracy,lab,1900000000,0.8\nSC-01,accuracy,lab,99999999999999999999,0.7\n"
    )
    result = ingest(demo_store, epoch, "epoch.csv")
    assert result.status == "ready" and result.rows_to_store == 1
    assert problems(result) == [(3, "time", "Date ‘99999999999999999999’ could not be read.")]


def test_register_numbers_beyond_their_column_are_rejected_rows(store):
    header = "pilot_id,name,business_unit,stage,budget,target_users\n"
    data = (
        header + "P-1,One,Ops,pilot,1e-400,10\nP-2,Two,Ops,pilot,100,3000000000\n"
        "P-3,Three,Ops,pilot,-inf,5\nP-4,Four,Ops,pilot,1000,20\n"
    ).encode()
    result = ingest(store, data, "register.csv", IngestOptions(kind="pilot_register"), commit=True)
    assert result.status == "stored" and result.pilots == ["P-4"]
    assert problems(result) == [
        (2, "budget", "Budget ‘1e-400’ is too small to store (it would become 0); write 0 if 0 is meant."),
        (
            3,
            "target_users",
            "Target users must be 2,147,483,647 or less.",
        ),  # the register model holds the store's 32-bit limit
        (4, "budget", "Budget must be a finite number."),
    ]


# -- line breaks and quotes ---------------------------------------------------------------------


def nine_pilot_register(demo_store) -> bytes:
    data = register_csv(list_pilots(demo_store))
    lines = data.split(b"\r\n")
    return b"\r\n".join(lines[:10]) + b"\r\n"


@pytest.mark.parametrize("endings", ["crlf", "lf"])
def test_a_stray_carriage_return_in_a_nine_row_register_is_part_of_its_cell(demo_store, store, tmp_path, endings, cli):
    register = nine_pilot_register(demo_store)
    if endings == "lf":
        register = register.replace(b"\r\n", b"\n")
    # Inside the fourth pilot's use case (line 5), between two words, not in quotes.
    line5 = register.split(b"\n")[4]
    assert line5.startswith(b"CS-04,") and b",Suggests the next offer or action to agents during a call.," in line5
    data = register.replace(b",Suggests the next offer", b",Suggests\rthe next offer")
    code, out = cli(tmp_path, store, "register.csv", data)
    assert code == 0 and out["status"] == "stored"
    assert out["rows_stored"] == 9 and out["rows_rejected"] == 0, out["errors"]
    assert out["warnings"][0].startswith(
        "register.csv has a carriage return (an old-style line break) inside a cell "
        "that is not in quotes, on line 5; it was read as part of that cell"
    )
    [use_case] = list_pilots(store).query("pilot_id == 'CS-04'")["use_case"]
    assert use_case == "Suggests\rthe next offer or action to agents during a call."


def test_old_mac_and_mixed_line_endings_read_every_row(demo_store):
    rows = [
        "SC-03,accuracy,lab,2030-04-01,0.7",
        'SC-03,accuracy,lab,2030-04-02,"0.71"',
        "SC-03,accuracy,lab,2030-04-03,0.72",
    ]
    old_mac = ("\r".join([METRICS.strip(), *rows]) + "\r").encode()
    mixed = (METRICS.strip() + "\r\n" + rows[0] + "\n" + rows[1] + "\r\n" + rows[2] + "\n").encode()
    quoted_cr = (METRICS.strip() + "\n" + 'SC-03,"acc\ruracy",lab,2030-04-01,0.7\n' + rows[1] + "\n").encode()
    for name, data, stored in (("old_mac.csv", old_mac, 3), ("mixed.csv", mixed, 3), ("quoted_cr.csv", quoted_cr, 2)):
        result = ingest(demo_store, data, name)
        assert result.status == "ready" and result.rows_read == stored and result.rows_to_store == stored, (
            name,
            result.refusal,
            result.problems,
        )


def test_a_sep_line_naming_the_quote_mark_is_skipped_with_a_note(demo_store, tmp_path, cli):
    data = (
        b'sep="\n"pilot_id","metric","environment","observed_at","value"\n'
        b'"SC-01","accuracy","lab","2030-05-01","0.8"\n"SC-01","accuracy","lab","2030-05-02","0.81"\n'
    )
    code, out = cli(tmp_path, demo_store, "sep.csv", data, "--check")
    assert code == 0 and out["status"] == "ready" and out["rows_stored"] == 0 and out["rows_rejected"] == 0
    assert out["warnings"][0] == (
        'The first line of sep.csv, “sep="”, names the quote mark as the separator, which cannot be; '
        "it was skipped and the separator found from the rows (comma)."
    )
    result = ingest(demo_store, data, "sep.csv")
    assert result.rows_to_store == 2 and result.preview["value"].tolist() == [0.8, 0.81]


def test_an_unclosed_quote_names_its_line_and_stores_nothing(demo_store, tmp_path, cli):
    data = (
        METRICS + "SC-01,accuracy,lab,2030-06-01,0.8\n"
        'SC-01,"accuracy,lab,2030-06-02,0.8\n'
        "SC-01,accuracy,lab,2030-06-03,0.8\n"
        "SC-01,accuracy,lab,2030-06-04,0.8\n"
    ).encode()
    before = counts(demo_store)
    code, out = cli(tmp_path, demo_store, "quote.csv", data)
    assert code == 1 and out["status"] == "refused"
    assert out["errors"][0]["message"] == (
        'quote.csv: a quote (") opened on line 3 is never closed, so the 2 lines after it would be read as one cell. '
        "Close the quote (or remove it) and upload again; nothing was stored."
    )
    assert counts(demo_store) == before


def test_a_quote_left_open_inside_one_cell_rejects_that_row(demo_store):
    data = (METRICS + 'SC-01,"accu"racy,lab,2030-07-01,0.8\nSC-01,accuracy,lab,2030-07-02,0.8\n').encode()
    result = ingest(demo_store, data, "cell.csv")
    assert result.status == "ready" and result.rows_to_store == 1 and result.rows_rejected == 1
    assert problems(result) == [
        (2, None, 'Row has a quote (") that is not closed at the end of its cell, so it could not be read.')
    ]


# -- round trips ----------------------------------------------------------------------------------


def test_neutralise_and_restore_are_exact_inverses():
    for text in ["-2+3", "=SUM(A1)", "'=already", "''+x", "'Twas", "plain", "'", "@home", "\tTab", "a-b"]:
        assert restore(neutralise(text)) == text
    assert neutralise("'=x") == "''=x" and neutralise("'Twas") == "'Twas"


def test_the_register_download_uploads_back_to_the_same_bytes(demo_store, tmp_path, cli):
    from test_risk import TODAY, Story

    for code, name, owner in (
        ("RT-1", "-2+3", '=HYPERLINK("x")'),
        ("RT-2", "'Twas a pilot", "'=kept once"),
        ("RT-3", "@home", "+44 20 7946 0000"),
    ):
        record = {
            **Story().record,
            "pilot_id": code,
            "name": name,
            "owner": owner,
            "business_unit": "Round trip",
            "team_sizes": None,
        }
        create_pilot(demo_store, Pilot.model_validate(record, context={"today": TODAY}))
    first = register_csv(list_pilots(demo_store))
    fresh = Store(tmp_path / "fresh.duckdb")
    code, out = cli(tmp_path, fresh, "register.csv", first)
    assert code == 0 and out["rows_rejected"] == 0, out["errors"]
    pilots = list_pilots(fresh).set_index("pilot_id")
    assert pilots.loc["RT-1", "name"] == "-2+3" and pilots.loc["RT-1", "owner"] == '=HYPERLINK("x")'
    assert pilots.loc["RT-2", "name"] == "'Twas a pilot" and pilots.loc["RT-2", "owner"] == "'=kept once"
    assert pilots.loc["RT-3", "owner"] == "+44 20 7946 0000"
    assert register_csv(list_pilots(fresh)) == first
    # And again, through the same store with "replace": still nothing gains an apostrophe.
    code, out = cli(tmp_path, fresh, "register2.csv", first, "--replace", "--again")
    assert code == 0 and register_csv(list_pilots(fresh)) == first


def test_neutralised_survey_texts_read_back_as_written(demo_store):
    data = (
        SURVEY + "RO-02,r-951,7,'-Night shift,4,4,4,4,4,'=2+2 is what they said\n"
        "RO-02,r-952,7,Day shift,4,4,4,4,4,'Twas fine\n"
    ).encode()
    result = ingest(demo_store, data, "survey.csv", commit=True)
    assert result.status == "stored"
    with demo_store.read() as con:
        rows = con.execute(
            "SELECT team, comment FROM survey_responses WHERE upload_id = ? ORDER BY respondent_id", [result.upload_id]
        ).fetchall()
    assert rows == [("-Night shift", "=2+2 is what they said"), ("Day shift", "'Twas fine")]


# -- the same file again, told to a limited editor -------------------------------------------------


def test_a_duplicate_of_another_units_upload_is_not_described_to_a_limited_editor(demo_store):
    data = (METRICS + "SC-01,accuracy,lab,2030-08-01,0.8\n").encode()
    first = ingest(demo_store, data, "supply_secret_plan.csv", commit=True)
    assert first.status == "stored"
    finance = Person("fay@example.com", "editor", ("Finance",), signed_in=True)
    again = ingest(demo_store, data, "mine.csv", commit=True, person=finance)
    assert again.status == "duplicate" and again.duplicate_of is None
    assert again.warnings == ["This exact file was stored before; storing it again would change nothing."]
    assert "supply_secret_plan" not in json.dumps(again.as_json())
    supply = Person("sam@example.com", "editor", ("Supply Chain",), signed_in=True)
    seen = ingest(demo_store, data, "mine.csv", commit=True, person=supply)
    assert seen.duplicate_of == first.upload_id and "supply_secret_plan.csv" in seen.warnings[0]


def test_an_unclosed_quote_in_the_header_names_line_1(demo_store):
    data = b'pilot_id,"metric,environment,observed_at,value\nSC-01,accuracy,lab,2030-06-01,0.8\n'
    result = ingest(demo_store, data, "header.csv")
    assert result.status == "refused"
    assert result.refusal == (
        'header.csv: a quote (") opened on line 1 is never closed, so the header and every line after it '
        "would be read as one cell. Close the quote (or remove it) and upload again; nothing was stored."
    )
