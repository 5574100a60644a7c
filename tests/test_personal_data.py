"""Personal data: encrypted at rest (one data key per subject, wrapped by the master key), every
read logged, erasure destroys the key after the retention period while histories still verify."""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import stat
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from states import tables as T
from states.errors import RuleViolation
from states.personal_data import (ERASED_PAYLOAD, MasterKey, PersonalDataError, _unwrap, access_log_for_case,
                                  erase_subject, master_key_from_settings, read_personal, read_subject,
                                  rewrap_all, store_subject)
try:
    from states.verify import verify_case
except ImportError:  # before the verifier moved out of states.replay
    from states.replay import verify_case

from conftest import kz
from factories import violence_report_data

T0 = kz(2026, 4, 6, 10)
KEY = MasterKey.from_bytes(bytes(range(32)))
OTHER = MasterKey.from_bytes(bytes(range(100, 132)))
BULLYING = {"form": "bullying", "channel": "school", "summary": "repeated name-calling in class 5B"}


def _iin() -> str:
    from states.iin import check_digit
    return "14031560001" + str(check_digit("14031560001"))


IIN = _iin()
CHILD = {"birth_date": "2014-03-15", "sex": "female", "iin": IIN, "given_name": "Synthetic",
         "family_name": "Testchild", "address": "Synthetic street 1"}
SECRETS = (IIN, "Testchild", "Synthetic", "street 1", "2014-03-15")


@pytest.fixture(autouse=True)
def master_env(monkeypatch):
    for name in ("QORGAU_MASTER_KEY_FILE", "QORGAU_MASTER_KEY_ID", "QORGAU_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QORGAU_MASTER_KEY", KEY.encoded())


def case_with_subject(engine, child=CHILD, now=T0) -> tuple[str, str]:
    """A case launched without child data, then attached to a subject stored encrypted."""
    school = engine.svc.directory.schools("KZ-75")[0].id
    ref = engine.launch("violence-report", "KZ-75", school, violence_report_data(now=now, **BULLYING), now=now).ref
    with engine.db.begin() as conn:
        sid = store_subject(conn, child, now)
        conn.execute(update(T.cases).where(T.cases.c.ref == ref).values(subject_id=sid))
    return ref, sid


def read(engine, sid, *, actor="kz-75.police", case_ref=None, purpose="interview", now=T0, master=None):
    with engine.db.begin() as conn:
        return read_subject(conn, sid, actor=actor, case_ref=case_ref, purpose=purpose, now=now, master=master)


def refused(engine, sid, code, **kw) -> PersonalDataError:
    """The read raises `code`; its log row is kept (read_personal commits it)."""
    with pytest.raises(PersonalDataError) as info:
        read_personal(engine.db, subject_id=sid, actor=kw.pop("actor", "kz-75.police"),
                      purpose=kw.pop("purpose", "assessment"), now=kw.pop("now", T0), **kw)
    assert info.value.code == code
    return info.value


def log_rows(engine, sid) -> list:
    with engine.reader() as conn:
        return conn.execute(select(T.access_log).where(T.access_log.c.subject_id == sid)
                            .order_by(T.access_log.c.id)).all()


def dump_everything(engine) -> str:
    """Every row of every table, as text: where personal data must not appear."""
    with engine.reader() as conn:
        return json.dumps({t.name: [dict(r._mapping) for r in conn.execute(select(t))] for t in T.metadata.sorted_tables},
                          ensure_ascii=False, default=str)


def key_row(engine, sid):
    with engine.reader() as conn:
        return conn.execute(select(T.subject_keys).where(T.subject_keys.c.subject_id == sid)).one()


def withdraw(engine, ref, now):
    return engine.fire(ref, "withdraw", "ministry_education", {"reason": "duplicate report"}, now=now)


# ---------------------------------------------------------------------------- encryption
def test_round_trip_and_the_read_is_logged(engine):
    ref, sid = case_with_subject(engine)
    assert read(engine, sid, case_ref=ref) == CHILD
    [row] = log_rows(engine, sid)
    assert (row.actor, row.case_ref, row.purpose, row.outcome, row.at) == (
        "kz-75.police", ref, "interview", "read", T0)


