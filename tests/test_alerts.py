"""Alerts with real parts: events found in a real store (the demo portfolio, decisions recorded in it),
digests received by a real SMTP server on this machine (aiosmtpd, with STARTTLS on a certificate
made here and a login it checks) and by a real HTTP server standing in for a Teams or Slack
webhook — one that fails the first tries, one that always fails."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller  # requirements-dev.txt: a missing server is an error, never a skip
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import DEMO_TODAY

from pilot_health import cli
from pilot_health.access import Person
from pilot_health.demo.portfolio import DEMO_NOW
from pilot_health.errors import AccessDenied, NotFoundError
from pilot_health.reports import alerts
from pilot_health.reports.alerts import AlertError, run_alerts, sent_log, subscribe, subscriptions, unsubscribe
from pilot_health.reports.meetings import record_decision, record_meeting
from pilot_health.reports.notify import AlertSettings, SmtpSettings, read_alert_settings
from pilot_health.store import queries
from pilot_health.store.database import utc_now

BASE = "https://pilot-health.example.com"
USER, PASSWORD = "pilot-health", "not-a-real-password"
ANN = "ann@example.com"  # an administrator
FAY = Person("fay@example.com", "viewer", ("Finance",), signed_in=True)  # a viewer limited to Finance
ADMIN = Person(ANN, "admin", None, signed_in=True)


@pytest.fixture(autouse=True)
def _no_escalations_unless_asked(monkeypatch):
    """The demo has red pilots the committee never decided on, so its first run escalates some of them
    to sponsors without an address. Tests of delivery look at subscribers' digests only; the
    escalation tests below pass their own number of days."""
    monkeypatch.setenv("PILOT_HEALTH_ESCALATION_DAYS", "365")


# -- a real SMTP server with STARTTLS and login ---------------------------------------------------------


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made for this test run."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What the SMTP server received: each message with whether it came over TLS after a login."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content, policy=default_policy)
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "message": message,
                "body": message.get_content(),
                "tls": session.ssl is not None,
                "login": session.authenticated,
            }
        )
        return "250 Message accepted"

    def to(self, address: str) -> list[dict]:
        return [m for m in self.messages if address in m["to"]]


@pytest.fixture
def smtp(tmp_path):
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    inbox = Inbox()

    def check(server, session, envelope, mechanism, auth_data):
        good = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USER.encode()
            and auth_data.password == PASSWORD.encode()
        )
        if good:
            inbox.logins.append(USER)
        return AuthResult(success=good, handled=False)

    port = _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=check,
    )
    controller.start()
    inbox.settings = SmtpSettings(
        host="127.0.0.1",
        port=port,
        username=USER,
        password=PASSWORD,
        sender="pilot-health@example.com",
        starttls=True,
        ca_file=str(cert),
        timeout=5,
    )
    yield inbox
    controller.stop()


# -- a real HTTP server standing in for a webhook -----------------------------------------------------


class Hook:
    """Receives webhook posts; answers 500 to the first `fail_first` (or to every one with `always_fail`)."""

    def __init__(self, fail_first: int = 0, always_fail: bool = False) -> None:
        self.fail_first, self.always_fail = fail_first, always_fail
        self.received: list[dict] = []
        self.tries = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.tries += 1
                if hook.always_fail or hook.tries <= hook.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"channel unavailable")
                    return
                hook.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"1")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhookb2/team-channel-secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks():
    made: list[Hook] = []

    def make(**kwargs) -> Hook:
        made.append(Hook(**kwargs))
        return made[-1]

    yield make
    for hook in made:
        hook.close()


def settings_for(smtp: Inbox | None = None, **extra) -> AlertSettings:
    return AlertSettings(
        smtp=smtp.settings if smtp else None,
        attempts=extra.pop("attempts", 3),
        backoff_seconds=0.01,
        webhook_timeout=5,
        **extra,
    )


def counts(store) -> dict[str, int]:
    with store.read() as con:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("alert_runs", "alert_events", "alert_deliveries", "audit_log")
        }


# -- digests by e-mail ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_subscriber_gets_one_digest_by_email_over_starttls_with_login_and_nothing_twice(demo_store, smtp):
    subscribe(demo_store, "fay@example.com", list(alerts.EVENT_KINDS), by=FAY)
    subscribe(demo_store, ANN, ["health_red"], by=ADMIN)
    first = run_alerts(demo_store, now=DEMO_NOW, settings=settings_for(smtp), by=ADMIN, base_url=BASE)
    assert first.ok and first.compared_with is None and len(first.sent) == 2
    [fay] = smtp.to("fay@example.com")
    assert fay["tls"] and fay["login"] and smtp.logins, "STARTTLS first, then the login the server checked"
    assert fay["from"] == "pilot-health@example.com" and fay["message"]["Subject"].startswith("Pilot Health: ")
    body = fay["body"]
    # Finance only: the viewer is limited to it.
    codes = {e.pilot_id for d in first.digests if d.address == "fay@example.com" for e in d.events}
    assert codes and all(c.startswith("FN-") for c in codes) and "SC-01" not in body
    # FN-01 in the demo: Governance Vacuum high and live decay of ROC AUC critical, with the evidence and the pinned link.
    assert "Governance Vacuum turned High" in body and "Live decay of ROC AUC reached critical." in body
    assert "Evidence: ROC AUC is 22% worse than in its first live weeks" in body
    assert f"View: {BASE}/Alignment?pilot=FN-01&as_of=2026-11-19T17%3A00%3A00" in body
    # One digest each, whatever the number of events; Ann's has the red pilots of every unit, and nothing else.
    [ann] = smtp.to(ANN)
    red = sorted(
        r.pilot_id for r in alerts.detect_events(demo_store, DEMO_NOW, None, BASE, 45, 14) if r.kind == "health_red"
    )
    assert red and all(f"{code} · " in ann["body"] for code in red) and "turned High" not in ann["body"]
    with demo_store.read() as con:
        log = queries.fetch_deliveries(con)
        trail = queries.audit_entries(con)
    assert {r["status"] for r in log} == {"sent"} and all(r["sent_at"] and r["attempts"] == 1 for r in log)
    assert (
        list(trail["action"].head(2)) == ["alert_run", "alert_run"] and "2 digests delivered" in trail.iloc[0]["detail"]
    )

    before = counts(demo_store)
    second = run_alerts(
        demo_store, now=DEMO_NOW + timedelta(hours=1), settings=settings_for(smtp), by=ADMIN, base_url=BASE
    )
    assert second.events == [] and second.digests == [] and second.compared_with == DEMO_NOW
    assert len(smtp.messages) == 2, "nothing is sent twice"
    after = counts(demo_store)
    assert after["alert_runs"] == before["alert_runs"] + 1 and after["alert_events"] == before["alert_events"]


def test_a_dry_run_sends_and_records_nothing(demo_store, smtp):
    subscribe(demo_store, ANN, list(alerts.EVENT_KINDS), by=ADMIN)
    before = counts(demo_store)
    report = run_alerts(demo_store, now=DEMO_NOW, dry_run=True, settings=settings_for(smtp), by=ADMIN, base_url=BASE)
    assert report.dry_run and report.events and [d.address for d in report.digests if d.channel == "email"] == [ANN]
    assert report.summary.startswith("Dry run: nothing was sent or recorded.")
    assert smtp.messages == [] and counts(demo_store) == before
    real = run_alerts(demo_store, now=DEMO_NOW, settings=settings_for(smtp), by=ADMIN, base_url=BASE)
    assert [e.key for e in real.events] == [e.key for e in report.events], "the dry run showed what the run then sent"


@pytest.mark.slow
def test_a_wrong_password_is_reported_with_the_servers_answer_and_kept(demo_store, smtp):
    subscribe(demo_store, ANN, ["health_red"], by=ADMIN)
    wrong = AlertSettings(
        smtp=SmtpSettings(**{**smtp.settings.__dict__, "password": "wrong"}), attempts=2, backoff_seconds=0.01
    )
    report = run_alerts(demo_store, now=DEMO_NOW, settings=wrong, by=ADMIN, base_url=BASE)
    [digest] = report.not_sent
    assert not report.ok and digest.status == "pending" and digest.attempts == 2
    assert (
        "refused the login of pilot-health (535" in digest.error and "check the user name and password" in digest.error
    )
    assert smtp.messages == []
    retried = run_alerts(
        demo_store, now=DEMO_NOW + timedelta(hours=1), settings=settings_for(smtp), by=ADMIN, base_url=BASE
    )
    assert retried.ok and [d.retry for d in retried.sent] == [True] and len(smtp.to(ANN)) == 1
    [row] = sent_log(demo_store, ADMIN)
    assert row["status"] == "sent" and row["attempts"] == 3 and row["runs_tried"] == 2 and row["last_error"] is None


# -- webhooks ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_webhook_gets_json_with_text_that_teams_and_slack_accept_and_is_retried_in_the_run(demo_store, hooks):
    hook = hooks(fail_first=2)
    subscribe(demo_store, hook.url, ["decay_critical"], business_unit="Finance", by=ADMIN)
    waits: list[float] = []
    report = run_alerts(
        demo_store, now=DEMO_NOW, settings=settings_for(attempts=3), by=ADMIN, base_url=BASE, sleep=waits.append
    )
    [digest] = report.sent
    assert digest.attempts == 3 and hook.tries == 3 and waits == [0.01, 0.02], (
        "two failures, waits doubling, the third try lands"
    )
    [payload] = hook.received
    text = payload["text"]
    assert payload["@type"] == "MessageCard" and payload["summary"] == payload["title"] == digest.subject
    assert "FN-01 · Credit risk scoring (Finance)" in text and "Live decay of ROC AUC reached critical." in text
    assert "Evidence: ROC AUC is 22% worse" in text
    assert f"View: {BASE}/Alignment?pilot=FN-01&amp;as_of=2026-11-19T17%3A00%3A00" in text, (
        "& written as an entity (Slack's rule)"
    )
    assert "CS-04" not in text, "a Finance subscription names no other unit's pilot"
    [row] = sent_log(demo_store, ADMIN)
    assert (
        row["shown_address"] == f"webhook at 127.0.0.1:{hook.server.server_port}"
        and "team-channel-secret" not in row["shown_address"]
    )


@pytest.mark.slow
def test_a_webhook_that_keeps_failing_is_reported_kept_pending_and_delivered_by_the_next_run(demo_store, hooks):
    hook = hooks(always_fail=True)
    subscribe(demo_store, hook.url, ["health_red"], by=ADMIN)
    report = run_alerts(demo_store, now=DEMO_NOW, settings=settings_for(attempts=2), by=ADMIN, base_url=BASE)
    [digest] = report.not_sent
    assert not report.ok and digest.status == "pending" and hook.tries == 2
    assert digest.error == "The webhook at 127.0.0.1 answered 500 Internal Server Error: channel unavailable."
    assert any(
        "NOT SENT (kept; the next run tries again): The webhook at 127.0.0.1 answered 500" in line
        for line in alerts.report_lines(report)
    )
    [kept] = sent_log(demo_store, ADMIN, status="pending")
    assert kept["last_error"] == digest.error and kept["sent_at"] is None
    hook.always_fail = False
    later = run_alerts(demo_store, now=DEMO_NOW + timedelta(hours=1), settings=settings_for(), by=ADMIN, base_url=BASE)
    assert later.ok and later.events == [] and [d.retry for d in later.sent] == [True]
    assert len(hook.received) == 1 and "Health turned Red." in hook.received[0]["text"]
    assert sent_log(demo_store, ADMIN, status="pending") == []


@pytest.mark.slow
def test_a_digest_is_given_up_after_several_runs_and_stays_in_the_log_as_failed(demo_store, hooks, monkeypatch):
    hook = hooks(always_fail=True)
    subscribe(demo_store, hook.url, ["health_red"], by=ADMIN)
    monkeypatch.setattr(alerts, "MAX_RUNS", 2)
    run_alerts(demo_store, now=DEMO_NOW, settings=settings_for(attempts=1), by=ADMIN, base_url=BASE)
    second = run_alerts(
        demo_store, now=DEMO_NOW + timedelta(hours=1), settings=settings_for(attempts=1), by=ADMIN, base_url=BASE
    )
    assert [d.status for d in second.digests] == ["failed"] and not second.ok
    third = run_alerts(
        demo_store, now=DEMO_NOW + timedelta(hours=2), settings=settings_for(attempts=1), by=ADMIN, base_url=BASE
    )
    assert third.digests == [] and hook.tries == 2, "given up: not tried again"
    [row] = sent_log(demo_store, ADMIN)
    assert (
        row["status"] == "failed" and row["status_words"] == "Failed — given up" and "answered 500" in row["last_error"]
    )


# -- what counts as an event -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_decisions_falling_due_and_overdue_are_alerts_once_each(demo_store, smtp):
    today = utc_now().date()
    meeting = record_meeting(demo_store, today - timedelta(days=10), "Steering committee", by=ANN)
    late = record_decision(
        demo_store,
        "SC-02",
        meeting.meeting_id,
        "fix and review",
        "Ben Ortiz",
        today - timedelta(days=3),
        conditions="Integration design signed off",
        by=ANN,
    )
    soon = record_decision(
        demo_store, "FN-02", meeting.meeting_id, "continue", "Eva Lind", today + timedelta(days=3), by=ANN
    )
    later = record_decision(
        demo_store, "MK-01", meeting.meeting_id, "scale", "Mo Diaz", today + timedelta(days=30), by=ANN
    )
    subscribe(demo_store, ANN, ["decision_due"], by=ADMIN)
    at = utc_now().replace(microsecond=0) + timedelta(seconds=1)  # after the decisions were recorded
    report = run_alerts(demo_store, now=at, settings=settings_for(smtp), by=ADMIN, base_url=BASE)
    mine = {late.decision_id, soon.decision_id, later.decision_id}  # (the demo may hold decisions of its own)
    keys = {e.key for e in report.events if e.kind.startswith("decision") and int(e.key.rsplit(":", 1)[1]) in mine}
    assert keys == {f"decision_overdue:SC-02:{late.decision_id}", f"decision_due:FN-02:{soon.decision_id}"}, (
        "a decision due in a month is not an alert yet"
    )
    [mail] = smtp.to(ANN)
    assert "“Fix and review”" in mail["body"] and "is overdue since" in mail["body"] and "(3 days)" in mail["body"]
    assert "Owner Ben Ortiz; conditions: Integration design signed off" in mail["body"]
    assert "“Continue”" in mail["body"] and "(in 3 days)" in mail["body"]
    again = run_alerts(demo_store, now=at + timedelta(seconds=1), settings=settings_for(smtp), by=ADMIN, base_url=BASE)
    assert not [e for e in again.events if e.kind.startswith("decision")] and len(smtp.messages) == 1


@pytest.mark.slow
def test_data_that_has_not_arrived_for_n_days_is_an_alert_for_pilots_that_should_send_data(demo_store):
    days = (utc_now().date() - DEMO_TODAY).days - 2  # the demo's newest uploads are older than this
    assert days >= 1
    events = alerts.detect_events(demo_store, utc_now().replace(microsecond=0), None, BASE, days, 14)
    stale = {e.pilot_id: e for e in events if e.kind == "stale_data"}
    with demo_store.read() as con:
        stages = dict(con.execute("SELECT pilot_id, stage FROM pilots").fetchall())
        have_data = {r[0] for r in con.execute("SELECT DISTINCT pilot_id FROM upload_pilots").fetchall()}
    expected = {p for p in have_data if stages.get(p) not in ("paused", "cancelled")}
    assert set(stale) == expected and expected, "every pilot with data, but the paused and cancelled ones"
    one = next(iter(stale.values()))
    assert one.what.startswith("No new data for ") and f"(more than {days})" in one.what
    assert one.evidence.startswith("Newest data upload on ") and "/Pilot_register?pilot=" in one.link
    assert not alerts.detect_events(demo_store, utc_now().replace(microsecond=0), None, BASE, 400, 14) or all(
        e.kind != "stale_data"
        for e in alerts.detect_events(demo_store, utc_now().replace(microsecond=0), None, BASE, 400, 14)
    )


@pytest.mark.slow
def test_the_demo_escalates_the_red_pilots_its_committee_never_decided_on(demo_store):
    """In the demo (its now, 14 days): FN-04 and SC-03 were red at the October meeting and nobody
    decided on them: escalated. RO-05 and SC-01 were red too, and the committee decided on them
    then, with due days still ahead: not escalated. RO-02 turned red less than 14 days ago: not yet."""
    store = demo_store
    events = alerts.detect_events(store, DEMO_NOW, None, BASE, 45, 14)
    red = {e.pilot_id for e in events if e.kind == "health_red"}
    escalated = {e.pilot_id: e for e in events if e.kind == "escalation"}
    assert red == {"FN-04", "RO-02", "RO-05", "SC-01", "SC-03"}
    assert set(escalated) == {"FN-04", "SC-03"}
    assert escalated["FN-04"].sponsor == "Elena Varga"
    assert escalated["SC-03"].evidence.startswith("The committee has recorded no decision about it.")
    # Ten days on, SC-01's pause (due 24 Nov) is overdue: it no longer holds the escalation back.
    later = DEMO_NOW + timedelta(days=10)
    again = alerts.detect_events(store, later, None, BASE, 45, 14)
    if "SC-01" in {e.pilot_id for e in again if e.kind == "health_red"}:
        sc01 = next(e for e in again if e.kind == "escalation" and e.pilot_id == "SC-01")
        assert "“Pause”" in sc01.evidence


@pytest.mark.slow
def test_a_red_pilot_without_a_decision_is_escalated_to_its_sponsor_and_an_unknown_address_is_reported(
    demo_store, smtp
):
    now = utc_now().replace(microsecond=0)
    settings = settings_for(smtp, sponsors={"daniel okafor": "daniel.okafor@example.com"})
    # Every demo decision is made overdue first, so none holds an escalation back; then SC-03 (sponsor
    # Daniel Okafor) gets a decision now: it is not escalated.
    with demo_store.write() as con:
        con.execute("UPDATE decisions SET due_on = DATE '2026-01-01'")
    meeting = record_meeting(demo_store, now.date(), "Steering committee", by=ANN)
    record_decision(
        demo_store,
        "SC-03",
        meeting.meeting_id,
        "fix and review",
        "Daniel Okafor",
        now.date() + timedelta(days=30),
        by=ANN,
    )
    # The run comes after the decision was recorded, however long recording took on a busy machine
    # (a run a second after `now` did not see a decision recorded two seconds after it).
    now = utc_now().replace(microsecond=0)
    report = run_alerts(
        demo_store, now=now + timedelta(seconds=1), settings=settings, by=ADMIN, base_url=BASE, escalation_days=1
    )
    escalated = {e.pilot_id: e for e in report.events if e.kind == "escalation"}
    red = {e.pilot_id for e in report.events if e.kind == "health_red"}
    assert "SC-03" in red and "SC-01" in escalated
    assert set(escalated) == red - {"SC-03"}, "every red pilot without a decision in time, and no other"
    [mail] = smtp.to("daniel.okafor@example.com")
    assert "escalation" in mail["message"]["Subject"] and "SC-01 · " in mail["body"]
    assert "Escalated to you as its executive sponsor: red for at least 1 day" in mail["body"]
    assert (
        "Evidence: The committee's last decision was “Pause” at October steering committee on 22 Oct 2026."
        in mail["body"]
    )
    nowhere = [d for d in report.digests if d.status == "undeliverable"]
    assert nowhere and not report.ok, "an escalation without an address is reported, never dropped"
    elena = next(d for d in nowhere if "FN-04" in d.recipient)
    assert elena.recipient == "sponsor of FN-04 (Elena Varga)"
    assert "No address is known for the sponsor “Elena Varga”" in elena.error
    assert any(r["status"] == "undeliverable" and "Elena Varga" in r["last_error"] for r in sent_log(demo_store, ADMIN))
    # Once the settings name Elena Varga's address, the next run finds it and delivers the kept escalation.
    settings = settings_for(
        smtp, sponsors={"daniel okafor": "daniel.okafor@example.com", "elena varga": "elena.varga@example.com"}
    )
    again = run_alerts(
        demo_store, now=now + timedelta(seconds=2), settings=settings, by=ADMIN, base_url=BASE, escalation_days=1
    )
    assert not [e for e in again.events if e.kind == "escalation"], "escalated once, until the committee decides again"
    [late] = smtp.to("elena.varga@example.com")
    assert "FN-04 · " in late["body"] and "Escalated to you as its executive sponsor" in late["body"]
    assert [d.recipient for d in again.sent] == ["sponsor of FN-04 (Elena Varga)"]
    still = [d for d in again.digests if d.status == "undeliverable"]
    assert all(d.retry and "No address is known" in d.error for d in still), "the others are still reported"
    assert len(smtp.to("daniel.okafor@example.com")) == 1, "nothing sent twice"


def test_the_link_is_the_dashboards_pinned_link_of_the_view():
    from pilot_health.reports.steering_pack import live_link
    from pilot_health.ui.page import parse_pin

    at = datetime(2026, 11, 19, 17, 0, 5)
    link = alerts.view_link(BASE, "Risk", "SC-01", at)
    assert link == live_link(BASE, "Risk", at, pilot="SC-01")
    from urllib.parse import parse_qs, urlsplit

    assert parse_pin(parse_qs(urlsplit(link).query)["as_of"][0], utc_now()) == (at, None)


# -- subscriptions: who may, scope, audit -----------------------------------------------------------------------------


def test_subscriptions_are_checked_scoped_and_audited(demo_store):
    made = subscribe(demo_store, "  FAY@example.com ", ["health_red", "stale_data"], pilot_id="fn-01", by=FAY)
    assert (made.address, made.pilot_id, made.limited_to, made.created_by) == (
        "fay@example.com",
        "FN-01",
        ("Finance",),
        "fay@example.com",
    )
    with pytest.raises(AccessDenied, match="needs the administrator role"):
        subscribe(demo_store, "boss@example.com", ["health_red"], by=FAY)
    with pytest.raises(AccessDenied, match="needs the administrator role"):
        subscribe(demo_store, "https://hooks.example.com/x", ["health_red"], by=FAY)
    with pytest.raises(NotFoundError, match="no pilot SC-01"):
        subscribe(demo_store, "fay@example.com", ["health_red"], pilot_id="SC-01", by=FAY)
    with pytest.raises(NotFoundError, match="Business unit"):
        subscribe(demo_store, "fay@example.com", ["health_red"], business_unit="Supply Chain", by=FAY)
    for wrong, field in (("not an address", "Address:"), ("http://example.com/hook", "Address:")):
        with pytest.raises(AlertError, match=field):
            subscribe(demo_store, wrong, ["health_red"], by=ADMIN)
    with pytest.raises(AlertError, match="Events: “moon” is not one of"):
        subscribe(demo_store, ANN, ["moon"], by=ADMIN)
    with pytest.raises(AlertError, match="already subscribed"):
        subscribe(demo_store, "fay@example.com", ["stale_data", "health_red"], pilot_id="FN-01", by=FAY)
    team = subscribe(demo_store, "retail-team@example.com", ["health_red"], by=ADMIN, limited_to=["Retail Operations"])
    assert team.limited_to == ("Retail Operations",)
    assert [s.subscription_id for s in subscriptions(demo_store, FAY)] == [made.subscription_id], "one's own only"
    assert len(subscriptions(demo_store, ADMIN)) == 2
    with pytest.raises(NotFoundError):
        unsubscribe(demo_store, team.subscription_id, by=FAY)
    unsubscribe(demo_store, made.subscription_id, by=FAY)
    assert subscriptions(demo_store, FAY) == []
    with demo_store.read() as con:
        trail = queries.audit_entries(con)
    lines = trail[trail["action"].str.startswith("alert_")]
    assert list(lines["action"]) == ["alert_unsubscribe", "alert_subscribe", "alert_subscribe"]
    assert "the pilot FN-01" in lines.iloc[2]["detail"] and "limited to Finance" in lines.iloc[2]["detail"]
    with pytest.raises(AccessDenied):
        sent_log(demo_store, FAY)


@pytest.mark.slow
def test_a_person_the_access_file_limits_never_gets_another_units_pilots(demo_store, smtp, tmp_path, monkeypatch):
    access = tmp_path / "access.toml"
    access.write_text(
        '[[people]]\nemail = "gus@example.com"\nrole = "viewer"\nbusiness_units = ["Supply Chain"]\n', encoding="utf-8"
    )
    monkeypatch.setenv("PILOT_HEALTH_ACCESS", str(access))
    sub = subscribe(demo_store, "gus@example.com", ["health_red"], by=ADMIN, limited_to=["Finance", "Supply Chain"])
    assert sub.limited_to == ("Supply Chain",), "the access file's units win over what the administrator asked"
    report = run_alerts(demo_store, now=DEMO_NOW, settings=settings_for(smtp), by=ADMIN, base_url=BASE)
    [mail] = smtp.to("gus@example.com")
    got = {e.pilot_id for d in report.digests for e in d.events if d.address == "gus@example.com"}
    assert got and all(p.startswith("SC-") for p in got) and "FN-04" not in mail["body"]


@pytest.mark.slow
def test_secrets_file_settings_are_read_and_a_missing_mail_server_says_what_to_add(tmp_path, demo_store):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        '[alerts]\nattempts = 4\n[alerts.smtp]\nhost = "smtp.example.com"\nfrom = "ph@example.com"\nusername = "u"\n'
        'password = "p"\n[alerts.sponsors]\n"Dana Whitfield" = "dana@example.com"\n',
        encoding="utf-8",
    )
    read = read_alert_settings(secrets)
    assert (read.smtp.host, read.smtp.port, read.smtp.starttls, read.attempts, read.sponsors) == (
        "smtp.example.com",
        587,
        True,
        4,
        {"dana whitfield": "dana@example.com"},
    )
    assert "p" not in repr(read.smtp).split("password")[-1][:3], "the password is not in the settings' repr"
    subscribe(demo_store, ANN, ["health_red"], by=ADMIN)
    report = run_alerts(
        demo_store, now=DEMO_NOW, settings=read_alert_settings(tmp_path / "none.toml"), by=ADMIN, base_url=BASE
    )
    [digest] = report.not_sent
    assert digest.attempts == 1 and digest.error.startswith(
        "No mail server is set up for alerts yet: whoever runs Pilot Health adds it"
    )


# -- the command line ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_command_line_subscribes_runs_reports_failures_in_its_exit_code_and_lists_what_was_sent(
    demo_store, smtp, hooks, tmp_path, monkeypatch, capsys
):
    secrets = tmp_path / "secrets.toml"
    s = smtp.settings
    secrets.write_text(
        f'[alerts]\nbackoff_seconds = 0.01\nattempts = 2\n[alerts.smtp]\nhost = "{s.host}"\nport = {s.port}\n'
        f'from = "{s.sender}"\nusername = "{USER}"\npassword = "{PASSWORD}"\nca_file = "{s.ca_file}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PILOT_HEALTH_SECRETS", str(secrets))
    monkeypatch.setenv("PILOT_HEALTH_PUBLIC_URL", BASE)
    db = ["--db", getattr(demo_store, "url", None) or str(demo_store.path)]  # the file, or the server's address
    assert cli.main(["subscribe", ANN, "--unit", "Finance", "--events", "health_red,decay_critical", *db]) == 0
    broken = hooks(always_fail=True)
    assert cli.main(["subscribe", broken.url, "--events", "health_red", *db, "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["subscriptions", *db]) == 0
    listed = capsys.readouterr().out
    assert "ann@example.com: every pilot of Finance, for health turns red, decay or drift reaches critical" in listed
    assert "team-channel-secret" not in listed

    assert cli.main(["alerts", "--dry-run", "--json", *db]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["ok"] and dry["dry_run"] and smtp.messages == [] and broken.tries == 0

    code = cli.main(["alerts", "--json", *db])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["ok"] is False, "a digest not delivered is a problem the exit code says"
    assert out["sent"] == 1 and out["not_sent"] == 1 and len(smtp.to(ANN)) == 1
    failed = next(d for d in out["digests"] if d["status"] == "pending")
    assert failed["address"].startswith("webhook at 127.0.0.1") and "answered 500" in failed["error"]
    assert f"{BASE}/Alignment?pilot=FN-01&as_of=" in smtp.to(ANN)[0]["body"]

    assert cli.main(["alerts", "--sent", *db]) == 0
    log = capsys.readouterr().out
    assert "sent" in log and "pending" in log and "answered 500" in log
    assert cli.main(["unsubscribe", "1", *db]) == 0
    assert "Removed subscription 1" in capsys.readouterr().out


@pytest.mark.slow
def test_the_example_digests_in_the_user_documentation_are_what_the_demo_gives(demo_store):
    from conftest import ROOT

    doc = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    subscribe(demo_store, "elena.varga@example.com", list(alerts.EVENT_KINDS), business_unit="Finance", by=ADMIN)
    subscribe(
        demo_store,
        "https://example.webhook.office.com/webhookb2/secret",
        ["health_red"],
        business_unit="Supply Chain",
        by=ADMIN,
    )
    report = run_alerts(
        demo_store,
        now=DEMO_NOW,
        dry_run=True,
        settings=AlertSettings(),
        by=ADMIN,
        base_url="https://pilot-health.example.com",
    )
    mail = next(d for d in report.digests if d.channel == "email")
    assert f"Subject: {mail.subject}\n\n{mail.body}\n```" in doc
    hook = next(d for d in report.digests if d.channel == "webhook")
    assert json.dumps(json.loads(hook.payload), indent=2, ensure_ascii=False) in doc
