"""Who may do what: the access file, how a signed-in person's role and business units are found,
a limited person's narrowed view of the real store (every page's numbers are the same for the
pilots they see, and nothing else is there), and every write checking the person first."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import ROOT
from test_risk import TODAY, Story

from pilot_health.access import ABILITIES, Person, is_loopback, load_access, resolve_person
from pilot_health.analytics.portfolio import load_portfolio
from pilot_health.analytics.risk import assess
from pilot_health.demo.portfolio import clear_demo
from pilot_health.errors import AccessDenied, ConfigError, DuplicateError, NotFoundError
from pilot_health.ingest import IngestOptions, ingest, withdraw
from pilot_health.register.pilots import create_pilot, get_pilot, list_pilots, update_pilot
from pilot_health.reports.adoption_report import portfolio_adoption
from pilot_health.reports.alignment_report import portfolio_alignment
from pilot_health.reports.steering_pack import export
from pilot_health.rules.metric_dictionary import MetricAnswer, save_answer
from pilot_health.rules.thresholds import save_thresholds
from pilot_health.store import queries
from pilot_health.store.database import utc_now

FINANCE = ("Finance",)
ADMIN = Person("ann@example.com", "admin", signed_in=True)
EDITOR = Person("ben@example.com", "editor", signed_in=True)
FINANCE_EDITOR = Person("fay@example.com", "editor", FINANCE, signed_in=True)
VIEWER = Person("vic@example.com", "viewer", signed_in=True)


def access_file(tmp_path, text: str):
    path = tmp_path / "access.toml"
    path.write_text(text, encoding="utf-8")
    return load_access(path)


EXAMPLE = """
default_role = "none"

[[people]]
email = "Ann@Example.com"
role = "admin"

[[people]]
email = "fay@example.com"
role = "editor"
business_units = ["Finance"]

[[claims]]
claim = "groups"
value = "steering"
role = "viewer"

[[claims]]
claim = "groups"
value = "retail-editors"
role = "editor"
business_units = ["Retail Operations"]

[[claims]]
claim = "groups"
value = "finance-editors"
role = "editor"
business_units = ["Finance"]