def test_the_stored_row_holds_none_of_the_plain_values(engine):
    ref, sid = case_with_subject(engine)
    with engine.reader() as conn:
        raw = conn.execute(text("SELECT CAST(payload AS TEXT) FROM subjects WHERE id = :id"), {"id": sid}).scalar_one()
        stored = conn.execute(select(T.subjects.c.payload)).scalar_one()
    assert set(json.loads(raw)) == {"v", "nonce", "ct"} and stored["v"] == 1
    assert len(base64.b64decode(stored["nonce"])) == 12
    everything = dump_everything(engine)
    for secret in SECRETS:
        assert secret not in raw and secret not in everything
    row = key_row(engine, sid)
    assert row.master_key_id == KEY.key_id and row.wrapped_key and row.destroyed_at is None


def test_two_subjects_get_different_data_keys(engine):
    _, a = case_with_subject(engine)
    _, b = case_with_subject(engine)
    ka, kb = _unwrap(KEY, a, key_row(engine, a)), _unwrap(KEY, b, key_row(engine, b))
    assert len(ka) == len(kb) == 32 and ka != kb
    assert key_row(engine, a).wrapped_key != key_row(engine, b).wrapped_key
    assert read(engine, a) == read(engine, b) == CHILD


def test_a_tampered_ciphertext_fails_authentication_and_is_logged_as_refused(engine):
    ref, sid = case_with_subject(engine)
    with engine.db.begin() as conn:
        stored = conn.execute(select(T.subjects.c.payload).where(T.subjects.c.id == sid)).scalar_one()
        ct = bytearray(base64.b64decode(stored["ct"]))
        ct[0] ^= 1
        conn.execute(update(T.subjects).where(T.subjects.c.id == sid)
                     .values(payload={**stored, "ct": base64.b64encode(bytes(ct)).decode()}))
    err = refused(engine, sid, "tampered", case_ref=ref)
    assert "fails authentication" in err.message and "Testchild" not in str(err)
    assert [(r.outcome, r.case_ref) for r in log_rows(engine, sid)] == [("refused", ref)]


def test_a_payload_copied_onto_another_subject_does_not_decrypt(engine):
    _, a = case_with_subject(engine)
    _, b = case_with_subject(engine, {**CHILD, "given_name": "Other"})
    with engine.db.begin() as conn:
        pa = conn.execute(select(T.subjects.c.payload).where(T.subjects.c.id == a)).scalar_one()
        conn.execute(update(T.subjects).where(T.subjects.c.id == b).values(payload=pa))
    refused(engine, b, "tampered")
    with engine.db.begin() as conn:  # the data key too: bound to its subject id by the wrapping
        wa = conn.execute(select(T.subject_keys.c.wrapped_key).where(T.subject_keys.c.subject_id == a)).scalar_one()
        conn.execute(update(T.subject_keys).where(T.subject_keys.c.subject_id == b).values(wrapped_key=wa))
    refused(engine, b, "wrong_master_key")


def test_wrong_master_key_is_a_clear_error_and_logged(engine, monkeypatch):
    ref, sid = case_with_subject(engine)
    err = refused(engine, sid, "wrong_master_key", master=OTHER, case_ref=ref)
    assert KEY.key_id in err.message and OTHER.key_id in err.message
    impostor = MasterKey(KEY.key_id, OTHER.key)  # same id, another key
    assert "not the one that id names" in refused(engine, sid, "wrong_master_key", master=impostor).message
    monkeypatch.setenv("QORGAU_MASTER_KEY", OTHER.encoded())  # from the settings too
    refused(engine, sid, "wrong_master_key")
    assert [r.outcome for r in log_rows(engine, sid)] == ["refused"] * 3
    monkeypatch.setenv("QORGAU_MASTER_KEY", KEY.encoded())
    assert read(engine, sid) == CHILD


def test_no_master_key_for_a_production_store_is_refused_and_logged(engine, monkeypatch):
    _, sid = case_with_subject(engine)
    monkeypatch.delenv("QORGAU_MASTER_KEY")
    monkeypatch.setenv("QORGAU_DATABASE_URL", "postgresql+psycopg://db.example/qorgau")
    err = refused(engine, sid, "no_master_key")
    assert "QORGAU_MASTER_KEY" in err.message
    assert [r.outcome for r in log_rows(engine, sid)] == ["refused"]


