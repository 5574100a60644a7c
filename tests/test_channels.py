"""Channels deliver for real: the folder channel writes .eml files, apprise mails a real local SMTP
server (aiosmtpd) and posts to a real local HTTP server. Every message carries its idempotency
key, the same on every attempt."""
from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import timedelta

import pytest

from notifications import channels, transport
from notifications.channels import DeliveryError, Letter, deliver
from notifications.delivery import Courier
from states import outbox
from states.directory import Directory
from support.sinks import HttpSink, SmtpSink

from conftest import kz
from factories import violence_report_data


@pytest.fixture(autouse=True)
def _delivery_started():
    """Sending as a delivery run does: with the transport installed (as `Courier` installs it)."""
    transport.install()

KEY = "VR-75-000001/3/escalation/ministry_health/t2"
LETTER = Letter(key=KEY, subject="Обеспечьте исполнение: Медицинское освидетельствование (VR-75-000001)",
                body="Задача по случаю № VR-75-000001 так и не выполнена.\n\nОткрыть случай: http://localhost:8000/cases/VR-75-000001",
                language="ru", recipient_id="ministry_health", recipient_name="Министерство здравоохранения",
                case_ref="VR-75-000001", template="escalation")


def test_the_folder_channel_writes_one_readable_eml_per_key(tmp_path):
    url = f"eml://{tmp_path / 'eml'}"
    deliver(LETTER, [url])
    deliver(replace(LETTER, body="the same message, sent again"), [url])  # a resend replaces, never adds
    files = list((tmp_path / "eml").iterdir())
    assert [f.name for f in files] == ["VR-75-000001_3_escalation_ministry_health_t2.eml"]
    text = files[0].read_text(encoding="utf-8")
    assert "Subject: Обеспечьте исполнение" in text  # readable in any text editor
    msg = email.message_from_string(text, policy=email.policy.default)
    assert msg["Message-ID"] == channels.message_id(KEY) and msg[channels.KEY_HEADER] == KEY
    assert msg["X-Qorgau-Case"] == "VR-75-000001" and "sent again" in msg.get_content()


def test_mail_goes_to_a_real_smtp_server_with_the_same_message_id_on_every_attempt():
    with SmtpSink() as smtp:
        deliver(LETTER, [smtp.url()])
        deliver(LETTER, [smtp.url()])
    first, second = smtp.messages
    assert first["Message-ID"] == second["Message-ID"] == channels.message_id(KEY)
    assert len(first.get_all("Message-ID")) == 1
    assert first[channels.KEY_HEADER] == KEY and first["To"] == "dept@example.kz"
    assert str(first["Subject"]).startswith("Обеспечьте исполнение")
    body = first.get_body(("plain",)).get_content()
    assert "VR-75-000001" in body


def test_webhooks_carry_the_idempotency_key_header():
    with HttpSink() as sink:
        deliver(LETTER, [sink.url("/a")])
        deliver(LETTER, [sink.url("/a")])
    assert sink.keys() == [KEY, KEY]
    hit = sink.hits[0]
    assert hit.path == "/a" and hit.headers[channels.SENDER_HEADER.lower()]
    assert hit.payload["title"] == LETTER.subject and "VR-75-000001" in hit.payload["message"]


def test_webhook_credentials_query_and_custom_headers_reach_the_receiver():
    """Apprise's URL options (user:password, `-name` query parameters, `+Header` headers) arrive as
    apprise means them, over the pooled transport; consecutive posts reuse one connection."""
    import base64
    with HttpSink() as sink:
        url = f"json://clerk:s3cret@127.0.0.1:{sink.port}/in?-region=KZ-75&+X-Deployment=test"
        deliver(LETTER, [url])
        deliver(replace(LETTER, key=KEY + "/2"), [url])
    first, second = sink.hits
    assert first.path == "/in?region=KZ-75"
    assert first.headers["authorization"] == "Basic " + base64.b64encode(b"clerk:s3cret").decode()
    assert first.headers["x-deployment"] == "test" and first.headers["content-type"] == "application/json"
    assert [first.key, second.key] == [KEY, KEY + "/2"]
    assert first.headers["idempotency-key"] == KEY
    assert sink.connections == 1


def test_a_refusing_webhook_is_a_retryable_error_and_a_bad_url_a_permanent_one(tmp_path):
    with HttpSink() as sink:
        sink.fail_next(1, status=503)
        with pytest.raises(DeliveryError) as info:
            deliver(LETTER, [sink.url()])
        assert not info.value.permanent
        deliver(LETTER, [sink.url()])
    with pytest.raises(DeliveryError) as info:
        deliver(LETTER, ["nosuchservice://x"])
    assert info.value.permanent
    with pytest.raises(DeliveryError) as info:  # one channel took it, one did not: retry (same key)
        deliver(LETTER, [f"eml://{tmp_path}", "json://127.0.0.1:9/closed"])
    assert not info.value.permanent and (tmp_path / channels.file_name(KEY)).exists()


