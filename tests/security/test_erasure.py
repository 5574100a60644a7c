"""D2 and the store files: after an erasure nothing readable is left in any store file while a
server holds the store open (secure_delete, the WAL checkpointed and truncated); why personal data
was read is a code with an optional note that may not hold an IIN, and erasure clears the notes;
the store files are created readable by their owner only."""
from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from states import tables as T
from states.tokens import create_token

from test_api_fixtures import CHILD_A, World, bullying, world_fixture  # noqa: F401

pytestmark = pytest.mark.db


def _call(url: str, token: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def served_store(tmp_path, registry, directory, calendar, monkeypatch):
    """A file store served by a live server (its own connections open), as `qorgau api` would."""
    from app.api.server import ServerThread
    from app.web import create_site
    from states.store import open_engine
    url = f"sqlite:///{tmp_path / 'store' / 'qorgau.sqlite'}"
    monkeypatch.setenv("QORGAU_DATABASE_URL", url)
    engine = open_engine(url, registry=registry, directory=directory, calendar=calendar)
    with ServerThread(create_site(engine)) as server:
        yield engine, server.url, tmp_path / "store"
    engine.db.dispose()


def test_an_erased_childs_key_and_payload_are_in_no_store_file_while_the_server_runs(served_store):
    engine, url, folder = served_store
    school = create_token(engine.db, "kz-75.school-1", "agency")[0]
    status, out = _call(f"{url}/api/v1/cases", school, "POST", {
        "algorithm": "violence-report", "region": "KZ-75", "data": bullying("kz-75.school-1", CHILD_A)})
    assert status == 201, out
    ref = out["ref"]
    status, out = _call(f"{url}/api/v1/cases/{ref}/personal?purpose=assessment", school)
    assert status == 200 and out["data"]["given_name"] == CHILD_A["given_name"]
    assert _call(f"{url}/api/v1/inbox", school)[0] == 200  # the server's kept-open connection has read
    with engine.reader() as conn:
        sid = conn.execute(select(T.cases.c.subject_id).where(T.cases.c.ref == ref)).scalar_one()
        wrapped = conn.execute(select(T.subject_keys.c.wrapped_key).where(T.subject_keys.c.subject_id == sid)).scalar_one()
        payload = conn.execute(select(T.subjects.c.payload).where(T.subjects.c.id == sid)).scalar_one()
    secrets = [wrapped.encode(), payload["ct"].encode(), payload["nonce"].encode()]

    from app.subjects_cli import subjects_app
    result = CliRunner().invoke(subjects_app, ["erase", ref, "--actor", "kz-75.guardianship", "--force"])
    assert result.exit_code == 0, result.output

    files = [p for p in folder.iterdir() if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files)  # the server still holds the store open
    for path in files:
        content = path.read_bytes()
        found = [s[:12] for s in secrets if s in content]
        assert not found, f"{path.name} still holds {found}"
    status, out = _call(f"{url}/api/v1/cases/{ref}/personal?purpose=assessment", school)
    assert (status, out["code"]) == (410, "erased")


def test_secure_delete_is_on_for_every_connection(engine):
    if engine.db.dialect.name != "sqlite":
        pytest.skip("an SQLite setting")
    with engine.reader() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_store_files_are_created_readable_by_their_owner_only(tmp_path):
    from states.db import make_engine, migrate
    db = make_engine(f"sqlite:///{tmp_path / 'var' / 'qorgau.sqlite'}")
    migrate(db)
    with db.connect() as conn:
        conn.exec_driver_sql("SELECT 1").scalar()
        store = [p for p in (tmp_path / "var").iterdir()]
        assert {p.name for p in store} >= {"qorgau.sqlite", "qorgau.sqlite-wal", "qorgau.sqlite-shm"}
        for path in store:
            assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, (path.name, oct(os.stat(path).st_mode))
    assert stat.S_IMODE(os.stat(tmp_path / "var").st_mode) & 0o077 == 0
    db.dispose()


def test_the_purpose_is_a_code_not_free_text(world: World):
    c, ref, police = world.client, world.refs["A"], world.auth("police_75")
    r = c.get(f"/api/v1/cases/{ref}/personal", params={"purpose": "Aigerim Testova 150312501235"}, headers=police)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_data", "purpose")
    for note in ("child 15 03 12  50 12 35", "15.03.12.50.12.35", "150312/501235", "150312\u200b501235"):
        r = c.get(f"/api/v1/cases/{ref}/personal", params={"purpose": "interview", "note": note}, headers=police)
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_data", "note")
    log = c.get(f"/api/v1/cases/{ref}/access-log", headers=world.auth("auditor")).json()
    assert log == []  # nothing refused by the rules was logged with its text


def test_erasure_clears_the_notes_of_the_access_log(world: World):
    c, ref, police = world.client, world.refs["A"], world.auth("police_75")
    r = c.get(f"/api/v1/cases/{ref}/personal", params={"purpose": "interview", "note": "with the class teacher"},
              headers=police)
    assert r.status_code == 200
    from states.clock import utcnow
    from states.personal_data import erase_subject
    with world.engine.db.begin() as conn:
        sid = conn.execute(select(T.cases.c.subject_id).where(T.cases.c.ref == ref)).scalar_one()
        erase_subject(conn, sid, actor="kz-75.guardianship", now=utcnow(), force=True)
    log = c.get(f"/api/v1/cases/{ref}/access-log", headers=world.auth("auditor")).json()
    assert [(e["purpose"], e["note"]) for e in log] == [("interview", None), ("erasure_court_order", None)]


def test_the_web_form_offers_the_codes_and_refuses_an_iin_in_the_note(engine):
    from app.web import create_site
    from test_web import csrf_of, sign_in
    ref = engine.launch("violence-report", "KZ-75", "kz-75.school-1", bullying("kz-75.school-1", CHILD_A)).ref
    site = create_site(engine, base_url="http://testserver")
    client = sign_in(site, engine, "kz-75.school-1", "agency")
    page = client.get(f"/cases/{ref}/personal")
    assert '<option value="medical_examination">' in page.text
    r = client.post(f"/cases/{ref}/personal", data={"csrf": csrf_of(page.text), "purpose": "interview",
                                                     "note": "15 03 12  50 12 35"})
    assert r.status_code == 422 and CHILD_A["given_name"] not in r.text
    r = client.post(f"/cases/{ref}/personal", data={"csrf": csrf_of(page.text), "purpose": "interview"})
    assert r.status_code == 200 and CHILD_A["given_name"] in r.text