# ---------------------------------------------------------------------------- access log
def test_every_read_records_who_when_which_case_and_why(engine):
    ref, sid = case_with_subject(engine)
    other_ref = case_with_subject(engine)[0]
    with engine.db.begin() as conn:  # a second case of the same child
        conn.execute(update(T.cases).where(T.cases.c.ref == other_ref).values(subject_id=sid))
    read(engine, sid, case_ref=ref, actor="kz-75.police", purpose="interview", now=kz(2026, 4, 6, 11))
    read(engine, sid, case_ref=ref, actor="kz-75.guardianship", purpose="home_visit", now=kz(2026, 4, 7, 9))
    read(engine, sid, case_ref=other_ref, actor="kz-75.health", purpose="medical_examination", now=kz(2026, 4, 7, 10))
    read(engine, sid, case_ref=None, actor="ministry_education", purpose="audit", now=kz(2026, 4, 8, 10))
    with engine.reader() as conn:
        log = access_log_for_case(conn, ref)
        other = access_log_for_case(conn, other_ref)
    assert [(r["actor"], r["purpose"], r["case_ref"], r["at"], r["outcome"]) for r in log] == [
        ("kz-75.police", "interview", ref, kz(2026, 4, 6, 11), "read"),
        ("kz-75.guardianship", "home_visit", ref, kz(2026, 4, 7, 9), "read"),
        ("ministry_education", "audit", None, kz(2026, 4, 8, 10), "read"),  # subject-wide: in each of its cases
    ]
    assert [r["actor"] for r in other] == ["kz-75.health", "ministry_education"]
    assert all(r["subject_id"] == sid for r in log)


def test_a_read_without_actor_or_purpose_is_refused_before_anything(engine):
    _, sid = case_with_subject(engine)
    for actor, purpose in (("", "x"), ("kz-75.police", ""), ("kz-75.police", "   ")):
        with pytest.raises((ValueError, RuleViolation)):  # no actor; a purpose that is not a code
            read(engine, sid, actor=actor, purpose=purpose)
    assert log_rows(engine, sid) == []


def test_an_unknown_subject_is_refused_and_logged(engine):
    refused(engine, "no-such-subject", "unknown_subject")
    assert [r.outcome for r in log_rows(engine, "no-such-subject")] == ["refused"]
    with pytest.raises(PersonalDataError) as info:
        read_personal(engine.db, case_ref="VR-75-999999", actor="kz-75.police", purpose="assessment", now=T0)
    assert info.value.code == "unknown_subject" and "VR-75-999999" in info.value.message


# ---------------------------------------------------------------------------- erasure
def test_erasure_waits_for_the_cases_to_close_and_the_retention_period(engine):
    ref, sid = case_with_subject(engine)
    with pytest.raises(PersonalDataError) as info, engine.db.begin() as conn:
        erase_subject(conn, sid, actor="ministry_education", now=kz(2040, 1, 1))
    assert info.value.code == "retention" and ref in info.value.message and "--force" in info.value.message
    closed = kz(2026, 4, 6, 12)
    withdraw(engine, ref, closed)
    assert engine.case(ref).closed_at == closed
    with pytest.raises(PersonalDataError) as info, engine.db.begin() as conn:
        erase_subject(conn, sid, actor="ministry_education", now=closed + timedelta(days=1825))
    assert info.value.code == "retention" and "1826 days" in info.value.message and "2031-04-06" in info.value.message
    assert read(engine, sid) == CHILD  # nothing was destroyed
    with engine.db.begin() as conn:
        erase_subject(conn, sid, actor="ministry_education", now=closed + timedelta(days=1826))
    after = closed + timedelta(days=1827)
    assert "cannot be recovered" in refused(engine, sid, "erased", case_ref=ref, now=after).message
    # no way back: the key is gone, the payload overwritten, nothing personal left anywhere
    row = key_row(engine, sid)
    assert row.wrapped_key is None and row.destroyed_at == closed + timedelta(days=1826)
    with engine.reader() as conn:
        subject = conn.execute(select(T.subjects).where(T.subjects.c.id == sid)).one()
        assert verify_case(conn, ref, engine.registry).ok
        log = access_log_for_case(conn, ref)
    assert subject.payload == ERASED_PAYLOAD and subject.erased_at == closed + timedelta(days=1826)
    everything = dump_everything(engine)
    assert not any(secret in everything for secret in SECRETS)
    refused(engine, sid, "erased", master=KEY)  # the master key does not help either
    assert [(r["outcome"], r["actor"]) for r in log] == [("read", "kz-75.police"), ("erased", "ministry_education"),
                                                        ("erased", "kz-75.police")]
    assert "retention" in log[1]["purpose"]
    with pytest.raises(PersonalDataError) as info, engine.db.begin() as conn:
        erase_subject(conn, sid, actor="ministry_education", now=after)
    assert info.value.code == "erased"