[[claims]]
claim = "hd"
value = "example.org"
role = "viewer"
"""


# -- the access file and resolving a person ---------------------------------------------------------


def test_the_shipped_access_file_is_valid_and_lets_nobody_in():
    access = load_access(ROOT / "config" / "access.toml")
    assert access.default_role == "none" and access.people == [] and access.claims == []
    assert resolve_person(access, {"email": "anyone@example.com", "email_verified": True}) is None


def test_an_e_mail_entry_decides_alone_and_matches_any_case(tmp_path):
    access = access_file(tmp_path, EXAMPLE)
    ann = resolve_person(access, {"email": "ann@EXAMPLE.com", "email_verified": True, "groups": ["retail-editors"]})
    assert (ann.name, ann.role, ann.business_units, ann.signed_in) == ("ann@EXAMPLE.com", "admin", None, True)
    fay = resolve_person(access, {"email": "fay@example.com", "groups": ["steering"]})
    assert (fay.role, fay.business_units) == ("editor", FINANCE) and "by e-mail" in fay.because


def test_an_unverified_address_never_matches_an_e_mail_entry(tmp_path):
    access = access_file(tmp_path, EXAMPLE)
    assert resolve_person(access, {"email": "ann@example.com", "email_verified": False}) is None
    assert (
        resolve_person(access, {"email": "ann@example.com", "email_verified": "false", "groups": "steering"}).role
        == "viewer"
    )


def test_claims_count_together_the_highest_role_wins_and_its_units_add_up(tmp_path):
    access = access_file(tmp_path, EXAMPLE)
    both = resolve_person(
        access, {"email": "gil@example.com", "groups": ["steering", "retail-editors", "finance-editors"]}
    )
    assert (both.role, both.business_units) == ("editor", ("Finance", "Retail Operations"))
    assert "groups = retail-editors" in both.because
    by_domain = resolve_person(access, {"email": "hal@example.org", "hd": "example.org"})
    assert (by_domain.role, by_domain.business_units) == ("viewer", None)
    assert resolve_person(access, {"email": "ida@example.com", "groups": ["someone-else"]}) is None


def test_the_default_role_applies_to_everyone_else(tmp_path):
    access = access_file(tmp_path, 'default_role = "viewer"\ndefault_business_units = ["Marketing"]\n')
    person = resolve_person(access, {"sub": "user-17"})
    assert (person.name, person.role, person.business_units) == ("user-17", "viewer", ("Marketing",))


@pytest.mark.parametrize(
    "text, says",
    [
        ('[[people]]\nemail = "a@b.com"\nrole = "admin"\nbusiness_units = ["Finance"]\n', "an admin is never limited"),
        ('[[people]]\nemail = "a@b.com"\nrole = "owner"\n', "people.0.role"),
        (
            '[[people]]\nemail = "a@b.com"\nrole = "viewer"\n[[people]]\nemail = "A@b.com"\nrole = "editor"\n',
            "listed twice",
        ),
        ('[[people]]\nemail = "not-an-address"\nrole = "viewer"\n', "is not an e-mail address"),
        (
            '[[claims]]\nclaim = "groups"\nvalue = "x"\nrole = "viewer"\nbusiness_units = []\n',
            "at least one business unit",
        ),
        ('default_role = "admin"\n', "default_role"),
        ('people = "everyone"\n', "people"),
        ("[[people]\n", "is not valid TOML"),
    ],
)
def test_a_mistake_in_the_access_file_is_one_sentence_naming_the_file_and_the_entry(tmp_path, text, says):
    with pytest.raises(ConfigError, match="access file") as raised:
        access_file(tmp_path, text)
    assert says in str(raised.value) and str(tmp_path / "access.toml") in str(raised.value)


def test_the_access_file_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "access.toml"
    path.write_text('default_role = "none"\n', encoding="utf-8")
    assert load_access(path).default_role == "none"
    path.write_text('default_role = "viewer"\n', encoding="utf-8")
    import os

    os.utime(path, (path.stat().st_atime + 5, path.stat().st_mtime + 5))
    assert load_access(path).default_role == "viewer"


def test_each_role_has_exactly_its_abilities():
    expected = {
        "viewer": {"view"},
        "editor": {"view", "upload", "edit_pilots", "record_decisions", "withdraw_own"},
        "admin": set(ABILITIES),
    }
    for role, abilities in expected.items():
        person = Person("x@example.com", role)
        assert {a for a in ABILITIES if person.can(a)} == abilities, role
    with pytest.raises(
        AccessDenied, match="vic@example.com may not change thresholds: that needs the administrator role"
    ):
        VIEWER.require("edit_thresholds", "change thresholds")


def test_every_ability_and_role_is_documented():
    doc = (ROOT / "docs" / "access.md").read_text(encoding="utf-8")
    for ability in ABILITIES:
        assert f"`{ability}`" in doc, ability


@pytest.mark.parametrize(
    "address, loopback",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("", False),
        ("192.168.1.10", False),
        (None, False),
        ("example.com", False),
    ],
)
def test_which_server_addresses_are_this_machine_only(address, loopback):
    assert is_loopback(address) is loopback


# -- a limited person's view of the store ------------------------------------------------------------


def finance_ids(store) -> list[str]:
    pilots = list_pilots(store)
    return sorted(pilots.loc[pilots["business_unit"] == "Finance", "pilot_id"])


@pytest.mark.slow
def test_a_limited_store_shows_only_the_units_pilots_in_every_table(demo_store, backend):
    mine = finance_ids(demo_store)
    narrowed = demo_store.for_person(FINANCE_EDITOR)
    with demo_store.read() as con:
        rows = {t: con.execute(f"SELECT pilot_id FROM {t}").df() for t in ("metric_observations", "survey_responses")}
        uploads = queries.list_uploads(con)
    with narrowed.read() as con:
        counts = queries.table_counts(con)
        assert sorted(queries.fetch_pilots(con)["pilot_id"]) == mine
        assert set(con.execute("SELECT pilot_id FROM pilot_history").df()["pilot_id"]) == set(mine)
        assert sorted(queries.pilot_ids(con)) == mine
        for table, frame in rows.items():
            assert counts[table] == int(frame["pilot_id"].isin(mine).sum()) > 0, table
        shown_uploads = queries.list_uploads(con)
        assert queries.audit_entries(con).empty  # the demo's audit lines are not fay's
        if backend == "duckdb":  # Even written as main.pilots, the name reaches the narrowed view.
            assert con.execute("SELECT count(*) FROM main.pilots").fetchone()[0] == len(mine)
        else:  # PostgreSQL searches the session's own views first for a name without its schema
            assert con.execute("SELECT count(*) FROM pilots").fetchone()[0] == len(mine)
            assert con.execute("SELECT count(*) FROM public.pilots").fetchone()[0] > len(mine)  # hence never written so
    expected = uploads[uploads["pilots"].fillna("").map(lambda p: any(code in mine for code in p.split(", ")))]
    assert sorted(shown_uploads["upload_id"]) == sorted(expected["upload_id"])
    assert set(", ".join(shown_uploads["pilots"].dropna()).split(", ")) == set(mine)
    assert counts["uploads"] == len(expected) and counts["pilots"] == len(mine)


def test_a_narrowed_read_leaves_nothing_behind_and_a_write_is_never_narrowed(demo_store, backend):
    """The views that narrow a read live as long as that read: the next unit of work on the same
    store (on PostgreSQL: a pooled connection, perhaps the very same one) sees every pilot, and so
    does a limited person's write (the domain checks each write itself)."""
    with demo_store.read() as con:
        every_pilot = queries.pilot_ids(con)
    mine = finance_ids(demo_store)
    assert 0 < len(mine) < len(every_pilot)
    narrowed = demo_store.for_person(FINANCE_EDITOR)
    for _ in range(3):  # more than once: a pooled connection is handed out again
        with narrowed.read() as con:
            assert queries.pilot_ids(con) == mine
        with demo_store.read() as con:
            assert queries.pilot_ids(con) == every_pilot
    with narrowed.write() as con:
        assert queries.pilot_ids(con) == every_pilot
        assert queries.table_counts(con)["pilots"] == len(every_pilot)
    if backend == "postgres":
        # No temporary table or view of any connection is left on the server once the reads are over.
        with demo_store.read() as con:
            left = con.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname LIKE 'pg_temp%' AND c.relkind IN ('r', 'v')"
            ).fetchone()[0]
        assert left == 0