def test_a_body_without_channels_gets_the_default_ones(monkeypatch, tmp_path, directory):
    body = directory.get("kz-75.police")
    assert body.channels == ()
    monkeypatch.delenv(channels.DEFAULT_CHANNELS_ENV, raising=False)
    assert channels.urls_for(body) == ["eml://var/outbox-eml"]
    monkeypatch.setenv(channels.DEFAULT_CHANNELS_ENV, f"eml://{tmp_path} json://127.0.0.1:1/x")
    assert channels.urls_for(body) == [f"eml://{tmp_path}", "json://127.0.0.1:1/x"]
    assert channels.default_eml_folder() == tmp_path


def _directory_with_channels(directory: Directory, channels_by_body: dict[str, list[str]], languages=None) -> Directory:
    bodies = []
    for b in directory.bodies():
        b = replace(b, channels=tuple(channels_by_body.get(b.id, b.channels)))
        if languages and b.id in languages:
            b = replace(b, language=languages[b.id])
        bodies.append(b)
    return Directory(directory.regions, bodies)


T0 = kz(2026, 4, 6, 10)


def test_the_courier_renders_each_message_in_its_bodys_language_and_sends_it(engine, registry, directory):
    with HttpSink() as sink, SmtpSink() as smtp:
        routed = _directory_with_channels(directory, {
            "kz-75.police": [sink.url("/police")],
            "kz-75.education_department": [smtp.url("edu@example.kz")],
            "kz-75.school-1": [sink.url("/school")],
        }, languages={"kz-75.police": "kk", "kz-75.school-1": "ru"})
        school = directory.schools("KZ-75")[0]
        engine.launch("violence-report", "KZ-75", school.id,
                      violence_report_data(now=T0, summary="synthetic"), now=T0)
        msgs = [m for m in outbox.claim(engine.db, "w1", limit=100, now=T0)
                if m.body_id in ("kz-75.police", "kz-75.education_department", "kz-75.school-1")]
        courier = Courier(registry, routed, threads=4)
        out = courier.deliver(msgs)
        courier.close()
    assert out.failures == [] and sorted(out.sent) == sorted(m.id for m in msgs)
    police = [h for h in sink.hits if h.path == "/police"]
    school_hits = [h for h in sink.hits if h.path == "/school"]
    assert police and all(_kazakh(h.payload["title"]) and " / " not in h.payload["title"] for h in police)
    assert school_hits and all(not _kazakh(h.payload["title"]) and " / " not in h.payload["title"] for h in school_hits)
    assert smtp.messages and " / " in str(smtp.messages[0]["Subject"])  # no preferred language: kk and ru
    assert {h.key for h in sink.hits} <= {m.idempotency_key for m in msgs}


def _kazakh(text: str) -> bool:
    return any(c in text for c in "әғқңөұүһі")


def test_a_message_that_cannot_be_rendered_fails_permanently(engine, registry, directory):
    school = directory.schools("KZ-75")[0]
    engine.launch("violence-report", "KZ-75", school.id, violence_report_data(now=T0, summary="x"), now=T0)
    msg = outbox.claim(engine.db, "w1", limit=1, now=T0)[0]
    broken = replace(msg, context={**msg.context, "state": "no_such_state"})
    gone = replace(msg, body_id="kz-75.no-such-body")
    courier = Courier(registry, directory, threads=1)
    out = courier.deliver([broken, gone])
    assert [f.permanent for f in out.failures] == [True, True]
    assert "no_such_state" in out.failures[0].error and "unknown body" in out.failures[1].error
    exhausted = replace(msg, attempts=9)
    assert courier.deliver([exhausted], max_attempts=8).failures[0].permanent


def test_the_dead_letter_notice_renders_for_the_coordinator(engine, registry, directory, tmp_path):
    school = directory.schools("KZ-75")[0]
    engine.launch("violence-report", "KZ-75", school.id, violence_report_data(now=T0, summary="x"), now=T0)
    msg = next(m for m in outbox.claim(engine.db, "w1", limit=100, now=T0) if m.body_id == "kz-75.police")
    outbox.fail(engine.db, "w1", [outbox.Failure(msg.id, "SMTP 550 mailbox unavailable", permanent=True)],
                notice_to=lambda m: "kz-75.education_department", now=T0)
    notice = next(m for m in outbox.claim(engine.db, "w1", limit=100, now=T0 + timedelta(seconds=1))
                  if m.template == outbox.DEAD_LETTER_TEMPLATE)
    letter, urls = Courier(registry, directory).compose(notice)
    assert letter.recipient_id == "kz-75.education_department" and letter.case_ref == msg.case_ref
    assert "не доставлено" in letter.subject and "жеткізілмеді" in letter.subject  # kk and ru
    assert "SMTP 550" in letter.body and msg.case_ref in letter.body