def test_retention_counts_from_the_last_case_closed_and_follows_the_setting(engine, monkeypatch):
    ref, sid = case_with_subject(engine)
    later = case_with_subject(engine)[0]
    with engine.db.begin() as conn:
        conn.execute(update(T.cases).where(T.cases.c.ref == later).values(subject_id=sid))
    withdraw(engine, ref, kz(2026, 4, 6, 12))
    withdraw(engine, later, kz(2026, 5, 6, 12))
    monkeypatch.setenv("QORGAU_RETENTION_DAYS", "30")
    with pytest.raises(PersonalDataError) as info, engine.db.begin() as conn:
        erase_subject(conn, sid, actor="ministry_education", now=kz(2026, 5, 20))
    assert info.value.code == "retention" and "2026-06-05" in info.value.message
    with engine.db.begin() as conn:
        erase_subject(conn, sid, actor="ministry_education", now=kz(2026, 6, 6))
    refused(engine, sid, "erased")


def test_a_court_order_erases_at_once_and_is_logged(engine):
    ref, sid = case_with_subject(engine)
    with engine.db.begin() as conn:
        erase_subject(conn, sid, actor="ministry_education", now=kz(2026, 4, 7), force=True)
    refused(engine, sid, "erased", case_ref=ref, now=kz(2026, 4, 7, 9))
    with engine.reader() as conn:
        [erased, read_after] = access_log_for_case(conn, ref)
        assert verify_case(conn, ref, engine.registry).ok
    assert erased["outcome"] == "erased" and erased["purpose"] == "erasure_court_order" and erased["case_ref"] is None
    assert read_after["outcome"] == "erased"
    # the case goes on without its personal data
    out = engine.fire(ref, "assess", engine.case(ref).bindings["school"],
                      {"immediate_danger": False, "perpetrator": "peer"}, now=kz(2026, 4, 7, 11))
    assert out.state == "bullying_review"
    with engine.reader() as conn:
        assert verify_case(conn, ref, engine.registry).ok


# ---------------------------------------------------------------------------- rotation
def test_key_rotation_rewraps_every_live_key(engine, monkeypatch):
    _, a = case_with_subject(engine)
    _, b = case_with_subject(engine)
    _, gone = case_with_subject(engine)
    with engine.db.begin() as conn:
        erase_subject(conn, gone, actor="ministry_education", now=T0, force=True)
        before = conn.execute(select(T.subjects.c.payload).where(T.subjects.c.id == a)).scalar_one()
        assert rewrap_all(conn, KEY, OTHER) == 2
        assert rewrap_all(conn, KEY, OTHER) == 0
    assert key_row(engine, a).master_key_id == key_row(engine, b).master_key_id == OTHER.key_id
    refused(engine, a, "wrong_master_key", master=KEY)
    assert read(engine, a, master=OTHER) == read(engine, b, master=OTHER) == CHILD
    monkeypatch.setenv("QORGAU_MASTER_KEY", OTHER.encoded())
    assert read(engine, a) == CHILD
    with engine.reader() as conn:
        assert conn.execute(select(T.subjects.c.payload).where(T.subjects.c.id == a)).scalar_one() == before
    with pytest.raises(PersonalDataError) as info, engine.db.begin() as conn:  # the old key is needed to rotate
        rewrap_all(conn, MasterKey(OTHER.key_id, KEY.key), KEY)
    assert info.value.code == "wrong_master_key"


# ---------------------------------------------------------------------------- settings
def test_master_key_settings_accept_standard_urlsafe_and_unpadded_base64():
    raw = bytes([251, 255] * 16)  # has + and / in standard base64
    std, url = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    assert std != url
    for text_ in (std, url, url.rstrip("="), f"  {std}\n"):
        key = master_key_from_settings({"QORGAU_MASTER_KEY": text_})
        assert key.key == raw and key.key_id == hashlib.sha256(raw).hexdigest()[:8]
    assert master_key_from_settings({"QORGAU_MASTER_KEY": std, "QORGAU_MASTER_KEY_ID": "2026-q2"}).key_id == "2026-q2"
    assert raw.hex() not in repr(key) and std not in repr(key)