def test_no_query_names_a_store_table_with_its_schema():
    """PostgreSQL takes `public.pilots` to be the table itself, past a limited person's view of the
    same name (DuckDB would still narrow `main.pilots`): so no SQL writes a table's schema."""
    from test_architecture import SQL_MODULES

    tables = "|".join(queries.STORE_TABLES)
    pattern = re.compile(rf"\b(?:main|public)\.(?:{tables})\b")
    offenders = [
        f"{name}: {match.group(0)}"
        for name in sorted(SQL_MODULES)
        for match in pattern.finditer((ROOT / "src" / "pilot_health" / name).read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_narrowed_numbers_are_the_same_numbers_for_the_pilots_shown(demo_store):
    narrowed = demo_store.for_person(FINANCE_EDITOR)
    mine = finance_ids(demo_store)
    everyone = {r.pilot_id: r for r in assess(demo_store)}
    limited = assess(narrowed)
    assert [r.pilot_id for r in limited] == mine
    for result in limited:
        assert result.health == everyone[result.pilot_id].health
        assert {k: p.score for k, p in result.patterns.items()} == {
            k: p.score for k, p in everyone[result.pilot_id].patterns.items()
        }
    assert sorted(r.pilot_id for r in portfolio_alignment(narrowed)) == mine
    assert sorted(r.pilot_id for r in portfolio_adoption(narrowed)) == mine
    frame = load_portfolio(narrowed, TODAY, 45)
    full = load_portfolio(demo_store, TODAY, 45).set_index("pilot_id").loc[mine].reset_index()
    pd.testing.assert_frame_equal(frame.sort_values("pilot_id").reset_index(drop=True), full, check_like=True)


def test_the_portfolio_steering_pack_of_a_limited_person_names_only_their_pilots(demo_store):
    narrowed = demo_store.for_person(FINANCE_EDITOR)
    html, _ = export(narrowed, pilot_id=None, fmt="html", base_url="http://localhost:8501")
    text = html.decode("utf-8")
    others = sorted(set(list_pilots(demo_store)["pilot_id"]) - set(finance_ids(demo_store)))
    assert all(code in text for code in finance_ids(demo_store))
    assert not [code for code in others if code in text]


def test_a_pilot_moved_to_another_unit_leaves_the_limited_view_now_and_in_the_past(demo_store):
    pinned_before = utc_now()
    pilot = get_pilot(demo_store, "FN-01")
    update_pilot(demo_store, pilot.model_copy(update={"business_unit": "Marketing"}), by=ADMIN)
    narrowed = demo_store.for_person(FINANCE_EDITOR)
    with narrowed.read() as con:
        assert "FN-01" not in set(queries.fetch_pilots(con)["pilot_id"])
        assert "FN-01" not in set(queries.fetch_pilots(con, pinned_before)["pilot_id"])
        assert con.execute("SELECT count(*) FROM metric_observations WHERE pilot_id = 'FN-01'").fetchone()[0] == 0
    marketing = demo_store.for_person(Person("mo@example.com", "viewer", ("Marketing",)))
    with marketing.read() as con:  # the pilot's past follows it into its new unit
        assert "FN-01" in set(queries.fetch_pilots(con, pinned_before)["pilot_id"])


def test_a_limited_persons_own_uploads_and_audit_lines_are_theirs_to_see(demo_store):
    data = b"pilot_id,date,metric,value\nFN-01,2026-05-01,accuracy,0.9\n"
    stored = ingest(demo_store, data, "fay.csv", IngestOptions(environment="live"), commit=True, person=FINANCE_EDITOR)
    assert stored.status == "stored", stored.refusal
    with demo_store.for_person(FINANCE_EDITOR).read() as con:
        trail = queries.audit_entries(con)
        assert list(trail["who"]) == ["fay@example.com"] and list(trail["action"]) == ["upload"]
        assert stored.upload_id in set(queries.list_uploads(con)["upload_id"])


def test_a_limited_person_sees_the_uploads_that_brought_rows_for_their_pilots_even_once_replaced(demo_store):
    """Which uploads a limited person sees comes from the uploads' pilots, not from the data rows:
    an upload stays in their list after a later upload replaced every row it brought, another
    unit's upload and someone else's register upload stay out."""
    from pilot_health.models import PILOT_FIELDS
    from pilot_health.register.pilots import register_csv

    first_data = b"pilot_id,date,metric,value\nFN-01,2026-05-01,accuracy,0.9\n"
    first = ingest(demo_store, first_data, "first.csv", IngestOptions(environment="live"), commit=True, person=ADMIN)
    again = ingest(
        demo_store,
        first_data.replace(b"0.9", b"0.95"),
        "again.csv",
        IngestOptions(environment="live", replace_existing=True),
        commit=True,
        person=ADMIN,
    )
    other_data = b"pilot_id,date,metric,value\nRO-01,2026-05-01,accuracy,0.9\n"
    other = ingest(demo_store, other_data, "other.csv", IngestOptions(environment="live"), commit=True, person=ADMIN)
    register = ingest(
        demo_store,
        register_csv(pd.DataFrame([new_pilot("FN-78", "Finance").model_dump()], columns=list(PILOT_FIELDS))),
        "register.csv",
        IngestOptions(),
        commit=True,
        person=ADMIN,
    )
    assert [r.status for r in (first, again, other, register)] == ["stored"] * 4, [first.refusal, again.refusal]
    assert again.rows_replaced == 1
    with demo_store.read() as con:  # the first upload has no row left
        left = "SELECT count(*) FROM metric_observations WHERE upload_id = ?"
        assert con.execute(left, [first.upload_id]).fetchone()[0] == 0
        assert queries.fetch_upload(con, first.upload_id)["rows_stored"] == 0
    with demo_store.for_person(FINANCE_EDITOR).read() as con:
        shown = set(queries.list_uploads(con)["upload_id"])
        counted = queries.table_counts(con)["uploads"]
        pilots_of_shown = con.execute("SELECT DISTINCT pilot_id FROM upload_pilots").df()["pilot_id"]
    assert {first.upload_id, again.upload_id} <= shown
    assert other.upload_id not in shown and register.upload_id not in shown
    assert counted == len(shown) and set(pilots_of_shown) == set(finance_ids(demo_store)) - {"FN-78"}
    retail = Person("rita@example.com", "viewer", ("Retail Operations",), signed_in=True)
    with demo_store.for_person(retail).read() as con:
        shown = set(queries.list_uploads(con)["upload_id"])
    assert other.upload_id in shown and not shown & {first.upload_id, again.upload_id, register.upload_id}


# -- every write checks the person ---------------------------------------------------------------------


def new_pilot(code: str, unit: str):
    from pilot_health.models import Pilot

    return Pilot.model_validate({**Story().record, "pilot_id": code, "business_unit": unit}, context={"today": TODAY})


def test_pilot_records_are_written_by_editors_within_their_units(demo_store):
    with pytest.raises(AccessDenied, match="vic@example.com may not add the pilot P-9: that needs the editor role"):
        create_pilot(demo_store, new_pilot("P-9", "Finance"), by=VIEWER)
    with pytest.raises(AccessDenied, match="belongs to the business unit “Marketing”.*only with Finance"):
        create_pilot(demo_store, new_pilot("P-9", "Marketing"), by=FINANCE_EDITOR)
    with pytest.raises(DuplicateError, match="already used by a pilot of another business unit"):
        create_pilot(demo_store, new_pilot("MK-01", "Finance"), by=FINANCE_EDITOR)
    create_pilot(demo_store, new_pilot("P-9", "Finance"), by=FINANCE_EDITOR)
    with pytest.raises(NotFoundError, match="no pilot MK-01"):  # another unit's pilot does not exist for fay
        update_pilot(
            demo_store, get_pilot(demo_store, "MK-01").model_copy(update={"name": "Mine now"}), by=FINANCE_EDITOR
        )
    with pytest.raises(AccessDenied, match="may not move the pilot FN-01 to another business unit"):
        update_pilot(
            demo_store,
            get_pilot(demo_store, "FN-01").model_copy(update={"business_unit": "Marketing"}),
            by=FINANCE_EDITOR,
        )
    update_pilot(demo_store, get_pilot(demo_store, "FN-01").model_copy(update={"name": "Renamed"}), by=FINANCE_EDITOR)
    assert get_pilot(demo_store, "MK-01").name != "Mine now" and get_pilot(demo_store, "FN-01").name == "Renamed"
    with demo_store.read() as con:
        trail = queries.audit_entries(con)
    assert list(trail["who"][:2]) == ["fay@example.com", "fay@example.com"]  # only what was done is in the trail


def test_an_upload_with_rows_for_another_units_pilot_is_refused_whole(demo_store):
    data = b"pilot_id,date,metric,value\nFN-01,2026-05-01,accuracy,0.9\nRO-01,2026-05-01,accuracy,0.8\n"
    before = demo_store.version()
    for commit in (False, True):
        result = ingest(
            demo_store, data, "mixed.csv", IngestOptions(environment="live"), commit=commit, person=FINANCE_EDITOR
        )
        assert result.status == "refused"
        assert "not pilots of Finance (the business units you may upload to): RO-01" in result.refusal
    assert demo_store.version() == before
    viewer = ingest(demo_store, data, "mixed.csv", IngestOptions(environment="live"), commit=True, person=VIEWER)
    assert viewer.status == "refused" and "vic@example.com may not upload data" in viewer.refusal
    admin = ingest(demo_store, data, "mixed.csv", IngestOptions(environment="live"), commit=True, person=ADMIN)
    assert admin.status == "stored" and admin.rows_to_store == 2
    with demo_store.read() as con:
        assert queries.fetch_upload(con, admin.upload_id)["uploaded_by"] == "ann@example.com"


def test_a_register_row_outside_the_units_is_rejected_naming_its_row_and_column(demo_store):
    from pilot_health.models import PILOT_FIELDS
    from pilot_health.register.pilots import register_csv

    rows = pd.DataFrame(
        [
            new_pilot("FN-77", "Finance").model_dump(),
            new_pilot("MK-77", "Marketing").model_dump(),
            new_pilot("RO-01", "Finance").model_dump(),
        ],
        columns=list(PILOT_FIELDS),
    )
    data = register_csv(rows)
    result = ingest(
        demo_store, data, "register.csv", IngestOptions(replace_existing=True), commit=True, person=FINANCE_EDITOR
    )
    assert result.status == "stored" and result.pilots == ["FN-77"], (result.refusal, result.problems)
    problems = {(p.row, p.column): p.message for p in result.problems}
    assert problems[(3, "business_unit")].startswith("“Marketing” is not one of your business units (Finance)")
    assert (
        problems[(4, "pilot_id")]
        == "The code RO-01 is already used by a pilot of another business unit; choose another code."
    )
    assert get_pilot(demo_store, "RO-01").business_unit == "Retail Operations"


def test_editors_withdraw_their_own_uploads_and_administrators_anyones(demo_store):
    data = b"pilot_id,date,metric,value\nFN-01,2026-05-01,accuracy,0.9\n"
    fays = ingest(
        demo_store, data, "fay.csv", IngestOptions(environment="live"), commit=True, person=FINANCE_EDITOR
    ).upload_id
    with demo_store.read() as con:
        demo_upload = int(queries.list_uploads(con)["upload_id"].iloc[-1])
    with pytest.raises(
        AccessDenied, match=f"may withdraw only their own uploads, and upload {demo_upload} was made by demo"
    ):
        withdraw(demo_store, demo_upload, by=EDITOR)
    with pytest.raises(AccessDenied, match="needs the editor role"):
        withdraw(demo_store, fays, by=VIEWER)
    assert withdraw(demo_store, fays, by=FINANCE_EDITOR)["withdrawn_at"] is not None
    assert withdraw(demo_store, demo_upload, by=ADMIN)["withdrawn_at"] is not None


def test_thresholds_the_dictionary_and_the_demo_are_for_administrators(demo_store):
    for person in (VIEWER, EDITOR, FINANCE_EDITOR):
        with pytest.raises(AccessDenied, match="needs the administrator role"):
            save_thresholds(demo_store, {"analysis.decay_warning": 0.12}, by=person)
        with pytest.raises(AccessDenied, match="needs the administrator role"):
            save_answer(demo_store, "picks", MetricAnswer("business", "up", None, "Picks"), person)
        with pytest.raises(AccessDenied, match="needs the administrator role"):
            clear_demo(demo_store, by=person)
    assert save_thresholds(demo_store, {"analysis.decay_warning": 0.12}, by=ADMIN) == ["analysis.decay_warning"]
    assert clear_demo(demo_store, by=ADMIN).pilots_removed == 24
    with demo_store.read() as con:
        trail = queries.audit_entries(con)
    assert list(trail["who"][:2]) == ["ann@example.com", "ann@example.com"]
    assert list(trail["action"][:2]) == ["demo_clear", "threshold_change"]