def test_master_key_from_a_file(tmp_path):
    path = tmp_path / "master.key"
    path.write_text(KEY.encoded() + "\n")
    assert master_key_from_settings({"QORGAU_MASTER_KEY_FILE": str(path)}) == KEY
    with pytest.raises(PersonalDataError) as info:
        master_key_from_settings({"QORGAU_MASTER_KEY_FILE": str(tmp_path / "missing")})
    assert info.value.code == "no_master_key" and "cannot be read" in info.value.message


@pytest.mark.parametrize("env, needle", [
    ({"QORGAU_MASTER_KEY": base64.b64encode(b"x" * 16).decode()}, "exactly 32 bytes"),
    ({"QORGAU_MASTER_KEY": "not base64!"}, "not valid base64"),
    ({"QORGAU_MASTER_KEY": KEY.encoded(), "QORGAU_MASTER_KEY_FILE": "/x"}, "set only one"),
    ({"QORGAU_MASTER_KEY": KEY.encoded(), "QORGAU_MASTER_KEY_ID": "x" * 41}, "1 to 40 characters"),
    ({"QORGAU_DATABASE_URL": "postgresql+psycopg://db/qorgau"}, "set QORGAU_MASTER_KEY"),
])
def test_a_missing_or_malformed_master_key_says_what_to_do(env, needle):
    with pytest.raises(PersonalDataError) as info:
        master_key_from_settings(env)
    assert info.value.code == "no_master_key" and needle in info.value.message


def test_the_embedded_setup_creates_a_development_key_once(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="qorgau.personal_data"):
        first = master_key_from_settings({})
    path = tmp_path / "var" / "master.key"
    assert path.exists() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "production must set QORGAU_MASTER_KEY" in caplog.text
    assert master_key_from_settings({"QORGAU_DATABASE_URL": "sqlite:///var/qorgau.sqlite"}) == first
    assert MasterKey.from_bytes(base64.urlsafe_b64decode(path.read_text())) == first


# ---------------------------------------------------------------------------- command line
@pytest.fixture
def cli_store(tmp_path, monkeypatch, registry, directory, calendar):
    from states.store import open_engine
    monkeypatch.setenv("QORGAU_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    engine = open_engine(registry=registry, directory=directory, calendar=calendar)
    yield engine
    engine.db.dispose()


def test_cli_reads_logs_and_erases(cli_store):
    from app.subjects_cli import subjects_app
    runner = CliRunner()
    ref, sid = case_with_subject(cli_store)
    result = runner.invoke(subjects_app, ["personal", ref, "--actor", "kz-75.police", "--purpose", "interview",
                                          "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == CHILD
    result = runner.invoke(subjects_app, ["personal", ref, "--actor", "nobody", "--purpose", "x"])
    assert result.exit_code == 2 and "unknown body 'nobody'" in result.output
    result = runner.invoke(subjects_app, ["erase", ref, "--actor", "ministry_education"])
    assert result.exit_code == 2 and "open cases" in result.output
    result = runner.invoke(subjects_app, ["erase", sid, "--actor", "ministry_education", "--force",
                                          "--reason", "court order 2-123/2026"])
    assert result.exit_code == 0, result.output
    assert sid in result.output and ref in result.output
    result = runner.invoke(subjects_app, ["personal", ref, "--actor", "kz-75.police", "--purpose", "audit"])
    assert result.exit_code == 2 and "erased" in result.output
    result = runner.invoke(subjects_app, ["access-log", ref, "--json"])
    assert result.exit_code == 0, result.output
    log = json.loads(result.output)
    assert [(r["outcome"], r["purpose"]) for r in log] == [
        ("read", "interview"), ("erased", "erasure_court_order"), ("erased", "audit")]
    assert log[1]["note"] == "court order 2-123/2026"
    result = runner.invoke(subjects_app, ["access-log", ref])
    assert "kz-75.police" in result.output and "(subject-wide)" in result.output
    result = runner.invoke(subjects_app, ["access-log", "VR-75-999999"])
    assert result.exit_code == 2 and "no case" in result.output
    result = runner.invoke(subjects_app, ["erase", "nothing-here", "--actor", "ministry_education"])
    assert result.exit_code == 2 and "no subject or case 'nothing-here'" in result.output
